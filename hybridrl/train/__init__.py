"""Training loops."""

from hybridrl.train.offline import RunConfig, RunError, RunResult, load_run_config, train_offline

__all__ = ["RunConfig", "RunError", "RunResult", "load_run_config", "train_offline"]
