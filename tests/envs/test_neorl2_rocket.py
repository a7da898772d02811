"""NeoRL-2 RocketRecovery (neorl2.md section 3) against the official val data.

The npz file is read with numpy from $HYBRIDRL_NEORL2_DATA (default ../shared/data/neorl2) (never copied into the repository); tests that need it
skip when it is missing, and the whole file skips when Box2D is not installed.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip("Box2D", reason="RocketRecovery needs Box2D (pip install 'box2d>=2.3.10')")

import hybridrl.envs  # noqa: E402,F401  (registers neorl2/TASK-v0)
from hybridrl.envs.neorl2 import rocket  # noqa: E402

DATA = Path(os.environ["HYBRIDRL_NEORL2_DATA"]) / "RocketRecovery-val.npz"


@pytest.fixture(scope="module")
def val() -> dict[str, np.ndarray]:
    if not DATA.exists():
        pytest.skip(f"NeoRL-2 data file {DATA} is not available")
    with np.load(DATA) as f:
        return {k: f[k] for k in f.files}


def episodes(d: dict[str, np.ndarray]) -> list[tuple[int, int]]:
    ends = np.flatnonzero((d["done"] > 0) | (d["truncated"] > 0))
    return list(zip(np.r_[0, ends[:-1] + 1], ends + 1))


def logged_wind_phase(wind_seen: np.ndarray) -> int:
    """The unique phase k in [-9999, 9999) whose wind sequence w(k), w(k+1), ... is the logged obs[:, 6]."""
    k = np.arange(-9999, 9999)
    candidates = k[np.abs(rocket.wind(k, 10.0) - wind_seen[0]) < 1e-5]
    steps = np.arange(len(wind_seen))
    matches = [c for c in candidates if np.abs(rocket.wind(c + steps, 10.0) - wind_seen).max() < 1e-5]
    assert len(matches) == 1, matches
    return int(matches[0])


def test_reward_and_termination_reproduce_val_data_row_by_row(val):
    r = rocket.reward(val["obs"], val["action"], val["next_obs"])
    # The original computes in float32 from float32 observations (shaping terms ~100): a few ulp of 100.
    np.testing.assert_allclose(r, val["reward"], rtol=0, atol=1e-4)
    done = rocket.terminated(val["obs"], val["action"], val["next_obs"])
    np.testing.assert_array_equal(done, val["done"] > 0)
    assert done.sum() == 146
    # Touch-down pays +100 when soft and level, else -100: 99 safe and 47 unsafe landings.
    assert np.sum(r[done] == 100.0) == 99 and np.sum(r[done] == -100.0) == 47


def test_replaying_logged_actions_reproduces_every_val_trajectory_exactly(val):
    """Trajectory i was collected with reset(seed=i); its wind phase is read off the logged wind. Replaying its
    actions gives the logged observations bit for bit, its rewards and its touch-down step: this checks the reset
    (flat terrain, push, legs, hidden zero-action step), the wind, the engines and the world step."""
    env = gym.make("neorl2/RocketRecovery-v0")
    for i, (start, end) in enumerate(episodes(val)):
        k = logged_wind_phase(val["obs"][start:end, 6])
        obs, _ = env.reset(seed=i, options={"wind_idx": k})
        np.testing.assert_array_equal(obs, val["obs"][start], err_msg=f"trajectory {i}")
        for t in range(start, end):
            obs, r, term, trunc, _ = env.step(val["action"][t])
            np.testing.assert_array_equal(obs, val["next_obs"][t], err_msg=f"trajectory {i} row {t}")
            assert r == pytest.approx(val["reward"][t], abs=1e-4)
            assert term == bool(val["done"][t]) and not trunc
        assert term


def test_wind_is_observed_bounded_and_runs_on_across_seedless_resets():
    env = rocket.RocketRecoveryEnv()
    obs, _ = env.reset(seed=0, options={"wind_idx": 100})
    assert obs[6] == np.float32(rocket.wind(100, 10.0))  # the hidden reset step applied w(100)
    assert env.wind_idx == 101
    winds = [obs[6]]
    for _ in range(30):
        obs, *_ = env.step(np.zeros(2))
        winds.append(obs[6])
    np.testing.assert_array_equal(winds, rocket.wind(np.arange(100, 131), 10.0).astype(np.float32))
    obs, _ = env.reset()  # no seed: the phase is not reset (the original's behaviour)
    assert obs[6] == np.float32(rocket.wind(131, 10.0))
    k = np.arange(-9999, 9999 + 100_000)
    assert np.abs(rocket.wind(k, 10.0)).max() <= 10 * math.tanh(2)
    assert rocket.RocketRecoveryEnv(mode="test").wind_power == 12.0


def test_wind_phase_comes_from_the_global_numpy_rng_unless_seeded():
    np.random.seed(5)
    env = rocket.RocketRecoveryEnv()
    expected = np.random.RandomState(5)
    assert (env.wind_idx, env.torque_idx) == (expected.randint(-9999, 9999), expected.randint(-9999, 9999))

    state = np.random.get_state()
    env.reset(seed=8)
    assert env.wind_idx == np.random.RandomState(8).randint(-9999, 9999) + 1  # +1: the hidden step
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])  # global RNG untouched


def test_reset_returns_the_hidden_zero_action_step():
    env = rocket.RocketRecoveryEnv()
    obs, info = env.reset(seed=3, options={"wind_idx": 0})
    assert info == {}
    # The lander starts at (W/2, H) at rest; one 1/50 s step under gravity, the push and w(0) = 0 has moved it.
    assert obs[6] == 0.0
    assert abs(obs[0]) < 0.01 and 1.40 < obs[1] < 1.42
    assert obs[3] != 0.0
    assert env.observation_space.contains(obs)


def test_engines_and_reward_shaping():
    obs = np.zeros((4, 7), dtype=np.float32)
    next_obs = np.zeros((4, 7), dtype=np.float32)
    next_obs[:, 1] = 0.5  # well above touch-down
    actions = np.array([[-0.3, 0.4], [0.0, -0.5], [0.2, -0.7], [2.0, 3.0]])
    main, side = rocket.engine_powers(actions)
    np.testing.assert_allclose(main, [0.0, 0.0, 0.6, 1.0])
    np.testing.assert_allclose(side, [0.0, 0.0, 0.7, 1.0])
    np.testing.assert_allclose(rocket.reward(obs, actions, next_obs), -50.0 - 0.3 * main - 0.03 * side, rtol=1e-6)
    # Touch-down: +100 when soft and level, -100 otherwise (too fast sideways, too fast down, tilted).
    landed = np.zeros((4, 7))
    landed[:, 1] = -0.05
    landed[1, 2], landed[2, 3], landed[3, 4] = 0.5, -2.0, 0.3
    np.testing.assert_array_equal(rocket.reward(obs, actions, landed), [100.0, -100.0, -100.0, -100.0])
    np.testing.assert_array_equal(rocket.terminated(obs, actions, landed), [True] * 4)
    assert not rocket.terminated(obs[0], actions[0], next_obs[0])


def test_seeded_resets_give_identical_episodes():
    actions = np.random.default_rng(3).uniform(-1, 1, size=(200, 2))

    def episode(seed):
        env = gym.make("neorl2/RocketRecovery-v0")
        rows = []
        for s in (seed, None):  # a seeded episode, then the next unseeded one
            obs, _ = env.reset(seed=s)
            rows.append(obs)
            for a in actions:
                obs, r, term, trunc, _ = env.step(a)
                rows.append(np.r_[obs, r, term])
                if term or trunc:
                    break
        return np.concatenate(rows)

    np.random.seed(1)
    first = episode(4)
    np.random.seed(2)  # the global RNG must not matter once a seed is given
    np.testing.assert_array_equal(first, episode(4))
    assert not np.array_equal(first, episode(5))


def test_registered_env_spaces_and_check_env():
    env = gym.make("neorl2/RocketRecovery-v0")
    assert env.spec.max_episode_steps == 500
    assert env.spec.kwargs == {"mode": "train"}
    assert env.observation_space.shape == (7,) and env.observation_space.dtype == np.float32
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    # obs[6] (wind) is unbounded by declaration, as in the original; any other warning is a defect.
    unexpected = [str(w.message) for w in caught if "infinity" not in str(w.message)]
    assert unexpected == []
    with pytest.raises(ValueError, match="does not render"):
        rocket.RocketRecoveryEnv(render_mode="rgb_array")
