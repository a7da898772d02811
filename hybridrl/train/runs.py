"""Finding run folders and summarising them: what `hybridrl runs ls` prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hybridrl.train import checkpoint
from hybridrl.train.run_dir import RunError, read_json, read_jsonl


def short(n: int) -> str:
    """1500 -> '1.5k', 500000 -> '500k', 2000000 -> '2M'."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size:
            return f"{n / size:.4g}{unit}"
    return str(n)


def find_runs(root: str | Path) -> list[Path]:
    """Every folder under ``root`` (``root`` included) that holds a config.json written by a run."""
    root = Path(root)
    if not root.is_dir():
        raise RunError(f"{root}: no such folder; pass the folder that holds your runs (default output: runs/)")
    found = sorted(p.parent for p in root.rglob("config.json") if (p.parent / "meta.json").exists())
    if not found:
        raise RunError(f"{root}: no run folders found (a run folder holds config.json and meta.json)")
    return found


def summarize(run_dir: Path, root: Path | None = None) -> dict[str, Any]:
    """One row about a run: what, how far, how it scored, how fast, on what."""
    config = read_json(run_dir / "config.json")
    meta = read_json(run_dir / "meta.json")
    run = config["run"]
    mode = config.get("mode", "offline")
    summary = read_json(run_dir / "summary.json") if (run_dir / "summary.json").exists() else None
    # A run's step: an update offline; pre-training updates plus environment steps online; an iteration for hnpg.
    if mode == "online":
        planned = run["offline_steps"] + run["online_steps"]
    elif mode == "onpolicy":
        planned = run["iterations"]
    else:
        planned = run["steps"]
    last_ckpt = checkpoint.latest(run_dir / "checkpoints")
    step = summary["step"] if summary else (last_ckpt[0] if last_ckpt else 0)
    if summary and step >= planned:
        status = "finished"
    elif last_ckpt:
        status = f"ckpt {short(last_ckpt[0])}"  # not finished: running now, or stopped (resume it)
    else:
        status = "no ckpt"
    evals = read_jsonl(run_dir / "eval.jsonl")
    score = None
    if summary and summary.get("final_normalized_score_mean") is not None:
        score = summary["final_normalized_score_mean"]
    elif evals:
        last = max(r["step"] for r in evals)
        values = [r.get("normalized_score", r["return_mean"]) for r in evals if r["step"] == last]
        score = sum(values) / len(values)
    timings = (summary or {}).get("timings_s", {})
    git = meta.get("git") or {}
    return {
        "run": str(run_dir.relative_to(root)) if root and run_dir != root else str(run_dir),
        "algo": run["algo"],
        "mode": mode,
        "data": (run["dataset"] or run["env"]) if mode == "online" else run.get("dataset", run.get("env")),
        "env": run.get("env"),
        "seeds": run.get("seeds", 1),  # hnpg runs one seed
        "step": step,
        "planned_steps": planned,
        "status": status,
        "score": score,
        "score_is_normalized": bool(config.get("reference_scores")),
        "updates_per_s": timings.get("updates_per_s"),
        "timings_s": {k: timings.get(k) for k in ("compile", "train", "evaluate", "io")},
        "peak_memory_mb": (summary or {}).get("peak_memory_mb"),
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "machine": meta.get("machine"),
        "started": meta.get("started"),
    }


def list_runs(root: str | Path) -> list[dict[str, Any]]:
    root = Path(root)
    return [summarize(run_dir, root) for run_dir in find_runs(root)]
