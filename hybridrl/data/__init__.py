"""Datasets: the in-memory :class:`Dataset`, loaders and writers, and validation."""

from hybridrl.data.dataset import Dataset, DatasetError
from hybridrl.data.loaders import load_dataset, save_minari, save_npz
from hybridrl.data.validate import validate

__all__ = ["Dataset", "DatasetError", "load_dataset", "save_minari", "save_npz", "validate"]
