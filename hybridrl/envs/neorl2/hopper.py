"""NeoRL-2 RandomFrictionHopper: MuJoCo Hopper whose foot friction is re-drawn every episode.

Specification: shared/reference/neorl2.md section 4 (task), 0.1 (API), 9 (files) and 10.4 (quirks).

* Model: Gymnasium's bundled Hopper-v5 ``hopper.xml``; the only change is the sliding friction of ``foot_geom``.
* Friction: at every reset ``mu ~ U(1.5, 2.5)``. The engine simulates ``mu`` rounded to 2 decimals (the original
  loads one of 101 files ``hopper_friction_{mu:.2f}.xml``); the observation reports the raw ``mu``.
* Observation (13, float64): qpos (6, rootx included), qvel (6) clipped to [-10, 10], mu.
* Reward ``(x' - x)/0.008 - 0.001*|a|^2`` (no healthy bonus); termination when the hopper falls (see `terminated`).

How the friction is set. The original rebuilds the MuJoCo model from the friction's XML file at every reset. Here the
model is compiled once and the foot's sliding friction (``model.geom_friction[foot, 0]``) is overwritten before the
state is reset. MuJoCo derives nothing else from that attribute when compiling, so the physics are identical to a
model compiled from `hopper_xml` (tests/envs/test_neorl2_mujoco.py checks this bit for bit), and the renderer keeps
a valid model.

Engine version. Under MuJoCo 2.3.7 (checked outside the test suite), ``reset(seed=i)`` plus the logged actions
reproduces all 218 val trajectories to float32 precision, and only with the rounded friction (the raw value diverges).
Under MuJoCo >= 3 (this package's dependency) contacts resolve slightly differently: the trajectories agree until the
foot first touches the ground and then drift apart, so the tests replay only the steps before contact.

Seeding. The original draws ``mu`` from Python's global ``random`` module, so ``reset(seed=i)`` alone does not fix
the friction. Here:

* an environment that has never been reset with a seed draws from the global ``random`` module, as the original;
* ``reset(seed=s)`` starts a private ``random.Random(s)`` and every later reset draws from it. Its first draw equals
  the original's after ``random.seed(s)``, which is what NeoRL-2's data collection did before ``reset(seed=s)``, so
  seeded resets reproduce the dataset's frictions exactly and are reproducible without touching global state.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.spaces import Box

FRAME_SKIP = 4  # dt = 0.002 * 4 = 0.008 s (section 4)
DT = 0.008
FRICTION_RANGE = (1.5, 2.5)  # U(1.5, 2.5) per episode
DEFAULT_FRICTION = 2.0  # foot_geom friction in the stock hopper.xml, used when random_friction=False
RESET_NOISE = 5e-3  # qpos, qvel noise U(-0.005, 0.005)
CTRL_COST = 1e-3
HEALTHY_Z_MIN = 0.7
HEALTHY_ANGLE_MAX = 0.2
HEALTHY_STATE_MAX = 100.0
OBS_VEL_CLIP = 10.0

_FOOT_FRICTION = re.compile(r'(<geom friction=")[^"]*(" [^>]*name="foot_geom")')


def gymnasium_hopper_xml_path() -> Path:
    """Path of the Hopper-v5 model bundled with Gymnasium (the template of NeoRL-2's hopper files)."""
    return Path(gym.__file__).parent / "envs" / "mujoco" / "assets" / "hopper.xml"


def engine_friction(mu: float) -> float:
    """The friction the engine simulates: ``mu`` as written in the original's file name, ``f"{mu:.2f}"``."""
    return float(f"{mu:.2f}")


def hopper_xml(mu: float) -> str:
    """Gymnasium's hopper.xml with the foot friction set to ``mu`` rounded to 2 decimals.

    This is the text of the original's ``hopper_friction_{mu:.2f}.xml`` (section 9), generated instead of stored.
    """
    template = gymnasium_hopper_xml_path().read_text()
    xml, count = _FOOT_FRICTION.subn(rf"\g<1>{mu:.2f}\g<2>", template)
    if count != 1:
        raise RuntimeError(f"{gymnasium_hopper_xml_path()}: expected one foot_geom friction attribute, found {count}")
    return xml


def reward(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Section 4: ``r = (x' - x)/0.008 - 0.001*|a|^2`` over the last axis (works on batches)."""
    obs, action, next_obs = (np.asarray(x, dtype=np.float64) for x in (obs, action, next_obs))
    return (next_obs[..., 0] - obs[..., 0]) / DT - CTRL_COST * np.sum(np.square(action), axis=-1)


def terminated(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Section 4: the hopper has fallen when z' <= 0.7, |angle'| >= 0.2 or any of next_obs[3:12] is outside (-100, 100).

    next_obs[3:12] are the joint angles and the (clipped) velocities; the torso angle is not in that check.
    """
    next_obs = np.asarray(next_obs, dtype=np.float64)
    z, angle, state = next_obs[..., 1], next_obs[..., 2], next_obs[..., 3:12]
    healthy = (
        (z > HEALTHY_Z_MIN)
        & (np.abs(angle) < HEALTHY_ANGLE_MAX)
        & np.all((state > -HEALTHY_STATE_MAX) & (state < HEALTHY_STATE_MAX), axis=-1)
    )
    return ~healthy


class RandomFrictionHopperEnv(MujocoEnv):
    """Hopper-v5 with foot friction ~ U(1.5, 2.5) per episode, observed as the last entry (neorl2.md section 4)."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 125}

    def __init__(self, random_friction: bool = True, render_mode: str | None = None, **kwargs):
        observation_space = Box(low=-np.inf, high=np.inf, shape=(13,), dtype=np.float64)
        super().__init__(
            str(gymnasium_hopper_xml_path()), FRAME_SKIP, observation_space, render_mode=render_mode, **kwargs
        )
        self.random_friction = random_friction
        self._foot = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "foot_geom")
        self._friction_rng: random.Random | None = None  # None: Python's global `random`, as the original
        self.friction = DEFAULT_FRICTION  # the observed (unrounded) friction of the current episode

    def _draw_friction(self, seed: int | None) -> float:
        if not self.random_friction:
            return DEFAULT_FRICTION
        if seed is not None:
            self._friction_rng = random.Random(seed)
        rng = self._friction_rng if self._friction_rng is not None else random
        return rng.uniform(*FRICTION_RANGE)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.friction = self._draw_friction(seed)
        self.model.geom_friction[self._foot, 0] = engine_friction(self.friction)
        return super().reset(seed=seed, options=options)

    def reset_model(self) -> np.ndarray:
        noise = lambda size: self.np_random.uniform(low=-RESET_NOISE, high=RESET_NOISE, size=size)  # noqa: E731
        qpos = self.init_qpos + noise(self.model.nq)
        qvel = self.init_qvel + noise(self.model.nv)
        self.set_state(qpos, qvel)
        return self._get_obs()

    def _get_obs(self) -> np.ndarray:
        qvel = np.clip(self.data.qvel, -OBS_VEL_CLIP, OBS_VEL_CLIP)
        return np.concatenate([self.data.qpos, qvel, [self.friction]])

    def _get_reset_info(self) -> dict:
        return {"friction": self.friction, "engine_friction": float(self.model.geom_friction[self._foot, 0])}

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        obs = self._get_obs()
        self.do_simulation(action, self.frame_skip)  # MuJoCo clamps ctrl to ctrlrange [-1, 1]
        next_obs = self._get_obs()
        if self.render_mode == "human":
            self.render()
        r = float(reward(obs, action, next_obs))
        done = bool(terminated(obs, action, next_obs))
        return next_obs, r, done, False, {"x_position": float(self.data.qpos[0]), "friction": self.friction}
