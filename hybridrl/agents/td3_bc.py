"""TD3+BC (Fujimoto & Gu, "A Minimalist Approach to Offline Reinforcement Learning", 2021).

TD3 with a behaviour-cloning term in the actor loss and a Q-scale-invariant
weight. Defaults are the official code's D4RL settings (sfujim/TD3_BC @ 8791ad7;
see shared/reference/finetune.md section 2).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from hybridrl.agents.base import Batch, Spec, apply_grads, soft_update
from hybridrl.nets import Critic, DeterministicActor, Ensemble, torch_linear_init

NAME = "td3_bc"


@dataclasses.dataclass(frozen=True)
class Config:
    hidden_dims: tuple[int, ...] = (256, 256)  # official: 256-256 actor and critics
    actor_lr: float = 3e-4  # official
    critic_lr: float = 3e-4  # official
    batch_size: int = 256  # official
    discount: float = 0.99  # official
    tau: float = 0.005  # official; applied on actor steps only
    policy_noise: float = 0.2  # official target-policy smoothing (x max_action = 1)
    noise_clip: float = 0.5  # official
    policy_freq: int = 2  # official: actor and targets updated every 2nd step
    alpha: float = 2.5  # official BC weight
    num_critics: int = 2  # twin critics
    normalize_observations: bool = True  # official: mean/std over the dataset, std + 1e-3
    reward_scaling: str = "none"  # official: no reward scaling


class State(flax.struct.PyTreeNode):
    actor_params: Any
    actor_target: Any
    critic_params: Any
    critic_target: Any
    actor_opt: Any
    critic_opt: Any
    step: jnp.ndarray
    config: Config = flax.struct.field(pytree_node=False)
    spec: Spec = flax.struct.field(pytree_node=False)


def _actor(config: Config, spec: Spec) -> DeterministicActor:
    return DeterministicActor(config.hidden_dims, spec.act_dim, kernel_init=torch_linear_init())


def _critics(config: Config) -> Critic:
    return Ensemble(Critic, config.num_critics)(config.hidden_dims, kernel_init=torch_linear_init())


def init(key: jax.Array, spec: Spec, config: Config) -> State:
    k_actor, k_critic = jax.random.split(key)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.act_dim))
    actor_params = _actor(config, spec).init(k_actor, obs)
    critic_params = _critics(config).init(k_critic, obs, act)
    return State(
        actor_params=actor_params,
        actor_target=actor_params,
        critic_params=critic_params,
        critic_target=critic_params,
        actor_opt=optax.adam(config.actor_lr).init(actor_params),
        critic_opt=optax.adam(config.critic_lr).init(critic_params),
        step=jnp.zeros((), jnp.int32),
        config=config,
        spec=spec,
    )


def critic_loss(q: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
    """L_Q = sum_i mean_batch (Q_i(s, a) - y)^2, with q of shape (num_critics, B) and y of shape (B,)."""
    return jnp.sum(jnp.mean((q - target[None]) ** 2, axis=-1))


def td_target(rewards, masks, discount, next_q) -> jnp.ndarray:
    """y = r + gamma * mask * min_i Q_i_targ(s', a'), with next_q of shape (num_critics, B)."""
    return rewards + discount * masks * jnp.min(next_q, axis=0)


def actor_loss(q1: jnp.ndarray, pi: jnp.ndarray, data_actions: jnp.ndarray, alpha: float) -> jnp.ndarray:
    """L_pi = -lambda * mean(Q1(s, pi(s))) + mean((pi(s) - a)^2), lambda = alpha / mean|Q1(s, pi(s))| (no gradient)."""
    lam = jax.lax.stop_gradient(alpha / jnp.mean(jnp.abs(q1)))
    return -lam * jnp.mean(q1) + jnp.mean((pi - data_actions) ** 2)


def _update_critic(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict]:
    cfg = state.config
    actor, critics = _actor(cfg, state.spec), _critics(cfg)
    next_pi = actor.apply(state.actor_target, batch["next_observations"])
    noise = jnp.clip(cfg.policy_noise * jax.random.normal(key, next_pi.shape), -cfg.noise_clip, cfg.noise_clip)
    next_action = jnp.clip(next_pi + noise, -1.0, 1.0)
    next_q = critics.apply(state.critic_target, batch["next_observations"], next_action)
    y = td_target(batch["rewards"], batch["masks"], cfg.discount, next_q)

    def loss_fn(params):
        q = critics.apply(params, batch["observations"], batch["actions"])
        return critic_loss(q, y), q

    (loss, q), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.critic_params)
    params, opt = apply_grads(state.critic_params, state.critic_opt, grads, optax.adam(cfg.critic_lr))
    return state.replace(critic_params=params, critic_opt=opt), {"critic_loss": loss, "q_mean": jnp.mean(q)}


def _update_actor(state: State, batch: Batch) -> tuple[State, jnp.ndarray]:
    cfg = state.config
    actor, critics = _actor(cfg, state.spec), _critics(cfg)

    def loss_fn(params):
        pi = actor.apply(params, batch["observations"])
        q1 = critics.apply(state.critic_params, batch["observations"], pi)[0]
        return actor_loss(q1, pi, batch["actions"], cfg.alpha)

    loss, grads = jax.value_and_grad(loss_fn)(state.actor_params)
    params, opt = apply_grads(state.actor_params, state.actor_opt, grads, optax.adam(cfg.actor_lr))
    state = state.replace(
        actor_params=params,
        actor_opt=opt,
        actor_target=soft_update(state.actor_target, params, cfg.tau),
        critic_target=soft_update(state.critic_target, state.critic_params, cfg.tau),
    )
    return state, loss


def update(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict[str, jnp.ndarray]]:
    state, metrics = _update_critic(state, batch, key)
    # The actor (and the targets) move every `policy_freq` critic steps; the
    # reported actor loss is NaN on steps where it does not move.
    state, metrics["actor_loss"] = jax.lax.cond(
        (state.step + 1) % state.config.policy_freq == 0,
        lambda s: _update_actor(s, batch),
        lambda s: (s, jnp.full((), jnp.nan, jnp.float32)),
        state,
    )
    return state.replace(step=state.step + 1), metrics


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool = True) -> jnp.ndarray:
    del key, deterministic  # evaluation uses the deterministic actor
    return _actor(state.config, state.spec).apply(state.actor_params, obs)
