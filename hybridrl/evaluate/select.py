"""Checkpoint selection without the environment: rank every checkpoint of some runs by FQE.

Each seed of each checkpoint of each run is one candidate policy; all of them
are fitted by one vmapped FQE program (:mod:`hybridrl.evaluate.fqe`). Where a
run's ``eval.jsonl`` holds the true evaluation return of a candidate, the
ranking is checked against it: Spearman's rank correlation, and the regret of
FQE's pick (best true return minus the true return of the candidate FQE ranks
first).

Only checkpoints still on disk can be ranked: a run keeps the newest
``--keep-checkpoints`` (default 3), so train with a larger value to select
among more.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Sequence

import flax.serialization
import numpy as np

from hybridrl.data.dataset import Dataset, DatasetError
from hybridrl.evaluate.fqe import FQEConfig, fit_fqe, held_out_split
from hybridrl.train.run_dir import RunError, read_json, read_jsonl, write_json

SPLITS = ("held-out", "all")


@dataclasses.dataclass
class Candidate:
    run: str
    step: int
    seed: int
    fqe: float = float("nan")  # mean over initial states of Q(s0, pi(s0)), a discounted return
    fqe_all_states: float = float("nan")  # mean over all states of Q(s, pi(s))
    true_return: float | None = None  # mean evaluation return from eval.jsonl (undiscounted)
    normalized_score: float | None = None


@dataclasses.dataclass
class Selection:
    candidates: list[Candidate]  # best FQE estimate first
    spearman: float | None  # rank correlation of FQE estimates with true returns (>= 3 pairs), else None
    pairs: int  # candidates with a true return
    pick: Candidate  # the candidate FQE ranks first
    best_true: Candidate | None  # the candidate with the highest true return, if any
    regret: float | None  # best_true.true_return - pick.true_return, when both are known
    info: dict[str, Any]  # dataset, split, FQE settings

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.info,
            "spearman": self.spearman,
            "pairs_with_true_return": self.pairs,
            "pick": dataclasses.asdict(self.pick),
            "best_true": None if self.best_true is None else dataclasses.asdict(self.best_true),
            "regret": self.regret,
            "candidates": [dataclasses.asdict(c) for c in self.candidates],
        }


def _true_returns(run_dir: Path) -> dict[tuple[int, int], dict]:
    return {(int(r["step"]), int(r["seed"])): r for r in read_jsonl(run_dir / "eval.jsonl")}


def _check_dims(run_dir: Path, dataset: Dataset, source: str, prep) -> None:
    obs_dim, act_dim = prep.obs_mean.shape[0], prep.action_low.shape[0]
    if dataset.obs_dim != obs_dim:
        raise DatasetError(f"{source}: observations have dimension {dataset.obs_dim} but {run_dir} was trained on "
                           f"{obs_dim}; pass data from the run's environment")
    if dataset.act_dim != act_dim:
        raise DatasetError(f"{source}: actions have dimension {dataset.act_dim} but {run_dir} was trained on "
                           f"{act_dim}; pass data from the run's environment")


def load_candidates(run_dirs: Sequence[str | Path], dataset: Dataset, source: str) -> tuple[list, list[Candidate]]:
    """(policies, candidates): every checkpoint of every run as a loaded Policy, and one Candidate per seed."""
    from hybridrl.data.sampler import Preprocessing
    from hybridrl.evaluate.policy import load_policy
    from hybridrl.train import checkpoint

    policies, candidates = [], []
    for run in run_dirs:
        run_dir = Path(run)
        if not (run_dir / "config.json").exists():
            raise RunError(f"{run_dir}: not a run folder (no config.json); pass a folder `hybridrl train` wrote")
        steps = [step for step, _ in checkpoint.list_checkpoints(run_dir / "checkpoints")]
        if not steps:
            raise RunError(f"{run_dir}: no checkpoints to rank; train it with --keep-checkpoints N to keep the newest N "
                           f"(default 3)")
        _check_dims(run_dir, dataset, source, Preprocessing.from_dict(read_json(run_dir / "preprocessing.json")))
        evals = _true_returns(run_dir)
        first = load_policy(run_dir, steps[0])
        for step, path in checkpoint.list_checkpoints(run_dir / "checkpoints"):
            policy = first
            if step != steps[0]:
                # Same agent, same shapes: restore only the states, and keep the compiled act function.
                raw = flax.serialization.msgpack_restore(path.read_bytes())
                policy = copy.copy(first)
                policy.states = flax.serialization.from_state_dict(first.states, raw["states"])
            policies.append(policy)
            for seed in policy.seeds:
                record = evals.get((step, seed))
                candidates.append(Candidate(
                    run=str(run), step=step, seed=seed,
                    true_return=None if record is None else float(record["return_mean"]),
                    normalized_score=None if record is None else record.get("normalized_score")))
    return policies, candidates


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman's rank correlation (ties get average ranks); None with fewer than 3 pairs or a constant input."""
    from scipy.stats import spearmanr

    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return None
    return float(spearmanr(x, y).statistic)


def select_checkpoints(
    run_dirs: Sequence[str | Path],
    dataset: Dataset,
    source: str,
    *,
    split: str = "held-out",
    config: FQEConfig = FQEConfig(),
    seed: int = 0,
    progress: bool = True,
) -> Selection:
    """Fit FQE for every seed of every checkpoint of ``run_dirs`` on ``dataset`` (or its held-out 20%) and rank them."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; use held-out or all")
    if not run_dirs:
        raise RunError("no run folders given; pass at least one RUN_DIR")
    policies, candidates = load_candidates(run_dirs, dataset, source)
    data = held_out_split(dataset)[1] if split == "held-out" else dataset
    prep = policies[0].prep  # dataset actions are scaled with the first run's bounds; policies' actions too
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn()]
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"FQE x{len(candidates)} policies", total=config.steps)
        result = fit_fqe(policies, data, config, seed=seed, action_low=prep.action_low, action_high=prep.action_high,
                         on_progress=lambda done: bar.update(task, completed=done))
    for c, v, m in zip(candidates, result.initial_value, result.mean_value):
        c.fqe, c.fqe_all_states = float(v), float(m)
    ranked = sorted(candidates, key=lambda c: -c.fqe)
    known = [c for c in ranked if c.true_return is not None]
    rho = spearman(np.array([c.fqe for c in known]), np.array([c.true_return for c in known]))
    best = max(known, key=lambda c: c.true_return) if known else None
    pick = ranked[0]
    regret = None if best is None or pick.true_return is None else best.true_return - pick.true_return
    info = {
        "runs": [str(r) for r in run_dirs],
        "dataset": {"source": source, "name": dataset.name, "split": split, "transitions": len(data),
                    "episodes": data.num_episodes},
        "fqe": {**dataclasses.asdict(config), "seed": seed,
                "estimate": "mean over the split's initial states of Q(s0, pi(s0)), gamma-discounted, reward units"},
    }
    return Selection(ranked, rho, len(known), pick, best, regret, info)


def write_selection(selection: Selection, run_dirs: Sequence[str | Path]) -> list[Path]:
    """Write the whole ranking to ``RUN_DIR/selection.json`` of every run (atomically)."""
    out = []
    for run in run_dirs:
        path = Path(run) / "selection.json"
        write_json(path, selection.to_dict())
        out.append(path)
    return out
