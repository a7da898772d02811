"""Read NeoRL-2's official dataset files and compute their data score (shared/reference/neorl2.md 0.2 and 0.4).

An official file ``<TASK>-train.npz`` / ``<TASK>-val.npz`` holds float32 arrays ``obs`` (N, obs_dim),
``action`` (N, act_dim), ``next_obs``, ``reward`` (N,), ``done`` (N,) and ``truncated`` (N,), trajectories back
to back; a trajectory ends where ``done`` (the environment terminated) or ``truncated`` (the time limit cut it)
is 1. :func:`load_neorl2` turns one into a :class:`hybridrl.data.Dataset` with ``terminals = done`` and
``timeouts = truncated and not done``, env id ``neorl2/TASK-v0``, action bounds [-1, 1] and NeoRL-2's
reference scores. ``hybridrl.data.load_dataset`` (and so ``hybridrl train ... --dataset DMSD-train.npz``)
hands any npz with this key layout to :func:`load_neorl2` with its defaults.

Default truncation, as NeoRL-2's own ``get_dataset()`` does it (section 0.2):

* RocketRecovery keeps its first 100 train / 25 val trajectories, Fusion its first 20 train / 5 val;
* every other task's file is returned whole;
* ``traj_num=n`` (any task) keeps the first n train / ``int(n/4)`` val trajectories;
* ``official_truncation=False`` (and no ``traj_num``) returns every file whole.

The benchmark's tables and its data score are defined on these truncated sets; ``metadata`` records how many
trajectories the file held and how many were kept.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from hybridrl.data.dataset import Dataset
from hybridrl.data.loaders import _to_flags, _to_float
from hybridrl.data.validate import field_error, missing_field_error, source_error, validate
from hybridrl.envs.neorl2 import TASKS, env_id
from hybridrl.envs.scores import normalized_score, reference_scores

NEORL2_KEYS = ("obs", "action", "next_obs", "reward", "done", "truncated")
SPLITS = ("train", "val")
# (obs_dim, act_dim) per task: section 0.1.
TASK_DIMS: dict[str, tuple[int, int]] = {
    "Pipeline": (52, 1),
    "Simglucose": (31, 1),
    "RocketRecovery": (7, 2),
    "RandomFrictionHopper": (13, 3),
    "DMSD": (6, 2),
    "Fusion": (15, 6),
    "SafetyHalfCheetah": (18, 6),
}
# get_dataset()'s traj_num when the caller passes none: section 0.2.
DEFAULT_TRAJ_NUM = {"RocketRecovery": 100, "Fusion": 20}
VAL_DIVISOR = 4  # val keeps int(traj_num / 4) trajectories
_REDOWNLOAD = "download it again from http://datasets.polixir.site/neorl2/ and check its MD5 (neorl2.md 0.2)"


def is_neorl2_layout(keys) -> bool:
    """Whether npz keys follow NeoRL-2's layout (``obs``, ``action``, ...) rather than hybridrl's (``observations``, ...)."""
    keys = set(keys)
    return "obs" in keys and "observations" not in keys


def load_neorl2(
    path: str | os.PathLike,
    traj_num: int | None = None,
    task: str | None = None,
    split: str | None = None,
    *,
    official_truncation: bool = True,
) -> Dataset:
    """Load an official NeoRL-2 ``.npz`` file as a :class:`Dataset` (neorl2.md 0.2; truncation rules above).

    ``task`` ('DMSD', 'Fusion', ...) and ``split`` ('train' or 'val') are read from a file name like
    ``DMSD-train.npz`` when not given; the split is needed only when trajectories are cut. A malformed file
    is refused with a one-line :class:`hybridrl.data.DatasetError` naming the file, the field and the fix.
    """
    label = str(path)
    path = Path(path).expanduser()
    task, split = _task_and_split(path, task, split, label)
    keep = _trajectories_to_keep(task, split, traj_num, official_truncation, label)
    arrays = _read_arrays(path, label)
    ds = _to_dataset(arrays, task, label)
    validate(ds, label)  # finite values, actions in [-1, 1], dtypes
    file_trajectories = ds.num_episodes
    if keep is not None and keep < file_trajectories:
        stop = int(ds.episode_ends[keep - 1]) + 1
        ds = ds.replace(**{name: getattr(ds, name)[:stop] for name in
                           ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")})
    if traj_num is not None:
        rule = f"traj_num={traj_num}: first {keep} {split} trajectories"
    elif keep is not None:
        rule = f"NeoRL-2 default for {task}: first {keep} {split} trajectories"
    else:
        rule = "none (whole file)"
    ds.name = f"neorl2-{task}-{split}" if split else f"neorl2-{task}"
    ds.metadata = {
        "source": str(path.resolve()),
        "format": "neorl2",
        "task": task,
        "split": split,
        "truncation": rule,
        "file_transitions": int(arrays["reward"].shape[0]),
        "file_trajectories": int(file_trajectories),
        "kept_trajectories": int(ds.num_episodes),
    }
    return ds


def data_score(dataset: Dataset) -> float:
    """NeoRL-2's "data score" (neorl2.md 0.4): sum of rewards / number of trajectories, normalised.

    For the official number pass the train set as :func:`load_neorl2` returns it by default (with the
    default truncation of RocketRecovery and Fusion).
    """
    ref = reference_scores(dataset.env_id, dataset.ref_min_score, dataset.ref_max_score)
    if ref is None:
        raise ValueError(
            f"dataset '{dataset.name}' has no reference scores (env id {dataset.env_id!r}); "
            "load it with load_neorl2 or set ref_min_score and ref_max_score"
        )
    mean_return = float(np.sum(dataset.rewards, dtype=np.float64)) / dataset.num_episodes
    return float(normalized_score(mean_return, ref))


# ---------------------------------------------------------------------------------------------- helpers


def _task_and_split(path: Path, task: str | None, split: str | None, label: str) -> tuple[str, str | None]:
    """Task and split from the arguments, else from a name like ``DMSD-train.npz`` (or ``DMSD-high-...-val.npz``)."""
    parts = path.stem.split("-")
    by_name = {name.lower(): name for name in TASKS}
    if task is None:
        task = by_name.get(parts[0].lower())
        if task is None:
            raise source_error(
                label,
                "cannot tell the NeoRL-2 task from the file name",
                f"name the file TASK-train.npz or TASK-val.npz, or pass task= (one of {', '.join(TASKS)})",
            )
    elif task not in TASKS:
        raise ValueError(f"unknown NeoRL-2 task {task!r}; use one of {', '.join(TASKS)}")
    if split is None:
        split = parts[-1].lower() if len(parts) > 1 and parts[-1].lower() in SPLITS else None
    elif split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    return task, split


def _trajectories_to_keep(task: str, split: str | None, traj_num: int | None, official: bool, label: str) -> int | None:
    """How many leading trajectories get_dataset() keeps (section 0.2), or None for the whole file."""
    if traj_num is not None:
        if isinstance(traj_num, bool) or not isinstance(traj_num, (int, np.integer)) or traj_num < 1:
            raise ValueError(f"traj_num must be a positive integer (trajectories to keep), got {traj_num!r}")
        n = int(traj_num)
    elif official and task in DEFAULT_TRAJ_NUM:
        n = DEFAULT_TRAJ_NUM[task]
    else:
        return None
    if split is None:
        raise source_error(
            label,
            f"traj_num={n} keeps n train but int(n/4) val trajectories, and the file name does not say which split this is",
            "pass split='train' or split='val'" + ("" if traj_num is not None else ", or official_truncation=False for the whole file"),
        )
    keep = n if split == "train" else n // VAL_DIVISOR
    if keep == 0:
        raise ValueError(f"traj_num={n} keeps int({n}/4) = 0 val trajectories; pass traj_num >= 4")
    return keep


def _read_arrays(path: Path, label: str) -> dict[str, np.ndarray]:
    """The six arrays of a NeoRL-2 npz; unreadable or incomplete files are refused."""
    if not path.is_file():
        raise source_error(label, "no such file", f"check the path (relative paths start at {os.getcwd()})")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise source_error(label, f"not a readable NPZ file ({type(exc).__name__}), perhaps truncated", _REDOWNLOAD) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise source_error(label, "holds a single array, not an NPZ archive of named arrays", _REDOWNLOAD)
    arrays = {}
    with archive:
        for key in NEORL2_KEYS:
            if key not in archive.files:
                raise missing_field_error(label, key, archive.files, f"a NeoRL-2 file holds {', '.join(NEORL2_KEYS)}; {_REDOWNLOAD}")
            try:
                arrays[key] = archive[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise field_error(label, key, f"cannot be read ({type(exc).__name__}), the file is damaged", _REDOWNLOAD) from None
    return arrays


def _to_dataset(arrays: dict[str, np.ndarray], task: str, label: str) -> Dataset:
    """Check shapes against the task (section 0.1) and build the Dataset; messages name the npz keys."""
    obs_dim, act_dim = TASK_DIMS[task]
    rows = arrays["obs"].shape[0] if arrays["obs"].ndim else 0
    expected = {"obs": (rows, obs_dim), "action": (rows, act_dim), "next_obs": (rows, obs_dim),
                "reward": (rows,), "done": (rows,), "truncated": (rows,)}
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            wanted = "(N, " + ", ".join(str(s) for s in shape[1:]) + ")" if len(shape) > 1 else "(N,)"
            raise field_error(
                label, key, f"has shape {arrays[key].shape} but a {task} file needs {wanted} with N = {rows} rows as in 'obs'",
                f"pass the right task= if this is not {task} data, else {_REDOWNLOAD}",
            )
    if rows == 0:
        raise field_error(label, "obs", "has 0 rows, so the file holds no transitions", _REDOWNLOAD)
    done = _to_flags(arrays["done"], "done", label)
    truncated = _to_flags(arrays["truncated"], "truncated", label)
    if not (done[-1] or truncated[-1]):
        raise field_error(
            label, "truncated", f"is 0 at the last row (index {rows - 1}) and so is 'done', so the last trajectory never ends",
            f"the file is cut mid-trajectory: {_REDOWNLOAD}, or drop the rows after the last episode end",
        )
    ref = reference_scores(env_id(task))
    return Dataset(
        observations=_to_float(arrays["obs"], "obs", label),
        actions=_to_float(arrays["action"], "action", label),
        rewards=_to_float(arrays["reward"], "reward", label),
        next_observations=_to_float(arrays["next_obs"], "next_obs", label),
        terminals=done,
        timeouts=truncated & ~done,
        name=f"neorl2-{task}",
        env_id=env_id(task),
        action_low=np.full(act_dim, -1.0, np.float32),
        action_high=np.full(act_dim, 1.0, np.float32),
        ref_min_score=ref[0],
        ref_max_score=ref[1],
    )
