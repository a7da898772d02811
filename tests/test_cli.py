"""The command line: data info, train (with bad input), kill and resume, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hybridrl.agents import AGENTS
from hybridrl.cli import app
from hybridrl.data import save_npz

runner = CliRunner()
SMALL = ["--set", "hidden_dims=[32,32]"]


@pytest.fixture(scope="module")
def npz_path(tmp_path_factory, pendulum_data):
    return save_npz(pendulum_data, tmp_path_factory.mktemp("data") / "pendulum.npz")


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env["JAX_COMPILATION_CACHE_DIR"] = str(Path(__file__).resolve().parents[1] / ".jax_cache")
    return env


def test_data_info(npz_path, pendulum_data):
    result = runner.invoke(app, ["data", "info", str(npz_path), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["transitions"] == 20_000
    assert stats["episodes"] == pendulum_data.num_episodes
    assert stats["return"]["max"] == pytest.approx(1000.0)
    table = runner.invoke(app, ["data", "info", str(npz_path)])
    assert table.exit_code == 0 and "episodes" in table.output.lower()


def test_data_info_missing_file(tmp_path):
    result = runner.invoke(app, ["data", "info", str(tmp_path / "nope.npz")])
    assert result.exit_code == 2
    assert "nope.npz" in result.output and "no such file" in result.output.lower()


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "ppo", "--dataset", "x.npz"], "unknown algorithm 'ppo'; choose one of: " + ", ".join(sorted(AGENTS))),
        (["train", "bc"], "missing --dataset"),
        (["train", "bc", "--dataset", "DATA", "--steps", "0"], "--steps must be at least 1, got 0"),
        (["train", "bc", "--dataset", "DATA", "--set", "learning_rat=1"], "unknown config key(s) ['learning_rat'] for bc"),
        (["train", "bc", "--dataset", "DATA", "--set", "oops"], "--set expects key=value, got 'oops'"),
        (["train", "iql", "--dataset", "DATA", "--set", "expectile=high"],
         "iql setting expectile must be a number (default 0.7), got 'high'"),
        (["train", "bc", "--dataset", "DATA", "--set", "hidden_dims=64"],
         "bc setting hidden_dims must be a list of integers such as [256, 256] (default [256, 256]), got 64"),
        (["finetune", "calql", "--dataset", "DATA", "--set", "use_calql=1"],
         "calql setting use_calql must be true or false (default true), got 1"),
        (["finetune", "iql", "--dataset", "DATA", "--online-steps", "0"], "--online-steps must be at least 1, got 0"),
        (["train", "sac", "--env", "Pendulum-v1", "--online-steps", "0"], "--online-steps must be at least 1, got 0"),
        (["finetune", "iql", "--dataset", "DATA", "--env", "CartPole-v1"],
         "environment 'CartPole-v1' needs flat Box observations and actions for online training"),
        (["train", "bc", "--dataset", "DATA", "--env", "NoSuchEnv-v0"], "cannot make environment 'NoSuchEnv-v0'"),
        (["train", "bc", "--dataset", "DATA", "--env", "Hopper-v5"], "dataset actions have dimension 1 but Hopper-v5 expects 3"),
        (["train", "bc", "--dataset", "DATA", "--out", "DATA/run"], "cannot create the run folder DATA/run (Not a directory); choose another --out"),
    ],
)
def test_train_bad_input_fails_cleanly(args, message, npz_path, tmp_path):
    out = tmp_path / "run"
    args = [a.replace("DATA", str(npz_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(out)]
    result = runner.invoke(app, [*args, "--no-progress"])
    assert result.exit_code == 2, result.output
    assert message.replace("DATA", str(npz_path)) in " ".join(result.output.split())
    assert not out.exists()  # nothing half-written


def test_train_refuses_nan_dataset(tmp_path, pendulum_data):
    rewards = pendulum_data.rewards.copy()
    rewards[7] = np.nan
    path = tmp_path / "bad.npz"
    np.savez(path, observations=pendulum_data.observations, actions=pendulum_data.actions, rewards=rewards,
             terminals=pendulum_data.terminals, timeouts=pendulum_data.timeouts)
    result = runner.invoke(app, ["train", "bc", "--dataset", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "field 'rewards'" in result.output and "NaN" in result.output
    assert not (tmp_path / "run").exists()


def test_train_writes_run_folder(npz_path, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "bc", "--dataset", str(npz_path), "--env", "InvertedPendulum-v5",
                                 "--steps", "200", "--seeds", "2", "--eval-every", "100", "--eval-episodes", "2",
                                 "--log-every", "50", "--out", str(out), "--no-progress", *SMALL])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"config.json", "meta.json", "preprocessing.json", "metrics.jsonl",
                                               "eval.jsonl", "summary.json", "checkpoints"}
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["seed"]) for r in metrics] == [(s, seed) for s in (50, 100, 150, 200) for seed in (0, 1)]
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [(r["step"], r["seed"]) for r in evals] == [(100, 0), (100, 1), (200, 0), (200, 1)]
    assert all(len(r["returns"]) == 2 and "normalized_score" in r for r in evals)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["packages"]["jax"] and "commit" in meta["git"]
    config = json.loads((out / "config.json").read_text())
    assert config["agent"]["hidden_dims"] == [32, 32] and config["run"]["seeds"] == 2
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000000100.msgpack", "step_000000200.msgpack"]


# A shell without job control starts background jobs with SIGINT ignored, and Python keeps it ignored; the child
# restores Python's Ctrl-C handling itself, so the Ctrl-C test sends a real Ctrl-C wherever the suite runs.
_CLI_WITH_CTRL_C = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                    "sys.argv[0] = 'hybridrl'; runpy.run_module('hybridrl.cli', run_name='__main__')")


def _start_training(npz_path: Path, out: Path, steps: int = 3000) -> subprocess.Popen:
    cmd = [sys.executable, "-c", _CLI_WITH_CTRL_C, "train", "td3_bc", "--dataset", str(npz_path),
           "--env", "InvertedPendulum-v5", "--steps", str(steps), "--seeds", "2", "--eval-every", "1000",
           "--eval-episodes", "1", "--log-every", "100", "--checkpoint-every", "100", "--keep-checkpoints", "100",
           "--out", str(out), "--no-progress", *SMALL]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_cli_env())


def _wait_for_checkpoint(proc: subprocess.Popen, out: Path, name: str, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while not (out / "checkpoints" / name).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "training did not reach its first checkpoints in time"
        time.sleep(0.01)


def test_killed_run_resumes_from_last_checkpoint(npz_path, tmp_path):
    out = tmp_path / "run"
    proc = _start_training(npz_path, out)
    _wait_for_checkpoint(proc, out, "step_000000500.msgpack")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    steps_done = max(int(p.stem.split("_")[1]) for p in (out / "checkpoints").glob("step_*.msgpack"))
    assert 500 <= steps_done < 3000, "the run finished before it could be killed; make it longer"
    assert not (out / "summary.json").exists()

    result = runner.invoke(app, ["train", "--resume", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["seed"]) for r in metrics] == [(s, seed) for s in range(100, 3001, 100) for seed in (0, 1)]
    evals = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in evals] == [1000, 1000, 2000, 2000, 3000, 3000]
    assert json.loads((out / "summary.json").read_text())["step"] == 3000
    longer = runner.invoke(app, ["train", "--resume", str(out), "--online-steps", "10", "--no-progress"])
    assert longer.exit_code == 2
    assert f"error: {out} is an offline run; --online-steps with --resume extends an online run" in \
        " ".join(longer.output.split())


def test_ctrl_c_keeps_checkpoint_and_says_how_to_resume(npz_path, tmp_path):
    out = tmp_path / "run"
    # Far more steps than it can run before the signal, however busy the machine (a finished run exits 0).
    proc = _start_training(npz_path, out, steps=1_000_000)
    _wait_for_checkpoint(proc, out, "step_000000100.msgpack")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert f"Continue with: hybridrl train --resume {out}" in " ".join(stderr.split())
    assert not list((out / "checkpoints").glob(".*tmp*"))  # no half-written checkpoint left behind


def test_resume_rejects_folder_without_run(tmp_path):
    result = runner.invoke(app, ["train", "--resume", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a run folder (no config.json)" in result.output


def test_fusion_without_its_models_fails_in_one_line(tmp_path, monkeypatch):
    """Online training and data making on NeoRL-2 Fusion with no ONNX model folder: exit 2, one line that says
    which variable to set, no traceback and nothing written."""
    monkeypatch.delenv("HYBRIDRL_NEORL2_FUSION_DIR", raising=False)
    out, root = tmp_path / "run", tmp_path / "datasets"
    fix = "Fusion needs NeoRL-2's ONNX dynamics models, and none were given: set HYBRIDRL_NEORL2_FUSION_DIR"
    for args, first in (
            (["train", "sac", "--env", "neorl2/Fusion-v0", "--online-steps", "10", "--out", str(out), "--no-progress"],
             "error: cannot make environment 'neorl2/Fusion-v0': "),
            (["data", "make", "neorl2-fusion-val", "--size", "100", "--root", str(root)], "error: 'neorl2-fusion-val': ")):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert (first + fix) in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not out.exists() and not root.exists()


def test_data_make_checks_where_it_writes_before_collecting(tmp_path, monkeypatch):
    """An existing dataset (without --overwrite) or a root that cannot be made is refused in one line before the
    minutes of collection: the data maker is never called, and nothing is written."""
    import hybridrl.data.make as make

    monkeypatch.setattr(make, "make_dataset", lambda *a, **k: pytest.fail("collected before checking the target"))
    root = tmp_path / "datasets"
    (root / "hybridrl" / "hopper-medium-v0").mkdir(parents=True)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args, message in (
            (["--root", str(root)], f"{root}/hybridrl/hopper-medium-v0: a dataset with id 'hybridrl/hopper-medium-v0' "
                                    "already exists; pass overwrite=True (--overwrite) or choose another id."),
            (["--root", str(blocker / "sub")], f"{blocker}/sub: cannot write a dataset here ({blocker} is a file); "
                                               "choose a writable root (--root, or $MINARI_DATASETS_PATH)."),
    ):
        result = runner.invoke(app, ["data", "make", "hopper-medium", *args])
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split())
    assert sorted(p.name for p in root.rglob("*")) == ["hopper-medium-v0", "hybridrl"]
    assert blocker.read_text() == ""
