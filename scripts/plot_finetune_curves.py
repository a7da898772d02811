"""Sample-efficiency curves of the run folders under one task folder: score against environment steps.

    python scripts/plot_finetune_curves.py results/lock/h4 docs/figures lock_h4 --metric success
    python scripts/plot_finetune_curves.py results/finetune/hopper-medium docs/figures finetune_hopper_medium

Each folder under ROOT is a run; folders named NAME-sN (one seed each, as HNPG writes them) are one method. A
fine-tuning run starts at 0 environment steps with its last offline evaluation, so the offline score, the dip at the
start of fine-tuning and the score after it are all on the curve. An offline-only run is a dashed level: the mean
over seeds of its last evaluation. The line is the mean over seeds at each evaluation, the band the lowest
and highest seed. Writes OUT/STEM.png and OUT/STEM.svg.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from hybridrl.analysis import plots

OFFLINE_ONLY = {"bc": "BC (offline only)", "td3_bc": "TD3+BC (offline only)", "iql": "IQL (offline only)",
                "calql-offline-init-temperature-0.01": "Cal-QL, init temperature 0.01 (offline only, 2k updates)"}
LABELS = {"hnpg": "HNPG (offline + online)", "trpo": "TRPO (online only)", "iql": "IQL fine-tuning", "calql": "Cal-QL",
          "rlpd": "RLPD", "wsrl": "WSRL", "sac": "SAC (online only)"}
YLABELS = {"success": "success rate", "normalized": "normalized score"}


def score(record: dict, metric: str) -> float:
    if metric == "success":
        if "success_rate" in record:
            return float(record["success_rate"])
        return float(np.mean(np.asarray(record["returns"]) >= 1.0))
    return float(record["normalized_score"])


def points(run: Path, metric: str) -> list[tuple[int, int, float]]:
    """(seed, environment steps, score) of every evaluation that belongs on the curve."""
    records = [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines() if line.strip()]
    offline = [r for r in records if r.get("phase", "offline" if "env_steps" not in r else "online") == "offline"]
    online = [r for r in records if r not in offline]
    out = [(int(r["seed"]), int(r["env_steps"]), score(r, metric)) for r in online]
    if offline:  # the last offline evaluation of each seed starts the curve at 0 environment steps
        last = max(r["step"] for r in offline)
        out += [(int(r["seed"]), 0, score(r, metric)) for r in offline if r["step"] == last]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a folder of run folders on one task")
    parser.add_argument("out", type=Path, help="folder for STEM.png and STEM.svg")
    parser.add_argument("stem")
    parser.add_argument("--metric", choices=sorted(YLABELS), default="normalized")
    parser.add_argument("--title", default=None, help="default: the ROOT folder's name")
    args = parser.parse_args()
    groups: dict[str, list[tuple[int, int, float]]] = {}
    for run in sorted(p for p in args.root.iterdir() if (p / "eval.jsonl").exists()):
        groups.setdefault(re.sub(r"-s\d+$", "", run.name), []).extend(points(run, args.metric))
    if not groups:
        raise SystemExit(f"{args.root}: no run folders with an eval.jsonl")
    curves, levels = {}, {}
    for name, pts in groups.items():
        if {x for _, x, _ in pts} == {0}:  # no environment step: an offline-only run
            levels[OFFLINE_ONLY.get(name, name)] = float(np.mean([y for _, _, y in pts]))
            continue
        steps = sorted({x for _, x, _ in pts})
        by_step = [np.array([y for _, x, y in pts if x == s]) for s in steps]
        label = LABELS.get(re.sub(r"-finetune(-\d+-\d+)?$", "", name), name)  # lock_results.sh's ALGO-finetune[-N-M]
        curves[label] = (np.array(steps), np.array([v.mean() for v in by_step]),
                         np.array([v.min() for v in by_step]), np.array([v.max() for v in by_step]))
    seeds = sorted({len({s for s, _, _ in pts}) for pts in groups.values()})
    fig = plots.curves(curves, args.title or f"{args.root.name} (seeds: {', '.join(map(str, seeds))})",
                       YLABELS[args.metric], plots.colors(list(curves) + list(levels)), xlabel="environment steps",
                       levels=levels)
    png, svg, _ = plots.save(fig, args.out, args.stem)
    print(f"wrote {png} and {svg}")


if __name__ == "__main__":
    main()
