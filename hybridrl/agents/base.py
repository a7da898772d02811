"""What every agent file shares: the problem spec, target-network updates, the registry entry."""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import optax

Batch = dict[str, jnp.ndarray]  # observations, actions, rewards, next_observations, masks (1 - terminal)


@dataclasses.dataclass(frozen=True)
class Spec:
    """Shapes of the problem. Agents act in [-1, 1]^act_dim; the trainer rescales to the env's bounds."""

    obs_dim: int
    act_dim: int


def soft_update(target: Any, online: Any, tau: float) -> Any:
    """Polyak averaging: target <- tau * online + (1 - tau) * target."""
    return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def apply_grads(params: Any, opt_state: Any, grads: Any, tx: optax.GradientTransformation) -> tuple[Any, Any]:
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def config_from_dict(module: ModuleType, values: dict[str, Any]) -> Any:
    """Build ``module.Config`` from a dict, refusing unknown keys with a one-line message."""
    fields = {f.name: f for f in dataclasses.fields(module.Config)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown config key(s) {unknown} for {module.NAME}; valid keys: {', '.join(sorted(fields))}"
        )
    converted = {}
    for name, value in values.items():
        default = getattr(module.Config(), name)
        if isinstance(default, tuple) and isinstance(value, (list, tuple)):
            value = tuple(value)
        converted[name] = value
    return module.Config(**converted)
