"""`hybridrl evaluate`: re-scoring a run's checkpoints on more episodes, from the seeds training evaluated on."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from hybridrl.cli import app
from hybridrl.data import save_npz
from hybridrl.data.generate import PENDULUM_ENV

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, pendulum_data):
    from hybridrl.train.offline import RunConfig, train_offline

    root = tmp_path_factory.mktemp("evaluate")
    data_path = save_npz(pendulum_data, root / "pendulum.npz")
    config = RunConfig(algo="bc", dataset=str(data_path), env=PENDULUM_ENV, steps=200, seeds=2, seed=3, eval_every=100,
                       eval_episodes=2, log_every=100, keep_checkpoints=10, agent={"hidden_dims": [16, 16]})
    train_offline(config, pendulum_data, root / "run", progress=False)
    return root / "run"


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_evaluate_reproduces_training_evaluations_then_extends_them(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    trained = {(r["step"], r["seed"]): r for r in _lines(run / "eval.jsonl")}

    # Same checkpoint, same number of episodes, default seeds: exactly training's last evaluation.
    result = runner.invoke(app, ["evaluate", str(run), "--episodes", "2", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [(r["step"], r["seed"], r["episodes"], r["eval_seed"]) for r in records] == [(200, 3, 2, 10_003),
                                                                                       (200, 4, 2, 10_003)]
    for r in records:
        assert r["returns"] == pytest.approx(trained[(200, r["seed"])]["returns"])
        assert r["normalized_score"] == pytest.approx(trained[(200, r["seed"])]["normalized_score"])

    # An older checkpoint on 5 episodes: its first 2 are training's episodes at that step, then 3 more.
    result = runner.invoke(app, ["evaluate", str(run), "--step", "100", "--episodes", "5"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "at step 100: 5 episodes per seed from reset seed 10003" in text
    assert f"appended to {run / 'evaluations.jsonl'}" in text
    saved = _lines(run / "evaluations.jsonl")
    assert [(r["step"], r["episodes"]) for r in saved] == [(200, 2), (200, 2), (100, 5), (100, 5)]
    for r in saved[2:]:
        assert len(r["returns"]) == 5
        assert r["returns"][:2] == pytest.approx(trained[(100, r["seed"])]["returns"])
        assert r["return_mean"] == pytest.approx(sum(r["returns"]) / 5)

    # Another start seed gives other episodes.
    result = runner.invoke(app, ["evaluate", str(run), "--episodes", "2", "--seed", "7", "--json"])
    assert result.exit_code == 0, result.output
    assert all(r["eval_seed"] == 7 for r in json.loads(result.output))


def test_evaluate_bad_input(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    hnpg = tmp_path / "hnpg"
    hnpg.mkdir()
    (hnpg / "config.json").write_text(json.dumps({"mode": "onpolicy", "algo": "hnpg"}))
    cases = [
        (["evaluate", str(hnpg)], f"{hnpg}: an hnpg run, whose per-timestep policies cannot be loaded here; its "
                                  "scores are in eval.jsonl (train with a larger --eval-episodes for more episodes)"),
        (["evaluate", str(run), "--step", "150"], f"{run}: no checkpoint at step 150; available: [100, 200]"),
        (["evaluate", str(run), "--episodes", "0"], "--episodes must be at least 1, got 0"),
        (["evaluate", str(tmp_path)], f"{tmp_path}: not a run folder (no config.json)"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (message, result.output)
    assert not (run / "evaluations.jsonl").exists()  # nothing written for a refused evaluation
