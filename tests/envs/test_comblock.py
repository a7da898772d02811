"""The continuous combination lock (shared/reference/hnpg.md sections 3-4): semantics by hand, Gymnasium's checker,
seeding, and the offline data."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import scipy.linalg
from gymnasium.utils.env_checker import check_env

import hybridrl.envs  # noqa: F401  (registers hybridrl/CombinationLock-v0)
from hybridrl.envs.comblock import (
    DEAD,
    ENV_ID,
    CombinationLockEnv,
    latent_actions,
    observation_dim,
    offline_dataset,
)

LOCK4 = np.array([[3, 7, 0, 9], [5, 1, 1, 4]])


def pick(k: int, K: int = 10) -> np.ndarray:
    """An action whose temperature-0.1 softmax puts all but e^-100 of its mass on latent action k."""
    a = np.zeros(K, np.float32)
    a[k] = 10.0
    return a


def decode(env: CombinationLockEnv, obs: np.ndarray) -> np.ndarray:
    """v = R obs / d, since the unnormalized Hadamard matrix has R R = d I."""
    return env.rotation @ obs.astype(np.float64) / env.obs_dim


def good(env: CombinationLockEnv, state: int, h: int) -> int:
    return int(env.lock[min(state, 1), h])


def test_observation_dimension_and_hadamard_structure():
    assert [observation_dim(H) for H in (3, 5, 10, 15, 30, 50)] == [8, 16, 16, 32, 64, 64]
    env = CombinationLockEnv(4, lock=LOCK4, noise=0.0)
    R = scipy.linalg.hadamard(8)
    assert np.array_equal(env.rotation, R) and set(np.unique(R)) == {-1, 1}
    obs, info = env.reset(seed=0)
    assert obs.shape == (8,) and obs.dtype == np.float32
    assert set(np.unique(obs)) <= {-2.0, 0.0, 2.0}  # +-1 +-1 without noise
    for h in range(4):
        v = decode(env, obs)
        expect = np.zeros(8)
        expect[info["state"]] += 1
        expect[3 + h] += 1
        np.testing.assert_allclose(v, expect, atol=1e-6)
        obs, _, _, _, info = env.step(pick(good(env, info["state"], h)))
    v = decode(env, obs)  # after the last step the counter is H = 4: index 3 + H = 7, the padding coordinate
    assert v[7] == pytest.approx(1.0) and v[info["state"]] == pytest.approx(1.0)


def test_observation_noise_on_the_first_h_plus_3_coordinates_only():
    env = CombinationLockEnv(5, lock_seed=0)  # d = 16, noise on coordinates 0..7
    vs = np.array([decode(env, env.reset(seed=s)[0]) for s in range(400)])
    clean = vs.copy()
    clean[np.arange(400), [env.reset(seed=s)[1]["state"] for s in range(400)]] -= 1
    clean[:, 3] -= 1
    std = clean.std(0)
    assert np.all((std[:8] > 0.085) & (std[:8] < 0.115))  # std 0.1 before the rotation
    np.testing.assert_allclose(clean[:, 8:], 0.0, atol=1e-5)


def test_reward_one_only_for_the_full_right_sequence():
    env = CombinationLockEnv(4, lock=LOCK4)
    for seed in range(6):
        _, info = env.reset(seed=seed)
        rewards = []
        for h in range(4):
            assert info["state"] != DEAD
            _, r, terminated, truncated, info = env.step(pick(good(env, info["state"], h)))
            rewards.append(r)
            assert terminated == (h == 3) and not truncated
        assert rewards == [0.0, 0.0, 0.0, 1.0]
    with pytest.raises(RuntimeError):
        env.step(pick(0))  # exactly H steps


@pytest.mark.parametrize("mistake_at", [0, 1, 2, 3])
def test_any_mistake_dies_absorbs_and_pays_0_or_0_1(mistake_at):
    env = CombinationLockEnv(4, lock=LOCK4)
    finals = []
    for seed in range(200):
        _, info = env.reset(seed=seed)
        for h in range(4):
            state = info["state"]
            if h < mistake_at:
                k = good(env, state, h)
            elif h == mistake_at:
                k = (good(env, state, h) + 1 + seed % 9) % 10  # any wrong latent action
            else:  # dead: even both rows' good actions keep it dead
                assert state == DEAD
                k = good(env, seed % 2, h)
            _, r, terminated, _, info = env.step(pick(k))
            if h < 3:
                assert r == 0.0
        assert terminated and info["state"] == DEAD
        finals.append(r)
    assert set(finals) <= {0.0, 0.1}
    assert 0.4 < np.mean(np.array(finals) == 0.1) < 0.6  # the anti-shaped reward, probability 0.5


def test_good_actions_move_to_a_uniform_next_good_state():
    env = CombinationLockEnv(3, lock=np.array([[1, 2, 3], [4, 5, 6]]))
    switched, stayed_at_end = [], []
    for seed in range(400):
        _, info = env.reset(seed=seed)
        for h in range(3):
            before = info["state"]
            _, r, _, _, info = env.step(pick(good(env, before, h)))
            if h < 2:
                switched.append(info["state"] != before)
            else:
                stayed_at_end.append(info["state"] == before and r == 1.0)
    assert 0.43 < np.mean(switched) < 0.57
    assert all(stayed_at_end)  # no switch on the final step


def test_temperature_0_1_softmax():
    rng = np.random.default_rng(0)
    n = 200_000
    one_hot = np.tile(np.eye(10)[3], (n, 1))
    k = latent_actions(one_hot, rng.random(n), 0.1)
    assert np.mean(k == 3) == pytest.approx(np.exp(10) / (np.exp(10) + 9), abs=5e-4)  # 0.99959, not e/(e+9)
    a = np.zeros((n, 10))
    a[:, 0] = 0.1
    k = latent_actions(a, rng.random(n), 0.1)
    assert np.mean(k == 0) == pytest.approx(np.e / (np.e + 9), abs=5e-3)  # exp(10 a): 0.232
    big = latent_actions(np.full((1, 10), 1e4) + np.eye(10)[7], np.array([0.5]), 0.1)  # no overflow
    assert big[0] == 7


def test_check_env_and_registration():
    env = gym.make(ENV_ID, horizon=3, lock_seed=1)
    assert env.observation_space.shape == (8,) and env.action_space.shape == (10,)
    with pytest.warns(UserWarning):  # only the warnings about the unbounded observation space
        check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_seeding_and_locks():
    def episode(env, seed):
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(123)
        out = [obs]
        for _ in range(env.horizon):
            obs, r, *_ = env.step(rng.normal(size=10).astype(np.float32))
            out += [obs, np.array([r])]
        return np.concatenate(out)

    a, b = CombinationLockEnv(5, lock_seed=7), CombinationLockEnv(5, lock_seed=7)
    assert np.array_equal(a.lock, b.lock)
    assert not np.array_equal(a.lock, CombinationLockEnv(5, lock_seed=8).lock)
    np.testing.assert_array_equal(episode(a, 3), episode(b, 3))
    np.testing.assert_array_equal(episode(a, 3), episode(a, 3))
    assert not np.array_equal(episode(a, 3), episode(a, 4))
    assert np.array_equal(CombinationLockEnv(4, lock=LOCK4, lock_seed=99).lock, LOCK4)  # an explicit lock wins
    with pytest.raises(ValueError, match="lock must have shape"):
        CombinationLockEnv(3, lock=LOCK4)


@pytest.mark.parametrize("horizon", [5, 15])
def test_offline_data_optimal_fraction(horizon):
    env = CombinationLockEnv(horizon, lock_seed=horizon)
    ds = offline_dataset(env, 20_000, seed=0)
    # Per step the intended latent action comes out with (1 - 1/H) e^10/(e^10 + 9) + (1/H)/10.
    p = (1 - 1 / horizon) * np.exp(10) / (np.exp(10) + 9) + 0.1 / horizon
    fraction = float(np.mean(ds.episode_returns == 1.0))
    assert fraction == pytest.approx(p**horizon, abs=0.015)
    assert 0.35 < fraction < 0.41  # the sheet's re-simulation: ~37% (H=5) to ~39-40% (H=15-50)
    assert ds.metadata["success_fraction"] == pytest.approx(fraction)


def test_offline_data_layout():
    H, n = 4, 3000
    env = CombinationLockEnv(H, lock=LOCK4)
    ds = offline_dataset(env, n, seed=1)
    assert len(ds) == n * H and ds.num_episodes == n and np.all(ds.episode_lengths == H)
    assert ds.metadata["horizon"] == H and ds.metadata["lock"] == LOCK4.tolist()
    assert np.all(ds.terminals.reshape(n, H) == [False, False, False, True]) and not ds.timeouts.any()
    rewards = ds.rewards.reshape(n, H)
    assert np.all(rewards[:, :-1] == 0) and np.all(np.isin(rewards[:, -1], np.float32([0.0, 0.1, 1.0])))
    obs, nxt = ds.observations.reshape(n, H, -1), ds.next_observations.reshape(n, H, -1)
    np.testing.assert_array_equal(obs[:, 1:], nxt[:, :-1])
    one_hot = np.all(np.isin(ds.actions, [0.0, 1.0]), 1) & (ds.actions.sum(1) == 1)
    assert np.mean(~one_hot) == pytest.approx(1 / H, abs=0.02)  # epsilon = 1/H uniform actions
    assert np.all((ds.actions >= 0) & (ds.actions < 1) | one_hot[:, None])
    # Greedy actions are the good action of the decoded state (the B row when the state is not A).
    states = np.argmax(np.array([decode(env, o) for o in ds.observations[:400]])[:, :3], 1)
    h = np.arange(400) % H
    greedy = one_hot[:400]
    expect = env.lock[np.where(states == 0, 0, 1), h]
    assert np.array_equal(np.argmax(ds.actions[:400], 1)[greedy], expect[greedy])
