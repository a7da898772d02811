"""`hybridrl data make`: names, determinism, reference scores and metadata, shipped-policy round trip."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from hybridrl.data import DatasetError, load_dataset, make, save_minari
from hybridrl.data.make import export_behaviour_policy, make_dataset, parse_name
from hybridrl.train import checkpoint


def test_names_are_parsed_and_refused_with_a_fix():
    assert (parse_name("walker2d-medium-replay").env_id, parse_name("walker2d-medium-replay").kind) == \
        ("Walker2d-v5", "medium-replay")
    with pytest.raises(DatasetError, match=r"^unknown dataset 'hopper-easy'; use ENV-KIND with ENV in hopper, "
                                           r"halfcheetah, walker2d, ant and KIND in random, medium, expert, "
                                           r"medium-replay, medium-expert, conservative, e.g. hopper-medium; or "
                                           r"neorl2-TASK, or lock-hH$"):
        parse_name("hopper-easy")
    for bad in ("lock-4", "lock-h0", "lock-h51", "lock-hx"):
        with pytest.raises(DatasetError, match=rf"^unknown dataset '{bad}'; combination-lock data are named lock-hH "
                                               r"with the horizon H in 1..50, e.g. lock-h4$"):
            parse_name(bad)


def test_lock_data_round_trip_remake_their_lock_from_the_env_id(tmp_path):
    """`data make lock-h3 --size 30`: 10 whole episodes in the lock of hybridrl/CombinationLock-H3-v0 (lock_seed
    0), as in comblock.offline_dataset; the saved Minari dataset's env id alone remakes that lock, and the
    normalized score is the success rate (a failure returns 0.05 on average, a success 1)."""
    import gymnasium as gym

    from hybridrl.envs.comblock import draw_lock, offline_dataset
    from hybridrl.envs.scores import normalized_score, reference_scores

    ds = make_dataset("lock-h3", size=30, seed=5)
    assert len(ds) == 30 and ds.num_episodes == 10 and ds.env_id == "hybridrl/CombinationLock-H3-v0"
    want = offline_dataset(gym.make("hybridrl/CombinationLock-v0", horizon=3).unwrapped, 10, seed=5)
    np.testing.assert_array_equal(ds.observations, want.observations)
    assert ds.metadata["lock"] == draw_lock(3, 0).tolist()
    loaded = load_dataset(save_minari(ds, "hybridrl/lock-h3-v0", root=tmp_path))
    assert loaded.env_id == "hybridrl/CombinationLock-H3-v0" and loaded.metadata["lock"] == ds.metadata["lock"]
    np.testing.assert_array_equal(gym.make(loaded.env_id).unwrapped.lock, draw_lock(3, 0))
    ref = reference_scores(loaded.env_id, loaded.ref_min_score, loaded.ref_max_score)
    assert ref == reference_scores("hybridrl/CombinationLock-H3-v0") == (0.05, 1.0)
    np.testing.assert_allclose(normalized_score(np.array([1.0, 0.05]), ref), [100.0, 0.0])


def test_random_is_deterministic_and_carries_d4rl_constants(tmp_path):
    a = make_dataset("hopper-random", size=2_000, seed=3, num_envs=4)
    b = make_dataset("hopper-random", size=2_000, seed=3, num_envs=4)
    c = make_dataset("hopper-random", size=2_000, seed=4, num_envs=4)
    assert len(a) == 2_000 and a.env_id == "Hopper-v5"
    np.testing.assert_array_equal(a.observations, b.observations)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert not np.array_equal(a.actions, c.actions)
    assert (a.ref_min_score, a.ref_max_score) == (-20.272305, 3234.3)
    # Saved as Minari and read back: same arrays, same constants, recipe metadata kept.
    back = load_dataset(save_minari(a, "hybridrl/hopper-random-v0", root=tmp_path))
    np.testing.assert_array_equal(back.rewards, a.rewards)
    assert (back.ref_min_score, back.ref_max_score) == (-20.272305, 3234.3)
    assert back.metadata["policy"] == "uniform random" and back.metadata["seed"] == 3
    assert back.metadata["recipe"] == "D4RL random recipe on Hopper-v5 (hybridrl data make)"


def test_missing_policy_and_medium_replay_say_what_to_do(tmp_path):
    with pytest.raises(DatasetError, match=r"no medium behaviour policy is shipped for ant \(shipped: none yet\)"):
        make_dataset("ant-medium", size=10, policy_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"no medium behaviour policy is shipped for hopper"):
        make_dataset("hopper-medium-replay", size=10, policy_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"^--seed does not apply to hopper-medium-replay: it re-runs the medium "
                                           r"policy's SAC training with the seed that training recorded; drop --seed$"):
        make_dataset("hopper-medium-replay", seed=1)


def test_exported_sac_actor_generates_data(tmp_path):
    from hybridrl.train.online import OnlineConfig, train_online

    run = tmp_path / "run"
    train_online(OnlineConfig(algo="sac", env="Hopper-v5", online_steps=200, start_steps=100, eval_every=200,
                              eval_episodes=2, log_every=100, agent={"hidden_dims": [16]}), run, progress=False)
    policies = tmp_path / "policies"
    entry = export_behaviour_policy(run, 200, "hopper-medium", directory=policies)
    assert entry["env_steps"] == 200 and entry["hidden_dims"] == [16] and entry["seed"] == 0
    assert entry["run_config"]["online_steps"] == 200 and entry["packages"]["jax"]
    assert json.loads((policies / "manifest.json").read_text())["hopper-medium"]["file"] == "hopper-medium.msgpack"
    # conservative: the expert's deterministic action plus N(0, 0.05^2); here the medium actor stands in for it
    export_behaviour_policy(run, 200, "hopper-expert", directory=policies)
    cons = make_dataset("hopper-conservative", size=300, seed=2, num_envs=4, policy_dir=policies)
    assert len(cons) == 300 and cons.metadata["policy"].startswith("hopper-expert.msgpack deterministic + N(0, 0.05^2)")
    mean = make._sac_mean(make.load_behaviour_policy("hopper", "expert", policies)[0], (16,), 3)
    residual = cons.actions - mean(cons.observations)
    assert 0.03 < residual[np.abs(cons.actions).max(1) < 0.99].std() < 0.07
    a = make_dataset("hopper-medium", size=500, seed=1, num_envs=4, policy_dir=policies)
    b = make_dataset("hopper-medium", size=500, seed=1, num_envs=4, policy_dir=policies)
    np.testing.assert_array_equal(a.actions, b.actions)
    assert np.abs(a.actions).max() <= 1.0 and a.metadata["policy"].startswith("hopper-medium.msgpack (SAC, 200 env steps")
    # medium-replay re-runs the recorded training to the medium step: the same buffer as the original run.
    replay = make_dataset("hopper-medium-replay", policy_dir=policies)
    original = checkpoint.restore(checkpoint.latest(run / "checkpoints")[1], None)["buffer"]
    assert len(replay) == 200
    np.testing.assert_array_equal(replay.observations, np.asarray(original["observations"][0]))
    np.testing.assert_array_equal(replay.rewards, np.asarray(original["rewards"][0]))
    assert replay.timeouts[-1] or replay.terminals[-1]
    assert replay.num_episodes == int(replay.terminals.sum() + replay.timeouts.sum())
    assert replay.metadata["replay_reproduced"] == "exactly (SHA-256 equal to the original run's buffer)"
    manifest = json.loads((policies / "manifest.json").read_text())
    manifest["hopper-medium"]["replay_buffer_sha256"] = "0" * 64  # as if the original run had differed
    (policies / "manifest.json").write_text(json.dumps(manifest))
    assert make_dataset("hopper-medium-replay", policy_dir=policies).metadata["replay_reproduced"].startswith(
        "approximately: the re-run differs")
    with pytest.raises(DatasetError, match=r"^a behaviour policy is named ENV-medium, ENV-expert or neorl2-TASK-pK \(K in "
                                           r"0..3, TASK in fusion, pipeline, randomfrictionhopper, rocketrecovery, "
                                           r"safetyhalfcheetah, simglucose\), got 'hopper-random'$"):
        export_behaviour_policy(run, 200, "hopper-random", directory=policies)
    for bad in ("neorl2-dmsd-p0", "neorl2-pipeline-p4"):
        with pytest.raises(DatasetError, match=rf"got '{bad}'$"):
            export_behaviour_policy(run, 200, bad, directory=policies)
    with pytest.raises(DatasetError, match="trained on Hopper-v5, not Walker2d-v5"):
        export_behaviour_policy(run, 200, "walker2d-expert", directory=policies)


def test_neorl2_dmsd_is_regenerated_and_other_tasks_need_shipped_policies(tmp_path):
    from hybridrl.envs.neorl2.dmsd import regenerate_dmsd

    ds = make_dataset("neorl2-dmsd", size=250)
    want = regenerate_dmsd("train", 250)
    assert len(ds) == 300 and ds.env_id == "neorl2/DMSD-v0"  # whole 100-step episodes
    np.testing.assert_array_equal(ds.observations, want.observations)
    assert (ds.ref_min_score, ds.ref_max_score) == (30.60, 849.51)
    assert len(make_dataset("neorl2-dmsd-val", size=10)) == 100
    other = make_dataset("neorl2-dmsd", size=250, seed=7)  # --seed moves the initial states: trajectory i, seed 7 + i
    np.testing.assert_array_equal(other.observations, regenerate_dmsd("train", 250, first_seed=7).observations)
    assert not np.array_equal(other.observations[0], ds.observations[0]) and other.metadata["seeds"] == "7..9"
    with pytest.raises(DatasetError, match=rf"^'neorl2-fusion-val': no Fusion behaviour policies are shipped "
                                           rf"\(neorl2-fusion-p1 missing in {tmp_path}\); load NeoRL-2's official file "
                                           r"instead \(--dataset PATH/Fusion-val.npz\), or train and export them "
                                           r"\(docs/neorl2.md\)$"):
        make_dataset("neorl2-fusion-val", policy_dir=tmp_path)
    with pytest.raises(DatasetError, match=r"^unknown dataset 'neorl2-dmsd-test'; NeoRL-2 data are named "
                                           r"neorl2-TASK\[-val\] with TASK in dmsd, fusion, "):
        make_dataset("neorl2-dmsd-test")


@pytest.mark.parametrize("kind", ["medium", "expert", "medium-expert", "conservative"])
def test_shipped_hopper_policies_make_valid_minari_datasets(tmp_path, kind):
    """Each kind from the policies shipped in the package, at a tiny size: saved as Minari, read back with the
    D4RL constants and metadata naming the recipe, the policy, the seed and the size."""
    entry = make.read_manifest()["hopper-expert" if kind in ("expert", "conservative") else "hopper-medium"]
    ds = make_dataset(f"hopper-{kind}", size=300, seed=5, num_envs=4)
    assert len(ds) == (600 if kind == "medium-expert" else 300)
    back = load_dataset(save_minari(ds, f"hybridrl/hopper-{kind}-v0", root=tmp_path))
    np.testing.assert_array_equal(back.actions, ds.actions)
    assert (back.ref_min_score, back.ref_max_score) == (-20.272305, 3234.3) and back.env_id == "Hopper-v5"
    assert back.metadata["seed"] == 5 and back.metadata["size_per_policy"] == 300
    assert entry["file"] in back.metadata["policy"]
    assert "Hopper-v5" in back.metadata["recipe"] and back.metadata["recipe"].endswith("(hybridrl data make)")
    assert np.abs(ds.actions).max() <= 1.0


def test_medium_replay_takes_the_recorded_core_count_before_jax_starts():
    """XLA's CPU thread pool follows the cores a process may use, and a different pool changes float results, so
    a medium-replay re-run shrinks its affinity to the original run's core count (here 1) before JAX starts."""
    import subprocess
    import sys

    code = ("import os; from hybridrl.data.make import _match_threads; "
            "_match_threads({'cpu_affinity': 1, 'xla_flags': '--xla_cpu_multi_thread_eigen=false'}); "
            "print(len(os.sched_getaffinity(0)), os.environ['XLA_FLAGS'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "--xla_cpu_multi_thread_eigen=false"]


def test_neorl2_data_from_exported_policies_follow_the_collection_protocol(tmp_path):
    """Four checkpoints of a small SAC run on RocketRecovery, exported as neorl2-rocketrecovery-p0..p3: the train
    split runs trajectory i from reset(seed=i) under p0, p2, p3, p0, ... (deterministic tanh(mean), clipped), the
    val split under p1; the data end at the first episode end at or beyond --size, and are the same every time."""
    import gymnasium as gym

    from hybridrl.envs.neorl2 import env_id
    from hybridrl.train.online import OnlineConfig, train_online

    run = tmp_path / "run"
    train_online(OnlineConfig(algo="sac", env="neorl2/RocketRecovery-v0", online_steps=400, start_steps=100,
                              eval_every=100, eval_episodes=1, log_every=100, keep_checkpoints=4,
                              agent={"hidden_dims": [16]}), run, progress=False)
    policies = tmp_path / "policies"
    for k, step in enumerate((100, 200, 300, 400)):
        entry = export_behaviour_policy(run, step, f"neorl2-rocketrecovery-p{k}", directory=policies)
        assert entry["env_id"] == "neorl2/RocketRecovery-v0" and entry["env_steps"] == step
    ds = make_dataset("neorl2-rocketrecovery", size=300, policy_dir=policies)
    assert ds.env_id == "neorl2/RocketRecovery-v0" and (ds.ref_min_score, ds.ref_max_score) == (-176, 208)
    assert ds.metadata["regenerated"] is True and ds.metadata["task"] == "RocketRecovery"
    assert [p.split(" ")[0] for p in ds.metadata["policies"]] == [
        "neorl2-rocketrecovery-p0.msgpack", "neorl2-rocketrecovery-p2.msgpack", "neorl2-rocketrecovery-p3.msgpack"]
    ends = np.flatnonzero(ds.terminals | ds.timeouts)
    assert ends[-1] == len(ds) - 1 and len(ds) >= 300 and ends[-2] < 299  # cut at the first end at or past 300
    mean = {k: make._sac_mean(make._read_policy(json.loads((policies / "manifest.json").read_text())[
        f"neorl2-rocketrecovery-p{k}"], policies)[0], (16,), 2) for k in range(4)}
    starts = np.concatenate([[0], ends[:-1] + 1])
    for i, (start, end) in enumerate(zip(starts, ends)):
        policy = mean[(0, 2, 3)[i % 3]]
        np.testing.assert_allclose(ds.actions[start:end + 1], np.clip(policy(ds.observations[start:end + 1]), -1, 1),
                                   atol=1e-6)
        first, _ = gym.make(env_id("RocketRecovery")).reset(seed=i)
        np.testing.assert_array_equal(ds.observations[start], first.astype(np.float32))
    again = make_dataset("neorl2-rocketrecovery", size=300, policy_dir=policies)
    np.testing.assert_array_equal(again.observations, ds.observations)
    val = make_dataset("neorl2-rocketrecovery-val", size=10, policy_dir=policies)
    assert val.metadata["policies"][0].startswith("neorl2-rocketrecovery-p1.msgpack") and val.num_episodes == 1


def test_neorl2_safety_halfcheetah_drops_trajectories_that_break_the_speed_limit(monkeypatch):
    from hybridrl.envs.neorl2 import collect as protocol

    still = [lambda seed: (lambda obs: np.zeros(6, np.float32))]
    kept = protocol.collect("SafetyHalfCheetah", still, "train", num_samples=1500)
    assert len(kept) == 2000 and kept.metadata["seeds"] == [0, 1]  # standing still breaks no limit
    monkeypatch.setattr(protocol, "VIOLATION_REWARD", np.inf)  # as if every step broke it
    with pytest.raises(DatasetError, match=r"^every one of the SafetyHalfCheetah trajectories for 1,500 samples breaks "
                                         r"the speed limit, so none is kept; use a slower behaviour policy or more "
                                         r"samples$"):
        protocol.collect("SafetyHalfCheetah", still, "train", num_samples=1500)


@pytest.mark.parametrize("task", ["rocketrecovery", "randomfrictionhopper", "pipeline", "safetyhalfcheetah", "simglucose",
                                  "fusion"])
def test_shipped_neorl2_policies_make_their_data(task, monkeypatch):
    """A task's four shipped policies (docs/neorl2.md): 500 train transitions (Fusion: 300, three 100-step
    trajectories stepped together) from p0, p2, p3 in turn, the same each time (Fusion: made once), each policy's
    recorded evaluation within NeoRL-2's 50-80 band. SafetyHalfCheetah's first trajectory (1,000 steps, seed 0)
    keeps to the speed limit, so it is kept whole. Fusion reads NeoRL-2's ONNX models from the shared data, and
    skips without them."""
    manifest = make.read_manifest()
    scores = [manifest[f"neorl2-{task}-p{k}"]["eval_normalized"] for k in range(4)]
    assert all(50 <= s <= 80 for s in scores), scores
    size = 500
    if task == "fusion":
        from hybridrl.envs.neorl2.fusion import MODEL_DIR_ENV

        models = Path(os.environ["HYBRIDRL_NEORL2_DATA"]) / "fusion"  # set in tests/conftest.py
        if not models.is_dir():
            pytest.skip(f"NeoRL-2's Fusion ONNX models are not at {models}")
        monkeypatch.setenv(MODEL_DIR_ENV, str(models))
        size = 300
    ds = make_dataset(f"neorl2-{task}", size=size)
    if task == "safetyhalfcheetah":
        assert len(ds) == 1000 and ds.metadata["seeds"] == [0]
    else:
        assert len(ds) >= size and ds.metadata["seeds"].startswith("0..")
    assert [p.split(" ")[0] for p in ds.metadata["policies"]] == [f"neorl2-{task}-p{k}.msgpack" for k in (0, 2, 3)]
    if task != "fusion":  # Fusion's 40 s a make: its seeded collection is checked in tests/envs/test_neorl2_fusion.py
        np.testing.assert_array_equal(make_dataset(f"neorl2-{task}", size=size).actions, ds.actions)


def test_neorl2_policies_act_as_neorl2s_do():
    """Deterministic SAC mean on most tasks; on Fusion that mean plus N(0, 0.05^2) noise and on Simglucose a sampled
    action, both drawn from the trajectory's seed (neorl2.md 0.3)."""
    import jax

    from hybridrl.nets import TanhGaussianActor

    params = TanhGaussianActor((8,), 2).init(jax.random.PRNGKey(0), np.zeros((1, 3), np.float32))
    obs = np.ones(3, np.float32)
    mean = make._neorl2_policy("RocketRecovery", params, (8,), 2)
    np.testing.assert_array_equal(mean(0)(obs), mean(1)(obs))
    fusion = make._neorl2_policy("Fusion", params, (8,), 2)
    noise = np.array([fusion(seed)(obs) for seed in range(400)]) - mean(0)(obs)
    assert 0.045 < noise.std() < 0.055 and abs(noise.mean()) < 0.01
    np.testing.assert_array_equal(fusion(3)(obs), fusion(3)(obs))
    sampled = make._neorl2_policy("Simglucose", params, (8,), 2)
    assert not np.array_equal(sampled(0)(obs), sampled(1)(obs))
    np.testing.assert_array_equal(sampled(5)(obs), sampled(5)(obs))


def test_policy_trained_on_scaled_observations_ships_its_scaling(tmp_path):
    """A SAC run on Pipeline with normalize_observations (its observation box scaled onto [-1, 1]): the exported
    entry carries the scaling, and the data it makes hold raw observations with the actions its actor gives on
    the scaled ones, the same as the run's own policy gives."""
    from hybridrl.evaluate.policy import load_policy
    from hybridrl.train.online import OnlineConfig, train_online

    run = tmp_path / "run"
    train_online(OnlineConfig(algo="sac", env="neorl2/Pipeline-v0", online_steps=200, start_steps=100,
                              eval_every=200, eval_episodes=1, log_every=100,
                              agent={"hidden_dims": [16], "normalize_observations": True}), run, progress=False)
    policies = tmp_path / "policies"
    for k in range(4):
        entry = export_behaviour_policy(run, 200, f"neorl2-pipeline-p{k}", directory=policies)
    prep = json.loads((run / "preprocessing.json").read_text())
    assert entry["obs_mean"] == prep["obs_mean"] and entry["obs_std"] == prep["obs_std"]
    assert max(entry["obs_std"]) > 10  # Pipeline's flow readings run to 200
    ds = make_dataset("neorl2-pipeline", size=1000, policy_dir=policies)
    assert ds.observations.max() > 1.5  # raw, not scaled
    own = load_policy(run, 200)
    np.testing.assert_allclose(ds.actions[:50], np.clip(own(ds.observations[:50])[0], -1, 1), atol=1e-5)
