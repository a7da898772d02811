"""Hybrid Natural Policy Gradient, HNPG (Zhou, Sekhari, Song, Sun, "Offline Data Enhanced On-Policy Policy
Gradient with Provable Guarantees", 2023), the practical finite-horizon version (shared/reference/hnpg.md §2).

Every timestep h has its own Gaussian policy pi_h and its own critic Q_h; their parameters are stacked along a
leading axis of size H and applied with ``jax.vmap``. One ``update`` is one iteration of the released code
(``trpo.py:update_params``) on a batch of whole online episodes plus the per-timestep offline buffers:

1. Critic fit, backward over h = H-1..0 (§2.4): a fresh Adam (lr 3e-4), 30 full-batch steps on
   ``mean_on (Q_h(s,a) - R)^2 + lambda * mean_off (Q_h(s,a) - y_off)^2`` with the online Monte-Carlo return R
   and the offline TD target ``y_off = r`` at h = H-1, else ``r + Q_{h+1}(s', a')``, a' ~ pi_{h+1}(s'), one
   sample, through the Q_{h+1} already updated in this pass; m = (online episodes) offline tuples per h, drawn
   with replacement.
2. Advantages with the updated critics (§2.5): GAE(gamma = 1, lambda = 0.97) online, with
   V_h(s) = mean of Q_h(s, a_i) over 10 actions a_i ~ pi_h(s); offline, the dataset action is discarded,
   a ~ pi_h(s) is drawn and A = Q_h(s, a) - V_h(s).
3. One TRPO step per pi_h (§2.6) on the pooled online + offline states: surrogate
   ``-mean(A exp(log pi - log pi_old))``, Fisher-vector products of the mean KL(pi_old || pi) plus damping 0.1,
   10 conjugate-gradient iterations, the step scaled to KL 0.01, backtracking over 1, 1/2, ..., 1/2^9 accepting
   the first fraction whose actual/expected improvement exceeds 0.1 (no KL check after the step, as [C]).

``Config(hybrid=False)`` is the online-only TRPO baseline of §5: the critic sees online MC returns only and the
actor online samples only. Numbers are float32 (the original is float64); conjugate gradient with damping 0.1
converges fine in float32 (tests/agents/test_hnpg.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from hybridrl.agents.base import Batch, Spec
from hybridrl.nets import torch_linear_init

NAME = "hnpg"


@dataclasses.dataclass(frozen=True)
class Config:
    horizon: int = 5  # H; [C] main.py --horizon default 5 (README: 50); the trainer sets it from the env
    hybrid: bool = True  # [C] trpo.py HYBRID=True; False = online-only TRPO (sheet §5)
    policy_hidden: tuple[int, ...] = (16, 16)  # [C] models.py Policy, tanh
    critic_hidden: tuple[int, ...] = (64, 64)  # [C] models.py Q network, tanh
    critic_lr: float = 3e-4  # [C] update_q: Adam lr 3e-4, re-created every iteration
    critic_steps: int = 30  # [C] update_q: 30 full-batch steps
    online_weight: float = 1.0  # lambda: L = mean_off + lambda * mean_on; [C] hard-coded 1, [P] Table 1: 1
    gae_lambda: float = 0.97  # [C] --tau 0.97, [P] Table 1
    value_samples: int = 10  # [C] V_h(s) = mean over 10 actions of Q_h(s, a)
    max_kl: float = 0.01  # [C] --max-kl, [P] Table 1
    damping: float = 0.1  # [C] --damping, [P] Table 1
    cg_iters: int = 10  # [C] trpo_step
    cg_tol: float = 1e-10  # [C] conjugate_gradients residual_tol
    line_search_steps: int = 10  # [C] linesearch max_backtracks
    accept_ratio: float = 0.1  # [C] linesearch accept_ratio
    # gamma is 1 everywhere ([C] overwrites --gamma with 1); critic L2 is 0 ([C] default, [P] Table 1): not options.


class State(flax.struct.PyTreeNode):
    policy_params: Any  # pi_0..pi_{H-1}, every leaf with a leading axis of size H
    critic_params: Any  # Q_0..Q_{H-1}, the same; warm-started across iterations, the optimizer is not kept
    step: jnp.ndarray
    config: Config = flax.struct.field(pytree_node=False)
    spec: Spec = flax.struct.field(pytree_node=False)


# ----------------------------------------------------------------------------------------------------- networks


def _torch_bias(fan_in: int) -> Callable:
    """PyTorch's default nn.Linear bias init, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def _head_init(key, shape, dtype=jnp.float32):
    """[C] models.py: the output layer's PyTorch init, weights times 0.1 (its bias is set to 0)."""
    return 0.1 * torch_linear_init()(key, shape, dtype)


class _TanhMLP(nn.Module):
    hidden: tuple[int, ...]
    out: int

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = jnp.tanh(nn.Dense(width, kernel_init=torch_linear_init(), bias_init=_torch_bias(x.shape[-1]))(x))
        return nn.Dense(self.out, kernel_init=_head_init, bias_init=nn.initializers.zeros)(x)


class GaussianPolicy(nn.Module):
    """pi_h(a|s) = N(mu(s), diag sigma^2): mu a tanh MLP, log sigma a state-independent vector starting at 0.
    No squashing and no clipping [C]."""

    hidden: tuple[int, ...]
    act_dim: int

    @nn.compact
    def __call__(self, obs):
        mean = _TanhMLP(self.hidden, self.act_dim)(obs)
        log_std = self.param("log_std", nn.initializers.zeros, (self.act_dim,))
        return mean, log_std


class QNetwork(nn.Module):
    """Q_h(s, a) on concat(s, a), a tanh MLP with a scalar output."""

    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, obs, act):
        return _TanhMLP(self.hidden, 1)(jnp.concatenate([obs, act], -1))[..., 0]


def _policy(config: Config, spec: Spec) -> GaussianPolicy:
    return GaussianPolicy(config.policy_hidden, spec.act_dim)


def _critic(config: Config) -> QNetwork:
    return QNetwork(config.critic_hidden)


def init(key: jax.Array, spec: Spec, config: Config) -> State:
    """H independent policies and critics (keys split per h), stacked along a leading axis."""
    k_pi, k_q = jax.random.split(key)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.act_dim))
    policy_params = jax.vmap(lambda k: _policy(config, spec).init(k, obs))(jax.random.split(k_pi, config.horizon))
    critic_params = jax.vmap(lambda k: _critic(config).init(k, obs, act))(jax.random.split(k_q, config.horizon))
    return State(policy_params=policy_params, critic_params=critic_params, step=jnp.zeros((), jnp.int32),
                 config=config, spec=spec)


def _at(params: Any, h) -> Any:
    return jax.tree.map(lambda p: p[h], params)


# -------------------------------------------------------------------------------------------- Gaussian pieces


def gaussian_log_prob(mean, log_std, action):
    """log N(a; mu, diag sigma^2), summed over the action dimensions."""
    z = (action - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi), -1)


def gaussian_kl(mean0, log_std0, mean1, log_std1):
    """KL(N(mu0, sigma0^2) || N(mu1, sigma1^2)) summed over dimensions:
    sum log sigma1 - log sigma0 + (sigma0^2 + (mu0 - mu1)^2) / (2 sigma1^2) - 1/2 (pytorch-trpo get_kl)."""
    return jnp.sum(log_std1 - log_std0 + (jnp.exp(2 * log_std0) + (mean0 - mean1) ** 2) / (2 * jnp.exp(2 * log_std1))
                   - 0.5, -1)


def _sample(policy: GaussianPolicy, params, obs, key):
    mean, log_std = policy.apply(params, obs)
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


def value_estimate(policy: GaussianPolicy, critic: QNetwork, policy_params, critic_params, obs, key, samples: int):
    """V_h(s) = (1/n) sum_i Q_h(s, a_i), a_i ~ pi_h(.|s), n = ``samples`` (no V network [C])."""
    actions = jax.vmap(lambda k: _sample(policy, policy_params, obs, k))(jax.random.split(key, samples))
    return jnp.mean(jax.vmap(lambda a: critic.apply(critic_params, obs, a))(actions), 0)


# ------------------------------------------------------------------------------------------- TRPO machinery


def conjugate_gradient(matvec: Callable, b: jnp.ndarray, iters: int = 10, tol: float = 1e-10) -> jnp.ndarray:
    """Approximately solve A x = b for symmetric positive definite A, given only x -> A x, from x = 0.

    At most ``iters`` iterations; stops once the squared residual r^T r falls below ``tol`` (pytorch-trpo's
    ``conjugate_gradients``; checked before each iteration, so b = 0 returns 0 instead of dividing by zero).
    """

    def cond(carry):
        i, _, _, _, rdotr = carry
        return (i < iters) & (rdotr >= tol)

    def body(carry):
        i, x, r, p, rdotr = carry
        ap = matvec(p)
        alpha = rdotr / jnp.vdot(p, ap)
        x, r = x + alpha * p, r - alpha * ap
        new_rdotr = jnp.vdot(r, r)
        p = r + (new_rdotr / rdotr) * p
        return i + 1, x, r, p, new_rdotr

    init_carry = (jnp.zeros((), jnp.int32), jnp.zeros_like(b), b, b, jnp.vdot(b, b))
    return jax.lax.while_loop(cond, body, init_carry)[1]


def fisher_vector_product(kl_fn: Callable, x: jnp.ndarray, v: jnp.ndarray, damping: float) -> jnp.ndarray:
    """F v + damping v, with F = the Hessian at x of kl_fn, a flat-parameter function whose value is the mean
    KL(pi_old || pi_x) with pi_old fixed at x (so F is the Fisher information at x). Forward-over-reverse."""
    return jax.jvp(jax.grad(kl_fn), (x,), (v,))[1] + damping * v


def line_search(f: Callable, x: jnp.ndarray, fullstep: jnp.ndarray, expected_improve_rate: jnp.ndarray,
                steps: int = 10, accept_ratio: float = 0.1) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
    """Backtracking along ``fullstep`` (pytorch-trpo ``linesearch``): try fractions 1, 1/2, ..., 1/2^(steps-1)
    and take the first where the loss decrease ``f(x) - f(x + frac * fullstep)`` is positive and exceeds
    ``accept_ratio * frac * expected_improve_rate``. Returns (x_new, accepted, frac); x if none is accepted.
    All fractions are evaluated at once (vmap); the first acceptable one wins."""
    fractions = 0.5 ** jnp.arange(steps, dtype=x.dtype)
    f0 = f(x)
    actual = f0 - jax.vmap(lambda frac: f(x + frac * fullstep))(fractions)
    ok = (actual > 0) & (actual / (expected_improve_rate * fractions) > accept_ratio)
    accepted = jnp.any(ok)
    frac = jnp.where(accepted, fractions[jnp.argmax(ok)], 0.0)
    return x + frac * fullstep, accepted, frac


def trpo_step(loss_fn: Callable, kl_fn: Callable, x: jnp.ndarray, config: Config) -> tuple[jnp.ndarray, dict]:
    """One TRPO step from flat parameters x: CG direction s ~ F^{-1}(-g), scaled to 0.5 s^T F s = max_kl
    (F with damping), then the backtracking line search with expected improvement rate -g^T (scaled s)."""
    grad = jax.grad(loss_fn)(x)
    fvp = lambda v: fisher_vector_product(kl_fn, x, v, config.damping)
    stepdir = conjugate_gradient(fvp, -grad, config.cg_iters, config.cg_tol)
    shs = 0.5 * jnp.vdot(stepdir, fvp(stepdir))
    fullstep = stepdir / jnp.sqrt(jnp.maximum(shs, 1e-20) / config.max_kl)
    expected = -jnp.vdot(grad, fullstep)
    new_x, accepted, frac = line_search(loss_fn, x, fullstep, expected, config.line_search_steps, config.accept_ratio)
    return new_x, {"accepted": accepted.astype(jnp.float32), "step_fraction": frac, "expected_improve": expected,
                   "actual_improve": loss_fn(x) - loss_fn(new_x), "kl": kl_fn(new_x)}


# --------------------------------------------------------------------------------------------------- critics


def offline_td_target(state: State, h, rewards, next_obs, key, critic_params_next=None):
    """y_off at timestep h: r if h = H-1, else r + Q_{h+1}(s', a') with one a' ~ pi_{h+1}(.|s'). No discount,
    no target network, no done mask [C]. ``critic_params_next`` (default: the state's Q_{h+1}) lets the backward
    pass use the Q_{h+1} it has just fitted."""
    cfg = state.config
    nxt = jnp.minimum(h + 1, cfg.horizon - 1)
    q_next_params = _at(state.critic_params, nxt) if critic_params_next is None else critic_params_next
    a_next = _sample(_policy(cfg, state.spec), _at(state.policy_params, nxt), next_obs, key)
    q_next = _critic(cfg).apply(q_next_params, next_obs, a_next)
    return rewards + jnp.where(h == cfg.horizon - 1, 0.0, q_next)


def critic_loss(q_on, y_on, q_off=None, y_off=None, online_weight: float = 1.0):
    """L(Q_h) = mean_off (Q_h(s,a) - y_off)^2 + lambda * mean_on (Q_h(s,a) - R)^2; without offline terms, the
    online term alone (the TRPO baseline). Returns (loss, online term, offline term)."""
    on = jnp.mean((q_on - y_on) ** 2)
    off = jnp.zeros(()) if q_off is None else jnp.mean((q_off - y_off) ** 2)
    return off + online_weight * on, on, off


def fit_critics(state: State, online: Batch, offline: Batch | None, key: jax.Array) -> tuple[State, dict]:
    """The backward pass of §2.4: h = H-1..0, each Q_h fitted by ``critic_steps`` Adam steps (a fresh optimizer)
    on its online MC returns (``online["returns"]``, shape (E, H)) and, if ``offline`` is given (leaves (H, m, ...)),
    on TD targets through the Q_{h+1} fitted just before it."""
    cfg = state.config
    critic = _critic(cfg)
    tx = optax.adam(cfg.critic_lr)
    hs = jnp.arange(cfg.horizon)
    by_h = lambda x: jnp.swapaxes(x, 0, 1)  # (E, H, ...) -> (H, E, ...)
    xs = {"h": hs, "key": jax.random.split(key, cfg.horizon), "params": state.critic_params,
          "obs": by_h(online["observations"]), "act": by_h(online["actions"]), "ret": by_h(online["returns"])}
    if offline is not None:
        xs["off"] = offline

    def fit_one(q_next, x):
        if offline is not None:
            y_off = offline_td_target(state, x["h"], x["off"]["rewards"], x["off"]["next_observations"], x["key"], q_next)
        else:
            y_off = None

        def loss_fn(params):
            q_on = critic.apply(params, x["obs"], x["act"])
            q_off = None if offline is None else critic.apply(params, x["off"]["observations"], x["off"]["actions"])
            loss, on, off = critic_loss(q_on, x["ret"], q_off, y_off, cfg.online_weight)
            return loss, (on, off)

        def adam_step(carry, _):
            params, opt = carry
            (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, opt = tx.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), aux

        (params, _), (on, off) = jax.lax.scan(adam_step, (x["params"], tx.init(x["params"])), None, cfg.critic_steps)
        return params, (params, on[-1], off[-1])  # [C] logs the losses of the last step

    _, (params, on, off) = jax.lax.scan(fit_one, _at(state.critic_params, cfg.horizon - 1), xs, reverse=True)
    metrics = {"critic_loss_online": jnp.mean(on)}
    if offline is not None:
        metrics["critic_loss_offline"] = jnp.mean(off)
    return state.replace(critic_params=params), metrics


# ---------------------------------------------------------------------------------------------- advantages


def gae(rewards, values, gamma: float = 1.0, lam: float = 0.97):
    """GAE over whole episodes of equal length, (E, H) arrays: delta_t = r_t + gamma V_{t+1} - V_t (V_H = 0),
    A_t = delta_t + gamma lam A_{t+1}; returns (A, R) with R_t = sum_{k>=t} gamma^(k-t) r_k ([C] get_advantage)."""
    next_values = jnp.concatenate([values[:, 1:], jnp.zeros_like(values[:, :1])], 1)
    deltas = rewards + gamma * next_values - values

    def back(carry, x):
        adv, ret = carry
        delta, r = x
        adv, ret = delta + gamma * lam * adv, r + gamma * ret
        return (adv, ret), (adv, ret)

    zeros = jnp.zeros(rewards.shape[0])
    _, (adv, ret) = jax.lax.scan(back, (zeros, zeros), (deltas.T, rewards.T), reverse=True)
    return adv.T, ret.T


def _values(state: State, obs, key):
    """V_h for observations laid out (E, H, d), each column with its own pi_h and Q_h."""
    cfg = state.config
    v = jax.vmap(lambda pp, qp, o, k: value_estimate(_policy(cfg, state.spec), _critic(cfg), pp, qp, o, k,
                                                     cfg.value_samples))
    return v(state.policy_params, state.critic_params, jnp.swapaxes(obs, 0, 1),
             jax.random.split(key, cfg.horizon)).T


def offline_advantages(state: State, obs, key):
    """For offline states (H, m, d): a fresh a ~ pi_h(s) (the dataset action is discarded) and
    A = Q_h(s, a) - V_h(s). Returns (actions, advantages), shapes (H, m, act_dim) and (H, m)."""
    cfg = state.config
    policy, critic = _policy(cfg, state.spec), _critic(cfg)

    def one(pp, qp, o, k):
        k_a, k_v = jax.random.split(k)
        a = _sample(policy, pp, o, k_a)
        return a, critic.apply(qp, o, a) - value_estimate(policy, critic, pp, qp, o, k_v, cfg.value_samples)

    return jax.vmap(one)(state.policy_params, state.critic_params, obs, jax.random.split(key, cfg.horizon))


# ------------------------------------------------------------------------------------------------------ actor


def surrogate_loss(policy: GaussianPolicy, params, obs, actions, advantages, old_log_prob):
    """L(theta) = -mean[A exp(log pi_theta(a|s) - log pi_old(a|s))]."""
    mean, log_std = policy.apply(params, obs)
    return -jnp.mean(advantages * jnp.exp(gaussian_log_prob(mean, log_std, actions) - old_log_prob))


def mean_kl(policy: GaussianPolicy, old_params, params, obs):
    """mean over states of KL(pi_old(.|s) || pi_theta(.|s))."""
    mean0, log_std0 = policy.apply(old_params, obs)
    mean1, log_std1 = policy.apply(params, obs)
    return jnp.mean(gaussian_kl(jax.lax.stop_gradient(mean0), jax.lax.stop_gradient(log_std0), mean1, log_std1))


def actor_step(config: Config, spec: Spec, params, obs, actions, advantages):
    """One TRPO step for one pi_h on its pooled (s, a, A)."""
    policy = _policy(config, spec)
    flat, unravel = ravel_pytree(params)
    mean, log_std = policy.apply(params, obs)
    old_log_prob = jax.lax.stop_gradient(gaussian_log_prob(mean, log_std, actions))
    loss_fn = lambda x: surrogate_loss(policy, unravel(x), obs, actions, advantages, old_log_prob)
    kl_fn = lambda x: mean_kl(policy, params, unravel(x), obs)
    new_flat, info = trpo_step(loss_fn, kl_fn, flat, config)
    return unravel(new_flat), info


# ----------------------------------------------------------------------------------------------------- update


def sample_offline(offline: Batch, m: int, key: jax.Array) -> Batch:
    """m tuples per timestep, uniformly with replacement, from per-h buffers with leaves (H, N_h, ...)."""
    horizon, size = offline["rewards"].shape
    idx = jax.random.randint(key, (horizon, m), 0, size)
    return jax.tree.map(lambda x: jnp.take_along_axis(x, idx.reshape(idx.shape + (1,) * (x.ndim - 2)), 1), offline)


def update(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict[str, jnp.ndarray]]:
    """One HNPG iteration. ``batch`` holds whole online episodes, ``observations`` (E, H, d), ``actions``
    (E, H, act_dim), ``rewards`` (E, H), and for the hybrid agent ``offline``: per-timestep buffers with leaves
    (H, N_h, ...) (observations, actions, rewards, next_observations), from which E tuples per h are drawn."""
    cfg = state.config
    k_off, k_q, k_v, k_adv = jax.random.split(key, 4)
    obs, actions, rewards = batch["observations"], batch["actions"], batch["rewards"]
    num_episodes = rewards.shape[0]
    offline = sample_offline(batch["offline"], num_episodes, k_off) if cfg.hybrid else None

    # 1. MC targets and the critic fit. [C] runs a GAE pass with the old critics here and keeps only its returns,
    # which do not depend on the values: the undiscounted reward-to-go.
    _, returns = gae(rewards, jnp.zeros_like(rewards), 1.0, cfg.gae_lambda)
    state, metrics = fit_critics(state, {"observations": obs, "actions": actions, "returns": returns}, offline, k_q)

    # 2. Advantages with the updated critics.
    adv, _ = gae(rewards, _values(state, obs, k_v), 1.0, cfg.gae_lambda)
    pooled_obs, pooled_act, pooled_adv = jnp.swapaxes(obs, 0, 1), jnp.swapaxes(actions, 0, 1), adv.T  # (H, E, ...)
    if cfg.hybrid:
        off_act, off_adv = offline_advantages(state, offline["observations"], k_adv)
        pooled_obs = jnp.concatenate([pooled_obs, offline["observations"]], 1)
        pooled_act = jnp.concatenate([pooled_act, off_act], 1)
        pooled_adv = jnp.concatenate([pooled_adv, off_adv], 1)
        metrics["offline_advantage_std"] = jnp.mean(jnp.std(off_adv, 1))

    # 3. One TRPO step per timestep, all H at once.
    step = lambda p, o, a, A: actor_step(cfg, state.spec, p, o, a, A)
    policy_params, info = jax.vmap(step)(state.policy_params, pooled_obs, pooled_act, pooled_adv)
    metrics |= {k: jnp.mean(v) for k, v in info.items()}
    metrics["policy_std"] = jnp.mean(jnp.exp(policy_params["params"]["log_std"]))
    metrics["train_return"] = jnp.mean(jnp.sum(rewards, 1))
    metrics["train_success"] = jnp.mean(jnp.sum(rewards, 1) >= 1.0)
    return state.replace(policy_params=policy_params, step=state.step + 1), metrics


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool = False, h=0) -> jnp.ndarray:
    """Actions for observations (B, d) at timestep ``h`` (a scalar, or one per row). Sampled by default: HNPG
    rolls out and evaluates its stochastic policy [C]."""
    policy = _policy(state.config, state.spec)
    if jnp.ndim(h) == 0:
        mean, log_std = policy.apply(_at(state.policy_params, h), obs)
    else:
        means, log_stds = jax.vmap(policy.apply, in_axes=(0, None))(state.policy_params, obs)  # (H, B, K), (H, K)
        mean, log_std = means[h, jnp.arange(obs.shape[0])], log_stds[h]
    if deterministic:
        return mean
    return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)


def offline_buffers(dataset, horizon: int) -> dict[str, jnp.ndarray]:
    """A Dataset of whole H-step episodes as per-timestep buffers, leaves (H, episodes, ...): row i of each
    episode is timestep i [C collect_offline.py: one replay buffer per h]."""
    lengths = dataset.episode_lengths
    if len(dataset) == 0 or np.any(lengths != horizon):
        bad = sorted(set(lengths.tolist()) - {horizon})
        raise ValueError(f"dataset '{dataset.name}': HNPG needs episodes of exactly H={horizon} steps, found "
                         f"lengths {bad[:5]}; generate it with hybridrl.envs.comblock.offline_dataset")
    n = dataset.num_episodes
    fields = ("observations", "actions", "rewards", "next_observations")
    return {f: jnp.asarray(np.swapaxes(getattr(dataset, f).reshape((n, horizon) + getattr(dataset, f).shape[1:]),
                                       0, 1), jnp.float32) for f in fields}
