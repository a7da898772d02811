"""NeoRL-2 Fusion: seconds per vector step of the batched FusionVectorEnv against SyncVectorEnv copies.

    HYBRIDRL_NEORL2_FUSION_DIR=../shared/data/neorl2/fusion python bench/fusion_vector.py [--envs 1 10 30] [--steps 5]

Both run the same code (hybridrl/envs/neorl2/fusion.py); the batched env calls each of the 21 ONNX networks once
per relaxation step for all its environments, the synchronous one once per environment. One reset, then
``--steps`` timed steps of random actions each; the ratio is sync time over batched time.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import hybridrl.envs  # noqa: F401  (registers neorl2/*-v0)


def seconds_per_step(mode: str, num_envs: int, steps: int) -> float:
    envs = gym.make_vec("neorl2/Fusion-v0", num_envs, vectorization_mode=mode)
    envs.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(steps, num_envs, 6)).astype(np.float32)
    start = time.perf_counter()
    for action in actions:
        envs.step(action)
    elapsed = (time.perf_counter() - start) / steps
    envs.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 10, 30])
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(f"{'envs':>5} {'sync s/step':>12} {'batched s/step':>15} {'ratio':>6}")
    for num in args.envs:
        sync = seconds_per_step("sync", num, args.steps)
        batched = seconds_per_step("vector_entry_point", num, args.steps)
        print(f"{num:>5} {sync:>12.3f} {batched:>15.3f} {sync / batched:>6.1f}")


if __name__ == "__main__":
    main()
