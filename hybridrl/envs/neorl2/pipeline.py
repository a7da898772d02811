"""NeoRL-2 Pipeline: water-flow control through a transport delay (shared/reference/neorl2.md section 1).

A gate at the upstream end of a 100-unit channel sets the inflow; water moves 5 units per step, so what the
gate does reaches the downstream sensor 19 steps later (a 20-slot FIFO). The agent sees the downstream flow,
the target, 25 past flows and its 25 latest actions, and must track a target that switches at random.

Faithful to the sheet, quirks included:

* the gate flow is accumulated in float32 (needed for bit-exact reproduction);
* the 20-slot FIFO, so an action's effect on the observed flow appears exactly 19 steps later;
* the target is kept across resets: each reset re-draws it only with probability 0.003, otherwise the new
  episode starts with the previous episode's (possibly switched) target, and the first target is drawn in
  the constructor from an unseeded generator.

The last quirk means ``reset(seed=s)`` does not determine an episode. ``PipelineEnv(keep_target=False)``
draws the target afresh from the seeded generator at every reset instead (documented deviation, off by
default). Another deviation, needed for ``reset(seed=s)`` followed by ``reset()`` to be reproducible: an
unseeded reset continues the environment's generator rather than starting one from OS entropy. Rendering is
left out.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

# Constants: section 1 "Constants".
CHANNEL_LENGTH = 100
VELOCITY = 5
SLOTS = CHANNEL_LENGTH // VELOCITY  # 20: q[0] is newest, q[19] reaches the outlet
DELAY = SLOTS - 1  # an action's effect on the outlet flow shows 19 steps later
MAX_FLOW = 200.0
HISTORY = 25  # past flows and latest actions in the observation
TARGETS = np.array([50.0, 80.0, 110.0, 140.0])
SWITCH_PROB = 0.003
INITIAL_FLOW = (80.0, 120.0)
OBS_DIM, ACT_DIM = 2 + 2 * HISTORY, 1


def reward_fn(obs, action, next_obs) -> np.ndarray:
    """r = ((200 - |d' - T'|) / 100)^2 - 3 from next_obs[0] (flow) and next_obs[1] (target): section 1 "Reward".

    In [-3, 1]. Works on one transition or a batch (leading dimensions); ``obs`` and ``action`` are unused.
    """
    next_obs = np.asarray(next_obs, dtype=np.float64)
    return ((MAX_FLOW - np.abs(next_obs[..., 0] - next_obs[..., 1])) / 100.0) ** 2 - 3.0


def terminated_fn(obs, action, next_obs) -> np.ndarray:
    """Pipeline never terminates (section 1 "Termination"): all False, shaped like the batch."""
    return np.zeros(np.shape(next_obs)[:-1], dtype=bool)


class PipelineEnv(gym.Env):
    """Track a target downstream flow by moving a gate 19 steps upstream (neorl2.md section 1).

    Observation (52, float32): ``[d, T, d_{t-1} .. d_{t-25}, a_t .. a_{t-24}]``; flows and target in [0, 200],
    actions in [-1, 1]. Action (1, in [-1, 1]): the change of the gate flow, which is clipped to [0, 200].
    ``keep_target`` (default True, faithful) keeps the target across resets; False re-draws it every reset.
    """

    metadata = {"render_modes": []}

    def __init__(self, keep_target: bool = True):
        self.keep_target = keep_target
        low = np.concatenate([np.zeros(2 + HISTORY), -np.ones(HISTORY)]).astype(np.float32)
        high = np.concatenate([np.full(2 + HISTORY, MAX_FLOW), np.ones(HISTORY)]).astype(np.float32)
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(ACT_DIM,), dtype=np.float32)
        self._target: float | None = None  # None until the first reset, which draws it
        self.reset()  # the original draws its first target here, from an unseeded generator

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Fill the channel with one initial flow f0 ~ U(80, 120) and apply the target rule (section 1 "Reset")."""
        super().reset(seed=seed)
        rng = self.np_random
        f0 = np.float32(rng.uniform(*INITIAL_FLOW))
        self._gate = f0
        self._fifo = np.full(SLOTS, f0, dtype=np.float32)
        self._flows = np.full(HISTORY + 1, f0, dtype=np.float32)  # newest first
        self._actions = np.zeros(HISTORY + 1, dtype=np.float32)  # newest first
        redraw = rng.uniform(0.0, 1.0) < SWITCH_PROB
        if redraw or self._target is None or not self.keep_target:
            self._target = float(rng.choice(TARGETS))
        return self._obs(), {}

    def step(self, action):
        """Move the gate by clip(a, -1, 1), shift the channel one slot, read the outlet (section 1 "Step")."""
        obs = self._obs()
        a = np.float32(np.clip(np.asarray(action, dtype=np.float32).reshape(ACT_DIM)[0], -1.0, 1.0))
        if self.np_random.uniform(0.0, 1.0) < SWITCH_PROB:
            self._target = float(self.np_random.choice(TARGETS))
        self._gate = np.clip(self._gate + a, np.float32(0.0), np.float32(MAX_FLOW))  # float32, as the original
        self._fifo = np.concatenate([[self._gate], self._fifo[:-1]]).astype(np.float32)
        outlet = self._fifo[-1]  # the gate flow set 19 steps earlier
        self._flows = np.concatenate([[outlet], self._flows[:-1]]).astype(np.float32)
        self._actions = np.concatenate([[a], self._actions[:-1]]).astype(np.float32)
        next_obs = self._obs()
        reward = float(reward_fn(obs, action, next_obs))
        return next_obs, reward, bool(terminated_fn(obs, action, next_obs)), False, {}

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._flows[:1], [self._target], self._flows[1:], self._actions[:HISTORY]]).astype(np.float32)
