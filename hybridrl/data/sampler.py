"""The dataset on the device, and batches drawn from it by index inside jitted code."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from hybridrl.data.dataset import Dataset
from hybridrl.data.transforms import observation_stats, returns_to_go, reward_scale, scale_actions

DeviceData = dict[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """What was done to the data before training; evaluation repeats it on observations and actions."""

    obs_mean: np.ndarray
    obs_std: np.ndarray
    action_low: np.ndarray
    action_high: np.ndarray
    reward_scale: float

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        arr = lambda k: np.asarray(d[k], np.float32)  # noqa: E731
        return cls(arr("obs_mean"), arr("obs_std"), arr("action_low"), arr("action_high"), float(d["reward_scale"]))

    def observations(self, obs: np.ndarray) -> np.ndarray:
        return ((obs - self.obs_mean) / self.obs_std).astype(np.float32)


def make_preprocessing(ds: Dataset, normalize_observations: bool, reward_scaling: str,
                       action_low: np.ndarray | None = None, action_high: np.ndarray | None = None) -> Preprocessing:
    """Statistics for the given dataset. Action bounds default to the dataset's, then to [-1, 1]."""
    low = action_low if action_low is not None else ds.action_low
    high = action_high if action_high is not None else ds.action_high
    low = np.full(ds.act_dim, -1.0, np.float32) if low is None else np.asarray(low, np.float32)
    high = np.full(ds.act_dim, 1.0, np.float32) if high is None else np.asarray(high, np.float32)
    if normalize_observations:
        mean, std = observation_stats(ds.observations)
    else:
        mean, std = np.zeros(ds.obs_dim, np.float32), np.ones(ds.obs_dim, np.float32)
    return Preprocessing(mean, std, low, high, reward_scale(ds, reward_scaling))


RAW_SCALE_LIMIT = 100.0  # D4RL's locomotion features stay well below this; Simglucose's reach 562


def raw_scale_note(ds: Dataset, algo: str, normalize_observations: bool) -> str | None:
    """A one-line note when ``algo`` trains on raw observations above :data:`RAW_SCALE_LIMIT` in size, which can
    saturate its networks from the first update (IQL's tanh policy did so on NeoRL-2's Simglucose); else None."""
    if normalize_observations or len(ds) == 0:
        return None
    largest = np.abs(ds.observations).max(axis=0)
    dim = int(np.argmax(largest))
    if not largest[dim] > RAW_SCALE_LIMIT:
        return None
    return (f"note: {algo} trains on raw observations, and the dataset's reach {largest[dim]:.4g} in absolute value "
            f"(dimension {dim}); inputs that large can saturate its networks: consider --set normalize_observations=true")


def to_device(ds: Dataset, prep: Preprocessing, mc_discount: float | None = None) -> DeviceData:
    """Preprocessed transition arrays on the default device, ready for :func:`sample`.

    With ``mc_discount``, also "mc_returns": each transition's Monte-Carlo return-to-go on the scaled rewards
    (:func:`hybridrl.data.transforms.returns_to_go`), which Cal-QL needs.
    """
    data = {
        "observations": jnp.asarray(prep.observations(ds.observations)),
        "actions": jnp.asarray(scale_actions(ds.actions, prep.action_low, prep.action_high)),
        "rewards": jnp.asarray(ds.rewards * prep.reward_scale, dtype=jnp.float32),
        "next_observations": jnp.asarray(prep.observations(ds.next_observations)),
        "masks": jnp.asarray(1.0 - ds.terminals.astype(np.float32)),
    }
    if mc_discount is not None:
        data["mc_returns"] = jnp.asarray(returns_to_go(ds, mc_discount, prep.reward_scale))
    return data


def sample(data: DeviceData, key: jax.Array, batch_size: int) -> DeviceData:
    """A uniform batch of transitions, drawn with replacement. Traceable."""
    n = next(iter(data.values())).shape[0]
    idx = jax.random.randint(key, (batch_size,), 0, n)
    return {k: v[idx] for k, v in data.items()}
