"""Environments: construction, reference scores, NeoRL-2's tasks (registered as neorl2/TASK-v0 on import)."""

from hybridrl.envs import comblock, neorl2  # noqa: F401  (neorl2 registers the NeoRL-2 tasks with Gymnasium)
from hybridrl.envs.scores import D4RL_REF_SCORES, normalized_score, reference_scores

comblock.register()  # hybridrl/CombinationLock-v0 (HNPG's continuous combination lock; pass horizon=H)

__all__ = ["D4RL_REF_SCORES", "normalized_score", "reference_scores"]
