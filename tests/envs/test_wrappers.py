"""Realistic-deployment wrappers: delay, disturbance, safety cost, the spec parser, conservative behaviour data."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from hybridrl.data.conservative import conservative_policy
from hybridrl.data.generate import collect
from hybridrl.envs.wrappers import (
    ActionDelay,
    Disturbance,
    SafetyCost,
    make_wrapped,
    spec_wrappers,
    velocity_cost,
)
from hybridrl.evaluate.rollout import evaluate_policy

DOCS = Path(__file__).resolve().parents[2] / "docs" / "wrappers.md"


class RecordingEnv(gym.Env):
    """Observations are all zero; every action the env receives is kept in ``applied``.

    The action box is [-1, 1] x [0, 2], whose centre (0, 1) is not zero, so a
    delay's default fill is visible. Episodes are truncated after ``horizon`` steps.
    """

    def __init__(self, horizon: int = 1000):
        self.action_space = gym.spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 2.0], np.float32))
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
        self.horizon = horizon
        self.applied: list[np.ndarray] = []
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return np.zeros(3, np.float32), {"own_draw": self.np_random.standard_normal(3)}

    def step(self, action):
        self.applied.append(np.array(action))
        self._t += 1
        return np.zeros(3, np.float32), 0.0, False, self._t >= self.horizon, {}


def chosen_actions(n: int) -> list[np.ndarray]:
    return [np.array([t / n, 2.0 - t / n], np.float32) for t in range(n)]


# ---------------------------------------------------------------- ActionDelay


@pytest.mark.parametrize("k", [0, 1, 3])
def test_delay_applies_the_action_chosen_k_steps_earlier(k):
    env = ActionDelay(RecordingEnv(), k)
    env.reset(seed=0)
    actions = chosen_actions(8)
    for a in actions:
        env.step(a)
    centre = np.array([0.0, 1.0], np.float32)
    np.testing.assert_array_equal(np.array(env.unwrapped.applied), np.array([centre] * k + actions[:8 - k]))
    env.unwrapped.applied.clear()
    env.reset()  # the queue is cleared: the new episode starts with the fill again
    env.step(actions[5])
    np.testing.assert_array_equal(env.unwrapped.applied[0], centre if k else actions[5])


def test_delay_with_a_custom_fill():
    env = ActionDelay(RecordingEnv(), 2, fill=np.array([0.5, 0.25]))
    env.reset()
    for a in chosen_actions(3):
        env.step(a)
    np.testing.assert_array_equal(np.array(env.unwrapped.applied), [[0.5, 0.25], [0.5, 0.25], chosen_actions(3)[0]])


def test_delay_on_pendulum_equals_the_plain_env_fed_shifted_actions():
    rng = np.random.default_rng(0)
    actions = [rng.uniform(-2, 2, 1).astype(np.float32) for _ in range(20)]
    delayed, plain = ActionDelay(gym.make("Pendulum-v1"), 2), gym.make("Pendulum-v1")
    delayed.reset(seed=5)
    plain.reset(seed=5)
    for a, shifted in zip(actions, [np.zeros(1, np.float32)] * 2 + actions):
        np.testing.assert_array_equal(delayed.step(a)[0], plain.step(shifted)[0])


def test_delay_refuses_bad_arguments():
    with pytest.raises(ValueError, match=r"^ActionDelay: k must be a whole number of steps >= 0, got -1$"):
        ActionDelay(RecordingEnv(), -1)
    with pytest.raises(ValueError, match=r"^ActionDelay: k must be a whole number of steps >= 0, got 1.5$"):
        ActionDelay(RecordingEnv(), 1.5)
    with pytest.raises(ValueError, match=re.escape(
            "ActionDelay: fill [3.0, 0.0] is not in the action space Box([-1.  0.], [1. 2.], (2,), float32); "
            "give an action of shape (2,) within its bounds")):
        ActionDelay(RecordingEnv(), 1, fill=[3.0, 0.0])
    with pytest.raises(ValueError, match=re.escape(
            "ActionDelay needs a Box action space, got Discrete(2); use it on continuous-action environments")):
        ActionDelay(gym.make("CartPole-v1"), 1)


# ---------------------------------------------------------------- Disturbance


@pytest.mark.parametrize("strength,tau", [(0.5, 20.0), (2.0, 0.0)])
def test_observation_disturbance_has_the_configured_std_and_autocorrelation(strength, tau):
    """60,000 samples (20,000 steps x 3 independent entries) of the stationary AR(1) process.

    Standard errors: for the sample std about sqrt((1 + a^2) / (1 - a^2) / (2N)) relative (0.013 at tau 20,
    0.003 at tau 0); for the lag-1 autocorrelation about (1 - a^2) / sqrt(N) (0.0004 at tau 20, 0.004 at
    tau 0). The tolerances (5% and 0.02) are at least 4 standard errors.
    """
    env = Disturbance(RecordingEnv(horizon=20_000), strength, tau)
    first, _ = env.reset(seed=0)
    xs = [first]
    truncated = False
    while not truncated:
        obs, _, _, truncated, info = env.step(np.zeros(2, np.float32))
        np.testing.assert_array_equal(obs, info["disturbance"].astype(np.float32))  # zero obs + disturbance
        xs.append(obs)
    x = np.array(xs, np.float64)
    lag1 = np.mean(x[1:] * x[:-1]) / np.mean(x**2)
    assert abs(x.std() / strength - 1) < 0.05
    assert abs(lag1 - (math.exp(-1 / tau) if tau else 0.0)) < 0.02


def test_disturbance_is_reproducible_under_a_seeded_reset():
    def run(env, seed):
        obs, info = env.reset(seed=seed)
        steps = [env.step(np.zeros(1, np.float32)) for _ in range(30)]
        return np.array([obs] + [s[0] for s in steps]), np.array([info] + [s[4] for s in steps])

    env = Disturbance(gym.make("Pendulum-v1"), 0.1, 10)
    first, infos = run(env, 3)
    np.testing.assert_array_equal(run(env, 3)[0], first)
    np.testing.assert_array_equal(run(Disturbance(gym.make("Pendulum-v1"), 0.1, 10), 3)[0], first)
    assert not np.allclose(run(env, 4)[0], first)
    recording = Disturbance(RecordingEnv(), 1.0, 0)  # zero observations: what is seen is the disturbance
    seeded = recording.reset(seed=3)[0]
    assert not np.array_equal(recording.reset()[0], seeded)  # an unseeded reset continues the stream
    np.testing.assert_array_equal(recording.reset(seed=3)[0], seeded)
    # Observation noise leaves the dynamics alone: the difference to the plain env is the disturbance.
    plain = run(gym.make("Pendulum-v1"), 3)[0]
    np.testing.assert_allclose(first - plain, [i["disturbance"] for i in infos], atol=1e-6)


def test_disturbance_draws_are_not_the_envs_own_random_numbers():
    env = Disturbance(RecordingEnv(), 1.0, 0)
    _, info = env.reset(seed=11)
    assert np.abs(info["disturbance"] - info["own_draw"]).min() > 1e-3


def test_observation_disturbance_widens_the_observation_space():
    env = Disturbance(gym.make("Pendulum-v1"), 0.1, 10)
    assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)


def test_force_disturbance_pushes_the_named_mujoco_body():
    env = Disturbance(gym.make("Hopper-v5"), 20.0, 10, kind="force", body="foot")
    plain = gym.make("Hopper-v5")
    obs, _ = env.reset(seed=1)
    np.testing.assert_array_equal(obs, plain.reset(seed=1)[0])
    assert env.body_id == 4
    for _ in range(10):
        obs, _, _, _, info = env.step(np.zeros(3))
        xfrc = env.unwrapped.data.xfrc_applied
        np.testing.assert_array_equal(xfrc[4, :3], info["disturbance"])
        assert not xfrc[np.arange(xfrc.shape[0]) != 4].any() and not xfrc[4, 3:].any()
    assert np.abs(obs - [plain.step(np.zeros(3))[0] for _ in range(10)][-1]).max() > 1e-3


def test_force_disturbance_of_zero_strength_changes_nothing():
    env = Disturbance(gym.make("Hopper-v5"), 0.0, 10, kind="force")
    plain = gym.make("Hopper-v5")
    np.testing.assert_array_equal(env.reset(seed=2)[0], plain.reset(seed=2)[0])
    assert env.body_id == 1  # the torso
    for _ in range(20):
        np.testing.assert_array_equal(env.step(np.full(3, 0.5))[0], plain.step(np.full(3, 0.5))[0])


def test_disturbance_refuses_bad_arguments():
    with pytest.raises(ValueError, match=re.escape(
            "Disturbance(kind='force') needs a MuJoCo environment (one with data.xfrc_applied); Pendulum-v1 is "
            "not one; use kind='observation'")):
        Disturbance(gym.make("Pendulum-v1"), 1.0, 10, kind="force")
    with pytest.raises(ValueError, match=re.escape(
            "Disturbance(kind='force'): no body named 'hand'; the model's bodies are torso, thigh, leg, foot")):
        Disturbance(gym.make("Hopper-v5"), 1.0, 10, kind="force", body="hand")
    with pytest.raises(ValueError, match=re.escape("Disturbance: kind must be 'observation' or 'force', got 'wind'")):
        Disturbance(RecordingEnv(), 1.0, 10, kind="wind")
    with pytest.raises(ValueError, match=re.escape(
            "Disturbance: strength (the stationary std) must be a finite number >= 0, got -1.0")):
        Disturbance(RecordingEnv(), -1.0, 10)
    with pytest.raises(ValueError, match=re.escape(
            "Disturbance: correlation_time must be a number of steps >= 0 (inf allowed), got -2")):
        Disturbance(RecordingEnv(), 1.0, -2)


# ---------------------------------------------------------------- SafetyCost


def test_cost_is_reported_every_step_and_summed_at_the_end():
    env = SafetyCost(RecordingEnv(horizon=5), lambda obs, action, info: float(action[0] > 0), threshold=2.5)
    for episode in range(2):  # reset starts the sum again
        env.reset()
        infos = [env.step(np.array([a, 0.0], np.float32))[4] for a in (1.0, -1.0, 1.0, 1.0, -1.0)]
        assert [i["cost"] for i in infos] == [1.0, 0.0, 1.0, 1.0, 0.0]
        assert all("episode_cost" not in i for i in infos[:-1])
        assert infos[-1]["episode_cost"] == 3.0 and infos[-1]["constraint_violated"] is True
    env = SafetyCost(RecordingEnv(horizon=2), lambda obs, action, info: 1.5, threshold=3.0)
    env.reset()
    env.step(np.zeros(2, np.float32))
    assert env.step(np.zeros(2, np.float32))[4] == {"cost": 1.5, "episode_cost": 3.0, "constraint_violated": False}


def test_velocity_cost_on_hopper_costs_each_step_above_the_limit():
    env = SafetyCost(gym.make("Hopper-v5"), velocity_cost(0.2))
    env.reset(seed=0)
    costs, done = [], False
    while not done:
        _, _, terminated, truncated, info = env.step(np.full(3, 0.3))
        assert info["cost"] == float(info["x_velocity"] > 0.2)
        costs.append(info["cost"])
        done = terminated or truncated
    assert 0 < sum(costs) < len(costs)
    assert info["episode_cost"] == sum(costs) and info["constraint_violated"] is True


def test_velocity_cost_needs_x_velocity():
    env = SafetyCost(gym.make("Pendulum-v1"), velocity_cost(3.2))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=re.escape(
            "velocity cost needs info['x_velocity'], which Gymnasium's MuJoCo locomotion envs report; this env's "
            "info has no keys; give SafetyCost your own cost_fn")):
        env.step(np.zeros(1, np.float32))


def test_evaluate_policy_returns_each_episodes_summed_cost():
    """Sub-env i truncates after 3 + i steps; the cost is the first action entry; steps after an end are not counted."""
    def first_entry(obs, action, info):
        return float(action[0])

    envs = gym.vector.SyncVectorEnv([lambda h=h: SafetyCost(RecordingEnv(horizon=h), first_entry) for h in (3, 4, 5, 6)])

    def policy(obs):  # (2 policies, 2 episodes, 3) -> (2, 2, 2); policy p acts (0.5 (p + 1), 0)
        return np.stack([np.full((2, 2), [0.5, 0.0]), np.full((2, 2), [1.0, 0.0])]).astype(np.float32)

    result = evaluate_policy("unused", policy, num_policies=2, episodes=2, seed=0, envs=envs)
    np.testing.assert_array_equal(result.lengths, [[3, 4], [5, 6]])
    np.testing.assert_array_equal(result.costs, [[1.5, 2.0], [5.0, 6.0]])
    plain = gym.vector.SyncVectorEnv([lambda: RecordingEnv(horizon=3)] * 4)
    assert evaluate_policy("unused", policy, 2, 2, seed=0, envs=plain).costs is None


# ---------------------------------------------------------------- spec and make_wrapped


def test_make_wrapped_builds_the_wrappers_in_a_fixed_order():
    env = make_wrapped("Hopper-v5", "obs_noise=0.1:20, delay=3,cost=velocity:3.2:1,force=5:inf:foot")
    noise, delay, cost, force = env, env.env, env.env.env, env.env.env.env
    assert (type(noise), noise.kind, noise.strength, noise.correlation_time) == (Disturbance, "observation", 0.1, 20)
    assert (type(delay), delay.k) == (ActionDelay, 3)
    assert (type(cost), cost.threshold) == (SafetyCost, 1.0)
    assert (type(force), force.kind, force.strength, force.body_id, force.decay) == (Disturbance, "force", 5, 4, 1.0)
    assert isinstance(force.env, gym.wrappers.TimeLimit)
    assert type(make_wrapped("Hopper-v5", "")) is type(gym.make("Hopper-v5"))
    assert spec_wrappers("  ") == []


@pytest.mark.parametrize("spec,message", [
    ("delay", "item 'delay' is not KEY=VALUE; write e.g. delay=3,obs_noise=0.1:20,cost=velocity:3.2"),
    ("delay=3,", "it has an empty item; separate KEY=VALUE items with single commas"),
    ("lag=3", "unknown key 'lag'; use delay, obs_noise, force or cost"),
    ("delay=1,delay=2", "'delay' is given twice; give each key once"),
    ("delay=-1", "delay must be a whole number of steps >= 0, e.g. delay=3, got '-1'"),
    ("delay=1.5", "delay must be a whole number of steps >= 0, e.g. delay=3, got '1.5'"),
    ("obs_noise=0.1", "obs_noise must be STD:TAU with STD >= 0 and TAU >= 0 steps, e.g. obs_noise=0.1:20, got '0.1'"),
    ("obs_noise=inf:2", "obs_noise must be STD:TAU with STD >= 0 and TAU >= 0 steps, e.g. obs_noise=0.1:20, "
                        "got 'inf:2'"),
    ("obs_noise=0.1:-1", "obs_noise must be STD:TAU with STD >= 0 and TAU >= 0 steps, e.g. obs_noise=0.1:20, "
                         "got '0.1:-1'"),
    ("force=1:2:", "force must be STD:TAU or STD:TAU:BODY with STD >= 0 and TAU >= 0 steps, e.g. force=5:10:torso, "
                   "got '1:2:'"),
    ("cost=speed:3", "cost must be velocity:LIMIT or velocity:LIMIT:THRESHOLD with LIMIT, THRESHOLD >= 0, "
                     "e.g. cost=velocity:3.2, got 'speed:3'"),
    ("cost=velocity:x", "cost must be velocity:LIMIT or velocity:LIMIT:THRESHOLD with LIMIT, THRESHOLD >= 0, "
                        "e.g. cost=velocity:3.2, got 'velocity:x'"),
])
def test_spec_errors_are_exact(spec, message):
    with pytest.raises(ValueError) as exc:
        make_wrapped("Hopper-v5", spec)
    assert str(exc.value) == f"bad wrapper spec {spec!r}: {message}"


def test_make_wrapped_refuses_an_unknown_env():
    with pytest.raises(ValueError, match=r"^cannot make environment 'Nope-v0': "):
        make_wrapped("Nope-v0", "delay=1")


# Warnings check_env gives on any wrapped env with an unbounded observation space, and on Pendulum's [-2, 2] box.
EXPECTED_WARNINGS = ("is different from the unwrapped version", "infinity", "symmetric and normalized space")


@pytest.mark.parametrize("env_id,spec", [
    ("Pendulum-v1", "delay=3,obs_noise=0.1:20"),
    ("Hopper-v5", "delay=2,obs_noise=0.1:20,force=5:10,cost=velocity:3.2"),
])
def test_check_env_passes_on_wrapped_envs(env_id, spec):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(make_wrapped(env_id, spec), skip_render_check=True)
    unexpected = [str(w.message) for w in caught if not any(e in str(w.message) for e in EXPECTED_WARNINGS)]
    assert unexpected == []


def test_vector_envs_take_the_spec_wrappers():
    envs = gym.make_vec("Hopper-v5", 2, vectorization_mode="sync", wrappers=spec_wrappers("cost=velocity:0.2"))
    result = evaluate_policy("Hopper-v5", lambda obs: np.full((1, 2, 3), 0.3), 1, 2, seed=0, envs=envs)
    assert result.costs.shape == (1, 2) and np.all((0 < result.costs) & (result.costs < result.lengths))


# ---------------------------------------------------------------- conservative behaviour


def pendulum_controller(obs):
    """A damping controller for Pendulum-v1: torque against the angular velocity (may leave [-2, 2])."""
    return -0.5 * obs[:, 2:3]


def test_conservative_policy_is_the_base_policy_plus_clipped_gaussian_noise():
    behaviour = conservative_policy(pendulum_controller, 0.1, low=[-2.0], high=[2.0])
    obs = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 2.0], [1.0, 0.0, -8.0]], np.float32)
    noise = 0.1 * np.random.default_rng(7).standard_normal((3, 1))
    expected = np.clip(pendulum_controller(obs) + noise, -2.0, 2.0).astype(np.float32)
    np.testing.assert_array_equal(behaviour(obs, np.random.default_rng(7)), expected)


def test_conservative_data_from_collect_stay_in_a_narrow_band():
    behaviour = conservative_policy(pendulum_controller, 0.1, low=[-2.0], high=[2.0])
    data = collect("Pendulum-v1", behaviour, transitions=800, seed=0, num_envs=2)
    base = pendulum_controller(data.observations)
    assert np.all((data.actions >= -2.0) & (data.actions <= 2.0))
    inside = np.abs(base[:, 0]) < 1.5  # far enough from the bounds that clipping never acts
    residual = (data.actions - base)[inside]
    assert inside.sum() > 400 and np.abs(residual).max() < 0.5 and abs(residual.std() / 0.1 - 1) < 0.15
    outside = np.abs(base[:, 0]) > 2.5
    np.testing.assert_array_equal(data.actions[outside], np.sign(base[outside]) * 2.0)
    np.testing.assert_array_equal(collect("Pendulum-v1", behaviour, 800, seed=0, num_envs=2).actions, data.actions)
    assert not np.array_equal(collect("Pendulum-v1", behaviour, 800, seed=1, num_envs=2).actions, data.actions)


def test_conservative_policy_refuses_bad_input():
    with pytest.raises(ValueError, match=re.escape(
            "conservative_policy: noise_std must be a finite number >= 0 (action units), got -0.1")):
        conservative_policy(pendulum_controller, -0.1, [-2.0], [2.0])
    with pytest.raises(ValueError, match=re.escape(
            "conservative_policy: low and high must be 1-D bounds of one shape with low <= high, got shapes (1,) "
            "and (2,)")):
        conservative_policy(pendulum_controller, 0.1, [-2.0], [2.0, 2.0])
    behaviour = conservative_policy(lambda obs: obs, 0.1, [-2.0], [2.0])
    with pytest.raises(ValueError, match=re.escape(
            "conservative_policy: the base policy returned actions of shape (4, 3), expected (4, 1) "
            "(one action per observation)")):
        behaviour(np.zeros((4, 3)), np.random.default_rng(0))


# ---------------------------------------------------------------- docs


def test_docs_example_runs(capsys):
    code = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert len(code) == 1
    exec(compile(code[0], str(DOCS), "exec"), {})
    assert "episode cost" in capsys.readouterr().out


def test_mujoco_deprecation_warnings_are_dropped_and_others_passed_on(tmp_path, monkeypatch, capfd):
    """MuJoCo 4 warns at every compile of Gymnasium's half_cheetah.xml ('settotalmass' is deprecated), on stdout
    and into ./MUJOCO_LOG.TXT. While hybridrl makes environments that warning is dropped; any other MuJoCo warning
    still reaches the user, as a Python warning, and MuJoCo's own handler is back afterwards."""
    import mujoco

    from hybridrl.envs.wrappers import make_vec_env, quiet_mujoco_deprecations

    monkeypatch.chdir(tmp_path)
    make_vec_env("HalfCheetah-v5", 2).close()
    assert "settotalmass" not in capfd.readouterr().out
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    assert mujoco.get_mju_user_warning() is None

    xml = '<mujoco><compiler settotalmass="2"/><worldbody><body><joint type="slide"/><geom size="0.1"/></body></worldbody></mujoco>'
    with pytest.warns(RuntimeWarning, match=r"^MuJoCo: Nan, Inf or huge value in QVEL at DOF 0") as record:
        with quiet_mujoco_deprecations():
            model = mujoco.MjModel.from_xml_string(xml)
            data = mujoco.MjData(model)
            data.qvel[:] = np.nan
            mujoco.mj_step(model, data)
    assert len(record) == 1 and model.body_mass[1] == pytest.approx(2.0)  # the attribute still took effect
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
