"""Conservative behaviour: data from a deployed controller that never strays far from its own choice.

Logs from a real system rarely cover the action space: the controller in
charge (a PID loop, a tuned policy) acts almost deterministically, with a
little noise at most. NeoRL-2's Fusion and DMSD data are of this kind
(shared/reference/neorl2.md, section 0.6). :func:`conservative_policy` turns
any batched policy into such a behaviour policy, in the form that
:func:`hybridrl.data.generate.collect` takes::

    behaviour = conservative_policy(controller, noise_std=0.05, low=space.low, high=space.high)
    dataset = collect("Hopper-v5", behaviour, transitions=100_000, seed=0)
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np


def conservative_policy(
    policy: Callable[[np.ndarray], np.ndarray],
    noise_std: float,
    low: np.ndarray,
    high: np.ndarray,
) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """``policy`` plus small Gaussian noise, clipped to [low, high]: ``(obs[n, d], rng) -> actions[n, a]``.

    ``policy(obs[n, d]) -> actions[n, a]`` is the base controller, in the
    environment's action units. Each action is
    ``clip(policy(obs) + noise_std * eps, low, high)`` with ``eps ~ N(0, I)``
    drawn from the ``rng`` that ``collect`` passes (so a collection seed
    reproduces the data), ``noise_std`` in action units. The collected actions
    then lie in a narrow band around the base policy's.
    """
    if not (isinstance(noise_std, numbers.Real) and math.isfinite(noise_std) and noise_std >= 0):
        raise ValueError(f"conservative_policy: noise_std must be a finite number >= 0 (action units), "
                         f"got {noise_std!r}")
    low, high = np.asarray(low, np.float32), np.asarray(high, np.float32)
    if low.ndim != 1 or low.shape != high.shape or not np.all(low <= high):
        raise ValueError(f"conservative_policy: low and high must be 1-D bounds of one shape with low <= high, "
                         f"got shapes {low.shape} and {high.shape}")

    def behaviour(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        base = np.asarray(policy(obs), np.float32)
        expected = (np.shape(obs)[0], low.shape[0])
        if base.shape != expected:
            raise ValueError(f"conservative_policy: the base policy returned actions of shape {base.shape}, "
                             f"expected {expected} (one action per observation)")
        noisy = base + noise_std * rng.standard_normal(base.shape)
        return np.clip(noisy, low, high).astype(np.float32)

    return behaviour
