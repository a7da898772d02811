"""d3rlpy side of bench/throughput.py. Runs inside its own venv (d3rlpy + CPU torch), never in hybridrl's.

Usage: python _d3rlpy_worker.py --algos td3_bc,iql --steps N --threads T --warmup W
Prints one JSON object on the last line of stdout:
  {"versions": {...}, "results": {"td3_bc": {"fit_ups": ..., "update_ups": ..., ...}, ...}}

Two figures per algorithm, both with d3rlpy's default configs (batch 256,
256x256 encoders, 2 critics), on the CPU, eager PyTorch (d3rlpy's
``compile_graph`` only takes effect on CUDA):
  fit_ups     what ``algo.fit`` does per step: ``dataset.sample_transition_batch(256)``
              then ``algo.update(batch)``; comparable to hybridrl, which samples inside its step.
  update_ups  ``algo.update(batch)`` alone on pre-sampled batches (sampling excluded).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

OBS_DIM, ACT_DIM, NUM_TRANSITIONS, EPISODE_LEN, BATCH = 17, 6, 100_000, 1000, 256


def make_dataset(seed: int = 0):
    import d3rlpy

    rng = np.random.default_rng(seed)
    terminals = np.zeros(NUM_TRANSITIONS, np.float32)
    timeouts = np.zeros(NUM_TRANSITIONS, np.float32)
    timeouts[EPISODE_LEN - 1 :: EPISODE_LEN] = 1.0
    return d3rlpy.dataset.MDPDataset(
        observations=rng.standard_normal((NUM_TRANSITIONS, OBS_DIM)).astype(np.float32),
        actions=rng.uniform(-1, 1, (NUM_TRANSITIONS, ACT_DIM)).astype(np.float32),
        rewards=rng.standard_normal(NUM_TRANSITIONS).astype(np.float32),
        terminals=terminals,
        timeouts=timeouts,
    )


def make_algo(name: str):
    import d3rlpy

    if name == "td3_bc":
        config = d3rlpy.algos.TD3PlusBCConfig(batch_size=BATCH)
    elif name == "iql":
        config = d3rlpy.algos.IQLConfig(batch_size=BATCH)
    elif name == "sac":
        config = d3rlpy.algos.SACConfig(batch_size=BATCH)
    else:
        raise ValueError(f"unknown algorithm {name!r}; choose td3_bc, iql or sac")
    return config.create(device="cpu:0")


def describe(algo) -> dict:
    """What was actually built, so the parent can check sizes match hybridrl's."""
    cfg = algo.config
    enc = cfg.critic_encoder_factory
    return {
        "batch_size": cfg.batch_size,
        "n_critics": cfg.n_critics,
        "encoder": type(enc).__name__,
        "parameters": {
            name: int(sum(p.numel() for p in module.parameters()))
            for name, module in vars(algo.impl.modules).items()
            if hasattr(module, "parameters") and "targ" not in name
        },
    }


def time_calls(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls / (time.perf_counter() - start)


def bench(name: str, dataset, steps: int, warmup: int) -> dict:
    algo = make_algo(name)
    algo.build_with_dataset(dataset)
    batches = [dataset.sample_transition_batch(BATCH) for _ in range(16)]
    i = iter(range(10**12))

    def update_only():
        algo.update(batches[next(i) % len(batches)])

    def fit_step():
        algo.update(dataset.sample_transition_batch(BATCH))

    time_calls(fit_step, warmup)
    sample_ups = time_calls(lambda: dataset.sample_transition_batch(BATCH), max(steps // 4, 10))
    return {
        "fit_ups": time_calls(fit_step, steps),
        "update_ups": time_calls(update_only, steps),
        "sample_batches_per_s": sample_ups,
        "steps": steps,
        "warmup": warmup,
        "built": describe(algo),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--algos", default="td3_bc,iql")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import d3rlpy
    import torch

    torch.set_num_threads(args.threads)
    d3rlpy.seed(0)
    dataset = make_dataset()
    results = {name: bench(name, dataset, args.steps, args.warmup) for name in args.algos.split(",")}
    versions = {
        "d3rlpy": d3rlpy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }
    print(json.dumps({"versions": versions, "results": results}))


if __name__ == "__main__":
    main()
