"""The in-memory dataset: flat transition arrays plus episode boundaries.

Every loader returns a :class:`Dataset`; every sampler, transform and training
loop reads one. Arrays are NumPy on the host; :mod:`hybridrl.data.sampler`
moves them to the device once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

FIELDS = ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")


class DatasetError(ValueError):
    """Raised for malformed input data. The message is one line: source, field, fix."""


@dataclasses.dataclass
class Dataset:
    """Transitions (s, a, r, s', terminal, timeout), stored flat in time order.

    An episode ends at a transition whose ``terminals`` (the environment ended
    it) or ``timeouts`` (a time limit cut it) flag is set; the next transition,
    if any, starts a new episode. The last transition always ends an episode
    (validation refuses data that does not).
    """

    observations: np.ndarray  # (N, obs_dim) float32
    actions: np.ndarray  # (N, act_dim) float32
    rewards: np.ndarray  # (N,) float32
    next_observations: np.ndarray  # (N, obs_dim) float32
    terminals: np.ndarray  # (N,) bool
    timeouts: np.ndarray  # (N,) bool
    name: str = "dataset"
    env_id: str | None = None
    action_low: np.ndarray | None = None  # (act_dim,) bounds of the action space, if known
    action_high: np.ndarray | None = None
    ref_min_score: float | None = None  # returns used for the normalized score, if the data carries them
    ref_max_score: float | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def obs_dim(self) -> int:
        return int(self.observations.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.actions.shape[1])

    @property
    def episode_ends(self) -> np.ndarray:
        """Index of the last transition of each episode, shape (E,)."""
        return np.flatnonzero(self.terminals | self.timeouts)

    @property
    def episode_starts(self) -> np.ndarray:
        """Index of the first transition of each episode, shape (E,)."""
        ends = self.episode_ends
        return np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)

    @property
    def num_episodes(self) -> int:
        return int(self.episode_ends.shape[0])

    @property
    def episode_lengths(self) -> np.ndarray:
        return self.episode_ends - self.episode_starts + 1

    @property
    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each episode, shape (E,), float64."""
        csum = np.concatenate([[0.0], np.cumsum(self.rewards, dtype=np.float64)])
        return csum[self.episode_ends + 1] - csum[self.episode_starts]

    def episode_ids(self) -> np.ndarray:
        """For each transition, the index of its episode, shape (N,)."""
        ids = np.zeros(len(self), dtype=np.int64)
        ids[self.episode_ends[:-1] + 1] = 1
        return np.cumsum(ids)

    def select_episodes(self, episodes: np.ndarray) -> "Dataset":
        """A new dataset holding only the given episodes (indices), in that order."""
        starts, ends = self.episode_starts[episodes], self.episode_ends[episodes]
        idx = np.concatenate([np.arange(s, e + 1) for s, e in zip(starts, ends)]) if len(starts) else np.zeros(0, int)
        return self.replace(**{f: getattr(self, f)[idx] for f in FIELDS})

    def replace(self, **changes: Any) -> "Dataset":
        return dataclasses.replace(self, **changes)

    def stats(self) -> dict[str, Any]:
        """Plain-Python summary: counts, return statistics, observation and action ranges."""
        returns = self.episode_returns
        lengths = self.episode_lengths
        return {
            "name": self.name,
            "env_id": self.env_id,
            "transitions": len(self),
            "episodes": self.num_episodes,
            "terminals": int(self.terminals.sum()),
            "timeouts": int(self.timeouts.sum()),
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "episode_length": {"mean": float(lengths.mean()), "min": int(lengths.min()), "max": int(lengths.max())},
            "return": {
                "mean": float(returns.mean()),
                "std": float(returns.std()),
                "min": float(returns.min()),
                "max": float(returns.max()),
            },
            "reward": {"mean": float(self.rewards.mean()), "min": float(self.rewards.min()), "max": float(self.rewards.max())},
            "observation_range": {"min": self.observations.min(0).tolist(), "max": self.observations.max(0).tolist()},
            "action_range": {"min": self.actions.min(0).tolist(), "max": self.actions.max(0).tolist()},
            "ref_min_score": self.ref_min_score,
            "ref_max_score": self.ref_max_score,
        }
