"""Online training and offline-to-online fine-tuning: one loop for every method that interacts.

A run has up to two phases:

1. **Offline pre-training** (``offline_steps`` updates on the dataset alone, as in
   the offline loop), when a dataset is given.
2. **Online**: K seeds, one environment each, stepped together. For the first
   ``start_steps`` environment steps actions are uniform; until ``warmup_steps``
   they come from the (pre-trained) policy, with no updates (WSRL's warm-up);
   after both, every environment step also updates the agent. Each update's
   batch mixes offline and online rows at the ratio ``mix`` says: fixed
   (``"0.5"``, RLPD's symmetric sampling; ``"0"``, online only), annealed
   linearly over the online phase (``"0.5->0"``), or ``"union"``: uniform over
   offline and online data pooled in one buffer (IQL's fine-tuning). The ratio
   holds exactly in every minibatch: row ``i`` comes from the offline data iff
   ``i mod batch_size < round(ratio * batch_size)``.

Online transitions are stored in the training space (observations normalized
and rewards scaled as the dataset's were). Each environment step is two host
calls: one writes the transition into the device replay buffer (donated, so
in place), the other updates the agent and returns the next stochastic action.
Agents that need Monte-Carlo returns (``NEEDS_MC_RETURNS``, Cal-QL) get an
``mc_returns`` field: the dataset's returns-to-go offline; online, ``-inf``
until the episode ends, then its discounted return-to-go.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import flax.serialization
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from hybridrl.agents import Spec, get_agent
from hybridrl.agents.base import config_from_dict
from hybridrl.data.dataset import Dataset
from hybridrl.data.sampler import Preprocessing, make_preprocessing, raw_scale_note, to_device
from hybridrl.data.transforms import ACTION_CLIP, discounted_returns, unscale_actions
from hybridrl.envs.scores import reference_scores
from hybridrl.envs.wrappers import make_vec_env
from hybridrl.evaluate.policy import Policy
from hybridrl.train import checkpoint
from hybridrl.train.core import init_states, make_train_chunk
from hybridrl.train.loggers import RunLog, progress_bar, require
from hybridrl.train.offline import RunError, RunResult, _Stopwatch, evaluate_and_log, finish_run
from hybridrl.train.run_dir import read_json, start_run_dir, truncate_jsonl, write_json

TRAIN_FIELDS = ("observations", "actions", "rewards", "next_observations", "masks")
BUFFER_FIELDS = TRAIN_FIELDS + ("timeouts",)  # timeouts mark episode ends that are not terminations
MC_FIELD = "mc_returns"
MC_CHUNK = 1024  # rows per call when an episode's returns-to-go are written (fixed shape: one compile)


@dataclasses.dataclass
class OnlineConfig:
    """Everything that defines an online or fine-tuning run besides the data itself."""

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
    # Fine-tuning (all off for a purely online run):
    dataset: str | None = None  # where the offline data came from (path or id)
    offline_steps: int = 0  # pre-training updates on the dataset alone
    warmup_steps: int = 0  # online steps acting with the policy before the first update (WSRL: 5,000)
    mix: str = "0"  # offline share of each batch: "R", "R0->R1" (linear over the online phase) or "union"
    init_from: str | None = None  # an offline run folder of the same algorithm, data and seeds to start from

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    @property
    def capacity(self) -> int:
        return self.buffer_size or self.online_steps

    @property
    def update_after(self) -> int:
        """Environment steps before the first online update."""
        return max(self.start_steps, self.warmup_steps)

    def check(self) -> None:
        for name in ("online_steps", "seeds", "eval_every", "eval_episodes", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise RunError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("start_steps", "offline_steps", "warmup_steps"):
            if getattr(self, name) < 0:
                raise RunError(f"--{name.replace('_', '-')} must be 0 or more, got {getattr(self, name)}")
        if self.buffer_size is not None and self.buffer_size < 1:
            raise RunError(f"--buffer-size must be at least 1, got {self.buffer_size}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise RunError(f"--checkpoint-every must be at least 1, got {self.checkpoint_every}")
        parse_mix(self.mix)
        if self.dataset is None and (self.offline_steps or parse_mix(self.mix).uses_offline or self.init_from):
            raise RunError("--offline-steps, --init-from and an offline share in --mix need a --dataset")


@dataclasses.dataclass(frozen=True)
class Mix:
    """The offline share of each batch over the online phase."""

    start: float
    end: float
    union: bool = False  # share = offline size / (offline size + online size), one pooled buffer

    @property
    def uses_offline(self) -> bool:
        return self.union or self.start > 0 or self.end > 0

    def share(self, env_step: int, online_steps: int, offline_size: int, online_size: int) -> float:
        if self.union:
            return offline_size / (offline_size + online_size)
        return self.start + (self.end - self.start) * min(env_step / online_steps, 1.0)


def parse_mix(text: str) -> Mix:
    """'0.5' -> fixed, '0.5->0' -> annealed linearly, 'union' -> one pooled buffer; one-line error otherwise."""
    text = str(text).strip()
    if text == "union":
        return Mix(0.0, 0.0, union=True)
    parts = text.split("->")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not all(0.0 <= v <= 1.0 for v in values):
        raise RunError(f"--mix must be an offline share in [0, 1] ('0.5'), an annealed one ('0.5->0') or 'union', "
                       f"got '{text}'")
    return Mix(values[0], values[-1])


def extend(config: OnlineConfig, online_steps: int) -> OnlineConfig:
    """``config`` of a run resumed with ``--online-steps online_steps``: the same run with a longer online budget.

    The budget can only grow: the replay buffer (sized by the budget unless --buffer-size set it) may grow but not
    shrink. A run whose offline share anneals over its budget is refused, as a new budget would change its schedule.
    """
    if online_steps == config.online_steps:
        return config
    if online_steps < config.online_steps:
        raise RunError(f"--online-steps {online_steps} is below the run's {config.online_steps}; with --resume it can "
                       f"only extend a run: pass {config.online_steps} or more")
    mix = parse_mix(config.mix)
    if not mix.union and mix.start != mix.end:
        raise RunError(f"cannot extend a run whose --mix {config.mix} anneals over its {config.online_steps} online "
                       f"steps; start a new run with --online-steps {online_steps}")
    return dataclasses.replace(config, online_steps=online_steps)


def offline_rows(share: float, batch_size: int) -> int:
    """How many rows of each minibatch come from the offline data."""
    return int(round(share * batch_size))


def resolve_online_agent_config(config: OnlineConfig) -> Any:
    from hybridrl.agents import AGENTS

    agent = get_agent(config.algo)
    if not hasattr(agent, "FINETUNE"):
        online = ", ".join(sorted(n for n, m in AGENTS.items() if hasattr(m, "FINETUNE")))
        raise RunError(f"{config.algo} cannot act online (no exploring policy); online training and fine-tuning "
                       f"support: {online}")
    if config.dataset is None and not getattr(agent, "ONLINE_FROM_SCRATCH", False):
        scratch = ", ".join(sorted(n for n, m in AGENTS.items() if getattr(m, "ONLINE_FROM_SCRATCH", False)))
        raise RunError(f"{config.algo} fine-tunes from a dataset; pass --dataset (training from scratch: {scratch})")
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
        raise RunError(f"environment '{env_id}' needs flat Box observations and actions for online training")
    return envs


def buffer_fields(agent: ModuleType) -> tuple[str, ...]:
    return BUFFER_FIELDS + ((MC_FIELD,) if getattr(agent, "NEEDS_MC_RETURNS", False) else ())


def batch_fields(agent: ModuleType) -> tuple[str, ...]:
    """The fields of an update's batch (the buffer's, less the timeouts)."""
    return tuple(k for k in buffer_fields(agent) if k != "timeouts")


def empty_buffer(num_seeds: int, capacity: int, spec: Spec, fields: tuple[str, ...] = BUFFER_FIELDS) -> dict[str, jax.Array]:
    shapes = {"observations": (spec.obs_dim,), "actions": (spec.act_dim,), "next_observations": (spec.obs_dim,)}
    return {k: jnp.zeros((num_seeds, capacity, *shapes.get(k, ())), jnp.float32) for k in fields}


def make_buffer_write(fields: tuple[str, ...] = BUFFER_FIELDS) -> Callable:
    """A jitted ``(buffer, transition, ptr) -> buffer`` writing row ``ptr`` of every seed, in place (donated).

    The write is its own call: fused into the update step, XLA copied the whole buffer on every environment step
    (a 300k-transition HalfCheetah buffer: 142 against 496 updates/s for 32-32 networks).
    """

    def write(buffer, transition, ptr):
        return {k: jax.lax.dynamic_update_index_in_dim(buffer[k], transition[k], ptr, 1) for k in fields}

    return jax.jit(write, donate_argnums=(0,))


def _set_rows(mc, seed_index, rows, values):
    """``mc[seed_index, rows] = values``; rows past the buffer's end (padding) are dropped."""
    return mc.at[seed_index, rows].set(values, mode="drop")


_write_mc_rows = jax.jit(_set_rows, donate_argnums=(0,))


def mixed_batch(buffer: dict, offline: dict | None, key: jax.Array, size, samples: int, batch_size: int,
                n_offline, fields: tuple[str, ...]) -> dict:
    """``samples`` rows: in every ``batch_size`` minibatch the first ``n_offline`` from ``offline`` (uniform over
    it), the rest from the first ``size`` rows of ``buffer`` (uniform). Traceable; ``n_offline`` may be traced."""
    idx = jax.random.randint(key, (samples,), 0, size)  # as before fine-tuning existed: online runs reproduce
    batch = {k: buffer[k][idx] for k in fields}
    if offline is None:
        return batch
    n = next(iter(offline.values())).shape[0]
    idx_off = jax.random.randint(jax.random.fold_in(key, 1), (samples,), 0, n)
    take = (jnp.arange(samples) % batch_size) < n_offline
    return {k: jnp.where(take.reshape((-1,) + (1,) * (batch[k].ndim - 1)), offline[k][idx_off], batch[k])
            for k in fields}


def make_env_step(agent: ModuleType, samples: int, batch_size: int, update: bool, fields: tuple[str, ...],
                  with_offline: bool) -> Callable:
    """A jitted ``(states, buffer, offline, keys, obs, size, n_offline) -> (states, keys, actions, metrics)``.

    Per seed: if ``update``, one agent update (``update_online`` where the agent has one) on a mixed batch of
    ``samples`` rows; then a stochastic action for ``obs``. The states are donated; buffer and data are only read.
    """
    update_fn = getattr(agent, "update_online", agent.update)

    def one_seed(state, buffer, offline, key, obs, size, n_offline):
        key, k_batch, k_update, k_act = jax.random.split(key, 4)
        metrics = {}
        if update:
            batch = mixed_batch(buffer, offline if with_offline else None, k_batch, size, samples, batch_size,
                                n_offline, fields)
            state, metrics = update_fn(state, batch, k_update)
        action = agent.act(state, obs[None], k_act, deterministic=False)[0]
        return state, key, action, metrics

    vmapped = jax.vmap(one_seed, in_axes=(0, 0, None, 0, 0, None, None))
    return jax.jit(vmapped, donate_argnums=(0,))


def train_online(config: OnlineConfig, out: str | Path, *, dataset: Dataset | None = None, resume: bool = False,
                 progress: bool = True) -> RunResult:
    """Train (or fine-tune from ``dataset``) ``config.seeds`` seeds of ``config.algo`` in ``config.env``."""
    config.check()
    if (dataset is None) != (config.dataset is None):
        raise RunError("config.dataset names the offline data: pass the dataset with it (or neither)")
    require(config.loggers)  # a missing wandb / mlflow stops the run before its folder is made
    out = Path(out)
    agent = get_agent(config.algo)
    agent_config = resolve_online_agent_config(config)
    envs = _make_env(config.env, len(config.seed_list()))
    try:
        return _train(config, agent, agent_config, envs, dataset, out, resume, progress)
    finally:
        envs.close()


def _train(config, agent, agent_config, envs, dataset, out: Path, resume: bool, progress: bool) -> RunResult:
    run = _Run(config, agent, agent_config, envs, dataset, out, resume)
    try:
        with progress_bar(disable=not progress) as bar:
            run.bar = bar
            run.task = bar.add_task(f"{agent.NAME} x{len(run.seeds)} seeds", total=config.offline_steps + config.online_steps,
                                    completed=run.step, info="")
            run.offline_phase()
            run.online_phase()
    finally:
        run.log.close()
        run.eval_envs.close()
    return run.finish()


class _Run:
    """One run's mutable state (agent states, keys, replay buffer, counters) and its two phases."""

    def __init__(self, config, agent, agent_config, envs, dataset, out: Path, resume: bool) -> None:
        self.config, self.agent, self.agent_config, self.envs, self.out = config, agent, agent_config, envs, out
        self.seeds = config.seed_list()
        space = envs.single_action_space
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        self.spec = Spec(envs.single_observation_space.shape[0], space.shape[0])
        self.fields = buffer_fields(agent)
        self.mix = parse_mix(config.mix)
        self.samples = agent.samples_per_update(agent_config) if hasattr(agent, "samples_per_update") \
            else agent_config.batch_size
        self.watch = _Stopwatch()
        self.bar = self.task = None
        if dataset is not None:
            _check_dataset(dataset, config, self.spec, self.low, self.high)
        if resume and checkpoint.latest(out / "checkpoints") is None:
            raise RunError(f"{out}: no checkpoint to resume from; start a new run without --resume")
        self.prep = _preprocessing(config, agent_config, dataset, envs.single_observation_space, self.low, self.high,
                                   out, resume)
        if config.init_from and not resume:  # a mismatch stops the run before anything is built
            _check_init_from(Path(config.init_from), config, self.prep, dataset)
        self.ref = reference_scores(config.env, *((None, None) if dataset is None else
                                                  (dataset.ref_min_score, dataset.ref_max_score)))
        t0 = time.perf_counter()
        self.offline, self.offline_size = None, 0
        if dataset is not None:
            mc = {"mc_discount": agent_config.discount} if MC_FIELD in self.fields else {}
            device = to_device(dataset, self.prep, **mc)
            self.offline, self.offline_size = {k: device[k] for k in batch_fields(agent)}, len(dataset)
        self.watch.add("io", time.perf_counter() - t0)
        t0 = time.perf_counter()
        self.states, self.keys = init_states(agent, agent_config, self.spec, self.seeds)
        self.buffer = empty_buffer(len(self.seeds), config.capacity, self.spec, self.fields)
        self.watch.add("init", time.perf_counter() - t0)
        self.step = 0  # offline updates done + environment steps done
        if resume:
            t0 = time.perf_counter()
            self.states, self.keys, self.buffer, self.step = _restore(out, self.states, self.keys, self.buffer,
                                                                      config.capacity, config.offline_steps)
            truncate_jsonl(out / "metrics.jsonl", self.step)
            truncate_jsonl(out / "eval.jsonl", self.step)
            _record_budget(out, config, self.step)
            self.watch.add("io", time.perf_counter() - t0)
        else:
            init = None
            if config.init_from:
                t0 = time.perf_counter()
                self.states, init = _init_from(Path(config.init_from), self.states)
                self.watch.add("io", time.perf_counter() - t0)
            _start_run_dir(out, config, agent_config, self.prep, self.ref, dataset, init)
        self.log = RunLog(out, config.loggers, resume)
        self.policy = Policy(agent, self.states, self.prep, self.seeds, config.env, self.ref)
        self.eval_envs = make_vec_env(config.env, len(self.seeds) * config.eval_episodes)
        self.last_eval: dict[str, np.ndarray] | None = None
        self.updates = 0  # online updates in this process

    @property
    def env_step(self) -> int:
        return max(self.step - self.config.offline_steps, 0)

    def evaluate(self) -> None:
        t0 = time.perf_counter()
        pre_trained = self.config.offline_steps or self.config.init_from
        phase = "offline" if self.step <= self.config.offline_steps and pre_trained else "online"
        self.last_eval = evaluate_and_log(self.policy, self.states, self.step, self.config, self.eval_envs, self.log,
                                          extra={"env_steps": self.env_step, "phase": phase})
        self.watch.add("evaluate", time.perf_counter() - t0)

    def save(self) -> None:
        t0 = time.perf_counter()
        _save(self.out, self.step, self.states, self.keys, self.buffer, self.config.capacity,
              self.config.keep_checkpoints, self.config.offline_steps)
        self.watch.add("io", time.perf_counter() - t0)

    def offline_phase(self) -> None:
        """Pre-training on the dataset alone, in compiled chunks as in the offline loop; evaluated at its end."""
        config, seeds = self.config, self.seeds
        ckpt_every = config.checkpoint_every or config.eval_every
        chunks: dict[int, Callable] = {}
        while self.step < config.offline_steps:
            n = min(_next_multiple(self.step, config.log_every), _next_multiple(self.step, config.eval_every),
                    _next_multiple(self.step, ckpt_every), config.offline_steps) - self.step
            if n not in chunks:
                t0 = time.perf_counter()
                chunks[n] = make_train_chunk(self.agent, self.samples, n, len(seeds)).lower(
                    self.states, self.keys, self.offline).compile()
                self.watch.add("compile", time.perf_counter() - t0)
            t0 = time.perf_counter()
            self.states, self.keys, metrics = chunks[n](self.states, self.keys, self.offline)
            metrics = jax.device_get(metrics)
            dt = time.perf_counter() - t0
            self.watch.add("train", dt)
            self.watch.add("offline_updates", n)
            self.step += n
            self.bar.update(self.task, completed=self.step, info=f"offline {n / dt:,.0f} upd/s")
            end = self.step == config.offline_steps
            if self.step % config.log_every == 0 or end:
                self.log.records(self.step, [
                    {"step": self.step, "seed": s, "phase": "offline", "env_steps": 0, "updates_per_s": n * len(seeds) / dt,
                     **{k: float(v[i]) for k, v in metrics.items()}} for i, s in enumerate(seeds)], "train")
            if self.step % config.eval_every == 0 or end:
                self.evaluate()
            if self.step % ckpt_every == 0 or end:
                self.save()

    def online_phase(self) -> None:
        """Collect, write, update: one environment step per seed per iteration."""
        config, agent, agent_config, prep = self.config, self.agent, self.agent_config, self.prep
        seeds, num_seeds, capacity = self.seeds, len(self.seeds), config.capacity
        ckpt_every = config.checkpoint_every or config.eval_every
        needs_mc = MC_FIELD in self.fields
        discount = getattr(agent_config, "discount", 0.99)
        # Host-side randomness (warm-up actions, env resets) comes from (seed, step), so a resumed run is seeded too.
        # Reset seeds stay below 2**32: the NeoRL-2 envs seed a numpy RandomState, which takes no larger one.
        rng = np.random.default_rng([config.seed, self.step])
        raw_obs, _ = self.envs.reset(seed=[(int(s) + 1_000_003 * self.step) % 2**32 for s in seeds])
        obs = prep.observations(raw_obs)
        step_fns: dict[bool, Callable] = {}  # compiled on first use: without and with the update
        write = make_buffer_write(self.fields)
        episode_return = np.zeros(num_seeds)
        finished_returns: list[list[float]] = [[] for _ in seeds]
        episode_rows: list[list[int]] = [[] for _ in seeds]  # with MC returns: rows and scaled rewards of running episodes
        episode_rewards: list[list[float]] = [[] for _ in seeds]
        pending_metrics: list[dict] = []
        share = 0.0
        actions = rng.uniform(-1.0, 1.0, (num_seeds, self.spec.act_dim)).astype(np.float32)
        if self.env_step >= config.start_steps:  # the first action comes from the pre-trained (or resumed) policy
            actions = self._policy_actions(obs)
        if self.step == 0 and config.init_from:  # the starting point of the curve: the offline run's policy
            self.evaluate()
        tick, tick_step, counted = time.perf_counter(), self.step, self.step
        t_loop = time.perf_counter()
        while self.env_step < config.online_steps:
            next_obs, rewards, terminated, truncated, infos = self.envs.step(unscale_actions(actions, self.low, self.high))
            done = terminated | truncated
            scaled = (rewards * prep.reward_scale).astype(np.float32)
            transition = {"observations": obs, "actions": np.clip(actions, -ACTION_CLIP, ACTION_CLIP),
                          "rewards": scaled, "next_observations": prep.observations(_final_obs(infos, next_obs, done)),
                          "masks": 1.0 - terminated.astype(np.float32),
                          "timeouts": (truncated & ~terminated).astype(np.float32)}
            if needs_mc:
                transition[MC_FIELD] = np.full(num_seeds, -np.inf, np.float32)  # until the episode ends
            ptr = self.env_step % capacity
            self.buffer = write(self.buffer, transition, np.int32(ptr))
            episode_return += rewards
            if needs_mc:
                for i in range(num_seeds):
                    episode_rows[i].append(ptr)
                    episode_rewards[i].append(float(scaled[i]))
            for i in np.flatnonzero(done):
                finished_returns[i].append(float(episode_return[i]))
                episode_return[i] = 0.0
                if needs_mc:
                    self.buffer[MC_FIELD] = _write_returns(self.buffer[MC_FIELD], i, episode_rows[i],
                                                           episode_rewards[i], discount, capacity)
                    episode_rows[i], episode_rewards[i] = [], []
            obs = prep.observations(next_obs)
            self.step += 1
            env_step, size = self.env_step, min(self.env_step, capacity)
            learn = env_step >= config.update_after
            if learn not in step_fns:
                t0 = time.perf_counter()
                step_fns[learn] = make_env_step(agent, self.samples, agent_config.batch_size, learn, batch_fields(agent),
                                                self.offline is not None).lower(
                    self.states, self.buffer, self.offline, self.keys, obs, np.int32(1), np.int32(0)).compile()
                self.watch.add("compile", time.perf_counter() - t0)
                t_loop += time.perf_counter() - t0
            if self.offline is not None:
                share = self.mix.share(env_step, config.online_steps, self.offline_size, size)
            self.states, self.keys, new_actions, metrics = step_fns[learn](
                self.states, self.buffer, self.offline, self.keys, obs, np.int32(size),
                np.int32(offline_rows(share, agent_config.batch_size)))
            if env_step >= config.start_steps:
                actions = np.asarray(new_actions)
            else:
                actions = rng.uniform(-1.0, 1.0, (num_seeds, self.spec.act_dim)).astype(np.float32)
            if learn:
                pending_metrics.append(metrics)
                self.updates += 1

            end = env_step == config.online_steps
            at_log, at_eval = env_step % config.log_every == 0 or end, env_step % config.eval_every == 0 or end
            at_ckpt = env_step % ckpt_every == 0 or end
            if not (at_log or at_eval or at_ckpt):
                continue
            now = time.perf_counter()
            self.watch.add("train", now - t_loop)
            self.watch.add("online_train", now - t_loop)
            self.watch.add("env_steps", self.step - counted)
            counted = self.step
            if at_log:
                rate = (self.step - tick_step) / max(now - tick, 1e-9)
                tick, tick_step = now, self.step
                means = _mean_metrics(pending_metrics)
                pending_metrics = []
                self.log.records(self.step, [
                    {"step": self.step, "seed": s, "phase": "online", "env_steps": env_step, "env_steps_per_s": rate,
                     "offline_share": share,
                     "train_return": float(np.mean(finished_returns[i])) if finished_returns[i] else None,
                     "train_episodes": len(finished_returns[i]), **{k: float(v[i]) for k, v in means.items()}}
                    for i, s in enumerate(seeds)], "train")
                finished_returns = [[] for _ in seeds]
                self.bar.update(self.task, completed=self.step, info=f"{rate:,.0f} env steps/s")
            if at_eval:
                self.evaluate()
                self.bar.update(self.task, info=f"eval return {np.mean(self.last_eval['returns']):.1f}")
            if at_ckpt:
                self.save()
            t_loop = time.perf_counter()

    def _policy_actions(self, obs: np.ndarray) -> np.ndarray:
        """Stochastic actions of the current states for ``obs`` (num_seeds, obs_dim), before the first step call."""
        keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(self.keys)
        act = jax.vmap(lambda s, o, k: self.agent.act(s, o[None], k, deterministic=False)[0])
        return np.asarray(act(self.states, jnp.asarray(obs), keys))

    def finish(self) -> RunResult:
        timings = dict(self.watch.totals)
        env_steps = timings.pop("env_steps", 0)
        offline_updates = timings.pop("offline_updates", 0)
        online_time = timings.pop("online_train", 0.0)
        num_seeds = len(self.seeds)
        timings["env_steps_per_s"] = env_steps * num_seeds / online_time if online_time else 0.0
        critic_updates = (self.updates + offline_updates) * num_seeds * getattr(self.agent_config, "utd", 1)
        timings["updates_per_s"] = critic_updates / timings["train"] if timings.get("train") else 0.0
        return finish_run(self.out, self.config, self.step, self.last_eval, timings)


def _preprocessing(config, agent_config, dataset, obs_space: gym.spaces.Box, low, high, out: Path,
                   resume: bool) -> Preprocessing:
    """The dataset's preprocessing (or the recorded one on resume). A new run on data prints
    :func:`raw_scale_note`'s note, if any. A run without data trains on raw observations, or, with
    ``normalize_observations``, on observations scaled by the observation space's bounds (:func:`bounds_scaling`)."""
    if resume:
        return Preprocessing.from_dict(read_json(out / "preprocessing.json"))
    if dataset is None:
        mean, std = bounds_scaling(obs_space, config.env) if agent_config.normalize_observations else \
            (np.zeros(obs_space.shape[0], np.float32), np.ones(obs_space.shape[0], np.float32))
        return Preprocessing(mean, std, low, high, 1.0)
    note = raw_scale_note(dataset, config.algo, agent_config.normalize_observations)
    if note:
        print(note, file=sys.stderr)
    return make_preprocessing(dataset, agent_config.normalize_observations, agent_config.reward_scaling, low, high)


def bounds_scaling(space: gym.spaces.Box, env_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) that map the observation space's box onto [-1, 1]: the centre and half-width of each dimension;
    a dimension whose bounds are equal is only centred. With no data there are no statistics to normalize with,
    so an online run that asks for normalization gets this; unbounded dimensions cannot be scaled and are refused."""
    lo, hi = space.low.astype(np.float64), space.high.astype(np.float64)
    unbounded = np.flatnonzero(~(np.isfinite(lo) & np.isfinite(hi)))
    if unbounded.size:
        raise RunError(f"normalize_observations=true without --dataset scales observations by {env_id}'s observation "
                       f"bounds, but {unbounded.size} of its {lo.size} dimensions are unbounded (the first: "
                       f"{unbounded[0]}); drop --set normalize_observations=true, or pass a --dataset to normalize "
                       f"with its statistics")
    half = (hi - lo) / 2
    return ((lo + hi) / 2).astype(np.float32), np.where(half > 0, half, 1.0).astype(np.float32)


def _check_dataset(dataset: Dataset, config: OnlineConfig, spec: Spec, low, high) -> None:
    if (dataset.obs_dim, dataset.act_dim) != (spec.obs_dim, spec.act_dim):
        raise RunError(f"{config.dataset} has observations of dimension {dataset.obs_dim} and actions of dimension "
                       f"{dataset.act_dim}, but {config.env} has {spec.obs_dim} and {spec.act_dim}; pass the matching --env")
    from hybridrl.data.validate import validate

    validate(dataset, config.dataset, action_low=low, action_high=high)


def _write_returns(mc: jax.Array, seed_index: int, rows: list[int], rewards: list[float], discount: float,
                   capacity: int) -> jax.Array:
    """Write a finished episode's discounted returns-to-go into ``mc[seed_index, rows]``, MC_CHUNK rows per call."""
    values = discounted_returns(np.asarray(rewards), np.array([len(rewards) - 1]), discount)
    rows = np.asarray(rows, np.int32)
    for start in range(0, len(rows), MC_CHUNK):
        r = np.full(MC_CHUNK, capacity, np.int32)  # padding past the end is dropped
        v = np.zeros(MC_CHUNK, np.float32)
        part = slice(start, start + MC_CHUNK)
        r[: len(rows[part])], v[: len(rows[part])] = rows[part], values[part]
        mc = _write_mc_rows(mc, np.int32(seed_index), r, v)
    return mc


def _next_multiple(step: int, every: int) -> int:
    return (step // every + 1) * every


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


def _save(out: Path, step: int, states, keys, buffer, capacity: int, keep: int, offline_steps: int) -> None:
    """A checkpoint with the agent states, keys and the filled part of the replay buffer."""
    filled = min(max(step - offline_steps, 0), capacity)
    host_buffer = {k: np.asarray(v[:, :filled]) for k, v in buffer.items()}
    checkpoint.save(out / "checkpoints", step, {"states": states, "keys": keys, "step": step, "buffer": host_buffer},
                    keep=keep)


def _restore(out: Path, states, keys, buffer, capacity: int, offline_steps: int = 0):
    found = checkpoint.latest(out / "checkpoints")
    if found is None:
        raise RunError(f"{out}: no checkpoint to resume from; start a new run without --resume")
    step = found[0]
    filled = min(max(step - offline_steps, 0), capacity)
    raw = checkpoint.restore(found[1], None)
    restored = flax.serialization.from_state_dict({"states": states, "keys": keys, "step": 0},
                                                  {k: raw[k] for k in ("states", "keys", "step")})
    # Checkpoints written before the buffer kept timeouts have none: their episode ends are unknown (zeros).
    buffer = {k: buffer[k].at[:, :filled].set(raw["buffer"][k]) if k in raw["buffer"] else buffer[k]
              for k in buffer}
    return restored["states"], restored["keys"], buffer, int(restored["step"])


def offline_run_config(run: Path) -> dict[str, Any]:
    """The config.json of the offline run folder that ``--init-from`` names; a RunError if there is none."""
    if not (run / "config.json").exists():
        raise RunError(f"--init-from {run}: no config.json there; pass the folder of a finished `hybridrl train` run")
    recorded = read_json(run / "config.json")
    if "mode" in recorded or "steps" not in recorded.get("run", {}):
        raise RunError(f"--init-from {run}: not an offline run folder (its config.json is not that of `hybridrl train "
                       "ALGO --dataset ...`); pass the folder of an offline run")
    return recorded


def _check_init_from(run: Path, config: OnlineConfig, prep: Preprocessing, dataset: Dataset) -> None:
    """Refuse an offline run folder ``run`` that differs from this run in algorithm, seeds, data or
    preprocessing (the network shapes are checked by ``_init_from``, once this run's networks exist)."""
    where = f"--init-from {run}"
    recorded = offline_run_config(run)
    other = recorded["run"]
    if other["algo"] != config.algo:
        raise RunError(f"{where}: it trained {other['algo']}, not {config.algo}; fine-tune it with "
                       f"hybridrl finetune {other['algo']}")
    seeds = [other["seed"] + i for i in range(other["seeds"])]
    if seeds != config.seed_list():
        raise RunError(f"{where}: it trained seeds {seeds}, this run has {config.seed_list()}; pass --seed "
                       f"{other['seed']} --seeds {other['seeds']}")
    name = (recorded.get("dataset") or {}).get("name")
    if name != dataset.name:
        raise RunError(f"{where}: it trained on {name}, this run's data are {dataset.name}; pass --dataset "
                       f"{other['dataset']}")
    theirs = Preprocessing.from_dict(read_json(run / "preprocessing.json")).to_dict()
    if theirs != prep.to_dict():
        raise RunError(f"{where}: its observation normalization or reward scaling differs from this run's; pass "
                       "the same --set normalize_observations=... reward_scaling=... it was trained with")


def _init_from(run: Path, states):
    """(``states`` with every field but the optimizer states (``*_opt``) taken from the newest checkpoint of the
    offline run folder ``run``, a record of where they came from). Networks, targets and temperatures carry over;
    the optimizers start fresh, as the new run may use other learning rates or schedules. ``_check_init_from``
    has checked the run's algorithm, data, seeds and preprocessing; here the networks' shapes must match."""
    where = f"--init-from {run}"
    found = checkpoint.latest(run / "checkpoints")
    if found is None:
        raise RunError(f"{where}: no checkpoint in {run / 'checkpoints'}")
    saved = checkpoint.restore(found[1], None)["states"]
    fields = {}
    for field in dataclasses.fields(states):
        if not field.metadata.get("pytree_node", True) or field.name.endswith("_opt"):
            continue
        mine = getattr(states, field.name)
        try:
            value = flax.serialization.from_state_dict(mine, saved[field.name])
            same = jax.tree.map(lambda a, b: np.shape(a) == np.shape(b), mine, value)
        except (KeyError, ValueError, TypeError):
            same = False
        if not same or not all(jax.tree.leaves(same)):
            raise RunError(f"{where}: its {field.name} have other shapes than this run's; pass the same --set "
                           "network settings (hidden_dims, ...) it was trained with")
        fields[field.name] = jax.tree.map(jnp.asarray, value)
    return states.replace(**fields), {"run": str(run), "step": found[0], "checkpoint": found[1].name}


def _start_run_dir(out: Path, config: OnlineConfig, agent_config: Any, prep: Preprocessing,
                   ref: tuple[float, float] | None, dataset: Dataset | None, init: dict | None = None) -> None:
    start_run_dir(out, {
        "mode": "online",
        "run": dataclasses.asdict(config),
        "agent": {"name": config.algo, **dataclasses.asdict(agent_config)},
        "dataset": None if dataset is None else {"source": config.dataset, "name": dataset.name,
                                                 "transitions": len(dataset), "episodes": dataset.num_episodes,
                                                 "env_id": dataset.env_id},
        "reference_scores": None if ref is None else {"random": ref[0], "expert": ref[1]},
        **({} if init is None else {"init_from": init}),
    }, prep.to_dict())


def _record_budget(out: Path, config: OnlineConfig, step: int) -> None:
    """A resumed run given a longer budget (``extend``) records it in config.json, with the budget it had before and
    the step it was extended at, and is no longer finished: its old summary.json goes."""
    recorded = read_json(out / "config.json")
    before = recorded["run"]["online_steps"]
    if before == config.online_steps:
        return
    recorded["run"]["online_steps"] = config.online_steps
    recorded.setdefault("extended", []).append({"step": step, "online_steps_before": before})
    write_json(out / "config.json", recorded)
    (out / "summary.json").unlink(missing_ok=True)


def load_online_config(run_dir: Path) -> OnlineConfig:
    return OnlineConfig(**read_json(Path(run_dir) / "config.json")["run"])
