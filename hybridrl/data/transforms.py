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
