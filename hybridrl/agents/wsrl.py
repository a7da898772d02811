"""WSRL (Zhou et al., "Efficient Online Reinforcement Learning Fine-Tuning Need Not Retain Offline Data", 2024).

Offline, ``update`` pre-trains with CQL (or Cal-QL, ``use_calql=True``) on a REDQ-style ensemble: 10 critics,
the target a min over 2 members drawn with replacement, the CQL penalty on another 2 such members, LayerNorm
in actor and critics. Online, ``update_online`` is WSRL's SAC on the same parameters and optimizer states,
nothing re-initialised and the CQL term dropped: ``utd`` = 4 critic steps on consecutive 256-row minibatches
of a 1024-row batch (a target update after each), then one actor and one temperature step on all 1024 rows.
The fine-tuning loop adds the warm-up (5,000 steps collected with the frozen pre-trained policy, no updates)
and keeps no offline data. Sources: zhouzypaul/wsrl @ 891ee35 (``wsrl/agents/cql.py``, ``sac.py``,
``experiments/configs``), shared/reference/finetune.md sections 4d, 5b, 6 and 8.

The CQL pieces (sampled action sets, importance-weighted logsumexp, Cal-QL bound, TD target) are calql.py's.
Defaults are WSRL's locomotion settings: CQL pre-training (WSRL's README: Monte-Carlo returns are hard to
estimate on locomotion), weight 5, 256-256 networks, state-dependent "exp" std, no max-target backup, raw
rewards; 250k offline steps in WSRL's scripts.

Rows per call: ``samples_per_update`` = utd * batch_size = 1024, for both phases. The offline update uses
the first ``batch_size`` (256) of whatever it is given (a uniform sample's first 256 rows are a uniform
sample), so the offline loop's ``batch_size`` rows and the fine-tuning loop's 1024 both work.

Not done: WSRL's softplus Lagrange multiplier for the CQL weight (antmaze only; locomotion has none), and
``kernel_scale_final`` (orthogonal(1e-2) on the last hidden layer, which the LayerNorm right after it
normalises away).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from hybridrl.agents import calql, sac
from hybridrl.agents.base import Batch, Spec, apply_grads, soft_update
from hybridrl.nets import Critic, Ensemble, TanhGaussianActor, tanh_gaussian_sample
from hybridrl.nets.mlp import orthogonal_init

NAME = "wsrl"
NEEDS_MC_RETURNS = True  # batches carry "mc_returns"; read only offline and only when use_calql
# `hybridrl finetune wsrl` defaults (section 8): 250k offline updates (locomotion), no offline data kept online, and
# 5,000 warm-up steps acting with the frozen pre-trained policy before the first online update.
FINETUNE = {"offline_steps": 250_000, "mix": "0", "start_steps": 0, "warmup_steps": 5_000}


@dataclasses.dataclass(frozen=True)
class Config:
    hidden_dims: tuple[int, ...] = (256, 256)  # WSRL locomotion: critic 256-256, actor 256-256
    actor_lr: float = 1e-4  # WSRL (pre-training and online)
    critic_lr: float = 3e-4  # WSRL
    temperature_lr: float = 1e-4  # WSRL
    batch_size: int = 256  # per minibatch: offline batch (WSRL's CQL/Cal-QL scripts), online critic minibatch
    utd: int = 4  # WSRL online: batch 1024 = 4 critic minibatches of 256
    discount: float = 0.99  # WSRL
    tau: float = 0.005  # WSRL
    num_critics: int = 10  # WSRL --use_redq
    num_min: int = 2  # WSRL: subsample of 2, drawn with replacement
    layer_norm: bool = True  # WSRL: LayerNorm after each hidden Dense, actor and critics
    init_temperature: float = 1.0  # WSRL: softplus-parameterised alpha starts at 1
    target_entropy: float | None = None  # None: -|A| (WSRL)
    max_target_backup: bool = False  # WSRL locomotion: off (antmaze: on, 10 samples)
    cql_weight: float = 5.0  # WSRL locomotion CQL alpha
    cql_n_actions: int = 10  # WSRL
    cql_importance_sample: bool = True  # WSRL locomotion (kitchen: off)
    cql_temperature: float = 1.0  # WSRL cql_temp
    cql_clip_diff_min: float | None = None  # WSRL: -inf
    cql_clip_diff_max: float | None = None  # WSRL: +inf
    use_calql: bool = False  # WSRL locomotion pre-trains with CQL; antmaze, adroit, kitchen with Cal-QL
    normalize_observations: bool = False  # WSRL: raw observations
    reward_scaling: str = "none"  # WSRL locomotion: no reward transform


class State(flax.struct.PyTreeNode):
    actor_params: Any
    critic_params: Any
    critic_target: Any
    temperature_param: jnp.ndarray  # alpha = softplus(temperature_param)
    actor_opt: Any
    critic_opt: Any
    temperature_opt: Any
    step: jnp.ndarray
    config: Config = flax.struct.field(pytree_node=False)
    spec: Spec = flax.struct.field(pytree_node=False)


def _actor(config: Config, spec: Spec) -> TanhGaussianActor:
    # WSRL "exp" std: a state-dependent log-std head, std clipped to [1e-5, 10]; orthogonal(sqrt 2) everywhere.
    return TanhGaussianActor(config.hidden_dims, spec.act_dim, log_std_min=math.log(1e-5), log_std_max=math.log(10.0),
                             layer_norm=config.layer_norm, kernel_init=orthogonal_init())


def _critics(config: Config, num: int) -> nn.Module:
    return Ensemble(Critic, num)(config.hidden_dims, layer_norm=config.layer_norm, kernel_init=orthogonal_init())


def validate(config: Config) -> None:
    if config.num_min < 1 or config.num_critics < 1:
        raise ValueError(f"num_critics={config.num_critics} and num_min={config.num_min} must be at least 1")
    if config.utd < 1:
        raise ValueError(f"utd must be at least 1, got {config.utd}")
    calql.validate(config)


def init(key: jax.Array, spec: Spec, config: Config) -> State:
    validate(config)
    k_actor, k_critic = jax.random.split(key)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.act_dim))
    actor_params = _actor(config, spec).init(k_actor, obs)
    critic_params = _critics(config, config.num_critics).init(k_critic, obs, act)
    temperature_param = jnp.log(jnp.expm1(jnp.asarray(config.init_temperature, jnp.float32)))  # softplus^-1
    return State(
        actor_params=actor_params,
        critic_params=critic_params,
        critic_target=jax.tree.map(jnp.copy, critic_params),
        temperature_param=temperature_param,
        actor_opt=optax.adam(config.actor_lr).init(actor_params),
        critic_opt=optax.adam(config.critic_lr).init(critic_params),
        temperature_opt=optax.adam(config.temperature_lr).init(temperature_param),
        step=jnp.zeros((), jnp.int32),
        config=config,
        spec=spec,
    )


# ----------------------------------------------------------------------------------------------------- losses
# TD target, CQL gap and Cal-QL bound: calql.td_target, calql.conservative_gap; SAC losses: sac.critic_loss
# (mean over members and batch, WSRL's form) and sac.actor_loss with "min" over all members (WSRL).


def temperature(temperature_param: jnp.ndarray) -> jnp.ndarray:
    return jax.nn.softplus(temperature_param)


def temperature_loss(temperature_param: jnp.ndarray, next_log_prob: jnp.ndarray, target: float) -> jnp.ndarray:
    """alpha * (H - target), alpha = softplus(p), H = -mean log pi(a'|s') at the batch's *next* observations
    (WSRL's ``temperature_loss_fn``)."""
    return temperature(temperature_param) * (-jnp.mean(jax.lax.stop_gradient(next_log_prob)) - target)


def subsample(params: Any, idx: jnp.ndarray) -> Any:
    """The ensemble members ``idx`` (repeats allowed) as the parameters of a smaller ensemble."""
    return jax.tree.map(lambda p: p[idx], params)


# ----------------------------------------------------------------------------------------------------- update


def _target(state: State, batch: Batch, key: jax.Array) -> jnp.ndarray:
    """y = r + gamma * mask * min over num_min target members drawn with replacement, at a' ~ pi(s') (or the max
    over cql_n_actions such a' with ``max_target_backup``); no entropy term (WSRL asserts backup_entropy off)."""
    cfg = state.config
    actor, members = _actor(cfg, state.spec), _critics(cfg, cfg.num_min)
    k_idx, k_pi = jax.random.split(key)
    target = subsample(state.critic_target, jax.random.randint(k_idx, (cfg.num_min,), 0, cfg.num_critics))
    next_obs = batch["next_observations"]
    if cfg.max_target_backup:
        next_actions, _ = calql.sample_actions(actor, state.actor_params, next_obs, k_pi, cfg.cql_n_actions)
        next_q = calql.q_at(members, target, next_obs, next_actions)
    else:
        next_actions, _ = tanh_gaussian_sample(*actor.apply(state.actor_params, next_obs), k_pi)
        next_q = members.apply(target, next_obs, next_actions)
    return jax.lax.stop_gradient(calql.td_target(batch["rewards"], batch["masks"], cfg.discount, next_q))


def _critic_step(state: State, batch: Batch, key: jax.Array, conservative: bool) -> tuple[State, dict]:
    """One critic step: TD loss on all members, plus (offline) the CQL / Cal-QL penalty on num_min members
    drawn with replacement, weight * mean over members and batch; then a Polyak step of the targets."""
    cfg = state.config
    actor, critics, members = _actor(cfg, state.spec), _critics(cfg, cfg.num_critics), _critics(cfg, cfg.num_min)
    k_target, k_idx, k_cql = jax.random.split(key, 3)
    obs = batch["observations"]
    y = _target(state, batch, k_target)
    if conservative:
        idx = jax.random.randint(k_idx, (cfg.num_min,), 0, cfg.num_critics)
        samples = calql.cql_samples(actor, state.actor_params, batch, k_cql, cfg.cql_n_actions)
        mc_returns = batch["mc_returns"] if cfg.use_calql else None

    def loss_fn(params):
        q = critics.apply(params, obs, batch["actions"])
        loss, metrics = sac.critic_loss(q, y), {"q_data": jnp.mean(q)}
        if conservative:
            picked = subsample(params, idx)
            q_fn = lambda a: calql.q_at(members, picked, obs, a)  # noqa: E731
            gap = calql.conservative_gap(q_fn, q[idx], samples, mc_returns, cfg)
            metrics |= {"td_loss": loss, "cql_gap": jnp.mean(gap)}
            loss = loss + cfg.cql_weight * jnp.mean(gap)
        return loss, metrics

    (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic_params)
    params, opt = apply_grads(state.critic_params, state.critic_opt, grads, optax.adam(cfg.critic_lr))
    state = state.replace(critic_params=params, critic_opt=opt,
                          critic_target=soft_update(state.critic_target, params, cfg.tau))
    return state, {"critic_loss": loss, **metrics}


def _actor_step(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict]:
    """One actor step, mean(alpha * log pi(a|s) - min over all members Q_i(s, a)), and one temperature step."""
    cfg = state.config
    actor, critics = _actor(cfg, state.spec), _critics(cfg, cfg.num_critics)
    k_pi, k_next = jax.random.split(key)
    alpha = temperature(state.temperature_param)

    def loss_fn(params):
        action, log_prob = tanh_gaussian_sample(*actor.apply(params, batch["observations"]), k_pi)
        q = critics.apply(state.critic_params, batch["observations"], action)
        return sac.actor_loss(q, log_prob, alpha, "min"), log_prob

    (a_loss, log_prob), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.actor_params)
    actor_params, actor_opt = apply_grads(state.actor_params, state.actor_opt, grads, optax.adam(cfg.actor_lr))
    _, next_log_prob = tanh_gaussian_sample(*actor.apply(state.actor_params, batch["next_observations"]), k_next)
    t_loss, t_grad = jax.value_and_grad(temperature_loss)(state.temperature_param, next_log_prob,
                                                          sac.target_entropy(cfg, state.spec))
    temperature_param, temperature_opt = apply_grads(state.temperature_param, state.temperature_opt, t_grad,
                                                     optax.adam(cfg.temperature_lr))
    state = state.replace(actor_params=actor_params, actor_opt=actor_opt,
                          temperature_param=temperature_param, temperature_opt=temperature_opt)
    return state, {"actor_loss": a_loss, "temperature": alpha, "temperature_loss": t_loss,
                   "entropy": -jnp.mean(log_prob)}


def update(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict[str, jnp.ndarray]]:
    """Offline pre-training step (CQL or Cal-QL) on the first ``batch_size`` rows: critics, actor and temperature
    from the same pre-update parameters, as WSRL's agent steps all its modules together."""
    cfg = state.config
    batch = jax.tree.map(lambda x: x[: cfg.batch_size], batch)
    k_critic, k_actor = jax.random.split(key)
    critic_state, critic_metrics = _critic_step(state, batch, k_critic, conservative=True)
    actor_state, actor_metrics = _actor_step(state, batch, k_actor)
    state = critic_state.replace(actor_params=actor_state.actor_params, actor_opt=actor_state.actor_opt,
                                 temperature_param=actor_state.temperature_param,
                                 temperature_opt=actor_state.temperature_opt, step=state.step + 1)
    return state, critic_metrics | actor_metrics


def update_online(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict[str, jnp.ndarray]]:
    """WSRL's online SAC step on ``utd * batch_size`` rows: ``utd`` critic steps on consecutive minibatches (no
    CQL term), then one actor and one temperature step on the whole batch with the updated critics."""
    cfg = state.config
    rows = next(iter(batch.values())).shape[0]
    if rows != cfg.utd * cfg.batch_size:
        raise ValueError(f"wsrl.update_online needs samples_per_update = utd * batch_size = "
                         f"{cfg.utd * cfg.batch_size} rows, got {rows}")
    minibatches = jax.tree.map(lambda x: x.reshape((cfg.utd, cfg.batch_size) + x.shape[1:]), batch)
    k_critic, k_actor = jax.random.split(key)

    def critic_body(state, inputs):
        minibatch, k = inputs
        return _critic_step(state, minibatch, k, conservative=False)

    state, critic_metrics = jax.lax.scan(critic_body, state, (minibatches, jax.random.split(k_critic, cfg.utd)))
    state, actor_metrics = _actor_step(state, batch, k_actor)
    metrics = {k: jnp.mean(v) for k, v in critic_metrics.items()} | actor_metrics
    return state.replace(step=state.step + 1), metrics


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool = True) -> jnp.ndarray:
    mean, log_std = _actor(state.config, state.spec).apply(state.actor_params, obs)
    if deterministic:
        return jnp.tanh(mean)
    return tanh_gaussian_sample(mean, log_std, key)[0]


def samples_per_update(config: Config) -> int:
    """Rows per call in both phases: update_online uses all utd * batch_size, update the first batch_size."""
    return config.batch_size * config.utd
