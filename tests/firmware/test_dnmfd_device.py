"""Deep-NMFD forward passes on the boards (thesis 4.4.3 with the precomputed shifted-ones
denominators): bit-exact with the golden reference (golden/dnmfd.py), whose agreement with the
float64 model is checked in tests/host/test_dnmfd_golden.py."""

import dataclasses

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


def _denominator_reversed(atoms, ranks, n, eps, axis):
    """max(D, ε) with one sum of the start-up order reversed: ``"f"`` the column sums, ``"r"``
    the shifted sum over r (golden.ones_denominator_f32 adds both ascending)."""
    csum = np.zeros(atoms.shape[0], dtype=np.float32)
    f_order = range(atoms.shape[1])
    for f in reversed(f_order) if axis == "f" else f_order:
        csum += atoms[:, f]
    D = np.zeros((len(ranks), n), dtype=np.float32)
    row = 0
    for j, rj in enumerate(ranks):
        for r in reversed(range(rj)) if axis == "r" else range(rj):
            D[j, : max(n - r, 0)] += csum[row + r]
        row += rj
    return golden.max_f32(D, eps)


@pytest.mark.parametrize("axis", ["f", "r"])
def test_wrong_startup_order_fails_the_check(dnmfd_model, axis):
    """The board computes max(D, ε) at start-up (tu_nmfd_denominator_f32) in the golden's order:
    a reference whose denominators add the column sums (f) or the shifts (r) in reverse differs
    from the board's bits, which equal the golden's."""
    model, rng = dnmfd_model(11, ranks=(5, 3, 4), m=24, n=6, K=4, C=1)
    c = golden.constants(model)
    X = (rng.random((2, c.n_bins, c.n_frames)) * 10).astype(np.float32)
    res = check_model(model, "mps2-an386", X, "cmsis")
    assert np.array_equal(res.outputs.view(np.uint32), res.reference.view(np.uint32))
    bad = [_denominator_reversed(A, c.ranks, c.n_frames, c.eps, axis) for A in c.atoms]
    assert any(
        np.any(b.view(np.uint32) != d.view(np.uint32))
        for b, d in zip(bad, c.denominators, strict=True)
    )  # the reversed order rounds differently on this model
    ref = np.stack(
        [
            golden.dnmfd_forward_f32(dataclasses.replace(c, denominators=tuple(bad)), x).ravel()
            for x in X
        ]  # fmt: skip
    )
    assert np.count_nonzero(res.outputs.view(np.uint32) != ref.view(np.uint32)) > 0


def test_denominators_not_in_flash(dnmfd_model):
    """Only the dictionaries (and the ranks) are model constants in flash: the first term of
    eq. 4.5.6 exactly; the denominators live in RAM."""
    from tinyunfold.codegen import generate

    model, _ = dnmfd_model(5)
    c = golden.constants(model)
    gen = generate(model)
    assert gen.info["flash_const_bytes"] == 4 * sum(a.size for a in c.atoms) + 2 * c.n_dicts
    assert "tu_nmfd_denominator_f32" in gen.files["tu_model.c"]
