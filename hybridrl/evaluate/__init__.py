"""Policy evaluation."""

from hybridrl.evaluate.policy import Policy, load_policy
from hybridrl.evaluate.rollout import EvalResult, evaluate_policy

__all__ = ["EvalResult", "Policy", "evaluate_policy", "load_policy"]
