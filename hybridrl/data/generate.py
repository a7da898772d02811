"""Datasets made on this machine, with no download.

``scripted_pendulum`` is the built-in default behind ``hybridrl demo`` and the
learning tests: a hand-tuned linear controller for MuJoCo's
InvertedPendulum-v5, with per-episode Gaussian action noise so the data mixes
episodes that balance for the full 1000 steps with episodes that fall early.
"""

from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from hybridrl.data.dataset import Dataset
from hybridrl.envs.wrappers import make_env, make_vec_env

PENDULUM_ENV = "InvertedPendulum-v5"
# u = K . [cart position, pole angle, cart velocity, pole angular velocity]; balances
# InvertedPendulum-v5 for the whole episode from every initial state we tried.
PENDULUM_GAIN = np.array([1.0, 10.0, 1.0, 1.0])
PENDULUM_EXPERT_RETURN = 1000.0  # 1 per step, 1000 steps: the best possible return


def collect(
    env_id: str,
    policy: Callable[[np.ndarray, np.ndarray], np.ndarray],
    transitions: int,
    seed: int,
    num_envs: int = 16,
    on_episode_start: Callable[[int, np.random.Generator], None] | None = None,
    name: str | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Dataset:
    """Roll out ``policy(obs[num_envs, obs_dim], rng) -> actions`` in a vector env.

    Whole episodes are kept, in the order they finish, until ``transitions``
    are reached; the episode that crosses the limit is cut and marked as a
    timeout. ``on_episode_start(env_index, rng)`` is called whenever an
    environment starts a new episode (for per-episode behaviour settings).
    ``on_progress(transitions_kept)`` is called after every finished episode.
    """
    rng = np.random.default_rng(seed)
    envs = make_vec_env(env_id, num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    buffers: list[dict[str, list]] = [_empty_buffer() for _ in range(num_envs)]
    episodes: list[dict[str, np.ndarray]] = []
    total = 0
    try:
        obs, _ = envs.reset(seed=seed)
        if on_episode_start:
            for i in range(num_envs):
                on_episode_start(i, rng)
        while total < transitions:
            actions = np.asarray(policy(obs, rng), dtype=np.float32)
            next_obs, rewards, terms, truncs, infos = envs.step(actions)
            for i in range(num_envs):
                done = bool(terms[i] or truncs[i])
                real_next = infos["final_obs"][i] if done else next_obs[i]
                b = buffers[i]
                b["observations"].append(obs[i])
                b["actions"].append(actions[i])
                b["rewards"].append(rewards[i])
                b["next_observations"].append(real_next)
                b["terminals"].append(bool(terms[i]))
                b["timeouts"].append(bool(truncs[i]) and not bool(terms[i]))
                if done:
                    episodes.append({k: np.asarray(v) for k, v in b.items()})
                    total += len(b["rewards"])
                    buffers[i] = _empty_buffer()
                    if on_progress:
                        on_progress(min(total, transitions))
                    if on_episode_start:
                        on_episode_start(i, rng)
            obs = next_obs
    finally:
        envs.close()
    flat = {k: np.concatenate([e[k] for e in episodes])[:transitions] for k in episodes[0]}
    flat["timeouts"][-1] = not flat["terminals"][-1]
    space = envs.single_action_space
    return Dataset(
        observations=flat["observations"].astype(np.float32),
        actions=flat["actions"].astype(np.float32),
        rewards=flat["rewards"].astype(np.float32),
        next_observations=flat["next_observations"].astype(np.float32),
        terminals=flat["terminals"].astype(bool),
        timeouts=flat["timeouts"].astype(bool),
        name=name or f"{env_id}-generated",
        env_id=env_id,
        action_low=space.low.astype(np.float32),
        action_high=space.high.astype(np.float32),
    )


def _empty_buffer() -> dict[str, list]:
    return {k: [] for k in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts")}


def random_policy_return(env_id: str, episodes: int, seed: int) -> float:
    """Mean return of the uniformly random policy: the 'random' reference score."""
    env = make_env(env_id)
    rng = np.random.default_rng(seed)
    returns = []
    for ep in range(episodes):
        env.reset(seed=seed + ep)
        env.action_space.seed(int(rng.integers(2**31)))
        total, done = 0.0, False
        while not done:
            _, r, term, trunc, _ = env.step(env.action_space.sample())
            total += float(r)
            done = term or trunc
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def scripted_pendulum(transitions: int = 50_000, seed: int = 0, max_noise: float = 1.5) -> Dataset:
    """InvertedPendulum-v5 data from a linear controller with Gaussian action noise.

    Each episode draws its noise std uniformly from [0, max_noise] (in action
    units; the action range is [-3, 3]). Low-noise episodes balance for 1000
    steps; noisy ones fall within tens of steps. Reference scores: the random
    policy's mean return (measured on 100 episodes) and 1000.
    """
    sigma = np.zeros(16)

    def on_start(i: int, rng: np.random.Generator) -> None:
        sigma[i] = rng.uniform(0.0, max_noise)

    def policy(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = obs @ PENDULUM_GAIN + sigma * rng.standard_normal(obs.shape[0])
        return np.clip(u, -3.0, 3.0)[:, None]

    ds = collect(PENDULUM_ENV, policy, transitions, seed, num_envs=16, on_episode_start=on_start,
                 name="invertedpendulum-scripted")
    ds.ref_min_score = random_policy_return(PENDULUM_ENV, episodes=100, seed=seed + 1)
    ds.ref_max_score = PENDULUM_EXPERT_RETURN
    ds.metadata = {"recipe": "scripted linear controller, per-episode noise std ~ U[0, %g]" % max_noise,
                   "gain": PENDULUM_GAIN.tolist(), "seed": seed}
    return ds


def toy_dataset(lengths: tuple[int, ...] = (2, 3, 4), terminal_ends: tuple[bool, ...] = (True, False, False),
                obs_dim: int = 3, act_dim: int = 2, seed: int = 0, env_id: str | None = None) -> Dataset:
    """A tiny random dataset with the given episode lengths, for tests and examples.

    Episode i ends in a terminal if ``terminal_ends[i]``, else in a timeout;
    next observations chain within episodes; actions lie in [-1, 1].
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "next", "act", "rew", "term", "tout")}
    for length, terminal in zip(lengths, terminal_ends):
        o = rng.normal(size=(length + 1, obs_dim)).astype(np.float32)
        parts["obs"].append(o[:-1])
        parts["next"].append(o[1:])
        parts["act"].append(rng.uniform(-1, 1, size=(length, act_dim)).astype(np.float32))
        parts["rew"].append(rng.normal(size=length).astype(np.float32))
        end = np.zeros(length, dtype=bool)
        end[-1] = True
        parts["term"].append(end if terminal else np.zeros(length, dtype=bool))
        parts["tout"].append(np.zeros(length, dtype=bool) if terminal else end)
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    return Dataset(
        observations=cat["obs"], actions=cat["act"], rewards=cat["rew"], next_observations=cat["next"],
        terminals=cat["term"], timeouts=cat["tout"], name="toy", env_id=env_id,
        action_low=np.full(act_dim, -1.0, np.float32), action_high=np.full(act_dim, 1.0, np.float32),
    )
