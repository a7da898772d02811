"""The compiled heart of training: many seeds, many updates, one host call.

``init_states`` builds one agent state per seed and stacks them along a
leading axis; ``make_train_chunk`` returns a jitted function that runs
``num_steps`` updates for every seed, drawing each batch from the device
dataset inside the scan.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable

import jax
import jax.numpy as jnp

from hybridrl.agents.base import Spec
from hybridrl.data.sampler import DeviceData, sample


def init_states(agent: ModuleType, config: Any, spec: Spec, seeds: list[int]) -> tuple[Any, jax.Array]:
    """(states, keys), each with a leading seed axis. Seed s alone gives the same state as seed s in a group."""
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    init_keys, loop_keys = jax.vmap(lambda k: jnp.stack(jax.random.split(k)))(keys).transpose(1, 0, 2)
    states = jax.jit(jax.vmap(lambda k: agent.init(k, spec, config)))(init_keys)
    return states, loop_keys


def _run_one_seed(agent: ModuleType, batch_size: int, num_steps: int) -> Callable:
    def run(state, key, data: DeviceData):
        def body(carry, _):
            state, key = carry
            key, k_batch, k_update = jax.random.split(key, 3)
            state, metrics = agent.update(state, sample(data, k_batch, batch_size), k_update)
            return (state, key), metrics

        (state, key), metrics = jax.lax.scan(body, (state, key), None, length=num_steps)
        # Mean over the chunk; NaN marks a metric not produced on a step (TD3+BC's actor loss).
        return state, key, jax.tree.map(jnp.nanmean, metrics)

    return run


def make_train_chunk(agent: ModuleType, batch_size: int, num_steps: int, num_seeds: int) -> Callable:
    """A jitted ``(states, keys, data) -> (states, keys, metrics)`` running ``num_steps`` updates per seed.

    With one seed the update runs un-batched (so data-dependent branches such
    as TD3+BC's delayed actor step stay real branches); with more it is vmapped.
    """
    run = _run_one_seed(agent, batch_size, num_steps)
    if num_seeds == 1:
        def single(states, keys, data):
            squeeze = lambda t: jax.tree.map(lambda x: x[0], t)  # noqa: E731
            state, key, metrics = run(squeeze(states), keys[0], data)
            expand = lambda t: jax.tree.map(lambda x: x[None], t)  # noqa: E731
            return expand(state), key[None], expand(metrics)

        return jax.jit(single, donate_argnums=(0,))
    return jax.jit(jax.vmap(run, in_axes=(0, 0, None)), donate_argnums=(0,))


def make_act(agent: ModuleType) -> Callable:
    """A jitted deterministic ``(states, obs[seed, batch, obs_dim]) -> actions[seed, batch, act_dim]``."""

    def act_all(states, obs):
        return jax.vmap(lambda s, o: agent.act(s, o, jax.random.PRNGKey(0), True))(states, obs)

    return jax.jit(act_all)
