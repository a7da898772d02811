"""The NeoRL-2 results table (docs/neorl2.md) from the folders scripts/neorl2_results.sh keeps.

    python scripts/neorl2_table.py results/neorl2 [--data DIR]

For each task: NeoRL-2's data score (neorl2.md 0.4) of the data its runs trained on, as their config.json
names it: an official file, or our regenerated data where no official file is at hand (Pipeline). A task with
no run yet shows the official file in DIR ($HYBRIDRL_NEORL2_DATA or ../shared/data/neorl2). For each algorithm:

- last: the normalized score of the last checkpoint, mean +- std over seeds (population std);
- FQE: for each seed, the checkpoint FQE ranks first among that seed's checkpoints (selection.json), scored the
  same way; mean +- std over seeds. No online return takes part in the choice. "FQE not run" until the
  second pass of scripts/neorl2_results.sh has reached the run.

A checkpoint is scored by its evaluation with the most episodes: evaluations.jsonl (`hybridrl evaluate`, 100
episodes per seed in scripts/neorl2_results.sh) where it is there, else training's eval.jsonl (10 episodes). A
cell says how many episodes per seed it rests on.

A mark after a score says whether it beats the data score by more than 3 points (NeoRL-2's test).

The data score is kept in ROOT/TASK/data.json each time it is computed, and read from there when the data is
not at hand (runs/ does not outlive a session, and regenerating Pipeline's data takes a while); a task with
neither says so in its row.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

ALGOS = ("bc", "td3_bc", "iql")
TASKS = ("Pipeline", "Simglucose", "RocketRecovery", "RandomFrictionHopper", "DMSD", "Fusion", "SafetyHalfCheetah")


Scores = tuple[np.ndarray, int]  # (normalized score per seed, fewest episodes per seed behind them)


def fqe_picks(run: str | Path) -> dict[int, int]:
    """seed -> step of the checkpoint FQE ranks first among that seed's checkpoints (run/selection.json)."""
    picks = {}
    for c in sorted(json.loads((Path(run) / "selection.json").read_text())["candidates"], key=lambda c: -c["fqe"]):
        picks.setdefault(c["seed"], c["step"])  # the seed's highest estimate; the first of equal ones
    return picks


def run_scores(run: Path) -> tuple[Scores, Scores | None] | None:
    """(last checkpoint's scores, FQE-selected scores or None before FQE has run), or None if the run is not
    there."""
    if not (run / "summary.json").exists():
        return None
    from hybridrl.train.run_dir import read_jsonl

    evals = read_jsonl(run / "eval.jsonl")
    by = {}  # (step, seed) -> (score, episodes) of the evaluation with the most episodes
    for r in evals + read_jsonl(run / "evaluations.jsonl"):
        episodes = r.get("episodes", len(r["returns"]))
        if episodes > by.get((r["step"], r["seed"]), (None, 0))[1]:
            by[(r["step"], r["seed"])] = (r["normalized_score"], episodes)
    seeds = sorted({r["seed"] for r in evals})
    last = max(r["step"] for r in evals)

    def scores(steps: list[int]) -> Scores:
        found = [by[(step, seed)] for step, seed in zip(steps, seeds)]
        return np.array([score for score, _ in found]), min(episodes for _, episodes in found)

    if not (run / "selection.json").exists():
        return scores([last] * len(seeds)), None
    picks = fqe_picks(run)
    return scores([last] * len(seeds)), scores([picks[seed] for seed in seeds])


def data_file(root: Path, data: Path, task: str) -> tuple[Path, str] | None:
    """(the training data of the task's runs, its label); without a run, the official file in ``data``."""
    for algo in ALGOS:
        config = root / task / algo / "config.json"
        if config.exists():
            source = Path(json.loads(config.read_text())["dataset"]["source"])
            return source, (source.name if source.suffix == ".npz" else f"{source.name} (ours, regenerated)")
    for split in ("train", "val"):
        if (data / f"{task}-{split}.npz").exists():
            return data / f"{task}-{split}.npz", f"{task}-{split}.npz"
    return None


def task_data_score(root: Path, task: str, path: Path, label: str) -> float | None:
    """NeoRL-2's data score of ``path``, kept in root/task/data.json; the kept one when ``path`` is gone."""
    kept = root / task / "data.json"
    if path.exists():
        from hybridrl.data.loaders import load_dataset
        from hybridrl.envs.neorl2.data import data_score

        score = float(data_score(load_dataset(path)))
        if (root / task).is_dir():
            kept.write_text(json.dumps({"data": label, "score": score}, indent=1) + "\n")
        return score
    recorded = json.loads(kept.read_text()) if kept.exists() else {}
    return recorded["score"] if recorded.get("data") == label else None


def cell(found: Scores, data_score: float) -> str:
    scores, episodes = found
    beats = "beats" if scores.mean() > data_score + 3 else "does not beat"
    return f"{scores.mean():.1f} ± {scores.std():.1f} ({beats}; {episodes} ep.)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("HYBRIDRL_NEORL2_DATA", "../shared/data/neorl2")))
    args = parser.parse_args()
    print("| task | training file | data score | " + " | ".join(f"{a} last | {a} FQE" for a in ALGOS) + " |")
    print("|" + "---|" * (3 + 2 * len(ALGOS)))
    for task in TASKS:
        found_data = data_file(args.root, args.data, task)
        if found_data is None:
            print(f"| {task} | no official file; ours (regenerated) once run | – | " + " | ".join("not run" for _ in range(2 * len(ALGOS))) + " |")
            continue
        path, label = found_data
        score = task_data_score(args.root, task, path, label)
        if score is None:
            print(f"| {task} | {label}: missing, and no data.json kept | – | "
                  + " | ".join("no data score" for _ in range(2 * len(ALGOS))) + " |")
            continue
        cells = []
        for algo in ALGOS:
            found = run_scores(args.root / task / algo)
            if found is None:
                cells += ["not run", "not run"]
            else:
                cells += [cell(found[0], score), "FQE not run" if found[1] is None else cell(found[1], score)]
        print(f"| {task} | {label} | {score:.1f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
