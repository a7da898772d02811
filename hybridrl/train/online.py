"""Online training: K seeds, one environment each, stepped together; updates run on the device.

Each environment step is two host calls: one writes the transition just
collected into the device replay buffer (donated, so in place), the other
updates the agent (``utd`` critic steps and one actor step for SAC) and returns
the action for the next observation. Before ``start_steps`` the actions are uniform and nothing updates.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import flax.serialization
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hybridrl.agents import Spec, get_agent
from hybridrl.agents.base import config_from_dict
from hybridrl.data.sampler import Preprocessing
from hybridrl.data.transforms import ACTION_CLIP, unscale_actions
from hybridrl.envs.scores import reference_scores
from hybridrl.envs.wrappers import make_vec_env
from hybridrl.evaluate.policy import Policy
from hybridrl.evaluate.rollout import make_vector_env
from hybridrl.train import checkpoint
from hybridrl.train.core import init_states
from hybridrl.train.loggers import RunLog, require
from hybridrl.train.offline import RunError, RunResult, _Stopwatch, evaluate_and_log, finish_run
from hybridrl.train.run_dir import read_json, start_run_dir, truncate_jsonl

TRAIN_FIELDS = ("observations", "actions", "rewards", "next_observations", "masks")
BUFFER_FIELDS = TRAIN_FIELDS + ("timeouts",)  # timeouts mark episode ends that are not terminations


@dataclasses.dataclass
class OnlineConfig:
    """Everything that defines an online run."""

    algo: str
    env: str
    online_steps: int = 250_000  # environment steps per seed (RLPD's locomotion budget)
    seeds: int = 1
    seed: int = 0
    start_steps: int = 5_000  # uniform random actions, no updates (RLPD's README commands: 5,000)
    buffer_size: int | None = None  # None = online_steps (RLPD: capacity = max_steps)
    eval_every: int = 5_000  # RLPD: 5,000
    eval_episodes: int = 10  # RLPD: 10
    log_every: int = 1_000
    checkpoint_every: int | None = None  # None = at every evaluation
    keep_checkpoints: int = 3
    agent: dict[str, Any] = dataclasses.field(default_factory=dict)
    loggers: list[str] = dataclasses.field(default_factory=list)  # optional trackers: "wandb", "mlflow"

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    @property
    def capacity(self) -> int:
        return self.buffer_size or self.online_steps

    def check(self) -> None:
        for name in ("online_steps", "seeds", "eval_every", "eval_episodes", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise RunError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.start_steps < 0:
            raise RunError(f"--start-steps must be 0 or more, got {self.start_steps}")
        if self.buffer_size is not None and self.buffer_size < 1:
            raise RunError(f"--buffer-size must be at least 1, got {self.buffer_size}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise RunError(f"--checkpoint-every must be at least 1, got {self.checkpoint_every}")


def resolve_online_agent_config(config: OnlineConfig) -> Any:
    agent = get_agent(config.algo)
    if not hasattr(agent, "samples_per_update"):
        raise RunError(f"{config.algo} is an offline algorithm; online training supports: sac")
    try:
        agent_config = config_from_dict(agent, config.agent)
        if hasattr(agent, "validate"):
            agent.validate(agent_config)
    except (TypeError, ValueError) as exc:
        raise RunError(str(exc)) from exc
    return agent_config


def _make_env(env_id: str, num_envs: int) -> gym.vector.VectorEnv:
    try:
        envs = make_vec_env(env_id, num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    except ValueError as exc:
        raise RunError(str(exc)) from exc
    space = envs.single_action_space
    if not isinstance(space, gym.spaces.Box) or len(envs.single_observation_space.shape) != 1:
        envs.close()
        raise RunError(f"environment '{env_id}' needs flat Box observations and actions for SAC")
    return envs


def empty_buffer(num_seeds: int, capacity: int, spec: Spec) -> dict[str, jax.Array]:
    shapes = {"observations": (spec.obs_dim,), "actions": (spec.act_dim,), "rewards": (),
              "next_observations": (spec.obs_dim,), "masks": (), "timeouts": ()}
    return {k: jnp.zeros((num_seeds, capacity, *shapes[k]), jnp.float32) for k in BUFFER_FIELDS}


def make_buffer_write() -> Callable:
    """A jitted ``(buffer, transition, ptr) -> buffer`` writing row ``ptr`` of every seed, in place (donated).

    The write is its own call: fused into the update step, XLA copied the whole buffer on every environment step
    (a 300k-transition HalfCheetah buffer: 142 against 496 updates/s for 32-32 networks).
    """

    def write(buffer, transition, ptr):
        return {k: jax.lax.dynamic_update_index_in_dim(buffer[k], transition[k], ptr, 1) for k in BUFFER_FIELDS}

    return jax.jit(write, donate_argnums=(0,))


def make_env_step(agent: ModuleType, samples: int, update: bool) -> Callable:
    """A jitted ``(states, buffer, keys, obs, size) -> (states, keys, actions, metrics)``.

    Per seed: if ``update``, one agent update on ``samples`` transitions drawn uniformly from the first ``size``
    rows of the buffer; then a stochastic action for ``obs``. The states are donated; the buffer is only read.
    """

    def one_seed(state, buffer, key, obs, size):
        key, k_batch, k_update, k_act = jax.random.split(key, 4)
        metrics = {}
        if update:
            idx = jax.random.randint(k_batch, (samples,), 0, size)
            state, metrics = agent.update(state, {k: buffer[k][idx] for k in TRAIN_FIELDS}, k_update)
        action = agent.act(state, obs[None], k_act, deterministic=False)[0]
        return state, key, action, metrics

    vmapped = jax.vmap(one_seed, in_axes=(0, 0, 0, 0, None))
    return jax.jit(vmapped, donate_argnums=(0,))


def train_online(config: OnlineConfig, out: str | Path, *, resume: bool = False, progress: bool = True) -> RunResult:
    """Train ``config.seeds`` seeds of ``config.algo`` online in ``config.env``; write everything to ``out``."""
    config.check()
    require(config.loggers)  # a missing wandb / mlflow stops the run before its folder is made
    out = Path(out)
    agent = get_agent(config.algo)
    agent_config = resolve_online_agent_config(config)
    seeds = config.seed_list()
    envs = _make_env(config.env, len(seeds))
    try:
        return _train(config, agent, agent_config, envs, out, resume, progress)
    finally:
        envs.close()


def _train(config, agent, agent_config, envs, out: Path, resume: bool, progress: bool) -> RunResult:
    seeds = config.seed_list()
    num_seeds = len(seeds)
    space = envs.single_action_space
    low, high = space.low.astype(np.float32), space.high.astype(np.float32)
    spec = Spec(envs.single_observation_space.shape[0], space.shape[0])
    prep = Preprocessing(np.zeros(spec.obs_dim, np.float32), np.ones(spec.obs_dim, np.float32), low, high, 1.0)
    ref = reference_scores(config.env, None, None)
    capacity = config.capacity
    ckpt_every = config.checkpoint_every or config.eval_every
    watch = _Stopwatch()

    t0 = time.perf_counter()
    states, keys = init_states(agent, agent_config, spec, seeds)
    buffer = empty_buffer(num_seeds, capacity, spec)
    watch.add("init", time.perf_counter() - t0)

    step = 0
    if resume:
        t0 = time.perf_counter()
        states, keys, buffer, step = _restore(out, states, keys, buffer, capacity)
        truncate_jsonl(out / "metrics.jsonl", step)
        truncate_jsonl(out / "eval.jsonl", step)
        watch.add("io", time.perf_counter() - t0)
    else:
        _start_run_dir(out, config, agent_config, prep, ref)
    log = RunLog(out, config.loggers, resume)

    # Host-side randomness (warm-up actions, env resets) is derived from (seed, step), so a resumed run is seeded too.
    rng = np.random.default_rng([config.seed, step])
    obs, _ = envs.reset(seed=[int(s) + 1_000_003 * step for s in seeds])
    step_fns: dict[bool, Callable] = {}  # compiled on first use: without and with the update
    write = make_buffer_write()
    updates = 0  # environment steps with an update, in this process
    policy = Policy(agent, states, prep, seeds, config.env, ref)
    eval_envs = make_vector_env(config.env, num_seeds * config.eval_episodes)
    episode_return = np.zeros(num_seeds)
    finished_returns: list[list[float]] = [[] for _ in seeds]
    pending_metrics: list[dict] = []
    actions = rng.uniform(-1.0, 1.0, (num_seeds, spec.act_dim)).astype(np.float32)
    last_eval: dict[str, np.ndarray] | None = None
    tick, tick_step = time.perf_counter(), step
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn(), TimeRemainingColumn()]
    try:
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task(f"{agent.NAME} online x{num_seeds} seeds", total=config.online_steps, completed=step, info="")
            t_loop = time.perf_counter()
            while step < config.online_steps:
                next_obs, rewards, terminated, truncated, infos = envs.step(unscale_actions(actions, low, high))
                done = terminated | truncated
                real_next = _final_obs(infos, next_obs, done)
                transition = {"observations": obs.astype(np.float32), "actions": np.clip(actions, -ACTION_CLIP, ACTION_CLIP),
                              "rewards": rewards.astype(np.float32), "next_observations": real_next.astype(np.float32),
                              "masks": 1.0 - terminated.astype(np.float32),
                              "timeouts": (truncated & ~terminated).astype(np.float32)}
                episode_return += rewards
                for i in np.flatnonzero(done):
                    finished_returns[i].append(float(episode_return[i]))
                    episode_return[i] = 0.0
                obs = next_obs.astype(np.float32)
                step += 1
                learn = step >= config.start_steps
                if learn not in step_fns:
                    t0 = time.perf_counter()
                    step_fns[learn] = make_env_step(agent, agent.samples_per_update(agent_config), learn).lower(
                        states, buffer, keys, obs, np.int32(1)).compile()
                    watch.add("compile", time.perf_counter() - t0)
                    t_loop += time.perf_counter() - t0
                ptr, size = (step - 1) % capacity, min(step, capacity)
                buffer = write(buffer, transition, np.int32(ptr))
                states, keys, new_actions, metrics = step_fns[learn](states, buffer, keys, obs, np.int32(size))
                if learn:
                    actions = np.asarray(new_actions)
                    pending_metrics.append(metrics)
                    updates += 1
                else:
                    actions = rng.uniform(-1.0, 1.0, (num_seeds, spec.act_dim)).astype(np.float32)

                at_log = step % config.log_every == 0 or step == config.online_steps
                at_eval = step % config.eval_every == 0 or step == config.online_steps
                at_ckpt = step % ckpt_every == 0 or step == config.online_steps
                if not (at_log or at_eval or at_ckpt):
                    continue
                watch.add("train", time.perf_counter() - t_loop)
                watch.add("train_steps", step - tick_step)
                if at_log:
                    now = time.perf_counter()
                    rate = (step - tick_step) / max(now - tick, 1e-9)
                    tick, tick_step = now, step
                    means = _mean_metrics(pending_metrics)
                    pending_metrics = []
                    records = [
                        {"step": step, "seed": s, "env_steps_per_s": rate,
                         "train_return": float(np.mean(finished_returns[i])) if finished_returns[i] else None,
                         "train_episodes": len(finished_returns[i]),
                         **{k: float(v[i]) for k, v in means.items()}}
                        for i, s in enumerate(seeds)]
                    log.records(step, records, "train")
                    finished_returns = [[] for _ in seeds]
                    bar.update(task, completed=step, info=f"{rate:,.0f} env steps/s")
                if at_eval:
                    t0 = time.perf_counter()
                    last_eval = evaluate_and_log(policy, states, step, config, eval_envs, log)
                    watch.add("evaluate", time.perf_counter() - t0)
                    bar.update(task, info=f"eval return {np.mean(last_eval['returns']):.1f}")
                if at_ckpt:
                    t0 = time.perf_counter()
                    _save(out, step, states, keys, buffer, capacity, config.keep_checkpoints)
                    watch.add("io", time.perf_counter() - t0)
                t_loop = time.perf_counter()
    finally:
        log.close()
        eval_envs.close()

    timings = dict(watch.totals)
    train_steps = timings.pop("train_steps", 0)
    timings["env_steps_per_s"] = train_steps * num_seeds / timings["train"] if timings.get("train") else 0.0
    critic_updates = updates * num_seeds * getattr(agent_config, "utd", 1)
    timings["updates_per_s"] = critic_updates / timings["train"] if timings.get("train") else 0.0
    return finish_run(out, config, step, last_eval, timings)


def _final_obs(infos: dict, next_obs: np.ndarray, done: np.ndarray) -> np.ndarray:
    """The last observation of each finished episode (SAME_STEP autoreset puts it in ``final_obs``)."""
    final = np.array(next_obs, copy=True)
    for i in np.flatnonzero(done):
        final[i] = infos["final_obs"][i]
    return final


def _mean_metrics(pending: list[dict]) -> dict[str, np.ndarray]:
    if not pending:
        return {}
    host = jax.device_get(pending)
    return {k: np.mean([m[k] for m in host], axis=0) for k in host[0]}


def _save(out: Path, step: int, states, keys, buffer, capacity: int, keep: int) -> None:
    """A checkpoint with the agent states, keys and the filled part of the replay buffer."""
    filled = min(step, capacity)
    host_buffer = {k: np.asarray(v[:, :filled]) for k, v in buffer.items()}
    checkpoint.save(out / "checkpoints", step, {"states": states, "keys": keys, "step": step, "buffer": host_buffer},
                    keep=keep)


def _restore(out: Path, states, keys, buffer, capacity: int):
    found = checkpoint.latest(out / "checkpoints")
    if found is None:
        raise RunError(f"{out}: no checkpoint to resume from; start a new run without --resume")
    step = found[0]
    filled = min(step, capacity)
    raw = checkpoint.restore(found[1], None)
    restored = flax.serialization.from_state_dict({"states": states, "keys": keys, "step": 0},
                                                  {k: raw[k] for k in ("states", "keys", "step")})
    # Checkpoints written before the buffer kept timeouts have none: their episode ends are unknown (zeros).
    buffer = {k: buffer[k].at[:, :filled].set(raw["buffer"][k]) if k in raw["buffer"] else buffer[k]
              for k in BUFFER_FIELDS}
    return restored["states"], restored["keys"], buffer, int(restored["step"])


def _start_run_dir(out: Path, config: OnlineConfig, agent_config: Any, prep: Preprocessing,
                   ref: tuple[float, float] | None) -> None:
    start_run_dir(out, {
        "mode": "online",
        "run": dataclasses.asdict(config),
        "agent": {"name": config.algo, **dataclasses.asdict(agent_config)},
        "dataset": None,
        "reference_scores": None if ref is None else {"random": ref[0], "expert": ref[1]},
    }, prep.to_dict())


def load_online_config(run_dir: Path) -> OnlineConfig:
    return OnlineConfig(**read_json(Path(run_dir) / "config.json")["run"])
