"""Transforms applied to a dataset before training: action rescaling, observation
normalization, reward scaling. Each returns new arrays; the dataset is not modified."""

from __future__ import annotations

import numpy as np

from hybridrl.data.dataset import Dataset, DatasetError

ACTION_CLIP = 1.0 - 1e-5  # IQL's official code clips dataset actions to +-(1 - 1e-5); harmless for the others


def scale_actions(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map actions from [low, high] to [-1, 1], then clip to +-ACTION_CLIP."""
    scaled = 2.0 * (actions - low) / (high - low) - 1.0
    return np.clip(scaled, -ACTION_CLIP, ACTION_CLIP).astype(np.float32)


def unscale_actions(actions: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map actions from [-1, 1] back to [low, high]."""
    return (low + (np.asarray(actions) + 1.0) * 0.5 * (high - low)).astype(np.float32)


def observation_stats(observations: np.ndarray, eps: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and population std (+ eps), as in TD3+BC's official code."""
    return observations.mean(0).astype(np.float32), (observations.std(0) + eps).astype(np.float32)


def reward_scale(ds: Dataset, kind: str) -> float:
    """The factor rewards are multiplied by.

    ``none``: 1. ``locomotion``: 1000 / (max episode return - min episode return),
    IQL's official scaling for D4RL locomotion.
    """
    if kind == "none":
        return 1.0
    if kind == "locomotion":
        returns = ds.episode_returns
        spread = float(returns.max() - returns.min())
        if spread <= 0:
            # One episode, or all returns equal: the formula is undefined; leave rewards as they are.
            return 1.0
        return 1000.0 / spread
    raise DatasetError(f"reward_scaling '{kind}' is unknown; use 'none' or 'locomotion'")


def returns_to_go(ds: Dataset, discount: float, reward_scale: float = 1.0) -> np.ndarray:
    """Monte-Carlo discounted return-to-go of every transition, shape (N,), float32, on scaled rewards.

    Per episode, backward: G_t = r_t + discount * G_{t+1}, with G = 0 after each episode's last step, so
    nothing is bootstrapped past a timeout (Cal-QL's ``calc_return_to_go``; WSRL's
    ``env_common.calc_return_to_go``; shared/reference/finetune.md section 5a).

    Cal-QL's extra rule for sparse rewards (an episode whose every reward equals the failure reward gets
    G = r_fail / (1 - discount) everywhere) is not implemented: it only makes sense with its {-5, +5} reward
    convention, which no ``reward_scaling`` here produces.
    """
    return discounted_returns(np.asarray(ds.rewards, np.float64) * reward_scale, ds.episode_ends, discount)


def discounted_returns(rewards: np.ndarray, episode_ends: np.ndarray, discount: float) -> np.ndarray:
    """G_t = r_t + discount * G_{t+1} inside each episode (``episode_ends``: index of each episode's last row,
    ascending, the last one ``len(rewards) - 1``), 0 after an episode's last step; float32, shape (N,).

    Vectorised: one linear filter y_n = x_n + discount * y_{n-1} over the reversed rewards (no resets), then
    the spill-over from later episodes, discount^(k + 1) * y at the row before the episode's (reversed) start,
    is subtracted. That term underflows harmlessly to 0 for long episodes.
    """
    from scipy.signal import lfilter

    rewards = np.asarray(rewards, np.float64)
    if rewards.size == 0:
        return np.zeros(0, np.float32)
    rev = rewards[::-1]
    y = lfilter([1.0], [1.0, -discount], rev)
    # In reversed order an episode starts at its last step; k = position of a row inside its reversed episode.
    n = rev.shape[0]
    rev_ends = n - 1 - np.asarray(episode_ends)[::-1]  # reversed index where each episode begins, ascending
    marks = np.zeros(n, np.int64)
    marks[rev_ends] = 1
    start = rev_ends[np.cumsum(marks) - 1]
    k = np.arange(n) - start
    before = np.where(start > 0, y[np.maximum(start - 1, 0)], 0.0)
    g = y - discount ** (k + 1.0) * before
    return g[::-1].astype(np.float32)
