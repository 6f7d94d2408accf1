"""ARD-NMF (3.2.41-3.2.51) and ARD-NMFD (3.3.12-3.3.21, appendix 3.C): bounds, b rule, λ solver."""

from __future__ import annotations

import numpy as np
import pytest

from tinyunfold.datasets import swimmer
from tinyunfold.models import ard, nmfd


def test_nmfd_constants_and_bound_reduce_to_nmf_when_ranks_are_one():
    m, n, a, b = 20, 300, 10.0, 0.7
    for prior in ("l1", "l2"):
        c1, c2 = ard.nmfd_c(m, n, a, prior)
        assert c1 + c2 == pytest.approx(ard.nmf_c(m, n, a, prior))
        # B(j) = b / (c1 + c2/r_j) (3.3.17) is the NMF bound b/c when r_j = 1
        assert ard.nmfd_bound(b, c1, c2, [1])[0] == pytest.approx(b / ard.nmf_c(m, n, a, prior))
    # larger ranks: c2/r_j shrinks, the bound grows towards b/c1
    c1, c2 = ard.nmfd_c(m, n, a, "l1")
    B = ard.nmfd_bound(b, c1, c2, [1, 2, 6])
    assert B[0] < B[1] < B[2] < b / c1
    # b rule (3.3.21) with r_j ≡ 1 equals (3.2.51)
    assert ard.nmfd_b_l1(0.3, [1] * 7, a) == pytest.approx(ard.nmf_b(0.3, 7, a, "l1"))
    # and inverts (3.3.20)
    bb = ard.nmfd_b_l1(0.3, [3, 1, 5], a)
    assert ard.expected_mean_l1(bb, [3, 1, 5], a) == pytest.approx(0.3)


def test_bound_is_the_all_zero_fixed_point_of_the_lambda_system():
    """With W(j) = 0 and H(j) = 0, λ(j) ≡ B(j) solves (3.3.16), for any r_j."""
    ranks = np.array([1, 3, 6])
    mask = nmfd.rank_mask(ranks)[:, 0, :]
    c1, c2, b = 25.0, 400.0, 1.3
    B = ard.nmfd_bound(b, c1, c2, ranks)
    lam = np.where(mask > 0, B[:, None], 1.0)
    res = ard.lambda_residual(lam, np.zeros(mask.shape), np.zeros(3), mask, c1, c2, b)
    np.testing.assert_allclose(res, 0, atol=1e-12)
    # the solver finds it from elsewhere too
    sol = ard.solve_lambda(lam * 3.0, np.zeros(mask.shape), np.zeros(3), mask, c1, c2, b)
    np.testing.assert_allclose(sol[mask > 0], np.repeat(B, ranks), rtol=1e-8)


def test_lambda_solver_residual_and_rank_one_closed_form():
    rng = np.random.default_rng(0)
    ranks = np.array([1, 4, 2])
    mask = nmfd.rank_mask(ranks)[:, 0, :]
    wn = rng.uniform(0, 5, mask.shape) * mask
    hn = rng.uniform(0, 50, 3)
    c1, c2, b = 30.0, 200.0, 2.0
    lam = ard.solve_lambda(np.where(mask > 0, 0.1, 1.0), wn, hn, mask, c1, c2, b)
    assert np.all(lam[mask > 0] > 0)
    np.testing.assert_allclose(ard.lambda_residual(lam, wn, hn, mask, c1, c2, b), 0, atol=1e-9)
    # r_j = 1: λ = (‖W‖ + ‖H‖ + b) / (c1 + c2), the NMF update (3.2.44)
    assert lam[0, 0] == pytest.approx((wn[0, 0] + hn[0] + b) / (c1 + c2))
    # the fallback (bisection on μ) gives the same solution
    fp = ard._solve_lambda_fixed_point(np.ones(mask.shape), wn, hn, mask, c1, c2, b)
    np.testing.assert_allclose(fp[mask > 0], lam[mask > 0], rtol=1e-7)


def test_b_rule_matches_monte_carlo_of_the_generative_model():
    """(3.3.20) (l1) and the Monte Carlo b for l2 agree with sampling W, H from the priors."""
    rng = np.random.default_rng(1)
    a, b, ranks, n = 10.0, 2.0, [2, 3], 12
    samples = {"l1": [], "l2": []}
    for _ in range(3000):
        for prior in ("l1", "l2"):
            lam = [1.0 / rng.gamma(a, 1.0 / b, size=r) for r in ranks]  # IG(a, b)
            if prior == "l1":
                W = [rng.exponential(lj, size=(1, lj.size)) for lj in lam]
                H = [rng.exponential(lj.mean(), size=n) for lj in lam]
            else:
                W = [np.abs(rng.normal(0, np.sqrt(lj), size=(1, lj.size))) for lj in lam]
                H = [np.abs(rng.normal(0, np.sqrt(lj.mean()), size=n)) for lj in lam]
            Wst = np.zeros((2, 1, 3))
            for j, w in enumerate(W):
                Wst[j, :, : w.shape[1]] = w
            Xs = nmfd.convolve(Wst, np.stack(H))[:, 3:]  # skip the first columns (edge)
            samples[prior].append(Xs.mean())
    mc_l1 = np.mean(samples["l1"])
    assert ard.expected_mean_l1(b, ranks, a) == pytest.approx(mc_l1, rel=0.05)
    b_l2 = ard.nmfd_b_l2(np.mean(samples["l2"]), ranks, a, n_samples=100_000)
    assert b_l2 == pytest.approx(b, rel=0.05)


def test_ard_nmf_swimmer_recovers_rank_16():
    """Fig. 3.3: ℓ1-ARD, β = 1, r = 32, a = 10, τ = 1e-6 on the noisy vectorised swimmer."""
    X = swimmer.swimmer_vectorised(intensity=20, seed=0)
    model = ard.ARDNMF(rank=32, beta=1, prior="l1", a=10, tau=1e-6, n_iter=150).fit(X)
    assert model.rank_ == 16
    rel = (model.lambda_ - model.bound_) / model.bound_
    assert np.sort(rel)[::-1][15] > 1.0 and np.sort(rel)[::-1][16] < 1e-6  # clear gap
    # every relevant atom is one limb segment: 3 bright pixels
    W = model.W_[:, model.relevant_]
    bright = (W > 0.2 * W.max(axis=0)).sum(axis=0)
    assert np.all(bright >= 3)


def test_ard_nmf_objective_decreases_l2():
    rng = np.random.default_rng(3)
    X = rng.poisson(5 * rng.uniform(size=(15, 4)) @ rng.uniform(size=(4, 40))).astype(float)
    model = ard.ARDNMF(rank=10, prior="l2", a=10, n_iter=100).fit(X)
    loss = np.array(model.loss_)
    assert np.all(np.diff(loss) <= 1e-8 * abs(loss[0]))
    assert 1 <= model.rank_ <= 10


@pytest.mark.parametrize("prior", ["l1", "l2"])
def test_ard_nmfd_small_planted_problem(prior):
    """Two planted patterns (ranks 3 and 1) among J = 5 candidates of rank 4."""
    rng = np.random.default_rng(4)
    W0 = np.zeros((2, 8, 3))
    W0[0, 1:4, :] = np.eye(3) * 3  # a diagonal stroke of length 3
    W0[1, 6, 0] = 4.0
    H0 = (rng.uniform(size=(2, 400)) < 0.05) * 5.0
    X = rng.poisson(nmfd.convolve(W0, H0)).astype(float)
    model = ard.ARDNMFD(n_dicts=5, max_rank=4, prior=prior, a=1e3, tau=1e-3, n_iter=150).fit(X)
    assert model.n_dicts_ == 2
    assert sorted(model.ranks_[model.relevant_].tolist()) == [1, 3]
    assert np.all(model.ranks_[~model.relevant_] == 0)


@pytest.mark.slow
def test_ard_nmfd_swimmer_finds_13_dictionaries():
    """Section 3.3.2: J = 26, r_j ≡ 6, a = 5e4, τ = 1e-3, β = 1, ℓ1; thesis: Ĵ = 13."""
    X = swimmer.swimmer_concatenated(intensity=20, seed=0)
    model = ard.ARDNMFD(n_dicts=26, max_rank=6, a=5e4, tau=1e-3, n_iter=200).fit(X)
    assert model.n_dicts_ == 13


def test_bad_prior():
    from tinyunfold.errors import ValueDomainError

    with pytest.raises(ValueDomainError):
        ard.ARDNMF(prior="l3").fit(np.ones((3, 3)))
