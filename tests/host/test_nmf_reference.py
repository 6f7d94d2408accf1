"""The float32 golden NMF reference: its reductions are the C's sequential loops, and it agrees
with the float64 model numerically (a tolerance is right here: this is not a firmware check)."""

import numpy as np
import pytest

from tinyunfold.errors import ShapeError, ValueDomainError
from tinyunfold.golden.linalg import column_sums_f32, mat_mult_f32
from tinyunfold.golden.nmf import constants, nmf_forward_f32
from tinyunfold.models.nmf import NMFInference


def _scalar_matmul(A, B):
    """One float32 scalar at a time, as the C loop does."""
    out = np.zeros((A.shape[0], B.shape[1]), dtype=np.float32)
    for i in range(A.shape[0]):
        for j in range(B.shape[1]):
            acc = np.float32(0)
            for k in range(A.shape[1]):
                acc = np.float32(acc + np.float32(A[i, k] * B[k, j]))
            out[i, j] = acc
    return out


@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 7, 3), (9, 13, 2)])
def test_mat_mult_matches_scalar_loop_bits(rng, shape):
    m, k, n = shape
    A = rng.standard_normal((m, k)).astype(np.float32)
    B = rng.standard_normal((k, n)).astype(np.float32)
    assert np.array_equal(mat_mult_f32(A, B).view(np.uint32), _scalar_matmul(A, B).view(np.uint32))


def test_column_sums_sequential(rng):
    A = rng.random((11, 4)).astype(np.float32)
    expect = np.zeros(4, dtype=np.float32)
    for row in A:
        expect = (expect + row).astype(np.float32)
    assert np.array_equal(column_sums_f32(A), expect)


def test_float32_reference_close_to_float64(rng):
    W = rng.random((24, 5)).astype(np.float32)
    X = (W @ rng.random((5, 4)) * 10).astype(np.float32)
    m = NMFInference(W, n_layers=60, alpha_h=0.05, n_frames=4)
    H64 = m.transform(X)
    H32 = nmf_forward_f32(constants(m.to_modelfile()), X)
    assert H32.dtype == np.float32
    np.testing.assert_allclose(H32, H64, rtol=2e-4, atol=1e-6)


def test_updates_reduce_kl_divergence(rng):
    W = rng.random((30, 4))
    X = W @ rng.random((4, 6)) + 0.01

    def kl(H):
        V = W @ H
        return float(np.sum(X * np.log(X / V) - X + V))

    losses = [kl(NMFInference(W, n_layers=k, n_frames=6).transform(X)) for k in (1, 5, 25, 100)]
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.1 * losses[0]


def test_input_checks(rng):
    m = NMFInference(rng.random((6, 2)).astype(np.float32), n_layers=2, n_frames=3)
    c = constants(m.to_modelfile())
    with pytest.raises(ShapeError):
        nmf_forward_f32(c, np.ones((5, 3), np.float32))
    with pytest.raises(ShapeError):
        nmf_forward_f32(c, np.ones((6, 4), np.float32))
    with pytest.raises(ValueDomainError):
        nmf_forward_f32(c, -np.ones((6, 3), np.float32))
    bad = np.ones((6, 3), np.float32)
    bad[1, 1] = np.nan
    with pytest.raises(ValueDomainError):
        m.transform(bad)
