"""hybridrl: offline, imitation, offline-to-online and hybrid reinforcement learning on JAX."""

from hybridrl.data import Dataset, DatasetError, load_dataset, save_minari, save_npz
from hybridrl.evaluate import Policy, evaluate_policy, load_policy
from hybridrl.train import RunConfig, RunError, train_offline

__version__ = "0.1.0"

__all__ = [
    "Dataset", "DatasetError", "Policy", "RunConfig", "RunError", "evaluate_policy", "load_dataset",
    "load_policy", "save_minari", "save_npz", "train_offline",
]
