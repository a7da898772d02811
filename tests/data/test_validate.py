"""validate(): every refusal, with its exact one-line message."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hybridrl.data import Dataset, DatasetError, validate
from hybridrl.data.generate import toy_dataset

SRC = "data/foo.npz"


def make_dataset() -> Dataset:
    """3 episodes of lengths 2, 3, 4; obs_dim 3, act_dim 2; ends: terminal, timeout, timeout."""
    return toy_dataset((2, 3, 4), (True, False, False), seed=0).replace(name="dataset")


def raises(message: str):
    """Expect a DatasetError whose message is exactly ``message``."""
    return pytest.raises(DatasetError, match="^" + re.escape(message) + "$")


def test_valid_dataset_passes():
    ds = make_dataset()
    assert len(ds) == 9 and ds.num_episodes == 3
    validate(ds, SRC)


def test_mismatched_lengths():
    ds = make_dataset()
    with raises(f"{SRC}: field 'rewards' has 8 rows but 'observations' has 9; every field needs one row per transition."):
        validate(ds.replace(rewards=ds.rewards[:-1]), SRC)
    with raises(f"{SRC}: field 'timeouts' has 10 rows but 'observations' has 9; every field needs one row per transition."):
        validate(ds.replace(timeouts=np.ones(10, dtype=bool)), SRC)


def test_observations_must_be_2d():
    ds = make_dataset()
    with raises(f"{SRC}: field 'observations' has shape (27,) but must be 2-D (transitions, obs_dim); reshape it to (N, obs_dim)."):
        validate(ds.replace(observations=ds.observations.reshape(-1)), SRC)


def test_actions_must_be_2d():
    ds = make_dataset()
    with raises(f"{SRC}: field 'actions' has shape (9, 2, 1) but must be 2-D (transitions, act_dim); reshape it to (N, act_dim)."):
        validate(ds.replace(actions=ds.actions[..., None]), SRC)


def test_zero_width_observations():
    ds = make_dataset()
    with raises(f"{SRC}: field 'observations' has shape (9, 0) with no columns; give it at least one column (obs_dim >= 1)."):
        validate(ds.replace(observations=np.zeros((9, 0), np.float32)), SRC)


@pytest.mark.parametrize("field", ["rewards", "terminals", "timeouts"])
def test_scalar_fields_must_be_1d(field):
    ds = make_dataset()
    with raises(f"{SRC}: field '{field}' has shape (9, 1) but must be 1-D (transitions,); flatten it to shape (N,), e.g. with .reshape(-1)."):
        validate(ds.replace(**{field: getattr(ds, field)[:, None]}), SRC)


def test_next_observations_shape():
    ds = make_dataset()
    with raises(
        f"{SRC}: field 'next_observations' has shape (9, 4) but 'observations' has (9, 3); "
        "next_observations must have the same shape as observations."
    ):
        validate(ds.replace(next_observations=np.zeros((9, 4), np.float32)), SRC)


def test_empty_dataset():
    ds = make_dataset()
    empty = ds.replace(**{f: getattr(ds, f)[:0] for f in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")})
    with raises(f"{SRC}: field 'observations' has 0 rows, so the dataset is empty; provide at least one transition."):
        validate(empty, SRC)


def test_nan_values_counted_with_first_index():
    ds = make_dataset()
    obs = ds.observations.copy()
    obs[4, 1] = np.nan
    obs[6, 0] = np.nan
    obs[6, 2] = np.inf
    with raises(f"{SRC}: field 'observations' has 2 NaN and 1 infinite values (first at transition 4); remove or repair those transitions."):
        validate(ds.replace(observations=obs), SRC)


def test_infinite_reward():
    ds = make_dataset()
    rewards = ds.rewards.copy()
    rewards[7] = -np.inf
    with raises(f"{SRC}: field 'rewards' has 0 NaN and 1 infinite values (first at transition 7); remove or repair those transitions."):
        validate(ds.replace(rewards=rewards), SRC)


def test_flags_must_be_bool():
    ds = make_dataset()
    with raises(f"{SRC}: field 'terminals' has dtype float32 but must be bool; cast it with .astype(bool)."):
        validate(ds.replace(terminals=ds.terminals.astype(np.float32)), SRC)


def test_actions_outside_dataset_bounds():
    ds = make_dataset()
    actions = ds.actions.copy()
    actions[5, 1] = 1.5
    actions[8, 0] = -2.0
    with raises(
        f"{SRC}: field 'actions' has 2 values outside the action space (first at transition 5, dimension 1: 1.5 not in [-1, 1]); "
        "clip the actions to the bounds or pass the right action_low/action_high."
    ):
        validate(ds.replace(actions=actions), SRC)


def test_actions_within_tolerance_pass():
    ds = make_dataset()
    actions = ds.actions.copy()
    actions[0] = [1.0 + 5e-7, -1.0 - 5e-7]
    validate(ds.replace(actions=actions), SRC)
    actions[0, 0] = 1.0 + 1e-5
    with pytest.raises(DatasetError, match=r"^data/foo\.npz: field 'actions' has 1 values outside the action space \(first at transition 0, dimension 0"):
        validate(ds.replace(actions=actions), SRC)


def test_passed_bounds_override_dataset_bounds():
    validate(make_dataset().replace(action_low=None, action_high=None), SRC)  # no bounds known: nothing to check
    ds = make_dataset()  # its own bounds [-1, 1] hold; the passed ones win
    with raises(
        f"{SRC}: field 'actions' has 18 values outside the action space (first at transition 0, dimension 0: "
        f"{float(ds.actions[0, 0]):.6g} not in [2, 3]); clip the actions to the bounds or pass the right action_low/action_high."
    ):
        validate(ds, SRC, action_low=[2.0, 2.0], action_high=3.0)


def test_bounds_of_wrong_shape():
    ds = make_dataset()
    with raises(f"{SRC}: field 'action_low' has shape (3,) but actions have 2 dimensions; give one bound per action dimension."):
        validate(ds, SRC, action_low=np.zeros(3))


def test_bounds_in_wrong_order():
    ds = make_dataset()
    with raises(f"{SRC}: field 'action_low' is above 'action_high' in dimension 1 (2 > 1); swap or fix the bounds."):
        validate(ds, SRC, action_low=[-1.0, 2.0], action_high=[1.0, 1.0])


def test_last_episode_without_end():
    ds = make_dataset()
    timeouts = ds.timeouts.copy()
    timeouts[-1] = False
    with raises(
        f"{SRC}: field 'timeouts' is False at the last transition (index 8) and so is 'terminals', so the last episode never ends; "
        "set timeouts[-1]=True or drop the partial episode."
    ):
        validate(ds.replace(timeouts=timeouts), SRC)


def test_messages_are_one_line():
    ds = make_dataset()
    with pytest.raises(DatasetError) as info:
        validate(ds.replace(rewards=ds.rewards[:-1]), "multi\nline/source.npz")
    assert "\n" not in str(info.value)
