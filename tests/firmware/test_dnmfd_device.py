"""Deep-NMFD forward passes on the boards (thesis 4.4.3 with the precomputed shifted-ones
denominators): bit-exact with the golden reference (golden/dnmfd.py), whose agreement with the
float64 model is checked in tests/host/test_dnmfd_golden.py."""

import numpy as np
import pytest

from tinyunfold.golden import dnmfd as golden
from tinyunfold.tools.deploy import check_model

SHAPES = [
    {},  # ranks (2, 3, 1), m 6, n 5, K 6, C 2
    {"ranks": (4, 1, 2, 3), "m": 7, "n": 3, "K": 5, "C": 0},  # a rank longer than the window
]


@pytest.mark.parametrize("kernels", ["cmsis", "ref"])
@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an500", "stm32f405", "host"])
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_device_bits(dnmfd_model, board, kernels, shape):
    model, rng = dnmfd_model(shape + 1, **SHAPES[shape])
    c = golden.constants(model)
    X = (rng.random((3, c.n_bins, c.n_frames)) * 10).astype(np.float32)
    X[0, :, 0] = 0.0
    X[1, 2, :] = 0.0
    res = check_model(model, board, X, kernels)
    assert np.array_equal(res.outputs.view(np.uint32), res.reference.view(np.uint32))


def test_reordered_reference_fails_the_check(dnmfd_model):
    """The same products with the adjoint's r sum reversed: the board's bits differ from it."""
    model, rng = dnmfd_model(3)
    c = golden.constants(model)
    X = (rng.random((2, c.n_bins, c.n_frames)) * 10).astype(np.float32)
    res = check_model(model, "mps2-an386", X, "cmsis")
    assert res.bit_exact

    def reversed_layers(atoms, ranks, denom, eps, X, H, n_layers):
        m, n = X.shape
        idx = [(j, r) for j, rj in enumerate(ranks) for r in range(rj)]
        for _ in range(n_layers):
            V = np.zeros((m, n), dtype=np.float32)
            for a, (j, r) in enumerate(idx):
                V[:, r:] += atoms[a][:, None] * H[j][None, : n - r]
            Q = X / (V + eps)
            B = np.zeros((len(idx), n), dtype=np.float32)
            for f in range(m):
                B += atoms[:, f : f + 1] * Q[f : f + 1, :]
            N = np.zeros_like(H)
            for a, (j, r) in reversed(list(enumerate(idx))):  # r descending
                N[j, : n - r] += B[a, r:]
            H = golden.max_f32(H * (N / denom), eps)
        return H

    ref = []
    for x in X:
        H = np.ones((c.n_dicts, c.n_frames), dtype=np.float32)
        for A, D, k in zip(c.atoms, c.denominators, c.counts, strict=True):
            H = reversed_layers(A, c.ranks, D, c.eps, x, H, k)
        ref.append(H.ravel())
    ref = np.stack(ref)
    assert np.count_nonzero(res.outputs.view(np.uint32) != ref.view(np.uint32)) > 0
