"""Realistic-deployment wrappers for any Gymnasium environment with a Box action space.

NeoRL-2 (shared/reference/neorl2.md, section 0.6) builds its "realistic
challenges" into seven specific tasks. These wrappers make the same challenges
available on any environment:

- :class:`ActionDelay`: the action applied at step t is the one chosen at t - k.
- :class:`Disturbance`: an Ornstein-Uhlenbeck disturbance added to the
  observations (sensor noise with memory) or pushed on a MuJoCo body as an
  external force (wind, a hand on the robot).
- :class:`SafetyCost`: ``info["cost"]`` every step, and the episode's
  cumulative cost and whether it crossed the threshold in the final info.
  :func:`velocity_cost` is NeoRL-2's SafetyHalfCheetah constraint (forward
  speed above a limit costs 1 per step).

:func:`make_wrapped` builds a wrapped environment from a short text spec such
as ``"delay=3,obs_noise=0.1:20,cost=velocity:3.2"`` (see :func:`spec_wrappers`
for the syntax). Nothing is registered with Gymnasium.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import warnings
from collections import deque
from typing import Any, Callable

import gymnasium as gym
import numpy as np

CostFn = Callable[[np.ndarray, np.ndarray, dict[str, Any]], float]

SPEC_EXAMPLE = "delay=3,obs_noise=0.1:20,cost=velocity:3.2"
ID_HINT = "; check the id with `python -c 'import gymnasium; gymnasium.pprint_registry()'`"
SPEC_KEYS = ("delay", "obs_noise", "force", "cost")
# Each kind of disturbance draws from its own stream, so an observation disturbance and a force
# disturbance on the same env (or the env's own reset noise) are never the same numbers.
_STREAM = {"observation": 1, "force": 2}


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _require_box_actions(env: gym.Env, wrapper: str) -> gym.spaces.Box:
    if not isinstance(env.action_space, gym.spaces.Box):
        raise ValueError(f"{wrapper} needs a Box action space, got {env.action_space}; "
                         f"use it on continuous-action environments")
    return env.action_space


class ActionDelay(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Apply at step t the action chosen at step t - ``k``.

    The first ``k`` steps of every episode apply ``fill``: by default the
    centre of the action space, (low + high) / 2, which is zero for the usual
    symmetric boxes (0 in any dimension whose bounds are infinite). ``reset``
    refills the queue, so nothing carries over between episodes. ``k = 0``
    passes every action straight through.
    """

    def __init__(self, env: gym.Env, k: int, fill: np.ndarray | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, k=k, fill=fill)
        super().__init__(env)
        space = _require_box_actions(env, "ActionDelay")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"ActionDelay: k must be a whole number of steps >= 0, got {k!r}")
        if fill is None:
            centre = (space.low.astype(np.float64) + space.high) / 2
            fill = np.where(np.isfinite(centre), centre, 0.0)
        fill = np.asarray(fill, dtype=space.dtype)
        if not space.contains(fill):
            raise ValueError(f"ActionDelay: fill {fill.tolist()} is not in the action space {space}; "
                             f"give an action of shape {space.shape} within its bounds")
        self.k = int(k)
        self.fill = fill
        self._queue: deque[np.ndarray] = deque()
        self._refill()

    def _refill(self) -> None:
        self._queue = deque(self.fill.copy() for _ in range(self.k))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._refill()
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        self._queue.append(np.array(action, copy=True))
        return self.env.step(self._queue.popleft())


class Disturbance(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """An Ornstein-Uhlenbeck disturbance on the observations or, in MuJoCo, as a force on a body.

    The process is the OU process sampled once per step, which is exactly the
    AR(1) recursion ``x[t+1] = a x[t] + sqrt(1 - a^2) * strength * eps`` with
    ``a = exp(-1 / correlation_time)`` and ``eps ~ N(0, I)``. Every episode
    starts from the stationary law ``x[0] ~ N(0, strength^2 I)``, so at every
    step each component has standard deviation ``strength`` and the lag-1
    autocorrelation is ``a``. ``correlation_time = 0`` gives independent noise
    every step; ``correlation_time = inf`` a constant offset drawn per episode.

    ``kind="observation"``: ``x`` (one component per observation entry) is
    added to every observation, the one from ``reset`` included (it carries
    ``x[0]``). The observation space becomes unbounded, as a noisy sensor can
    read outside the physical range.

    ``kind="force"``: ``x`` is a 3-D force in world coordinates, in newtons,
    written to MuJoCo's ``data.xfrc_applied`` for ``body`` (default: body 1,
    the model's first body, which is the torso in Gymnasium's locomotion
    models) for the whole of each step; MuJoCo clears it on reset. Only
    MuJoCo environments have such a body; others are refused.

    Each step advances the process and then uses the new value; it is also
    returned as ``info["disturbance"]``. The process has its own random
    generator, seeded from ``reset(seed=...)`` (independent of the env's own
    random numbers), so a seeded reset reproduces the disturbance exactly; an
    unseeded reset continues the current stream.
    """

    def __init__(self, env: gym.Env, strength: float, correlation_time: float, kind: str = "observation",
                 body: str | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, strength=strength, correlation_time=correlation_time,
                                                 kind=kind, body=body)
        super().__init__(env)
        if kind not in _STREAM:
            raise ValueError(f"Disturbance: kind must be 'observation' or 'force', got {kind!r}")
        if not (_is_number(strength) and math.isfinite(strength) and strength >= 0):
            raise ValueError(f"Disturbance: strength (the stationary std) must be a finite number >= 0, "
                             f"got {strength!r}")
        if not (_is_number(correlation_time) and correlation_time >= 0):
            raise ValueError(f"Disturbance: correlation_time must be a number of steps >= 0 (inf allowed), "
                             f"got {correlation_time!r}")
        if body is not None and kind != "force":
            raise ValueError("Disturbance: body applies only to kind='force'; leave it out for observation noise")
        self.kind = kind
        self.strength = float(strength)
        self.correlation_time = float(correlation_time)
        self.decay = math.exp(-1.0 / self.correlation_time) if self.correlation_time > 0 else 0.0
        self._innovation = self.strength * math.sqrt(1.0 - self.decay**2)
        if kind == "observation":
            space = env.observation_space
            if not isinstance(space, gym.spaces.Box):
                raise ValueError(f"Disturbance(kind='observation') needs a Box observation space, got {space}")
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, space.shape, space.dtype)
            shape = space.shape
        else:
            self._data, self.body_id = self._find_body(env, body)
            shape = (3,)
        self._shape = shape
        self._rng = np.random.default_rng()
        self._x = np.zeros(shape)

    @staticmethod
    def _find_body(env: gym.Env, body: str | None) -> tuple[Any, int]:
        base = env.unwrapped
        data, model = getattr(base, "data", None), getattr(base, "model", None)
        if not hasattr(data, "xfrc_applied") or model is None:
            raise ValueError(f"Disturbance(kind='force') needs a MuJoCo environment (one with data.xfrc_applied); "
                             f"{env.spec.id if env.spec else type(base).__name__} is not one; "
                             f"use kind='observation'")
        if body is None:
            if model.nbody < 2:
                raise ValueError("Disturbance(kind='force'): the model has no body besides the world")
            return data, 1
        names = [model.body(i).name for i in range(1, model.nbody)]
        if body not in names:
            raise ValueError(f"Disturbance(kind='force'): no body named {body!r}; the model's bodies are "
                             f"{', '.join(names)}")
        return data, names.index(body) + 1

    def _advance(self) -> None:
        self._x = self.decay * self._x + self._innovation * self._rng.standard_normal(self._shape)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._rng = np.random.default_rng([seed, _STREAM[self.kind]])
        self._x = self.strength * self._rng.standard_normal(self._shape)
        info = {**info, "disturbance": self._x.copy()}
        if self.kind == "observation":
            obs = (obs + self._x).astype(self.observation_space.dtype)
        return obs, info

    def step(self, action):
        self._advance()
        if self.kind == "force":
            self._data.xfrc_applied[self.body_id, :3] = self._x
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.kind == "observation":
            obs = (obs + self._x).astype(self.observation_space.dtype)
        return obs, reward, terminated, truncated, {**info, "disturbance": self._x.copy()}


def velocity_cost(limit: float) -> CostFn:
    """NeoRL-2's SafetyHalfCheetah constraint: cost 1 for a step whose forward speed exceeds ``limit``.

    The speed is ``info["x_velocity"]`` (the torso's x displacement over the
    step divided by dt), which Gymnasium's MuJoCo locomotion environments
    (HalfCheetah, Hopper, Walker2d, Ant, Swimmer, Humanoid) report; NeoRL-2
    uses ``limit = 3.2096``. Moving backwards never costs.
    """
    if not (_is_number(limit) and math.isfinite(limit)):
        raise ValueError(f"velocity_cost: limit must be a finite speed, got {limit!r}")

    def cost(obs: np.ndarray, action: np.ndarray, info: dict[str, Any]) -> float:
        if "x_velocity" not in info:
            raise ValueError(f"velocity cost needs info['x_velocity'], which Gymnasium's MuJoCo locomotion envs "
                             f"report; this env's info has {sorted(info) or 'no keys'}; give SafetyCost your "
                             f"own cost_fn")
        return float(info["x_velocity"] > limit)

    return cost


class SafetyCost(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Report a safety cost: ``info["cost"]`` every step, the episode's total at its end.

    ``cost_fn(obs, action, info) -> float`` sees the observation after the
    step, the action given to this wrapper and the step's info (e.g.
    :func:`velocity_cost`). On the step that ends an episode (terminated or
    truncated) the info also holds ``"episode_cost"``, the sum of the
    episode's costs, and ``"constraint_violated"``, whether that sum is above
    ``threshold`` (default 0: any cost at all violates the constraint, as in
    NeoRL-2's SafetyHalfCheetah, whose data keep only trajectories with none).
    Wrap outside the time limit (as :func:`make_wrapped` does) so that
    truncation is seen.
    """

    def __init__(self, env: gym.Env, cost_fn: CostFn, threshold: float = 0.0):
        gym.utils.RecordConstructorArgs.__init__(self, cost_fn=cost_fn, threshold=threshold)
        super().__init__(env)
        if not callable(cost_fn):
            raise ValueError(f"SafetyCost: cost_fn must be a callable (obs, action, info) -> float, "
                             f"e.g. velocity_cost(3.2096), got {cost_fn!r}")
        if not (_is_number(threshold) and math.isfinite(threshold)):
            raise ValueError(f"SafetyCost: threshold must be a finite number, got {threshold!r}")
        self.cost_fn = cost_fn
        self.threshold = float(threshold)
        self._episode_cost = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._episode_cost = 0.0
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        cost = float(self.cost_fn(obs, action, info))
        self._episode_cost += cost
        info = {**info, "cost": cost}
        if terminated or truncated:
            info["episode_cost"] = self._episode_cost
            info["constraint_violated"] = self._episode_cost > self.threshold
        return obs, reward, terminated, truncated, info


def spec_wrappers(spec: str) -> list[Callable[[gym.Env], gym.Wrapper]]:
    """Parse a wrapper spec into wrapper constructors, innermost first (for ``gym.make_vec(wrappers=...)``).

    A spec is comma-separated ``KEY=VALUE`` items, each key at most once
    (an empty spec means no wrappers):

    - ``delay=K``: :class:`ActionDelay` by K steps.
    - ``obs_noise=STD:TAU``: :class:`Disturbance` on the observations, stationary std STD, correlation time
      TAU steps.
    - ``force=STD:TAU`` or ``force=STD:TAU:BODY``: :class:`Disturbance` as a force (newtons) on a MuJoCo body.
    - ``cost=velocity:LIMIT`` or ``cost=velocity:LIMIT:THRESHOLD``: :class:`SafetyCost` with
      :func:`velocity_cost` (threshold 0 by default).

    The wrappers are applied in a fixed order whatever the order of the items:
    force (physics) innermost, then cost (so it sees the true state and the
    applied action), then delay (the action channel), then observation noise
    (the sensor) outermost.
    """
    items: dict[str, str] = {}
    for item in spec.split(",") if spec.strip() else []:
        if not item.strip():
            raise _spec_error(spec, "it has an empty item; separate KEY=VALUE items with single commas")
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq:
            raise _spec_error(spec, f"item {item.strip()!r} is not KEY=VALUE; write e.g. {SPEC_EXAMPLE}")
        if key not in SPEC_KEYS:
            raise _spec_error(spec, f"unknown key {key!r}; use {', '.join(SPEC_KEYS[:-1])} or {SPEC_KEYS[-1]}")
        if key in items:
            raise _spec_error(spec, f"{key!r} is given twice; give each key once")
        items[key] = value
    wrappers: list[Callable[[gym.Env], gym.Wrapper]] = []
    if "force" in items:
        value = items["force"]
        usage = f"force must be STD:TAU or STD:TAU:BODY with STD >= 0 and TAU >= 0 steps, e.g. force=5:10:torso, " \
                f"got {value!r}"
        fields = value.split(":")
        if len(fields) not in (2, 3) or (len(fields) == 3 and not fields[2]):
            raise _spec_error(spec, usage)
        wrappers.append(functools.partial(
            Disturbance, strength=_spec_number(spec, fields[0], usage),
            correlation_time=_spec_number(spec, fields[1], usage, allow_inf=True), kind="force",
            body=fields[2] if len(fields) == 3 else None))
    if "cost" in items:
        value = items["cost"]
        usage = f"cost must be velocity:LIMIT or velocity:LIMIT:THRESHOLD with LIMIT, THRESHOLD >= 0, " \
                f"e.g. cost=velocity:3.2, got {value!r}"
        fields = value.split(":")
        if fields[0] != "velocity" or len(fields) not in (2, 3):
            raise _spec_error(spec, usage)
        threshold = _spec_number(spec, fields[2], usage) if len(fields) == 3 else 0.0
        wrappers.append(functools.partial(
            SafetyCost, cost_fn=velocity_cost(_spec_number(spec, fields[1], usage)), threshold=threshold))
    if "delay" in items:
        value = items["delay"]
        if not (value.isascii() and value.isdigit()):
            raise _spec_error(spec, f"delay must be a whole number of steps >= 0, e.g. delay=3, got {value!r}")
        wrappers.append(functools.partial(ActionDelay, k=int(value)))
    if "obs_noise" in items:
        value = items["obs_noise"]
        usage = f"obs_noise must be STD:TAU with STD >= 0 and TAU >= 0 steps, e.g. obs_noise=0.1:20, got {value!r}"
        fields = value.split(":")
        if len(fields) != 2:
            raise _spec_error(spec, usage)
        wrappers.append(functools.partial(
            Disturbance, strength=_spec_number(spec, fields[0], usage),
            correlation_time=_spec_number(spec, fields[1], usage, allow_inf=True), kind="observation"))
    return wrappers


def _spec_number(spec: str, field: str, usage: str, allow_inf: bool = False) -> float:
    """``field`` as a number >= 0 (finite unless ``allow_inf``), else the spec error ``usage``."""
    try:
        number = float(field)
    except ValueError:
        number = math.nan
    if not number >= 0 or (math.isinf(number) and not allow_inf):
        raise _spec_error(spec, usage)
    return number


def _spec_error(spec: str, problem: str) -> ValueError:
    return ValueError(f"bad wrapper spec {spec!r}: {problem}")


@contextlib.contextmanager
def quiet_mujoco_deprecations():
    """Drop MuJoCo's deprecation warnings about model files while environments are made; pass any other MuJoCo
    warning on (to a handler set before, else as a Python warning).

    MuJoCo 4 warns that Gymnasium's half_cheetah.xml uses the deprecated 'settotalmass' attribute every time
    the model compiles, so a HalfCheetah run printed it once per environment copy at every evaluation and
    appended it to MUJOCO_LOG.TXT in the working folder. The file is Gymnasium's; the model it builds is the same.
    """
    try:
        import mujoco
    except ImportError:  # no MuJoCo, no MuJoCo warnings
        yield
        return
    previous = mujoco.get_mju_user_warning()

    def handler(message: str) -> None:
        if "is deprecated" in message:
            return
        if previous is not None:
            previous(message)
        else:
            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)

    mujoco.set_mju_user_warning(handler)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


def make_wrapped(env_id: str, spec: str, **make_kwargs: Any) -> gym.Env:
    """``gym.make(env_id, **make_kwargs)`` wrapped as ``spec`` says (see :func:`spec_wrappers`).

    The spec is checked before the environment is made. For a vector env use
    ``gym.make_vec(env_id, n, wrappers=spec_wrappers(spec))``.
    """
    wrappers = spec_wrappers(spec)
    try:
        with quiet_mujoco_deprecations():
            env = gym.make(env_id, **make_kwargs)
    except gym.error.Error as exc:
        raise ValueError(f"cannot make environment '{env_id}': {exc}{ID_HINT}") from exc
    except FileNotFoundError as exc:  # an environment that needs files the user supplies (NeoRL-2 Fusion's models)
        raise ValueError(f"cannot make environment '{env_id}': {exc}") from exc
    for wrap in wrappers:
        try:
            env = wrap(env)
        except ValueError:
            env.close()
            raise
    return env


def split_env(env: str) -> tuple[str, str]:
    """``'Hopper-v5[delay=3,cost=velocity:3.2]'`` -> ``('Hopper-v5', 'delay=3,cost=velocity:3.2')``.

    An environment string is a Gymnasium id, optionally followed by a wrapper spec (:func:`spec_wrappers`) in
    square brackets. Run configs keep the whole string, so evaluation, resume and loaded policies all see the
    same wrapped environment.
    """
    env = env.strip()
    if "[" not in env and "]" not in env:
        return env, ""
    env_id, bracket, rest = env.partition("[")
    if not bracket or not rest.endswith("]") or "[" in rest[:-1] or "]" in rest[:-1] or not env_id.strip():
        raise ValueError(f"bad environment {env!r}: write ENV_ID or ENV_ID[SPEC], e.g. Hopper-v5[{SPEC_EXAMPLE}]")
    return env_id.strip(), rest[:-1]


def make_env(env: str) -> gym.Env:
    """One environment from an environment string (``ENV_ID`` or ``ENV_ID[SPEC]``)."""
    return make_wrapped(*split_env(env))


def make_vec_env(env: str, num_envs: int, **vector_kwargs: Any) -> gym.vector.VectorEnv:
    """A vector env of ``num_envs`` copies of an environment string, each copy wrapped by its spec.

    Synchronous copies, except for an environment that hybridrl registers with a batched ``vector_entry_point``
    (NeoRL-2 Fusion) and no wrappers, which gets that vector env; ``vector_kwargs`` (``autoreset_mode``) go to
    either. Gymnasium's own vector entry points (CartPole's) take no ``autoreset_mode``, so they are not used.
    """
    env_id, spec = split_env(env)
    wrappers = spec_wrappers(spec)
    try:
        if not wrappers and str(gym.spec(env_id).vector_entry_point or "").startswith("hybridrl."):
            return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **vector_kwargs)
        with quiet_mujoco_deprecations():
            return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync", wrappers=wrappers or None,
                                vector_kwargs=vector_kwargs or None)
    except gym.error.Error as exc:
        raise ValueError(f"cannot make environment '{env_id}': {exc}{ID_HINT}") from exc
    except FileNotFoundError as exc:
        raise ValueError(f"cannot make environment '{env_id}': {exc}") from exc
