"""SAC: losses against hand-computed values, the squashed Gaussian's density, the UTD update, learning."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrl.agents import Spec, sac
from hybridrl.nets import tanh_gaussian_sample


def test_soft_td_target_with_and_without_entropy_backup():
    # subset min: [1, 2]; entropy term: alpha * log pi = 0.5 * [-2, 4] = [-1, 2]
    # with backup: y = [1 + 0.9 * 1 * (1 + 1), 0 + 0.9 * 0 * (2 - 2)] = [2.8, 0]
    next_q = jnp.array([[1.0, 3.0], [2.0, 2.0]])
    args = (jnp.array([1.0, 0.0]), jnp.array([1.0, 0.0]), 0.9, next_q, jnp.array([-2.0, 4.0]), 0.5)
    np.testing.assert_allclose(sac.soft_td_target(*args, backup_entropy=True), [2.8, 0.0], rtol=1e-6)
    # without: y = [1 + 0.9 * 1, 0] = [1.9, 0]
    np.testing.assert_allclose(sac.soft_td_target(*args, backup_entropy=False), [1.9, 0.0], rtol=1e-6)


def test_critic_loss_is_mean_over_members_and_batch():
    # errors (0, 1, 2, 3) -> squares (0, 1, 4, 9) -> mean 3.5
    q = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    assert float(sac.critic_loss(q, jnp.array([1.0, 1.0]))) == pytest.approx(3.5)


def test_actor_loss_min_and_mean():
    q = jnp.array([[1.0, 4.0], [3.0, 2.0]])
    log_prob = jnp.array([-1.0, 1.0])
    # min: Q = [1, 2]; mean(0.5 * [-1, 1] - [1, 2]) = mean([-1.5, -1.5]) = -1.5
    assert float(sac.actor_loss(q, log_prob, 0.5, "min")) == pytest.approx(-1.5)
    # mean: Q = [2, 3]; mean([-2.5, -2.5]) = -2.5
    assert float(sac.actor_loss(q, log_prob, 0.5, "mean")) == pytest.approx(-2.5)


def test_temperature_loss_and_gradient_direction():
    # alpha = 2; entropy = -mean([-1, -3]) = 2; target -1 -> loss 2 * (2 + 1) = 6
    log_t = jnp.log(2.0)
    log_prob = jnp.array([-1.0, -3.0])
    assert float(sac.temperature_loss(log_t, log_prob, -1.0)) == pytest.approx(6.0, rel=1e-6)
    # entropy above target: the gradient is positive, so gradient descent lowers alpha
    assert float(jax.grad(sac.temperature_loss)(log_t, log_prob, -1.0)) == pytest.approx(6.0, rel=1e-6)


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    mean, log_std = jnp.array([[0.3, -0.2]]), jnp.array([[-0.5, 0.1]])
    key = jax.random.PRNGKey(3)
    action, log_prob = tanh_gaussian_sample(mean, log_std, key)
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    np.testing.assert_allclose(action, np.tanh(u), rtol=1e-6)
    std = np.exp(np.asarray(log_std))
    normal = np.exp(-0.5 * ((np.asarray(u) - np.asarray(mean)) / std) ** 2) / (std * np.sqrt(2 * np.pi))
    expected = np.sum(np.log(normal) - np.log(1 - np.tanh(np.asarray(u)) ** 2))
    assert float(log_prob[0]) == pytest.approx(expected, rel=1e-5)


def test_update_runs_utd_critic_steps_and_one_actor_step():
    config = sac.Config(hidden_dims=(8,), utd=3, num_critics=4, num_min=2, critic_layer_norm=True, actor_q="mean")
    spec = Spec(obs_dim=3, act_dim=2)
    state = sac.init(jax.random.PRNGKey(0), spec, config)
    n = sac.samples_per_update(config)
    assert n == 3 * 256
    rng = np.random.default_rng(0)
    batch = {"observations": rng.normal(size=(n, 3)), "actions": rng.uniform(-1, 1, (n, 2)),
             "rewards": rng.normal(size=n), "next_observations": rng.normal(size=(n, 3)), "masks": np.ones(n)}
    batch = {k: jnp.asarray(v, jnp.float32) for k, v in batch.items()}
    new, metrics = jax.jit(sac.update)(state, batch, jax.random.PRNGKey(1))
    assert int(new.step) == 1
    assert new.critic_opt[0].count == 3 and new.actor_opt[0].count == 1 and new.temperature_opt[0].count == 1
    assert jax.tree.leaves(new.critic_params)[0].shape[0] == 4
    assert all(np.isfinite(float(v)) for v in metrics.values())
    # the target network moved toward the critics
    first = jax.tree.leaves(state.critic_target)[0]
    assert not np.allclose(jax.tree.leaves(new.critic_target)[0], first)


def test_target_evaluates_only_the_subset_and_matches_the_whole_ensemble_then_picked():
    """RLPD's target: the critic step evaluates only the num_min target critics it draws; the loss equals the one
    from evaluating all of them and keeping the same draw."""
    config = sac.Config(hidden_dims=(8,), num_critics=5, num_min=2, critic_layer_norm=True)
    spec = Spec(obs_dim=3, act_dim=2)
    state = sac.init(jax.random.PRNGKey(0), spec, config)
    state = state.replace(critic_target=jax.tree.map(lambda p: p + 0.1 * jnp.arange(5.0).reshape((5,) + (1,) * (p.ndim - 1)),
                                                     state.critic_target))  # members differ, so the draw matters
    rng = np.random.default_rng(0)
    batch = {"observations": rng.normal(size=(16, 3)), "actions": rng.uniform(-1, 1, (16, 2)),
             "rewards": rng.normal(size=16), "next_observations": rng.normal(size=(16, 3)), "masks": np.ones(16)}
    batch = {k: jnp.asarray(v, jnp.float32) for k, v in batch.items()}
    key = jax.random.PRNGKey(7)
    _, metrics = sac._critic_step(state, batch, key)

    k_pi, k_subset = jax.random.split(key)
    next_action, next_log_prob = tanh_gaussian_sample(*sac._actor(config, spec).apply(state.actor_params,
                                                                                        batch["next_observations"]), k_pi)
    every = sac._critics(config).apply(state.critic_target, batch["next_observations"], next_action)
    picked = every[jax.random.choice(k_subset, 5, (2,), replace=False)]
    y = sac.soft_td_target(batch["rewards"], batch["masks"], config.discount, picked, next_log_prob,
                           jnp.exp(state.log_temperature), config.backup_entropy)
    q = sac._critics(config).apply(state.critic_params, batch["observations"], batch["actions"])
    assert float(metrics["critic_loss"]) == pytest.approx(float(sac.critic_loss(q, y)), rel=1e-5)
    other = sac.soft_td_target(batch["rewards"], batch["masks"], config.discount, every[:2], next_log_prob,
                               jnp.exp(state.log_temperature), config.backup_entropy)
    assert float(sac.critic_loss(q, other)) != pytest.approx(float(metrics["critic_loss"]), rel=1e-5)


def test_config_checks_and_rlpd_preset():
    with pytest.raises(ValueError, match="num_min=3 must be between 1 and num_critics=2"):
        sac.init(jax.random.PRNGKey(0), Spec(2, 1), sac.Config(num_min=3))
    rlpd = sac.Config.rlpd()
    assert (rlpd.num_critics, rlpd.num_min, rlpd.critic_layer_norm, rlpd.utd, rlpd.actor_q) == (10, 2, True, 20, "mean")
    assert dataclasses.replace(rlpd, utd=4).utd == 4
