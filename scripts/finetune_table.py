"""The fine-tuning table (docs/finetune.md) from run folders made by scripts/finetune_results.sh.

    python scripts/finetune_table.py results/finetune
    python scripts/finetune_table.py results/finetune-short --curves

Per dataset and method, normalized scores (10 episodes per seed per evaluation), mean +- std over seeds
(population std): after pre-training (the last offline evaluation), the lowest online evaluation (mean over
seeds; the dip at the start of fine-tuning when it is below the pre-trained score) and the last evaluation.
With --curves, one table per dataset instead: the mean over seeds at every online evaluation, the methods side by
side at equal environment steps (0: after pre-training). Our datasets are regenerated on Gymnasium v5
(docs/datasets.md), not D4RL's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from results_table import DATA  # the data's own normalized mean return


def mean_std(values) -> str:
    values = np.asarray(values)
    return f"{values.mean():.1f} ± {values.std():.1f}"


def evaluations(run: Path) -> tuple[list[float] | None, dict[int, list[float]]]:
    """(the last offline evaluation's scores per seed, None without pre-training; the online scores per seed by
    environment steps)."""
    records = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines() if line.strip()]
    offline = [r for r in records if r["phase"] == "offline"]
    pre = None
    if offline:
        last = max(r["step"] for r in offline)
        pre = [r["normalized_score"] for r in offline if r["step"] == last]
    online: dict[int, list[float]] = {}
    for r in records:
        if r["phase"] == "online":
            online.setdefault(r["env_steps"], []).append(r["normalized_score"])
    return pre, online


def row(run: Path) -> list[str]:
    recorded = json.loads((run / "config.json").read_text())
    config = recorded["run"]
    updates = f"{config['offline_steps']:,}"
    if "init_from" in recorded:  # pre-trained in another run (scripts/first_results.sh), started from its networks
        updates = f"{recorded['init_from']['step']:,} (--init-from)"
    pre, online = evaluations(run)
    lowest = final = "–"
    if online:
        low_at = min(online, key=lambda s: np.mean(online[s]))
        lowest = f"{np.mean(online[low_at]):.1f} at {low_at:,}"
        final = mean_std(online[max(online)])
    reached = max(online, default=0)
    return [updates, f"{reached:,} of {config['online_steps']:,}", "–" if pre is None else mean_std(pre), lowest, final]


def curve(run: Path) -> dict[int, float]:
    """Mean normalized score over seeds by online environment steps; 0 is the last offline evaluation."""
    pre, online = evaluations(run)
    points = online if pre is None else {0: pre, **online}
    return {step: float(np.mean(scores)) for step, scores in points.items()}


def print_curves(root: Path) -> None:
    for data in sorted(p for p in root.iterdir() if p.is_dir()):
        curves = {run.name: curve(run) for run in sorted(p for p in data.iterdir() if (p / "eval.jsonl").exists())}
        steps = sorted(set().union(*curves.values()))
        ref = DATA.get(data.name)
        print(f"\n{data.name} (data {'–' if ref is None else f'{ref:.1f}'}), mean over seeds by online environment steps\n")
        print("| method | " + " | ".join(f"{s:,}" for s in steps) + " |")
        print("|---|" + "---|" * len(steps))
        for name, points in curves.items():
            print(f"| {name} | " + " | ".join(f"{points[s]:.1f}" if s in points else "" for s in steps) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--curves", action="store_true", help="every online evaluation, the methods side by side")
    args = parser.parse_args()
    if args.curves:
        print_curves(args.root)
        return
    print("| dataset (regenerated) | data | method | offline updates | online steps | after pre-training | "
          "lowest online evaluation | last evaluation |")
    print("|---|---|---|---|---|---|---|---|")
    for data in sorted(p for p in args.root.iterdir() if p.is_dir()):
        for run in sorted(p for p in data.iterdir() if (p / "eval.jsonl").exists()):
            ref = DATA.get(data.name)
            cells = [data.name, "–" if ref is None else f"{ref:.1f}", run.name] + row(run)
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
