"""Soft Actor-Critic (Haarnoja et al., "Soft Actor-Critic Algorithms and Applications", 2018).

A tanh-squashed Gaussian actor, a critic ensemble with a min over a random
subset for the target (REDQ, Chen et al. 2021; RLPD, Ball et al. 2023), optional
LayerNorm in the critics (RLPD), and automatic temperature tuning. One call of
``update`` takes ``utd * batch_size`` transitions: ``utd`` critic steps on
consecutive minibatches (with a target update after each), then one actor and
one temperature step on the last minibatch, as RLPD's learner does
(shared/reference/finetune.md section 6).

Defaults are SAC's (Haarnoja et al. 2018, table of hyperparameters): 256-256
networks, Adam 3e-4 everywhere, batch 256, gamma 0.99, tau 0.005, twin critics,
target entropy -|A|, one update per environment step. ``Config.rlpd()`` returns
RLPD's locomotion settings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from hybridrl.agents.base import Batch, Spec, apply_grads, soft_update
from hybridrl.nets import Critic, Ensemble, TanhGaussianActor, tanh_gaussian_sample

NAME = "sac"
ONLINE_FROM_SCRATCH = True  # `hybridrl train sac --online-steps N` needs no dataset
# `hybridrl finetune sac` defaults: keep the data at half of every batch, act with the pre-trained policy at once.
FINETUNE = {"offline_steps": 0, "mix": "0.5", "start_steps": 0, "warmup_steps": 0}


@dataclasses.dataclass(frozen=True)
class Config:
    hidden_dims: tuple[int, ...] = (256, 256)  # SAC paper
    actor_lr: float = 3e-4  # SAC paper (RLPD too)
    critic_lr: float = 3e-4
    temperature_lr: float = 3e-4
    batch_size: int = 256  # per minibatch
    discount: float = 0.99
    tau: float = 0.005
    num_critics: int = 2  # ensemble size (RLPD: 10)
    num_min: int = 2  # target = min over a random subset of this size, without replacement (RLPD: 2)
    critic_layer_norm: bool = False  # RLPD: True
    utd: int = 1  # critic updates per environment step (RLPD: 20)
    actor_q: str = "min"  # "min" over the ensemble (SAC) or "mean" (RLPD) in the actor loss
    init_temperature: float = 1.0  # SAC and RLPD: log alpha starts at 0
    target_entropy: float | None = None  # None: -|A| (SAC); RLPD uses -|A|/2
    backup_entropy: bool = True  # subtract gamma * alpha * log pi(a'|s') in the target
    normalize_observations: bool = False  # online SAC: raw observations
    reward_scaling: str = "none"

    @staticmethod
    def rlpd(**changes: Any) -> "Config":
        """RLPD's locomotion settings (Ball et al. 2023; official rlpd_config)."""
        values = dict(num_critics=10, num_min=2, critic_layer_norm=True, utd=20, actor_q="mean")
        values.update(changes)
        return Config(**values)


class State(flax.struct.PyTreeNode):
    actor_params: Any
    critic_params: Any
    critic_target: Any
    log_temperature: jnp.ndarray
    actor_opt: Any
    critic_opt: Any
    temperature_opt: Any
    step: jnp.ndarray
    config: Config = flax.struct.field(pytree_node=False)
    spec: Spec = flax.struct.field(pytree_node=False)


def _actor(config: Config, spec: Spec) -> TanhGaussianActor:
    return TanhGaussianActor(config.hidden_dims, spec.act_dim)


def _critics(config: Config, num: int | None = None) -> nn.Module:
    """The critic ensemble; ``num`` members (default ``config.num_critics``) for a subset of its parameters."""
    return Ensemble(Critic, num or config.num_critics)(
        config.hidden_dims, layer_norm=config.critic_layer_norm, kernel_init=nn.initializers.xavier_uniform()
    )


def target_entropy(config: Config, spec: Spec) -> float:
    return -float(spec.act_dim) if config.target_entropy is None else config.target_entropy


def validate(config: Config) -> None:
    if not 1 <= config.num_min <= config.num_critics:
        raise ValueError(f"num_min={config.num_min} must be between 1 and num_critics={config.num_critics}")
    if config.actor_q not in ("min", "mean"):
        raise ValueError(f"actor_q must be 'min' or 'mean', got '{config.actor_q}'")
    if config.utd < 1:
        raise ValueError(f"utd must be at least 1, got {config.utd}")


def init(key: jax.Array, spec: Spec, config: Config) -> State:
    validate(config)
    k_actor, k_critic = jax.random.split(key)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.act_dim))
    actor_params = _actor(config, spec).init(k_actor, obs)
    critic_params = _critics(config).init(k_critic, obs, act)
    log_temperature = jnp.log(jnp.asarray(config.init_temperature, jnp.float32))
    return State(
        actor_params=actor_params,
        critic_params=critic_params,
        critic_target=jax.tree.map(jnp.copy, critic_params),
        log_temperature=log_temperature,
        actor_opt=optax.adam(config.actor_lr).init(actor_params),
        critic_opt=optax.adam(config.critic_lr).init(critic_params),
        temperature_opt=optax.adam(config.temperature_lr).init(log_temperature),
        step=jnp.zeros((), jnp.int32),
        config=config,
        spec=spec,
    )


def soft_td_target(rewards, masks, discount, next_q_subset, next_log_prob, temperature, backup_entropy: bool):
    """y = r + gamma * mask * (min_{i in subset} Q_i_targ(s', a') - [alpha * log pi(a'|s')]), next_q_subset (n, B)."""
    next_v = jnp.min(next_q_subset, axis=0)
    if backup_entropy:
        next_v = next_v - temperature * next_log_prob
    return rewards + discount * masks * next_v


def critic_loss(q: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
    """Mean over ensemble members and batch of (Q_i(s, a) - y)^2; q has shape (num_critics, B)."""
    return jnp.mean((q - target[None]) ** 2)


def actor_loss(q: jnp.ndarray, log_prob: jnp.ndarray, temperature, reduce: str) -> jnp.ndarray:
    """mean(alpha * log pi(a|s) - Q(s, a)), Q reduced over the ensemble (axis 0) by min or mean; a ~ pi(s)."""
    q = jnp.min(q, axis=0) if reduce == "min" else jnp.mean(q, axis=0)
    return jnp.mean(temperature * log_prob - q)


def temperature_loss(log_temperature: jnp.ndarray, log_prob: jnp.ndarray, target: float) -> jnp.ndarray:
    """alpha * (H - target) with H = -mean log pi(a|s): alpha falls while the entropy is above its target."""
    return jnp.exp(log_temperature) * (-jnp.mean(jax.lax.stop_gradient(log_prob)) - target)


def _critic_step(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict]:
    cfg = state.config
    actor, critics = _actor(cfg, state.spec), _critics(cfg)
    k_pi, k_subset = jax.random.split(key)
    next_action, next_log_prob = tanh_gaussian_sample(*actor.apply(state.actor_params, batch["next_observations"]), k_pi)
    target_params, target_critics = state.critic_target, critics
    if cfg.num_min < cfg.num_critics:  # only the subset is evaluated (RLPD: 2 of the 10 target critics)
        subset = jax.random.choice(k_subset, cfg.num_critics, (cfg.num_min,), replace=False)
        target_params = jax.tree.map(lambda p: p[subset], target_params)
        target_critics = _critics(cfg, cfg.num_min)
    next_q = target_critics.apply(target_params, batch["next_observations"], next_action)
    y = soft_td_target(batch["rewards"], batch["masks"], cfg.discount, next_q, next_log_prob,
                       jnp.exp(state.log_temperature), cfg.backup_entropy)

    def loss_fn(params):
        q = critics.apply(params, batch["observations"], batch["actions"])
        return critic_loss(q, y), q

    (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic_params)
    params, opt = apply_grads(state.critic_params, state.critic_opt, grads, optax.adam(cfg.critic_lr))
    state = state.replace(critic_params=params, critic_opt=opt,
                          critic_target=soft_update(state.critic_target, params, cfg.tau))
    return state, {"critic_loss": loss, "q_mean": jnp.mean(q)}


def _actor_step(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict]:
    cfg = state.config
    actor, critics = _actor(cfg, state.spec), _critics(cfg)
    temperature = jnp.exp(state.log_temperature)

    def loss_fn(params):
        action, log_prob = tanh_gaussian_sample(*actor.apply(params, batch["observations"]), key)
        q = critics.apply(state.critic_params, batch["observations"], action)
        return actor_loss(q, log_prob, temperature, cfg.actor_q), log_prob

    (a_loss, log_prob), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.actor_params)
    actor_params, actor_opt = apply_grads(state.actor_params, state.actor_opt, grads, optax.adam(cfg.actor_lr))

    t_loss, t_grad = jax.value_and_grad(temperature_loss)(state.log_temperature, log_prob,
                                                          target_entropy(cfg, state.spec))
    log_temperature, temperature_opt = apply_grads(state.log_temperature, state.temperature_opt, t_grad,
                                                   optax.adam(cfg.temperature_lr))
    state = state.replace(actor_params=actor_params, actor_opt=actor_opt,
                          log_temperature=log_temperature, temperature_opt=temperature_opt)
    return state, {"actor_loss": a_loss, "temperature_loss": t_loss, "temperature": temperature,
                   "entropy": -jnp.mean(log_prob)}


def update(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict[str, jnp.ndarray]]:
    """``utd`` critic steps on consecutive minibatches of ``batch`` (leading size utd * batch_size), then one actor
    and temperature step on the last minibatch."""
    utd = state.config.utd
    minibatches = jax.tree.map(lambda x: x.reshape((utd, x.shape[0] // utd) + x.shape[1:]), batch)
    k_critic, k_actor = jax.random.split(key)

    def critic_body(state, inputs):
        minibatch, k = inputs
        return _critic_step(state, minibatch, k)

    state, critic_metrics = jax.lax.scan(critic_body, state, (minibatches, jax.random.split(k_critic, utd)))
    last = jax.tree.map(lambda x: x[-1], minibatches)
    state, actor_metrics = _actor_step(state, last, k_actor)
    metrics = {k: jnp.mean(v) for k, v in critic_metrics.items()} | actor_metrics
    return state.replace(step=state.step + 1), metrics


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool = True) -> jnp.ndarray:
    mean, log_std = _actor(state.config, state.spec).apply(state.actor_params, obs)
    if deterministic:
        return jnp.tanh(mean)
    return tanh_gaussian_sample(mean, log_std, key)[0]


def samples_per_update(config: Config) -> int:
    return config.batch_size * config.utd
