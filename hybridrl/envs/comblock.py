"""The continuous combination lock of HNPG (Zhou et al. 2023), rebuilt from shared/reference/hnpg.md section 3.

Semantics follow the released code ``lock_continuous.Lock`` [C] where it and the paper [P] differ:

- Latent states per timestep: A=0, B=1 (good) and D=2 (dead, absorbing). The combination is two rows of
  latent actions, ``lock[0, h]`` (good in A) and ``lock[1, h]`` (good in B), each in {0, ..., 9}.
- The 10-d action ``a`` picks a latent action ``k ~ softmax(a / 0.1)`` (temperature 0.1 [C]; [P] writes exp(a)).
- Before the last step, the good action in A or B moves to A or B of the next step, uniformly (a Bernoulli(0.5)
  switch); any other action, or any action in D, moves to D. The reward is always 0 there [C] ([P] gives the
  0.1 anti-shaped reward on good -> dead transitions; the code computes it and throws it away).
- At the last step (the H-th action): the good action in A or B gives reward 1; everything else, including
  being in D already, gives 0.1 with probability 0.5, else 0, and moves to D. The episode always lasts exactly
  H steps; ``terminated`` is true on the H-th step only, and stepping afterwards raises.
- Observation of the post-transition (state z, counter h): ``v`` in R^d, ``d = 2**ceil(log2(H + 4))``, with
  N(0, 0.1^2) noise on the first H + 3 coordinates, ``v[z] += 1`` and ``v[3 + h] += 1``; ``obs = R_d v`` with
  ``R_d = scipy.linalg.hadamard(d)`` unnormalized (+-1 entries). A fresh noise draw for every observation.

What is changed, on purpose:

- Randomness. The original draws everything (the combination included) from NumPy's global RNG, so
  ``env.seed`` does nothing and each training seed is a different lock. Here the combination is a
  constructor argument ``lock`` (shape (2, H)) or is drawn from ``np.random.default_rng(lock_seed)``, and
  every per-episode draw (start state, switch, anti-reward, latent action, noise) comes from the env's own
  ``np_random``, so ``reset(seed=...)`` is reproducible. The per-step draw order of [C] is kept (switch,
  anti-reward, latent action, then the observation noise).
- The softmax subtracts the maximum (the original overflows for |a| above about 71), and the actions are not
  clipped: the declared space is Box[0, 1]^10 as in [C], but HNPG's Gaussian policy sends unbounded actions
  and the env accepts them, as the original does.
- Observations are float32 (the original is float64).

``offline_dataset`` generates the offline data of section 4 (epsilon-greedy around the optimal one-hot
actions, epsilon = 1/H, uniform [0, 1)^10 otherwise) as a :class:`hybridrl.data.Dataset`, vectorized over
episodes with the same transition function as the env.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import scipy.linalg

if TYPE_CHECKING:
    from hybridrl.data.dataset import Dataset

ENV_ID = "hybridrl/CombinationLock-v0"
OFFLINE_EPISODES = 50_000  # [C] collect_offline.py: the offline data's size
MAX_REGISTERED_HORIZON = 50  # hybridrl/CombinationLock-H{1..50}-v0 are registered, each with the lock of lock_seed 0


def lock_id(horizon: int) -> str:
    """The registered id of the H-step lock with lock_seed 0, the one ``hybridrl data make lock-hH`` uses, so a
    dataset's env id alone remakes its lock (``hybridrl/CombinationLock-v0`` needs ``horizon=`` and ``lock=``)."""
    return f"hybridrl/CombinationLock-H{int(horizon)}-v0"


A, B, DEAD = 0, 1, 2


def observation_dim(horizon: int) -> int:
    """d = 2^ceil(log2(H + 4)): room for 3 state and H + 1 counter coordinates, padded to a Hadamard size."""
    return 2 ** math.ceil(math.log2(horizon + 4))


def draw_lock(horizon: int, lock_seed: int, num_actions: int = 10) -> np.ndarray:
    """A combination (2, H) of latent actions, uniform in {0..num_actions-1}: row 0 for A, row 1 for B."""
    return np.random.default_rng(lock_seed).integers(0, num_actions, size=(2, horizon)).astype(np.int64)


def latent_actions(actions: np.ndarray, u: np.ndarray, temperature: float) -> np.ndarray:
    """k ~ softmax(a / temperature) for each row of ``actions`` (..., K), by inverting the CDF at ``u`` (...,)."""
    logits = np.asarray(actions, np.float64) / temperature
    p = np.exp(logits - logits.max(-1, keepdims=True))
    cdf = np.cumsum(p, -1) / p.sum(-1, keepdims=True)
    return np.minimum((cdf <= u[..., None]).sum(-1), actions.shape[-1] - 1)


def transition(lock: np.ndarray, z: np.ndarray, h: np.ndarray, k: np.ndarray, switch: np.ndarray,
               anti: np.ndarray, anti_reward: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(z', r) for latent states ``z`` at timestep ``h`` taking latent actions ``k`` (arrays, broadcast).

    ``switch`` / ``anti`` are the Bernoulli(0.5) draws: A <-> B on a good non-final step, and the 0.1 reward
    of a failed final step.
    """
    horizon = lock.shape[1]
    good = (z != DEAD) & (k == lock[np.minimum(z, 1), h])
    last = h == horizon - 1
    z_next = np.where(good, np.where(last | ~switch, z, 1 - z), DEAD)
    r = np.where(last, np.where(good, 1.0, np.where(anti, anti_reward, 0.0)), 0.0)
    return z_next.astype(np.int64), r


class CombinationLockEnv(gym.Env):
    """The continuous combination lock of HNPG [C ``lock_continuous.Lock``]; see the module docstring."""

    metadata = {"render_modes": []}

    def __init__(self, horizon: int = 5, lock: Any = None, lock_seed: int = 0, action_dim: int = 10,
                 noise: float = 0.1, temperature: float = 0.1, p_switch: float = 0.5, p_anti_reward: float = 0.5,
                 anti_reward: float = 0.1):
        if horizon < 1:
            raise ValueError(f"horizon must be at least 1, got {horizon}")
        self.horizon = int(horizon)
        self.num_actions = int(action_dim)
        self.lock = draw_lock(self.horizon, lock_seed, self.num_actions) if lock is None else np.asarray(lock, np.int64)
        if self.lock.shape != (2, self.horizon) or self.lock.min() < 0 or self.lock.max() >= self.num_actions:
            raise ValueError(f"lock must have shape (2, {self.horizon}) with entries in 0..{self.num_actions - 1}, "
                             f"got {self.lock.tolist()}")
        self.noise, self.temperature = float(noise), float(temperature)
        self.p_switch, self.p_anti_reward, self.anti_reward = float(p_switch), float(p_anti_reward), float(anti_reward)
        self.obs_dim = observation_dim(self.horizon)
        self.rotation = scipy.linalg.hadamard(self.obs_dim).astype(np.float64)  # unnormalized, symmetric
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(0.0, 1.0, (self.num_actions,), np.float32)  # declared as in [C]
        self.h, self.z = self.horizon, DEAD  # no episode until reset

    def observe(self, z: np.ndarray, h: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Hadamard-rotated noisy one-hots of (z, h); z and h are arrays of the same shape (...)."""
        z, h = np.asarray(z), np.asarray(h)
        v = np.zeros(z.shape + (self.obs_dim,))
        v[..., : self.horizon + 3] = self.noise * rng.standard_normal(z.shape + (self.horizon + 3,))
        flat, rows = v.reshape(-1, self.obs_dim), np.arange(z.size)
        flat[rows, z.ravel()] += 1.0
        flat[rows, 3 + h.ravel()] += 1.0
        return (flat @ self.rotation).reshape(v.shape).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.h, self.z = 0, int(self.np_random.integers(0, 2))
        return self.observe(np.array(self.z), np.array(self.h), self.np_random), {"state": self.z, "h": self.h}

    def step(self, action):
        if self.h >= self.horizon:
            raise RuntimeError("the episode is over (exactly H steps); call reset()")
        rng = self.np_random
        switch = rng.random() < self.p_switch
        anti = rng.random() < self.p_anti_reward
        k = int(latent_actions(np.asarray(action, np.float64)[None], rng.random(size=1), self.temperature)[0])
        z, r = transition(self.lock, np.array(self.z), np.array(self.h), np.array(k), np.array(switch),
                          np.array(anti), self.anti_reward)
        self.z, self.h = int(z), self.h + 1
        obs = self.observe(np.array(self.z), np.array(self.h), rng)
        terminated = self.h == self.horizon
        return obs, float(r), terminated, False, {"state": self.z, "h": self.h, "latent_action": k}


def offline_dataset(env: CombinationLockEnv, episodes: int = OFFLINE_EPISODES, seed: int = 0,
                    epsilon: float | None = None, env_id: str = ENV_ID) -> Dataset:
    """``episodes`` episodes of the behaviour policy of section 4 [C ``collect_offline.py``] in ``env``'s lock.

    Every step independently: with probability ``epsilon`` (default 1/H) the action is uniform on [0, 1)^10,
    otherwise it is the one-hot of the good latent action of the current state (the B row whenever the state
    is not A, D included, as [C] does). Episodes are exactly H long, row ``i`` of an episode is timestep ``i``;
    ``terminals`` marks the H-th step. The metadata holds the horizon, the lock and the success fraction.
    Drawn from ``np.random.default_rng(seed)``, vectorized over episodes (not the env's own stream).
    ``env_id`` is recorded as the data's environment (pass :func:`lock_id` when ``env`` is that id's lock).
    """
    from hybridrl.data.dataset import Dataset

    H, K, n = env.horizon, env.num_actions, int(episodes)
    eps = 1.0 / H if epsilon is None else float(epsilon)
    rng = np.random.default_rng(seed)
    obs = np.zeros((n, H + 1, env.obs_dim), np.float32)
    actions = np.zeros((n, H, K), np.float32)
    rewards = np.zeros((n, H), np.float32)
    z = rng.integers(0, 2, size=n)
    obs[:, 0] = env.observe(z, np.zeros(n, np.int64), rng)
    for h in range(H):
        greedy = np.eye(K, dtype=np.float32)[env.lock[np.where(z == A, 0, 1), h]]
        explore = rng.random(n) < eps
        actions[:, h] = np.where(explore[:, None], rng.random((n, K)).astype(np.float32), greedy)
        switch, anti = rng.random(n) < env.p_switch, rng.random(n) < env.p_anti_reward
        k = latent_actions(actions[:, h], rng.random(n), env.temperature)
        z, r = transition(env.lock, z, np.full(n, h), k, switch, anti, env.anti_reward)
        rewards[:, h] = r
        obs[:, h + 1] = env.observe(z, np.full(n, h + 1), rng)
    terminals = np.zeros((n, H), bool)
    terminals[:, -1] = True
    success = float((rewards[:, -1] == 1.0).mean())
    return Dataset(
        observations=obs[:, :-1].reshape(n * H, -1), actions=actions.reshape(n * H, K),
        rewards=rewards.reshape(-1), next_observations=obs[:, 1:].reshape(n * H, -1),
        terminals=terminals.reshape(-1), timeouts=np.zeros(n * H, bool),
        name=f"comblock-H{H}-eps-greedy", env_id=env_id,
        action_low=np.zeros(K, np.float32), action_high=np.ones(K, np.float32),
        metadata={"horizon": H, "lock": env.lock.tolist(), "epsilon": eps, "episodes": n, "seed": seed,
                  "success_fraction": success, "behaviour": "epsilon-greedy around the optimal one-hot actions "
                  "(HNPG collect_offline.py)"},
    )


def register() -> None:
    """Register ``hybridrl/CombinationLock-v0`` (pass ``horizon=H`` to make) and the fixed locks :func:`lock_id`
    for H = 1..50 with Gymnasium (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point="hybridrl.envs.comblock:CombinationLockEnv")
    for H in range(1, MAX_REGISTERED_HORIZON + 1):
        if lock_id(H) not in gym.registry:
            gym.register(id=lock_id(H), entry_point="hybridrl.envs.comblock:CombinationLockEnv",
                         kwargs={"horizon": H, "lock_seed": 0})
