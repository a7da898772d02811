"""Checkpoints as Flax msgpack (no pickle), written atomically: temporary file, fsync, rename."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import numpy as np

_NAME = re.compile(r"^step_(\d+)\.msgpack$")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save(directory: Path, step: int, tree: Any, keep: int | None = None) -> Path:
    """Write ``tree`` as ``directory/step_{step}.msgpack``; keep only the newest ``keep`` files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"step_{step:09d}.msgpack"
    host_tree = jax.tree.map(np.asarray, tree)
    atomic_write_bytes(path, flax.serialization.to_bytes(host_tree))
    if keep is not None:
        for old in list_checkpoints(directory)[:-keep]:
            old[1].unlink(missing_ok=True)
    return path


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """(step, path) of every complete checkpoint in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def latest(directory: Path) -> tuple[int, Path] | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


def restore(path: Path, template: Any) -> Any:
    """Read a checkpoint into the structure of ``template`` (same pytree, same shapes)."""
    return flax.serialization.from_bytes(template, Path(path).read_bytes())
