"""Offline-to-online fine-tuning: the mixed sampler's exact ratio, the schedule, phases, MC returns, resume."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrl.train import checkpoint
from hybridrl.train.offline import RunError
from hybridrl.train.online import (
    Mix,
    OnlineConfig,
    mixed_batch,
    offline_rows,
    parse_mix,
    train_online,
)


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_mix_ratio_holds_exactly_in_every_minibatch():
    """Offline rows are +1, online rows -1: every 256-row minibatch of 20 (RLPD's UTD) holds exactly n offline rows,
    over 50 batches, whatever n is (a traced value, so an annealed share needs no recompiling)."""
    offline = {"observations": jnp.ones((1000, 2)), "rewards": jnp.ones(1000)}
    buffer = {"observations": -jnp.ones((500, 2)), "rewards": -jnp.ones(500)}
    draw = jax.jit(lambda key, n: mixed_batch(buffer, offline, key, 300, 20 * 256, 256, n, ("observations", "rewards")))
    for n in (128, 0, 256, 77):
        for i in range(50):
            batch = draw(jax.random.PRNGKey(i), n)
            from_offline = (batch["rewards"] > 0).reshape(20, 256)
            assert (from_offline.sum(axis=1) == n).all()
            assert (from_offline[:, :n]).all()  # the first n rows of each minibatch
            np.testing.assert_array_equal(batch["observations"][:, 0], batch["rewards"])


def test_online_rows_come_only_from_the_filled_part():
    buffer = {"rewards": jnp.arange(100.0)}
    batch = mixed_batch(buffer, None, jax.random.PRNGKey(0), 7, 4096, 256, 0, ("rewards",))
    assert batch["rewards"].max() <= 6.0 and set(np.unique(batch["rewards"]).tolist()) == set(range(7))


def test_mix_schedules():
    assert parse_mix("0.5") == Mix(0.5, 0.5)
    assert parse_mix("0.5->0") == Mix(0.5, 0.0)
    fixed, anneal, union = parse_mix("0.25"), parse_mix("1->0"), parse_mix("union")
    assert fixed.share(900, 1000, 10, 10) == 0.25
    assert [anneal.share(t, 1000, 0, 0) for t in (0, 250, 1000, 2000)] == [1.0, 0.75, 0.0, 0.0]
    assert union.share(5, 1000, 300, 100) == 0.75  # 300 offline and 100 online rows pooled
    assert offline_rows(0.5, 256) == 128 and offline_rows(0.75, 256) == 192 and offline_rows(0.0, 256) == 0
    assert not parse_mix("0").uses_offline and parse_mix("union").uses_offline
    for bad in ("1.5", "half", "0.5->", "0.1->0.2->0.3"):
        with pytest.raises(RunError, match=r"^--mix must be an offline share in \[0, 1\] \('0.5'\), an annealed one "
                                           rf"\('0.5->0'\) or 'union', got '{bad}'$"):
            parse_mix(bad)


def test_discounted_returns_by_hand():
    from hybridrl.data.transforms import discounted_returns

    # r = 1, 0, 2 with gamma 0.5: G2 = 2, G1 = 0 + 0.5 * 2 = 1, G0 = 1 + 0.5 * 1 = 1.5; nothing after the end.
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 0.0, 2.0]), np.array([2]), 0.5), [1.5, 1.0, 2.0])
    # Two episodes, [1, 0] and [2]: the second's return does not leak into the first.
    np.testing.assert_allclose(discounted_returns(np.array([1.0, 0.0, 2.0]), np.array([1, 2]), 0.5), [1.0, 0.0, 2.0])


def test_online_mc_returns_are_written_when_each_episode_ends(tmp_path, pendulum_minari):
    """Cal-QL: 300 random-action steps of InvertedPendulum (short episodes). Every finished episode's rows hold
    its discounted return-to-go on the buffer's (scaled) rewards; the running episode's rows still hold -inf."""
    from hybridrl.data import load_dataset
    from hybridrl.data.transforms import discounted_returns

    config = _finetune_config(pendulum_minari, algo="calql", offline_steps=20, online_steps=300, seeds=1,
                              start_steps=300, eval_every=300, eval_episodes=1, log_every=300, mix="0.5",
                              agent={"hidden_dims": [16]})
    train_online(config, tmp_path / "run", dataset=load_dataset(pendulum_minari), progress=False)
    buffer = checkpoint.restore(checkpoint.latest(tmp_path / "run" / "checkpoints")[1], None)["buffer"]
    rewards, mc = np.asarray(buffer["rewards"])[0], np.asarray(buffer["mc_returns"])[0]
    ends = np.flatnonzero((np.asarray(buffer["masks"])[0] == 0) | (np.asarray(buffer["timeouts"])[0] == 1))
    assert len(ends) >= 5 and ends[-1] < 299  # several episodes ended, and the last one is still running
    done = ends[-1] + 1
    np.testing.assert_allclose(mc[:done], discounted_returns(rewards[:done], ends, 0.99), rtol=1e-6)
    assert np.isneginf(mc[done:]).all()


@pytest.fixture(scope="module")
def pendulum_minari(tmp_path_factory, pendulum_data):
    from hybridrl.data import save_minari

    return save_minari(pendulum_data, "test/pendulum-scripted-v0", root=tmp_path_factory.mktemp("data"))


def _finetune_config(dataset, **changes):
    values = dict(algo="iql", env="InvertedPendulum-v5", dataset=str(dataset), offline_steps=300, online_steps=400,
                  seeds=2, start_steps=0, eval_every=200, eval_episodes=2, log_every=100, mix="0.5->0",
                  agent={"hidden_dims": [32, 32]})
    values.update(changes)
    return OnlineConfig(**values)


def test_finetune_phases_logs_and_resume(tmp_path, pendulum_minari):
    """IQL: 300 offline updates, then 400 environment steps with an annealed share; stopped after 300 online steps
    and resumed, it ends with the same buffer size as an uninterrupted run and continues its curve."""
    from hybridrl.data import load_dataset

    data = load_dataset(pendulum_minari)
    config = _finetune_config(pendulum_minari)
    out = tmp_path / "run"
    result = train_online(config, out, dataset=data, progress=False)
    assert result.step == 700
    evals = _records(out / "eval.jsonl")
    assert [(r["step"], r["env_steps"], r["phase"]) for r in evals if r["seed"] == 0] == [
        (200, 0, "offline"), (300, 0, "offline"), (500, 200, "online"), (700, 400, "online")]
    online = [r for r in _records(out / "metrics.jsonl") if r["phase"] == "online" and r["seed"] == 0]
    assert [r["env_steps"] for r in online] == [100, 200, 300, 400]
    assert [round(r["offline_share"], 3) for r in online] == [0.375, 0.25, 0.125, 0.0]  # 0.5 -> 0 over 400 steps
    whole = checkpoint.restore(checkpoint.latest(out / "checkpoints")[1], None)["buffer"]
    assert np.asarray(whole["rewards"]).shape == (2, 400)
    # The policies of a fine-tuning run load like any other run's, in the run's environment.
    from hybridrl.evaluate.policy import load_policy

    assert load_policy(out).evaluate(episodes=1, seed=0).returns.shape == (2, 1)

    # Stopped at 300 online steps (step 600): only the checkpoint at 200 online steps survives, then resume.
    ckpts = checkpoint.list_checkpoints(out / "checkpoints")
    assert [s for s, _ in ckpts] == [300, 500, 700]
    ckpts[-1][1].unlink()
    (out / "summary.json").unlink()
    resumed = train_online(config, out, dataset=data, resume=True, progress=False)
    assert resumed.step == 700
    after = checkpoint.restore(checkpoint.latest(out / "checkpoints")[1], None)["buffer"]
    assert np.asarray(after["rewards"]).shape == (2, 400)
    np.testing.assert_array_equal(np.asarray(after["rewards"])[:, :200], np.asarray(whole["rewards"])[:, :200])
    steps = [(r["step"], r["env_steps"]) for r in _records(out / "eval.jsonl") if r["seed"] == 0]
    assert steps == [(200, 0), (300, 0), (500, 200), (700, 400)]  # the curve continues, nothing duplicated


def test_a_finished_run_resumed_with_a_longer_budget_goes_on(tmp_path, pendulum_minari):
    """`finetune --resume RUN --online-steps M`: a finished 400-step run extended to 600 keeps its 400 buffer rows,
    grows the buffer to 600, continues its curve, records the extension and is finished again at the new end."""
    from hybridrl.data import load_dataset
    from hybridrl.train.online import extend, load_online_config

    data = load_dataset(pendulum_minari)
    out = tmp_path / "run"
    train_online(_finetune_config(pendulum_minari, mix="0.5"), out, dataset=data, progress=False)
    before = checkpoint.restore(checkpoint.latest(out / "checkpoints")[1], None)["buffer"]
    result = train_online(extend(load_online_config(out), 600), out, dataset=data, resume=True, progress=False)
    assert result.step == 900
    after = checkpoint.restore(checkpoint.latest(out / "checkpoints")[1], None)["buffer"]
    assert np.asarray(after["rewards"]).shape == (2, 600)
    for field in before:
        np.testing.assert_array_equal(np.asarray(after[field])[:, :400], np.asarray(before[field]))
    steps = [(r["step"], r["env_steps"]) for r in _records(out / "eval.jsonl") if r["seed"] == 0]
    assert steps == [(200, 0), (300, 0), (500, 200), (700, 400), (900, 600)]
    recorded = json.loads((out / "config.json").read_text())
    assert recorded["run"]["online_steps"] == 600
    assert recorded["extended"] == [{"step": 700, "online_steps_before": 400}]
    assert json.loads((out / "summary.json").read_text())["step"] == 900

    config = load_online_config(out)
    with pytest.raises(RunError, match=r"^--online-steps 500 is below the run's 600; with --resume it can only extend "
                                       r"a run: pass 600 or more$"):
        extend(config, 500)
    assert extend(config, 600) is config
    annealed = _finetune_config(pendulum_minari)
    with pytest.raises(RunError, match=r"^cannot extend a run whose --mix 0.5->0 anneals over its 400 online steps; "
                                       r"start a new run with --online-steps 800$"):
        extend(annealed, 800)


def test_finetune_refuses_mismatched_data_and_bad_settings(tmp_path, pendulum_minari):
    from hybridrl.data import load_dataset

    data = load_dataset(pendulum_minari)
    with pytest.raises(RunError, match=r"has observations of dimension 4 and actions of dimension 1, but Hopper-v5 "
                                       r"has 11 and 3; pass the matching --env$"):
        train_online(_finetune_config(pendulum_minari, env="Hopper-v5"), tmp_path / "a", dataset=data, progress=False)
    with pytest.raises(RunError, match=r"^--offline-steps, --init-from and an offline share in --mix need a --dataset$"):
        train_online(OnlineConfig(algo="sac", env="Pendulum-v1", mix="0.5"), tmp_path / "b", progress=False)
    with pytest.raises(RunError, match=r"^--warmup-steps must be 0 or more, got -1$"):
        train_online(_finetune_config(pendulum_minari, warmup_steps=-1), tmp_path / "c", dataset=data, progress=False)


def test_iql_pre_training_learns_and_offline_only_batches_keep_the_score(tmp_path, pendulum_minari):
    """IQL pre-trained on the scripted InvertedPendulum data passes 90 offline (measured: 100 from 750 updates on);
    1,000 online steps whose batches are all offline ('--mix 1') keep it above 90 (measured: 100 on both seeds).

    With online rows in the batches it does not keep it: at '--mix 0.9' seed 0 fell to 32 after 250 online steps
    and to 8 after 1,000 (seed 1 stayed at 100), the collapse at the start of fine-tuning (docs/finetune.md)."""
    from hybridrl.data import load_dataset

    config = _finetune_config(pendulum_minari, offline_steps=2_000, online_steps=1_000, eval_every=1_000,
                              eval_episodes=3, log_every=500, mix="1", agent={"hidden_dims": [64, 64]})
    result = train_online(config, tmp_path / "run", dataset=load_dataset(pendulum_minari), progress=False)
    offline = [r["normalized_score"] for r in _records(tmp_path / "run" / "eval.jsonl") if r["phase"] == "offline"]
    assert min(offline[-2:]) > 90, offline
    assert (result.final_scores > 90).all(), result.final_scores


def test_rlpd_with_offline_data_learns_inverted_pendulum_within_2000_online_steps(tmp_path, pendulum_minari):
    """RLPD's settings (10 LayerNorm critics, 2-critic target, UTD 20, 50/50 batches, no pre-training) with 64-64
    networks, minibatches of 64 and 200 random steps: with the scripted data each seed passes a return of 900 at
    some evaluation (every 500 steps) within 2,000 online steps; an untrained policy returns below 50. Measured on
    an AMD EPYC CPU: 60 and 86 at 500 steps, 129 and 300 at 1,000, 1000 on both seeds at 1,500 and 2,000 (90 s of
    one core; with RLPD's minibatches of 256 it took 270 s). A seed's return can swing between evaluations (on an
    Intel Xeon, whose XLA kernels round differently, 256-row minibatches gave 1000 and 117 at 1,000 steps, 540 and
    1000 at 1,500), so the test asks for each seed's best."""
    from hybridrl.data import load_dataset

    config = _finetune_config(pendulum_minari, algo="rlpd", offline_steps=0, online_steps=2_000, start_steps=200,
                              eval_every=500, eval_episodes=5, log_every=500, mix="0.5",
                              agent={"hidden_dims": [64, 64], "batch_size": 64})
    out = tmp_path / "run"
    train_online(config, out, dataset=load_dataset(pendulum_minari), progress=False)
    best = {}
    for r in _records(out / "eval.jsonl"):
        best[r["seed"]] = max(best.get(r["seed"], 0.0), r["return_mean"])
    assert len(best) == 2 and min(best.values()) > 900, best


def _by_phase(out):
    """{(phase, env_steps): [return of seed 0, seed 1, ...]} at the last offline and every online evaluation."""
    curve = {}
    for r in _records(out / "eval.jsonl"):
        curve.setdefault((r["phase"], r["env_steps"]), []).append(r["return_mean"])
    return curve


def test_wsrl_online_phase_improves_a_weak_pre_trained_policy(tmp_path, pendulum_minari):
    """WSRL (10 LayerNorm critics, subsample 2, UTD 4; 64-64 networks, minibatches of 64): 300 CQL updates leave
    a weak policy (measured returns 20 and 7), 200 warm-up steps with it, then 2,000 online steps with no offline
    data. Both seeds improve and the mean return rises more than fivefold (measured on an AMD EPYC CPU: 137 and
    1000; on an Intel Xeon, whose XLA kernels round differently: from 7 and 28 to 143 and 123).

    Pre-trained to a good policy instead (2,000 updates: 869 and 1000), the same online phase with 1,000 warm-up
    steps held 1000 on both seeds after 500 online steps and fell to 185 and 116 after 1,000, a dip both seeds
    recovered from by 3,000 (scripts/wsrl_dip.py, docs/finetune.md)."""
    from hybridrl.data import load_dataset

    config = _finetune_config(pendulum_minari, algo="wsrl", offline_steps=300, online_steps=2_000, warmup_steps=200,
                              eval_every=2_000, eval_episodes=5, log_every=1_000, mix="0",
                              agent={"hidden_dims": [64, 64], "batch_size": 64})
    out = tmp_path / "run"
    train_online(config, out, dataset=load_dataset(pendulum_minari), progress=False)
    curve = _by_phase(out)
    pre, post = np.array(curve["offline", 0]), np.array(curve["online", 2_000])
    assert pre.max() < 50 and (post > pre).all() and post.mean() > 5 * pre.mean(), (pre, post)


def test_calql_pre_trained_policy_keeps_its_score_through_fine_tuning(tmp_path, pendulum_minari):
    """Cal-QL (gamma 0.9, see tests/agents/test_calql.py; 64-64 networks, batches of 64): 6,000 pre-training updates
    pass a normalized score of 90 (measured 100 on both seeds), and 1,000 online steps with 50/50 batches and
    online MC returns keep it above 90 (measured 100: no dip)."""
    from hybridrl.data import load_dataset

    config = _finetune_config(pendulum_minari, algo="calql", offline_steps=6_000, online_steps=1_000,
                              eval_every=1_000, eval_episodes=5, log_every=1_000, mix="0.5",
                              agent={"hidden_dims": [64, 64], "batch_size": 64, "discount": 0.9})
    out = tmp_path / "run"
    result = train_online(config, out, dataset=load_dataset(pendulum_minari), progress=False)
    pre = [r["normalized_score"] for r in _records(out / "eval.jsonl") if r["phase"] == "offline" and r["step"] == 6_000]
    assert min(pre) > 90, pre
    assert (result.final_scores > 90).all(), result.final_scores


@pytest.fixture(scope="module")
def offline_iql_run(tmp_path_factory, pendulum_minari):
    """300 IQL updates on the scripted pendulum data (2 seeds, 32-32 networks), evaluated at the end."""
    from hybridrl.data import load_dataset
    from hybridrl.train.offline import RunConfig, train_offline

    out = tmp_path_factory.mktemp("offline") / "iql"
    config = RunConfig(algo="iql", dataset=str(pendulum_minari), env="InvertedPendulum-v5", steps=300, seeds=2,
                       eval_every=300, eval_episodes=2, log_every=300, agent={"hidden_dims": [32, 32]})
    train_offline(config, load_dataset(pendulum_minari), out, progress=False)
    return out


def test_init_from_an_offline_run_starts_at_its_score_with_its_networks(tmp_path, pendulum_minari, offline_iql_run):
    """With --init-from, the online phase starts from the offline run's networks: its first evaluation (step 0,
    phase offline) equals the offline run's last one, score for score; with no update (start_steps past the end)
    the networks end as they began; the optimizers start fresh."""
    from hybridrl.data import load_dataset

    config = _finetune_config(pendulum_minari, offline_steps=0, online_steps=200, start_steps=1_000, eval_every=200,
                              eval_episodes=2, init_from=str(offline_iql_run))
    out = tmp_path / "run"
    train_online(config, out, dataset=load_dataset(pendulum_minari), progress=False)
    recorded = json.loads((out / "config.json").read_text())["init_from"]
    assert recorded == {"run": str(offline_iql_run), "step": 300, "checkpoint": "step_000000300.msgpack"}
    before = [r for r in _records(offline_iql_run / "eval.jsonl") if r["step"] == 300]
    first = [r for r in _records(out / "eval.jsonl") if r["step"] == 0]
    assert [(r["env_steps"], r["phase"]) for r in first] == [(0, "offline"), (0, "offline")]
    assert [r["returns"] for r in first] == [r["returns"] for r in before]
    offline = checkpoint.restore(checkpoint.latest(offline_iql_run / "checkpoints")[1], None)["states"]
    online = checkpoint.restore(checkpoint.latest(out / "checkpoints")[1], None)["states"]
    for field in ("actor_params", "critic_params", "critic_target", "value_params"):
        jax.tree.map(np.testing.assert_array_equal, online[field], offline[field])
    assert int(np.max(offline["actor_opt"]["0"]["count"])) == 300
    assert int(np.max(online["actor_opt"]["0"]["count"])) == 0


def test_init_from_refuses_a_run_that_does_not_match(tmp_path, pendulum_minari, offline_iql_run):
    from hybridrl.data import load_dataset, save_minari

    data = load_dataset(pendulum_minari)
    where = f"--init-from {offline_iql_run}"

    def refused(**changes):
        config = _finetune_config(pendulum_minari, offline_steps=0, online_steps=100, eval_every=100,
                                  init_from=str(offline_iql_run), **changes)
        with pytest.raises(RunError) as info:
            train_online(config, tmp_path / "run", dataset=data, progress=False)
        return str(info.value)

    assert refused(seeds=3) == f"{where}: it trained seeds [0, 1], this run has [0, 1, 2]; pass --seed 0 --seeds 2"
    assert refused(algo="sac") == f"{where}: it trained iql, not sac; fine-tune it with hybridrl finetune iql"
    assert refused(agent={"hidden_dims": [16, 16]}) == (
        f"{where}: its actor_params have other shapes than this run's; pass the same --set network settings "
        "(hidden_dims, ...) it was trained with")
    assert refused(agent={"hidden_dims": [32, 32], "normalize_observations": True}) == (
        f"{where}: its observation normalization or reward scaling differs from this run's; pass the same --set "
        "normalize_observations=... reward_scaling=... it was trained with")
    other = load_dataset(save_minari(data, "test/other-v0", root=tmp_path / "data"))
    config = _finetune_config(pendulum_minari, init_from=str(offline_iql_run))
    with pytest.raises(RunError, match=rf"^{where}: it trained on test/pendulum-scripted-v0, this run's data are "
                                       r"test/other-v0; pass --dataset "):
        train_online(config, tmp_path / "other", dataset=other, progress=False)
    config = _finetune_config(pendulum_minari, init_from=str(tmp_path))
    with pytest.raises(RunError, match=rf"^--init-from {tmp_path}: no config.json there; pass the folder of a "
                                       r"finished `hybridrl train` run$"):
        train_online(config, tmp_path / "none", dataset=data, progress=False)


def test_cli_finetune_init_from_takes_the_runs_algorithm_data_seeds_and_networks(tmp_path, offline_iql_run):
    from typer.testing import CliRunner

    from hybridrl.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["finetune", "--init-from", str(offline_iql_run), "--online-steps", "100",
                                      "--eval-every", "100", "--eval-episodes", "1", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "config.json").read_text())
    offline = json.loads((offline_iql_run / "config.json").read_text())["run"]
    run = recorded["run"]
    assert (run["algo"], run["dataset"], run["seeds"], run["offline_steps"], run["init_from"]) == (
        "iql", offline["dataset"], 2, 0, str(offline_iql_run))
    assert recorded["agent"]["hidden_dims"] == [32, 32]
    bad = CliRunner().invoke(app, ["finetune", "--init-from", str(out), "--no-progress"])
    assert bad.exit_code == 2
    assert f"--init-from {out}: not an offline run folder" in " ".join(bad.output.split())


def test_cli_finetune_and_resume(tmp_path, pendulum_minari):
    from typer.testing import CliRunner

    from hybridrl.cli import app

    out = tmp_path / "run"
    args = ["finetune", "iql", "--dataset", str(pendulum_minari), "--offline-steps", "200", "--online-steps", "200",
            "--eval-every", "100", "--eval-episodes", "1", "--log-every", "100", "--seeds", "1", "--mix", "0.25",
            "--set", "hidden_dims=[16]", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"continue a stopped run with: hybridrl finetune --resume {out}" in " ".join(result.output.split())
    run = json.loads((out / "config.json").read_text())["run"]
    assert (run["dataset"], run["offline_steps"], run["mix"], run["env"]) == (str(pendulum_minari), 200, "0.25",
                                                                             "InvertedPendulum-v5")
    assert CliRunner().invoke(app, ["finetune", "--resume", str(out), "--no-progress"]).exit_code == 0
    shorter = CliRunner().invoke(app, ["finetune", "--resume", str(out), "--online-steps", "100", "--no-progress"])
    assert shorter.exit_code == 2
    assert "error: --online-steps 100 is below the run's 200; with --resume it can only extend a run: pass 200 or " \
        "more" in " ".join(shorter.output.split())
    listed = CliRunner().invoke(app, ["runs", "ls", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)  # a step is an update offline, an environment step online
    assert (row["run"], row["mode"], row["data"], row["step"], row["planned_steps"], row["status"]) == (
        "run", "online", str(pendulum_minari), 400, 400, "finished")
    bad = CliRunner().invoke(app, ["finetune", "td3_bc", "--dataset", str(pendulum_minari), "--no-progress"])
    assert bad.exit_code == 2 and "td3_bc cannot act online (no exploring policy)" in bad.output


def test_cli_finetune_hnpg_on_the_combination_lock(tmp_path):
    from typer.testing import CliRunner

    from hybridrl.cli import app

    out = tmp_path / "hnpg"
    args = ["finetune", "hnpg", "--horizon", "2", "--online-steps", "2000", "--eval-every", "1000", "--eval-episodes",
            "5", "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = json.loads((out / "config.json").read_text())
    assert run["mode"] == "onpolicy" and (run["run"]["horizon"], run["run"]["iterations"]) == (2, 2)
    assert [r["env_steps"] for r in _records(out / "eval.jsonl")] == [1000, 2000]
    assert CliRunner().invoke(app, ["finetune", "--resume", str(out), "--no-progress"]).exit_code == 0
    longer = CliRunner().invoke(app, ["finetune", "--resume", str(out), "--online-steps", "3000", "--no-progress"])
    assert longer.exit_code == 2
    assert f"error: {out} is an hnpg run, which --resume cannot extend; drop --online-steps, or start a new run" in \
        " ".join(longer.output.split())
    wrong = CliRunner().invoke(app, ["train", "--resume", str(out), "--no-progress"])
    assert wrong.exit_code == 2
    assert f"error: {out} is an hnpg run; resume it with hybridrl finetune --resume {out}" in " ".join(wrong.output.split())

    # From `data make lock-h2` data: the horizon and the lock come from the dataset.
    from hybridrl.data import save_minari
    from hybridrl.data.make import make_dataset
    from hybridrl.envs.comblock import draw_lock

    data = save_minari(make_dataset("lock-h2", size=2000), "hybridrl/lock-h2-v0", root=tmp_path / "data")
    out = tmp_path / "from-data"
    result = CliRunner().invoke(app, ["finetune", "hnpg", "--dataset", str(data), "--online-steps", "1000",
                                      "--eval-every", "1000", "--eval-episodes", "5", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    run = json.loads((out / "config.json").read_text())
    assert run["run"]["horizon"] == 2 and run["env"]["lock"] == draw_lock(2, 0).tolist()

    listed = CliRunner().invoke(app, ["runs", "ls", str(tmp_path), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [(r["run"], r["mode"], r["data"], r["seeds"], r["step"], r["planned_steps"], r["status"])
            for r in json.loads(listed.output)] == [
        ("from-data", "onpolicy", "hybridrl/CombinationLock-v0", 1, 1, 1, "finished"),
        ("hnpg", "onpolicy", "hybridrl/CombinationLock-v0", 1, 2, 2, "finished")]
    # Its training time is rollouts plus updates, named as other runs name it.
    timings = json.loads((out / "summary.json").read_text())["timings_s"]
    listed_train = json.loads(listed.output)[0]["timings_s"]["train"]
    assert listed_train == pytest.approx(timings["rollout"] + timings["update"]) and listed_train > 0
