"""Loaders and writers: NPZ, D4RL HDF5, CSV, Parquet and Minari, on tiny hand-made datasets."""

from __future__ import annotations

import json
import os
import re
import socket
import warnings
from pathlib import Path

import gymnasium as gym
import h5py
import minari
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from minari.data_collector.episode_buffer import EpisodeBuffer
from rich.console import Console

from hybridrl.data import Dataset, DatasetError, load_dataset, save_minari, save_npz
from hybridrl.data import loaders
from hybridrl.data.dataset import FIELDS
from hybridrl.data.generate import toy_dataset
from hybridrl.data.info import format_info, info_json

LENGTHS = (2, 3, 4)
ENDS_TERMINAL = (True, False, False)


def make_dataset(obs_dim: int = 3, env_id: str | None = "Pendulum-v1") -> Dataset:
    """3 episodes of lengths 2, 3, 4; act_dim 2; ends: terminal, timeout, timeout; next_obs chained within episodes."""
    ds = toy_dataset(LENGTHS, ENDS_TERMINAL, obs_dim=obs_dim, seed=1, env_id=env_id)
    return ds.replace(ref_min_score=-5.0, ref_max_score=10.0)


def assert_same_arrays(got: Dataset, want: Dataset) -> None:
    for field in FIELDS:
        a, b = getattr(got, field), getattr(want, field)
        assert a.dtype == b.dtype, field
        np.testing.assert_array_equal(a, b, err_msg=field)
    assert got.observations.dtype == np.float32 and got.terminals.dtype == np.bool_


def raises(message: str):
    return pytest.raises(DatasetError, match="^" + re.escape(message) + "$")


@pytest.fixture
def minari_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


# ------------------------------------------------------------------------------------------------ NPZ


def test_npz_round_trip(tmp_path):
    ds = make_dataset().replace(metadata={"note": "hand-made", "seed": 3})
    path = save_npz(ds, tmp_path / "toy.npz")
    assert path == tmp_path / "toy.npz" and os.listdir(tmp_path) == ["toy.npz"]
    got = load_dataset(path)
    assert_same_arrays(got, ds)
    assert (got.name, got.env_id, got.ref_min_score, got.ref_max_score) == ("toy", "Pendulum-v1", -5.0, 10.0)
    np.testing.assert_array_equal(got.action_low, ds.action_low)
    np.testing.assert_array_equal(got.action_high, ds.action_high)
    assert got.metadata == {"note": "hand-made", "seed": 3}


def test_save_npz_failure_keeps_old_file(tmp_path, monkeypatch):
    path = save_npz(make_dataset(), tmp_path / "toy.npz")
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(loaders.np, "savez", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        save_npz(make_dataset(env_id=None), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["toy.npz"]


def test_save_npz_needs_suffix(tmp_path):
    with raises(f"{tmp_path / 'toy.bin'}: an NPZ file name must end in .npz; add the suffix."):
        save_npz(make_dataset(), tmp_path / "toy.bin")


def test_npz_missing_key(tmp_path):
    ds = make_dataset()
    path = tmp_path / "foo.npz"
    np.savez(path, **{f: getattr(ds, f) for f in FIELDS if f != "rewards"})
    with raises(
        f"{path}: field 'rewards' is missing (found: actions, next_observations, observations, terminals, timeouts); "
        "add the 'rewards' array or map an existing one with columns={'rewards': '<key>'}."
    ):
        load_dataset(path)


def test_npz_column_mapping_and_int_flags(tmp_path):
    ds = make_dataset(env_id=None)
    path = tmp_path / "renamed.npz"
    np.savez(
        path,
        obs=ds.observations.astype(np.float64),
        actions=ds.actions,
        rewards=ds.rewards[:, None],  # (N, 1) rewards are flattened
        next_observations=ds.next_observations,
        dones=ds.terminals.astype(np.int64),
        timeouts=ds.timeouts,
    )
    got = load_dataset(path, columns={"observations": "obs", "terminals": "dones"})
    assert_same_arrays(got, ds.replace(action_low=None, action_high=None))
    assert got.name == "renamed" and got.action_low is None
    with raises(
        f"{path}: field 'terminals' is missing (found: actions, dones, next_observations, obs, rewards, timeouts); "
        "the mapped key 'done' is not among the keys; fix columns=."
    ):
        load_dataset(path, columns={"observations": "obs", "terminals": "done"})
    with raises(f"{path}: field 'obs' in columns= is not a dataset field; use one of {', '.join(FIELDS)}."):
        load_dataset(path, columns={"obs": "observations"})


def test_npz_flags_must_be_zero_or_one(tmp_path):
    ds = make_dataset()
    arrays = {f: getattr(ds, f) for f in FIELDS}
    arrays["terminals"] = ds.terminals.astype(np.float32)
    arrays["terminals"][3] = 0.5
    path = tmp_path / "flags.npz"
    np.savez(path, **arrays)
    with raises(f"{path}: field 'terminals' has values other than 0/1 (first at transition 3: 0.5); store it as booleans or 0/1 numbers."):
        load_dataset(path)


def test_load_applies_passed_action_bounds(tmp_path):
    path = save_npz(make_dataset(), tmp_path / "toy.npz")
    got = load_dataset(path, action_low=-2.0, action_high=2.0)
    np.testing.assert_array_equal(got.action_high, [2.0])
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: field 'actions' has \d+ values outside the action space \(first at transition 0, dimension 0: "):
        load_dataset(path, action_low=0.99, action_high=1.0)


def test_unreadable_npz(tmp_path):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))}: not a readable NPZ file \(\w+\); re-create it"):
        load_dataset(path)


# ------------------------------------------------------------------------------------------------ HDF5 (D4RL)


def write_d4rl(path: Path, ds: Dataset, with_next: bool = True) -> None:
    with h5py.File(path, "w") as f:
        for field in FIELDS:
            if field != "next_observations" or with_next:
                f.create_dataset(field, data=getattr(ds, field).astype(np.float64) if field == "observations" else getattr(ds, field))
        f.create_dataset("infos/qpos", data=np.zeros((len(ds), 2)))


def test_hdf5_d4rl_layout(tmp_path):
    ds = make_dataset(env_id=None).replace(action_low=None, action_high=None, ref_min_score=None, ref_max_score=None)
    write_d4rl(tmp_path / "hopper.hdf5", ds)
    got = load_dataset(tmp_path / "hopper.hdf5")
    assert_same_arrays(got, ds)
    assert got.name == "hopper" and got.env_id is None


def test_hdf5_without_next_observations_derives_them(tmp_path):
    """Timeout-ended episodes lose their last step (its successor is unknown); terminal-ended ones keep it."""
    ds = make_dataset()
    write_d4rl(tmp_path / "nonext.h5", ds, with_next=False)
    got = load_dataset(tmp_path / "nonext.h5")
    keep = np.array([0, 1, 2, 3, 5, 6, 7])  # episodes [0,1] terminal, [2,3,4] and [5,6,7,8] cut by a timeout
    np.testing.assert_array_equal(got.observations, ds.observations[keep])
    np.testing.assert_array_equal(got.actions, ds.actions[keep])
    np.testing.assert_array_equal(got.rewards, ds.rewards[keep])
    want_next = ds.next_observations[keep].copy()
    want_next[1] = ds.observations[1]  # placeholder after a terminal
    np.testing.assert_array_equal(got.next_observations, want_next)
    np.testing.assert_array_equal(got.terminals, [False, True, False, False, False, False, False])
    np.testing.assert_array_equal(got.timeouts, [False, False, False, True, False, False, True])
    assert got.metadata["dropped_final_steps"] == 2
    np.testing.assert_array_equal(got.episode_lengths, [2, 2, 3])


def test_hdf5_missing_key_lists_nested_datasets(tmp_path):
    ds = make_dataset()
    path = tmp_path / "partial.hdf5"
    with h5py.File(path, "w") as f:
        f.create_dataset("observations", data=ds.observations)
        f.create_dataset("infos/qpos", data=np.zeros(3))
    with raises(
        f"{path}: field 'actions' is missing (found: infos/qpos, observations); "
        "add the 'actions' array or map an existing one with columns={'actions': '<key>'}."
    ):
        load_dataset(path)


# ------------------------------------------------------------------------------------------------ CSV and Parquet


def test_csv_with_glob_columns(tmp_path):
    ds = make_dataset(env_id=None).replace(action_low=None, action_high=None, ref_min_score=None, ref_max_score=None)
    columns = {
        "a_1": ds.actions[:, 1],  # out of order on purpose: globs sort by the number in the name
        "a_0": ds.actions[:, 0],
        "reward": ds.rewards,
        "done": ds.terminals.astype(np.int64),
        "truncated": ds.timeouts,
    }
    for i in range(3):
        columns[f"o_{i}"] = ds.observations[:, i]
        columns[f"next_o_{i}"] = ds.next_observations[:, i]
    path = tmp_path / "log.csv"
    pacsv.write_csv(pa.table(columns), path)
    mapping = {
        "observations": "o_*",
        "next_observations": "next_o_*",
        "actions": "a_*",
        "rewards": "reward",
        "terminals": "done",
        "timeouts": "truncated",
    }
    got = load_dataset(path, columns=mapping)
    assert_same_arrays(got, ds)
    assert got.name == "log"


def test_csv_default_names_natural_order_and_derived_next(tmp_path):
    ds = make_dataset(obs_dim=12, env_id=None)
    columns = {f"observations_{i}": ds.observations[:, i] for i in reversed(range(12))}
    columns.update({"actions_0": ds.actions[:, 0], "actions_1": ds.actions[:, 1], "rewards": ds.rewards})
    columns.update({"terminals": ds.terminals, "timeouts": ds.timeouts})
    path = tmp_path / "plain.csv"
    pacsv.write_csv(pa.table(columns), path)
    got = load_dataset(path)
    keep = np.array([0, 1, 2, 3, 5, 6, 7])
    np.testing.assert_array_equal(got.observations, ds.observations[keep])
    np.testing.assert_array_equal(got.actions, ds.actions[keep])


def test_parquet_list_columns(tmp_path):
    ds = make_dataset(env_id=None).replace(action_low=None, action_high=None, ref_min_score=None, ref_max_score=None)
    table = pa.table(
        {
            "state": pa.array(ds.observations.tolist(), type=pa.list_(pa.float32())),
            "next_state": pa.array(ds.next_observations.tolist(), type=pa.list_(pa.float32(), 3)),
            "action": pa.array(ds.actions.tolist(), type=pa.list_(pa.float32())),
            "reward": ds.rewards,
            "terminal": ds.terminals,
            "timeout": ds.timeouts,
        }
    )
    path = tmp_path / "log.parquet"
    pq.write_table(table, path)
    mapping = {
        "observations": "state",
        "next_observations": "next_state",
        "actions": "action",
        "rewards": "reward",
        "terminals": "terminal",
        "timeouts": "timeout",
    }
    assert_same_arrays(load_dataset(path, columns=mapping), ds)


def test_table_single_column_action_becomes_2d(tmp_path):
    ds = make_dataset(env_id=None)
    columns = {f"obs_{i}": ds.observations[:, i] for i in range(3)}
    columns.update({"torque": ds.actions[:, 0], "rewards": ds.rewards, "terminals": ds.terminals, "timeouts": ds.timeouts})
    path = tmp_path / "one.parquet"
    pq.write_table(pa.table(columns), path)
    got = load_dataset(path, columns={"observations": "obs_*", "actions": "torque"})
    assert got.actions.shape == (7, 1)


def test_table_missing_column(tmp_path):
    ds = make_dataset()
    path = tmp_path / "bad.csv"
    pacsv.write_csv(pa.table({"obs_0": ds.observations[:, 0], "rewards": ds.rewards}), path)
    with raises(
        f"{path}: field 'observations' is missing (found: obs_0, rewards); no column matches 'observations' or 'observations_*'; "
        "map it with columns={'observations': '<column>' or '<prefix>_*'}."
    ):
        load_dataset(path)


def test_table_empty_cell(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text("obs_0,act_0,rewards,terminals,timeouts\n0.1,0.2,1.0,0,0\n0.2,0.1,,0,1\n")
    with raises(f"{path}: field 'rewards' (column 'rewards') has 1 empty cells (first at row 1); fill or drop those rows."):
        load_dataset(path, columns={"observations": "obs_*", "actions": "act_*"})


def test_table_ragged_list_column(tmp_path):
    path = tmp_path / "ragged.parquet"
    pq.write_table(pa.table({"observations": [[0.0, 1.0], [2.0]], "actions": [[0.0], [0.0]], "rewards": [0.0, 1.0]}), path)
    with raises(f"{path}: field 'observations' (column 'observations') has 1 values in row 1 but 2 in row 0; every row needs the same length."):
        load_dataset(path)


# ------------------------------------------------------------------------------------------------ dispatch errors


def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with raises(f"{path}: no such file; check the path (relative paths start at {os.getcwd()})."):
        load_dataset(path)


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("hello")
    with raises(
        f"{path}: unsupported file type '.txt'; use one of .npz, .hdf5, .h5, .parquet, .csv, a Minari dataset directory or a Minari dataset id."
    ):
        load_dataset(path)


def test_directory_that_is_not_minari(tmp_path):
    with raises(
        f"{tmp_path}: directory is not a Minari dataset (no data/metadata.json inside); "
        "pass a Minari dataset directory, a Minari id, or a .npz, .hdf5, .h5, .parquet, .csv file."
    ):
        load_dataset(tmp_path)


# ------------------------------------------------------------------------------------------------ Minari


def test_minari_round_trip(minari_root):
    ds = make_dataset()
    path = save_minari(ds, "hybridrl/toy-v0")  # root defaults to $MINARI_DATASETS_PATH
    assert path == minari_root / "hybridrl" / "toy-v0"
    assert sorted(p.name for p in minari_root.iterdir()) == ["hybridrl"]  # no temporary directory left

    m = minari.load_dataset("hybridrl/toy-v0")
    assert m.total_episodes == 3 and m.total_steps == 9
    assert m.env_spec.id == "Pendulum-v1"
    assert (m.storage.metadata["ref_min_score"], m.storage.metadata["ref_max_score"]) == (-5.0, 10.0)
    np.testing.assert_array_equal(m.action_space.low, [-1.0, -1.0])
    for episode, start, end in zip(m.iterate_episodes(), ds.episode_starts, ds.episode_ends):
        stop = end + 1
        np.testing.assert_array_equal(episode.observations, np.concatenate([ds.observations[start:stop], ds.next_observations[end:stop]]))
        np.testing.assert_array_equal(episode.actions, ds.actions[start:stop])
        np.testing.assert_array_equal(episode.rewards, ds.rewards[start:stop])
        np.testing.assert_array_equal(episode.terminations, ds.terminals[start:stop])
        np.testing.assert_array_equal(episode.truncations, ds.timeouts[start:stop])

    for source in ("hybridrl/toy-v0", path, path / "data"):
        got = load_dataset(source)
        assert_same_arrays(got, ds)
        assert (got.name, got.env_id, got.ref_min_score, got.ref_max_score) == ("hybridrl/toy-v0", "Pendulum-v1", -5.0, 10.0)
        np.testing.assert_array_equal(got.action_low, ds.action_low)
        np.testing.assert_array_equal(got.action_high, ds.action_high)


def test_save_minari_existing_target(tmp_path):
    root = tmp_path / "datasets"
    first = make_dataset(env_id="HybridToyUnregistered-v0").replace(ref_min_score=None, ref_max_score=None, action_low=None, action_high=None)
    save_minari(first, "toy-v0", root)
    with raises(f"{root / 'toy-v0'}: a dataset with id 'toy-v0' already exists; pass overwrite=True (--overwrite) or choose another id."):
        save_minari(make_dataset(), "toy-v0", root)
    got = load_dataset(root / "toy-v0")
    assert got.env_id == "HybridToyUnregistered-v0" and got.ref_max_score is None and got.action_low is None

    second = make_dataset()
    second.rewards = second.rewards + 1.0
    save_minari(second, "toy-v0", root, overwrite=True)
    assert_same_arrays(load_dataset(root / "toy-v0"), second)
    assert sorted(p.name for p in root.iterdir()) == ["toy-v0"]


def test_save_minari_refuses_unchained_observations(tmp_path):
    ds = make_dataset()
    ds.next_observations = ds.next_observations.copy()
    ds.next_observations[2, 0] += 1.0  # transition 2 is inside the second episode
    with raises(
        "toy (saving to Minari id toy-v0): field 'next_observations' at transition 2 differs from observations[3] inside an episode, "
        "which the Minari format cannot store; end the episode there (timeouts[i]=True) or save with save_npz instead."
    ):
        save_minari(ds, "toy-v0", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_save_minari_invalid_id(tmp_path):
    with raises("toy: not a valid Minari dataset id; use the form (namespace/)name-v<version>, e.g. 'mine/pendulum-v0'."):
        save_minari(make_dataset(), "toy", tmp_path)


def test_unknown_minari_id_never_downloads(minari_root, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(minari, "download_dataset", no_network)
    monkeypatch.setattr(minari.storage.hosting, "download_dataset", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    looked = minari_root / "mujoco/hopper/expert-v0" / "data" / "metadata.json"
    with raises(
        f"mujoco/hopper/expert-v0: not an existing file or directory, and no local Minari dataset with this id (looked for {looked}; "
        "the root is $MINARI_DATASETS_PATH or ~/.minari/datasets); create it with hybridrl.data.save_minari(ds, 'mujoco/hopper/expert-v0') "
        "or fetch it yourself with `minari download mujoco/hopper/expert-v0` (hybridrl never downloads)."
    ):
        load_dataset("mujoco/hopper/expert-v0")


def create_minari(dataset_id: str, buffers: list[EpisodeBuffer], observation_space, action_space):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers(dataset_id, buffers, observation_space=observation_space, action_space=action_space)


def test_minari_dict_observations_and_unended_episode(minari_root):
    rng = np.random.default_rng(2)
    obs_space = gym.spaces.Dict({"pos": gym.spaces.Box(-np.inf, np.inf, (2,)), "vel": gym.spaces.Box(-np.inf, np.inf, (1,))})
    act_space = gym.spaces.Box(-1.0, 1.0, (1,))
    episodes = []
    for length in (3, 2):
        episodes.append(
            EpisodeBuffer(
                observations={"pos": rng.normal(size=(length + 1, 2)), "vel": rng.normal(size=(length + 1, 1))},
                actions=rng.uniform(-1, 1, (length, 1)),
                rewards=rng.normal(size=length),
                terminations=np.zeros(length, dtype=bool),
                truncations=np.zeros(length, dtype=bool),  # neither flag at the end: Minari episodes end anyway
            )
        )
    create_minari("dicty-v0", episodes, obs_space, act_space)
    got = load_dataset("dicty-v0")
    first = episodes[0].observations
    np.testing.assert_array_equal(got.observations[:3], np.concatenate([first["pos"][:-1], first["vel"][:-1]], axis=1).astype(np.float32))
    np.testing.assert_array_equal(got.next_observations[:3], np.concatenate([first["pos"][1:], first["vel"][1:]], axis=1).astype(np.float32))
    np.testing.assert_array_equal(got.timeouts, [False, False, True, False, True])
    assert not got.terminals.any()
    assert got.metadata["observation_keys"] == ["pos", "vel"]


def test_minari_refuses_discrete_actions(minari_root):
    episode = EpisodeBuffer(
        observations=np.zeros((3, 2)), actions=np.array([0, 1]), rewards=np.zeros(2), terminations=[False, True], truncations=[False, False]
    )
    create_minari("discrete-v0", [episode], gym.spaces.Box(-1.0, 1.0, (2,)), gym.spaces.Discrete(2))
    with raises("discrete-v0: field 'actions' uses a Discrete action space; only Box (continuous) action spaces are supported."):
        load_dataset("discrete-v0")


# ------------------------------------------------------------------------------------------------ info


def test_info_table_and_json():
    ds = make_dataset(obs_dim=12)
    assert info_json(ds) == ds.stats()
    console = Console(record=True, width=200)
    console.print(format_info(ds))
    text = console.export_text()
    assert "Dataset toy" in text and "Pendulum-v1" in text
    assert "3  (terminals 1, timeouts 2)" in text
    assert "mean 3.0, min 2, max 4" in text
    assert "+4 more]" in text  # 12 observation dimensions, 8 shown
    assert "-5, 10" in text
    assert json.dumps(info_json(ds))  # plain Python, serializable


def test_minari_flat_cache_gives_the_same_arrays_and_follows_the_file(tmp_path, monkeypatch):
    from hybridrl.data.generate import toy_dataset

    monkeypatch.setenv("HYBRIDRL_CACHE_DIR", str(tmp_path / "cache"))
    ds = toy_dataset(lengths=(3, 5, 2, 7), terminal_ends=(True, False, True, False))
    path = save_minari(ds, "test/cached-v0", root=tmp_path / "root")
    assert len(list((tmp_path / "cache" / "flat").glob("*.npz"))) == 1  # written by save_minari
    cached = load_dataset(path)
    monkeypatch.setenv("HYBRIDRL_CACHE_DIR", "none")
    fresh = load_dataset(path)
    for field in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts"):
        np.testing.assert_array_equal(getattr(cached, field), getattr(fresh, field))
        np.testing.assert_array_equal(getattr(cached, field), getattr(ds, field))
    # Rewriting the dataset changes the file, so the old cache entry is not used.
    monkeypatch.setenv("HYBRIDRL_CACHE_DIR", str(tmp_path / "cache"))
    other = toy_dataset(lengths=(4, 4), terminal_ends=(False, True), seed=1)
    path = save_minari(other, "test/cached-v0", root=tmp_path / "root", overwrite=True)
    np.testing.assert_array_equal(load_dataset(path).rewards, other.rewards)


# ------------------------------------------------------------------------------------------------ damaged files


def _truncate(path: Path) -> int:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return len(data)


def test_truncated_minari_file_is_refused_in_one_line(minari_root):
    """A Minari dataset whose HDF5 was cut short (an interrupted copy): one line, the file, the fix; the flat-array
    cache written by save_minari does not hide it (it is keyed by size and modification time)."""
    path = save_minari(make_dataset(), "test/cut-v0")
    main = path / "data" / "main_data.hdf5"
    size = _truncate(main)
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert message.startswith(f"{path}: cannot open {main} (Unable to synchronously open file (truncated file: eof = "
                              f"{size // 2}")
    assert message.endswith("; re-create or re-download the dataset.") and "\n" not in message


def test_truncated_d4rl_hdf5_is_refused_in_one_line(tmp_path):
    ds = make_dataset()
    path = tmp_path / "cut.hdf5"
    with h5py.File(path, "w") as f:
        for key in ("observations", "actions", "rewards", "terminals", "timeouts"):
            f[key] = getattr(ds, key)
    size = _truncate(path)
    with pytest.raises(DatasetError) as info:
        load_dataset(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a readable HDF5 file (Unable to synchronously open file (truncated file: "
                              f"eof = {size // 2}")
    assert message.endswith("; check that the file is complete.") and "\n" not in message
