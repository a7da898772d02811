"""NeoRL-2 Pipeline (neorl2.md section 1) against values worked out from the sheet.

No official Pipeline file is available to us, so the delay, the float32 gate, the reward and the target
rules are checked by hand: an action's effect on the observed flow shows exactly 19 steps later.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import hybridrl.envs  # noqa: F401  (registers neorl2/Pipeline-v0)
from hybridrl.envs.neorl2.pipeline import TARGETS, PipelineEnv, reward_fn, terminated_fn

F0_SEED_0 = np.float32(105.47847)  # first default_rng(0).uniform(80, 120) draw (sheet test vector)


def replicate_targets(seed: int, steps: int, first: float | None = None) -> list[float]:
    """The target after reset(seed) and after each step, drawn as the sheet orders the draws (keep_target=False
    when ``first`` is None, else a kept target ``first``)."""
    rng = np.random.default_rng(seed)
    rng.uniform(80, 120)  # f0
    redraw = rng.uniform() < 0.003
    target = float(rng.choice(TARGETS)) if first is None or redraw else first
    targets = [target]
    for _ in range(steps):
        if rng.uniform() < 0.003:
            target = float(rng.choice(TARGETS))
        targets.append(target)
    return targets


def test_initial_observation_seed_0():
    env = PipelineEnv()
    obs, _ = env.reset(seed=0)
    assert obs.shape == (52,) and obs.dtype == np.float32
    assert obs[0] == F0_SEED_0 and obs[1] in TARGETS
    np.testing.assert_array_equal(obs[2:27], np.full(25, F0_SEED_0))
    np.testing.assert_array_equal(obs[27:], np.zeros(25))


def test_an_action_shows_at_the_outlet_19_steps_later():
    env = PipelineEnv()
    env.reset(seed=0)
    observations = [env.step(np.array([1.0 if t == 0 else 0.0]))[0] for t in range(30)]  # steps 1 .. 30
    flows = np.array([o[0] for o in observations])
    np.testing.assert_array_equal(flows[:19], np.full(19, F0_SEED_0))  # steps 1..19 still see f0
    np.testing.assert_array_equal(flows[19:], np.full(11, F0_SEED_0 + np.float32(1.0)))  # from step 20 on
    assert observations[19][2] == F0_SEED_0 and observations[20][2] == F0_SEED_0 + 1  # d_{t-1} history slot
    np.testing.assert_array_equal(observations[24][2:27], flows[23::-1].tolist() + [F0_SEED_0])  # d_{t-1}..d_{t-25}
    assert observations[0][27] == 1.0 and observations[24][51] == 1.0  # a_t first, a_{t-24} last
    np.testing.assert_array_equal(observations[25][27:], np.zeros(25))  # the action has left the window


def test_gate_accumulates_in_float32_and_clips():
    env = PipelineEnv()
    env.reset(seed=0)
    steps = 60
    flows = np.array([env.step(np.array([0.1], np.float32))[0][0] for _ in range(steps)])
    gate32, gate64 = [F0_SEED_0], [float(F0_SEED_0)]
    for _ in range(steps):
        gate32.append(np.float32(gate32[-1] + np.float32(0.1)))
        gate64.append(gate64[-1] + 0.1)
    expected = np.array([gate32[max(t - 19, 0)] for t in range(1, steps + 1)], np.float32)
    np.testing.assert_array_equal(flows, expected)
    assert not np.array_equal(expected, np.array([gate64[max(t - 19, 0)] for t in range(1, steps + 1)], np.float32))

    env.reset(seed=0)
    observations = [env.step(np.array([5.0]))[0] for _ in range(140)]  # clipped to +1 per step
    assert observations[0][27] == 1.0
    assert observations[-1][0] == 200.0 and max(o[0] for o in observations) == 200.0  # the gate stops at 200
    env.reset(seed=0)
    assert min(env.step(np.array([-1.0]))[0][0] for _ in range(140)) == 0.0


def test_reward_by_hand():
    def next_obs(flow, target):
        return np.concatenate([[flow, target], np.zeros(50)])

    assert reward_fn(None, None, next_obs(110.0, 110.0)) == pytest.approx(1.0)
    assert reward_fn(None, None, next_obs(0.0, 140.0)) == pytest.approx(0.36 - 3)
    assert reward_fn(None, None, next_obs(200.0, 50.0)) == pytest.approx(0.25 - 3)
    batch = np.stack([next_obs(80.0, 50.0), next_obs(50.0, 80.0)])
    np.testing.assert_allclose(reward_fn(None, None, batch), [1.7 ** 2 - 3] * 2)
    np.testing.assert_array_equal(terminated_fn(None, None, batch), [False, False])
    env = PipelineEnv(keep_target=False)
    obs, _ = env.reset(seed=0)
    next_o, reward, *_ = env.step(np.array([0.0]))
    assert reward == pytest.approx(((200 - abs(float(F0_SEED_0) - float(next_o[1]))) / 100) ** 2 - 3)


@pytest.mark.parametrize("seed", [0, 3])
def test_target_switches_as_drawn(seed):
    env = PipelineEnv(keep_target=False)
    obs, _ = env.reset(seed=seed)
    targets = [obs[1]] + [env.step(np.array([0.0]))[0][1] for _ in range(1000)]
    expected = replicate_targets(seed, 1000)
    assert len(set(expected)) > 1  # the episode does switch (p = 0.003 per step)
    np.testing.assert_array_equal(targets, expected)


def test_target_is_kept_across_resets():
    """The faithful quirk: a new episode starts with the last episode's (switched) target, not a fresh one."""
    env = PipelineEnv()
    obs, _ = env.reset(seed=1)
    targets = [obs[1]] + [env.step(np.array([0.0]))[0][1] for _ in range(1000)]
    np.testing.assert_array_equal(targets[1:], replicate_targets(1, 1000, first=obs[1])[1:])
    assert targets[322] == targets[-1] == 80.0  # seed 1 switches to 80 at step 322, whatever the start was
    again, _ = env.reset(seed=1)  # seed 1's reset draw is 0.95 >= 0.003: no re-draw
    assert again[1] == 80.0  # kept; a fresh draw (keep_target=False) would start seed 1 at 50
    assert replicate_targets(1, 0)[0] == 50.0 and PipelineEnv(keep_target=False).reset(seed=1)[0][1] == 50.0
    assert again[0] == obs[0]  # the initial flow is re-drawn from the seed


def test_keep_target_false_makes_seeded_episodes_repeat():
    env = PipelineEnv(keep_target=False)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(1000, 1)).astype(np.float32)

    def episode(seed):
        obs, _ = env.reset(seed=seed)
        return np.array([obs] + [env.step(a)[0] for a in actions])

    first = episode(1)
    np.testing.assert_array_equal(episode(1), first)
    assert not np.array_equal(episode(2), first)


def test_check_env_and_registration():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(PipelineEnv())
        check_env(PipelineEnv(keep_target=False))
    env = gym.make("neorl2/Pipeline-v0")
    env.reset(seed=0)
    for t in range(1, 1001):
        _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert -3.0 <= reward <= 1.0 and not terminated
        assert truncated == (t == 1000)
