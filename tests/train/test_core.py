"""vmap over seeds gives each seed what it gets alone; resume gives what an uninterrupted run gives."""

import jax
import numpy as np
import pytest

from hybridrl.agents import Spec, get_agent
from hybridrl.agents.base import config_from_dict
from hybridrl.data.sampler import make_preprocessing, to_device
from hybridrl.train import checkpoint
from hybridrl.train.core import init_states, make_train_chunk
from hybridrl.train.offline import RunConfig, train_offline

SMALL = {"hidden_dims": [32, 32]}


@pytest.mark.parametrize("algo", ["bc", "td3_bc", "iql"])
def test_vmapped_seeds_match_single_seed_runs(algo, pendulum_data):
    agent = get_agent(algo)
    config = config_from_dict(agent, SMALL)
    spec = Spec(pendulum_data.obs_dim, pendulum_data.act_dim)
    prep = make_preprocessing(pendulum_data, config.normalize_observations, config.reward_scaling)
    data = to_device(pendulum_data, prep)

    group, group_keys = init_states(agent, config, spec, [3, 4, 5])
    group, _, _ = make_train_chunk(agent, 64, 20, 3)(group, group_keys, data)
    alone, alone_keys = init_states(agent, config, spec, [4])
    alone, _, _ = make_train_chunk(agent, 64, 20, 1)(alone, alone_keys, data)

    for g, a in zip(jax.tree.leaves(group.actor_params), jax.tree.leaves(alone.actor_params)):
        np.testing.assert_allclose(np.asarray(g)[1], np.asarray(a)[0], rtol=1e-4, atol=1e-5)
    # and the seeds really differ from each other
    first = jax.tree.leaves(group.actor_params)[0]
    assert not np.allclose(first[0], first[1])


def test_resume_continues_exactly(tmp_path, pendulum_data):
    common = dict(algo="td3_bc", dataset="generated", env="InvertedPendulum-v5", steps=60, seeds=2,
                  eval_every=30, eval_episodes=2, log_every=10, agent=SMALL)
    straight = train_offline(RunConfig(**common), pendulum_data, tmp_path / "straight", progress=False)

    # The same run, stopped after its first checkpoint (step 30) and resumed from it.
    resumed_dir = tmp_path / "resumed"
    train_offline(RunConfig(**{**common, "steps": 30}), pendulum_data, resumed_dir, progress=False)
    resumed = train_offline(RunConfig(**common), pendulum_data, resumed_dir, resume=True, progress=False)

    assert resumed.step == 60
    np.testing.assert_allclose(resumed.final_returns, straight.final_returns)
    a = checkpoint.latest(tmp_path / "straight" / "checkpoints")[1].read_bytes()
    b = checkpoint.latest(resumed_dir / "checkpoints")[1].read_bytes()
    assert a == b


def test_resume_refuses_different_data(tmp_path, pendulum_data):
    from hybridrl.train.offline import RunError

    config = RunConfig(algo="bc", dataset="generated", env="InvertedPendulum-v5", steps=20, eval_every=10,
                       eval_episodes=1, log_every=10, agent=SMALL)
    train_offline(config, pendulum_data, tmp_path / "run", progress=False)
    fewer = pendulum_data.select_episodes(np.arange(3))
    with pytest.raises(RunError, match="was trained on 20000 transitions in .* episodes but generated now holds"):
        train_offline(config, fewer, tmp_path / "run", resume=True, progress=False)
