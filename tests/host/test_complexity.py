"""Cost/memory formulas 4.5.1-4.5.6 and Table 4 of the thesis."""

from __future__ import annotations

import numpy as np
import pytest

from tinyunfold import complexity as cx
from tinyunfold.models import nmfd


def test_formulas_small_cases():
    # r_j ≡ 1, J̄ dictionaries: NMFD is NMF; check (4.5.5) term by term on a tiny case.
    assert cx.cost_deep_nmfd([1, 1], n=3, m=2, K=1) == 2 * 3 * (2 + 1) + 3 * 2 * (7 * 2 - 2 - 6)
    assert cx.cost_pad_nmf(r=2, n=3, m=4, T=2, K=5) == 2 * 3 * 5 * 33
    assert cx.cost_deep_nmf(r=2, n=3, m=4, T=2, K=5, C=2) == 6 * (3 * 33 + 2 * 17)
    # with C = 0 Deep-NMF and PAD-NMF costs coincide
    assert cx.cost_deep_nmf(7, 5, 3, 4, 9, 0) == cx.cost_pad_nmf(7, 5, 3, 4, 9)
    assert cx.memory_pad_nmf(r=4, m=3, T=2, C=1) == 2 * 3 * 2 * 4 + 2 * 4
    assert cx.memory_pad_nmf(r=4, m=3, T=2, C=1, include_denominators=False) == 48
    assert cx.memory_deep_nmfd([2, 3], m=5, C=2) == 3 * 5 * 5 + 3 * 2
    assert cx.memory_deep_nmf(r=4, m=3, T=2, C=1) == 24 + 12 + 8


def test_deep_nmfd_memory_matches_model_arrays():
    """(4.5.6): C+1 dictionaries (C trainable + the fixed Ŵ) of m Σ r_j scalars."""
    ranks, m, C = [2, 3, 1], 7, 4
    W = np.zeros((len(ranks), m, max(ranks))) + nmfd.rank_mask(ranks)
    stored_per_dict = int(np.count_nonzero(W))
    assert cx.memory_deep_nmfd(ranks, m, C, include_denominators=False) == (C + 1) * stored_per_dict


def test_table4_printed_scenarios_where_formulas_agree():
    rows = cx.table4("printed")
    # Deep-NMFD cost (4.5.5) of scenarios 2 and 3 and memory of scenario 2 follow directly.
    assert rows[1]["C_dnmfd_mflops"] == pytest.approx(25.63, abs=0.005)
    assert rows[2]["C_dnmfd_mflops"] == pytest.approx(11.62, abs=0.005)
    assert rows[1]["M_pad_mb"] == pytest.approx(1.24, abs=0.005)
    assert rows[1]["M_dnmfd_mb"] == pytest.approx(0.06, abs=0.005)
    # ...while (4.5.3) as printed does not give the PAD-NMF cost column (documented).
    assert abs(rows[1]["C_pad_mflops"] - 45.48) > 1


def test_table4_thesis_variant_reproduces_every_printed_number():
    rows = cx.table4("thesis")
    keys = ("C_pad_mflops", "C_dnmfd_mflops", "M_pad_mb", "M_dnmfd_mb")
    for row, ref in zip(rows, cx.TABLE4_THESIS, strict=True):
        for k, v in zip(keys, ref, strict=True):
            assert round(row[k], 2) == pytest.approx(v, abs=1e-9), (row["scenario"], k, row[k], v)
    text = cx.format_table4(rows)
    assert "437.99" in text and "Machine monitoring" in text


def test_bad_variant():
    with pytest.raises(ValueError):
        cx.table4("nope")


def _count_layer_ops(ranks, n, m):
    """Literal operation count of one layer (4.4.3) with exact shifts (no zero products)."""
    Jb = len(ranks)
    ops = 0
    for t in range(n):  # W*H: every output (i, t) sums its nonzero terms
        terms = sum(min(r, t + 1) for r in ranks)
        ops += m * (2 * terms - 1)
    ops += 2 * m * n  # + ε, ⊘
    for r_j in ranks:  # adjoint: N(j)_t = Σ_{r, t+r<n} Σ_i W(j)_{i,r} Q_{i,t+r}
        for t in range(n):
            terms = m * sum(1 for r in range(r_j) if t + r < n)
            ops += 2 * terms - 1
    ops += 2 * Jb * n  # H ∘ N ⊘ D
    return ops


def test_adjoint_cost_matches_a_literal_count():
    for ranks, n, m in (([3, 1, 4], 7, 5), ([2] * 6, 3, 4), ([5], 12, 2)):
        K = 3
        assert cx.cost_deep_nmfd_adjoint(ranks, n, m, K) == K * _count_layer_ops(ranks, n, m)
    # (4.5.5) counts far more for many sources: about (J̄ + 1)/2 convolutions per layer
    sc = cx.SCENARIOS[0]
    ratio = cx.cost_deep_nmfd(sc.ranks, sc.n, sc.m, sc.K) / cx.cost_deep_nmfd_adjoint(
        sc.ranks, sc.n, sc.m, sc.K
    )
    assert 30 < ratio < 60
