"""The on-policy loop (hybridrl/train/onpolicy.py): run folder, records, checkpoints, resume, refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hybridrl.envs.comblock import CombinationLockEnv, offline_dataset
from hybridrl.train import checkpoint
from hybridrl.train.onpolicy import HNPGRunConfig, train_hnpg
from hybridrl.train.run_dir import RunError, read_jsonl

H = 2


def _config(iterations: int) -> HNPGRunConfig:
    return HNPGRunConfig(horizon=H, iterations=iterations, batch_size=20, eval_episodes=4, checkpoint_every=2,
                         seed=3, agent={"critic_steps": 3})


@pytest.fixture(scope="module")
def data():
    return offline_dataset(CombinationLockEnv(H, lock_seed=3), 50, seed=0)


def test_run_folder_records_and_resume(tmp_path, data):
    straight = tmp_path / "straight"
    result = train_hnpg(_config(4), straight, data, progress=False)
    assert result.step == 4
    config = json.loads((straight / "config.json").read_text())
    assert config["mode"] == "onpolicy" and config["env"]["lock"] == data.metadata["lock"]
    assert config["agent"]["name"] == "hnpg" and config["agent"]["horizon"] == H and config["agent"]["hybrid"]
    evals, metrics = read_jsonl(straight / "eval.jsonl"), read_jsonl(straight / "metrics.jsonl")
    assert [r["step"] for r in evals] == [1, 2, 3, 4] == [r["step"] for r in metrics]
    assert [r["env_steps"] for r in evals] == [20, 40, 60, 80]  # 10 episodes of 2 steps per iteration
    assert all(len(r["returns"]) == 4 and 0.0 <= r["success_rate"] <= 1.0 for r in evals)
    assert "critic_loss_offline" in metrics[0] and "kl" in metrics[0]
    summary = json.loads((straight / "summary.json").read_text())
    assert summary["step"] == 4 and summary["env_steps"] == 80 and len(summary["final_success_rate"]) == 1
    assert [s for s, _ in checkpoint.list_checkpoints(straight / "checkpoints")] == [2, 4]

    resumed = tmp_path / "resumed"
    train_hnpg(_config(2), resumed, data, progress=False)
    train_hnpg(_config(4), resumed, data, progress=False, resume=True)
    assert read_jsonl(resumed / "eval.jsonl") == evals  # same episodes, same keys, same numbers
    a = checkpoint.restore(checkpoint.latest(straight / "checkpoints")[1], None)
    b = checkpoint.restore(checkpoint.latest(resumed / "checkpoints")[1], None)
    flat = lambda tree: np.concatenate([np.ravel(x) for x in __import__("jax").tree.leaves(tree)])
    np.testing.assert_array_equal(flat(a["state"]), flat(b["state"]))


def test_refusals(tmp_path, data):
    with pytest.raises(RunError, match="horizon"):
        train_hnpg(HNPGRunConfig(horizon=3, iterations=1, batch_size=6), tmp_path / "a", data, progress=False)
    with pytest.raises(RunError, match="no checkpoint"):
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "config.json").write_text(json.dumps({"env": {"lock": data.metadata["lock"]}}))
        train_hnpg(_config(1), tmp_path / "b", data, progress=False, resume=True)
    with pytest.raises(RunError, match="batch_size"):
        train_hnpg(HNPGRunConfig(batch_size=0), tmp_path / "c", progress=False)
