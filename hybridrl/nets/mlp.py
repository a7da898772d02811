"""Multi-layer perceptrons, value and policy heads, and vmapped ensembles."""

from __future__ import annotations

from typing import Callable, Sequence

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Initializer = Callable


def torch_linear_init() -> Initializer:
    """PyTorch's default ``nn.Linear`` weight init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def _host_qr(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, r = np.linalg.qr(np.asarray(a, dtype=np.float64))
    return q.astype(a.dtype), r.astype(a.dtype)


def orthogonal_init(scale: float = 2.0**0.5) -> Initializer:
    """A (semi-)orthogonal weight matrix times ``scale``, as ``flax.linen.initializers.orthogonal``.

    The QR decomposition runs on the host through a callback. XLA's CPU QR kernel in jaxlib 0.10
    can deadlock when several run inside one compiled program on a small thread pool, which is
    what initialising an ensemble or several seeds at once produces.
    """

    def init(key, shape, dtype=jnp.float32):
        rows, cols = math.prod(shape[:-1]), shape[-1]
        tall = (max(rows, cols), min(rows, cols))
        a = jax.random.normal(key, tall, jnp.float32)
        q, r = jax.pure_callback(
            _host_qr, (jax.ShapeDtypeStruct(tall, jnp.float32), jax.ShapeDtypeStruct(tall[1:] * 2, jnp.float32)),
            a, vmap_method="sequential",
        )
        q = q * jnp.sign(jnp.diag(r))  # makes the distribution uniform (Haar) over orthogonal matrices
        if rows < cols:
            q = q.T
        return (scale * q).reshape(shape).astype(dtype)

    return init


class MLP(nn.Module):
    """Dense layers with an activation between them; optional LayerNorm after each hidden Dense."""

    hidden_dims: Sequence[int]
    output_dim: int | None = None
    layer_norm: bool = False
    kernel_init: Initializer = nn.initializers.lecun_normal()
    output_kernel_init: Initializer | None = None

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        for width in self.hidden_dims:
            x = nn.Dense(width, kernel_init=self.kernel_init)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = nn.relu(x)
        if self.output_dim is not None:
            x = nn.Dense(self.output_dim, kernel_init=self.output_kernel_init or self.kernel_init)(x)
        return x


class Critic(nn.Module):
    """Q(s, a) -> scalar."""

    hidden_dims: Sequence[int]
    layer_norm: bool = False
    kernel_init: Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, obs: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        x = jnp.concatenate([obs, action], axis=-1)
        return MLP(self.hidden_dims, 1, self.layer_norm, self.kernel_init)(x)[..., 0]


class ValueNet(nn.Module):
    """V(s) -> scalar."""

    hidden_dims: Sequence[int]
    layer_norm: bool = False
    kernel_init: Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        return MLP(self.hidden_dims, 1, self.layer_norm, self.kernel_init)(obs)[..., 0]


def Ensemble(module_cls: type[nn.Module], num: int) -> type[nn.Module]:
    """``num`` independent copies of ``module_cls`` as one vmapped module.

    Parameters get a leading axis of size ``num``; inputs are shared; outputs
    get a leading axis of size ``num``.
    """
    return nn.vmap(
        module_cls,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        in_axes=None,
        out_axes=0,
        axis_size=num,
    )


class DeterministicActor(nn.Module):
    """a = tanh(MLP(s)), in [-1, 1]."""

    hidden_dims: Sequence[int]
    action_dim: int
    kernel_init: Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        return nn.tanh(MLP(self.hidden_dims, self.action_dim, kernel_init=self.kernel_init)(obs))


class GaussianActor(nn.Module):
    """Gaussian policy with mean tanh(MLP(s)) and a state-independent log-std (IQL's policy).

    Returns (mean, log_std); the distribution itself is not squashed.
    """

    hidden_dims: Sequence[int]
    action_dim: int
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    kernel_init: Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        mean = nn.tanh(MLP(self.hidden_dims, self.action_dim, kernel_init=self.kernel_init)(obs))
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        log_std = jnp.clip(log_std, self.log_std_min, self.log_std_max)
        return mean, jnp.broadcast_to(log_std, mean.shape)


class TanhGaussianActor(nn.Module):
    """SAC's policy: u ~ N(mean(s), exp(log_std(s))), a = tanh(u); both heads depend on the state.

    Returns (mean, log_std) of u, log_std clipped to [log_std_min, log_std_max].
    """

    hidden_dims: Sequence[int]
    action_dim: int
    log_std_min: float = -20.0
    log_std_max: float = 2.0
    layer_norm: bool = False
    kernel_init: Initializer = nn.initializers.xavier_uniform()

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        x = MLP(self.hidden_dims, layer_norm=self.layer_norm, kernel_init=self.kernel_init)(obs)
        mean = nn.Dense(self.action_dim, kernel_init=self.kernel_init)(x)
        log_std = nn.Dense(self.action_dim, kernel_init=self.kernel_init)(x)
        return mean, jnp.clip(log_std, self.log_std_min, self.log_std_max)


def tanh_gaussian_sample(mean: jnp.ndarray, log_std: jnp.ndarray, key: jax.Array) -> tuple[jnp.ndarray, jnp.ndarray]:
    """A reparameterized sample a = tanh(u) and its log-density log pi(a|s), summed over action dimensions.

    log pi(a) = log N(u; mean, std) - sum log(1 - tanh(u)^2), with
    log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) for numerical stability.
    """
    noise = jax.random.normal(key, mean.shape)
    u = mean + jnp.exp(log_std) * noise
    log_normal = -0.5 * noise**2 - log_std - 0.5 * jnp.log(2.0 * jnp.pi)
    log_det = 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return jnp.tanh(u), jnp.sum(log_normal - log_det, axis=-1)
