"""Checks that a :class:`Dataset` is well formed, with one-line messages that say how to fix it.

Every message has the shape ``<source>: field '<field>' <problem>; <fix>.`` so a
user sees at once which file, which array and what to do. Loaders build their
own messages (missing keys, unreadable files) with :func:`field_error`,
:func:`missing_field_error` and :func:`source_error`, so that all data errors
read alike and always fit on one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np

from hybridrl.data.dataset import FIELDS, Dataset, DatasetError

ACTION_TOLERANCE = 1e-6  # actions this far outside the bounds still count as inside (float rounding)

_VECTOR_FIELDS = ("observations", "actions", "next_observations")
_SCALAR_FIELDS = ("rewards", "terminals", "timeouts")
_FLAG_FIELDS = ("terminals", "timeouts")


def source_error(source: str | os.PathLike, problem: str, fix: str) -> DatasetError:
    """One-line error about a whole source (a file that cannot be read): ``<source>: <problem>; <fix>.``"""
    return DatasetError(" ".join(f"{source}: {problem}; {fix}.".split()))


def field_error(source: str, field: str, problem: str, fix: str) -> DatasetError:
    """The standard one-line error: ``<source>: field '<field>' <problem>; <fix>.``"""
    return source_error(source, f"field '{field}' {problem}", fix)


def missing_field_error(source: str, field: str, found: Iterable[str], fix: str) -> DatasetError:
    """Error for a required field that the source does not contain; lists (some of) what it does contain."""
    names = sorted(str(name) for name in found)
    shown = ", ".join(names[:12]) + (f", ... ({len(names) - 12} more)" if len(names) > 12 else "")
    return field_error(source, field, f"is missing (found: {shown or 'nothing'})", fix)


def validate(ds: Dataset, source: str, action_low=None, action_high=None) -> None:
    """Raise :class:`DatasetError` unless ``ds`` is a usable dataset.

    Checks, in order: array dimensions, one row per transition in every field,
    at least one transition, ``next_observations`` shaped like
    ``observations``, boolean flags, finite values, actions inside the action
    space (bounds passed here win over the dataset's own; a tolerance of
    ``ACTION_TOLERANCE`` applies), and that the last transition ends an episode.
    """
    arrays = {name: np.asarray(getattr(ds, name)) for name in FIELDS}
    _check_dimensions(arrays, source)
    _check_lengths(arrays, source)
    if arrays["rewards"].shape[0] == 0:
        raise field_error(source, "observations", "has 0 rows, so the dataset is empty", "provide at least one transition")
    obs, next_obs = arrays["observations"], arrays["next_observations"]
    if next_obs.shape != obs.shape:
        raise field_error(
            source,
            "next_observations",
            f"has shape {next_obs.shape} but 'observations' has {obs.shape}",
            "next_observations must have the same shape as observations",
        )
    _check_dtypes(arrays, source)
    for name in ("observations", "actions", "rewards", "next_observations"):
        _check_finite(arrays[name], name, source)
    low = ds.action_low if action_low is None else action_low
    high = ds.action_high if action_high is None else action_high
    _check_action_bounds(arrays["actions"], low, high, source)
    _check_last_episode_ends(arrays["terminals"], arrays["timeouts"], source)


def _check_dimensions(arrays: dict[str, np.ndarray], source: str) -> None:
    for name in _VECTOR_FIELDS:
        shape = arrays[name].shape
        width = "obs_dim" if name != "actions" else "act_dim"
        if len(shape) != 2:
            raise field_error(
                source, name, f"has shape {shape} but must be 2-D (transitions, {width})", f"reshape it to (N, {width})"
            )
        if shape[1] == 0:
            raise field_error(source, name, f"has shape {shape} with no columns", f"give it at least one column ({width} >= 1)")
    for name in _SCALAR_FIELDS:
        shape = arrays[name].shape
        if len(shape) != 1:
            raise field_error(
                source, name, f"has shape {shape} but must be 1-D (transitions,)", "flatten it to shape (N,), e.g. with .reshape(-1)"
            )


def _check_lengths(arrays: dict[str, np.ndarray], source: str) -> None:
    expected = arrays["observations"].shape[0]
    for name in FIELDS[1:]:
        rows = arrays[name].shape[0]
        if rows != expected:
            raise field_error(
                source, name, f"has {rows} rows but 'observations' has {expected}", "every field needs one row per transition"
            )


def _check_dtypes(arrays: dict[str, np.ndarray], source: str) -> None:
    for name in _FLAG_FIELDS:
        if arrays[name].dtype != np.bool_:
            raise field_error(source, name, f"has dtype {arrays[name].dtype} but must be bool", "cast it with .astype(bool)")
    for name in ("observations", "actions", "rewards", "next_observations"):
        dtype = arrays[name].dtype
        if not (np.issubdtype(dtype, np.number) or dtype == np.bool_):
            raise field_error(source, name, f"has dtype {dtype} but must be numeric", "convert it to a float array")


def _check_finite(values: np.ndarray, name: str, source: str) -> None:
    if not np.issubdtype(values.dtype, np.inexact):
        return  # integers and booleans are always finite
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    num_nan = int(np.isnan(values).sum())
    num_inf = int(bad.sum()) - num_nan
    rows = bad if bad.ndim == 1 else bad.any(axis=1)
    first = int(np.argmax(rows))
    raise field_error(
        source,
        name,
        f"has {num_nan} NaN and {num_inf} infinite values (first at transition {first})",
        "remove or repair those transitions",
    )


def _check_action_bounds(actions: np.ndarray, low, high, source: str) -> None:
    if low is None and high is None:
        return
    act_dim = actions.shape[1]
    bounds = {}
    for name, value, default in (("action_low", low, -np.inf), ("action_high", high, np.inf)):
        value = np.asarray(default if value is None else value, dtype=np.float64)
        try:
            bounds[name] = np.broadcast_to(value.reshape(-1), (act_dim,))
        except ValueError:
            raise field_error(
                source, name, f"has shape {value.shape} but actions have {act_dim} dimensions", "give one bound per action dimension"
            ) from None
    lo, hi = bounds["action_low"], bounds["action_high"]
    if (lo > hi).any():
        d = int(np.argmax(lo > hi))
        raise field_error(source, "action_low", f"is above 'action_high' in dimension {d} ({lo[d]:.6g} > {hi[d]:.6g})", "swap or fix the bounds")
    outside = (actions < lo - ACTION_TOLERANCE) | (actions > hi + ACTION_TOLERANCE)
    if not outside.any():
        return
    rows = outside.any(axis=1)
    i = int(np.argmax(rows))
    d = int(np.argmax(outside[i]))
    raise field_error(
        source,
        "actions",
        f"has {int(outside.sum())} values outside the action space (first at transition {i}, dimension {d}: "
        f"{float(actions[i, d]):.6g} not in [{lo[d]:.6g}, {hi[d]:.6g}])",
        "clip the actions to the bounds or pass the right action_low/action_high",
    )


def _check_last_episode_ends(terminals: np.ndarray, timeouts: np.ndarray, source: str) -> None:
    if terminals[-1] or timeouts[-1]:
        return
    last = terminals.shape[0] - 1
    raise field_error(
        source,
        "timeouts",
        f"is False at the last transition (index {last}) and so is 'terminals', so the last episode never ends",
        "set timeouts[-1]=True or drop the partial episode",
    )
