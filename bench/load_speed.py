"""Loading a 1M-transition Minari dataset: hybridrl's loader against minari.load_dataset plus iteration.

    python bench/load_speed.py [--transitions 1000000] [--episode-length 1000] [--root DIR]

The dataset has Hopper's shapes (observations 11, actions 3) and is written
once with hybridrl.save_minari under --root (a temporary folder by default).
The files are read once before timing, so every reader reads from the page cache.
Timed:

- hybridrl: ``load_dataset(path)`` then ``to_device`` (arrays on the default device),
  once from the flat-array cache that ``save_minari`` writes, once with the cache
  off (``HYBRIDRL_CACHE_DIR=none``), reading episode by episode as for a Minari
  dataset hybridrl has never seen;
- minari:   ``minari.load_dataset(id)``, then ``iterate_episodes()`` collecting every
  episode's arrays and concatenating them into flat NumPy arrays, the usual
  way to get a flat transition table out of Minari.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import jax
import numpy as np


def synthetic(transitions: int, episode_length: int):
    from hybridrl.data import Dataset

    rng = np.random.default_rng(0)
    n_ep = -(-transitions // episode_length)
    obs_all = rng.normal(size=(transitions + n_ep, 11)).astype(np.float32)
    obs, nxt = [], []
    start = 0
    for e in range(n_ep):
        length = min(episode_length, transitions - e * episode_length)
        block = obs_all[start:start + length + 1]
        obs.append(block[:-1])
        nxt.append(block[1:])
        start += length + 1
    timeouts = np.zeros(transitions, bool)
    timeouts[np.minimum(np.arange(1, n_ep + 1) * episode_length, transitions) - 1] = True
    return Dataset(observations=np.concatenate(obs), actions=rng.uniform(-1, 1, (transitions, 3)).astype(np.float32),
                   rewards=rng.normal(size=transitions).astype(np.float32), next_observations=np.concatenate(nxt),
                   terminals=np.zeros(transitions, bool), timeouts=timeouts, name="bench", env_id="Hopper-v5",
                   action_low=-np.ones(3, np.float32), action_high=np.ones(3, np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=1_000_000)
    parser.add_argument("--episode-length", type=int, default=1_000)
    parser.add_argument("--root", type=Path, default=None)
    args = parser.parse_args()

    from hybridrl.data import load_dataset, save_minari
    from hybridrl.data.sampler import make_preprocessing, to_device

    root = args.root or Path(tempfile.mkdtemp(prefix="hybridrl-load-bench-"))
    dataset_id = f"bench/hopper-shaped-{args.transitions}-ep{args.episode_length}-v0"
    path = root / dataset_id
    if not path.exists():
        t = time.perf_counter()
        save_minari(synthetic(args.transitions, args.episode_length), dataset_id, root=root)
        print(f"wrote {path} in {time.perf_counter() - t:.1f} s")
    for f in path.rglob("*"):
        if f.is_file():
            f.read_bytes()  # warm the page cache for both readers

    def ours() -> tuple[float, object]:
        t = time.perf_counter()
        ds = load_dataset(path)
        jax.block_until_ready(to_device(ds, make_preprocessing(ds, False, "none")))
        return time.perf_counter() - t, ds

    cached, ds = ours()  # save_minari wrote the flat cache
    os.environ["HYBRIDRL_CACHE_DIR"] = "none"
    cold, _ = ours()  # episode by episode from the HDF5 file, as for a dataset hybridrl has never seen
    os.environ.pop("HYBRIDRL_CACHE_DIR")

    import minari

    os.environ["MINARI_DATASETS_PATH"] = str(root)
    t = time.perf_counter()
    md = minari.load_dataset(dataset_id)
    parts: dict[str, list] = {"observations": [], "actions": [], "rewards": [], "terminations": [], "truncations": []}
    for episode in md.iterate_episodes():
        for key in parts:
            parts[key].append(getattr(episode, key))
    flat = {k: np.concatenate(v) for k, v in parts.items()}
    theirs = time.perf_counter() - t
    assert flat["actions"].shape == ds.actions.shape

    print(f"{len(ds):,} transitions in {ds.num_episodes:,} episodes, jax {jax.__version__} on {jax.devices()[0].platform}")
    print(f"hybridrl load_dataset + to_device, flat cache:    {cached:6.2f} s")
    print(f"hybridrl load_dataset + to_device, no cache:       {cold:6.2f} s")
    print(f"minari.load_dataset + iterate_episodes + concat:   {theirs:6.2f} s")
    print(f"ratio minari / hybridrl: {theirs / cached:.1f}x with the cache, {theirs / cold:.1f}x without")


if __name__ == "__main__":
    main()
