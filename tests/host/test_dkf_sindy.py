"""SINDy pieces of the DKF: degree-3 library, OMP, leave-one-out pruning (6.4.20-6.4.22)."""

from __future__ import annotations

import numpy as np

from tinyunfold.models.sindy import SindyTerm, library, loo_prune, monomials, omp, relative_residue
from tinyunfold.models.systems import simulate, system_from_toml


def test_library_has_all_monomials_up_to_degree_3():
    exps = monomials(2, 3)
    assert len(exps) == 10 and len(set(exps)) == 10
    x = np.array([[2.0, 3.0]])
    phi = library(x, exps)[0]
    assert sorted(phi.tolist()) == sorted([1, 2, 3, 4, 6, 9, 8, 12, 18, 27])


def test_omp_recovers_a_sparse_vector():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 20))
    x = np.zeros(20)
    x[[3, 11, 17]] = [1.5, -2.0, 0.7]
    est = omp(A, A @ x, 3)
    np.testing.assert_allclose(est, x, atol=1e-10)


def test_loo_pruning_removes_only_what_costs_less_than_tau():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((50, 8))
    x_true = np.zeros(8)
    x_true[[0, 4]] = [1.0, -1.0]
    b = A @ x_true + 0.01 * rng.standard_normal(50)
    x_hat = omp(A, b, 4)  # over-estimated sparsity level: two spurious entries
    assert np.count_nonzero(x_hat) == 4
    pruned = loo_prune(A, b, x_hat, tau=0.5)
    assert set(np.flatnonzero(pruned)) == {0, 4}
    np.testing.assert_array_equal(pruned[[0, 4]], x_hat[[0, 4]])  # no refit (6.4.22)
    # definition check: removing any kept index would cost more than (1 + τ) r(S)
    rS = relative_residue(A, b, x_hat, list(np.flatnonzero(x_hat)))
    for i in (0, 4):
        assert relative_residue(A, b, x_hat, [j for j in (0, 4) if j != i]) >= 1.5 * rS
    # τ = 0 keeps a support whose every removal increases the residue
    assert np.count_nonzero(loo_prune(A, b, x_hat, tau=0.0)) >= 2


def test_sindy_finds_the_missing_fitzhugh_nagumo_terms_on_clean_states():
    doc = {
        "name": "fhn", "kind": "fitzhugh_nagumo", "dt": 0.08, "steps": 250, "x0": [0.1, 0.2],
        "C": [[1.0, 0.0], [0.0, 1.0]],
        "model": {"alpha": 0.0, "beta": 0.0, "gamma": 0.0},
        "truth": {"alpha": -0.5, "beta": 1.0, "gamma": 0.1},
        "noise": {"sigma_q": 0.0, "sigma_r": 0.0, "sigma_p": 0.0},
        "filter": {"sigma_q": 0.1, "sigma_r": 0.1, "sigma_p": 0.1},
    }  # fmt: skip
    s = system_from_toml(doc)
    x = simulate(s, 1, None, seed=0)["x"]
    t = SindyTerm.fit_from_states(s, s.model, x, n_nonzero=5, tau=0.05)
    coef = {(e, j): t.s[i, j] for i, e in enumerate(t.exps) for j in range(2)}
    assert abs(coef[((3, 0), 0)] - (-0.5)) < 0.01  # α x1³
    assert abs(coef[((0, 0), 0)] - 1.0) < 0.01  # β
    assert abs(coef[((2, 0), 1)] - 0.1) < 0.01  # γ x1²
