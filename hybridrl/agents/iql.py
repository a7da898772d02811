"""Implicit Q-Learning (Kostrikov, Nair & Levine, "Offline Reinforcement Learning with Implicit Q-Learning", 2022).

Expectile regression of V onto Q, a SARSA-style critic backed up through V, and
advantage-weighted regression for the policy. Defaults are the official code's
D4RL locomotion settings (ikostrikov/implicit_q_learning @ 09d7002; see
shared/reference/finetune.md section 3a). The update is the official sequential
chain: V, then the actor with the new V, then Q, then the target critic.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from hybridrl.agents.base import Batch, Spec, apply_grads, soft_update
from hybridrl.nets import Critic, Ensemble, GaussianActor, ValueNet
from hybridrl.nets.mlp import orthogonal_init

NAME = "iql"
# `hybridrl finetune iql` defaults, as in the official fine-tuning (shared/reference/finetune.md section 3b):
# 1M offline updates, then offline and online transitions pooled in one buffer and sampled uniformly.
FINETUNE = {"offline_steps": 1_000_000, "mix": "union", "start_steps": 0, "warmup_steps": 0}


@dataclasses.dataclass(frozen=True)
class Config:
    hidden_dims: tuple[int, ...] = (256, 256)  # official: every MLP 256-256
    actor_lr: float = 3e-4  # official, with cosine decay to 0
    value_lr: float = 3e-4  # official
    critic_lr: float = 3e-4  # official
    batch_size: int = 256  # official
    discount: float = 0.99  # official
    tau: float = 0.005  # official; target critic only
    expectile: float = 0.7  # official locomotion (antmaze: 0.9)
    temperature: float = 3.0  # official locomotion beta (antmaze: 10.0)
    max_weight: float = 100.0  # official cap on exp(beta * A)
    actor_decay_steps: int | None = None  # official: cosine decay over max_steps (1M); None = the run's steps
    normalize_observations: bool = False  # official: no observation normalization
    reward_scaling: str = "locomotion"  # official: r * 1000 / (max_return - min_return) on locomotion


class State(flax.struct.PyTreeNode):
    actor_params: Any
    value_params: Any
    critic_params: Any
    critic_target: Any
    actor_opt: Any
    value_opt: Any
    critic_opt: Any
    step: jnp.ndarray
    config: Config = flax.struct.field(pytree_node=False)
    spec: Spec = flax.struct.field(pytree_node=False)


def _actor(config: Config, spec: Spec) -> GaussianActor:
    return GaussianActor(config.hidden_dims, spec.act_dim, kernel_init=orthogonal_init())


def _value(config: Config) -> ValueNet:
    return ValueNet(config.hidden_dims, kernel_init=orthogonal_init())


def _critics(config: Config) -> Critic:
    return Ensemble(Critic, 2)(config.hidden_dims, kernel_init=orthogonal_init())


def _actor_tx(config: Config) -> optax.GradientTransformation:
    if config.actor_decay_steps is None:
        return optax.adam(config.actor_lr)
    return optax.adam(optax.cosine_decay_schedule(config.actor_lr, config.actor_decay_steps))


def init(key: jax.Array, spec: Spec, config: Config) -> State:
    k_actor, k_value, k_critic = jax.random.split(key, 3)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.act_dim))
    actor_params = _actor(config, spec).init(k_actor, obs)
    value_params = _value(config).init(k_value, obs)
    critic_params = _critics(config).init(k_critic, obs, act)
    return State(
        actor_params=actor_params,
        value_params=value_params,
        critic_params=critic_params,
        critic_target=critic_params,
        actor_opt=_actor_tx(config).init(actor_params),
        value_opt=optax.adam(config.value_lr).init(value_params),
        critic_opt=optax.adam(config.critic_lr).init(critic_params),
        step=jnp.zeros((), jnp.int32),
        config=config,
        spec=spec,
    )


def expectile_loss(diff: jnp.ndarray, expectile: float) -> jnp.ndarray:
    """L_V = mean(|tau - 1[u < 0]| * u^2), u = min_i Q_targ_i(s, a) - V(s)."""
    weight = jnp.where(diff < 0, 1.0 - expectile, expectile)
    return jnp.mean(weight * diff**2)


def gaussian_log_prob(mean: jnp.ndarray, log_std: jnp.ndarray, x: jnp.ndarray) -> jnp.ndarray:
    """log N(x; mean, diag(exp(log_std)^2)), summed over the action dimensions."""
    z = (x - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def awr_loss(log_prob: jnp.ndarray, adv: jnp.ndarray, temperature: float, max_weight: float) -> jnp.ndarray:
    """L_pi = -mean(min(exp(beta * (Q_targ(s, a) - V(s))), max_weight) * log pi(a|s))."""
    weights = jnp.minimum(jnp.exp(temperature * adv), max_weight)
    return -jnp.mean(jax.lax.stop_gradient(weights) * log_prob)


def critic_loss(q: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
    """L_Q = mean_batch sum_i (Q_i(s, a) - y)^2, y = r + gamma * mask * V(s'); q has shape (2, B)."""
    return jnp.mean(jnp.sum((q - target[None]) ** 2, axis=0))


def update(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict[str, jnp.ndarray]]:
    del key  # the IQL update is deterministic (no policy dropout on locomotion)
    cfg = state.config
    actor, value, critics = _actor(cfg, state.spec), _value(cfg), _critics(cfg)
    obs, actions = batch["observations"], batch["actions"]
    q_target = jnp.min(critics.apply(state.critic_target, obs, actions), axis=0)

    # 1. V by expectile regression towards the target critics.
    def value_loss_fn(params):
        v = value.apply(params, obs)
        return expectile_loss(q_target - v, cfg.expectile), v

    (v_loss, v), grads = jax.value_and_grad(value_loss_fn, has_aux=True)(state.value_params)
    value_params, value_opt = apply_grads(state.value_params, state.value_opt, grads, optax.adam(cfg.value_lr))

    # 2. Actor by advantage-weighted regression, with the new V.
    adv = q_target - value.apply(value_params, obs)

    def actor_loss_fn(params):
        mean, log_std = actor.apply(params, obs)
        return awr_loss(gaussian_log_prob(mean, log_std, actions), adv, cfg.temperature, cfg.max_weight)

    a_loss, grads = jax.value_and_grad(actor_loss_fn)(state.actor_params)
    actor_params, actor_opt = apply_grads(state.actor_params, state.actor_opt, grads, _actor_tx(cfg))

    # 3. Critics towards r + gamma * mask * V_new(s').
    y = batch["rewards"] + cfg.discount * batch["masks"] * value.apply(value_params, batch["next_observations"])

    def critic_loss_fn(params):
        return critic_loss(critics.apply(params, obs, actions), y)

    c_loss, grads = jax.value_and_grad(critic_loss_fn)(state.critic_params)
    critic_params, critic_opt = apply_grads(state.critic_params, state.critic_opt, grads, optax.adam(cfg.critic_lr))

    # 4. Polyak update of the target critics.
    state = state.replace(
        actor_params=actor_params,
        value_params=value_params,
        critic_params=critic_params,
        critic_target=soft_update(state.critic_target, critic_params, cfg.tau),
        actor_opt=actor_opt,
        value_opt=value_opt,
        critic_opt=critic_opt,
        step=state.step + 1,
    )
    metrics = {"value_loss": v_loss, "actor_loss": a_loss, "critic_loss": c_loss, "v_mean": jnp.mean(v), "adv_mean": jnp.mean(adv)}
    return state, metrics


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool = True) -> jnp.ndarray:
    mean, log_std = _actor(state.config, state.spec).apply(state.actor_params, obs)
    if deterministic:
        return jnp.clip(mean, -1.0, 1.0)
    return jnp.clip(mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape), -1.0, 1.0)
