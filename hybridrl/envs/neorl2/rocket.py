"""NeoRL-2 RocketRecovery: a LunarLander-continuous variant with a flat ground and an observed wind (Box2D).

Specification: shared/reference/neorl2.md section 3 (task), 0.1 (API) and 10.3 (quirks).

* Terrain: flat at y = H/4; the lander starts at (W/2, H) with a random push U(-500, 500)^2.
* Wind: ``w = tanh(sin(0.02 k) + sin(0.01 pi k)) * P`` (P = 10 in mode 'train', else 12) pushes the lander
  sideways every step, regardless of leg contact; k advances by one per step. Reported in obs[6].
* Observation (7, float32): scaled position, velocity, angle, angular velocity, wind. Leg contacts are not observed.
* Reward: LunarLander's shaping difference minus engine costs, or +/-100 at touch-down (see `reward`).
* Termination: touch-down height ``|obs'[1]| <= 0.05`` only (LunarLander's crash, out-of-screen and sleep checks are
  off). Truncation at 500 steps comes from the registered TimeLimit.
* Reset runs one hidden zero-action step (wind and engine dispersion included) and returns its observation.

The wind phase k. The original draws ``wind_idx`` (and an unused ``torque_idx``; its turbulence power is 0) once in the
constructor from the *global* ``np.random.randint(-9999, 9999)`` and lets k run on across episodes. Here:

* a new environment does exactly that, and seedless resets continue k (faithful);
* ``reset(seed=s)`` restarts k at the value a fresh environment would draw if ``np.random.seed(s)`` had been called just
  before it was built (``np.random.RandomState(s)``), so seeded resets give identical episodes without touching
  global state. (The original's data cannot be matched from the seed alone: its envs were built before the global seed
  was set; the logged wind identifies k.)
* ``reset(options={"wind_idx": k})`` sets k explicitly, e.g. to replay a logged episode.

Other deviations: every reset builds a fresh Box2D world (Gymnasium 0.29's LunarLander reuses one world across episodes,
which made episodes depend on history, Gymnasium issue #728; the first episode of a fresh env is the same either way).
Exhaust particles and rendering are left out: particles only collide with the ground and do not touch the lander.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from gymnasium import spaces

try:
    import Box2D
    from Box2D.b2 import edgeShape, fixtureDef, polygonShape, revoluteJointDef
except ImportError as e:  # pragma: no cover - box2d is a declared dependency
    raise gym.error.DependencyNotInstalled('RocketRecovery needs Box2D: pip install "box2d>=2.3.10"') from e

FPS = 50
SCALE = 30.0
MAIN_ENGINE_POWER = 13.0
SIDE_ENGINE_POWER = 0.6
INITIAL_RANDOM = 500.0
LANDER_POLY = [(-14, +17), (-17, 0), (-17, -10), (+17, -10), (+17, 0), (+14, +17)]
LEG_AWAY = 20
LEG_DOWN = 18
LEG_W, LEG_H = 2, 8
LEG_SPRING_TORQUE = 40
SIDE_ENGINE_HEIGHT = 14
SIDE_ENGINE_AWAY = 12
MAIN_ENGINE_Y_LOCATION = 4
VIEWPORT_W, VIEWPORT_H = 600, 400
W, H = VIEWPORT_W / SCALE, VIEWPORT_H / SCALE  # 20, 13.333
CHUNKS = 11
HELIPAD_Y = H / 4
WIND_POWER_TRAIN = 10.0  # mode "train" (the benchmark); any other mode: 12.0
WIND_POWER_OTHER = 12.0
TOUCHDOWN_HEIGHT = 0.05  # |obs[1]| <= 0.05 ends the episode


def wind(k: int | np.ndarray, power: float) -> np.ndarray:
    """Section 3: wind force at phase k, ``tanh(sin(0.02 k) + sin(0.01 pi k)) * power`` (|w| <= 9.64 for power 10)."""
    k = np.asarray(k, dtype=np.float64)
    return np.tanh(np.sin(0.02 * k) + np.sin(math.pi * 0.01 * k)) * power


def engine_powers(action: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Section 3: engine throttles of an action clipped to [-1, 1]: main ``m = (a0 + 1)/2`` if a0 > 0 (else 0),
    side ``s = clip(|a1|, 0.5, 1)`` if |a1| > 0.5 (else 0)."""
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    main = np.where(a[..., 0] > 0.0, (np.clip(a[..., 0], 0.0, 1.0) + 1.0) * 0.5, 0.0)
    side = np.where(np.abs(a[..., 1]) > 0.5, np.clip(np.abs(a[..., 1]), 0.5, 1.0), 0.0)
    return main, side


def _shaping(s: np.ndarray) -> np.ndarray:
    return (
        -100.0 * np.sqrt(s[..., 0] ** 2 + s[..., 1] ** 2)
        - 100.0 * np.sqrt(s[..., 2] ** 2 + s[..., 3] ** 2)
        - 100.0 * np.abs(s[..., 4])
    )


def terminated(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Section 3: touch-down, ``|next_obs[1]| <= 0.05`` (height above the resting height)."""
    return np.abs(np.asarray(next_obs, dtype=np.float64)[..., 1]) <= TOUCHDOWN_HEIGHT


def reward(obs: np.ndarray, action: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Section 3: ``shape(s') - shape(s) - 0.3 m - 0.03 s``, or at touch-down +100 if
    ``|s'4| < 0.3, |s'2| < 0.5, |s'3| < 2`` (soft and level) else -100. Works on batches."""
    obs, next_obs = np.asarray(obs, dtype=np.float64), np.asarray(next_obs, dtype=np.float64)
    main, side = engine_powers(action)
    r = _shaping(next_obs) - _shaping(obs) - 0.3 * main - 0.03 * side
    safe = (np.abs(next_obs[..., 4]) < 0.3) & (np.abs(next_obs[..., 2]) < 0.5) & (np.abs(next_obs[..., 3]) < 2.0)
    return np.where(terminated(obs, action, next_obs), np.where(safe, 100.0, -100.0), r)


class RocketRecoveryEnv(gym.Env):
    """Land a rocket on flat ground under an observed, non-periodic side wind (neorl2.md section 3)."""

    metadata = {"render_modes": [], "render_fps": FPS}

    def __init__(self, mode: str = "train", render_mode: str | None = None):
        if render_mode is not None:
            raise ValueError(f"RocketRecoveryEnv does not render (render_mode={render_mode!r}); pass render_mode=None")
        self.render_mode = None
        self.mode = mode
        self.wind_power = WIND_POWER_TRAIN if mode == "train" else WIND_POWER_OTHER
        low = np.array([-1.5, -1.5, -5.0, -5.0, -math.pi, -5.0, -np.inf], dtype=np.float32)
        high = np.array([1.5, 1.5, 5.0, 5.0, math.pi, 5.0, np.inf], dtype=np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        # The original's quirk: the wind phase comes from numpy's global RNG, once, here.
        self.wind_idx = int(np.random.randint(-9999, 9999))
        self.torque_idx = int(np.random.randint(-9999, 9999))  # turbulence power is 0: drawn, never used
        self.world: Box2D.b2World | None = None
        self.lander = None
        self.legs: list = []
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            global_like = np.random.RandomState(seed)
            self.wind_idx = int(global_like.randint(-9999, 9999))
            self.torque_idx = int(global_like.randint(-9999, 9999))
        if options and "wind_idx" in options:
            self.wind_idx = int(options["wind_idx"])
        self._build_world()
        self._obs = self._advance(np.zeros(2))  # the hidden zero-action step: no reward, cannot terminate
        return self._obs.copy(), {}

    def _build_world(self) -> None:
        self.world = Box2D.b2World(gravity=(0, -10))
        self.np_random.uniform(0, H / 2, size=(CHUNKS + 1,))  # terrain heights: drawn, unused (the ground is flat)
        chunk_x = [W / (CHUNKS - 1) * i for i in range(CHUNKS)]
        ground = self.world.CreateStaticBody(shapes=edgeShape(vertices=[(0, 0), (W, 0)]))
        for i in range(CHUNKS - 1):
            ground.CreateEdgeFixture(
                vertices=[(chunk_x[i], HELIPAD_Y), (chunk_x[i + 1], HELIPAD_Y)], density=0, friction=0.1
            )
        self.lander = self.world.CreateDynamicBody(
            position=(W / 2, H),
            angle=0.0,
            fixtures=fixtureDef(
                shape=polygonShape(vertices=[(x / SCALE, y / SCALE) for x, y in LANDER_POLY]),
                density=5.0,
                friction=0.1,
                categoryBits=0x0010,
                maskBits=0x001,
                restitution=0.0,
            ),
        )
        push = (
            self.np_random.uniform(-INITIAL_RANDOM, INITIAL_RANDOM),
            self.np_random.uniform(-INITIAL_RANDOM, INITIAL_RANDOM),
        )
        self.lander.ApplyForceToCenter(push, True)
        self.legs = []
        for i in (-1, +1):
            leg = self.world.CreateDynamicBody(
                position=(W / 2 - i * LEG_AWAY / SCALE, H),
                angle=i * 0.05,
                fixtures=fixtureDef(
                    shape=polygonShape(box=(LEG_W / SCALE, LEG_H / SCALE)),
                    density=1.0,
                    restitution=0.0,
                    categoryBits=0x0020,
                    maskBits=0x001,
                ),
            )
            joint = revoluteJointDef(
                bodyA=self.lander,
                bodyB=leg,
                localAnchorA=(0, 0),
                localAnchorB=(i * LEG_AWAY / SCALE, LEG_DOWN / SCALE),
                enableMotor=True,
                enableLimit=True,
                maxMotorTorque=LEG_SPRING_TORQUE,
                motorSpeed=0.3 * i,
            )
            joint.lowerAngle, joint.upperAngle = (0.4, 0.9) if i == -1 else (-0.9, -0.4)
            self.world.CreateJoint(joint)
            self.legs.append(leg)

    def _advance(self, a: np.ndarray) -> np.ndarray:
        """Wind, engines, one world step for an action already clipped to [-1, 1]; returns the new observation."""
        w = float(wind(self.wind_idx, self.wind_power))
        self.lander.ApplyForceToCenter((w, 0.0), True)
        self.wind_idx += 1
        self.torque_idx += 1

        tip = (math.sin(self.lander.angle), math.cos(self.lander.angle))
        side = (-tip[1], tip[0])
        disp = [self.np_random.uniform(-1.0, 1.0) / SCALE for _ in range(2)]  # drawn every step
        main, side_power = (float(p) for p in engine_powers(a))
        pos = self.lander.position
        if main > 0.0:
            ox = tip[0] * (MAIN_ENGINE_Y_LOCATION / SCALE + 2 * disp[0]) + side[0] * disp[1]
            oy = -tip[1] * (MAIN_ENGINE_Y_LOCATION / SCALE + 2 * disp[0]) - side[1] * disp[1]
            impulse = (-ox * MAIN_ENGINE_POWER * main, -oy * MAIN_ENGINE_POWER * main)
            self.lander.ApplyLinearImpulse(impulse, (pos[0] + ox, pos[1] + oy), True)
        if side_power > 0.0:
            direction = float(np.sign(a[1]))
            ox = tip[0] * disp[0] + side[0] * (3 * disp[1] + direction * SIDE_ENGINE_AWAY / SCALE)
            oy = -tip[1] * disp[0] - side[1] * (3 * disp[1] + direction * SIDE_ENGINE_AWAY / SCALE)
            at = (pos[0] + ox - tip[0] * 17 / SCALE, pos[1] + oy + tip[1] * SIDE_ENGINE_HEIGHT / SCALE)
            impulse = (-ox * SIDE_ENGINE_POWER * side_power, -oy * SIDE_ENGINE_POWER * side_power)
            self.lander.ApplyLinearImpulse(impulse, at, True)

        self.world.Step(1.0 / FPS, 6 * 30, 2 * 30)

        pos, vel = self.lander.position, self.lander.linearVelocity
        state = [
            (pos.x - W / 2) / (W / 2),
            (pos.y - (HELIPAD_Y + LEG_DOWN / SCALE)) / (H / 2),
            vel.x * (W / 2) / FPS,
            vel.y * (H / 2) / FPS,
            self.lander.angle,
            20.0 * self.lander.angularVelocity / FPS,
            w,
        ]
        return np.array(state, dtype=np.float32)

    def step(self, action):
        if self._obs is None:
            raise RuntimeError("RocketRecoveryEnv.step called before reset()")
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        obs, next_obs = self._obs, self._advance(action)
        self._obs = next_obs
        r = float(reward(obs, action, next_obs))
        done = bool(terminated(obs, action, next_obs))
        return next_obs.copy(), r, done, False, {}

    def close(self) -> None:
        self.world = None
        self.lander = None
        self.legs = []
