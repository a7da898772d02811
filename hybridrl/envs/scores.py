"""The normalized score, computed here and nowhere else.

normalized = 100 * (return - random) / (expert - random)

Reference returns come from the dataset when it carries them, else from the tables below: D4RL's by
environment family, NeoRL-2's by task for ``neorl2/TASK-v0`` ids, and the combination lock's (failure, success).
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


# NeoRL-2's (R_min, R_max) per task: shared/reference/neorl2.md section 0.4.
NEORL2_REF_SCORES: dict[str, tuple[float, float]] = {
    "Pipeline": (-296.0, 751.0),
    "Simglucose": (9.75, 475.0),
    "RocketRecovery": (-176.0, 208.0),
    "RandomFrictionHopper": (-3.0, 503.0),
    "DMSD": (30.60, 849.51),
    "Fusion": (-107.601, 98.05),
    "SafetyHalfCheetah": (-283.0, 2507.0),
}
NEORL2_PREFIX = "neorl2/"

# The combination lock (hybridrl/CombinationLock-*): a failed episode returns 0.1 with probability 0.5 (0.05 on
# average) and a solved one 1, so the normalized score is the success rate in percent, in expectation.
COMBLOCK_REF_SCORES = (0.05, 1.0)
COMBLOCK_PREFIX = "hybridrl/CombinationLock"


def _neorl2_task(env_id: str) -> str:
    """'neorl2/DMSD-v0' -> 'DMSD'."""
    return env_id[len(NEORL2_PREFIX):].rsplit("-v", 1)[0]


def _family(env_id: str) -> str:
    """'Hopper-v5' -> 'hopper', 'hopper-medium-v2' -> 'hopper'."""
    return env_id.split("/")[-1].split("-")[0].lower()


def reference_scores(env_id: str | None, ref_min: float | None = None, ref_max: float | None = None) -> tuple[float, float] | None:
    """(random, expert) returns: the dataset's own if it carries them, else NeoRL-2's for ``neorl2/TASK-v0``,
    the lock's for ``hybridrl/CombinationLock-*``, else D4RL's for the env family, else None."""
    if ref_min is not None and ref_max is not None:
        return float(ref_min), float(ref_max)
    if env_id is not None and env_id.startswith(NEORL2_PREFIX):
        return NEORL2_REF_SCORES.get(_neorl2_task(env_id))
    if env_id is not None and env_id.startswith(COMBLOCK_PREFIX):
        return COMBLOCK_REF_SCORES
    if env_id is not None:
        return D4RL_REF_SCORES.get(_family(env_id))
    return None


def normalized_score(returns, ref: tuple[float, float]) -> np.ndarray:
    """100 * (return - random) / (expert - random), elementwise."""
    low, high = ref
    if high == low:
        raise ValueError(f"reference scores must differ, got random={low} expert={high}")
    return 100.0 * (np.asarray(returns, dtype=np.float64) - low) / (high - low)
