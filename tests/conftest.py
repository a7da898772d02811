"""Shared fixtures. JAX runs on the CPU with its persistent compilation cache on."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Flat-array caches of Minari datasets go to a throwaway folder, not the user's ~/.cache.
os.environ.setdefault("HYBRIDRL_CACHE_DIR", __import__("tempfile").mkdtemp(prefix="hybridrl-test-cache-"))

# The official NeoRL-2 files (never committed): ../shared/data/neorl2 beside the checkout, unless set.
_NEORL2 = [Path(__file__).resolve().parents[2] / "shared" / "data" / "neorl2", Path("/work/shared/data/neorl2")]
os.environ.setdefault("HYBRIDRL_NEORL2_DATA", str(next((p for p in _NEORL2 if p.is_dir()), _NEORL2[0])))

import jax  # noqa: E402
import pytest  # noqa: E402

_CACHE = Path(__file__).resolve().parents[1] / ".jax_cache"
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


@pytest.fixture(scope="session")
def pendulum_data():
    """20k transitions of the scripted InvertedPendulum-v5 controller with per-episode noise."""
    from hybridrl.data.generate import scripted_pendulum

    return scripted_pendulum(20_000, seed=0)
