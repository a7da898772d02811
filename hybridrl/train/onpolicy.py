"""On-policy training for fixed-horizon tasks: HNPG and its online-only TRPO baseline (shared/reference/hnpg.md §2.2).

Each iteration rolls out whole episodes of the current stochastic per-timestep policies in a Gymnasium vector env
until at least ``batch_size`` steps are collected (ceil(batch_size / H) episodes of exactly H steps), makes one
``hnpg.update`` on them (plus the per-timestep offline buffers, for the hybrid agent), then evaluates
``eval_episodes`` stochastic episodes (not counted as online steps) and logs. Online data is never reused, so a
checkpoint holds only the agent state, the key and the counters.

Python entry point: ``train_hnpg(config: HNPGRunConfig, out, dataset=None, progress=True, *, resume=False)
-> RunResult``. Records: metrics.jsonl and eval.jsonl carry ``step`` (the iteration) and ``env_steps`` (online
environment steps so far); eval records add ``success_rate`` (fraction of episodes with return >= 1).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from hybridrl.agents import Spec, hnpg
from hybridrl.agents.base import config_from_dict
from hybridrl.data.dataset import Dataset
from hybridrl.data.sampler import Preprocessing
from hybridrl.envs.comblock import OFFLINE_EPISODES
from hybridrl.train import checkpoint
from hybridrl.train.loggers import RunLog, progress_bar, require
from hybridrl.train.offline import RunResult, _Stopwatch, finish_run
from hybridrl.train.run_dir import RunError, read_json, read_jsonl, start_run_dir, truncate_jsonl


@dataclasses.dataclass
class HNPGRunConfig:
    """Everything that defines an HNPG (or online-only TRPO, ``agent={"hybrid": False}``) run."""

    env: str = "hybridrl/CombinationLock-v0"  # made with gym.make_vec(env, n, horizon=H, lock=...)
    horizon: int = 5  # [C] main.py --horizon default
    lock_seed: int | None = None  # None: the run's seed ([C]: each seed is a different lock); a dataset's lock wins
    iterations: int = 1500  # [C] main.py: 1500, hard-coded
    batch_size: int = 1000  # [C] --batch-size: online steps per iteration, whole episodes
    eval_every: int = 1  # iterations; [C] evaluates after every iteration
    eval_episodes: int = 30  # [C] 30 stochastic episodes
    log_every: int = 1  # iterations
    checkpoint_every: int = 50  # iterations
    keep_checkpoints: int = 3
    offline_episodes: int = OFFLINE_EPISODES  # only used when no dataset is passed (hybrid only)
    seed: int = 0
    agent: dict[str, Any] = dataclasses.field(default_factory=dict)  # overrides of hnpg.Config (horizon is set here)
    loggers: list[str] = dataclasses.field(default_factory=list)
    algo: str = "hnpg"

    def seed_list(self) -> list[int]:
        return [self.seed]  # one seed per run

    def check(self) -> None:
        for name in ("horizon", "iterations", "batch_size", "eval_every", "eval_episodes", "log_every",
                     "checkpoint_every", "keep_checkpoints", "offline_episodes"):
            if getattr(self, name) < 1:
                raise RunError(f"{name} must be at least 1, got {getattr(self, name)}")
        if "horizon" in self.agent and self.agent["horizon"] != self.horizon:
            raise RunError(f"agent horizon {self.agent['horizon']} differs from the run's horizon {self.horizon}")

    @property
    def episodes_per_iteration(self) -> int:
        return math.ceil(self.batch_size / self.horizon)


def resolve_hnpg_config(config: HNPGRunConfig) -> hnpg.Config:
    try:
        return config_from_dict(hnpg, {**config.agent, "horizon": config.horizon})
    except (TypeError, ValueError) as exc:
        raise RunError(str(exc)) from exc


def _make_envs(config: HNPGRunConfig, num: int, lock: np.ndarray) -> gym.vector.VectorEnv:
    import hybridrl.envs  # noqa: F401  (registers the lock)

    return gym.make_vec(config.env, num, vectorization_mode="sync", horizon=config.horizon, lock=lock)


def _reset_seeds(seed: int, iteration: int, stream: int, num: int) -> list[int]:
    """Reset seeds from (run seed, iteration, stream), so a resumed run sees the same episodes."""
    base = int(np.random.SeedSequence([seed, iteration, stream]).generate_state(1)[0])
    return [base + i for i in range(num)]


def rollout(envs: gym.vector.VectorEnv, act, state, key, horizon: int, seeds: list[int]) -> dict[str, np.ndarray]:
    """One episode per sub-env, all exactly ``horizon`` steps: observations (E, H, d), actions, rewards (E, H)."""
    obs, _ = envs.reset(seed=seeds)
    observations, actions, rewards = [], [], []
    for h, k in enumerate(jax.random.split(key, horizon)):
        action = np.asarray(act(state, obs, k, h))
        observations.append(obs)
        actions.append(action)
        obs, reward, terminated, truncated, _ = envs.step(action)
        rewards.append(reward)
        if (h == horizon - 1) != bool(np.all(terminated | truncated)) or np.any((terminated | truncated) != terminated[0]):
            raise RunError(f"episodes must last exactly H={horizon} steps in every sub-env; step {h + 1} disagrees")
    return {"observations": np.stack(observations, 1).astype(np.float32),
            "actions": np.stack(actions, 1).astype(np.float32), "rewards": np.stack(rewards, 1).astype(np.float32)}


def train_hnpg(config: HNPGRunConfig, out: str | Path, dataset: Dataset | None = None, progress: bool = True, *,
               resume: bool = False) -> RunResult:
    """Train HNPG (or online-only TRPO) in ``config.env``; write the run folder ``out``.

    ``dataset``: the offline data, whole H-step episodes (``hybridrl.envs.comblock.offline_dataset``); if it
    carries ``metadata["lock"]`` the env uses that lock. The hybrid agent without a dataset generates
    ``config.offline_episodes`` episodes in the run's lock. ``resume=True`` continues ``out`` from its newest
    checkpoint (records after it are dropped).
    """
    config.check()
    require(config.loggers)
    out = Path(out)
    agent_config = resolve_hnpg_config(config)
    H = config.horizon

    if resume:
        recorded = read_json(out / "config.json")
        lock = np.asarray(recorded["env"]["lock"], np.int64)
    elif dataset is not None and "lock" in dataset.metadata:
        lock = np.asarray(dataset.metadata["lock"], np.int64)
    else:
        from hybridrl.envs.comblock import draw_lock

        lock = draw_lock(H, config.seed if config.lock_seed is None else config.lock_seed)
    if dataset is not None and dataset.metadata.get("horizon", H) != H:
        raise RunError(f"dataset '{dataset.name}' has horizon {dataset.metadata['horizon']}, the run {H}")

    envs = _make_envs(config, config.episodes_per_iteration, lock)
    eval_envs = _make_envs(config, config.eval_episodes, lock)
    try:
        offline = None
        if agent_config.hybrid:
            if dataset is None:
                from hybridrl.envs.comblock import offline_dataset

                dataset = offline_dataset(envs.envs[0].unwrapped, config.offline_episodes, seed=config.seed + 1)
            try:
                offline = hnpg.offline_buffers(dataset, H)
            except ValueError as exc:
                raise RunError(str(exc)) from exc
        return _train(config, agent_config, envs, eval_envs, lock, dataset, offline, out, resume, progress)
    finally:
        envs.close()
        eval_envs.close()


def _train(config, agent_config, envs, eval_envs, lock, dataset, offline, out: Path, resume: bool, progress: bool):
    H = config.horizon
    space = envs.single_action_space
    spec = Spec(envs.single_observation_space.shape[0], space.shape[0])
    watch = _Stopwatch()
    t0 = time.perf_counter()
    key_init, key = jax.random.split(jax.random.PRNGKey(config.seed))
    state = jax.jit(hnpg.init, static_argnums=(1, 2))(key_init, spec, agent_config)
    watch.add("init", time.perf_counter() - t0)

    iteration, env_steps = 0, 0
    if resume:
        found = checkpoint.latest(out / "checkpoints")
        if found is None:
            raise RunError(f"{out}: no checkpoint to resume from; start a new run without resume")
        restored = checkpoint.restore(found[1], {"state": state, "key": key, "iteration": 0, "env_steps": 0})
        state, key = restored["state"], jnp.asarray(restored["key"])
        iteration, env_steps = int(restored["iteration"]), int(restored["env_steps"])
        truncate_jsonl(out / "metrics.jsonl", iteration)
        truncate_jsonl(out / "eval.jsonl", iteration)
    else:
        prep = Preprocessing(np.zeros(spec.obs_dim, np.float32), np.ones(spec.obs_dim, np.float32),
                             space.low.astype(np.float32), space.high.astype(np.float32), 1.0)
        data_info = None if dataset is None else {
            "name": dataset.name, "transitions": len(dataset), "episodes": dataset.num_episodes,
            "success_fraction": float(np.mean(dataset.episode_returns >= 1.0))}
        start_run_dir(out, {"mode": "onpolicy", "run": dataclasses.asdict(config),
                            "agent": {"name": hnpg.NAME, **dataclasses.asdict(agent_config)},
                            "env": {"id": config.env, "horizon": H, "lock": np.asarray(lock).tolist()},
                            "dataset": data_info, "reference_scores": None}, prep.to_dict())
    log = RunLog(out, config.loggers, resume)

    act = jax.jit(lambda s, o, k, h: hnpg.act(s, o, k, False, h))
    update = jax.jit(hnpg.update)
    last_eval = None
    name = "hnpg" if agent_config.hybrid else "trpo (online only)"
    try:
        with progress_bar(disable=not progress) as bar:
            task = bar.add_task(f"{name} H={H}", total=config.iterations, completed=iteration, info="")
            while iteration < config.iterations:
                key, k_roll, k_update, k_eval = jax.random.split(key, 4)
                t0 = time.perf_counter()
                batch = rollout(envs, act, state, k_roll, H,
                                _reset_seeds(config.seed, iteration, 0, config.episodes_per_iteration))
                watch.add("rollout", time.perf_counter() - t0)
                if offline is not None:
                    batch["offline"] = offline
                t0 = time.perf_counter()
                state, metrics = update(state, batch, k_update)
                metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
                watch.add("update", time.perf_counter() - t0)
                iteration += 1
                env_steps += batch["rewards"].size
                record = {"step": iteration, "seed": config.seed, "env_steps": env_steps}
                if iteration % config.log_every == 0 or iteration == config.iterations:
                    log.records(iteration, [record | metrics], "train")
                if iteration % config.eval_every == 0 or iteration == config.iterations:
                    t0 = time.perf_counter()
                    returns = rollout(eval_envs, act, state, k_eval, H,
                                      _reset_seeds(config.seed, iteration, 1, config.eval_episodes))["rewards"].sum(1)
                    last_eval = {"returns": np.array([returns.mean()]), "scores": None,
                                 "success_rate": float(np.mean(returns >= 1.0))}
                    log.records(iteration, [record | {
                        "return_mean": float(returns.mean()), "return_std": float(returns.std()),
                        "success_rate": last_eval["success_rate"], "length_mean": float(H),
                        "returns": returns.tolist()}], "eval")
                    watch.add("evaluate", time.perf_counter() - t0)
                    bar.update(task, info=f"{env_steps:,} steps, success {last_eval['success_rate']:.2f}")
                if iteration % config.checkpoint_every == 0 or iteration == config.iterations:
                    t0 = time.perf_counter()
                    checkpoint.save(out / "checkpoints", iteration,
                                    {"state": state, "key": key, "iteration": iteration, "env_steps": env_steps},
                                    keep=config.keep_checkpoints)
                    watch.add("io", time.perf_counter() - t0)
                bar.update(task, completed=iteration)
    finally:
        log.close()

    timings = dict(watch.totals)
    timings["train"] = timings.get("rollout", 0.0) + timings.get("update", 0.0)  # as offline and online runs name it
    timings["env_steps"] = env_steps
    if last_eval is None:  # a resumed run that had nothing left to do: the last evaluation on file
        evals = read_jsonl(out / "eval.jsonl")
        success = [evals[-1]["success_rate"]] if evals else None
    else:
        success = [last_eval["success_rate"]]
    return finish_run(out, config, iteration, last_eval, timings,
                      extra={"env_steps": env_steps, "final_success_rate": success})
