"""Cal-QL / CQL: every loss against a value worked out by hand on tiny arrays, the update's mechanics, learning."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybridrl.agents import Spec, calql, get_agent


def test_td_target_min_over_critics_and_max_target_backup():
    # one action per state: min over critics [1, 2]; y = [1 + 0.5 * 1 * 1, 0 + 0.5 * 0 * 2] = [1.5, 0]
    next_q = jnp.array([[1.0, 3.0], [2.0, 2.0]])
    np.testing.assert_allclose(calql.td_target(jnp.array([1.0, 0.0]), jnp.array([1.0, 0.0]), 0.5, next_q), [1.5, 0.0])
    # three sampled actions at one state: min over critics [1, 4, 2], max over actions 4; y = 0 + 0.5 * 4 = 2
    next_q = jnp.array([[[1.0, 5.0, 2.0]], [[2.0, 4.0, 3.0]]])
    np.testing.assert_allclose(calql.td_target(jnp.zeros(1), jnp.ones(1), 0.5, next_q), [2.0])


def test_calibrate_is_max_of_q_and_mc_return():
    q = jnp.array([[1.0, 5.0], [-2.0, 0.0]])  # (B=2, n=2)
    np.testing.assert_allclose(calql.calibrate(q, jnp.array([3.0, -1.0])), [[3.0, 5.0], [-1.0, 0.0]])
    # an unfinished online episode carries G = -inf: no calibration
    np.testing.assert_allclose(calql.calibrate(q, jnp.array([-jnp.inf, -jnp.inf])), q)


def test_logsumexp_with_importance_weights_and_without():
    one = lambda v: jnp.array([[v]])  # noqa: E731  (B=1, n=1)
    args = dict(q_rand=one(0.0), q_next=one(1.0), q_curr=one(2.0), log_pi_next=one(1.0), log_pi_curr=one(0.0),
                q_data=jnp.array([5.0]), act_dim=1)
    # x = [0 - log 0.5, 1 - 1, 2 - 0] = [log 2, 0, 2]; the dataset Q (5) is not inside
    out = calql.cql_logsumexp(**args, temperature=1.0, importance_sample=True)
    assert float(out[0]) == pytest.approx(math.log(3.0 + math.e**2), rel=1e-6)
    # temperature 2: 2 * log(exp(log 2 / 2) + exp(0) + exp(2 / 2)) = 2 * log(sqrt 2 + 1 + e)
    out = calql.cql_logsumexp(**args, temperature=2.0, importance_sample=True)
    assert float(out[0]) == pytest.approx(2 * math.log(math.sqrt(2) + 1 + math.e), rel=1e-6)
    # CQL(rho): no densities, the dataset Q inside: log(e^0 + e^5 + e^1 + e^2)
    out = calql.cql_logsumexp(**args, temperature=1.0, importance_sample=False)
    assert float(out[0]) == pytest.approx(math.log(1 + math.e**5 + math.e + math.e**2), rel=1e-6)
    # a 2-dim action space doubles the uniform density term: log 4 instead of log 2
    args["act_dim"] = 2
    out = calql.cql_logsumexp(**args, temperature=1.0, importance_sample=True)
    assert float(out[0]) == pytest.approx(math.log(4.0 + 1.0 + math.e**2), rel=1e-6)


def _samples():
    # B = 1 state, n = 2 actions of each kind, 1-dim actions; zero log-densities
    return {"rand": jnp.array([[[0.5], [-0.5]]]), "curr": jnp.array([[[0.1], [0.3]]]),
            "next": jnp.array([[[-0.2], [0.0]]]), "log_pi_curr": jnp.zeros((1, 2)), "log_pi_next": jnp.zeros((1, 2))}


def test_calibrated_penalty_by_hand():
    q_fn = lambda a: a[..., 0][None]  # noqa: E731  one critic whose Q(s, a) = a
    q_data = jnp.array([[0.0]])
    # CQL: ln(e^{0.5 + ln 2} + e^{-0.5 + ln 2} + e^-0.2 + e^0 + e^0.1 + e^0.3) - Q_data(0)
    gap = calql.conservative_gap(q_fn, q_data, _samples(), None, calql.Config(use_calql=False))
    expected = math.log(2 * math.exp(0.5) + 2 * math.exp(-0.5) + math.exp(-0.2) + 1 + math.exp(0.1) + math.exp(0.3))
    assert gap.shape == (1,) and float(gap[0]) == pytest.approx(expected, rel=1e-6)
    # Cal-QL with G = 1: the four policy-action values become 1, random actions stay
    gap = calql.conservative_gap(q_fn, q_data, _samples(), jnp.array([1.0]), calql.Config(use_calql=True))
    assert float(gap[0]) == pytest.approx(math.log(2 * math.exp(0.5) + 2 * math.exp(-0.5) + 4 * math.e), rel=1e-6)
    # G = -inf (online, episode not finished): the plain CQL value
    gap = calql.conservative_gap(q_fn, q_data, _samples(), jnp.array([-jnp.inf]), calql.Config(use_calql=True))
    assert float(gap[0]) == pytest.approx(expected, rel=1e-6)
    # the penalty: w * gap, and w = 5 by default (Cal-QL / JaxCQL)
    np.testing.assert_allclose(calql.cql_penalty(gap, calql.Config().cql_weight, 0.0, 0.8, False), 5 * expected,
                               rtol=1e-6)


def test_cql_gap_mean_and_clip():
    ood = jnp.array([[3.0, 5.0], [1.0, 1.0]])
    q_data = jnp.array([[1.0, 1.0], [2.0, 0.0]])
    # differences [[2, 4], [-1, 1]] -> per critic [3, 0]; clipped at 3: [[2, 3], [-1, 1]] -> [2.5, 0]
    np.testing.assert_allclose(calql.cql_gap(ood, q_data, None, None), [3.0, 0.0])
    np.testing.assert_allclose(calql.cql_gap(ood, q_data, None, 3.0), [2.5, 0.0])
    np.testing.assert_allclose(calql.cql_gap(ood, q_data, 0.0, None), [3.0, 0.5])


def test_penalty_and_lagrange_loss():
    gap = jnp.array([2.0, 0.0])
    np.testing.assert_allclose(calql.cql_penalty(gap, 5.0, 2.0, 1.0, lagrange=False), [10.0, 0.0])
    # alpha' * w * (gap - tau) = 2 * 5 * [1, -1]
    np.testing.assert_allclose(calql.cql_penalty(gap, 5.0, 2.0, 1.0, lagrange=True), [10.0, -10.0])
    # L = -mean(alpha' * w * (gap - tau)) with alpha' = 2, w = 5, tau = 1, gap [3, 1]: -mean([20, 0]) = -10
    log_ap, gap = jnp.log(2.0), jnp.array([3.0, 1.0])
    assert float(calql.lagrange_loss(log_ap, gap, 5.0, 1.0)) == pytest.approx(-10.0, rel=1e-6)
    # dL/dlog alpha' = -10 < 0: descent raises alpha' while the gap exceeds tau; the gap itself gets no gradient
    assert float(jax.grad(calql.lagrange_loss)(log_ap, gap, 5.0, 1.0)) == pytest.approx(-10.0, rel=1e-6)
    np.testing.assert_allclose(jax.grad(calql.lagrange_loss, argnums=1)(log_ap, gap, 5.0, 1.0), [0.0, 0.0])
    # alpha' is capped at 1e6 (JaxCQL)
    assert float(calql.alpha_prime(jnp.asarray(20.0))) == pytest.approx(1e6)


def test_critic_loss_sums_critics():
    # per critic: mean((1-1)^2, (2-1)^2) = 0.5 and mean(2^2, 3^2) = 6.5; plus penalties 0.5 and 1 -> 8.5
    q = jnp.array([[1.0, 2.0], [3.0, 4.0]])
    assert float(calql.critic_loss(q, jnp.array([1.0, 1.0]), jnp.array([0.5, 1.0]))) == pytest.approx(8.5)


def test_temperature_loss_jaxcql_form():
    # -log(2) * (mean([-1, -3]) + (-1)) = 3 log 2; gradient in log alpha = H - target = 2 + 1 = 3
    log_t, log_prob = jnp.log(2.0), jnp.array([-1.0, -3.0])
    assert float(calql.temperature_loss(log_t, log_prob, -1.0)) == pytest.approx(3 * math.log(2), rel=1e-6)
    assert float(jax.grad(calql.temperature_loss)(log_t, log_prob, -1.0)) == pytest.approx(3.0, rel=1e-6)


def test_actor_log_std_multiplier_and_offset_are_trainable_and_start_at_1_and_minus_1():
    state = calql.init(jax.random.PRNGKey(0), Spec(3, 2), calql.Config(hidden_dims=(8,)))
    params = state.actor_params["params"]
    assert float(params["log_std_multiplier"]) == 1.0 and float(params["log_std_offset"]) == -1.0
    mean, log_std = calql._actor(state.config, state.spec).apply(state.actor_params, jnp.ones((4, 3)))
    assert mean.shape == (4, 2)
    np.testing.assert_allclose(log_std, -1.0, atol=0.1)  # output layer at orthogonal(1e-2): raw log-std near 0


def _batch(n, obs_dim, act_dim, mc=True, seed=0):
    rng = np.random.default_rng(seed)
    batch = {"observations": rng.normal(size=(n, obs_dim)), "actions": rng.uniform(-1, 1, (n, act_dim)),
             "rewards": rng.normal(size=n), "next_observations": rng.normal(size=(n, obs_dim)), "masks": np.ones(n)}
    if mc:
        batch["mc_returns"] = rng.normal(size=n)
    return {k: jnp.asarray(v, jnp.float32) for k, v in batch.items()}


@pytest.mark.parametrize("changes", [{}, {"use_calql": False, "cql_lagrange": True, "cql_max_target_backup": True}])
def test_update_steps_every_module_once(changes):
    config = calql.Config(hidden_dims=(8,), cql_n_actions=3, **changes)
    state = calql.init(jax.random.PRNGKey(0), Spec(3, 2), config)
    new, metrics = jax.jit(calql.update)(state, _batch(16, 3, 2, mc=config.use_calql), jax.random.PRNGKey(1))
    assert int(new.step) == 1
    assert new.critic_opt[0].count == 1 and new.actor_opt[0].count == 1 and new.temperature_opt[0].count == 1
    assert all(np.isfinite(float(v)) for v in metrics.values())
    moved = float(new.log_alpha_prime) != float(state.log_alpha_prime)
    assert moved == config.cql_lagrange  # the multiplier trains only with the Lagrange on
    assert not np.allclose(jax.tree.leaves(new.critic_target)[0], jax.tree.leaves(state.critic_target)[0])


def test_calql_reads_mc_returns_and_cql_does_not():
    assert get_agent("calql") is calql and calql.NEEDS_MC_RETURNS
    state = calql.init(jax.random.PRNGKey(0), Spec(3, 2), calql.Config(hidden_dims=(8,), cql_n_actions=2))
    update = jax.jit(calql.update)
    with pytest.raises(KeyError, match="mc_returns"):
        update(state, _batch(4, 3, 2, mc=False), jax.random.PRNGKey(1))
    # G = 100 lifts the policy-action values of an untrained critic (Q near 0) to 100 - log pi: the gap follows
    batch = _batch(4, 3, 2)
    _, low = update(state, batch | {"mc_returns": jnp.full(4, -1e9)}, jax.random.PRNGKey(1))
    _, high = update(state, batch | {"mc_returns": jnp.full(4, 100.0)}, jax.random.PRNGKey(1))
    assert abs(float(high["q_data"])) < 1.0 and float(high["cql_gap"]) > 90.0
    assert float(low["cql_gap"]) < 10.0


# (changes to the defaults, updates, threshold on the normalized score of 5 evaluation episodes). Small networks
# and batches of 64 keep the case under a minute on two cores; an untrained policy scores below 5 here
# (tests/agents/test_learning.py). Plain CQL scores about 8 after 2,000 of its 4,000 updates. Cal-QL's offline
# learning (gamma 0.9, 6,000 updates, 90) is asserted by its fine-tuning test in tests/train/test_finetune.py:
# at gamma 0.99 the data's returns-to-go are near 100, and the calibration max(Q, G) keeps the penalty from
# acting until Q has climbed that far (still below 5 after 8,000 updates); at 0.9 G is at most 10.
LEARNING = [({"use_calql": False}, 4_000, 90.0)]


@pytest.mark.parametrize("changes, steps, threshold", LEARNING)
def test_learns_inverted_pendulum_offline(changes, steps, threshold, pendulum_data, tmp_path):
    from hybridrl.train.offline import RunConfig, train_offline

    config = RunConfig(algo="calql", dataset="scripted_pendulum(20_000, seed=0)", env="InvertedPendulum-v5",
                       steps=steps, seeds=1, seed=0, eval_every=steps, eval_episodes=5, log_every=steps,
                       agent={"hidden_dims": [64, 64], "batch_size": 64, **changes})
    result = train_offline(config, pendulum_data, tmp_path / "calql", progress=False)
    assert result.final_scores[0] >= threshold, f"{changes}: {result.final_scores[0]:.1f} < {threshold}"
