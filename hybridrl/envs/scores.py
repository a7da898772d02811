"""The normalized score, computed here and nowhere else.

normalized = 100 * (return - random) / (expert - random)
"""

from __future__ import annotations

import numpy as np

# D4RL's reference returns for MuJoCo locomotion (random policy, expert policy),
# as listed in shared/reference/README.md. On Gymnasium v5 environments they are
# a convention, not a measurement.
D4RL_REF_SCORES: dict[str, tuple[float, float]] = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}


def _family(env_id: str) -> str:
    """'Hopper-v5' -> 'hopper', 'hopper-medium-v2' -> 'hopper'."""
    return env_id.split("/")[-1].split("-")[0].lower()


def reference_scores(env_id: str | None, ref_min: float | None = None, ref_max: float | None = None) -> tuple[float, float] | None:
    """(random, expert) returns: the dataset's own if it carries them, else D4RL's for the env family, else None."""
    if ref_min is not None and ref_max is not None:
        return float(ref_min), float(ref_max)
    if env_id is not None:
        return D4RL_REF_SCORES.get(_family(env_id))
    return None


def normalized_score(returns, ref: tuple[float, float]) -> np.ndarray:
    """100 * (return - random) / (expert - random), elementwise."""
    low, high = ref
    if high == low:
        raise ValueError(f"reference scores must differ, got random={low} expert={high}")
    return 100.0 * (np.asarray(returns, dtype=np.float64) - low) / (high - low)
