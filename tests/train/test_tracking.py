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


def test_runs_ls_lists_the_run_with_its_figures(tiny_run, monkeypatch):
    from hybridrl import cli

    monkeypatch.setattr(cli.console, "width", 200)  # a wide terminal: no cell is folded
    result = CliRunner().invoke(app, ["runs", "ls", str(tiny_run.parent), "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert row["run"] == "bc-tiny" and row["algo"] == "bc" and row["mode"] == "offline"
    assert (row["seeds"], row["step"], row["planned_steps"], row["status"]) == (2, 200, 200, "finished")
    assert row["updates_per_s"] > 0 and row["peak_memory_mb"]["host"] > 0 and row["git_commit"]
    table = CliRunner().invoke(app, ["runs", "ls", str(tiny_run.parent)])
    assert table.exit_code == 0 and f"1 run(s) under {tiny_run.parent}" in " ".join(table.output.split())
    assert "bc-tiny" in table.output and "scripted" in table.output and "200/200" in table.output


def test_runs_ls_errors(tmp_path):
    missing = CliRunner().invoke(app, ["runs", "ls", str(tmp_path / "nope")])
    assert missing.exit_code == 2
    assert f"{tmp_path / 'nope'}: no such folder" in " ".join(missing.output.split())
    empty = CliRunner().invoke(app, ["runs", "ls", str(tmp_path)])
    assert empty.exit_code == 2 and "no run folders found" in " ".join(empty.output.split())


# Optional trackers (wandb, mlflow): neither package is installed for tests; fakes stand in for them.


class _FakeWandbRun:
    def __init__(self, calls, **kwargs):
        self.calls, self.id = calls, kwargs["id"] or "wb123"
        calls.append(("init", kwargs))

    def log(self, scalars, step):
        self.calls.append(("log", step, dict(scalars)))

    def finish(self):
        self.calls.append(("finish",))


def _fake_wandb(calls):
    import types

    return types.SimpleNamespace(init=lambda **kwargs: _FakeWandbRun(calls, **kwargs))


def _fake_mlflow(calls):
    import types

    def start_run(run_id=None, run_name=None):
        calls.append(("start_run", run_id, run_name))
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id=run_id or "ml456"))

    return types.SimpleNamespace(
        set_experiment=lambda name: calls.append(("set_experiment", name)),
        start_run=start_run,
        log_params=lambda params: calls.append(("log_params", params)),
        log_metrics=lambda metrics, step: calls.append(("log_metrics", step, metrics)),
        end_run=lambda: calls.append(("end_run",)),
    )


def test_default_run_has_no_loggers(tiny_run):
    from hybridrl.train.loggers import Loggers

    assert json.loads((tiny_run / "config.json").read_text())["run"]["loggers"] == []
    assert not (tiny_run / "loggers.json").exists()
    assert Loggers([], tiny_run, {}).trackers == []
    # Run folders written before the field existed still load (resume builds RunConfig(**raw["run"])).
    raw = json.loads((tiny_run / "config.json").read_text())["run"]
    del raw["loggers"]
    assert RunConfig(**raw).loggers == []


@pytest.mark.parametrize("name", ["wandb", "mlflow"])
def test_missing_logger_package_is_one_line_error(monkeypatch, tmp_path, pendulum_data, name):
    import sys

    from hybridrl.train.run_dir import RunError

    monkeypatch.setitem(sys.modules, name, None)  # makes `import name` fail, installed or not
    config = RunConfig(algo="bc", dataset="scripted", steps=10, loggers=[name])
    with pytest.raises(RunError, match=rf"install with pip install 'hybridrl\[{name}\]'"):
        train_offline(config, pendulum_data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()  # refused before the run folder is made

    result = CliRunner().invoke(app, ["train", "bc", "--dataset", "x.npz", "--logger", name, "--out", str(tmp_path / "cli")])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert f"--logger {name} needs the {name} package" in message and f"pip install 'hybridrl[{name}]'" in message
    assert not (tmp_path / "cli").exists()


def test_unknown_logger_is_refused(tmp_path):
    result = CliRunner().invoke(app, ["train", "bc", "--dataset", "x.npz", "--logger", "neptune"])
    assert result.exit_code == 2 and "unknown --logger 'neptune'; choose from wandb, mlflow" in " ".join(result.output.split())


def test_online_training_sends_metrics_to_a_logger(monkeypatch, tmp_path):
    import sys

    from hybridrl.train.online import OnlineConfig, train_online

    calls = []
    monkeypatch.setitem(sys.modules, "wandb", _fake_wandb(calls))
    config = OnlineConfig(algo="sac", env="Pendulum-v1", online_steps=200, start_steps=100, eval_every=200,
                          eval_episodes=1, log_every=100, agent={"hidden_dims": [16]}, loggers=["wandb"])
    train_online(config, tmp_path / "run", progress=False)
    logged = [(c[1], c[2]) for c in calls if c[0] == "log"]
    assert [step for step, _ in logged] == [100, 200, 200]
    assert "train/critic_loss/seed_0" in logged[1][1] and "eval/return_mean/seed_0" in logged[2][1]
    assert json.loads((tmp_path / "run" / "loggers.json").read_text()) == {"wandb": "wb123"}


def test_loggers_send_the_tb_scalars_and_resume_the_same_tracker_run(monkeypatch, tmp_path):
    import sys

    from hybridrl.train.loggers import Loggers

    calls = []
    monkeypatch.setitem(sys.modules, "wandb", _fake_wandb(calls))
    monkeypatch.setitem(sys.modules, "mlflow", _fake_mlflow(calls))
    config = {"run": {"algo": "bc", "steps": 5, "agent": {"hidden_dims": [16, 16]}}}
    loggers = Loggers(["wandb", "mlflow"], tmp_path, config)
    loggers.records(100, [{"step": 100, "seed": 0, "loss": 0.5, "returns": [1.0], "flag": True},
                          {"step": 100, "seed": 1, "loss": float("nan")}], "train")
    loggers.close()
    scalars = {"train/loss/seed_0": 0.5}
    assert calls[0][0] == "init" and calls[0][1]["config"] == config and calls[0][1]["name"] == tmp_path.name
    assert calls[1:] == [
        ("set_experiment", "hybridrl"), ("start_run", None, tmp_path.name),
        ("log_params", {"run.algo": "bc", "run.steps": "5", "run.agent.hidden_dims": "[16, 16]"}),
        ("log", 100, scalars), ("log_metrics", 100, scalars), ("finish",), ("end_run",)]
    assert json.loads((tmp_path / "loggers.json").read_text()) == {"wandb": "wb123", "mlflow": "ml456"}

    calls.clear()  # a resumed run continues the same tracker runs and does not log parameters again
    Loggers(["wandb", "mlflow"], tmp_path, config).close()
    assert calls[0][1]["id"] == "wb123" and calls[0][1]["resume"] == "allow"
    assert calls[1:] == [("start_run", "ml456", None), ("finish",), ("end_run",)]


def test_training_sends_metrics_and_evaluations_to_a_logger(monkeypatch, tmp_path, pendulum_data):
    import sys

    calls = []
    monkeypatch.setitem(sys.modules, "wandb", _fake_wandb(calls))
    config = RunConfig(algo="bc", dataset="scripted", env="InvertedPendulum-v5", steps=200, seeds=2, eval_every=200,
                       eval_episodes=1, log_every=100, agent={"hidden_dims": [16, 16]}, loggers=["wandb"])
    train_offline(config, pendulum_data, tmp_path / "run", progress=False)
    logged = [(c[1], c[2]) for c in calls if c[0] == "log"]
    assert [step for step, _ in logged] == [100, 200, 200]
    assert "train/actor_loss/seed_1" in logged[0][1] and "eval/return_mean/seed_0" in logged[2][1]
    evals = [json.loads(line) for line in (tmp_path / "run" / "eval.jsonl").read_text().splitlines()]
    assert logged[2][1]["eval/return_mean/seed_0"] == evals[0]["return_mean"]
    assert calls[-1] == ("finish",)


def test_a_tracker_that_fails_to_start_leaves_no_run_folder(monkeypatch, tmp_path, pendulum_data):
    import sys
    import types

    def init(**kwargs):
        raise RuntimeError("wandb: not logged in")

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=init))
    config = RunConfig(algo="bc", dataset="scripted", steps=10, agent={"hidden_dims": [16, 16]}, loggers=["wandb"])
    with pytest.raises(RuntimeError, match="not logged in"):
        train_offline(config, pendulum_data, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
