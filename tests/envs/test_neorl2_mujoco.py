"""NeoRL-2 RandomFrictionHopper and SafetyHalfCheetah (neorl2.md sections 4 and 7) against the official data.

The npz files are read with numpy from $HYBRIDRL_NEORL2_DATA (default ../shared/data/neorl2) (never copied into the repository); tests that need
a file skip when it is missing.
"""

from __future__ import annotations

import os
import random
import re
import warnings
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hybridrl.envs  # noqa: F401  (registers neorl2/TASK-v0)
from hybridrl.envs.neorl2 import halfcheetah, hopper

DATA = Path(os.environ["HYBRIDRL_NEORL2_DATA"])  # set in tests/conftest.py
# Seeds of the trajectories kept in the SafetyHalfCheetah files, in file order (neorl2.md section 7).
CHEETAH_SEEDS = {
    "train": [1, 19, 25, 29, 31, 43, 49, 52, 58, 64, 70, 73, 76, 79, 82, 91, 92, 97],
    "val": [3, 14],
}


def load(name: str) -> dict[str, np.ndarray]:
    path = DATA / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"NeoRL-2 data file {path} is not available")
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def episode_starts(d: dict[str, np.ndarray]) -> np.ndarray:
    ends = np.flatnonzero((d["done"] > 0) | (d["truncated"] > 0))
    return np.r_[0, ends[:-1] + 1]


def reward_tolerance(d: dict[str, np.ndarray], dt: float) -> np.ndarray:
    """Per-row bound on |r_ours - r_data|: float32 storage of x, x' (divided by dt) and of r, with a factor 2 margin,
    plus 1e-6 for the control cost (|a|^2 <= 6, possibly summed in float32 by the original: ulp(6) = 4.8e-7)."""
    x, x_next = np.abs(d["obs"][:, 0]), np.abs(d["next_obs"][:, 0])
    return (np.spacing(x) + np.spacing(x_next)) / dt + np.spacing(np.abs(d["reward"])) + 1e-6


# --------------------------------------------------------------------------------------------- RandomFrictionHopper


def test_hopper_reward_and_termination_reproduce_val_data_row_by_row():
    d = load("RandomFrictionHopper-val")
    r = hopper.reward(d["obs"], d["action"], d["next_obs"])
    err = np.abs(r - d["reward"])
    assert np.all(err <= reward_tolerance(d, hopper.DT)), f"worst row {err.argmax()}: {err.max()}"
    done = hopper.terminated(d["obs"], d["action"], d["next_obs"])
    np.testing.assert_array_equal(done, d["done"] > 0)
    assert done.sum() == 218


def test_hopper_seeded_reset_reproduces_data_friction_and_start_state():
    """reset(seed=i) gives trajectory i's friction (random.seed(i) in the original) and start state; the first
    three steps (free fall, before the foot touches the ground) follow the data to float32 precision."""
    d = load("RandomFrictionHopper-val")
    env = hopper.RandomFrictionHopperEnv()
    for i, start in enumerate(episode_starts(d)):
        obs, info = env.reset(seed=i)
        np.testing.assert_allclose(obs, d["obs"][start], rtol=0, atol=1e-6, err_msg=f"trajectory {i}")
        assert info["friction"] == random.Random(i).uniform(1.5, 2.5)
        for t in range(start, start + 3):
            obs, *_ = env.step(d["action"][t])
            np.testing.assert_allclose(obs, d["next_obs"][t], rtol=0, atol=1e-6, err_msg=f"trajectory {i} row {t}")


def test_hopper_friction_is_uniform_rounded_in_the_engine_and_raw_in_the_observation():
    env = hopper.RandomFrictionHopperEnv()
    foot = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_GEOM, "foot_geom")
    frictions = []
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        mu = obs[12]
        assert 1.5 <= mu <= 2.5
        assert env.model.geom_friction[foot, 0] == float(f"{mu:.2f}")
        assert abs(env.model.geom_friction[foot, 0] - mu) <= 0.005 + 1e-12
        frictions.append(mu)
        obs, *_ = env.step(env.action_space.sample())
        assert obs[12] == mu  # constant within the episode
    assert len(set(frictions)) == 40
    assert 1.5 <= min(frictions) < 1.7 and 2.3 < max(frictions) <= 2.5


def test_hopper_friction_seeding():
    """Never seeded: Python's global `random` (the original). Seeded: a private stream, global state untouched."""
    env = hopper.RandomFrictionHopperEnv()
    random.seed(7)
    obs, _ = env.reset()
    assert obs[12] == random.Random(7).uniform(1.5, 2.5)

    state = random.getstate()
    stream = random.Random(11)
    expected = [stream.uniform(1.5, 2.5) for _ in range(3)]
    got = [env.reset(seed=11)[0][12], env.reset()[0][12], env.reset()[0][12]]
    assert got == expected
    assert random.getstate() == state

    fixed = hopper.RandomFrictionHopperEnv(random_friction=False)
    assert fixed.reset(seed=0)[0][12] == 2.0


def test_hopper_in_place_friction_equals_model_compiled_from_generated_xml():
    """The env sets the foot friction in place; the original loads hopper_friction_{mu:.2f}.xml. Bit-identical."""
    template = hopper.gymnasium_hopper_xml_path().read_text()
    env = hopper.RandomFrictionHopperEnv()
    env.reset(seed=3)
    xml = hopper.hopper_xml(env.friction)
    # The generated file differs from Gymnasium's only in the foot friction.
    foot_tag = r'<geom friction="[^"]*" pos="-0.065 0 0.1"'
    assert re.sub(foot_tag, "", xml) == re.sub(foot_tag, "", template)
    assert f'<geom friction="{env.friction:.2f}" pos="-0.065 0 0.1"' in xml

    model = mujoco.MjModel.from_xml_string(xml)
    data = mujoco.MjData(model)
    np.testing.assert_array_equal(model.geom_friction, env.model.geom_friction)
    data.qpos[:], data.qvel[:] = env.data.qpos, env.data.qvel
    mujoco.mj_forward(model, data)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(300, 3))
    for a in actions:
        env.step(a)
        data.ctrl[:] = a
        mujoco.mj_step(model, data, nstep=hopper.FRAME_SKIP)
        np.testing.assert_array_equal(env.data.qpos, data.qpos)
        np.testing.assert_array_equal(env.data.qvel, data.qvel)


def test_hopper_observation_reward_and_termination_online():
    env = hopper.RandomFrictionHopperEnv()
    obs, _ = env.reset(seed=0)
    # High joint speeds are clipped to [-10, 10] in the observation.
    qvel = np.full(6, 50.0)
    env.set_state(env.data.qpos.copy(), qvel)
    obs = env._get_obs()
    np.testing.assert_array_equal(obs[:6], env.data.qpos)
    np.testing.assert_array_equal(obs[6:12], np.full(6, 10.0))
    assert obs[12] == env.friction
    a = np.array([0.5, -1.0, 0.25])
    next_obs, r, term, trunc, _ = env.step(a)
    assert r == pytest.approx((next_obs[0] - obs[0]) / 0.008 - 0.001 * np.sum(a**2), rel=1e-12)
    assert trunc is False
    assert term == bool(next_obs[1] <= 0.7 or abs(next_obs[2]) >= 0.2)
    # Falling ends the episode: z' <= 0.7, or |angle'| >= 0.2, or a joint state outside (-100, 100).
    o = np.zeros(13)
    standing = np.r_[0.0, 1.2, 0.0, np.zeros(10)]
    assert not hopper.terminated(o, a, standing)
    assert hopper.terminated(o, a, np.r_[0.0, 0.7, standing[2:]])
    assert hopper.terminated(o, a, np.r_[0.0, 1.2, -0.2, standing[3:]])
    assert hopper.terminated(o, a, np.r_[standing[:4], 100.0, standing[5:]])


def test_hopper_seeded_resets_give_identical_episodes():
    actions = np.random.default_rng(1).uniform(-1, 1, size=(150, 3))

    def episodes(seed):
        env = gym.make("neorl2/RandomFrictionHopper-v0")
        out = []
        for s in (seed, None):  # a seeded episode, then the next unseeded one
            obs, _ = env.reset(seed=s)
            rows = [obs]
            for a in actions:
                obs, r, term, trunc, _ = env.step(a)
                rows.append(np.r_[obs, r, term])
                if term:
                    break
            out.append(np.array(rows[1:]))
        return out

    random.seed(123)
    first = episodes(5)
    random.seed(456)  # the global RNG must not matter once a seed is given
    second = episodes(5)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][0], episodes(6)[0][0])


# ----------------------------------------------------------------------------------------------- SafetyHalfCheetah


@pytest.mark.parametrize("split", ["train", "val"])
def test_cheetah_reward_and_done_reproduce_data_row_by_row(split):
    d = load(f"SafetyHalfCheetah-{split}")
    r = halfcheetah.reward(d["obs"], d["action"], d["next_obs"])
    err = np.abs(r - d["reward"])
    assert np.all(err <= reward_tolerance(d, halfcheetah.DT)), f"worst row {err.argmax()}: {err.max()}"
    # The data keep only trajectories without a violation: the offline done function never fires on them.
    np.testing.assert_array_equal(halfcheetah.terminated(d["obs"], d["action"], d["next_obs"]), d["done"] > 0)
    assert len(episode_starts(d)) == len(CHEETAH_SEEDS[split])


def test_cheetah_velocity_constraint_reward():
    obs = np.zeros((3, 18))
    next_obs = np.zeros((3, 18))
    next_obs[:, 0] = np.array([3.2, 3.2096, 3.21]) * 0.05  # speeds below, at and above the limit
    a = np.full((3, 6), 0.5)
    np.testing.assert_allclose(
        halfcheetah.reward(obs, a, next_obs), [3.2 - 0.15, 3.2096 - 0.15, -100.0], rtol=1e-12, atol=1e-12
    )
    np.testing.assert_array_equal(halfcheetah.terminated(obs, a, next_obs), [False, False, True])


@pytest.mark.parametrize("split", ["train", "val"])
def test_cheetah_seeded_reset_reproduces_data(split):
    """reset(seed) gives each kept trajectory's start state; replaying its actions follows the data for 20 steps."""
    d = load(f"SafetyHalfCheetah-{split}")
    env = halfcheetah.SafetyHalfCheetahEnv()
    for start, seed in zip(episode_starts(d), CHEETAH_SEEDS[split]):
        obs, _ = env.reset(seed=seed)
        np.testing.assert_allclose(obs, d["obs"][start], rtol=0, atol=1e-6, err_msg=f"seed {seed}")
        for t in range(start, start + 20):
            obs, r, *_ = env.step(d["action"][t])
            np.testing.assert_allclose(obs, d["next_obs"][t], rtol=0, atol=1e-5, err_msg=f"seed {seed} row {t}")
            assert r == pytest.approx(d["reward"][t], abs=1e-3)


def test_cheetah_violation_costs_100_and_does_not_terminate():
    env = halfcheetah.SafetyHalfCheetahEnv()
    obs, _ = env.reset(seed=0)
    _, r, term, trunc, info = env.step(np.zeros(6))
    assert (term, trunc, info["cost"], info["safe"]) == (False, False, 0.0, 0.0)
    assert r == pytest.approx(info["x_velocity"])
    qvel = env.data.qvel.copy()
    qvel[0] = 8.0  # rootx speed far above 3.2096
    env.set_state(env.data.qpos.copy(), qvel)
    _, r, term, trunc, info = env.step(np.zeros(6))
    assert info["x_velocity"] > halfcheetah.SPEED_LIMIT
    assert (r, term, trunc, info["cost"], info["safe"]) == (-100.0, False, False, 1.0, 1.0)


def test_cheetah_seeded_resets_give_identical_episodes():
    actions = np.random.default_rng(2).uniform(-1, 1, size=(100, 6))

    def episode(seed):
        env = gym.make("neorl2/SafetyHalfCheetah-v0")
        obs, _ = env.reset(seed=seed)
        rows = [obs]
        for a in actions:
            obs, r, term, trunc, info = env.step(a)
            rows.append(np.r_[obs, r, info["cost"]])
        return np.concatenate(rows)

    np.testing.assert_array_equal(episode(9), episode(9))
    assert not np.array_equal(episode(9), episode(10))


# ---------------------------------------------------------------------------------------------------------- common


@pytest.mark.parametrize(
    "task, obs_dim, act_dim, max_steps",
    [("RandomFrictionHopper", 13, 3, 1000), ("SafetyHalfCheetah", 18, 6, 1000)],
)
def test_registered_env_spaces_and_check_env(task, obs_dim, act_dim, max_steps):
    env = gym.make(f"neorl2/{task}-v0")
    assert env.spec.max_episode_steps == max_steps
    assert env.observation_space.shape == (obs_dim,)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    # MuJoCo observations are unbounded, as in Gymnasium's own MuJoCo envs; any other warning is a defect.
    unexpected = [str(w.message) for w in caught if "infinity" not in str(w.message)]
    assert unexpected == []
