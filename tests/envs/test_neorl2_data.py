"""NeoRL-2 loader, default truncation, data score and reference scores (neorl2.md 0.2 and 0.4).

Tests on the official files read them from $HYBRIDRL_NEORL2_DATA (default ../shared/data/neorl2) and skip when it is missing; the
malformed files are small synthetic ones written to tmp_path.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hybridrl.data import DatasetError, load_dataset
from hybridrl.envs.neorl2.data import data_score, load_neorl2
from hybridrl.envs.scores import normalized_score, reference_scores

DATA = Path(os.environ["HYBRIDRL_NEORL2_DATA"])  # set in tests/conftest.py
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"official NeoRL-2 files not found in {DATA} (see its NOTICE.md)")
FIX = "download it again from http://datasets.polixir.site/neorl2/ and check its MD5 (neorl2.md 0.2)"


def write_npz(path: Path, trajectories: int = 3, length: int = 4, obs_dim: int = 6, act_dim: int = 2, **changes) -> Path:
    """A small file in NeoRL-2's layout (DMSD shapes by default); ``changes`` replace arrays, None drops one."""
    rng = np.random.default_rng(0)
    n = trajectories * length
    truncated = np.zeros(n, np.float32)
    truncated[length - 1 :: length] = 1.0
    arrays = {
        "obs": rng.normal(size=(n, obs_dim)).astype(np.float32),
        "action": rng.uniform(-1, 1, size=(n, act_dim)).astype(np.float32),
        "next_obs": rng.normal(size=(n, obs_dim)).astype(np.float32),
        "reward": rng.normal(size=n).astype(np.float32),
        "done": np.zeros(n, np.float32),
        "truncated": truncated,
    }
    arrays.update(changes)
    np.savez(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


# ---------------------------------------------------------------------------------------------- reference scores


def test_reference_scores_table():
    assert reference_scores("neorl2/DMSD-v0") == (30.60, 849.51)
    assert reference_scores("neorl2/Pipeline-v0") == (-296.0, 751.0)
    assert reference_scores("neorl2/Fusion-v0") == (-107.601, 98.05)
    assert reference_scores("neorl2/SafetyHalfCheetah-v0") == (-283.0, 2507.0)  # not D4RL's halfcheetah
    assert reference_scores("neorl2/Unknown-v0") is None
    assert reference_scores("neorl2/DMSD-v0", 0.0, 1.0) == (0.0, 1.0)  # the dataset's own still win
    assert reference_scores("HalfCheetah-v5") == (-280.178953, 12135.0)  # D4RL unchanged


# ---------------------------------------------------------------------------------------------- official files


@needs_data
def test_dmsd_train_transitions_and_episodes():
    path = DATA / "DMSD-train.npz"
    ds = load_neorl2(path)
    raw = np.load(path)
    assert (len(ds), ds.num_episodes) == (100_000, 1000)
    np.testing.assert_array_equal(ds.observations, raw["obs"])
    np.testing.assert_array_equal(ds.actions, raw["action"])
    np.testing.assert_array_equal(ds.next_observations, raw["next_obs"])
    np.testing.assert_array_equal(ds.rewards, raw["reward"])
    assert not ds.terminals.any() and ds.timeouts.sum() == 1000
    assert (ds.episode_lengths == 100).all()
    assert ds.env_id == "neorl2/DMSD-v0" and ds.name == "neorl2-DMSD-train"
    np.testing.assert_array_equal(ds.action_low, [-1, -1])
    np.testing.assert_array_equal(ds.action_high, [1, 1])
    assert (ds.ref_min_score, ds.ref_max_score) == (30.60, 849.51)
    assert ds.metadata["source"] == str(path.resolve()) and ds.metadata["truncation"] == "none (whole file)"
    assert ds.episode_returns.mean() == pytest.approx(494.45, abs=0.005)
    assert round(data_score(ds), 2) == 56.64  # neorl2.md section 5


@needs_data
def test_simglucose_terminals_and_timeouts():
    train = load_neorl2(DATA / "Simglucose-train.npz")
    assert (len(train), train.num_episodes, int(train.terminals.sum()), int(train.timeouts.sum())) == (100_257, 280, 111, 169)
    assert (train.episode_lengths[train.timeouts[train.episode_ends]] == 480).all()
    assert round(data_score(train), 2) == 73.87
    val = load_neorl2(DATA / "Simglucose-val.npz")
    assert (len(val), val.num_episodes, int(val.terminals.sum())) == (20_018, 62, 30)


@needs_data
def test_default_truncation_of_fusion_and_rocket_val():
    fusion = load_neorl2(DATA / "Fusion-val.npz")  # get_dataset(): traj_num 20 -> val keeps int(20/4) = 5
    assert (len(fusion), fusion.num_episodes) == (500, 5)
    assert fusion.episode_returns.mean() == pytest.approx(-9.247, abs=5e-4)
    assert fusion.metadata["file_trajectories"] == 200 and fusion.metadata["kept_trajectories"] == 5
    rocket = load_neorl2(DATA / "RocketRecovery-val.npz")  # traj_num 100 -> 25 val trajectories
    assert rocket.num_episodes == 25 and rocket.metadata["file_trajectories"] == 146
    whole = load_neorl2(DATA / "RocketRecovery-val.npz", official_truncation=False)
    assert (len(whole), whole.num_episodes) == (20_077, 146)
    np.testing.assert_array_equal(whole.rewards[: len(rocket)], rocket.rewards)


@needs_data
def test_traj_num_cuts_train_and_val():
    # val trajectory i of Fusion equals train trajectory i, so val with traj_num=80 is the official train-20 set
    train20 = load_neorl2(DATA / "Fusion-val.npz", traj_num=80)
    assert train20.num_episodes == 20
    assert train20.episode_returns.mean() == pytest.approx(-7.3486924, abs=1e-5)
    assert round(data_score(train20), 2) == 48.75
    assert load_neorl2(DATA / "DMSD-train.npz", traj_num=7).num_episodes == 7
    assert load_neorl2(DATA / "DMSD-val.npz", traj_num=7).num_episodes == 1


@needs_data
def test_load_dataset_hands_the_official_layout_to_load_neorl2():
    ds = load_dataset(str(DATA / "Fusion-val.npz"))
    assert ds.env_id == "neorl2/Fusion-v0" and ds.num_episodes == 5 and ds.metadata["format"] == "neorl2"


# ---------------------------------------------------------------------------------------------- file names


def test_task_and_split_from_file_name(tmp_path):
    ds = load_neorl2(write_npz(tmp_path / "Fusion-high-20000-val.npz", trajectories=8, obs_dim=15, act_dim=6))
    assert ds.env_id == "neorl2/Fusion-v0" and ds.metadata["split"] == "val" and ds.num_episodes == 5  # int(20/4) of 8
    reward = np.array([1, 2, 3, 4, 10, 10, 5, 5, 1, 1, 1, 1], np.float32)
    named = load_neorl2(write_npz(tmp_path / "mine.npz", reward=reward), task="DMSD")
    assert named.env_id == "neorl2/DMSD-v0" and named.metadata["split"] is None and named.num_episodes == 3
    expected = float(normalized_score(np.sum(reward, dtype=np.float64) / 3, (30.60, 849.51)))
    assert data_score(named) == pytest.approx(expected)


def test_unknown_task_or_split_is_refused(tmp_path):
    path = write_npz(tmp_path / "mine.npz")
    with pytest.raises(DatasetError) as exc:
        load_neorl2(path)
    assert str(exc.value) == (
        f"{path}: cannot tell the NeoRL-2 task from the file name; name the file TASK-train.npz or TASK-val.npz, "
        "or pass task= (one of Pipeline, Simglucose, RocketRecovery, RandomFrictionHopper, DMSD, Fusion, SafetyHalfCheetah)."
    )
    with pytest.raises(DatasetError) as exc:
        load_neorl2(path, task="DMSD", traj_num=2)
    assert str(exc.value) == (
        f"{path}: traj_num=2 keeps n train but int(n/4) val trajectories, and the file name does not say which split "
        "this is; pass split='train' or split='val'."
    )
    with pytest.raises(ValueError, match=r"^traj_num=3 keeps int\(3/4\) = 0 val trajectories; pass traj_num >= 4$"):
        load_neorl2(path, task="DMSD", split="val", traj_num=3)
    with pytest.raises(ValueError, match=r"^traj_num must be a positive integer \(trajectories to keep\), got 0$"):
        load_neorl2(path, task="DMSD", traj_num=0)
    with pytest.raises(ValueError, match=r"^unknown NeoRL-2 task 'dmsd'; use one of Pipeline, "):
        load_neorl2(path, task="dmsd")


# ---------------------------------------------------------------------------------------------- malformed files


def test_missing_key(tmp_path):
    path = write_npz(tmp_path / "DMSD-train.npz", truncated=None)
    with pytest.raises(DatasetError) as exc:
        load_neorl2(path)
    assert str(exc.value) == (
        f"{path}: field 'truncated' is missing (found: action, done, next_obs, obs, reward); "
        f"a NeoRL-2 file holds obs, action, next_obs, reward, done, truncated; {FIX}."
    )


def test_wrong_shape(tmp_path):
    path = write_npz(tmp_path / "DMSD-train.npz", action=np.zeros((12, 3), np.float32))
    with pytest.raises(DatasetError) as exc:
        load_neorl2(path)
    assert str(exc.value) == (
        f"{path}: field 'action' has shape (12, 3) but a DMSD file needs (N, 2) with N = 12 rows as in 'obs'; "
        f"pass the right task= if this is not DMSD data, else {FIX}."
    )
    short = write_npz(tmp_path / "DMSD-val.npz", reward=np.zeros(11, np.float32))
    with pytest.raises(DatasetError, match=r"field 'reward' has shape \(11,\) but a DMSD file needs \(N,\) with N = 12 rows"):
        load_neorl2(short)


def test_nan(tmp_path):
    obs = np.zeros((12, 6), np.float32)
    obs[5, 2] = np.nan
    path = write_npz(tmp_path / "DMSD-train.npz", obs=obs)
    with pytest.raises(DatasetError) as exc:
        load_dataset(path)  # through the generic entry point: same message
    assert str(exc.value) == (
        f"{path}: field 'observations' has 1 NaN and 0 infinite values (first at transition 5); remove or repair those transitions."
    )


def test_last_row_ends_no_episode(tmp_path):
    truncated = np.zeros(12, np.float32)
    truncated[[3, 7]] = 1.0
    path = write_npz(tmp_path / "DMSD-train.npz", truncated=truncated)
    with pytest.raises(DatasetError) as exc:
        load_neorl2(path)
    assert str(exc.value) == (
        f"{path}: field 'truncated' is 0 at the last row (index 11) and so is 'done', so the last trajectory never ends; "
        f"the file is cut mid-trajectory: {FIX}, or drop the rows after the last episode end."
    )


def test_flags_other_than_0_1(tmp_path):
    done = np.zeros(12, np.float32)
    done[2] = 0.5
    path = write_npz(tmp_path / "DMSD-train.npz", done=done)
    with pytest.raises(DatasetError) as exc:
        load_neorl2(path)
    assert str(exc.value) == (
        f"{path}: field 'done' has values other than 0/1 (first at transition 2: 0.5); store it as booleans or 0/1 numbers."
    )


def test_truncated_and_missing_files(tmp_path):
    good = write_npz(tmp_path / "DMSD-train.npz", trajectories=50)
    cut = tmp_path / "DMSD-val.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DatasetError) as exc:
        load_neorl2(cut)
    assert str(exc.value) == f"{cut}: not a readable NPZ file (BadZipFile), perhaps truncated; {FIX}."
    missing = tmp_path / "Fusion-train.npz"
    with pytest.raises(DatasetError, match=r"Fusion-train.npz: no such file; check the path"):
        load_neorl2(missing)


def test_done_and_truncated_on_one_row_is_a_terminal(tmp_path):
    done = np.zeros(12, np.float32)
    done[[3, 11]] = 1.0  # row 3 terminated early, row 11 also hit the time limit
    path = write_npz(tmp_path / "DMSD-train.npz", done=done)
    ds = load_neorl2(path)
    assert ds.num_episodes == 3
    np.testing.assert_array_equal(np.flatnonzero(ds.terminals), [3, 11])
    np.testing.assert_array_equal(np.flatnonzero(ds.timeouts), [7])
