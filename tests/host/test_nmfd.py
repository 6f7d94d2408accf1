"""NMFD operators and multiplicative updates (thesis eq. 3.3.2, 3.3.10-3.3.11)."""

from __future__ import annotations

import numpy as np
import pytest

from tinyunfold.models import nmfd


def _random_problem(seed: int, J: int = 3, m: int = 6, n: int = 17, ranks=(1, 3, 4)):
    rng = np.random.default_rng(seed)
    R = max(ranks)
    W = rng.uniform(0.1, 1.0, (J, m, R)) * nmfd.rank_mask(ranks)
    H = rng.uniform(0.1, 1.0, (J, n))
    return rng, W, H


def _convolve_loops(W, H, ranks):
    """Literal eq. (3.3.2): Σ_j Σ_{r<r_j} W(j)[:, r] (→r H(j))."""
    J, m, _ = W.shape
    out = np.zeros((m, H.shape[1]))
    for j in range(J):
        for r in range(ranks[j]):
            out += np.outer(W[j, :, r], nmfd.shift_right(H[j], r))
    return out


def test_shift_operators_and_stack():
    A = np.arange(10.0).reshape(2, 5)
    assert np.array_equal(nmfd.shift_right(A, 2), [[0, 0, 0, 1, 2], [0, 0, 5, 6, 7]])
    assert np.array_equal(nmfd.shift_left(A, 2), [[2, 3, 4, 0, 0], [7, 8, 9, 0, 0]])
    assert np.array_equal(nmfd.shift_right(A, 7), np.zeros_like(A))
    S = nmfd.shift_stack(A, 3)
    for r in range(3):
        assert np.array_equal(S[:, r], nmfd.shift_right(A, r))


def test_convolve_matches_definition():
    ranks = (1, 3, 4)
    _, W, H = _random_problem(0, ranks=ranks)
    np.testing.assert_allclose(nmfd.convolve(W, H), _convolve_loops(W, H, ranks), rtol=1e-13)


def test_adjoints():
    """<W*H, A> = <H, adj_h(W, A)> = <W, adj_w(A, H)>: the ←r terms are exact adjoints."""
    rng, W, H = _random_problem(1)
    A = rng.standard_normal((W.shape[1], H.shape[1]))
    lhs = np.sum(nmfd.convolve(W, H) * A)
    np.testing.assert_allclose(np.sum(H * nmfd.convolve_adjoint_h(W, A)), lhs, rtol=1e-12)
    R = W.shape[2]
    np.testing.assert_allclose(np.sum(W * nmfd.convolve_adjoint_w(A, H, R)), lhs, rtol=1e-12)
    # Literal Σ_r W(j)_rᵀ (←r A) of eq. (3.3.10)
    lit = np.stack([sum(W[j, :, r] @ nmfd.shift_left(A, r) for r in range(R)) for j in range(3)])
    np.testing.assert_allclose(nmfd.convolve_adjoint_h(W, A), lit, rtol=1e-12)
    # shifted-ones denominator of (4.4.3)
    ones = np.ones_like(A)
    np.testing.assert_allclose(
        nmfd.ones_denominator(W, A.shape[1]), nmfd.convolve_adjoint_h(W, ones), rtol=1e-12
    )


def test_batched_operators_match_single():
    rng, W, H = _random_problem(2)
    Hb = np.stack([H, 2 * H + 0.1])
    Xb = nmfd.convolve(W, Hb)
    assert Xb.shape == (2, W.shape[1], H.shape[1])
    np.testing.assert_allclose(Xb[1], nmfd.convolve(W, Hb[1]))
    A = rng.uniform(size=Xb.shape)
    np.testing.assert_allclose(nmfd.convolve_adjoint_h(W, A)[1], nmfd.convolve_adjoint_h(W, A[1]))
    np.testing.assert_allclose(
        nmfd.convolve_adjoint_w(A, Hb, W.shape[2]),
        nmfd.convolve_adjoint_w(A[0], Hb[0], W.shape[2])
        + nmfd.convolve_adjoint_w(A[1], Hb[1], W.shape[2]),
    )


@pytest.mark.parametrize("beta", [0.0, 1.0, 2.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mu_updates_decrease_beta_divergence(beta, seed):
    """Every H step and every W step of plain NMFD (3.3.10)-(3.3.11) lowers D_β on random data."""
    ranks = (2, 3, 1, 4)
    rng = np.random.default_rng(100 + seed)
    X = rng.uniform(0.05, 2.0, (8, 30))
    model = nmfd.NMFD(ranks=ranks, beta=beta, n_iter=1, random_state=seed)
    W, H = model._init(X, None, None)
    mask = nmfd.rank_mask(ranks)
    prev = nmfd.beta_divergence(X, nmfd.convolve(W, H) + model.eps, beta)
    first = prev
    for _ in range(60):
        H = nmfd.update_h(X, W, H, beta, model.eps)
        cur = nmfd.beta_divergence(X, nmfd.convolve(W, H) + model.eps, beta)
        assert cur <= prev * (1 + 1e-12) + 1e-12
        prev = cur
        W = nmfd.update_w(X, W, H, beta, model.eps, mask=mask)
        cur = nmfd.beta_divergence(X, nmfd.convolve(W, H) + model.eps, beta)
        assert cur <= prev * (1 + 1e-12) + 1e-12
        prev = cur
    assert prev < 0.5 * first  # and it actually makes progress
    assert np.all(W * (1 - mask) == 0)  # columns r >= r_j stay exactly zero


def test_fit_recovers_planted_patterns():
    """Exact low-complexity data: NMFD with the right ranks reconstructs it closely (KL)."""
    rng = np.random.default_rng(5)
    ranks = (3, 2)
    W0 = rng.uniform(0, 1, (2, 10, 3)) * nmfd.rank_mask(ranks)
    H0 = (rng.uniform(size=(2, 60)) < 0.1) * rng.uniform(1, 2, (2, 60))
    X = nmfd.convolve(W0, H0)
    model = nmfd.NMFD(ranks=ranks, beta=1, n_iter=400, random_state=1).fit(X)
    assert np.all(np.diff(model.loss_) <= 1e-9 * model.loss_[0])
    rel = np.linalg.norm(model.reconstruct() - X) / np.linalg.norm(X)
    assert rel < 0.05
    assert model.W_.shape == (2, 10, 3) and np.all(model.W_[1, :, 2] == 0)


def test_bad_input_is_rejected():
    from tinyunfold.errors import ValueDomainError

    with pytest.raises(ValueDomainError):
        nmfd.NMFD(ranks=(2,)).fit(-np.ones((3, 4)))
    with pytest.raises(ValueDomainError):
        nmfd.NMFD(ranks=(0,)).fit(np.ones((3, 4)))
