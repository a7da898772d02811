"""HNPG (shared/reference/hnpg.md section 2): the TRPO pieces, the critic's targets, and hybrid against online-only
TRPO on the continuous combination lock."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from hybridrl.agents import hnpg
from hybridrl.agents.base import Spec


def test_conjugate_gradient_matches_direct_solve():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 6))
    a = jnp.asarray(m @ m.T + 0.5 * np.eye(6), jnp.float32)
    b = jnp.asarray(rng.normal(size=6), jnp.float32)
    x = hnpg.conjugate_gradient(lambda v: a @ v, b, iters=10, tol=1e-10)
    np.testing.assert_allclose(x, jnp.linalg.solve(a, b), rtol=2e-3, atol=2e-4)
    # Fewer iterations than dimensions is not yet the solution; b = 0 gives 0 (no division by zero).
    assert float(jnp.linalg.norm(hnpg.conjugate_gradient(lambda v: a @ v, b, iters=2) - jnp.linalg.solve(a, b))) > 1e-2
    np.testing.assert_array_equal(hnpg.conjugate_gradient(lambda v: a @ v, jnp.zeros(6)), jnp.zeros(6))


def _tiny_policy(num_states=5):
    policy = hnpg.GaussianPolicy((3,), 2)
    params = policy.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
    params = jax.tree.map(lambda p: p + 0.3 * jax.random.normal(jax.random.PRNGKey(1), p.shape), params)  # not 0
    obs = jax.random.normal(jax.random.PRNGKey(2), (num_states, 2))
    return policy, params, obs


def test_fisher_vector_product_is_the_kl_hessian_plus_damping():
    policy, params, obs = _tiny_policy()
    flat, unravel = ravel_pytree(params)
    kl_fn = lambda x: hnpg.mean_kl(policy, params, unravel(x), obs)
    v = jax.random.normal(jax.random.PRNGKey(3), flat.shape)
    hessian = jax.jit(jax.hessian(kl_fn))(flat)
    fvp = jax.jit(lambda x, v: hnpg.fisher_vector_product(kl_fn, x, v, 0.1))(flat, v)
    np.testing.assert_allclose(fvp, hessian @ v + 0.1 * v, rtol=1e-4, atol=1e-5)
    # And the Hessian is the Gaussian's Fisher matrix: mean_s J_mu^T diag(1/sigma^2) J_mu for the mean
    # parameters, 2 per log-std entry, no cross terms.
    zeros = jax.tree.map(jnp.zeros_like, params)
    log_std_idx = ravel_pytree({"params": zeros["params"] | {"log_std": jnp.ones(2)}})[0]
    log_std_idx = np.flatnonzero(np.asarray(log_std_idx))
    jac = jax.jit(jax.jacobian(lambda x: policy.apply(unravel(x), obs)[0]))(flat)  # (5, 2, P)
    inv_var = jnp.exp(-2 * params["params"]["log_std"])
    fisher = np.array(jnp.einsum("sap,a,saq->pq", jac, inv_var, jac) / obs.shape[0])
    assert np.all(fisher[log_std_idx] == 0)
    fisher[np.ix_(log_std_idx, log_std_idx)] = 2.0 * np.eye(2)
    np.testing.assert_allclose(hessian, fisher, rtol=1e-4, atol=1e-5)


def test_line_search_accept_and_reject_rule():
    f = lambda x: jnp.sum((x - 1.0) ** 2)
    # From 0 along 4 with expected rate -g.step = 8: frac 1 -> x=4 worse; 1/2 -> x=2 no decrease (0 is not > 0);
    # 1/4 -> x=1, decrease 1 against expected 8/4 = 2, ratio 0.5 > 0.1: accepted.
    x, accepted, frac = hnpg.line_search(f, jnp.zeros(1), jnp.full(1, 4.0), jnp.asarray(8.0))
    assert bool(accepted) and float(frac) == 0.25 and float(x[0]) == 1.0
    g = lambda x: -jnp.sum(x)
    # ratio = frac / (20 frac) = 0.05 <= 0.1 at every fraction: rejected, the old point is kept.
    x, accepted, frac = hnpg.line_search(g, jnp.zeros(1), jnp.ones(1), jnp.asarray(20.0))
    assert not bool(accepted) and float(frac) == 0.0 and float(x[0]) == 0.0
    # ratio 1/5 = 0.2 > 0.1: the full step.
    x, accepted, frac = hnpg.line_search(g, jnp.zeros(1), jnp.ones(1), jnp.asarray(5.0))
    assert bool(accepted) and float(frac) == 1.0
    # Only 3 fractions allowed: 1, 1/2, 1/4; with f's case above 1/4 is still reached, with 2 it is not.
    assert bool(hnpg.line_search(f, jnp.zeros(1), jnp.full(1, 4.0), jnp.asarray(8.0), steps=3)[1])
    assert not bool(hnpg.line_search(f, jnp.zeros(1), jnp.full(1, 4.0), jnp.asarray(8.0), steps=2)[1])


def test_trpo_step_scales_to_max_kl():
    # A linear-Gaussian policy (no hidden layer): the KL is quadratic in the mean's parameters, so with almost no
    # damping the step scaled to 0.5 s^T F s = max_kl moves the true KL to about max_kl * fraction^2.
    policy = hnpg.GaussianPolicy((), 2)
    params = policy.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)))
    obs = jax.random.normal(jax.random.PRNGKey(2), (60, 3))
    actions = jax.random.normal(jax.random.PRNGKey(4), (60, 2))
    adv = jax.random.normal(jax.random.PRNGKey(5), (60,))
    cfg = hnpg.Config(policy_hidden=(), max_kl=0.01, damping=1e-5, cg_iters=20)
    new_params, info = hnpg.actor_step(cfg, Spec(3, 2), params, obs, actions, adv)
    assert float(info["accepted"]) == 1.0 and float(info["actual_improve"]) > 0
    assert float(info["kl"]) == pytest.approx(0.01 * float(info["step_fraction"]) ** 2, rel=0.1)
    assert float(hnpg.mean_kl(policy, params, new_params, obs)) == pytest.approx(float(info["kl"]), rel=1e-4)


def test_critic_loss_and_gae_by_hand():
    loss, on, off = hnpg.critic_loss(jnp.array([1.0, 0.0]), jnp.array([0.0, 0.0]), jnp.array([2.0]), jnp.array([0.0]),
                                     online_weight=1.0)
    assert (float(on), float(off), float(loss)) == (0.5, 4.0, 4.5)
    assert float(hnpg.critic_loss(jnp.array([1.0, 0.0]), jnp.zeros(2))[0]) == 0.5  # online only
    adv, ret = hnpg.gae(jnp.array([[0.0, 0.0, 1.0]]), jnp.array([[0.2, 0.5, 0.7]]), 1.0, 0.97)
    # delta = (0 + .5 - .2, 0 + .7 - .5, 1 - .7) = (.3, .2, .3); A2 = .3, A1 = .2 + .97 * .3, A0 = .3 + .97 A1
    np.testing.assert_allclose(adv, [[0.3 + 0.97 * (0.2 + 0.97 * 0.3), 0.2 + 0.97 * 0.3, 0.3]], rtol=1e-6)
    np.testing.assert_allclose(ret, [[1.0, 1.0, 1.0]])


_init = jax.jit(hnpg.init, static_argnums=(1, 2))


def _state(horizon=3, obs_dim=4, act_dim=10):
    return _init(jax.random.PRNGKey(0), Spec(obs_dim, act_dim), hnpg.Config(horizon=horizon))


def test_offline_td_target_is_r_at_the_last_step_else_r_plus_q_next():
    state = _state()
    # A near-deterministic pi (sigma = e^-30) so that a' = mu_{h+1}(s'); the sampled case is the same formula.
    params = state.policy_params
    state = state.replace(policy_params=params | {"params": params["params"] | {
        "log_std": jnp.full_like(params["params"]["log_std"], -30.0)}})
    r = jnp.array([0.0, 0.1, 1.0])
    nxt = jax.random.normal(jax.random.PRNGKey(5), (3, 4))
    policy, critic = hnpg.GaussianPolicy((16, 16), 10), hnpg.QNetwork((64, 64))
    at = lambda tree, h: jax.tree.map(lambda p: p[h], tree)
    key = jax.random.PRNGKey(6)
    target = jax.jit(hnpg.offline_td_target)
    np.testing.assert_array_equal(target(state, 2, r, nxt, key), r)

    @jax.jit
    def by_hand(state, h, q_index):
        a_next = policy.apply(at(state.policy_params, h + 1), nxt)[0]
        return r + critic.apply(at(state.critic_params, q_index), nxt, a_next)

    for h in (0, 1):
        got = target(state, h, r, nxt, key)
        np.testing.assert_allclose(got, by_hand(state, h, h + 1), rtol=1e-5)
        assert not np.allclose(got, by_hand(state, h, h), rtol=1e-3)  # Q_h instead of Q_{h+1} differs


def test_per_timestep_networks_and_act():
    state = _state(horizon=3)
    assert state.policy_params["params"]["log_std"].shape == (3, 10)
    kernels = [p for p in jax.tree.leaves(state.policy_params) if p.ndim == 3]
    assert {k.shape[1:] for k in kernels} == {(4, 16), (16, 16), (16, 10)}
    assert not np.allclose(kernels[0][0], kernels[0][1])  # every h has its own initialisation
    obs = jax.random.normal(jax.random.PRNGKey(1), (6, 4))
    mean_h = [hnpg.act(state, obs, None, True, h) for h in range(3)]
    per_row = hnpg.act(state, obs, None, True, jnp.array([0, 1, 2, 0, 1, 2]))
    np.testing.assert_allclose(per_row, jnp.stack([mean_h[i % 3][i] for i in range(6)]), rtol=1e-5, atol=1e-7)
    sampled = hnpg.act(state, jnp.zeros((20_000, 4)), jax.random.PRNGKey(2), False, 1)
    assert float(jnp.std(sampled)) == pytest.approx(1.0, abs=0.02)  # std starts at 1, no squashing


def test_online_only_update_ignores_offline_data():
    state = _init(jax.random.PRNGKey(0), Spec(4, 10), hnpg.Config(horizon=2, hybrid=False))
    batch = {"observations": jax.random.normal(jax.random.PRNGKey(1), (8, 2, 4)),
             "actions": jax.random.normal(jax.random.PRNGKey(2), (8, 2, 10)),
             "rewards": jnp.zeros((8, 2)).at[:3, 1].set(1.0)}
    new, metrics = jax.jit(hnpg.update)(state, batch, jax.random.PRNGKey(3))
    assert "critic_loss_offline" not in metrics and float(metrics["train_success"]) == 3 / 8
    assert int(new.step) == 1


def test_hybrid_beats_online_only_trpo_on_the_lock(tmp_path):
    """H = 4, 40 iterations of 1000 online steps (40,000 steps), seed 0, lock_seed 0, 5000 offline episodes:
    measured final success over 100 stochastic episodes, hybrid 0.8-0.97 across seeds 0-2, online-only 0.0."""
    from hybridrl.envs.comblock import CombinationLockEnv, offline_dataset
    from hybridrl.train.onpolicy import HNPGRunConfig, train_hnpg

    H, iterations = 4, 40
    data = offline_dataset(CombinationLockEnv(H, lock_seed=0), 5000, seed=0)
    success = {}
    for hybrid in (True, False):
        cfg = HNPGRunConfig(horizon=H, iterations=iterations, eval_every=iterations, eval_episodes=100,
                            checkpoint_every=iterations, seed=0, agent={"hybrid": hybrid})
        train_hnpg(cfg, tmp_path / str(hybrid), data if hybrid else None, progress=False)
        summary = json.loads((tmp_path / str(hybrid) / "summary.json").read_text())
        assert summary["env_steps"] == iterations * 1000
        success[hybrid] = summary["final_success_rate"][0]
    print(f"H={H}, {iterations * 1000} online steps, seed 0: final success rate {success}")
    assert success[True] > 0.5 and success[False] < 0.1, success
