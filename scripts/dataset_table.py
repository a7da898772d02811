"""The statistics table of docs/datasets.md from generated datasets, beside D4RL v2's episode counts.

    python scripts/dataset_table.py runs/datasets/hybridrl/*-v0

One row per dataset: transitions, episodes (D4RL v2's count from the TFDS catalog, shared/reference/finetune.md
section 12), episode return mean / min / max, and the normalized mean return (hybridrl.envs.scores).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hybridrl.data import load_dataset
from hybridrl.envs.scores import normalized_score, reference_scores

D4RL_V2_EPISODES = {
    "halfcheetah": {"random": 1000, "medium": 1000, "medium-replay": 202, "medium-expert": 2000, "expert": 1000},
    "hopper": {"random": 45240, "medium": 2187, "medium-replay": 2041, "medium-expert": 3214, "expert": 1028},
    "walker2d": {"random": 48908, "medium": 1191, "medium-replay": 1093, "medium-expert": 2191, "expert": 1001},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args()
    print("| dataset | transitions | episodes | D4RL v2 episodes | return mean | min | max | normalized mean |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.paths:
        ds = load_dataset(path)
        name = ds.name.split("/")[-1].removesuffix("-v0")  # hybridrl/hopper-medium-v0 -> hopper-medium
        env, _, kind = name.partition("-")
        returns = ds.episode_returns
        ref = reference_scores(ds.env_id, ds.ref_min_score, ds.ref_max_score)
        d4rl = D4RL_V2_EPISODES.get(env, {}).get(kind)
        print(f"| {name} | {len(ds):,} | {ds.num_episodes:,} | {'–' if d4rl is None else f'{d4rl:,}'} | "
              f"{returns.mean():.1f} | {returns.min():.1f} | {returns.max():.1f} | "
              f"{float(normalized_score(returns.mean(), ref)):.2f} |")


if __name__ == "__main__":
    main()
