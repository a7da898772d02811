"""NeoRL-2's data collection protocol (shared/reference/neorl2.md section 0.3), for any task and behaviour policies.

Trajectory i (i = 0, 1, ...) runs a fresh ``gymnasium.make('neorl2/TASK-v0')`` from ``reset(seed=first_seed + i)``
under ``policies[i % len(policies)]`` until the episode ends, with each action clipped to [-1, 1]. Trajectories
are collected until at least ``num_samples`` transitions exist (default 100,000 train, 20,000 val); the data are
then cut at the first episode end at or beyond that count. NeoRL-2 collects in blocks of 100 trajectories; the
cut makes the result the same either way, so collection stops as soon as the count is reached. For
SafetyHalfCheetah, every trajectory with a step rewarded below -99 (a constraint violation) is then dropped.

Fusion, whose step costs about 0.2 s alone, is collected up to ``BATCH`` trajectories at a time in one
``FusionVectorEnv`` of fresh machines (``restore_on_reset=True``: every copy starts from the constructor's state, as
a fresh instance does; each copy has its trajectory's seed and policy). Its episodes all last 100 steps, so the
copies end together, and a block holds no more trajectories than the target still needs. The networks' outputs
then differ from one-at-a-time collection by onnxruntime's rounding of a batch (about 1e-6); everything else is
the same, trajectory for trajectory.

One deviation, so that a seed determines the data: Pipeline's constructor draws the first target from an
unseeded generator and its resets keep it, so NeoRL-2's own Pipeline collection is not reproducible. Here
Pipeline runs with ``keep_target=False``: each trajectory draws its target, uniform over the same four values,
from its seeded reset.

A policy is given as a factory: ``factory(seed)`` returns the per-step ``obs -> action`` function for the
trajectory of that seed, so a policy with memory (DMSD's PID) starts afresh and a noisy one draws its noise
from the trajectory's seed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from hybridrl.data.dataset import Dataset, DatasetError
from hybridrl.envs.neorl2 import env_id
from hybridrl.envs.scores import reference_scores
from hybridrl.envs.wrappers import make_env, make_wrapped

SPLIT_SAMPLES = {"train": 100_000, "val": 20_000}
VIOLATION_REWARD = -99.0  # SafetyHalfCheetah: a step above the speed limit is rewarded -100
ENV_OPTIONS = {"Pipeline": {"keep_target": False}}  # the documented flags that make a trajectory follow its seed
BATCH = {"Fusion": 50}  # tasks collected that many trajectories at a time in their batched vector env

PolicyFactory = Callable[[int], Callable[[np.ndarray], np.ndarray]]
_FIELDS = ("obs", "action", "reward", "next_obs", "done", "truncated")


def collect(task: str, policies: Sequence[PolicyFactory], split: str = "train", num_samples: int | None = None,
            first_seed: int = 0, metadata: dict[str, Any] | None = None,
            on_progress: Callable[[int, int], None] | None = None) -> Dataset:
    """The ``split`` data of ``task`` by the collection protocol, as a :class:`Dataset` named
    ``neorl2-TASK-SPLIT-regenerated`` with NeoRL-2's env id and reference scores and ``metadata['regenerated']``.
    ``on_progress(collected, target)`` is called after each trajectory."""
    if split not in SPLIT_SAMPLES:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    target = SPLIT_SAMPLES[split] if num_samples is None else int(num_samples)
    if target < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    trajectories: list[dict[str, np.ndarray]] = []
    collected = 0
    while collected < target:
        i = len(trajectories)
        if task in BATCH:  # its episodes all run to the time limit: a block of at most what the target still needs
            needed = -(-(target - collected) // gym.spec(env_id(task)).max_episode_steps)
            block = range(i, i + min(BATCH[task], needed))
            new = _batched_rollouts(task, [policies[j % len(policies)](first_seed + j) for j in block],
                                    [first_seed + j for j in block])
        else:
            env = make_wrapped(env_id(task), "", **ENV_OPTIONS.get(task, {}))  # quiets MuJoCo's deprecation notes
            new = [_rollout(env, policies[i % len(policies)](first_seed + i), first_seed + i)]
        trajectories.extend(new)
        collected += sum(len(trajectory["reward"]) for trajectory in new)
        if on_progress is not None:
            on_progress(min(collected, target), target)
    if task == "SafetyHalfCheetah":
        trajectories = [t for t in trajectories if not np.any(t["reward"] < VIOLATION_REWARD)]
        if not trajectories:
            raise DatasetError(f"every one of the SafetyHalfCheetah trajectories for {target:,} samples breaks the "
                             "speed limit, so none is kept; use a slower behaviour policy or more samples")
    columns = {key: np.concatenate([t[key] for t in trajectories]) for key in _FIELDS}
    terminals = columns["done"]
    timeouts = columns["truncated"] & ~terminals
    ref = reference_scores(env_id(task))
    space = make_env(env_id(task)).action_space
    return Dataset(
        observations=columns["obs"],
        actions=columns["action"],
        rewards=columns["reward"],
        next_observations=columns["next_obs"],
        terminals=terminals,
        timeouts=timeouts,
        name=f"neorl2-{task}-{split}-regenerated",
        env_id=env_id(task),
        action_low=space.low.astype(np.float32),
        action_high=space.high.astype(np.float32),
        ref_min_score=ref[0],
        ref_max_score=ref[1],
        metadata={
            "regenerated": True,
            "task": task,
            "split": split,
            "seeds": [int(t["seed"]) for t in trajectories] if task == "SafetyHalfCheetah"
            else f"{first_seed}..{first_seed + len(trajectories) - 1}",
            "num_samples": target,
            **(metadata or {}),
        },
    )


def _batched_rollouts(task: str, policies: Sequence[Callable[[np.ndarray], np.ndarray]],
                      seeds: Sequence[int]) -> list[dict[str, np.ndarray]]:
    """One trajectory per seed, stepped together in the task's batched vector env of fresh machines; every
    episode must end at the same step (Fusion's all last 100)."""
    envs = gym.make_vec(env_id(task), num_envs=len(seeds), vectorization_mode="vector_entry_point",
                        restore_on_reset=True)
    obs, _ = envs.reset(seed=[int(seed) for seed in seeds])
    rows: dict[str, list] = {key: [] for key in _FIELDS}
    while True:
        actions = np.stack([np.clip(policy(o), -1.0, 1.0) for policy, o in zip(policies, obs)])
        next_obs, rewards, terminated, truncated, _ = envs.step(actions)
        for key, value in zip(_FIELDS, (obs, actions, rewards, next_obs, terminated, truncated)):
            rows[key].append(value)
        obs = next_obs
        ended = terminated | truncated
        if ended.all():
            break
        if ended.any():
            raise RuntimeError(f"{task}'s batched collection needs episodes that all end at the same step")
    envs.close()
    out = [{key: np.asarray([row[k] for row in rows[key]], dtype=dtype)
            for key, dtype in zip(_FIELDS, (np.float32, np.float32, np.float32, np.float32, bool, bool))}
           for k in range(len(seeds))]
    for trajectory, seed in zip(out, seeds):
        trajectory["seed"] = np.asarray(seed)
    return out


def _rollout(env: gym.Env, policy: Callable[[np.ndarray], np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """One trajectory from ``env.reset(seed=seed)`` until it ends, as float32 / bool arrays."""
    obs, _ = env.reset(seed=seed)
    rows: dict[str, list] = {key: [] for key in _FIELDS}
    while True:
        action = np.clip(policy(obs), -1.0, 1.0)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        for key, value in zip(_FIELDS, (obs, action, reward, next_obs, terminated, truncated)):
            rows[key].append(value)
        obs = next_obs
        if terminated or truncated:
            break
    env.close()
    out = {key: np.asarray(rows[key], dtype=dtype)
           for key, dtype in zip(_FIELDS, (np.float32, np.float32, np.float32, np.float32, bool, bool))}
    out["seed"] = np.asarray(seed)
    return out
