"""Fitted Q Evaluation and `hybridrl select`: targets by hand, episode splits, values on a task with known answers."""

from __future__ import annotations

import json
import shutil

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from hybridrl.cli import app
from hybridrl.data import save_npz
from hybridrl.data.generate import PENDULUM_ENV, PENDULUM_GAIN, toy_dataset
from hybridrl.evaluate.fqe import (
    FQEConfig,
    _critic,
    fit_fqe,
    fqe_loss,
    fqe_target,
    fqe_update,
    held_out_split,
    init_fqe,
)

runner = CliRunner()


# --- the regression target, by hand ----------------------------------------------------------------------------


def test_fqe_target_by_hand():
    rewards = jnp.array([1.0, 0.5, -2.0])
    masks = jnp.array([1.0, 0.0, 1.0])  # the second transition is terminal: no bootstrap
    next_q = jnp.array([[2.0, 4.0, 1.0], [4.0, 6.0, 3.0]])  # 2 critics: mean 3, 5, 2
    y = fqe_target(rewards, masks, 0.9, next_q)
    np.testing.assert_allclose(y, [1.0 + 0.9 * 3.0, 0.5, -2.0 + 0.9 * 2.0], rtol=1e-6)
    q = jnp.array([[3.0, 0.5, 0.0], [4.7, 1.5, -0.2]])  # errors: (-0.7, 0, 0.2) and (1, 1, 0)
    assert float(fqe_loss(q, y)) == pytest.approx((0.49 + 0 + 0.04) / 3 + (1 + 1 + 0) / 3, rel=1e-5)


def test_fqe_update_regresses_on_the_target_network_with_pi_next():
    config = FQEConfig(hidden_dims=(8,), discount=0.9, tau=0.5, learning_rate=1e-3)
    state = jax.jit(init_fqe, static_argnums=(1, 2, 3))(jax.random.PRNGKey(0), 3, 2, config)
    # Make the target differ from the online critic, so using the wrong one would show.
    state["target"] = jax.tree.map(lambda x: x + 0.1, state["target"])
    rng = np.random.default_rng(0)
    batch = {"observations": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
             "actions": jnp.asarray(rng.uniform(-1, 1, size=(4, 2)), jnp.float32),
             "rewards": jnp.array([0.1, -0.2, 0.3, 0.0]),
             "next_observations": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
             "masks": jnp.array([1.0, 1.0, 0.0, 1.0])}
    pi_next = jnp.asarray(rng.uniform(-1, 1, size=(4, 2)), jnp.float32)
    apply = jax.jit(_critic(config).apply)
    next_q = np.asarray(apply(state["target"], batch["next_observations"], pi_next))  # (2, 4)
    y = np.asarray(batch["rewards"]) + 0.9 * np.asarray(batch["masks"]) * next_q.mean(0)
    q = np.asarray(apply(state["params"], batch["observations"], batch["actions"]))
    expected = ((q - y[None]) ** 2).mean(-1).sum()
    update = jax.jit(fqe_update, static_argnums=3)
    new_state, loss = update(state, batch, pi_next, config)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert int(new_state["step"]) == 1
    # Soft target update with tau = 0.5: halfway between the old target and the new parameters.
    leaf = lambda t: jax.tree.leaves(t)[0]  # noqa: E731
    np.testing.assert_allclose(leaf(new_state["target"]), 0.5 * leaf(state["target"]) + 0.5 * leaf(new_state["params"]),
                               rtol=1e-5, atol=1e-6)
    # With clipping, bootstrapped values outside the range are cut: a range [0, 0] makes y = r.
    _, clipped_loss = update(state, batch, pi_next, config, (jnp.float32(0.0), jnp.float32(0.0)))
    expected_clipped = ((q - np.asarray(batch["rewards"])[None]) ** 2).mean(-1).sum()
    assert float(clipped_loss) == pytest.approx(float(expected_clipped), rel=1e-5)


# --- held-out split -----------------------------------------------------------------------------------------------


def test_held_out_split_keeps_whole_episodes_and_is_deterministic():
    ds = toy_dataset(lengths=(2, 3, 4, 5, 6, 7, 8, 9, 10, 11), terminal_ends=(True, False) * 5)
    rest, held = held_out_split(ds, fraction=0.2, seed=3)
    assert held.num_episodes == 2 and rest.num_episodes == 8
    assert len(rest) + len(held) == len(ds)
    # Every held-out episode is one of the original episodes, whole (same rows, same end flag).
    originals = {tuple(ds.observations[s]): (s, e) for s, e in zip(ds.episode_starts, ds.episode_ends)}
    for part in (rest, held):
        for s, e in zip(part.episode_starts, part.episode_ends):
            s0, e0 = originals[tuple(part.observations[s])]
            np.testing.assert_array_equal(part.observations[s:e + 1], ds.observations[s0:e0 + 1])
            assert part.terminals[e] == ds.terminals[e0] and part.timeouts[e] == ds.timeouts[e0]
    held_starts = {tuple(held.observations[s]) for s in held.episode_starts}
    assert not held_starts & {tuple(rest.observations[s]) for s in rest.episode_starts}
    again = held_out_split(ds, fraction=0.2, seed=3)[1]
    np.testing.assert_array_equal(again.observations, held.observations)
    other = held_out_split(ds, fraction=0.2, seed=4)[1]
    assert other.observations.shape != held.observations.shape or not np.array_equal(other.observations, held.observations)


def test_held_out_split_needs_two_episodes():
    with pytest.raises(ValueError, match="1 episode"):
        held_out_split(toy_dataset(lengths=(5,), terminal_ends=(True,)))


# --- values on InvertedPendulum-v5, where the true values are known ------------------------------------------------

GAMMA = 0.95


def good_policy(obs: np.ndarray) -> np.ndarray:
    """The data's scripted linear controller, without its noise, in the agents' [-1, 1] action units (env: [-3, 3])."""
    return (np.clip(obs @ PENDULUM_GAIN, -3.0, 3.0) / 3.0)[:, None].astype(np.float32)


def bad_policy(obs: np.ndarray) -> np.ndarray:
    """Full push to one side: the pole falls within a few steps."""
    return np.ones((len(obs), 1), np.float32)


def mc_discounted_return(policy, episodes: int = 5, seed: int = 100) -> float:
    """Monte-Carlo gamma-discounted return of a [-1, 1]-action policy in the real environment."""
    env = gym.make(PENDULUM_ENV)
    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, discount, done = 0.0, 1.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs[None])[0] * 3.0)
            total += discount * reward
            discount *= GAMMA
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def test_fqe_ranks_policies_and_matches_monte_carlo(pendulum_data):
    mc_good, mc_bad = mc_discounted_return(good_policy), mc_discounted_return(bad_policy)
    # The controller never drops the pole: 1000 rewards of 1 (the last one's discount, 0.95^999, is negligible).
    assert mc_good == pytest.approx((1 - GAMMA**1000) / (1 - GAMMA), rel=1e-6)
    assert mc_bad < 3.0
    config = FQEConfig(steps=4_000, hidden_dims=(64, 64), discount=GAMMA, tau=0.02)
    result = fit_fqe([good_policy, bad_policy], pendulum_data, config, seed=0)
    good, bad = result.initial_value
    print(f"FQE good {good:.2f} vs MC {mc_good:.2f}; FQE bad {bad:.2f} vs MC {mc_bad:.2f}")
    assert good > bad
    assert good == pytest.approx(mc_good, rel=0.10)  # measured: about 1% off
    assert result.initial_values.shape == (2, pendulum_data.num_episodes)
    assert np.all(np.isfinite(result.mean_value))


# --- `hybridrl select` on a tiny real run --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, pendulum_data):
    from hybridrl.train.offline import RunConfig, train_offline

    root = tmp_path_factory.mktemp("select")
    data_path = save_npz(pendulum_data, root / "pendulum.npz")
    config = RunConfig(algo="bc", dataset=str(data_path), env=PENDULUM_ENV, steps=300, seeds=2, eval_every=100,
                       eval_episodes=2, log_every=100, keep_checkpoints=10, agent={"hidden_dims": [16, 16]})
    train_offline(config, pendulum_data, root / "run", progress=False)
    return root / "run", data_path


FAST = ["--steps", "300", "--set", "hidden_dims=[32,32]", "--set", "discount=0.9", "--no-progress"]


def test_select_ranks_checkpoints_and_writes_selection(tiny_run):
    run, data = tiny_run
    result = runner.invoke(app, ["select", str(run), "--dataset", str(data), *FAST])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "6 checkpoint(s) ranked by FQE" in text
    assert "Spearman rank correlation, FQE vs true return:" in text and "over 6 checkpoints" in text
    assert "FQE picks" in text and "regret of the pick" in text
    saved = json.loads((run / "selection.json").read_text())
    assert len(saved["candidates"]) == 6  # 3 checkpoints x 2 seeds
    assert {(c["step"], c["seed"]) for c in saved["candidates"]} == {(s, d) for s in (100, 200, 300) for d in (0, 1)}
    assert all(c["true_return"] is not None for c in saved["candidates"])
    estimates = [c["fqe"] for c in saved["candidates"]]
    assert estimates == sorted(estimates, reverse=True)
    assert saved["dataset"]["split"] == "held-out" and -1.0 <= saved["spearman"] <= 1.0
    assert saved["pick"] == saved["candidates"][0]
    assert saved["regret"] == pytest.approx(saved["best_true"]["true_return"] - saved["pick"]["true_return"])

    as_json = runner.invoke(app, ["select", str(run), "--dataset", str(data), "--split", "all", "--json", *FAST])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["dataset"]["transitions"] == 20_000


def test_select_bad_input(tiny_run, tmp_path):
    run, data = tiny_run
    empty = tmp_path / "no-ckpt"
    shutil.copytree(run, empty)
    shutil.rmtree(empty / "checkpoints")
    other = save_npz(toy_dataset(obs_dim=3, act_dim=1), tmp_path / "toy.npz")
    cases = [
        (["select", str(run), "--dataset", str(data), "--split", "train"], "unknown --split 'train'; use held-out or all"),
        (["select", str(empty), "--dataset", str(data)],
         f"{empty}: no checkpoints to rank; train it with --keep-checkpoints N to keep the newest N (default 3)"),
        (["select", str(run), "--dataset", str(other)],
         f"{other}: observations have dimension 3 but {run} was trained on 4; pass data from the run's environment"),
        (["select", str(tmp_path), "--dataset", str(data)], f"{tmp_path}: not a run folder (no config.json)"),
        (["select", str(run), "--dataset", str(data), "--set", "discount=1.5"], "FQE discount must be in [0, 1), got 1.5"),
        (["select", str(run), "--dataset", str(data), "--set", "discount=high"],
         "FQE setting discount must be a number (default 0.99), got 'high'"),
        (["select", str(run), "--dataset", str(data), "--set", "tau_=0.1"], "unknown config key(s) ['tau_'] for FQE"),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, "--no-progress"])
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (message, result.output)
