"""Every loss against a value worked out by hand on tiny arrays."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrl.agents import bc, iql, td3_bc
from hybridrl.agents.base import soft_update


def test_bc_loss():
    # ((0.5 - 0)^2 + (-0.5 - 0)^2 + (1 - 1)^2 + (0 - 1)^2) / 4 = (0.25 + 0.25 + 0 + 1) / 4
    pred = jnp.array([[0.5, -0.5], [1.0, 0.0]])
    data = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    assert float(bc.bc_loss(pred, data)) == pytest.approx(0.375)


def test_td3_bc_td_target():
    # min over critics: [2, 1]; y = [1 + 0.5 * 1 * 2, 0 + 0.5 * 0 * 1] = [2, 0]
    next_q = jnp.array([[2.0, 4.0], [3.0, 1.0]])
    y = td3_bc.td_target(jnp.array([1.0, 0.0]), jnp.array([1.0, 0.0]), 0.5, next_q)
    np.testing.assert_allclose(y, [2.0, 0.0])


def test_td3_bc_critic_loss():
    # critic 1: ((1-1)^2 + (2-1)^2) / 2 = 0.5; critic 2: ((3-1)^2 + (4-1)^2) / 2 = 6.5; sum 7
    q = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    assert float(td3_bc.critic_loss(q, jnp.array([1.0, 1.0]))) == pytest.approx(7.0)


def test_td3_bc_actor_loss_value_and_constant_lambda():
    # lambda = 2 / mean(|1|, |-3|) = 1; -1 * mean(1, -3) = 1; BC: ((0.5-0)^2 + 0) / 2 = 0.125
    q1 = jnp.array([1.0, -3.0])
    pi = jnp.array([[0.5], [0.0]])
    a = jnp.zeros((2, 1))
    assert float(td3_bc.actor_loss(q1, pi, a, 2.0)) == pytest.approx(1.125)
    # lambda carries no gradient: dL/dq1 = -lambda / B = -0.5 for each entry
    grad = jax.grad(lambda q: td3_bc.actor_loss(q, pi, a, 2.0))(q1)
    np.testing.assert_allclose(grad, [-0.5, -0.5])


def test_iql_expectile_loss():
    # u = [1, -2], tau = 0.7: weights [0.7, 0.3]; mean(0.7 * 1, 0.3 * 4) = 0.95
    assert float(iql.expectile_loss(jnp.array([1.0, -2.0]), 0.7)) == pytest.approx(0.95)


def test_iql_gaussian_log_prob():
    # one dim, N(0, 1) at x = 1: -1/2 - log(sqrt(2 pi)); two dims with std e at x = mean: 2 * (-1 - log sqrt(2 pi))
    half_log_2pi = 0.5 * np.log(2 * np.pi)
    lp = iql.gaussian_log_prob(jnp.zeros((1, 1)), jnp.zeros((1, 1)), jnp.ones((1, 1)))
    assert float(lp[0]) == pytest.approx(-0.5 - half_log_2pi)
    lp = iql.gaussian_log_prob(jnp.ones((1, 2)), jnp.ones((1, 2)), jnp.ones((1, 2)))
    assert float(lp[0]) == pytest.approx(2 * (-1.0 - half_log_2pi), rel=1e-6)


def test_iql_awr_loss_caps_weights():
    # weights: exp(2 * 0) = 1, min(exp(2 * 1), 5) = 5; -mean(1 * -1, 5 * -2) = 5.5
    loss = iql.awr_loss(jnp.array([-1.0, -2.0]), jnp.array([0.0, 1.0]), 2.0, 5.0)
    assert float(loss) == pytest.approx(5.5)
    # the weights are constants: dL/dlogp = -w / B
    grad = jax.grad(lambda lp: iql.awr_loss(lp, jnp.array([0.0, 1.0]), 2.0, 5.0))(jnp.array([-1.0, -2.0]))
    np.testing.assert_allclose(grad, [-0.5, -2.5])


def test_iql_critic_loss():
    # per sample, summed over the two critics: (0^2 + 2^2) = 4 and (1^2 + 3^2) = 10; mean 7
    q = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    assert float(iql.critic_loss(q, jnp.array([1.0, 1.0]))) == pytest.approx(7.0)


def test_soft_update():
    target = {"w": jnp.array([0.0, 10.0])}
    online = {"w": jnp.array([1.0, 0.0])}
    out = soft_update(target, online, 0.1)
    np.testing.assert_allclose(out["w"], [0.1, 9.0])
