"""Optional experiment trackers: Weights & Biases and MLflow, off by default.

``hybridrl train ... --logger wandb --logger mlflow`` sends the same numbers
that go to metrics.jsonl, eval.jsonl and tb/ (tags ``train/<name>/seed_S`` and
``eval/<name>/seed_S``) to those services as well. Neither package is a
dependency: each is imported only when asked for, and a missing one stops the
run before its folder is created, with the pip command that installs it.

Where the data goes is each package's own business and is set the usual way:
``WANDB_PROJECT`` (default ``hybridrl``), ``WANDB_MODE=offline``, ``wandb login``;
``MLFLOW_TRACKING_URI`` (default ``./mlruns``), ``MLFLOW_EXPERIMENT_NAME``
(default ``hybridrl``). The tracker's run id is kept in ``RUN_DIR/loggers.json``
so that ``--resume`` continues the same tracker run. Points logged after the
checkpoint a run resumes from are logged again; W&B ignores steps that go
backwards, MLflow keeps both.
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

from hybridrl.train.run_dir import RunError, append_jsonl, read_json, write_json
from hybridrl.train.tensorboard import EventWriter, record_scalars

LOGGERS = ("wandb", "mlflow")


def require(names: list[str]) -> dict[str, ModuleType]:
    """Check the logger names and import their packages; a RunError says how to install a missing one."""
    modules = {}
    for name in names:
        if name not in LOGGERS:
            raise RunError(f"unknown --logger '{name}'; choose from {', '.join(LOGGERS)}")
        try:
            modules[name] = importlib.import_module(name)
        except ImportError as exc:
            raise RunError(f"--logger {name} needs the {name} package ({exc}); "
                           f"install with pip install 'hybridrl[{name}]'") from exc
    return modules


class _Wandb:
    def __init__(self, wandb: ModuleType, run_dir: Path, config: dict[str, Any], run_id: str | None) -> None:
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "hybridrl"), name=run_dir.name,
                              dir=str(run_dir), config=config, id=run_id, resume="allow")
        self.id = self.run.id

    def log(self, step: int, scalars: dict[str, float]) -> None:
        self.run.log(scalars, step=step)

    def close(self) -> None:
        self.run.finish()


class _Mlflow:
    def __init__(self, mlflow: ModuleType, run_dir: Path, config: dict[str, Any], run_id: str | None) -> None:
        self.mlflow = mlflow
        if run_id is None:
            mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "hybridrl"))
        self.id = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_dir.name).info.run_id
        if run_id is None:  # parameters cannot change once logged, so only a new run logs them
            mlflow.log_params({k: str(v)[:500] for k, v in _flatten(config).items()})

    def log(self, step: int, scalars: dict[str, float]) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in scalars.items()}, step=step)

    def close(self) -> None:
        self.mlflow.end_run()


_CLASSES = {"wandb": _Wandb, "mlflow": _Mlflow}


class Loggers:
    """The trackers named in ``names`` for one run folder; with no names every call does nothing."""

    def __init__(self, names: list[str], run_dir: str | Path, config: dict[str, Any]) -> None:
        run_dir = Path(run_dir)
        modules = require(names)
        ids_path = run_dir / "loggers.json"
        ids = read_json(ids_path) if ids_path.exists() else {}
        self.trackers = []
        try:
            for name in names:
                tracker = _CLASSES[name](modules[name], run_dir, config, ids.get(name))
                self.trackers.append(tracker)
                ids[name] = tracker.id
        except BaseException:
            self.close()
            raise
        if self.trackers:
            write_json(ids_path, ids)

    def records(self, step: int, records: list[dict], group: str) -> None:
        """Per-seed records, tagged as in tb/: ``group/name/seed_S``."""
        scalars = {k: v for k, v in record_scalars(records, group).items() if v == v}  # NaN dropped, as in tb/
        if scalars:
            for tracker in self.trackers:
                tracker.log(step, scalars)

    def close(self) -> None:
        for tracker in self.trackers:
            tracker.close()
        self.trackers = []


class RunLog:
    """Where a training loop's records go: metrics.jsonl / eval.jsonl, TensorBoard files in tb/, and the trackers.

    ``records(step, records, "train")`` appends to metrics.jsonl, ``"eval"`` to eval.jsonl. Each process writes
    a new TensorBoard file. If a tracker fails to start on a new run, the just-made run folder is removed again.
    """

    FILES = {"train": "metrics.jsonl", "eval": "eval.jsonl"}

    def __init__(self, run_dir: Path, names: list[str], resume: bool) -> None:
        self.run_dir = Path(run_dir)
        self.tb = EventWriter(self.run_dir / "tb")
        try:
            self.trackers = Loggers(names, self.run_dir, read_json(self.run_dir / "config.json"))
        except Exception:
            if not resume:
                shutil.rmtree(self.run_dir, ignore_errors=True)  # nothing trained yet: leave no half-made folder
            raise

    def records(self, step: int, records: list[dict], group: str) -> None:
        append_jsonl(self.run_dir / self.FILES[group], records)
        self.tb.records(step, records, group)
        self.trackers.records(step, records, group)

    def close(self) -> None:
        self.trackers.close()


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"run": {"steps": 5}} -> {"run.steps": 5}; lists stay whole."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def progress_bar(disable: bool):
    """The training loops' progress bar: description, bar, done/total, a free ``info`` field, elapsed, remaining."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(), disable=disable)
