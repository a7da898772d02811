"""Behaviour cloning: regress a deterministic policy onto the dataset actions.

Settings follow CORL's BC baseline (Tarasov et al. 2022, `offline/any_percent_bc.py`
run on the whole dataset): 256-256 ReLU actor with tanh output, Adam 3e-4,
batch 256, observations normalized by the dataset mean and std.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from hybridrl.agents.base import Batch, Spec, apply_grads
from hybridrl.nets import DeterministicActor, torch_linear_init

NAME = "bc"


@dataclasses.dataclass(frozen=True)
class Config:
    hidden_dims: tuple[int, ...] = (256, 256)  # CORL BC
    learning_rate: float = 3e-4  # CORL BC
    batch_size: int = 256  # CORL BC
    normalize_observations: bool = True  # CORL BC normalizes states (mean/std + 1e-3)
    reward_scaling: str = "none"  # BC ignores rewards


class State(flax.struct.PyTreeNode):
    actor_params: Any
    actor_opt: Any
    step: jnp.ndarray
    config: Config = flax.struct.field(pytree_node=False)
    spec: Spec = flax.struct.field(pytree_node=False)


def _actor(config: Config, spec: Spec) -> DeterministicActor:
    return DeterministicActor(config.hidden_dims, spec.act_dim, kernel_init=torch_linear_init())


def _optimizer(config: Config) -> optax.GradientTransformation:
    return optax.adam(config.learning_rate)


def init(key: jax.Array, spec: Spec, config: Config) -> State:
    params = _actor(config, spec).init(key, jnp.zeros((1, spec.obs_dim)))
    return State(
        actor_params=params,
        actor_opt=_optimizer(config).init(params),
        step=jnp.zeros((), jnp.int32),
        config=config,
        spec=spec,
    )


def bc_loss(pred_actions: jnp.ndarray, data_actions: jnp.ndarray) -> jnp.ndarray:
    """L = mean over batch and action dims of (pi(s) - a)^2."""
    return jnp.mean((pred_actions - data_actions) ** 2)


def update(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict[str, jnp.ndarray]]:
    del key  # deterministic update
    actor = _actor(state.config, state.spec)

    def loss_fn(params):
        return bc_loss(actor.apply(params, batch["observations"]), batch["actions"])

    loss, grads = jax.value_and_grad(loss_fn)(state.actor_params)
    params, opt = apply_grads(state.actor_params, state.actor_opt, grads, _optimizer(state.config))
    return state.replace(actor_params=params, actor_opt=opt, step=state.step + 1), {"actor_loss": loss}


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool = True) -> jnp.ndarray:
    del key, deterministic  # the policy is deterministic
    return _actor(state.config, state.spec).apply(state.actor_params, obs)

