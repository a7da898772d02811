"""The run folder: what a run writes, and how it is read back.

    RUN_DIR/
      config.json          resolved run and agent configuration
      meta.json            package versions, git commit, machine, command line
      preprocessing.json   observation statistics, action bounds, reward scale
      metrics.jsonl        one record per log step per seed
      eval.jsonl           one record per evaluation per seed
      summary.json         final scores, wall time split, peak memory (written when the run ends)
      checkpoints/         step_*.msgpack (Flax msgpack, atomic)
      evaluations.jsonl    one record per seed per `hybridrl evaluate` (written by it, not by training)
      selection.json       FQE's ranking of the checkpoints (written by `hybridrl select`)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from hybridrl.train.checkpoint import atomic_write_bytes

class RunError(ValueError):
    """A run cannot start or resume; the message says why and what to do."""


PACKAGES = ("hybridrl", "jax", "jaxlib", "flax", "optax", "numpy", "gymnasium", "mujoco", "minari", "h5py")


def write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(Path(path), (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def append_jsonl(path: Path, records: list[dict]) -> None:
    with open(path, "a") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut short by a kill: everything after it is lost anyway
    return records


def truncate_jsonl(path: Path, max_step: int) -> None:
    """Drop records logged after ``max_step`` (work after the checkpoint we resume from)."""
    path = Path(path)
    if path.exists():
        kept = [r for r in read_jsonl(path) if r.get("step", 0) <= max_step]
        atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in kept).encode())


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the git checkout holding the hybridrl source, if it is one."""
    src = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=src,
                                capture_output=True, text=True, timeout=10)
        return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def run_metadata() -> dict[str, Any]:
    import jax

    return {
        "packages": package_versions(),
        "git": git_state(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpu_model": _cpu_model(),
            "cpu_count": os.cpu_count(),
            "memory_gb": _memory_gb(),
            "devices": [str(d) for d in jax.devices()],
            "gpus": [d.device_kind for d in jax.devices() if d.platform == "gpu"],
        },
        "command": sys.argv,
        "xla_flags": os.environ.get("XLA_FLAGS"),  # thread settings change float results, so record them
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def peak_memory_mb() -> dict[str, float | None]:
    """Peak resident memory of this process (host) and peak bytes in use on the first device, where reported."""
    import resource

    import jax

    host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    if sys.platform == "darwin":
        host /= 1024  # macOS reports bytes
    stats = jax.devices()[0].memory_stats() or {}
    device = stats.get("peak_bytes_in_use")
    return {"host": round(host, 1), "device": None if device is None else round(device / 2**20, 1)}


def run_mode(run_dir: Path) -> str | None:
    """The ``mode`` a run folder's config.json records: "online" (online and fine-tuning runs), "onpolicy" (hnpg),
    or None for offline runs, which record none, and for folders without a config.json."""
    path = Path(run_dir) / "config.json"
    return read_json(path).get("mode") if path.exists() else None


def write_summary(out: Path, step: int, seeds: list[int], last_eval: dict | None, timings: dict[str, float],
                  extra: dict[str, Any] | None = None) -> None:
    """summary.json: the step reached, final returns and normalized scores per seed, wall time split, peak memory,
    and the loop's own ``extra`` fields."""
    returns = None if last_eval is None else last_eval["returns"]
    scores = None if last_eval is None else last_eval["scores"]
    write_json(out / "summary.json", {
        "step": step,
        "seeds": seeds,
        "final_return": None if returns is None else [float(x) for x in returns],
        "final_normalized_score": None if scores is None else [float(x) for x in scores],
        "final_normalized_score_mean": None if scores is None else float(sum(scores) / len(scores)),
        "timings_s": timings,
        "peak_memory_mb": peak_memory_mb(),
        **(extra or {}),
    })


def start_run_dir(out: Path, config: dict[str, Any], preprocessing: dict[str, Any]) -> None:
    """Create ``out`` with config.json, preprocessing.json and meta.json; refuse a folder that is not empty.

    If writing fails, the folder is removed again, so no half-written run is left behind.
    """
    import shutil

    if out.exists() and any(out.iterdir()):
        raise RunError(f"{out} already exists and is not empty; pass --resume {out} to continue it, or choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"cannot create the run folder {out} ({exc.strerror or exc}); choose another --out") from exc
    try:
        write_json(out / "config.json", config)
        write_json(out / "preprocessing.json", preprocessing)
        write_json(out / "meta.json", run_metadata())
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
