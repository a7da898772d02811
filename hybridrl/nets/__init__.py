"""Flax modules shared by the agents."""

from hybridrl.nets.mlp import (
    MLP,
    Critic,
    DeterministicActor,
    Ensemble,
    GaussianActor,
    TanhGaussianActor,
    ValueNet,
    tanh_gaussian_sample,
    torch_linear_init,
)

__all__ = [
    "MLP",
    "Critic",
    "DeterministicActor",
    "Ensemble",
    "GaussianActor",
    "TanhGaussianActor",
    "ValueNet",
    "tanh_gaussian_sample",
    "torch_linear_init",
]
