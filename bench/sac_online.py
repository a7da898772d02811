"""SAC speed on Hopper-v5: the update alone (lax.scan) against the whole online loop.

    python bench/sac_online.py [--steps 3000] [--seeds 1]

The ratio "online loop / update alone" is the share of time left to updates
once environment steps, the host call per step and the action transfer are paid.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from hybridrl.agents import Spec, sac
from hybridrl.train.core import init_states, make_train_chunk
from hybridrl.train.online import OnlineConfig, train_online


def update_rate(num_seeds: int, chunk: int = 500) -> float:
    config = sac.Config()
    states, keys = init_states(sac, config, Spec(11, 3), list(range(num_seeds)))
    rng = np.random.default_rng(0)
    n = 100_000
    data = {"observations": rng.normal(size=(n, 11)), "actions": rng.uniform(-1, 1, (n, 3)), "rewards": rng.normal(size=n),
            "next_observations": rng.normal(size=(n, 11)), "masks": np.ones(n)}
    data = {k: jnp.asarray(v, jnp.float32) for k, v in data.items()}
    train = make_train_chunk(sac, config.batch_size, chunk, num_seeds).lower(states, keys, data).compile()
    states, keys, _ = train(states, keys, data)
    jax.block_until_ready(states)
    start = time.perf_counter()
    states, keys, _ = train(states, keys, data)
    jax.block_until_ready(states)
    return chunk * num_seeds / (time.perf_counter() - start)


def online_rate(num_seeds: int, steps: int, buffer_size: int) -> float:
    warmup = 1_000
    with tempfile.TemporaryDirectory() as out:
        result = train_online(OnlineConfig(algo="sac", env="Hopper-v5", online_steps=warmup + steps, seeds=num_seeds,
                                           start_steps=warmup, eval_every=warmup + steps, eval_episodes=1, buffer_size=buffer_size,
                                           log_every=1_000), out + "/run", progress=False)
    return result.timings["updates_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3_000, help="environment steps with updates, after 1,000 warm-up")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--buffer-size", type=int, default=1_000_000,
                        help="replay capacity of the online loop (a real run's size: a copy of the buffer would show)")
    args = parser.parse_args()
    alone = update_rate(args.seeds)
    loop = online_rate(args.seeds, args.steps, args.buffer_size)
    print(f"SAC 256-256, Hopper-v5, {args.seeds} seed(s), buffer {args.buffer_size:,}, jax {jax.__version__} on {jax.devices()[0].platform}")
    print(f"update alone (lax.scan):  {alone:7.1f} updates/s")
    print(f"online loop:              {loop:7.1f} updates/s (warm-up steps excluded from the count, not from the time)")
    print(f"online / alone:           {loop / alone:7.2f}")


if __name__ == "__main__":
    main()
