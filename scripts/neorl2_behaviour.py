"""Pick and ship a NeoRL-2 task's four behaviour policies from one SAC run (docs/neorl2.md).

    CPU=0 scripts/train_behaviour.sh neorl2/RocketRecovery-v0 200000       # SAC, a checkpoint every 10k steps
    python scripts/neorl2_behaviour.py runs/behaviour/neorl2/rocketrecovery-v0-sac-s0 RocketRecovery
    hybridrl data make neorl2-rocketrecovery                                # then the data, by NeoRL-2's protocol

NeoRL-2's behaviour policies return "roughly 50-80 % of the expert's return" (its README; neorl2.md 0.3). Here that
is a normalized score (the sheet's R_min / R_max, R_max being its best expert) from 50 to 80 at the run's
evaluation. Of the evaluated checkpoints in that band, four evenly spaced in training order are exported as
neorl2-TASK-p0 .. -p3: p1 collects val, p0, p2 and p3 collect train, as NeoRL-2 uses its four. A run of several
seeds (train_behaviour.sh with SEEDS) offers each seed's checkpoints, ordered by step, then seed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hybridrl.data.make import POLICY_DIR, export_behaviour_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the task's SAC run folder (hybridrl train sac --env neorl2/TASK-v0)")
    parser.add_argument("task", help="the NeoRL-2 task, e.g. RocketRecovery")
    parser.add_argument("--band", type=float, nargs=2, default=(50.0, 80.0), metavar=("LOW", "HIGH"))
    parser.add_argument("--policies", type=Path, default=POLICY_DIR, help="where to export (default: the package's)")
    args = parser.parse_args()
    records = [json.loads(line) for line in (args.run / "eval.jsonl").read_text().splitlines() if line.strip()]
    kept = {int(p.stem.split("_")[1]) for p in (args.run / "checkpoints").glob("step_*.msgpack")}
    low, high = args.band
    first_seed = json.loads((args.run / "config.json").read_text())["run"]["seed"]
    band = sorted((r for r in records if low <= r["normalized_score"] <= high and r["step"] in kept),
                  key=lambda r: (r["step"], r["seed"]))
    if len(band) < 4:
        scores = ", ".join(f"{r['step']:,} (seed {r['seed']}): {r['normalized_score']:.1f}" for r in records)
        raise SystemExit(f"{args.run}: {len(band)} kept checkpoint(s) score from {low:g} to {high:g}, 4 are needed; "
                         f"evaluations (step (seed): normalized score): {scores}")
    picks = [band[i] for i in np.round(np.linspace(0, len(band) - 1, 4)).astype(int)]
    for k, record in enumerate(picks):
        name = f"neorl2-{args.task.lower()}-p{k}"
        entry = export_behaviour_policy(args.run, record["step"], name, seed_index=record["seed"] - first_seed,
                                        directory=args.policies)
        print(f"{name}: step {entry['env_steps']:,}, seed {entry['seed']}, normalized {entry['eval_normalized']:.1f} "
              f"({'val' if k == 1 else 'train'})")


if __name__ == "__main__":
    main()
