"""Fitted Q Evaluation: the value of a fixed policy, estimated from logged data alone.

FQE (Le, Voloshin & Yue, "Batch Policy Learning under Constraints", 2019)
fits Q^pi by repeated regression on Bellman targets of the *fixed* policy pi:

    Q(s, a) <- r + gamma * (1 - terminal) * Q_targ(s', pi(s'))

and estimates the policy's value as the mean over the dataset's initial states
of Q(s0, pi(s0)). Paine et al. ("Hyperparameter Selection for Offline
Reinforcement Learning", 2020) found it the most reliable of the estimators
they tried for ranking offline-RL policies and checkpoints without the
environment. They fit a distributional (D4PG-style) critic; we fit a plain
mean-squared-error critic, an ensemble of 2 whose mean is Q.

What makes it fast here:
- pi is fixed, so pi(s') and pi(s0) are computed once for the whole dataset,
  and an update is one critic regression step, no actor;
- training runs as ``lax.scan`` chunks inside ``jit``, batches drawn by index
  from the data on the device;
- K policies (all seeds of all checkpoints) are fitted by one ``vmap``ped
  program that shares the data and differs only in pi's actions.

Units: observations fed to the critic are normalized with the evaluation
dataset's mean and std (the same statistics for every policy, so candidates
are comparable); actions are in the agents' [-1, 1] space. The policy itself
always sees observations preprocessed its own way (a loaded :class:`Policy`
applies its run's ``preprocessing.json``). Internally the critic regresses
(1 - gamma) * Q / reward_scale, which keeps targets of order max|r| whatever
gamma is; estimates are reported in the dataset's own reward units, as a
discounted return.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from hybridrl.agents.base import apply_grads, soft_update
from hybridrl.data.dataset import Dataset, DatasetError
from hybridrl.data.transforms import observation_stats, scale_actions
from hybridrl.nets import Critic, Ensemble


@dataclasses.dataclass(frozen=True)
class FQEConfig:
    steps: int = 50_000  # our choice: about 1,000 target time constants (1/tau), see tau
    hidden_dims: tuple[int, ...] = (256, 256)  # the TD3+BC / IQL critic size
    num_critics: int = 2  # ensemble, Q = mean of the members (not the min: FQE estimates a value, it does not guard a policy)
    learning_rate: float = 3e-4  # Adam, as the TD3+BC / IQL critics
    batch_size: int = 256  # as the TD3+BC / IQL critics
    discount: float = 0.99  # the agents' discount; the estimate is a gamma-discounted return
    # Soft target update; ignored when target_update_every is set. Our choice, not TD3's 0.005: the target's time
    # constant 1/tau = 50 steps makes 50,000 steps about 1,000 Bellman backups, enough for gamma = 0.99
    # (0.99^1000 ~ 4e-5). With 0.005 a never-failing pendulum policy was still 36% low after 20,000 steps.
    tau: float = 0.02
    target_update_every: int | None = None  # hard target copy every N steps (Le et al. 2019's outer iterations) instead of soft
    clip_targets: bool = True  # clip Q_targ(s', pi(s')) to the range a discounted return can take (see below)
    chunk: int = 1_000  # updates per host call (progress granularity)

    def check(self) -> None:
        for name in ("steps", "num_critics", "batch_size", "chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"FQE {name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.discount < 1.0:
            raise ValueError(f"FQE discount must be in [0, 1), got {self.discount}")
        if self.target_update_every is not None and self.target_update_every < 1:
            raise ValueError(f"FQE target_update_every must be at least 1, got {self.target_update_every}")


@dataclasses.dataclass
class FQEResult:
    initial_value: np.ndarray  # (K,) mean over initial states of Q(s0, pi(s0)): the estimate
    mean_value: np.ndarray  # (K,) mean over all dataset states of Q(s, pi(s))
    initial_values: np.ndarray  # (K, E) Q(s0, pi(s0)) per initial state
    loss: np.ndarray  # (K, chunks) mean regression loss per chunk, in the critic's scaled units
    config: FQEConfig


def _critic(config: FQEConfig) -> nn.Module:
    return Ensemble(Critic, config.num_critics)(config.hidden_dims)


def fqe_target(rewards: jnp.ndarray, masks: jnp.ndarray, discount: float, next_q: jnp.ndarray) -> jnp.ndarray:
    """y = r + gamma * mask * mean_i Q_i_targ(s', pi(s')), with next_q of shape (num_critics, B), mask = 1 - terminal."""
    return rewards + discount * masks * jnp.mean(next_q, axis=0)


def fqe_loss(q: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """L = sum_i mean_batch (Q_i(s, a) - y)^2, q of shape (num_critics, B)."""
    return jnp.sum(jnp.mean((q - y[None]) ** 2, axis=-1))


def init_fqe(key: jax.Array, obs_dim: int, act_dim: int, config: FQEConfig) -> dict[str, Any]:
    params = _critic(config).init(key, jnp.zeros((1, obs_dim)), jnp.zeros((1, act_dim)))
    return {"params": params, "target": params, "opt": optax.adam(config.learning_rate).init(params),
            "step": jnp.zeros((), jnp.int32)}


def fqe_update(state: dict, batch: dict, next_actions: jnp.ndarray, config: FQEConfig,
               q_range: tuple[jnp.ndarray, jnp.ndarray] | None = None) -> tuple[dict, jnp.ndarray]:
    """One regression step on a batch; ``batch['rewards']`` are already in the critic's scaled units.

    With ``q_range = (lo, hi)`` the bootstrapped values are clipped to it first.
    """
    critic = _critic(config)
    next_q = critic.apply(state["target"], batch["next_observations"], next_actions)
    if q_range is not None:
        next_q = jnp.clip(next_q, q_range[0], q_range[1])
    y = fqe_target(batch["rewards"], batch["masks"], config.discount, next_q)

    def loss_fn(params):
        return fqe_loss(critic.apply(params, batch["observations"], batch["actions"]), y)

    loss, grads = jax.value_and_grad(loss_fn)(state["params"])
    params, opt = apply_grads(state["params"], state["opt"], grads, optax.adam(config.learning_rate))
    step = state["step"] + 1
    if config.target_update_every is None:
        target = soft_update(state["target"], params, config.tau)
    else:
        target = jax.tree.map(lambda t, p: jnp.where(step % config.target_update_every == 0, p, t), state["target"], params)
    return {"params": params, "target": target, "opt": opt, "step": step}, loss


def make_fqe_chunk(config: FQEConfig, num_steps: int) -> Callable:
    """A jitted ``(states[K], keys[K], data, next_actions[K, N, A]) -> (states, keys, mean loss[K])``."""

    def run_one(state, key, data, next_actions):
        n = data["rewards"].shape[0]
        q_range = (data["q_low"], data["q_high"]) if config.clip_targets else None

        def body(carry, _):
            state, key = carry
            key, k_batch = jax.random.split(key)
            idx = jax.random.randint(k_batch, (config.batch_size,), 0, n)
            batch = {k: data[k][idx] for k in ("observations", "actions", "rewards", "next_observations", "masks")}
            state, loss = fqe_update(state, batch, next_actions[idx], config, q_range)
            return (state, key), loss

        (state, key), losses = jax.lax.scan(body, (state, key), None, length=num_steps)
        return state, key, jnp.mean(losses)

    return jax.jit(jax.vmap(run_one, in_axes=(0, 0, None, 0)), donate_argnums=(0,))


def _make_q_fn(config: FQEConfig) -> Callable:
    critic = _critic(config)
    return jax.jit(jax.vmap(lambda p, o, a: jnp.mean(critic.apply(p, o, a), axis=0), in_axes=(0, None, 0)))


# ---------------------------------------------------------------------------------------------------------------
# Policies: anything that maps observations to actions in [-1, 1].

PolicyLike = Any  # a hybridrl Policy, or a callable obs[N, obs_dim] -> actions[N, act_dim] in [-1, 1]


def policy_actions(policies: PolicyLike | Sequence[PolicyLike], observations: np.ndarray,
                   action_low: np.ndarray | None = None, action_high: np.ndarray | None = None,
                   chunk: int = 65_536) -> np.ndarray:
    """Actions of every policy on ``observations`` (raw, env units), in [-1, 1], shape (K, N, act_dim).

    A loaded :class:`~hybridrl.evaluate.policy.Policy` contributes one policy
    per seed; it normalizes observations with its own run's preprocessing,
    and its env-unit actions are mapped to [-1, 1] with ``action_low`` and
    ``action_high`` (default: its run's bounds). A plain callable contributes
    one policy and must already return actions in [-1, 1].
    """
    from hybridrl.evaluate.policy import Policy

    if not isinstance(policies, (list, tuple)):
        policies = [policies]
    out = []
    for pol in policies:
        parts = []
        for start in range(0, len(observations), chunk):
            obs = observations[start:start + chunk]
            if isinstance(pol, Policy):
                low = pol.prep.action_low if action_low is None else np.asarray(action_low, np.float32)
                high = pol.prep.action_high if action_high is None else np.asarray(action_high, np.float32)
                act = scale_actions(pol(obs), low, high)  # (seeds, n, A)
            else:
                act = np.asarray(pol(obs), np.float32)[None]
            parts.append(act)
        out.append(np.concatenate(parts, axis=1))
    return np.clip(np.concatenate(out, axis=0), -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------


def held_out_split(dataset: Dataset, fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """(rest, held_out): a random ``fraction`` of whole episodes held out, the same for the same seed.

    Both parts keep their episodes in the original order; at least one episode
    goes to each part.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"held-out fraction must be in (0, 1), got {fraction}")
    num = dataset.num_episodes
    if num < 2:
        raise DatasetError(f"{dataset.name}: {num} episode(s); a held-out split needs at least 2, use --split all")
    count = min(max(int(round(fraction * num)), 1), num - 1)
    held = np.zeros(num, bool)
    held[np.random.default_rng(seed).permutation(num)[:count]] = True
    return dataset.select_episodes(np.flatnonzero(~held)), dataset.select_episodes(np.flatnonzero(held))


def fit_fqe(
    policies: PolicyLike | Sequence[PolicyLike],
    dataset: Dataset,
    config: FQEConfig = FQEConfig(),
    *,
    seed: int = 0,
    action_low: np.ndarray | None = None,
    action_high: np.ndarray | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> FQEResult:
    """Fit one FQE critic per policy (K in all, one compiled program) on ``dataset``; return the estimates.

    Dataset actions are mapped to [-1, 1] with ``action_low``/``action_high``
    (default: the dataset's bounds, else taken as already in [-1, 1]); pass
    the bounds the policies were trained with. ``on_progress(steps_done)`` is
    called after every chunk.
    """
    config.check()
    if len(dataset) == 0:
        raise DatasetError(f"{dataset.name}: no transitions to fit FQE on")
    low = action_low if action_low is not None else dataset.action_low
    high = action_high if action_high is not None else dataset.action_high
    actions = dataset.actions if low is None else scale_actions(dataset.actions, np.asarray(low), np.asarray(high))

    starts = dataset.episode_starts
    obs_all = np.concatenate([dataset.observations, dataset.next_observations])
    pi_all = policy_actions(policies, obs_all, low, high)  # (K, 2N, A)
    n = len(dataset)
    if pi_all.shape[-1] != dataset.act_dim:
        raise DatasetError(f"{dataset.name}: actions have dimension {dataset.act_dim} but the policy returns "
                           f"{pi_all.shape[-1]}; evaluate it on data from its own environment")
    pi_s, pi_next = pi_all[:, :n], pi_all[:, n:]
    k = pi_all.shape[0]

    mean, std = observation_stats(dataset.observations)
    norm = lambda o: jnp.asarray((o - mean) / std, jnp.float32)  # noqa: E731
    r_max = float(np.max(np.abs(dataset.rewards)))
    reward_unit = r_max if r_max > 0 else 1.0
    # Q_scaled = (1 - gamma) * Q / reward_unit: the regression targets stay within [-1, 1] for any gamma.
    value_scale = reward_unit / (1.0 - config.discount)
    data = {
        "observations": norm(dataset.observations),
        "actions": jnp.asarray(actions, jnp.float32),
        "rewards": jnp.asarray(dataset.rewards * (1.0 - config.discount) / reward_unit, jnp.float32),
        "next_observations": norm(dataset.next_observations),
        "masks": jnp.asarray(1.0 - dataset.terminals.astype(np.float32)),
    }
    # A discounted return lies in [min(r_min, 0), max(r_max, 0)] / (1 - gamma) (0: an episode may end at once);
    # in the critic's units that is [min(r_min, 0), max(r_max, 0)] / reward_unit. Clipping the bootstrapped
    # values to it keeps FQE from diverging on actions the data does not cover (a policy far from the data).
    data["q_low"] = jnp.float32(min(float(dataset.rewards.min()), 0.0) / reward_unit)
    data["q_high"] = jnp.float32(max(float(dataset.rewards.max()), 0.0) / reward_unit)
    next_actions = jnp.asarray(pi_next)

    keys = jax.random.split(jax.random.PRNGKey(seed), k + 1)
    init_keys = jax.random.split(keys[0], k)
    states = jax.jit(jax.vmap(lambda kk: init_fqe(kk, dataset.obs_dim, dataset.act_dim, config)))(init_keys)
    loop_keys = keys[1:]

    fns: dict[int, Callable] = {}
    losses = []
    done = 0
    while done < config.steps:
        m = min(config.chunk, config.steps - done)
        if m not in fns:
            fns[m] = make_fqe_chunk(config, m)
        states, loop_keys, loss = fns[m](states, loop_keys, data, next_actions)
        losses.append(np.asarray(loss))
        done += m
        if on_progress:
            on_progress(done)

    q_fn = _make_q_fn(config)
    params = states["params"]
    init_q = np.asarray(q_fn(params, data["observations"][starts], jnp.asarray(pi_s[:, starts]))) * value_scale
    all_q = np.concatenate([
        np.asarray(q_fn(params, data["observations"][i:i + 65_536], jnp.asarray(pi_s[:, i:i + 65_536])))
        for i in range(0, n, 65_536)], axis=1) * value_scale
    return FQEResult(initial_value=init_q.mean(axis=1), mean_value=all_q.mean(axis=1), initial_values=init_q,
                     loss=np.stack(losses, axis=1), config=config)
