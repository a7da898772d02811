import dataclasses

import numpy as np
import pytest

from hybridrl.data.dataset import Dataset, DatasetError
from hybridrl.data.sampler import make_preprocessing, raw_scale_note, sample, to_device
from hybridrl.data.transforms import observation_stats, reward_scale, scale_actions, unscale_actions


def _tiny() -> Dataset:
    # two episodes: rewards [1, 2] (return 3) and [5] (return 5)
    obs = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]], np.float32)
    return Dataset(obs, np.array([[-3.0], [0.0], [3.0]], np.float32), np.array([1.0, 2.0, 5.0], np.float32),
                   obs + 1, np.array([False, True, False]), np.array([False, False, True]),
                   action_low=np.array([-3.0], np.float32), action_high=np.array([3.0], np.float32))


def test_locomotion_reward_scale_is_1000_over_return_spread():
    assert reward_scale(_tiny(), "locomotion") == pytest.approx(1000.0 / (5.0 - 3.0))
    assert reward_scale(_tiny(), "none") == 1.0


def test_unknown_reward_scaling_is_refused():
    with pytest.raises(DatasetError, match="reward_scaling 'bogus' is unknown; use 'none' or 'locomotion'"):
        reward_scale(_tiny(), "bogus")


def test_action_scaling_round_trip_and_clip():
    low, high = np.array([-3.0]), np.array([3.0])
    scaled = scale_actions(np.array([[-3.0], [0.0], [1.5]]), low, high)
    np.testing.assert_allclose(scaled[:, 0], [-(1 - 1e-5), 0.0, 0.5], rtol=1e-6)
    np.testing.assert_allclose(unscale_actions(np.array([[-1.0], [0.5]]), low, high)[:, 0], [-3.0, 1.5])


def test_observation_stats_population_std_plus_eps():
    mean, std = observation_stats(_tiny().observations)
    np.testing.assert_allclose(mean, [2.0, 1.0])
    np.testing.assert_allclose(std, [np.sqrt(8 / 3) + 1e-3, 1e-3], rtol=1e-6)


def test_device_data_masks_and_scaled_actions():
    ds = _tiny()
    prep = make_preprocessing(ds, normalize_observations=False, reward_scaling="none")
    data = to_device(ds, prep)
    np.testing.assert_allclose(data["masks"], [1.0, 0.0, 1.0])  # a timeout is not a terminal
    np.testing.assert_allclose(np.asarray(data["actions"])[:, 0], [-(1 - 1e-5), 0.0, 1 - 1e-5], rtol=1e-6)
    import jax

    batch = sample(data, jax.random.PRNGKey(0), 7)
    assert batch["observations"].shape == (7, 2) and batch["rewards"].shape == (7,)


def test_returns_to_go_by_hand_stops_at_terminals_and_timeouts():
    from hybridrl.data.transforms import returns_to_go

    # _tiny(): episode [1, 2] ends in a terminal, episode [5] in a timeout. gamma = 0.5:
    # G = [1 + 0.5 * 2, 2, 5] = [2, 2, 5]; with rewards scaled by 2: [4, 4, 10]
    np.testing.assert_allclose(returns_to_go(_tiny(), 0.5), [2.0, 2.0, 5.0])
    np.testing.assert_allclose(returns_to_go(_tiny(), 0.5, reward_scale=2.0), [4.0, 4.0, 10.0])
    # A timeout in the middle: nothing of the next episode leaks back. Episode [1, 1, 1] (timeout), then [3] (terminal).
    # gamma = 0.9: G = [1 + 0.9 + 0.81, 1 + 0.9, 1, 3] = [2.71, 1.9, 1, 3]
    obs = np.zeros((4, 1), np.float32)
    ds = Dataset(obs, obs, np.array([1.0, 1.0, 1.0, 3.0], np.float32), obs,
                 np.array([False, False, False, True]), np.array([False, False, True, False]))
    g = returns_to_go(ds, 0.9)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, [2.71, 1.9, 1.0, 3.0], rtol=1e-6)


def test_returns_to_go_matches_the_backward_recursion_on_long_episodes():
    from hybridrl.data.transforms import returns_to_go

    # 3 episodes of 5000, 1 and 2999 steps: the vectorised filter agrees with the loop G_t = r_t + gamma * G_{t+1}
    rng = np.random.default_rng(0)
    n = 8000
    rewards = rng.normal(size=n).astype(np.float32)
    terminals = np.zeros(n, bool)
    timeouts = np.zeros(n, bool)
    terminals[4999] = True
    timeouts[[5000, n - 1]] = True
    obs = np.zeros((n, 1), np.float32)
    ds = Dataset(obs, obs, rewards, obs, terminals, timeouts)
    expected, g = np.zeros(n), 0.0
    for t in range(n - 1, -1, -1):
        g = (0.0 if t in (4999, 5000, n - 1) else g)
        g = float(rewards[t]) + 0.99 * g
        expected[t] = g
    np.testing.assert_allclose(returns_to_go(ds, 0.99), expected, rtol=1e-5, atol=1e-5)


def test_device_data_mc_returns_only_when_asked_and_on_scaled_rewards():
    ds = _tiny()
    prep = make_preprocessing(ds, normalize_observations=False, reward_scaling="locomotion")  # scale 500
    assert "mc_returns" not in to_device(ds, prep)
    data = to_device(ds, prep, mc_discount=0.5)
    np.testing.assert_allclose(data["mc_returns"], [1000.0, 1000.0, 2500.0])


def test_raw_scale_note_names_the_largest_dimension_only_above_100_and_without_normalization():
    ds = _tiny()
    assert raw_scale_note(ds, "iql", normalize_observations=False) is None  # |obs| <= 4
    big = dataclasses.replace(ds, observations=ds.observations * np.array([1.0, -150.0], np.float32))
    assert raw_scale_note(big, "iql", normalize_observations=False) == (
        "note: iql trains on raw observations, and the dataset's reach 150 in absolute value (dimension 1); inputs "
        "that large can saturate its networks: consider --set normalize_observations=true")
    assert raw_scale_note(big, "iql", normalize_observations=True) is None
    exactly = dataclasses.replace(ds, observations=ds.observations * np.array([25.0, 1.0], np.float32))  # 100
    assert raw_scale_note(exactly, "iql", normalize_observations=False) is None
