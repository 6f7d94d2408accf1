"""The mask-aware PAD-NMF path (golden/padnmf.py, firmware/src/tu_padnmf_*): its supports are the
thesis' masks, it gives the dense path's bits, and the order of the kept terms matters
(docs/numerics.md, "Skipping structural zeros")."""

import numpy as np
import pytest

from tinyunfold.golden import padnmf as g
from tinyunfold.models.padnmf import PADNMF, block_h_mask

F32 = np.float32


def _spec(rng, m=5, n=4):
    spec = (rng.random((m, n)) * 10).astype(F32)
    spec[:, 0] = 0.0  # an empty frame: zero columns in X
    spec[1, 2] = 0.0
    return spec


def _bits(a):
    return np.ascontiguousarray(a, dtype=F32).view(np.uint32)


def test_support_is_the_hankel_mask_and_the_h_mask(padnmf_model):
    model, _ = padnmf_model("padnmf", True, 0, n_bins=5, T=3, ranks=(3, 2, 4), n=5)
    c = g.constants(model)
    s = g.support(c.dictionaries, c.mask, c.n_frames)
    m, T = 5, 3
    atom = np.concatenate([np.arange(r) for r in (3, 2, 4)])
    # M^W (4.3.6-4.3.8): atom s of a block sees the last min(s+1, T) frames of its context
    np.testing.assert_array_equal(s.w_lo, (T - 1 - np.minimum(atom, T - 1)) * m)
    np.testing.assert_array_equal(s.w_len, (np.minimum(atom, T - 1) + 1) * m)
    np.testing.assert_array_equal(s.w_off, np.concatenate([[0], np.cumsum(s.w_len)[:-1]]))
    # M^H (4.3.11-4.3.13): one atom per block in each frame, CSC order
    MH = np.concatenate([block_h_mask(r, 5) for r in (3, 2, 4)])
    back = g.expand_h(np.ones(s.nnz, dtype=F32), s, 9, 5)
    np.testing.assert_array_equal(back, MH)
    assert s.nnz == 3 * 5
    assert s.kept_macs() == 2 * sum(int(s.w_len[r]) for r in s.h_rows)


def test_compact_dictionary_refuses_nonzeros_off_the_support(padnmf_model):
    model, _ = padnmf_model("padnmf", True, 0)
    c = g.constants(model)
    s = g.support(c.dictionaries, c.mask, c.n_frames)
    Wc = g.compact_dictionary(c.dictionaries[0], s)
    assert Wc.size == s.w_size < c.dictionaries[0].size
    W = c.dictionaries[0].copy()
    W[0, 0] = 1.0  # row 0 of atom 0 lies outside its Hankel range
    with pytest.raises(ValueError, match="outside the support"):
        g.compact_dictionary(W, s)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "kind, h_mask, shape",
    [
        ("padnmf", True, {}),
        ("padnmf", False, {}),  # M^W only (as the published piano network)
        ("deepnmf", False, {}),  # no masks: the supports are everything
        ("padnmf", True, {"n_bins": 4, "T": 4, "ranks": (5, 1, 2), "K": 12, "C": 4, "n": 6}),
    ],
)
def test_masked_golden_gives_the_dense_bits(padnmf_model, seed, kind, h_mask, shape):
    model, rng = padnmf_model(kind, h_mask, seed, **shape)
    c = g.constants(model)
    spec = _spec(rng, c.n_bins, c.n_frames)
    dense = g.padnmf_forward_f32(c, spec)
    masked = g.padnmf_forward_masked_f32(c, spec)
    np.testing.assert_array_equal(_bits(masked), _bits(dense))
    assert np.all(np.isfinite(dense)) and np.count_nonzero(dense) > 0


@pytest.mark.parametrize("kind, h_mask", [("padnmf", True), ("deepnmf", False)])
def test_reordering_the_kept_terms_changes_the_bits(padnmf_model, kind, h_mask):
    """Skipping zeros is exact only because the kept terms keep their order: the same products
    summed in reverse order (still skipping the same zeros) differ from the dense path."""
    model, rng = padnmf_model(kind, h_mask, 0)
    c = g.constants(model)
    spec = _spec(rng, c.n_bins, c.n_frames)
    dense = g.padnmf_forward_f32(c, spec)
    rev = g.padnmf_forward_masked_f32(c, spec, order="reversed")
    assert np.count_nonzero(_bits(rev) != _bits(dense)) > 0
    np.testing.assert_allclose(rev, dense, rtol=1e-4)  # same mathematics, other rounding


def test_adding_signed_zero_keeps_a_sequential_sum():
    """The argument of docs/numerics.md on 20,000 random sums: a sequential float32 sum from +0
    with products of a +0 factor inserted anywhere equals the sum of the kept terms alone; the
    same terms in another order do not (in general); a 0 * inf term does not vanish."""
    rng = np.random.default_rng(7)
    kept = (rng.random((20000, 17)) * rng.choice([1e-3, 1.0, 1e3], (20000, 17))).astype(F32)
    w = (rng.random((20000, 17)) * 3).astype(F32)

    def seq(terms_a, terms_b):
        acc = np.zeros(terms_a.shape[0], dtype=F32)
        for k in range(terms_a.shape[1]):
            acc += terms_a[:, k] * terms_b[:, k]
        return acc

    ref = seq(kept, w)
    # insert 9 structural zeros (W = 0 times a finite nonnegative factor) at random places
    zeros_at = np.sort(rng.choice(26, 9, replace=False))
    a = np.insert(kept, zeros_at - np.arange(9), 0.0, axis=1)
    b = np.insert(w, zeros_at - np.arange(9), (rng.random(9) * 5).astype(F32), axis=1)
    assert np.count_nonzero(a == 0) >= 9 * 20000
    np.testing.assert_array_equal(_bits(seq(a, b)), _bits(ref))
    assert np.count_nonzero(_bits(seq(kept[:, ::-1], w[:, ::-1])) != _bits(ref)) > 1000
    b_inf = b.copy()
    b_inf[:, zeros_at[0]] = np.inf  # 0 * inf = NaN: the precondition "finite factors"
    with np.errstate(invalid="ignore"):
        assert np.all(np.isnan(seq(a, b_inf)))


def _warm_model(padnmf_model, kind, h_mask, stride):
    model, rng = padnmf_model(kind, h_mask, 3, n=6)
    model.params["warm_stride"] = stride
    return model, rng


@pytest.mark.parametrize("kind, h_mask", [("padnmf", True), ("deepnmf", False)])
def test_warm_start_masked_and_dense_agree(padnmf_model, kind, h_mask):
    model, rng = _warm_model(padnmf_model, kind, h_mask, 2)
    c = g.constants(model)
    s = g.support(c.dictionaries, c.mask, c.n_frames)
    prev = g.padnmf_forward_f32(c, _spec(rng, 5, 6))
    spec = _spec(rng, 5, 6)
    dense = g.padnmf_forward_f32(c, spec, h_prev=prev)
    masked = g.padnmf_forward_masked_f32(c, spec, h_prev=prev)
    np.testing.assert_array_equal(_bits(masked), _bits(dense))
    cold = g.padnmf_forward_f32(c, spec)
    assert not np.array_equal(_bits(dense), _bits(cold))
    # the table: entry (r, j) takes prev[r, j + 2] when that is on the support, else starts at 1
    h0 = g.warm_start_f32(c, s, prev)
    keep = g.expand_h(np.ones(s.nnz, F32), s, c.rank, 6) > 0
    for i, (r, j) in enumerate(zip(s.h_rows, s.h_cols, strict=True)):
        if j + 2 < 6 and keep[r, j + 2]:
            assert h0[i] == max(prev[r, j + 2], c.eps)
        else:
            assert h0[i] == 1.0


def test_warm_stride_zero_is_the_cold_start(padnmf_model):
    model, rng = _warm_model(padnmf_model, "padnmf", True, 0)
    c = g.constants(model)
    prev = g.padnmf_forward_f32(c, _spec(rng, 5, 6))
    spec = _spec(rng, 5, 6)
    np.testing.assert_array_equal(
        _bits(g.padnmf_forward_f32(c, spec, h_prev=prev)), _bits(g.padnmf_forward_f32(c, spec))
    )


def test_warm_start_in_the_float64_model_matches_the_golden(padnmf_model):
    model, rng = _warm_model(padnmf_model, "padnmf", True, 2)
    c = g.constants(model)
    est = PADNMF.from_modelfile(model)
    specs = [_spec(rng, 5, 6) for _ in range(3)]
    H64 = est.transform_stream(specs)
    prev = None
    for spec, h64 in zip(specs, H64, strict=True):
        prev = g.padnmf_forward_f32(c, spec, h_prev=prev)
        np.testing.assert_allclose(prev, h64, rtol=2e-4, atol=1e-6)
