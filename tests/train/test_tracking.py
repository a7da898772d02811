"""Run tracking: summary figures, TensorBoard event files read by TensorBoard itself, `hybridrl runs ls`."""

import json

import pytest
from typer.testing import CliRunner

from hybridrl.cli import app
from hybridrl.train.offline import RunConfig, train_offline
from hybridrl.train.tensorboard import EventWriter, crc32c


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, pendulum_data):
    out = tmp_path_factory.mktemp("runs") / "bc-tiny"
    config = RunConfig(algo="bc", dataset="scripted", env="InvertedPendulum-v5", steps=200, seeds=2, eval_every=100,
                       eval_episodes=2, log_every=100, agent={"hidden_dims": [16, 16]})
    train_offline(config, pendulum_data, out, progress=False)
    return out


def test_crc32c_known_value():
    # The standard check value of CRC-32C (RFC 3720, appendix B.4).
    assert crc32c(b"123456789") == 0xE3069283


def test_event_file_round_trip_through_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = EventWriter(tmp_path / "tb")
    writer.scalars(10, {"a/loss": 0.5, "b": -2.25, "skipped": None, "nan": float("nan")})
    writer.scalars(20, {"a/loss": 0.25})
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert sorted(acc.Tags()["scalars"]) == ["a/loss", "b"]
    assert [(e.step, e.value) for e in acc.Scalars("a/loss")] == [(10, 0.5), (20, 0.25)]
    assert [(e.step, e.value) for e in acc.Scalars("b")] == [(10, -2.25)]


def test_training_writes_tensorboard_summary_and_machine(tiny_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tiny_run / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"train/actor_loss/seed_0", "train/actor_loss/seed_1", "eval/return_mean/seed_1"} <= set(tags)
    evals = [json.loads(line) for line in (tiny_run / "eval.jsonl").read_text().splitlines()]
    expected = [(r["step"], r["return_mean"]) for r in evals if r["seed"] == 1]
    got = [(e.step, e.value) for e in acc.Scalars("eval/return_mean/seed_1")]
    assert [s for s, _ in got] == [s for s, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-6)

    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["peak_memory_mb"]["host"] > 50  # a JAX process holds well over 50 MB
    assert {"compile", "train", "evaluate", "io", "updates_per_s"} <= set(summary["timings_s"])
    machine = json.loads((tiny_run / "meta.json").read_text())["machine"]
    assert machine["cpu_count"] >= 1 and machine["memory_gb"] > 0 and machine["gpus"] == []


def test_runs_ls_lists_the_run_with_its_figures(tiny_run):
    result = CliRunner().invoke(app, ["runs", "ls", str(tiny_run.parent), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["run"] == "bc-tiny" and row["algo"] == "bc" and row["mode"] == "offline"
    assert (row["seeds"], row["step"], row["planned_steps"], row["status"]) == (2, 200, 200, "finished")
    assert row["updates_per_s"] > 0 and row["peak_memory_mb"]["host"] > 0 and row["git_commit"]
    table = CliRunner().invoke(app, ["runs", "ls", str(tiny_run.parent)])
    assert table.exit_code == 0 and f"1 run(s) under {tiny_run.parent}" in " ".join(table.output.split())


def test_runs_ls_errors(tmp_path):
    missing = CliRunner().invoke(app, ["runs", "ls", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert f"{tmp_path / 'nope'}: no such folder" in " ".join(missing.output.split())
    empty = CliRunner().invoke(app, ["runs", "ls", str(tmp_path)])
    assert empty.exit_code == 2 and "no run folders found" in " ".join(empty.output.split())
