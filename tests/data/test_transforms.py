import numpy as np
import pytest

from hybridrl.data.dataset import Dataset, DatasetError
from hybridrl.data.sampler import make_preprocessing, sample, to_device
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
