"""NeoRL-2 DMSD (neorl2.md section 5): reward, termination, dynamics and PID regeneration against the official files."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hybridrl.envs  # noqa: F401  (registers neorl2/DMSD-v0)
from hybridrl.envs.neorl2.dmsd import (
    TRAIN_PID,
    VAL_PID,
    DMSDEnv,
    PIDPolicy,
    regenerate_dmsd,
    reward_fn,
    terminated_fn,
)

DATA = Path(os.environ["HYBRIDRL_NEORL2_DATA"])  # set in tests/conftest.py
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"official NeoRL-2 files not found in {DATA} (see its NOTICE.md)")


@pytest.fixture(scope="module")
def files():
    return {split: dict(np.load(DATA / f"DMSD-{split}.npz")) for split in ("train", "val")}


@needs_data
@pytest.mark.parametrize("split", ["train", "val"])
def test_reward_and_termination_reproduce_every_row(files, split):
    raw = files[split]
    rewards = reward_fn(raw["obs"], raw["action"], raw["next_obs"])
    np.testing.assert_array_equal(rewards, raw["reward"])  # bit for bit (float32 arithmetic)
    np.testing.assert_array_equal(terminated_fn(raw["obs"], raw["action"], raw["next_obs"]), raw["done"] == 1)


@needs_data
def test_env_replays_the_first_official_trajectories(files):
    """From reset(seed=i), the file's (float32-rounded) actions give the file's next observations and rewards."""
    raw = files["train"]
    env = DMSDEnv()
    for i in range(3):
        rows = slice(100 * i, 100 * (i + 1))
        obs, _ = env.reset(seed=i)
        np.testing.assert_array_equal(obs.astype(np.float32), raw["obs"][100 * i])
        steps = [env.step(action)[:2] for action in raw["action"][rows]]
        np.testing.assert_allclose(np.array([s[0] for s in steps]), raw["next_obs"][rows], rtol=0, atol=2e-7)
        # -ln(|e| + 0.01) has slope up to 100, so a 1e-7 state difference may move the reward by 1e-5
        np.testing.assert_allclose([s[1] for s in steps], raw["reward"][rows], rtol=0, atol=2e-5)


@needs_data
@pytest.mark.parametrize("split", ["train", "val"])
def test_regeneration_reproduces_the_first_official_trajectories(files, split):
    ds = regenerate_dmsd(split, num_samples=250)  # cut at the first episode end at or beyond 250 samples
    raw = files[split]
    assert (len(ds), ds.num_episodes) == (300, 3)
    np.testing.assert_array_equal(ds.observations, raw["obs"][:300])
    np.testing.assert_array_equal(ds.actions, raw["action"][:300])
    np.testing.assert_array_equal(ds.next_observations, raw["next_obs"][:300])
    np.testing.assert_array_equal(ds.rewards, raw["reward"][:300])
    np.testing.assert_array_equal(ds.timeouts, raw["truncated"][:300] == 1)
    assert not ds.terminals.any()
    assert ds.metadata["regenerated"] is True and ds.name == f"neorl2-DMSD-{split}-regenerated"
    assert ds.env_id == "neorl2/DMSD-v0" and (ds.ref_min_score, ds.ref_max_score) == (30.60, 849.51)


def test_seed_0_test_vector():
    env = DMSDEnv()
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs, [0.0340223, 0.2127983, -0.0857928, -0.0825741, -0.6820311, 0.8751751], atol=5e-8)
    policy = PIDPolicy(TRAIN_PID)
    action = policy(obs)
    np.testing.assert_array_equal(action, [-1.0, 1.0])
    _, reward, terminated, truncated, _ = env.step(action)
    assert reward == pytest.approx(0.71671945, abs=1e-7)
    assert not terminated and not truncated
    targets = [env.step(policy(obs))[0][4:6] for _ in range(60)]  # observations at t = 2 .. 61
    np.testing.assert_allclose(targets[47], [-0.6820311, 0.8751751], atol=5e-8)  # t = 49
    np.testing.assert_allclose(targets[48], [-0.6820311, 0.0866848], atol=5e-8)  # t = 50: T2 switches


def test_euler_step_by_hand():
    """One step from a known state with forces 30 * a, against the sheet's update written out."""
    env = DMSDEnv()
    env.reset(seed=3)
    env._state = np.array([0.1, -0.2, 0.05, 0.3])
    obs, reward, *_ = env.step(np.array([0.5, -2.0]))  # forces 15 and -30 (clipped)
    x1, x2, v1, v2, f1, f2 = 0.1, -0.2, 0.05, 0.3, 15.0, -30.0
    expected = [
        x1 + 0.2 * v1,
        x2 + 0.2 * v2,
        v1 + 0.2 * (-4 * x1 + 2 * x2 - 8 * v1 + 4 * v2 + f1) / 20,
        v2 + 0.2 * (2 * x1 - 4 * x2 + 4 * v1 - 8 * v2 + f2) / 20,
    ]
    np.testing.assert_allclose(obs[:4], expected, rtol=1e-14)
    targets = obs[4:6]
    assert reward == pytest.approx(-np.log(np.abs(np.array(expected[:2]) - targets) + 0.01).sum(), abs=2e-6)


def test_pid_by_hand():
    """Gains P, I, D on e_0 and e_1 with the zero-started history (I_t = dt * sum, D_t = difference / dt)."""
    policy = PIDPolicy(VAL_PID)
    e0, e1 = np.array([0.01, -0.02]), np.array([0.015, -0.01])
    obs0 = np.array([0.0, 0.0, 0.0, 0.0, *e0])
    obs1 = np.array([0.0, 0.0, 0.0, 0.0, *e1])
    p, i, d = map(np.array, (VAL_PID.p, VAL_PID.i, VAL_PID.d))
    np.testing.assert_allclose(policy(obs0), p * e0 + i * 0.2 * e0 + d * e0 / 0.2)
    np.testing.assert_allclose(policy(obs1), np.clip(p * e1 + i * 0.2 * (e0 + e1) + d * (e1 - e0) / 0.2, -1, 1))
    policy = PIDPolicy(TRAIN_PID)
    policy(obs0)
    np.testing.assert_allclose(
        policy(obs1), np.clip(np.multiply(TRAIN_PID.p, e1) + np.multiply(TRAIN_PID.i, 0.2 * (e0 + e1))
                              + np.multiply(TRAIN_PID.d, (e1 - e0) / 0.2), -1, 1)
    )


def test_initial_states_and_target_switching():
    env = DMSDEnv()
    switched = 0
    for seed in range(30):
        obs, _ = env.reset(seed=seed)
        assert (np.abs(obs[:2]) <= 0.25).all() and (np.abs(obs[2:4]) <= 0.1).all()
        targets = [obs[4:6]] + [env.step(np.zeros(2))[0][4:6] for _ in range(100)]
        targets = np.array(targets)  # at t = 0 .. 100
        assert (np.abs(targets) <= 1.5).all()
        changes = np.flatnonzero((np.diff(targets, axis=0) != 0).any(axis=1)) + 1
        assert set(changes) <= {50}, f"seed {seed}: targets changed at t = {changes}"
        switched += len(changes)
    assert 5 < switched < 30  # each mass has two targets with probability 1/2


def test_registered_env_runs_100_steps_and_never_terminates():
    env = gym.make("neorl2/DMSD-v0")
    env.reset(seed=5)
    for t in range(1, 101):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        assert truncated == (t == 100)


def test_check_env_and_seeded_episodes_repeat():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unbounded observation space is the sheet's; the checker warns about it
        check_env(DMSDEnv())
    env = DMSDEnv()
    actions = np.random.default_rng(0).uniform(-1.2, 1.2, size=(100, 2))

    def episode(seed):
        obs, _ = env.reset(seed=seed)
        return np.array([obs] + [env.step(a)[0] for a in actions])

    first = episode(11)
    episode(12)
    np.testing.assert_array_equal(episode(11), first)
    assert not np.array_equal(episode(12), first)


def test_bad_seed_and_split_are_refused():
    with pytest.raises(ValueError, match=r"^DMSD seeds a numpy RandomState, so seed must be in \[0, 2\*\*32 - 1\]; got 4294967296$"):
        DMSDEnv().reset(seed=2**32)
    with pytest.raises(ValueError, match=r"^split must be 'train' or 'val', got 'test'$"):
        regenerate_dmsd("test")
