"""The combination-lock comparison (docs/finetune.md) from the folders scripts/lock_results.sh keeps.

    python scripts/lock_table.py results/lock

Success rate: the fraction of evaluation episodes that return 1 (the whole right sequence), per seed at the last
evaluation, then mean +- std over seeds (population std). For the fine-tuned methods (IQL, Cal-QL, WSRL), the
score after pre-training, the lowest evaluation during the online phase (the dip), and the last one; a run kept
before its last online step is marked unfinished.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

OFFLINE = {"bc": "BC", "td3_bc": "TD3+BC", "iql": "IQL"}
FINETUNED = {"iql": "IQL", "calql": "Cal-QL", "wsrl": "WSRL", "rlpd": "RLPD"}


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "eval.jsonl").read_text().splitlines() if line.strip()]


def success(record: dict) -> float:
    return record["success_rate"] if "success_rate" in record else float(np.mean(np.asarray(record["returns"]) >= 1.0))


def mean_std(values) -> str:
    values = np.asarray(values)
    return f"{values.mean():.2f} ± {values.std():.2f}"


def last_per_seed(evals: list[dict]) -> list[float]:
    last = max(r["step"] for r in evals)
    return [success(r) for r in evals if r["step"] == last]


def finetune_row(H: str, run: Path) -> str:
    """A fine-tuned method's row: its score after pre-training, the lowest online evaluation and the last one."""
    config = json.loads((run / "config.json").read_text())["run"]
    evals = records(run)
    offline = [r for r in evals if r["phase"] == "offline"]
    online = [r for r in evals if r["phase"] == "online"]
    dip = min(np.mean([success(r) for r in online if r["step"] == s]) for s in {r["step"] for r in online})
    done = max(r["env_steps"] for r in online)
    steps = f"{done:,}" if done == config["online_steps"] else f"{done:,} of {config['online_steps']:,} (unfinished)"
    algo = FINETUNED.get(config["algo"], config["algo"])
    if offline:
        name = f"{algo}, {config['offline_steps'] // 1000}k updates offline then online"
        lowest = f"{mean_std(last_per_seed(offline))} after pre-training; lowest online"
    else:  # RLPD: no pre-training, the offline data only in its batches
        name, lowest = f"{algo}, no pre-training, offline data in its batches", "lowest"
    last = last_per_seed(online)
    return (f"| {H} | {name} | offline + online | {steps} | {len(last)} | {lowest} {dip:.2f}; "
            f"{mean_std(last)} at the end |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    args = parser.parse_args()
    print("| H | method | data | online steps | seeds | success (last evaluation) |")
    print("|---|---|---|---|---|---|")
    for hdir in sorted(args.root.glob("h*"), key=lambda p: int(p.name[1:])):
        H = hdir.name[1:]
        for algo, name in OFFLINE.items():
            if (hdir / algo / "eval.jsonl").exists():
                scores = last_per_seed(records(hdir / algo))
                print(f"| {H} | {name}, offline only (10k updates) | offline | 0 | {len(scores)} | {mean_std(scores)} |")
        for prefix, name, data in (("hnpg", "HNPG", "offline + online"), ("trpo", "TRPO, online only", "online")):
            runs = sorted(hdir.glob(f"{prefix}-s*"))
            if runs:
                finals = [records(r)[-1] for r in runs]
                steps = {f["env_steps"] for f in finals}
                print(f"| {H} | {name} | {data} | {', '.join(f'{s:,}' for s in sorted(steps))} | {len(runs)} | "
                      f"{mean_std([success(f) for f in finals])} |")
        for run in sorted(hdir.glob("*-finetune*"), key=lambda r: (r.name.split("-")[0] != "iql", r.name)):
            print(finetune_row(H, run))


if __name__ == "__main__":
    main()
