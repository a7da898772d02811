"""NeoRL-2 Simglucose (hybridrl/envs/neorl2/simglucose.py) against the official data and neorl2.md section 2."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hybridrl.envs  # noqa: F401  (registers neorl2/*-v0)
from hybridrl.envs.neorl2.simglucose import (
    OBS_PARAMS,
    PATIENT_CSV,
    TRAIN_PATIENTS,
    SimglucoseEnv,
    load_patients,
    pump_rate,
    reward_fn,
    terminated_fn,
)

DATA = Path(os.environ["HYBRIDRL_NEORL2_DATA"])  # set in tests/conftest.py


def load(split: str) -> dict[str, np.ndarray]:
    path = DATA / f"Simglucose-{split}.npz"
    if not path.is_file():
        pytest.skip(f"the official Simglucose {split} data are not at {path}")
    return dict(np.load(path))


def episode_bounds(data) -> list[tuple[int, int]]:
    ends = np.flatnonzero((data["done"] + data["truncated"]) > 0) + 1
    return list(zip(np.r_[0, ends[:-1]], ends))


@pytest.mark.parametrize("split", ["train", "val"])
def test_reward_reproduces_the_data_row_by_row(split):
    data = load(split)
    reward = reward_fn(data["obs"], data["action"], data["next_obs"])
    assert reward.shape == data["reward"].shape
    np.testing.assert_allclose(reward, data["reward"], rtol=0, atol=1e-5)
    assert (data["reward"] == -15).sum() == (data["next_obs"][:, 0] <= 40).sum() > 0  # the override is exercised


# Rows where NeoRL-2's offline done function (CGM' < 40 or > 600) disagrees with the stored done flag, which
# the environment sets from the true mean blood glucose of the step (section 2 "Termination").
DONE_MISMATCHES = {"train": 35, "val": 5}


@pytest.mark.parametrize("split", ["train", "val"])
def test_termination_function_matches_done_except_where_cgm_lags_true_glucose(split):
    data = load(split)
    done = terminated_fn(data["obs"], data["action"], data["next_obs"])
    assert done.dtype == bool and done.shape == data["done"].shape
    mismatch = done != (data["done"] > 0)
    assert mismatch.sum() == DONE_MISMATCHES[split]
    cgm = data["next_obs"][mismatch, 0]
    assert ((cgm > 37) & (cgm < 41)).all()  # all at the 40 mg/dL threshold
    assert terminated_fn(data["obs"][0], data["action"][0], np.array([39.9] + [0] * 30)) == True  # noqa: E712
    assert terminated_fn(data["obs"][0], data["action"][0], np.array([600.1] + [0] * 30)) == True  # noqa: E712


def test_patient_csv_is_simglucose_file_and_obs_params_come_from_it():
    assert hashlib.md5(PATIENT_CSV.read_bytes()).hexdigest() == "22cead8072c77e3e78c5229a40c8c0ea"
    patients = load_patients()
    assert len(patients) == 30 and set(TRAIN_PATIENTS) <= set(patients)
    assert patients["adult#001"]["BW"] == 102.32 and patients["adult#001"]["x0_13"] == 265.370112


def test_pump_maps_and_quantises_the_action():
    assert pump_rate(np.array([-1.0])) == 0.0
    assert pump_rate(np.array([1.0])) == pytest.approx(5.0, abs=1e-12)
    assert pump_rate(np.array([3.0])) == pump_rate(np.array([1.0]))  # clipped to [-1, 1] first
    # (a + 1) / 2 * 5 = 0.1005409 U/min = 12064.9 steps of 0.05 pmol/min -> 12065 steps
    assert pump_rate(np.array([-0.9597836])) == pytest.approx(12065 * 0.05 / 6000, rel=1e-12)


# (split, trajectory index): train 2 is child#004 from 15:00 (meals at 15:00, 18:00 and 21:30) until its glucose
# falls below 40 at step 133; train 3 is adult#004 fasting from 03:00 until step 79; val 3 is the same patient
# and hour under the val policy (61 steps); val 0 is adult#001 from 15:00 through all six meals, truncated by
# the 480-step time limit.
REPLAYS = [("train", 2), ("train", 3), ("val", 3), ("val", 0)]


@pytest.mark.parametrize("split,index", REPLAYS)
def test_replaying_a_data_trajectory_reproduces_cgm_rewards_and_episode_ends(split, index):
    """Trajectory i was collected after numpy.random.seed(i); reset(seed=i) draws the same patient and hour."""
    data = load(split)
    start, end = episode_bounds(data)[index]
    env = gym.make("neorl2/Simglucose-v0")
    obs, info = env.reset(seed=index)
    np.testing.assert_array_equal(obs, data["obs"][start])
    for row in range(start, end):
        obs, reward, terminated, truncated, step_info = env.step(data["action"][row])
        np.testing.assert_array_equal(obs[1:], data["next_obs"][row, 1:])
        # the sheet's CGM error is below 1e-4 mg/dL; the data hold float32 (1 ulp = 6e-5 near 600)
        assert abs(obs[0] - data["next_obs"][row, 0]) < 1e-4, f"row {row}"
        assert reward == pytest.approx(data["reward"][row], abs=1e-5), f"row {row}"
        assert terminated == bool(data["done"][row]), f"row {row}: true glucose {step_info['bg']}"
        assert truncated == bool(data["truncated"][row]), f"row {row}"
    assert terminated or truncated


def test_seeded_resets_draw_the_sheets_patients_and_hours_and_repeat():
    env = SimglucoseEnv()
    drawn = [env.reset(seed=i)[1] for i in range(4)]
    assert [(d["patient"], d["start_hour"]) for d in drawn] == [
        ("adult#001", 15), ("child#003", 11), ("child#004", 15), ("adult#004", 3),
    ]  # fmt: skip
    first = [env.reset(seed=11)[1]] + [env.reset()[1] for _ in range(5)]
    again = [env.reset(seed=11)[1]] + [env.reset()[1] for _ in range(5)]
    assert first == again and len({d["patient"] for d in first}) > 1  # unseeded resets continue the stream
    state = np.random.get_state()[1].copy()
    env.reset(seed=0)
    assert np.array_equal(np.random.get_state()[1], state)  # the global generator is left alone


def test_global_rng_flag_restores_neorl2s_seeding():
    env = SimglucoseEnv(global_rng=True)
    np.random.seed(1)
    assert env.reset(seed=0)[1] == {"patient": "child#003", "start_hour": 11}  # seed=0 has no say
    np.random.seed(3)
    assert env.reset()[1] == {"patient": "adult#004", "start_hour": 3}
    np.random.seed(3)
    obs, _ = env.reset(seed=123)
    assert obs[1] == load_patients()["adult#004"][OBS_PARAMS[0]]  # body weight of the drawn patient


def test_check_env_and_registration():
    check_env(SimglucoseEnv(), skip_render_check=True)
    env = gym.make("neorl2/Simglucose-v0")
    assert env.spec.max_episode_steps == 480 and env.unwrapped.mode == "train"
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs in env.observation_space
