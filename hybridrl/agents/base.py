"""What every agent file shares: the problem spec, target-network updates, the registry entry."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
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
    """Build ``module.Config`` from a dict, refusing unknown keys and ill-typed values with a one-line message."""
    return dataclass_from_dict(module.Config, values, module.NAME)


def dataclass_from_dict(cls: type, values: dict[str, Any], owner: str) -> Any:
    """``cls(**values)`` for a config dataclass, after checking every value against its field's annotation
    (bool, int, float, str, ``X | None`` and ``tuple[X, ...]``; a JSON list becomes a tuple, an int a float).
    ``owner`` names the config in the messages ("iql", "FQE")."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown} for {owner}; valid keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    converted = {}
    for name, value in values.items():
        try:
            converted[name] = _as_type(value, hints[name])
        except TypeError as exc:
            default = fields[name].default
            default = json.dumps(list(default) if isinstance(default, tuple) else default)
            raise ValueError(f"{owner} setting {name} must be {exc} (default {default}), got {value!r}") from None
    return cls(**converted)


def _as_type(value: Any, hint: Any) -> Any:
    """``value`` as an instance of ``hint``; a TypeError's message says what was expected."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if value is None and len(options) < len(typing.get_args(hint)):
            return None
        if len(options) == 1:
            try:
                return _as_type(value, options[0])
            except TypeError as exc:
                raise TypeError(f"{exc} or null") from None
        return value  # a union this checker does not describe: left to the config's own checks
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        try:
            if not isinstance(value, (list, tuple)):
                raise TypeError
            return tuple(_as_type(v, item) for v in value)
        except TypeError:
            raise TypeError(f"a list of {_describe(item, plural=True)} such as [256, 256]") from None
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise TypeError(_describe(hint))


def _describe(hint: Any, plural: bool = False) -> str:
    if plural:
        return {bool: "booleans", int: "integers", float: "numbers", str: "strings"}.get(hint, str(hint))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))
