"""Environments: construction and reference scores."""

from hybridrl.envs.scores import D4RL_REF_SCORES, normalized_score, reference_scores

__all__ = ["D4RL_REF_SCORES", "normalized_score", "reference_scores"]
