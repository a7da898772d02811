"""Environments: construction, reference scores, NeoRL-2's tasks (registered as neorl2/TASK-v0 on import)."""

from hybridrl.envs import neorl2  # noqa: F401  (registers the NeoRL-2 tasks with Gymnasium)
from hybridrl.envs.scores import D4RL_REF_SCORES, normalized_score, reference_scores

__all__ = ["D4RL_REF_SCORES", "normalized_score", "reference_scores"]
