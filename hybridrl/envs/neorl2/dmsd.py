"""NeoRL-2 DMSD: a double mass-spring-damper tracking two position targets (shared/reference/neorl2.md section 5).

Two masses in series between two walls, joined by three springs and dampers; each mass is pushed by its own
force and must follow its own target, which may switch once, at step 50. The offline data come from a PID
controller (:class:`PIDPolicy` with :data:`TRAIN_PID` / :data:`VAL_PID`), and :func:`regenerate_dmsd`
rebuilds them by the collection protocol of section 0.3.

Faithful to the sheet: observation layout, action mapping, explicit-Euler dynamics, reward, termination (none),
the 100-step limit (registered as ``neorl2/DMSD-v0``), the initial-state and target distribution with its draw
order, and ``numpy.random.RandomState(seed)`` made afresh at every seeded reset. Rendering is left out, and so
are the error integral and derivative the original tracks internally (they are not observed).

One deviation: ``reset()`` without a seed seeds its fresh ``RandomState`` from the environment's Gymnasium
generator rather than from OS entropy, so that ``reset(seed=s)`` followed by ``reset()`` is reproducible (as
Gymnasium's checker requires). Unseeded episodes have the same distribution either way.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np

from hybridrl.data.dataset import Dataset

# Constants: section 5 "System".
DAMPING = 4.0  # d1 = d2 = d3
STIFFNESS = 2.0  # k1 = k2 = k3
MASS = {"train": 20.0}  # m1 = m2; any other mode gives OTHER_MASS
OTHER_MASS = 30.0
DT = 0.2
MAX_FORCE = 30.0  # force range [-30, 30]
EPISODE_STEPS = 100
SWITCH_STEP = 50  # a mass with two targets switches to the second at t = 50
TARGET_RANGE = 1.5  # targets ~ U(-1.5, 1.5)
POSITION_RANGE = 0.25  # initial positions ~ U(-0.25, 0.25)
VELOCITY_RANGE = 0.1  # initial velocities ~ U(-0.1, 0.1)
OBS_DIM, ACT_DIM = 6, 2


def reward_fn(obs, action, next_obs) -> np.ndarray:
    """r = sum_j -ln(|x'_j - T'_j| + 0.01) from next_obs = [x1, x2, v1, v2, T1, T2] (section 5 "Reward").

    Computed in float32 from float32-rounded observations, which reproduces the official rewards bit for bit
    (float64 arithmetic differs by up to 1e-6). Works on one transition or a batch (leading dimensions);
    ``obs`` and ``action`` are unused.
    """
    next_obs = np.asarray(next_obs, dtype=np.float32)
    error = np.abs(next_obs[..., 0:2] - next_obs[..., 4:6])
    return -np.log(error + np.float32(0.01)).sum(axis=-1)


def terminated_fn(obs, action, next_obs) -> np.ndarray:
    """DMSD never terminates (section 5 "Termination"): all False, shaped like the batch."""
    return np.zeros(np.shape(next_obs)[:-1], dtype=bool)


class DMSDEnv(gym.Env):
    """Double mass-spring-damper target tracking (neorl2.md section 5).

    Observation (6, float64, unbounded): ``[x1, x2, v1, v2, T1, T2]`` with the targets at the current time.
    It is float64 like the original's: the PID controller acting on float32-rounded observations would drift
    from the official data by up to 1e-5 (its derivative term amplifies the rounding); the data store float32.
    Action (2, in [-1, 1]): forces ``F = 30 * clip(a, -1, 1)`` on the two masses.
    ``mode='train'`` gives masses of 20; any other mode 30 (the benchmark registers 'train').
    """

    metadata = {"render_modes": []}

    def __init__(self, mode: str = "train"):
        self.mode = mode
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(OBS_DIM,), dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(ACT_DIM,), dtype=np.float32)
        self._mass = MASS.get(mode, OTHER_MASS)
        self._state = np.zeros(4)  # x1, x2, v1, v2 (float64)
        self._targets = np.zeros((EPISODE_STEPS, 2))  # target of each mass at times 0..99
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Draw the task, the targets and the start state from a fresh ``RandomState`` (section 5 "Reset")."""
        super().reset(seed=seed)
        if seed is not None and not 0 <= seed < 2**32:
            raise ValueError(f"DMSD seeds a numpy RandomState, so seed must be in [0, 2**32 - 1]; got {seed}")
        rng = np.random.RandomState(seed if seed is not None else int(self.np_random.integers(2**32)))
        # 1. task parameters: degenerate uniforms, drawn only to keep the stream aligned (d, d, d, k, k, k, m, m)
        for value in (DAMPING,) * 3 + (STIFFNESS,) * 3 + (self._mass,) * 2:
            rng.uniform(value, value)
        # 2. targets per mass: one value for all steps, or one for steps 0-49 and another for 50-99
        for j in range(2):
            if rng.randint(1, 3) == 1:
                self._targets[:, j] = rng.uniform(-TARGET_RANGE, TARGET_RANGE)
            else:
                self._targets[:SWITCH_STEP, j] = rng.uniform(-TARGET_RANGE, TARGET_RANGE)
                self._targets[SWITCH_STEP:, j] = rng.uniform(-TARGET_RANGE, TARGET_RANGE)
        # 3. positions, then velocities
        positions = rng.uniform(-POSITION_RANGE, POSITION_RANGE, size=2)
        velocities = rng.uniform(-VELOCITY_RANGE, VELOCITY_RANGE, size=2)
        self._state = np.concatenate([positions, velocities])
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        """Explicit Euler step of dt = 0.2 under forces 30 * clip(a) (section 5 "Step")."""
        obs = self._obs()
        force = (np.clip(np.asarray(action, dtype=np.float64).reshape(ACT_DIM), -1.0, 1.0) + 1.0) / 2.0 * 2 * MAX_FORCE - MAX_FORCE
        x1, x2, v1, v2 = self._state
        d, k, m = DAMPING, STIFFNESS, self._mass
        acc1 = (-(k + k) * x1 + k * x2 - (d + d) * v1 + d * v2 + force[0]) / m
        acc2 = (k * x1 - (k + k) * x2 + d * v1 - (d + d) * v2 + force[1]) / m
        self._state = np.array([x1 + DT * v1, x2 + DT * v2, v1 + DT * acc1, v2 + DT * acc2])
        self._t += 1
        next_obs = self._obs()
        reward = float(reward_fn(obs, action, next_obs))
        return next_obs, reward, bool(terminated_fn(obs, action, next_obs)), False, {}

    def _target(self) -> np.ndarray:
        return self._targets[min(self._t, EPISODE_STEPS - 1)]

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._state, self._target()])


# ---------------------------------------------------------------------------------------------- behaviour policy


@dataclasses.dataclass(frozen=True)
class PIDGains:
    """Per-axis proportional, integral and derivative gains (section 5 "Behaviour policy")."""

    p: tuple[float, float]
    i: tuple[float, float]
    d: tuple[float, float]


# From neorl2_dataset's DMSD tuning log, as listed in section 5: the train and the val controller.
TRAIN_PID = PIDGains(
    p=(4.604382269395566, 1.5220966668817475),
    i=(0.751080115280055, 0.8102706700902063),
    d=(4.977205900321884, 2.827865593893193),
)
VAL_PID = PIDGains(
    p=(3.6415787495930987, 3.6040737873548996),
    i=(0.0, 0.0),
    d=(4.024895548241978, 3.9211754424390795),
)


class PIDPolicy:
    """The PID controller that collected the DMSD data (section 5 "Behaviour policy").

    Per axis, with error e_t = T - x from the current observation and an error history that starts with
    one zero vector: ``a = P e_t + I dt sum(history incl. e_t) + D (e_t - e_{t-1}) / dt``, clipped to [-1, 1].
    Call :meth:`reset` at the start of every episode.
    """

    def __init__(self, gains: PIDGains = TRAIN_PID, dt: float = DT):
        self.gains = gains
        self.dt = dt
        self.reset()

    def reset(self) -> None:
        self._error_sum = np.zeros(2)  # the history's first entry is the zero vector
        self._last_error = np.zeros(2)

    def __call__(self, obs) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        error = obs[4:6] - obs[0:2]
        self._error_sum = self._error_sum + error
        integral = self.dt * self._error_sum
        derivative = (error - self._last_error) / self.dt
        self._last_error = error
        g = self.gains
        return np.clip(np.multiply(g.p, error) + np.multiply(g.i, integral) + np.multiply(g.d, derivative), -1.0, 1.0)


# ---------------------------------------------------------------------------------------------- data regeneration

SPLIT_GAINS = {"train": TRAIN_PID, "val": VAL_PID}


def regenerate_dmsd(split: str = "train", num_samples: int | None = None, first_seed: int = 0,
                   on_progress=None) -> Dataset:
    """Rebuild NeoRL-2's DMSD ``split`` ('train' or 'val') by the collection protocol of section 0.3
    (:func:`hybridrl.envs.neorl2.collect.collect`): trajectory i from ``reset(seed=first_seed + i)`` under the
    split's PID controller, until ``num_samples`` transitions (default 100,000 train, 20,000 val), cut at the next
    episode end. ``first_seed`` 0 gives NeoRL-2's own data; another moves the initial states. The global
    ``random``/``numpy`` seeding of the protocol is left out: neither the environment nor the PID controller draws
    from those generators.
    """
    from hybridrl.envs.neorl2.collect import collect

    if split not in SPLIT_GAINS:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    return collect("DMSD", [lambda seed: PIDPolicy(SPLIT_GAINS[split])], split, num_samples, first_seed, metadata={
        "source": f"regenerated by hybridrl.envs.neorl2.dmsd.regenerate_dmsd (neorl2.md 0.3), {split} PID"},
        on_progress=on_progress)
