"""Analysis: aggregate statistics over runs and tasks with stratified-bootstrap intervals."""

from hybridrl.analysis.stats import (
    AGGREGATES,
    Interval,
    Profile,
    iqm,
    mean,
    median,
    optimality_gap,
    performance_profile,
    probability_of_improvement,
    stratified_bootstrap,
)

__all__ = [
    "AGGREGATES",
    "Interval",
    "Profile",
    "iqm",
    "mean",
    "median",
    "optimality_gap",
    "performance_profile",
    "probability_of_improvement",
    "stratified_bootstrap",
]
