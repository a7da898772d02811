"""Online SAC: it learns Pendulum-v1, writes a run folder, and resumes from its checkpoint with the buffer."""

import json

import numpy as np
import pytest

from hybridrl.train import checkpoint
from hybridrl.train.offline import RunError
from hybridrl.train.online import OnlineConfig, train_online


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sac_learns_pendulum_on_two_seeds(tmp_path):
    # Random actions score about -1200 on Pendulum-v1; SAC passes -400 by 8k steps (measured: about -130 to -250).
    config = OnlineConfig(algo="sac", env="Pendulum-v1", online_steps=8_000, seeds=2, start_steps=1_000,
                          eval_every=4_000, eval_episodes=5, log_every=1_000, agent={"hidden_dims": [64, 64]})
    result = train_online(config, tmp_path / "run", progress=False)
    assert result.step == 8_000
    assert result.final_returns.shape == (2,)
    assert (result.final_returns > -400).all(), result.final_returns
    evals = _records(tmp_path / "run" / "eval.jsonl")
    assert [(r["step"], r["seed"]) for r in evals] == [(4_000, 0), (4_000, 1), (8_000, 0), (8_000, 1)]
    metrics = _records(tmp_path / "run" / "metrics.jsonl")
    assert len(metrics) == 16 and {"critic_loss", "temperature", "entropy", "train_return"} <= set(metrics[-1])
    assert metrics[0]["train_episodes"] == 5  # 1,000 warm-up steps = 5 episodes of 200 steps per seed
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["timings_s"]["env_steps_per_s"] > 0


def test_resume_restores_states_and_buffer(tmp_path):
    config = OnlineConfig(algo="sac", env="Pendulum-v1", online_steps=600, seeds=2, start_steps=200,
                          eval_every=300, eval_episodes=1, log_every=100, agent={"hidden_dims": [16]})
    out = tmp_path / "run"
    train_online(config, out, progress=False)
    ckpts = checkpoint.list_checkpoints(out / "checkpoints")
    assert [s for s, _ in ckpts] == [300, 600]
    # Lose the last 300 steps as a kill would, then resume.
    ckpts[-1][1].unlink()
    (out / "summary.json").unlink()
    result = train_online(config, out, resume=True, progress=False)
    assert result.step == 600
    steps = [(r["step"], r["seed"]) for r in _records(out / "eval.jsonl")]
    assert steps == [(300, 0), (300, 1), (600, 0), (600, 1)]
    tree = checkpoint.restore(checkpoint.latest(out / "checkpoints")[1], None)
    buffer = tree["buffer"]
    assert np.asarray(buffer["observations"]).shape == (2, 600, 3)
    # The first 300 rows survived the restart unchanged.
    first = checkpoint.restore(ckpts[0][1], None)["buffer"]["rewards"]
    np.testing.assert_array_equal(np.asarray(buffer["rewards"])[:, :300], np.asarray(first))


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(RunError, match=r"^iql fine-tunes from a dataset; pass --dataset \(training from scratch: rlpd, sac\)$"):
        train_online(OnlineConfig(algo="iql", env="Pendulum-v1"), tmp_path / "a", progress=False)
    with pytest.raises(RunError, match=r"^td3_bc cannot act online \(no exploring policy\); online training and "
                                       r"fine-tuning support: calql, iql, rlpd, sac, wsrl$"):
        train_online(OnlineConfig(algo="td3_bc", env="Pendulum-v1"), tmp_path / "a", progress=False)
    with pytest.raises(RunError, match="cannot make environment 'NoSuchEnv-v0'"):
        train_online(OnlineConfig(algo="sac", env="NoSuchEnv-v0"), tmp_path / "b", progress=False)
    with pytest.raises(RunError, match="no checkpoint to resume from"):
        train_online(OnlineConfig(algo="sac", env="Pendulum-v1", online_steps=10), tmp_path / "c", resume=True,
                     progress=False)


def test_cli_trains_online_and_policy_loads(tmp_path):
    from typer.testing import CliRunner

    from hybridrl.cli import app
    from hybridrl.evaluate.policy import load_policy

    out = tmp_path / "cli"
    args = ["train", "sac", "--env", "Pendulum-v1", "--online-steps", "300", "--start-steps", "100", "--eval-every", "300",
            "--eval-episodes", "1", "--set", "hidden_dims=[16]", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"run saved in {out}" in result.output.replace("\n", "")
    assert json.loads((out / "config.json").read_text())["mode"] == "online"
    assert load_policy(out).evaluate(episodes=1, seed=0).returns.shape == (1, 1)
    longer = CliRunner().invoke(app, ["train", "--resume", str(out), "--online-steps", "400", "--no-progress"])
    assert longer.exit_code == 0, longer.output
    assert json.loads((out / "summary.json").read_text())["step"] == 400
    missing_env = CliRunner().invoke(app, ["train", "sac", "--online-steps", "10"])
    assert missing_env.exit_code == 2 and "online training needs --env, e.g. --env Hopper-v5" in missing_env.output


def test_wrapped_env_string_trains_evaluates_with_cost_and_reloads(tmp_path):
    """`--env 'Hopper-v5[delay=1,cost=velocity:0.5]'`: training, evaluation and the reloaded policy all run in the
    wrapped environment; evaluations record the summed safety cost."""
    from hybridrl.evaluate.policy import load_policy

    env = "Hopper-v5[delay=1,cost=velocity:0.5]"
    config = OnlineConfig(algo="sac", env=env, online_steps=200, start_steps=100, eval_every=200, eval_episodes=2,
                          log_every=100, agent={"hidden_dims": [16]})
    train_online(config, tmp_path / "run", progress=False)
    (record,) = _records(tmp_path / "run" / "eval.jsonl")
    assert len(record["costs"]) == 2 and record["cost_mean"] == np.mean(record["costs"])
    assert all(0 <= c <= length for c, length in zip(record["costs"], [record["length_mean"] * 2] * 2))
    assert record["normalized_score"] == pytest.approx(100 * (record["return_mean"] + 20.272305) / (3234.3 + 20.272305))
    policy = load_policy(tmp_path / "run")
    assert policy.env_id == env
    again = policy.evaluate(episodes=2, seed=10_000)  # the run evaluates episode i from seed 10_000 + i
    np.testing.assert_allclose(again.costs[0], record["costs"])
    with pytest.raises(RunError, match=r"^bad wrapper spec 'delay=-1': "):
        train_online(OnlineConfig(algo="sac", env="Hopper-v5[delay=-1]"), tmp_path / "bad", progress=False)


def test_normalized_online_run_scales_by_the_observation_bounds(tmp_path):
    """With no data, normalize_observations maps the observation box onto [-1, 1]: Pendulum's (cos, sin, speed)
    box is [-1, 1] x [-1, 1] x [-8, 8], so the centre is 0 and the half-widths are 1, 1 and 8. An equal pair
    of bounds is only centred. An environment with unbounded observations is refused before any folder is made."""
    import gymnasium as gym

    from hybridrl.train.online import bounds_scaling

    train_online(OnlineConfig(algo="sac", env="Pendulum-v1", online_steps=20, start_steps=10, eval_every=20,
                              eval_episodes=1, agent={"hidden_dims": [8], "normalize_observations": True}),
                 tmp_path / "run", progress=False)
    prep = json.loads((tmp_path / "run" / "preprocessing.json").read_text())
    assert prep["obs_mean"] == [0.0, 0.0, 0.0] and prep["obs_std"] == [1.0, 1.0, 8.0]
    mean, std = bounds_scaling(gym.spaces.Box(np.array([0.0, 2.0, -3.0]), np.array([10.0, 2.0, 1.0])), "x")
    np.testing.assert_array_equal(mean, [5.0, 2.0, -1.0])
    np.testing.assert_array_equal(std, [5.0, 1.0, 2.0])
    with pytest.raises(RunError, match=r"^normalize_observations=true without --dataset scales observations by "
                                       r"Hopper-v5's observation bounds, but 11 of its 11 dimensions are unbounded "
                                       r"\(the first: 0\); drop --set normalize_observations=true, or pass a "
                                       r"--dataset to normalize with its statistics$"):
        train_online(OnlineConfig(algo="sac", env="Hopper-v5", online_steps=20,
                                  agent={"normalize_observations": True}), tmp_path / "hopper", progress=False)
    assert not (tmp_path / "hopper").exists()


def test_reset_seeds_past_2_32_wrap_for_randomstate_envs(tmp_path):
    # DMSD seeds a numpy RandomState, which refuses seeds of 2**32 and more. Seed 2**32 - 1 on 2 seeds makes the
    # second seed's first reset 2**32 and every evaluation seed larger; a resumed run resets from seed + 1,000,003 x
    # step, which passes 2**32 after 4,295 steps from seed 0 (a Fusion behaviour run failed so on resume at 10k).
    config = OnlineConfig(algo="sac", env="neorl2/DMSD-v0", online_steps=40, seeds=2, seed=2**32 - 1, start_steps=10,
                          eval_every=20, eval_episodes=1, log_every=20, agent={"hidden_dims": [16]})
    out = tmp_path / "run"
    train_online(config, out, progress=False)
    ckpts = checkpoint.list_checkpoints(out / "checkpoints")
    ckpts[-1][1].unlink()
    (out / "summary.json").unlink()
    result = train_online(config, out, resume=True, progress=False)
    assert result.step == 40
    assert [(r["step"], r["seed"]) for r in _records(out / "eval.jsonl")] == [
        (20, 2**32 - 1), (20, 2**32), (40, 2**32 - 1), (40, 2**32)]
