"""Offline training: a dataset, an agent, N seeds in one compiled program, a run folder."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from hybridrl.agents import Spec, get_agent
from hybridrl.agents.base import config_from_dict
from hybridrl.data.dataset import Dataset
from hybridrl.data.sampler import Preprocessing, make_preprocessing, raw_scale_note, to_device
from hybridrl.envs.scores import reference_scores
from hybridrl.envs.wrappers import make_vec_env
from hybridrl.evaluate.policy import EVAL_SEED_OFFSET, Policy
from hybridrl.evaluate.rollout import eval_record, evaluate_policy
from hybridrl.train import checkpoint
from hybridrl.train.core import init_states, make_train_chunk
from hybridrl.train.loggers import RunLog, progress_bar, require
from hybridrl.train.run_dir import (
    RunError,
    read_json,
    read_jsonl,
    start_run_dir,
    truncate_jsonl,
    write_summary,
)


@dataclasses.dataclass
class RunConfig:
    """Everything that defines an offline run besides the data itself."""

    algo: str
    dataset: str  # where the data came from (path or id), recorded for reproduction
    env: str | None = None  # Gymnasium id used for evaluation; None = no evaluation
    steps: int = 100_000
    seeds: int = 1
    seed: int = 0  # seeds used are seed, seed + 1, ..., seed + seeds - 1
    eval_every: int = 5_000  # official TD3+BC and IQL evaluate every 5,000 steps
    eval_episodes: int = 10  # official TD3+BC and IQL use 10 episodes
    log_every: int = 1_000
    checkpoint_every: int | None = None  # None = at every evaluation
    keep_checkpoints: int = 3
    agent: dict[str, Any] = dataclasses.field(default_factory=dict)  # overrides of the agent's Config
    loggers: list[str] = dataclasses.field(default_factory=list)  # optional trackers: "wandb", "mlflow"

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def check(self) -> None:
        for name in ("steps", "seeds", "eval_every", "eval_episodes", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise RunError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise RunError(f"--checkpoint-every must be at least 1, got {self.checkpoint_every}")


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    config: RunConfig
    step: int
    final_returns: np.ndarray | None  # (seeds,) mean return of the last evaluation
    final_scores: np.ndarray | None  # (seeds,) normalized score of the last evaluation, if reference scores exist
    timings: dict[str, float]


def resolve_agent_config(config: RunConfig) -> Any:
    """The agent's Config with the run's overrides; IQL's cosine horizon defaults to the run length."""
    agent = get_agent(config.algo)
    try:
        agent_config = config_from_dict(agent, config.agent)
    except (TypeError, ValueError) as exc:
        raise RunError(str(exc)) from exc
    if hasattr(agent_config, "actor_decay_steps") and agent_config.actor_decay_steps is None:
        agent_config = dataclasses.replace(agent_config, actor_decay_steps=config.steps)
    return agent_config


def _env_action_bounds(env_id: str) -> tuple[np.ndarray, np.ndarray]:
    import gymnasium as gym

    from hybridrl.envs.wrappers import make_env

    try:
        env = make_env(env_id)
    except ValueError as exc:
        raise RunError(str(exc)) from exc
    space = env.action_space
    env.close()
    if not isinstance(space, gym.spaces.Box):
        raise RunError(f"environment '{env_id}' has a {type(space).__name__} action space; hybridrl's offline agents need a Box")
    return space.low.astype(np.float32), space.high.astype(np.float32)


class _Stopwatch:
    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.totals[name] = self.totals.get(name, 0.0) + seconds


def train_offline(
    config: RunConfig,
    dataset: Dataset,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
) -> RunResult:
    """Train ``config.seeds`` seeds of ``config.algo`` on ``dataset``; write everything to ``out``.

    With ``resume=True``, ``out`` must be a run folder: training continues from
    its newest checkpoint (records logged after that checkpoint are dropped).
    """
    config.check()
    require(config.loggers)  # a missing wandb / mlflow stops the run before its folder is made
    out = Path(out)
    agent = get_agent(config.algo)
    agent_config = resolve_agent_config(config)
    env_id = config.env or dataset.env_id
    config = dataclasses.replace(config, env=env_id)
    action_low, action_high = _env_action_bounds(env_id) if env_id else (dataset.action_low, dataset.action_high)
    if env_id and dataset.act_dim != action_low.shape[0]:
        raise RunError(f"dataset actions have dimension {dataset.act_dim} but {env_id} expects {action_low.shape[0]}; pass the matching --env")
    if action_low is not None:
        from hybridrl.data.validate import validate

        validate(dataset, config.dataset, action_low=action_low, action_high=action_high)

    if resume:
        recorded = read_json(out / "config.json")["dataset"]
        if (recorded["transitions"], recorded["episodes"]) != (len(dataset), dataset.num_episodes):
            raise RunError(f"{out} was trained on {recorded['transitions']} transitions in {recorded['episodes']} episodes "
                           f"but {config.dataset} now holds {len(dataset)} in {dataset.num_episodes}; resume with the same data")
        prep = Preprocessing.from_dict(read_json(out / "preprocessing.json"))
    else:
        prep = make_preprocessing(dataset, agent_config.normalize_observations, agent_config.reward_scaling,
                                  action_low, action_high)
        note = raw_scale_note(dataset, config.algo, agent_config.normalize_observations)
        if note:
            print(note, file=sys.stderr)
    spec = Spec(dataset.obs_dim, dataset.act_dim)
    ref = reference_scores(env_id, dataset.ref_min_score, dataset.ref_max_score)
    seeds = config.seed_list()
    ckpt_every = config.checkpoint_every or config.eval_every
    watch = _Stopwatch()

    t0 = time.perf_counter()
    data = to_device(dataset, prep, agent_config.discount if getattr(agent, "NEEDS_MC_RETURNS", False) else None)
    watch.add("io", time.perf_counter() - t0)
    t0 = time.perf_counter()
    states, keys = init_states(agent, agent_config, spec, seeds)
    watch.add("init", time.perf_counter() - t0)

    step = 0
    if resume:
        found = checkpoint.latest(out / "checkpoints")
        if found is None:
            raise RunError(f"{out}: no checkpoint to resume from; start a new run without --resume")
        t0 = time.perf_counter()
        restored = checkpoint.restore(found[1], {"states": states, "keys": keys, "step": 0})
        states, keys, step = restored["states"], restored["keys"], int(restored["step"])
        truncate_jsonl(out / "metrics.jsonl", step)
        truncate_jsonl(out / "eval.jsonl", step)
        watch.add("io", time.perf_counter() - t0)
    else:
        _start_run_dir(out, config, agent_config, prep, ref, dataset)
    log = RunLog(out, config.loggers, resume)

    train_fns: dict[int, Callable] = {}
    policy = Policy(agent, states, prep, seeds, env_id, ref)
    envs = make_vec_env(env_id, len(seeds) * config.eval_episodes) if env_id else None

    last_eval: dict[str, np.ndarray] | None = None
    try:
        with progress_bar(disable=not progress) as bar:
            task = bar.add_task(f"{agent.NAME} x{len(seeds)} seeds", total=config.steps, completed=step, info="")
            while step < config.steps:
                n = min(_next_multiple(step, config.log_every), _next_multiple(step, config.eval_every),
                        _next_multiple(step, ckpt_every), config.steps) - step
                if n not in train_fns:
                    t0 = time.perf_counter()
                    train_fns[n] = make_train_chunk(agent, agent_config.batch_size, n, len(seeds)).lower(
                        states, keys, data).compile()
                    watch.add("compile", time.perf_counter() - t0)
                t0 = time.perf_counter()
                states, keys, metrics = train_fns[n](states, keys, data)
                metrics = jax.device_get(metrics)
                dt = time.perf_counter() - t0
                watch.add("train", dt)
                step += n
                watch.add("train_steps", n)
                bar.update(task, completed=step, info=f"{n / dt:,.0f} upd/s")

                if step % config.log_every == 0 or step == config.steps:
                    records = [
                        {"step": step, "seed": s, "updates_per_s": n * len(seeds) / dt,
                         **{k: float(v[i]) for k, v in metrics.items()}}
                        for i, s in enumerate(seeds)]
                    log.records(step, records, "train")
                if envs is not None and (step % config.eval_every == 0 or step == config.steps):
                    t0 = time.perf_counter()
                    last_eval = evaluate_and_log(policy, states, step, config, envs, log)
                    watch.add("evaluate", time.perf_counter() - t0)
                    shown = last_eval["scores"] if last_eval["scores"] is not None else last_eval["returns"]
                    bar.update(task, info=f"eval {'score' if ref else 'return'} {np.mean(shown):.1f}")
                if step % ckpt_every == 0 or step == config.steps:
                    t0 = time.perf_counter()
                    checkpoint.save(out / "checkpoints", step, {"states": states, "keys": keys, "step": step},
                                    keep=config.keep_checkpoints)
                    watch.add("io", time.perf_counter() - t0)
    finally:
        log.close()
        if envs is not None:
            envs.close()

    timings = dict(watch.totals)
    train_steps = timings.pop("train_steps", 0)
    timings["updates_per_s"] = train_steps * len(seeds) / timings["train"] if timings.get("train") else 0.0
    return finish_run(out, config, step, last_eval, timings)


def evaluate_and_log(policy: Policy, states: Any, step: int, config: Any, envs, log: RunLog,
                     extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Roll out every seed's policy ``config.eval_episodes`` times, log one record per seed (with ``extra``
    fields); mean return and score."""
    seeds = config.seed_list()
    policy.states = states
    result = evaluate_policy(config.env, policy, len(seeds), config.eval_episodes, seed=config.seed + EVAL_SEED_OFFSET,
                             ref=policy.ref, envs=envs)
    log.records(step, [{**eval_record(step, s, i, result), **(extra or {})} for i, s in enumerate(seeds)], "eval")
    return {"returns": result.returns.mean(1), "scores": None if result.normalized is None else result.normalized.mean(1)}


def finish_run(out: Path, config: Any, step: int, last_eval: dict | None, timings: dict[str, float],
               extra: dict[str, Any] | None = None) -> RunResult:
    """Write summary.json (taking the last evaluation from eval.jsonl when this process made none)."""
    seeds = config.seed_list()
    if last_eval is None and (out / "eval.jsonl").exists():
        last_eval = _last_eval_from_file(out / "eval.jsonl", seeds)
    write_summary(out, step, seeds, last_eval, timings, extra)
    returns = None if last_eval is None else last_eval["returns"]
    scores = None if last_eval is None else last_eval["scores"]
    return RunResult(out, config, step, returns, scores, timings)


def load_run_config(run_dir: str | Path) -> RunConfig:
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.exists():
        raise RunError(f"{run_dir}: not a run folder (no config.json); pass the folder a `hybridrl train` run wrote")
    raw = read_json(path)
    return RunConfig(**raw["run"])


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every


def _last_eval_from_file(path: Path, seeds: list[int]) -> dict[str, np.ndarray | None] | None:
    records = read_jsonl(path)
    if not records:
        return None
    last = max(r["step"] for r in records)
    by_seed = {r["seed"]: r for r in records if r["step"] == last}
    returns = np.array([by_seed[s]["return_mean"] for s in seeds])
    has_scores = all("normalized_score" in by_seed[s] for s in seeds)
    scores = np.array([by_seed[s]["normalized_score"] for s in seeds]) if has_scores else None
    return {"returns": returns, "scores": scores}


def _start_run_dir(out: Path, config: RunConfig, agent_config: Any, prep: Preprocessing,
                   ref: tuple[float, float] | None, dataset: Dataset) -> None:
    start_run_dir(out, {
        "run": dataclasses.asdict(config),
        "agent": {"name": config.algo, **dataclasses.asdict(agent_config)},
        "dataset": {"source": config.dataset, "name": dataset.name, "transitions": len(dataset),
                    "episodes": dataset.num_episodes, "env_id": dataset.env_id},
        "reference_scores": None if ref is None else {"random": ref[0], "expert": ref[1]},
    }, prep.to_dict())
