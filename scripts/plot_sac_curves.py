"""Learning curves of the behaviour-policy SAC runs against published SAC figures (docs/datasets.md).

    python scripts/plot_sac_curves.py runs/behaviour docs/figures/sac_behaviour.png

One panel per environment: our evaluation return (10 episodes, deterministic policy) against environment steps,
the exported medium and expert steps marked, and as dashed lines the published SAC figures at 1M steps
(Tianshou's MuJoCo benchmark, "max average return over 10 seeds within 1M steps", v3 environments; and the SAC paper's
figure as read off its plot by Tianshou, examples/mujoco/README.md) and D4RL's expert reference return.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hybridrl.data.make import read_manifest  # noqa: E402
from hybridrl.envs.scores import D4RL_REF_SCORES  # noqa: E402

# Tianshou examples/mujoco/README.md, SAC table: (Tianshou at 1M, SAC paper ~ at 1M).
PUBLISHED_1M = {"hopper": (3542.2, 3370), "halfcheetah": (12138.8, 10400), "walker2d": (5007.0, 3740),
                "ant": (5850.2, 3720)}
ENVS = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5", "ant": "Ant-v5"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    manifest = read_manifest()
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, (env, env_id) in zip(axes, ENVS.items()):
        path = args.runs / f"{env_id.lower()}-sac-s0" / "eval.jsonl"
        ax.set_title(env_id)
        ax.set_xlabel("environment steps")
        if path.exists():
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            ax.plot([r["step"] for r in records], [r["return_mean"] for r in records], color="C0", label="hybridrl SAC (seed 0)")
        tianshou, paper = PUBLISHED_1M[env]
        ax.axhline(tianshou, color="C1", ls="--", lw=1, label="Tianshou SAC, best within 1M")
        ax.axhline(paper, color="C2", ls="--", lw=1, label="SAC paper ~1M")
        ax.axhline(D4RL_REF_SCORES[env][1], color="gray", ls=":", lw=1, label="D4RL expert reference")
        for level, marker in (("medium", "o"), ("expert", "*")):
            entry = manifest.get(f"{env}-{level}")
            if entry:
                ax.plot([entry["env_steps"]], [entry["eval_return"]], marker, color="k", ms=8,
                        label=f"{level} policy" if env == "hopper" else None)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("evaluation return")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
