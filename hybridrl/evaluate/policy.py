"""A trained policy: agent states for every seed plus the preprocessing they were trained with."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from hybridrl.data.sampler import Preprocessing
from hybridrl.data.transforms import unscale_actions
from hybridrl.evaluate.rollout import EvalResult, eval_record, evaluate_policy


@dataclasses.dataclass
class Policy:
    """Deterministic actions for ``num_seeds`` policies at once, in the environment's own units.

    ``policy(obs)`` takes observations of shape (num_seeds, batch, obs_dim)
    (or (batch, obs_dim), given to every seed) and returns actions of shape
    (num_seeds, batch, act_dim).
    """

    agent: ModuleType
    states: Any  # agent states with a leading seed axis
    prep: Preprocessing
    seeds: list[int]
    env_id: str | None = None
    ref: tuple[float, float] | None = None
    step: int | None = None  # the checkpoint's step, when loaded from a run folder

    def __post_init__(self) -> None:
        from hybridrl.train.core import make_act

        self._act = make_act(self.agent)

    @property
    def num_seeds(self) -> int:
        return len(self.seeds)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32)
        if obs.ndim == 2:
            obs = np.broadcast_to(obs, (self.num_seeds, *obs.shape))
        actions = np.asarray(self._act(self.states, self.prep.observations(obs)))
        return unscale_actions(actions, self.prep.action_low, self.prep.action_high)

    def evaluate(self, episodes: int = 10, seed: int = 0, env_id: str | None = None) -> EvalResult:
        """Roll out every seed's policy for ``episodes`` episodes in a vector env."""
        env_id = env_id or self.env_id
        if env_id is None:
            raise ValueError("no environment to evaluate in; pass env_id")
        return evaluate_policy(env_id, self, self.num_seeds, episodes, seed, self.ref)


def load_policy(run_dir: str | Path, step: int | None = None) -> Policy:
    """The policies of a run folder at its newest checkpoint (or at ``step``)."""
    from hybridrl.agents import Spec, get_agent
    from hybridrl.train import checkpoint
    from hybridrl.train.core import init_states
    from hybridrl.train.offline import RunError, load_run_config, resolve_agent_config
    from hybridrl.train.run_dir import read_json, run_mode

    run_dir = Path(run_dir)
    if run_mode(run_dir) == "onpolicy":
        raise RunError(f"{run_dir}: an hnpg run, whose per-timestep policies cannot be loaded here; its scores are in "
                       "eval.jsonl (train with a larger --eval-episodes for more episodes)")
    if run_mode(run_dir) == "online":
        from hybridrl.train.online import load_online_config, resolve_online_agent_config

        config = load_online_config(run_dir)
        agent_config = resolve_online_agent_config(config)
    else:
        config = load_run_config(run_dir)
        agent_config = resolve_agent_config(config)
    prep = Preprocessing.from_dict(read_json(run_dir / "preprocessing.json"))
    agent = get_agent(config.algo)
    spec = Spec(obs_dim=prep.obs_mean.shape[0], act_dim=prep.action_low.shape[0])
    states, keys = init_states(agent, agent_config, spec, config.seed_list())
    found = dict(checkpoint.list_checkpoints(run_dir / "checkpoints"))
    if not found:
        raise RunError(f"{run_dir}: no checkpoints; train the run first")
    if step is None:
        step = max(found)
    if step not in found:
        raise RunError(f"{run_dir}: no checkpoint at step {step}; available: {sorted(found)}")
    restored = checkpoint.restore(found[step], {"states": states, "keys": keys, "step": 0})
    ref = read_json(run_dir / "config.json").get("reference_scores")
    return Policy(agent, restored["states"], prep, config.seed_list(), config.env,
                  None if ref is None else (ref["random"], ref["expert"]), step)


EVALUATIONS = "evaluations.jsonl"
EVAL_SEED_OFFSET = 10_000  # training evaluates on reset seeds run seed + 10,000, + 10,001, ...


def evaluate_run(run_dir: str | Path, step: int | None = None, episodes: int = 100,
                 seed: int | None = None) -> list[dict[str, Any]]:
    """Score every seed's policy of a run at a checkpoint (the newest, or ``step``) on ``episodes`` episodes.

    Episode i starts from reset seed ``seed + i``; the default, the run's seed + 10,000, is where training's
    evaluations start, so the first ``eval_episodes`` episodes are the ones eval.jsonl scored at that step. One
    record per seed, in eval.jsonl's format plus ``episodes`` and ``eval_seed``, is appended to
    RUN_DIR/evaluations.jsonl once every episode has finished, and returned.
    """
    from hybridrl.train.offline import RunError
    from hybridrl.train.run_dir import append_jsonl, read_json

    run_dir = Path(run_dir)
    if episodes < 1:
        raise RunError(f"--episodes must be at least 1, got {episodes}")
    policy = load_policy(run_dir, step)
    if policy.env_id is None:
        raise RunError(f"{run_dir}: the run names no environment to evaluate in (it was trained without --env "
                       "on data that names none)")
    if seed is None:
        seed = int(read_json(run_dir / "config.json")["run"]["seed"]) + EVAL_SEED_OFFSET
    result = policy.evaluate(episodes, seed)
    records = [{**eval_record(policy.step, s, i, result), "episodes": episodes, "eval_seed": seed}
               for i, s in enumerate(policy.seeds)]
    append_jsonl(run_dir / EVALUATIONS, records)
    return records
