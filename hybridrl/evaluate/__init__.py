"""Policy evaluation."""

from hybridrl.evaluate.rollout import EvalResult, evaluate_policy

__all__ = ["EvalResult", "evaluate_policy"]
