import jax
import numpy as np
import pytest

from hybridrl.nets.mlp import orthogonal_init


@pytest.mark.parametrize("shape", [(17, 256), (256, 256), (256, 6), (64, 1)])
def test_orthogonal_init_is_scaled_semi_orthogonal(shape):
    w = np.asarray(orthogonal_init(2.0)(jax.random.PRNGKey(0), shape))
    assert w.shape == shape and w.dtype == np.float32
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-5)


def test_orthogonal_init_under_jit_vmap_gives_distinct_orthogonal_matrices():
    # The case that deadlocked XLA's CPU QR: several batched QRs in one program.
    init = orthogonal_init(1.0)
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    ws = jax.jit(lambda ks: [jax.vmap(lambda k: init(k, (256, 256)))(ks) for _ in range(4)])(keys)[0]
    assert ws.shape == (4, 256, 256)
    for w in np.asarray(ws):
        np.testing.assert_allclose(w.T @ w, np.eye(256), atol=1e-5)
    assert not np.allclose(ws[0], ws[1])
    np.testing.assert_array_equal(np.asarray(ws[2]), np.asarray(jax.jit(lambda k: init(k, (256, 256)))(keys[2])))
