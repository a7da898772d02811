"""Cal-QL (Nakamoto et al., "Cal-QL: Calibrated Offline RL Pre-Training for Efficient Online Fine-Tuning", 2023),
and plain CQL (Kumar et al., "Conservative Q-Learning for Offline Reinforcement Learning", 2020) with
``use_calql=False``.

A SAC backbone (tanh-Gaussian actor, twin critics, automatic temperature) whose critics also minimise the
CQL(H) regulariser: a logsumexp over Q at 10 uniform actions, 10 actions of pi(.|s) and 10 of pi(.|s'), all
evaluated at s and importance-weighted by their densities, minus Q at the dataset action. Cal-QL lower-bounds
the two policy-action terms by the Monte-Carlo return-to-go G(s, a) of the sampled transition before the
logsumexp, so the critic is pushed down no further than the behaviour policy's value. Batches carry that
return in "mc_returns" (``NEEDS_MC_RETURNS``).

The code follows the official Cal-QL (nakamotoo/Cal-QL @ ac6eafe, ``JaxCQL/conservative_sac.py``, built on
JaxCQL): every loss is computed from the same pre-update parameters and all modules are stepped together;
no entropy term in the backup; the Lagrange multiplier starts at e^1 and multiplies the CQL weight
(shared/reference/finetune.md sections 4 and 5a).

Official Cal-QL covers only antmaze and adroit. The defaults below are a locomotion setting: JaxCQL's CQL
defaults (weight 5, no Lagrange, max-target backup off, 256-256 networks; section 4b), which are also
official CQL's MuJoCo choice (weight 5, no Lagrange; 4a) and WSRL's locomotion CQL pre-training (weight 5,
256-256, no reward transform; 4d, 8), with Cal-QL's learning rates and network details (5a).
For antmaze use ``cql_lagrange=true cql_max_target_backup=true`` (gap 0.8) and the 10r - 5 reward
convention, which this library's ``reward_scaling`` does not offer yet.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from hybridrl.agents import sac
from hybridrl.agents.base import Batch, Spec, apply_grads, soft_update
from hybridrl.nets import MLP, Ensemble, tanh_gaussian_sample
from hybridrl.nets.mlp import orthogonal_init

NAME = "calql"
NEEDS_MC_RETURNS = True  # batches carry "mc_returns"; read only when use_calql
# `hybridrl finetune calql` defaults, as in the official Cal-QL (shared/reference/finetune.md section 5a): 1M offline
# updates (antmaze), then every update on 50/50 offline/online rows with the CQL term (and calibration) kept on.
FINETUNE = {"offline_steps": 1_000_000, "mix": "0.5", "start_steps": 0, "warmup_steps": 0}


@dataclasses.dataclass(frozen=True)
class Config:
    hidden_dims: tuple[int, ...] = (256, 256)  # JaxCQL default policy_arch = qf_arch = '256-256'; WSRL locomotion
    actor_lr: float = 1e-4  # Cal-QL policy_lr
    critic_lr: float = 3e-4  # Cal-QL qf_lr
    temperature_lr: float = 1e-4  # Cal-QL: log alpha uses the policy LR
    batch_size: int = 256  # Cal-QL
    discount: float = 0.99  # Cal-QL
    tau: float = 5e-3  # Cal-QL soft_target_update_rate, every step
    init_temperature: float = 1.0  # Cal-QL: log alpha starts at 0
    target_entropy: float | None = None  # None: -|A| (Cal-QL maps its default 0.0 to -|A|)
    log_std_multiplier: float = 1.0  # Cal-QL policy_log_std_multiplier (a trainable scalar, this is its start)
    log_std_offset: float = -1.0  # Cal-QL policy_log_std_offset (trainable, this is its start)
    cql_weight: float = 5.0  # Cal-QL/JaxCQL cql_min_q_weight; official CQL MuJoCo 5 or 10; WSRL locomotion 5
    cql_n_actions: int = 10  # Cal-QL cql_n_actions: 10 random, 10 pi(.|s), 10 pi(.|s')
    cql_importance_sample: bool = True  # Cal-QL
    cql_temperature: float = 1.0  # Cal-QL cql_temp
    cql_lagrange: bool = False  # JaxCQL default and locomotion; Cal-QL antmaze: True
    cql_target_action_gap: float = 0.8  # Cal-QL antmaze (the only official Cal-QL setting with the Lagrange on)
    cql_max_target_backup: bool = False  # JaxCQL/official CQL default; Cal-QL antmaze and adroit scripts: True
    cql_clip_diff_min: float | None = None  # Cal-QL: -inf (no clip); CORL antmaze -200
    cql_clip_diff_max: float | None = None  # Cal-QL: +inf (no clip)
    use_calql: bool = True  # False: plain CQL
    normalize_observations: bool = False  # Cal-QL and JaxCQL: raw observations
    reward_scaling: str = "none"  # CQL and WSRL locomotion: raw rewards


class State(flax.struct.PyTreeNode):
    actor_params: Any
    critic_params: Any
    critic_target: Any
    log_temperature: jnp.ndarray
    log_alpha_prime: jnp.ndarray  # the CQL Lagrange multiplier's log; trained only with cql_lagrange
    actor_opt: Any
    critic_opt: Any
    temperature_opt: Any
    alpha_prime_opt: Any
    step: jnp.ndarray
    config: Config = flax.struct.field(pytree_node=False)
    spec: Spec = flax.struct.field(pytree_node=False)


class Actor(nn.Module):
    """JaxCQL's tanh-Gaussian policy: one MLP outputs (mean, raw log-std); log_std = m * raw + o with trainable
    scalars m, o, clipped to [-20, 2]. Orthogonal init, gain sqrt(2) on hidden layers, 1e-2 on the output."""

    hidden_dims: tuple[int, ...]
    action_dim: int
    log_std_multiplier: float = 1.0
    log_std_offset: float = -1.0

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        out = MLP(self.hidden_dims, 2 * self.action_dim, kernel_init=orthogonal_init(),
                  output_kernel_init=orthogonal_init(1e-2))(obs)
        mean, raw = jnp.split(out, 2, axis=-1)
        m = self.param("log_std_multiplier", nn.initializers.constant(self.log_std_multiplier), ())
        o = self.param("log_std_offset", nn.initializers.constant(self.log_std_offset), ())
        return mean, jnp.clip(m * raw + o, -20.0, 2.0)


class QNet(nn.Module):
    """Q(s, a) -> scalar; JaxCQL's orthogonal init (gain sqrt(2) hidden, 1e-2 output, zero bias)."""

    hidden_dims: tuple[int, ...]

    @nn.compact
    def __call__(self, obs: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        x = jnp.concatenate([obs, action], axis=-1)
        q = MLP(self.hidden_dims, 1, kernel_init=orthogonal_init(), output_kernel_init=orthogonal_init(1e-2))(x)
        return q[..., 0]


def _actor(config: Config, spec: Spec) -> Actor:
    return Actor(config.hidden_dims, spec.act_dim, config.log_std_multiplier, config.log_std_offset)


def _critics(config: Config) -> nn.Module:
    return Ensemble(QNet, 2)(config.hidden_dims)


def validate(config: Config) -> None:
    if config.cql_n_actions < 1:
        raise ValueError(f"cql_n_actions must be at least 1, got {config.cql_n_actions}")
    if config.cql_weight < 0:
        raise ValueError(f"cql_weight must be 0 or more, got {config.cql_weight}")


def init(key: jax.Array, spec: Spec, config: Config) -> State:
    validate(config)
    k_actor, k_critic = jax.random.split(key)
    obs, act = jnp.zeros((1, spec.obs_dim)), jnp.zeros((1, spec.act_dim))
    actor_params = _actor(config, spec).init(k_actor, obs)
    critic_params = _critics(config).init(k_critic, obs, act)
    log_temperature = jnp.log(jnp.asarray(config.init_temperature, jnp.float32))
    log_alpha_prime = jnp.asarray(1.0, jnp.float32)  # JaxCQL Scalar(1.0): alpha' starts at e
    return State(
        actor_params=actor_params,
        critic_params=critic_params,
        critic_target=jax.tree.map(jnp.copy, critic_params),
        log_temperature=log_temperature,
        log_alpha_prime=log_alpha_prime,
        actor_opt=optax.adam(config.actor_lr).init(actor_params),
        critic_opt=optax.adam(config.critic_lr).init(critic_params),
        temperature_opt=optax.adam(config.temperature_lr).init(log_temperature),
        alpha_prime_opt=optax.adam(config.critic_lr).init(log_alpha_prime),  # JaxCQL: at the Q learning rate
        step=jnp.zeros((), jnp.int32),
        config=config,
        spec=spec,
    )


# ----------------------------------------------------------------------------------------------------- losses


def td_target(rewards, masks, discount: float, next_q: jnp.ndarray) -> jnp.ndarray:
    """y = r + gamma * mask * V(s'), no entropy term (CQL, Cal-QL and WSRL never back it up).

    next_q (m, B): Q_i_targ(s', a'), a' ~ pi(s'); V = min_i. next_q (m, B, n), the max-target backup with n
    samples a'_j ~ pi(s'): V = max_j min_i Q_i_targ(s', a'_j).
    """
    v = jnp.min(next_q, axis=0)
    if next_q.ndim == 3:
        v = jnp.max(v, axis=-1)
    return rewards + discount * masks * v


def calibrate(q_policy: jnp.ndarray, mc_returns: jnp.ndarray) -> jnp.ndarray:
    """Cal-QL's bound: max(Q(s, a_j), G(s, a)) for policy actions a_j; q_policy (..., B, n), G (B,)."""
    return jnp.maximum(q_policy, mc_returns[:, None])


def cql_logsumexp(q_rand, q_next, q_curr, log_pi_next, log_pi_curr, q_data, act_dim: int,
                  temperature: float, importance_sample: bool) -> jnp.ndarray:
    """The soft maximum over sampled actions, per critic and state, shape (..., B) from q_* of shape (..., B, n).

    Importance sampled (CQL(H), JaxCQL): T * log sum_j exp(x_j / T) over the 3n values
        x = [Q(s, a_rand) - log(0.5^d), Q(s, a ~ pi(s')) - log pi(a|s'), Q(s, a ~ pi(s)) - log pi(a|s)];
    the dataset Q is not inside. Without importance sampling (CQL(rho), JaxCQL's order): over
    [Q(s, a_rand), Q(s, a_data), Q(s, a ~ pi(s')), Q(s, a ~ pi(s))] with no density terms.
    """
    if importance_sample:
        log_uniform = act_dim * jnp.log(0.5)
        x = jnp.concatenate([q_rand - log_uniform, q_next - log_pi_next, q_curr - log_pi_curr], axis=-1)
    else:
        x = jnp.concatenate([q_rand, q_data[..., None], q_next, q_curr], axis=-1)
    return jax.scipy.special.logsumexp(x / temperature, axis=-1) * temperature


def cql_gap(ood: jnp.ndarray, q_data: jnp.ndarray, clip_min: float | None, clip_max: float | None) -> jnp.ndarray:
    """Delta_i = mean_B clip(logsumexp_i(s) - Q_i(s, a_data)), per critic: shape (m,) from (m, B)."""
    lo = -jnp.inf if clip_min is None else clip_min
    hi = jnp.inf if clip_max is None else clip_max
    return jnp.mean(jnp.clip(ood - q_data, lo, hi), axis=-1)


def cql_penalty(gap: jnp.ndarray, weight: float, alpha_prime, target_gap: float, lagrange: bool) -> jnp.ndarray:
    """Per critic: w * Delta_i, or with the Lagrange multiplier alpha' * w * (Delta_i - tau) (JaxCQL)."""
    if lagrange:
        return alpha_prime * weight * (gap - target_gap)
    return weight * gap


def alpha_prime(log_alpha_prime: jnp.ndarray) -> jnp.ndarray:
    """alpha' = clip(exp(log alpha'), 0, 1e6) (JaxCQL)."""
    return jnp.clip(jnp.exp(log_alpha_prime), 0.0, 1e6)


def lagrange_loss(log_alpha_prime: jnp.ndarray, gap: jnp.ndarray, weight: float, target_gap: float) -> jnp.ndarray:
    """L(alpha') = -mean_i alpha' * w * (Delta_i - tau), Delta held fixed: alpha' grows while Delta > tau (JaxCQL's
    -(term1 + term2) / 2 for two critics)."""
    return -jnp.mean(alpha_prime(log_alpha_prime) * weight * (jax.lax.stop_gradient(gap) - target_gap))


def critic_loss(q: jnp.ndarray, target: jnp.ndarray, penalty: jnp.ndarray) -> jnp.ndarray:
    """sum_i [mean_B (Q_i(s, a) - y)^2 + penalty_i]; q (m, B). JaxCQL sums the critics' separate losses."""
    return jnp.sum(jnp.mean((q - target[None]) ** 2, axis=-1) + penalty)


def temperature_loss(log_temperature: jnp.ndarray, log_prob: jnp.ndarray, target: float) -> jnp.ndarray:
    """JaxCQL: -log(alpha) * mean(log pi(a|s) + target), a ~ pi(s); descent lowers alpha while the entropy
    -mean log pi is above the target."""
    return -log_temperature * (jnp.mean(jax.lax.stop_gradient(log_prob)) + target)


# -------------------------------------------------------------------- sampled actions (shared with wsrl.py)


def sample_actions(actor: nn.Module, params: Any, obs: jnp.ndarray, key: jax.Array, n: int):
    """n actions a_j ~ pi(.|s) per state and their log-densities: shapes (B, n, A) and (B, n)."""
    mean, log_std = actor.apply(params, obs)
    shape = mean.shape[:-1] + (n, mean.shape[-1])
    return tanh_gaussian_sample(jnp.broadcast_to(mean[..., None, :], shape),
                                jnp.broadcast_to(log_std[..., None, :], shape), key)


def q_at(critics: nn.Module, params: Any, obs: jnp.ndarray, actions: jnp.ndarray) -> jnp.ndarray:
    """Q_i(s, a_j) for n actions per state: obs (B, D), actions (B, n, A) -> (m, B, n)."""
    return critics.apply(params, jnp.broadcast_to(obs[:, None], actions.shape[:2] + obs.shape[-1:]), actions)


def cql_samples(actor: nn.Module, actor_params: Any, batch: Batch, key: jax.Array, n: int) -> dict:
    """The CQL action sets, drawn with the policy held fixed: n uniform actions in [-1, 1]^d, n of pi(.|s) and
    n of pi(.|s') with their log-densities."""
    k_rand, k_curr, k_next = jax.random.split(key, 3)
    obs = batch["observations"]
    a_curr, log_pi_curr = sample_actions(actor, actor_params, obs, k_curr, n)
    a_next, log_pi_next = sample_actions(actor, actor_params, batch["next_observations"], k_next, n)
    a_rand = jax.random.uniform(k_rand, a_curr.shape, minval=-1.0, maxval=1.0)
    return {"rand": a_rand, "curr": a_curr, "next": a_next,
            "log_pi_curr": jax.lax.stop_gradient(log_pi_curr), "log_pi_next": jax.lax.stop_gradient(log_pi_next)}


def conservative_gap(q_fn: Callable, q_data: jnp.ndarray, samples: dict, mc_returns, config: Any) -> jnp.ndarray:
    """Delta_i per critic, from ``q_fn(actions (B, n, A)) -> (m, B, n)`` at the batch's states. With
    ``config.use_calql`` the policy-action values are first bounded by G (random actions are not: Cal-QL and
    WSRL's ``calql_bound_random_actions`` = False)."""
    q_rand, q_curr, q_next = q_fn(samples["rand"]), q_fn(samples["curr"]), q_fn(samples["next"])
    if config.use_calql:
        q_curr, q_next = calibrate(q_curr, mc_returns), calibrate(q_next, mc_returns)
    ood = cql_logsumexp(q_rand, q_next, q_curr, samples["log_pi_next"], samples["log_pi_curr"], q_data,
                        samples["rand"].shape[-1], config.cql_temperature, config.cql_importance_sample)
    return cql_gap(ood, q_data, config.cql_clip_diff_min, config.cql_clip_diff_max)


# ----------------------------------------------------------------------------------------------------- update


def update(state: State, batch: Batch, key: jax.Array) -> tuple[State, dict[str, jnp.ndarray]]:
    """One Cal-QL (or CQL) step: critics, actor, temperature (and the Lagrange multiplier) from the same
    pre-update parameters, then a Polyak step of the target critics."""
    cfg, spec = state.config, state.spec
    actor, critics = _actor(cfg, spec), _critics(cfg)
    obs, actions = batch["observations"], batch["actions"]
    k_target, k_cql, k_pi = jax.random.split(key, 3)
    temperature = jnp.exp(state.log_temperature)

    # Target: a' ~ pi(s') (or n of them for the max-target backup) against the target critics.
    if cfg.cql_max_target_backup:
        next_actions, _ = sample_actions(actor, state.actor_params, batch["next_observations"], k_target,
                                         cfg.cql_n_actions)
        next_q = q_at(critics, state.critic_target, batch["next_observations"], next_actions)
    else:
        next_actions, _ = tanh_gaussian_sample(*actor.apply(state.actor_params, batch["next_observations"]), k_target)
        next_q = critics.apply(state.critic_target, batch["next_observations"], next_actions)
    y = jax.lax.stop_gradient(td_target(batch["rewards"], batch["masks"], cfg.discount, next_q))

    samples = cql_samples(actor, state.actor_params, batch, k_cql, cfg.cql_n_actions)
    mc_returns = batch["mc_returns"] if cfg.use_calql else None
    a_prime = alpha_prime(state.log_alpha_prime)

    def critic_loss_fn(params):
        q = critics.apply(params, obs, actions)
        gap = conservative_gap(lambda a: q_at(critics, params, obs, a), q, samples, mc_returns, cfg)
        penalty = cql_penalty(gap, cfg.cql_weight, a_prime, cfg.cql_target_action_gap, cfg.cql_lagrange)
        return critic_loss(q, y, penalty), (q, gap)

    (c_loss, (q, gap)), c_grads = jax.value_and_grad(critic_loss_fn, has_aux=True)(state.critic_params)

    def actor_loss_fn(params):
        new_actions, log_prob = tanh_gaussian_sample(*actor.apply(params, obs), k_pi)
        q = critics.apply(state.critic_params, obs, new_actions)
        return sac.actor_loss(q, log_prob, temperature, "min"), log_prob

    (a_loss, log_prob), a_grads = jax.value_and_grad(actor_loss_fn, has_aux=True)(state.actor_params)
    t_loss, t_grad = jax.value_and_grad(temperature_loss)(state.log_temperature, log_prob,
                                                          sac.target_entropy(cfg, spec))

    critic_params, critic_opt = apply_grads(state.critic_params, state.critic_opt, c_grads, optax.adam(cfg.critic_lr))
    actor_params, actor_opt = apply_grads(state.actor_params, state.actor_opt, a_grads, optax.adam(cfg.actor_lr))
    log_temperature, temperature_opt = apply_grads(state.log_temperature, state.temperature_opt, t_grad,
                                                   optax.adam(cfg.temperature_lr))
    metrics = {"critic_loss": c_loss, "q_data": jnp.mean(q), "cql_gap": jnp.mean(gap), "actor_loss": a_loss,
               "temperature": temperature, "temperature_loss": t_loss, "entropy": -jnp.mean(log_prob)}
    log_alpha_prime, alpha_prime_opt = state.log_alpha_prime, state.alpha_prime_opt
    if cfg.cql_lagrange:
        l_loss, l_grad = jax.value_and_grad(lagrange_loss)(state.log_alpha_prime, gap, cfg.cql_weight,
                                                            cfg.cql_target_action_gap)
        log_alpha_prime, alpha_prime_opt = apply_grads(log_alpha_prime, alpha_prime_opt, l_grad,
                                                       optax.adam(cfg.critic_lr))
        metrics |= {"alpha_prime": a_prime, "lagrange_loss": l_loss}

    state = state.replace(
        actor_params=actor_params, actor_opt=actor_opt,
        critic_params=critic_params, critic_opt=critic_opt,
        critic_target=soft_update(state.critic_target, critic_params, cfg.tau),
        log_temperature=log_temperature, temperature_opt=temperature_opt,
        log_alpha_prime=log_alpha_prime, alpha_prime_opt=alpha_prime_opt,
        step=state.step + 1,
    )
    return state, metrics


def act(state: State, obs: jnp.ndarray, key: jax.Array, deterministic: bool = True) -> jnp.ndarray:
    mean, log_std = _actor(state.config, state.spec).apply(state.actor_params, obs)
    if deterministic:
        return jnp.tanh(mean)
    return tanh_gaussian_sample(mean, log_std, key)[0]
