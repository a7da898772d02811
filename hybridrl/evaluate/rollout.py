"""Vectorized rollouts of deterministic policies, for one or many seeds at once."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from hybridrl.envs.scores import normalized_score
from hybridrl.envs.wrappers import make_vec_env


@dataclasses.dataclass
class EvalResult:
    returns: np.ndarray  # (num_policies, episodes)
    lengths: np.ndarray  # (num_policies, episodes)
    normalized: np.ndarray | None  # (num_policies, episodes), None without reference scores
    costs: np.ndarray | None = None  # (num_policies, episodes) summed info["cost"], None if the env reports none


def evaluate_policy(
    env_id: str,
    policy: Callable[[np.ndarray], np.ndarray],
    num_policies: int,
    episodes: int,
    seed: int,
    ref: tuple[float, float] | None = None,
    envs: gym.vector.VectorEnv | None = None,
) -> EvalResult:
    """Run ``episodes`` episodes for each of ``num_policies`` policies in one vector env.

    ``policy`` maps observations of shape (num_policies, episodes, obs_dim) to
    actions of shape (num_policies, episodes, act_dim) in the env's own units.
    Episode i of every policy starts from the same seed (``seed + i``, modulo 2**32), so the
    policies are compared on the same initial states. If the env reports a
    safety cost (``info["cost"]``, e.g. from :class:`hybridrl.envs.wrappers.SafetyCost`),
    each episode's summed cost is returned too.
    """
    n = num_policies * episodes
    own_envs = envs is None
    envs = envs or make_vec_env(env_id, n)
    try:
        obs, _ = envs.reset(seed=[(seed + i % episodes) % 2**32 for i in range(n)])  # a RandomState takes < 2**32
        returns = np.zeros(n)
        lengths = np.zeros(n, dtype=np.int64)
        costs, reports_cost = np.zeros(n), False
        running = np.ones(n, dtype=bool)
        while running.any():
            actions = policy(obs.reshape(num_policies, episodes, -1)).reshape(n, -1)
            obs, reward, terminated, truncated, info = envs.step(np.asarray(actions))
            returns += np.where(running, reward, 0.0)
            if "cost" in info:
                reports_cost = True
                costs += np.where(running & info["_cost"], info["cost"], 0.0)
            lengths += running
            running &= ~(terminated | truncated)
    finally:
        if own_envs:
            envs.close()
    returns, lengths = returns.reshape(num_policies, episodes), lengths.reshape(num_policies, episodes)
    return EvalResult(returns, lengths, None if ref is None else normalized_score(returns, ref),
                      costs.reshape(num_policies, episodes) if reports_cost else None)


def eval_record(step: int, seed: int, index: int, result: EvalResult) -> dict[str, Any]:
    """The eval.jsonl record of policy ``index`` (run seed ``seed``) in ``result``."""
    record = {
        "step": step,
        "seed": seed,
        "return_mean": float(result.returns[index].mean()),
        "return_std": float(result.returns[index].std()),
        "length_mean": float(result.lengths[index].mean()),
        "returns": result.returns[index].tolist(),
    }
    if result.normalized is not None:
        record["normalized_score"] = float(result.normalized[index].mean())
    if result.costs is not None:  # the env reports a safety cost (e.g. --env 'Hopper-v5[cost=velocity:1.0]')
        record["cost_mean"] = float(result.costs[index].mean())
        record["costs"] = result.costs[index].tolist()
    return record
