"""The first-results table (docs/results.md) from run folders made by scripts/first_results.sh.

    python scripts/results_table.py results/first-results

For each dataset: the data's own normalized mean episode return (docs/datasets.md), and for each algorithm the
final normalized score (last evaluation, mean over 10 episodes per seed), mean +- std over seeds (population
std), then each seed's best evaluation averaged over seeds (chosen with online returns, so optimistic; CORL
too reports final and best apart), with CORL's final score on the D4RL v2 dataset of the same name beside it (shared/reference/README.md).
Our datasets are regenerated on Gymnasium v5, not D4RL's, and their behaviour policies are weaker.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# CORL README, final normalized scores on D4RL v2 (shared/reference/README.md); BC has only CORL's average (50.40).
CORL = {
    "halfcheetah-medium": {"td3_bc": 48.10, "iql": 48.31},
    "halfcheetah-medium-replay": {"td3_bc": 44.84, "iql": 44.46},
    "halfcheetah-medium-expert": {"td3_bc": 90.78, "iql": 94.74},
    "hopper-medium": {"td3_bc": 60.37, "iql": 67.53},
    "hopper-medium-replay": {"td3_bc": 64.42, "iql": 97.43},
    "hopper-medium-expert": {"td3_bc": 101.17, "iql": 107.42},
    "walker2d-medium": {"td3_bc": 82.71, "iql": 80.91},
    "walker2d-medium-replay": {"td3_bc": 85.62, "iql": 82.15},
    "walker2d-medium-expert": {"td3_bc": 110.03, "iql": 111.72},
}
ALGOS = ("bc", "td3_bc", "iql")
# Normalized mean episode return of our regenerated datasets, seed 0, 1M per policy (docs/datasets.md, from
# `python scripts/dataset_table.py runs/datasets/hybridrl/*-v0`).
DATA = {
    "halfcheetah-medium": 14.63, "halfcheetah-medium-replay": 3.32, "halfcheetah-medium-expert": 29.59,
    "hopper-medium": 28.53, "hopper-medium-replay": 12.30, "hopper-medium-expert": 44.84,
    "walker2d-medium": 16.59, "walker2d-medium-replay": 4.53, "walker2d-medium-expert": 31.49,
}


def scores(run: Path) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(normalized score per seed at the last evaluation, each seed's best over all evaluations, the last step),
    or None if the run has no evaluation."""
    path = run / "eval.jsonl"
    if not path.exists():
        return None
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not records:
        return None
    last = max(r["step"] for r in records)
    seeds = sorted({r["seed"] for r in records})
    final = np.array([r["normalized_score"] for s in seeds for r in records if r["seed"] == s and r["step"] == last])
    best = np.array([max(r["normalized_score"] for r in records if r["seed"] == s) for s in seeds])
    return final, best, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    args = parser.parse_args()
    header = "| dataset (regenerated, hybridrl/*-v0) | data | " + " | ".join(
        f"{a} (ours) | {a} (CORL, D4RL v2)" for a in ALGOS) + " |"
    print(header)
    print("|" + "---|" * (2 + 2 * len(ALGOS)))
    for data in CORL:
        cells = [f"{DATA[data]:.1f}"]
        for algo in ALGOS:
            found = scores(args.root / data / algo)
            if found is None:
                cells.append("not run")
            else:
                final, best, step = found
                cells.append(f"{final.mean():.1f} ± {final.std():.1f} (best {best.mean():.1f}; {len(final)} seeds, "
                             f"{step // 1000}k steps)")
            ref = CORL[data].get(algo)
            cells.append("–" if ref is None else f"{ref:.2f}")
        print(f"| {data} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
