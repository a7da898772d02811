"""NeoRL-2 SafetyHalfCheetah: MuJoCo HalfCheetah with a forward-speed limit.

Specification: shared/reference/neorl2.md section 7 (task), 0.1 (API) and 10.7 (quirks).

* Model: Gymnasium's bundled ``half_cheetah.xml``, frame_skip 5 (dt = 0.05).
* Reset: qpos ~ U(-0.1, 0.1)^9, qvel ~ 0.1*N(0, 1)^9 from the env's ``np_random``.
* Observation (18, float64, unclipped): qpos (9, rootx included) and qvel (9).
* Reward ``v - 0.1*|a|^2`` with ``v = (x' - x)/0.05``, replaced by -100 on a step with ``v > 3.2096``.
* The episode never terminates; the violation is reported per step as ``info["cost"]`` (1.0 if violated, else 0.0)
  and, under the original's key, ``info["safe"]`` (same value: 1 means violated, despite the name).

``reset(seed)`` reproduces the start state of every stored trajectory; replaying the logged actions follows the data
to float32 precision for about 50 steps and then drifts apart (under MuJoCo 2.3.7 as under 4.0), so the data cannot
be replayed exactly with either engine.

`terminated` is NeoRL-2's offline done function: it flags a violation (stricter than the environment, which
never terminates), for model-based learners that want to stop imagined rollouts there.
"""

from __future__ import annotations

import numpy as np
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.spaces import Box

FRAME_SKIP = 5  # dt = 0.01 * 5 = 0.05 s
DT = 0.05
SPEED_LIMIT = 3.2096  # Safety-Gymnasium's HalfCheetah velocity threshold
VIOLATION_REWARD = -100.0
CTRL_COST = 0.1
RESET_NOISE = 0.1


def speed(obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Forward speed ``(x' - x)/0.05`` from the rootx entries (obs[..., 0])."""
    obs, next_obs = np.asarray(obs, dtype=np.float64), np.asarray(next_obs, dtype=np.float64)
    return (next_obs[..., 0] - obs[..., 0]) / DT


def terminated(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Section 7: NeoRL-2's offline done flag, ``v > 3.2096`` (the online environment never terminates)."""
    return speed(obs, next_obs) > SPEED_LIMIT


def reward(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Section 7: ``r = v - 0.1*|a|^2``, or -100 where ``v > 3.2096`` (works on batches)."""
    v = speed(obs, next_obs)
    ctrl = CTRL_COST * np.sum(np.square(np.asarray(action, dtype=np.float64)), axis=-1)
    return np.where(v > SPEED_LIMIT, VIOLATION_REWARD, v - ctrl)


class SafetyHalfCheetahEnv(MujocoEnv):
    """HalfCheetah with reward -100 (and info["cost"] = 1) on any step faster than 3.2096 (neorl2.md section 7)."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 20}

    def __init__(self, render_mode: str | None = None, **kwargs):
        observation_space = Box(low=-np.inf, high=np.inf, shape=(18,), dtype=np.float64)
        super().__init__("half_cheetah.xml", FRAME_SKIP, observation_space, render_mode=render_mode, **kwargs)

    def reset_model(self) -> np.ndarray:
        qpos = self.init_qpos + self.np_random.uniform(low=-RESET_NOISE, high=RESET_NOISE, size=self.model.nq)
        qvel = self.init_qvel + RESET_NOISE * self.np_random.standard_normal(self.model.nv)
        self.set_state(qpos, qvel)
        return self._get_obs()

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos, self.data.qvel])

    def step(self, action):
        action = np.asarray(action, dtype=np.float64)
        obs = self._get_obs()
        self.do_simulation(action, self.frame_skip)
        next_obs = self._get_obs()
        if self.render_mode == "human":
            self.render()
        cost = float(terminated(obs, action, next_obs))
        info = {"cost": cost, "safe": cost, "x_velocity": float(speed(obs, next_obs))}
        return next_obs, float(reward(obs, action, next_obs)), False, False, info
