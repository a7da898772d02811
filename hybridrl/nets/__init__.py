"""Flax modules shared by the agents."""

from hybridrl.nets.mlp import MLP, Critic, DeterministicActor, Ensemble, GaussianActor, ValueNet, torch_linear_init

__all__ = ["MLP", "Critic", "DeterministicActor", "Ensemble", "GaussianActor", "ValueNet", "torch_linear_init"]
