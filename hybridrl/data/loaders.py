"""Read datasets from Minari, NPZ, D4RL-style HDF5, Parquet and CSV; write Minari and NPZ.

:func:`load_dataset` picks the reader from the source:

* an existing directory holding a Minari dataset (the dataset directory with
  ``data/metadata.json``, or that ``data`` directory itself) -> Minari;
* ``*.npz`` -> NumPy archive with the keys ``observations``, ``actions``,
  ``rewards``, ``terminals``, ``timeouts`` and optionally ``next_observations``
  (the layout :func:`save_npz` writes), or NeoRL-2's official layout (``obs``,
  ``action``, ``next_obs``, ``reward``, ``done``, ``truncated``), which goes to
  :func:`hybridrl.envs.neorl2.data.load_neorl2` with its defaults;
* ``*.hdf5`` / ``*.h5`` -> the D4RL key layout (same keys as NPZ);
* ``*.parquet`` / ``*.csv`` -> a table, one row per transition (see below);
* any other string that is not an existing path -> a Minari dataset id, looked
  up only on this machine, in ``$MINARI_DATASETS_PATH`` or
  ``~/.minari/datasets``. Nothing is ever downloaded.

``columns`` maps our field names to the names in the file. For NPZ and HDF5 it
renames keys (``{"terminals": "dones"}``; an HDF5 key may be a path such as
``"infos/done"``). For tables a field is read from:

* one column holding a list per row (Parquet list columns), giving ``(N, d)``;
* one numeric column, giving ``(N,)`` for scalar fields or ``(N, 1)`` for
  vector fields such as a one-dimensional action;
* a glob over column names, e.g. ``{"observations": "obs_*"}``; the matching
  columns are stacked in the order of the numbers in their names (``obs_2``
  before ``obs_10``).

Without a mapping a field is read from the column with its own name or, for
vector fields, from the glob ``"<field>_*"`` (``observations_0``, ...).
Flags may be booleans or 0/1 numbers; ``(N, 1)`` rewards and flags are
flattened to ``(N,)``.

Minari datasets are read straight from ``main_data.hdf5`` with h5py, whole
arrays per episode (other Minari storage formats go through Minari's own
reader). An episode's ``T + 1`` observations become ``observations =
obs[:-1]`` and ``next_observations = obs[1:]``; ``terminals`` are Minari's
terminations and ``timeouts`` its truncations, and a last step with neither
flag is marked as a timeout, since a Minari episode always ends there. Dict
observation spaces (of Box leaves) are flattened and concatenated in the order
of the space's keys (``metadata["observation_keys"]``). Only Box action spaces
are accepted; their bounds become ``action_low``/``action_high``.

``next_observations`` may be absent from NPZ, HDF5 and tables. It is then
derived within episodes as ``observations[t + 1]``. The last step of an
episode has no successor in the file: if the episode ended by a timeout that
step is dropped and the step before it becomes the timeout (as
``d4rl.qlearning_dataset`` does; the next state is needed to bootstrap); if it
ended by a terminal the step is kept, with its own observation as a placeholder
next observation (never used, since nothing bootstraps past a terminal).
``metadata["dropped_final_steps"]`` counts the dropped steps.

Every loader returns float32 observations, actions and rewards, boolean flags,
and passes :func:`hybridrl.data.validate.validate`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
import secrets
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from hybridrl.data.dataset import FIELDS, Dataset, DatasetError
from hybridrl.data.validate import field_error, missing_field_error, source_error, validate

NPZ_SUFFIXES = (".npz",)
HDF5_SUFFIXES = (".hdf5", ".h5")
TABLE_SUFFIXES = (".parquet", ".csv")
FILE_SUFFIXES = NPZ_SUFFIXES + HDF5_SUFFIXES + TABLE_SUFFIXES

METADATA_KEY = "hybridrl_metadata"  # NPZ/HDF5 key holding a JSON string with name, env id, ref scores
REQUIRED_FIELDS = ("observations", "actions", "rewards", "terminals", "timeouts")
VECTOR_FIELDS = ("observations", "actions", "next_observations")
_DATASET_ID_RE = re.compile(r"(?:[-\w]+/)*[-\w]+-v\d+")


# ---------------------------------------------------------------------------------------------- entry point


def load_dataset(
    source: str | os.PathLike,
    *,
    columns: dict[str, str] | None = None,
    action_low=None,
    action_high=None,
) -> Dataset:
    """Load a dataset from a file, a Minari dataset directory or a local Minari dataset id.

    ``columns`` maps field names to keys/columns in the file (NPZ, HDF5, Parquet,
    CSV). ``action_low``/``action_high``, when given, replace the bounds the data
    carries and are checked against every action.
    """
    label = str(source)
    path = Path(source).expanduser()
    if columns is not None:
        _check_column_mapping(columns, label)
    if path.is_dir():
        _refuse_columns(columns, label)
        data_dir = _minari_data_dir(path)
        if data_dir is None:
            raise source_error(
                label,
                "directory is not a Minari dataset (no data/metadata.json inside)",
                f"pass a Minari dataset directory, a Minari id, or a {', '.join(FILE_SUFFIXES)} file",
            )
        ds = _read_minari(data_dir, label)
    elif path.is_file():
        suffix = path.suffix.lower()
        if suffix in NPZ_SUFFIXES:
            ds = _read_npz(path, label, columns or {})
        elif suffix in HDF5_SUFFIXES:
            ds = _read_hdf5(path, label, columns or {})
        elif suffix in TABLE_SUFFIXES:
            ds = _read_table(path, label, columns or {})
        else:
            raise source_error(
                label,
                f"unsupported file type '{suffix}'",
                f"use one of {', '.join(FILE_SUFFIXES)}, a Minari dataset directory or a Minari dataset id",
            )
    elif path.suffix.lower() in FILE_SUFFIXES:
        raise source_error(label, "no such file", f"check the path (relative paths start at {os.getcwd()})")
    else:
        _refuse_columns(columns, label)
        ds = _read_minari_id(label)
    if action_low is not None:
        ds.action_low = np.asarray(action_low, dtype=np.float32)
    if action_high is not None:
        ds.action_high = np.asarray(action_high, dtype=np.float32)
    validate(ds, label)
    return ds


def _check_column_mapping(columns: dict[str, str], label: str) -> None:
    for field in columns:
        if field not in FIELDS:
            raise field_error(label, field, "in columns= is not a dataset field", f"use one of {', '.join(FIELDS)}")


def _refuse_columns(columns: dict[str, str] | None, label: str) -> None:
    if columns:
        field = next(iter(columns))
        raise field_error(label, field, "is mapped with columns=, but Minari datasets have fixed fields", "drop columns=")


# ---------------------------------------------------------------------------------------------- shared building


def _to_float(values: Any, field: str, label: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise field_error(label, field, f"holds {np.asarray(values).dtype} values that are not numbers", "store it as a numeric array") from None
    if field == "rewards" and array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]  # (N, 1) rewards are common; there is only one way to read them
    return array


def _to_flags(values: Any, field: str, label: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.dtype == np.bool_ or array.ndim != 1:
        return array  # validate() reports wrong dimensions with the standard message
    if not np.issubdtype(array.dtype, np.number):
        raise field_error(label, field, f"holds {array.dtype} values", "store it as booleans or 0/1 numbers")
    bad = (array != 0) & (array != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise field_error(label, field, f"has values other than 0/1 (first at transition {i}: {array[i]})", "store it as booleans or 0/1 numbers")
    return array.astype(bool)


def _build(arrays: dict[str, Any], label: str, name: str, info: dict[str, Any]) -> Dataset:
    """Cast raw arrays to a Dataset; derive next_observations when the source lacks them."""
    ds = Dataset(
        observations=_to_float(arrays["observations"], "observations", label),
        actions=_to_float(arrays["actions"], "actions", label),
        rewards=_to_float(arrays["rewards"], "rewards", label),
        next_observations=np.empty(0),
        terminals=_to_flags(arrays["terminals"], "terminals", label),
        timeouts=_to_flags(arrays["timeouts"], "timeouts", label),
        name=str(info.get("name") or name),
        env_id=info.get("env_id"),
        action_low=None if info.get("action_low") is None else np.asarray(info["action_low"], dtype=np.float32),
        action_high=None if info.get("action_high") is None else np.asarray(info["action_high"], dtype=np.float32),
        ref_min_score=None if info.get("ref_min_score") is None else float(info["ref_min_score"]),
        ref_max_score=None if info.get("ref_max_score") is None else float(info["ref_max_score"]),
        metadata=dict(info.get("metadata") or {}),
    )
    if arrays.get("next_observations") is not None:
        return ds.replace(next_observations=_to_float(arrays["next_observations"], "next_observations", label))
    validate(ds.replace(next_observations=ds.observations), label)  # lengths and episode ends must hold first
    return _derive_next_observations(ds)


def _derive_next_observations(ds: Dataset) -> Dataset:
    """Fill next_observations from observations[t + 1] within episodes (see the module docstring)."""
    n = len(ds)
    next_obs = ds.observations[np.minimum(np.arange(1, n + 1), n - 1)]
    ends = ds.episode_ends
    starts = ds.episode_starts
    terminal_ends = ends[ds.terminals[ends]]
    next_obs[terminal_ends] = ds.observations[terminal_ends]  # placeholder: never bootstrapped from
    cut = ~ds.terminals[ends]  # episodes that end by a timeout lose their final step
    cut_ends, cut_starts = ends[cut], starts[cut]
    timeouts = ds.timeouts.copy()
    timeouts[cut_ends] = False
    longer = cut_ends > cut_starts
    timeouts[cut_ends[longer] - 1] = True
    keep = np.ones(n, dtype=bool)
    keep[cut_ends] = False
    metadata = {**ds.metadata, "dropped_final_steps": int(cut_ends.size)}
    return ds.replace(
        observations=ds.observations[keep],
        actions=ds.actions[keep],
        rewards=ds.rewards[keep],
        next_observations=next_obs[keep],
        terminals=ds.terminals[keep],
        timeouts=timeouts[keep],
        metadata=metadata,
    )


def _parse_info(raw: str | bytes | None, label: str) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        info = json.loads(raw)
    except (TypeError, ValueError):
        raise field_error(label, METADATA_KEY, "is not valid JSON", "rewrite the file with hybridrl.data.save_npz or delete that key") from None
    return info if isinstance(info, dict) else {}


# ---------------------------------------------------------------------------------------------- NPZ and HDF5


def _read_npz(path: Path, label: str, columns: dict[str, str]) -> Dataset:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise source_error(label, f"not a readable NPZ file ({type(exc).__name__})", "re-create it with numpy.savez or hybridrl.data.save_npz") from None
    with archive:
        keys = set(archive.files)
        if not columns:
            from hybridrl.envs.neorl2.data import is_neorl2_layout, load_neorl2

            if is_neorl2_layout(keys):  # NeoRL-2's official files: obs, action, next_obs, reward, done, truncated
                return load_neorl2(path)

        def read(key: str, field: str) -> np.ndarray:
            try:
                return archive[key]
            except ValueError:  # object arrays need pickle, which we never enable
                raise field_error(label, field, f"(key '{key}') is stored as Python objects", "save it as a numeric array") from None

        arrays = _read_keys(keys, read, label, columns, "keys")
        info = _parse_info(str(archive[METADATA_KEY]) if METADATA_KEY in keys else None, label)
        for bound in ("action_low", "action_high"):
            if bound in keys and bound not in info:
                info[bound] = read(bound, bound)
    return _build(arrays, label, path.stem, info)


def _read_hdf5(path: Path, label: str, columns: dict[str, str]) -> Dataset:
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise source_error(label, f"not a readable HDF5 file ({exc})", "check that the file is complete") from None
    with handle:
        keys = set()
        handle.visititems(lambda name, obj: keys.add(name) if isinstance(obj, h5py.Dataset) else None)

        def read(key: str, field: str) -> np.ndarray:
            return handle[key][()]

        arrays = _read_keys(keys, read, label, columns, "datasets")
        raw_info = handle[METADATA_KEY][()] if METADATA_KEY in keys else None
        info = _parse_info(raw_info, label)
    return _build(arrays, label, path.stem, info)


def _read_keys(keys: set[str], read, label: str, columns: dict[str, str], kind: str) -> dict[str, np.ndarray | None]:
    arrays: dict[str, np.ndarray | None] = {}
    for field in FIELDS:
        key = columns.get(field, field)
        if key in keys:
            arrays[field] = read(key, field)
        elif field in REQUIRED_FIELDS or field in columns:
            fix = f"add the '{field}' array or map an existing one with columns={{'{field}': '<key>'}}"
            if field in columns:
                fix = f"the mapped key '{key}' is not among the {kind}; fix columns="
            raise missing_field_error(label, field, keys, fix)
        else:
            arrays[field] = None
    return arrays


# ---------------------------------------------------------------------------------------------- tables


def _read_table(path: Path, label: str, columns: dict[str, str]) -> Dataset:
    import pyarrow as pa

    try:
        if path.suffix.lower() == ".csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(path)
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise source_error(label, f"not a readable {path.suffix[1:]} table ({message})", "check the file") from None
    arrays: dict[str, np.ndarray | None] = {}
    for field in FIELDS:
        arrays[field] = _table_field(table, field, columns.get(field), label)
    return _build(arrays, label, path.stem, {})


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _table_field(table, field: str, spec: str | None, label: str) -> np.ndarray | None:
    names = list(table.column_names)
    vector = field in VECTOR_FIELDS
    candidates = [spec] if spec is not None else [field] + ([f"{field}_*"] if vector else [])
    for pattern in candidates:
        if any(ch in pattern for ch in "*?["):
            matched = sorted((n for n in names if fnmatch.fnmatchcase(n, pattern)), key=_natural_key)
            if matched:
                return np.stack([_column_values(table, name, field, label) for name in matched], axis=1)
        elif pattern in names:
            values = _column_values(table, pattern, field, label)
            return values[:, None] if vector and values.ndim == 1 else values
    if spec is None and field not in REQUIRED_FIELDS:
        return None
    wanted = " or ".join(f"'{c}'" for c in candidates)
    fix = f"no column matches {wanted}; map it with columns={{'{field}': '<column>' or '<prefix>_*'}}"
    raise missing_field_error(label, field, names, fix)


def _column_values(table, name: str, field: str, label: str) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    if column.null_count:
        first = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
        raise field_error(
            label, field, f"(column '{name}') has {column.null_count} empty cells (first at row {first})", "fill or drop those rows"
        )
    kind = column.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        chunk = column.combine_chunks()
        lengths = pc.list_value_length(chunk).to_numpy(zero_copy_only=False)
        if lengths.size and (lengths != lengths[0]).any():
            row = int(np.argmax(lengths != lengths[0]))
            raise field_error(
                label, field, f"(column '{name}') has {lengths[row]} values in row {row} but {lengths[0]} in row 0", "every row needs the same length"
            )
        width = int(lengths[0]) if lengths.size else 0
        flat = chunk.flatten()
        if flat.null_count:
            raise field_error(label, field, f"(column '{name}') has empty values inside its lists", "fill or drop those rows")
        return flat.to_numpy(zero_copy_only=False).reshape(len(chunk), width)
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        raise field_error(label, field, f"(column '{name}') has type {kind}", "store numbers, booleans or lists of numbers")
    return column.to_numpy()


# ---------------------------------------------------------------------------------------------- Minari reading


def minari_root() -> Path:
    """Where Minari keeps local datasets: ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``."""
    env = os.environ.get("MINARI_DATASETS_PATH")
    return Path(env).expanduser() if env else Path.home() / ".minari" / "datasets"


def _minari_data_dir(path: Path) -> Path | None:
    for candidate in (path / "data", path):
        if (candidate / "metadata.json").is_file():
            return candidate
    return None


def _read_minari_id(dataset_id: str) -> Dataset:
    root = minari_root()
    data_dir = root / dataset_id / "data"
    if not (data_dir / "metadata.json").is_file():
        raise source_error(
            dataset_id,
            f"not an existing file or directory, and no local Minari dataset with this id (looked for {data_dir / 'metadata.json'}; "
            "the root is $MINARI_DATASETS_PATH or ~/.minari/datasets)",
            f"create it with hybridrl.data.save_minari(ds, '{dataset_id}') "
            f"or fetch it yourself with `minari download {dataset_id}` (hybridrl never downloads)",
        )
    return _read_minari(data_dir, dataset_id)


def _box_bounds(space: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    shape = tuple(space.get("shape") or ())
    low = np.broadcast_to(np.asarray(space["low"], dtype=np.float64), shape).reshape(-1)
    high = np.broadcast_to(np.asarray(space["high"], dtype=np.float64), shape).reshape(-1)
    return low, high


def _observation_leaves(space: dict[str, Any], label: str, prefix: str = "") -> list[str]:
    """Paths of the Box leaves of a Box or (nested) Dict observation space, in storage order."""
    kind = space.get("type")
    if kind == "Box":
        return [prefix]
    if kind == "Dict":
        leaves: list[str] = []
        for key, sub in space["subspaces"].items():
            leaves += _observation_leaves(sub, label, f"{prefix}/{key}" if prefix else key)
        return leaves
    raise field_error(
        label, "observations", f"uses a {kind} observation space", "only Box and Dict-of-Box observation spaces are supported; convert the dataset"
    )


def _read_minari(data_dir: Path, label: str) -> Dataset:
    """Read a Minari dataset directory (the one holding metadata.json) into a flat Dataset."""
    try:
        meta = json.loads((data_dir / "metadata.json").read_text())
    except (OSError, ValueError) as exc:
        raise source_error(label, f"cannot read {data_dir / 'metadata.json'} ({type(exc).__name__})", "re-create the dataset") from None
    for key, field in (("action_space", "actions"), ("observation_space", "observations")):
        if key not in meta:
            raise missing_field_error(label, field, meta.keys(), f"metadata.json has no '{key}'; re-create the dataset with minari>=0.4")
    action_space = json.loads(meta["action_space"]) if isinstance(meta["action_space"], str) else meta["action_space"]
    obs_space = json.loads(meta["observation_space"]) if isinstance(meta["observation_space"], str) else meta["observation_space"]
    if action_space.get("type") != "Box":
        raise field_error(
            label, "actions", f"uses a {action_space.get('type')} action space", "only Box (continuous) action spaces are supported"
        )
    leaves = _observation_leaves(obs_space, label)

    if meta.get("data_format", "hdf5") == "hdf5":
        cache = _flat_cache_path(data_dir / "main_data.hdf5", leaves)
        flat = _read_flat_cache(cache)
        if flat is None:
            flat = _flatten_episodes(_minari_hdf5_episodes(data_dir / "main_data.hdf5", leaves, label), label)
            _write_flat_cache(cache, flat)
    else:
        flat = _flatten_episodes(_minari_storage_episodes(data_dir, leaves), label)
    obs, actions, rewards, terminals, timeouts, lengths = flat

    low, high = _box_bounds(action_space)
    bounded = np.isfinite(low).any() or np.isfinite(high).any()
    env_id = None
    if meta.get("env_spec"):
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            env_id = json.loads(meta["env_spec"]).get("id")
    dataset_id = meta.get("dataset_id") or label
    rows = _obs_rows(lengths)
    extra = {
        "source": "minari",
        "dataset_id": dataset_id,
        "minari_version": meta.get("minari_version"),
        "observation_keys": leaves if obs_space.get("type") == "Dict" else None,
        "skipped_empty_episodes": int((lengths == 0).sum()) or None,
    }
    with contextlib.suppress(TypeError, ValueError):
        extra.update(json.loads(meta.get("hybridrl_metadata") or "{}"))
    return Dataset(
        observations=obs[rows],
        actions=actions,
        rewards=rewards,
        next_observations=obs[rows + 1],
        terminals=terminals,
        timeouts=timeouts,
        name=dataset_id,
        env_id=env_id,
        action_low=low.astype(np.float32) if bounded else None,
        action_high=high.astype(np.float32) if bounded else None,
        ref_min_score=None if meta.get("ref_min_score") is None else float(meta["ref_min_score"]),
        ref_max_score=None if meta.get("ref_max_score") is None else float(meta["ref_max_score"]),
        metadata={k: v for k, v in extra.items() if v is not None},
    )


_Episode = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # obs (T+1, d), actions, rewards, terms, truncs


def _minari_hdf5_episodes(file: Path, leaves: list[str], label: str) -> Iterator[_Episode]:
    """Whole arrays per episode group, straight from h5py."""
    try:
        handle = h5py.File(file, "r")
    except OSError as exc:
        raise source_error(label, f"cannot open {file} ({exc})", "re-create or re-download the dataset") from None
    with handle:
        names = sorted((n for n in handle.keys() if n.startswith("episode_")), key=lambda n: int(n.split("_")[1]))
        for name in names:
            group = h5py.h5g.open(handle.id, name.encode())
            parts = [_read_h5(group, f"observations/{leaf}" if leaf else "observations", name, label) for leaf in leaves]
            yield (
                _concat_leaves(parts),
                _read_h5(group, "actions", name, label),
                _read_h5(group, "rewards", name, label),
                _read_h5(group, "terminations", name, label),
                _read_h5(group, "truncations", name, label),
            )


def _read_h5(group: h5py.h5g.GroupID, key: str, episode: str, label: str) -> np.ndarray:
    """Read one whole array of an episode with h5py's low-level API (much faster than ``group[key][()]`` for small arrays)."""
    try:
        dataset = h5py.h5d.open(group, key.encode())
    except KeyError:
        raise field_error(label, key, f"is missing from {episode}", "re-create or re-download the dataset") from None
    if dataset.dtype.kind not in "biuf":
        raise field_error(label, key, f"of {episode} is stored as {dataset.dtype} (e.g. JPEG-encoded images)", "only numeric arrays are supported")
    out = np.empty(dataset.shape, dtype=dataset.dtype)
    if out.size:
        dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    return out


def _minari_storage_episodes(data_dir: Path, leaves: list[str]) -> Iterator[_Episode]:
    """Non-HDF5 Minari formats (arrow, parquet): let Minari's own storage read whole episodes."""
    from minari.dataset.minari_storage import MinariStorage

    storage = MinariStorage.read(data_dir)
    for episode in storage.get_episodes(range(storage.total_episodes)):
        parts = []
        for leaf in leaves:
            value = episode["observations"]
            for key in filter(None, leaf.split("/")):
                value = value[key]
            parts.append(np.asarray(value))
        yield (
            _concat_leaves(parts),
            np.asarray(episode["actions"]),
            np.asarray(episode["rewards"]),
            np.asarray(episode["terminations"]),
            np.asarray(episode["truncations"]),
        )


def _concat_leaves(parts: list[np.ndarray]) -> np.ndarray:
    flat = [np.asarray(p).reshape(len(p), -1) for p in parts]
    return flat[0] if len(flat) == 1 else np.concatenate(flat, axis=1)


def _flatten_episodes(episodes: Iterator[_Episode], label: str):
    """Concatenate episodes: all observations (sum of T+1 rows) plus flat per-step arrays and lengths T."""
    obs, actions, rewards, terms, truncs, lengths = [], [], [], [], [], []
    for index, (o, a, r, te, tr) in enumerate(episodes):
        steps = len(r)
        for field, array in (("actions", a), ("terminations", te), ("truncations", tr)):
            if len(array) != steps:
                raise field_error(label, field, f"of episode {index} has {len(array)} rows but 'rewards' has {steps}", "re-create the dataset")
        if len(o) != steps + 1:
            raise field_error(
                label, "observations", f"of episode {index} has {len(o)} rows for {steps} steps", "Minari episodes need one more observation than steps"
            )
        if steps == 0:
            lengths.append(0)
            continue
        term, trunc = np.asarray(te, dtype=bool).reshape(-1), np.asarray(tr, dtype=bool).reshape(-1).copy()
        if not (term[-1] or trunc[-1]):
            trunc[-1] = True  # a Minari episode always ends; an unflagged end is a time limit
        obs.append(np.asarray(o, dtype=np.float32))
        actions.append(np.asarray(a, dtype=np.float32).reshape(steps, -1))
        rewards.append(np.asarray(r, dtype=np.float32).reshape(-1))
        terms.append(term)
        truncs.append(trunc)
        lengths.append(steps)
    if not obs:
        raise field_error(label, "observations", "has 0 rows, so the dataset is empty", "provide at least one episode with one step")
    return (
        np.concatenate(obs),
        np.concatenate(actions),
        np.concatenate(rewards),
        np.concatenate(terms),
        np.concatenate(truncs),
        np.asarray(lengths, dtype=np.int64),
    )


# A Minari HDF5 file holds one group per episode, and reading tens of thousands of small groups takes
# tens of seconds (1M random-policy Hopper transitions: 45,455 episodes, 46 s). The flat arrays read
# from a file are therefore cached once, keyed by the file's path, size and modification time, under
# $HYBRIDRL_CACHE_DIR (default ~/.cache/hybridrl/flat; "none" turns the cache off).
_FLAT_KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "lengths")


def _flat_cache_path(file: Path, leaves: list[str]) -> Path | None:
    import hashlib

    root = os.environ.get("HYBRIDRL_CACHE_DIR", str(Path.home() / ".cache" / "hybridrl"))
    if root.lower() == "none":
        return None
    try:
        st = file.resolve().stat()
    except OSError:
        return None
    key = json.dumps([str(file.resolve()), st.st_size, st.st_mtime_ns, leaves])
    return Path(root) / "flat" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"


def _read_flat_cache(cache: Path | None):
    if cache is None or not cache.exists():
        return None
    try:
        with np.load(cache) as z:
            return tuple(z[k] for k in _FLAT_KEYS)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # a damaged cache is ignored and rewritten


def _write_flat_cache(cache: Path | None, flat) -> None:
    if cache is None:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.tmp-{os.getpid()}.npz")
        np.savez(tmp, **dict(zip(_FLAT_KEYS, flat)))
        os.replace(tmp, cache)
    except OSError:
        pass  # the cache only saves time; loading works without it


def _flat_from_dataset(ds: Dataset):
    """The arrays ``_flatten_episodes`` would read back from a Minari file written from ``ds``."""
    lengths = np.diff(np.concatenate([[0], ds.episode_ends + 1])).astype(np.int64)
    rows = _obs_rows(lengths)
    obs = np.empty((len(ds) + len(lengths), ds.obs_dim), np.float32)
    obs[rows] = ds.observations
    obs[rows[ds.episode_ends] + 1] = ds.next_observations[ds.episode_ends]
    return (obs, ds.actions.astype(np.float32), ds.rewards.astype(np.float32), ds.terminals.astype(bool),
            ds.timeouts.astype(bool), lengths)


def _obs_rows(lengths: np.ndarray) -> np.ndarray:
    """Row of each transition's observation in the concatenated (T+1)-per-episode array."""
    kept = lengths[lengths > 0]
    episode = np.repeat(np.arange(kept.size), kept)
    return np.arange(int(kept.sum())) + episode  # every earlier episode adds one extra (final) observation


# ---------------------------------------------------------------------------------------------- writers


def save_npz(ds: Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` (``.npz``) atomically, in the layout :func:`load_dataset` reads."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".npz":
        raise source_error(path, "an NPZ file name must end in .npz", "add the suffix")
    validate(ds, f"{ds.name} (saving to {path})")
    info = {
        "name": ds.name,
        "env_id": ds.env_id,
        "ref_min_score": ds.ref_min_score,
        "ref_max_score": ds.ref_max_score,
        "metadata": _jsonable(ds.metadata),
    }
    arrays: dict[str, np.ndarray] = {field: np.asarray(getattr(ds, field)) for field in FIELDS}
    arrays[METADATA_KEY] = np.asarray(json.dumps(info))
    if ds.action_low is not None:
        arrays["action_low"] = np.asarray(ds.action_low, dtype=np.float32)
    if ds.action_high is not None:
        arrays["action_high"] = np.asarray(ds.action_high, dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def _jsonable(value: Any) -> Any:
    """A JSON-safe copy of metadata: arrays become lists, unknown objects become strings."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def minari_target(dataset_id: str, root: str | os.PathLike | None = None, *, overwrite: bool = False) -> tuple[Path, Path]:
    """The root and the folder ``save_minari(ds, dataset_id, root)`` writes, ``(root, root/dataset_id)``, after
    checking, without writing anything, what would make it fail: a malformed id, an existing dataset without
    ``overwrite``, a root under a file or a folder this user cannot write. Whoever spends minutes making the
    data checks first."""
    if not _DATASET_ID_RE.fullmatch(dataset_id):
        raise source_error(dataset_id, "not a valid Minari dataset id", "use the form (namespace/)name-v<version>, e.g. 'mine/pendulum-v0'")
    root = (Path(root).expanduser() if root is not None else minari_root()).resolve()  # Minari breaks on relative roots
    target = root / dataset_id
    if target.exists() and not overwrite:
        raise source_error(target, f"a dataset with id '{dataset_id}' already exists", "pass overwrite=True (--overwrite) or choose another id")
    existing = root
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise _unwritable(root, f"{existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _unwritable(root, f"no write permission in {existing}")
    return root, target


def _unwritable(root: Path, why: str) -> DatasetError:
    return source_error(root, f"cannot write a dataset here ({why})", "choose a writable root (--root, or $MINARI_DATASETS_PATH)")


def save_minari(ds: Dataset, dataset_id: str, root: str | os.PathLike | None = None, *, overwrite: bool = False) -> Path:
    """Write ``ds`` as Minari dataset ``dataset_id`` under ``root`` (default: Minari's datasets root).

    ``minari.load_dataset(dataset_id)`` with ``MINARI_DATASETS_PATH=root`` reads
    back the same arrays. The dataset is built in a hidden temporary directory
    under ``root`` and renamed into place, so a failure leaves nothing behind.
    Returns the dataset directory ``root/dataset_id``.
    """
    import gymnasium as gym
    import minari

    root, target = minari_target(dataset_id, root, overwrite=overwrite)
    source = f"{ds.name} (saving to Minari id {dataset_id})"
    validate(ds, source)
    _check_chained_observations(ds, source)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp_root = Path(tempfile.mkdtemp(prefix=".hybridrl-tmp-", dir=root))  # hidden: Minari's listings skip it
    except OSError as exc:
        raise _unwritable(root, exc.strerror or str(exc)) from exc
    try:
        obs_space = gym.spaces.Box(-np.inf, np.inf, shape=(ds.obs_dim,), dtype=np.float32)
        low = np.full(ds.act_dim, -np.inf, np.float32) if ds.action_low is None else np.broadcast_to(ds.action_low, (ds.act_dim,))
        high = np.full(ds.act_dim, np.inf, np.float32) if ds.action_high is None else np.broadcast_to(ds.action_high, (ds.act_dim,))
        action_space = gym.spaces.Box(np.asarray(low, np.float32), np.asarray(high, np.float32), dtype=np.float32)
        with _minari_root(tmp_root), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Minari warns about every optional field we leave out
            created = minari.create_dataset_from_buffers(
                dataset_id,
                _episode_buffers(ds),
                observation_space=obs_space,
                action_space=action_space,
                description=f"Written by hybridrl from dataset '{ds.name}'.",
            )
            extra: dict[str, Any] = {}
            if ds.env_id:
                extra["env_spec"] = _env_spec_json(ds.env_id)
            if ds.ref_min_score is not None:
                extra["ref_min_score"] = float(ds.ref_min_score)
            if ds.ref_max_score is not None:
                extra["ref_max_score"] = float(ds.ref_max_score)
            if ds.metadata:
                extra["hybridrl_metadata"] = json.dumps(_jsonable(ds.metadata))
            if extra:
                created.storage.update_metadata(extra)
        _move_into_place(tmp_root, root, dataset_id)
        _write_flat_cache(_flat_cache_path(target / "data" / "main_data.hdf5", [""]), _flat_from_dataset(ds))
    except DatasetError:
        raise
    except (ValueError, TypeError, OSError) as exc:
        raise source_error(target, f"writing the Minari dataset failed ({exc})", "nothing was written, fix the cause and retry") from exc
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    return target


def _check_chained_observations(ds: Dataset, source: str) -> None:
    """Minari stores each observation once, so next_observations[t] must equal observations[t + 1] inside episodes."""
    inside = np.ones(len(ds), dtype=bool)
    inside[ds.episode_ends] = False
    rows = np.flatnonzero(inside)
    differs = (ds.next_observations[rows] != ds.observations[rows + 1]).any(axis=1)
    if differs.any():
        i = int(rows[np.argmax(differs)])
        raise field_error(
            source,
            "next_observations",
            f"at transition {i} differs from observations[{i + 1}] inside an episode, which the Minari format cannot store",
            "end the episode there (timeouts[i]=True) or save with save_npz instead",
        )


def _episode_buffers(ds: Dataset) -> list:
    from minari.data_collector.episode_buffer import EpisodeBuffer

    buffers = []
    for index, (start, end) in enumerate(zip(ds.episode_starts, ds.episode_ends)):
        stop = end + 1
        buffers.append(
            EpisodeBuffer(
                id=index,
                observations=np.concatenate([ds.observations[start:stop], ds.next_observations[end:stop]]),
                actions=ds.actions[start:stop],
                rewards=ds.rewards[start:stop],
                terminations=ds.terminals[start:stop],
                truncations=ds.timeouts[start:stop],
            )
        )
    return buffers


def _env_spec_json(env_id: str) -> str:
    """The registered spec of ``env_id`` as JSON, or a bare spec holding just the id if it is not registered."""
    import gymnasium as gym
    from gymnasium.envs.registration import EnvSpec

    try:
        return gym.spec(env_id).to_json()
    except (gym.error.Error, TypeError, ValueError):
        return EnvSpec(id=env_id).to_json()


@contextlib.contextmanager
def _minari_root(path: Path) -> Iterator[None]:
    """Point Minari at ``path`` for the duration (Minari reads the root from the environment)."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def _move_into_place(tmp_root: Path, root: Path, dataset_id: str) -> None:
    """Rename the finished dataset from the temporary root to ``root``; replace an old one only after success."""
    target = root / dataset_id
    target.parent.mkdir(parents=True, exist_ok=True)
    # Namespace marker files Minari wrote for the id's namespaces, where the real root lacks them.
    parts = dataset_id.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        marker = Path(*parts[:depth]) / "namespace_metadata.json"
        if (tmp_root / marker).is_file() and not (root / marker).exists():
            shutil.copyfile(tmp_root / marker, root / marker)
    old = None
    if target.exists():
        old = tmp_root / ".old"
        os.rename(target, old)
    try:
        os.rename(tmp_root / dataset_id, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise
