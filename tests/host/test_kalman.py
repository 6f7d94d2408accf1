"""Kalman filter, RTS smoother and EM against brute-force Gaussian conditioning."""

from __future__ import annotations

import numpy as np
import pytest

from tinyunfold.errors import ValueDomainError
from tinyunfold.models.kalman import (
    LinearDynamicalSystemEM,
    check_spd,
    kalman_filter,
    observability_gramian,
    rts_smoother,
    simulate_linear,
    steady_state_gain,
)


def _random_system(rng: np.random.Generator, n: int = 3, m: int = 2):
    A = 0.8 * np.linalg.qr(rng.standard_normal((n, n)))[0] + 0.1 * rng.standard_normal((n, n))
    C = rng.standard_normal((m, n))
    Lq = rng.standard_normal((n, n)) * 0.3
    Lr = rng.standard_normal((m, m)) * 0.3
    Q = Lq @ Lq.T + 0.05 * np.eye(n)
    R = Lr @ Lr.T + 0.1 * np.eye(m)
    mu0 = rng.standard_normal(n)
    P0 = np.eye(n) * 0.7
    return A, C, Q, R, mu0, P0


def _joint_gaussian(A, C, Q, R, mu0, P0, K):
    """Mean/covariance of (x(0..K), y(1..K)) stacked, built from the noise sources."""
    n, m = A.shape[0], C.shape[0]
    # sources: x0 (n), w1..wK (K n), v1..vK (K m)
    ns = n + K * n + K * m
    Tx = np.zeros(((K + 1) * n, ns))
    Tx[:n, :n] = np.eye(n)
    for k in range(1, K + 1):
        Tx[k * n : (k + 1) * n] = A @ Tx[(k - 1) * n : k * n]
        Tx[k * n : (k + 1) * n, n + (k - 1) * n : n + k * n] += np.eye(n)
    Ty = np.zeros((K * m, ns))
    for k in range(1, K + 1):
        Ty[(k - 1) * m : k * m] = C @ Tx[k * n : (k + 1) * n]
        Ty[(k - 1) * m : k * m, n + K * n + (k - 1) * m : n + K * n + k * m] += np.eye(m)
    S = np.zeros((ns, ns))
    S[:n, :n] = P0
    for k in range(K):
        S[n + k * n : n + (k + 1) * n, n + k * n : n + (k + 1) * n] = Q
        o = n + K * n + k * m
        S[o : o + m, o : o + m] = R
    mean_src = np.zeros(ns)
    mean_src[:n] = mu0
    return Tx, Ty, S, mean_src


def _condition(Tx, Ty, S, mean_src, y_flat, rows_y):
    mx, my = Tx @ mean_src, Ty[rows_y] @ mean_src
    Sxy = Tx @ S @ Ty[rows_y].T
    Syy = Ty[rows_y] @ S @ Ty[rows_y].T
    Sxx = Tx @ S @ Tx.T
    G = np.linalg.solve(Syy, Sxy.T).T
    return mx + G @ (y_flat[rows_y] - my), Sxx - G @ Sxy.T, my, Syy


def test_filter_and_smoother_match_brute_force_conditioning():
    rng = np.random.default_rng(1)
    A, C, Q, R, mu0, P0 = _random_system(rng)
    n, m, K = 3, 2, 7
    x, y = simulate_linear(A, C, Q, R, mu0, P0, K, 1, rng)
    res = kalman_filter(y[0], A, C, Q, R, mu0, P0)
    Tx, Ty, S, ms = _joint_gaussian(A, C, Q, R, mu0, P0, K)
    yf = y[0].reshape(-1)
    for k in range(1, K + 1):
        mean, cov, _, _ = _condition(Tx, Ty, S, ms, yf, np.arange(k * m))
        np.testing.assert_allclose(res.x_filt[k], mean[k * n : (k + 1) * n], rtol=1e-9, atol=1e-10)
        blk = cov[k * n : (k + 1) * n, k * n : (k + 1) * n]
        np.testing.assert_allclose(res.P_filt[k], blk, rtol=1e-8, atol=1e-11)
    # smoother = conditioning on all observations
    sm = rts_smoother(res, A)
    mean, cov, my, Syy = _condition(Tx, Ty, S, ms, yf, np.arange(K * m))
    for k in range(K + 1):
        np.testing.assert_allclose(sm.x_smooth[k], mean[k * n : (k + 1) * n], atol=1e-9)
        np.testing.assert_allclose(
            sm.P_smooth[k], cov[k * n : (k + 1) * n, k * n : (k + 1) * n], atol=1e-10
        )
    for k in range(1, K + 1):  # lag-one cross covariance used by EM
        np.testing.assert_allclose(
            sm.P_lag[k - 1], cov[k * n : (k + 1) * n, (k - 1) * n : k * n], atol=1e-10
        )
    # log-likelihood = log N(y; my, Syy)
    d = yf - my
    _, logdet = np.linalg.slogdet(Syy)
    ll = -0.5 * (len(yf) * np.log(2 * np.pi) + logdet + d @ np.linalg.solve(Syy, d))
    assert res.loglik == pytest.approx(ll, rel=1e-10)


def test_covariances_symmetric_positive_definite():
    rng = np.random.default_rng(2)
    A, C, Q, R, mu0, P0 = _random_system(rng)
    x, y = simulate_linear(A, C, Q, R, mu0, P0, 40, 1, rng)
    res = kalman_filter(y[0], A, C, Q, R, mu0, P0)
    sm = rts_smoother(res, A)
    for P in [*res.P_filt, *res.P_pred, *sm.P_smooth]:
        assert np.array_equal(P, P.T)
        assert np.linalg.eigvalsh(P).min() > 0


def test_em_loglik_never_decreases_and_covariances_spd():
    rng = np.random.default_rng(3)
    A, C, Q, R, mu0, P0 = _random_system(rng, n=2, m=2)
    _, Y = simulate_linear(A, C, Q, R, mu0, P0, 60, 4, rng)
    em = LinearDynamicalSystemEM(n_states=2, n_iter=40, random_state=5).fit(Y)
    ll = np.array(em.loglik_)
    assert len(ll) == 40
    steps = np.diff(ll)
    assert np.all(steps >= -1e-9 * np.abs(ll[1:])), steps.min()
    assert ll[-1] > ll[0] + 1.0  # it actually learns
    for P in (em.Q_, em.R_, em.P0_):
        check_spd(P, "cov")
    # the learned model explains the data about as well as the true one
    true_ll = sum(kalman_filter(y, A, C, Q, R, mu0, P0).loglik for y in Y)
    assert em.score(Y) > true_ll - 0.05 * abs(true_ll)


def test_steady_state_gain_and_gramian_of_thesis_model():
    A = np.array([[1.01, -0.002], [0.0, 1.005]])
    C = np.eye(2)
    # observability Gramian printed in sect. 6.4.4
    np.testing.assert_allclose(
        observability_gramian(A, C), [[2.0201, -0.0020], [-0.0020, 2.0100]], atol=6e-5
    )
    Q, R = 2e-2**2 * np.eye(2), 3.5e-2**2 * np.eye(2)
    G = steady_state_gain(A, C, Q, R)
    # fixed point: one Riccati step from the stationary P keeps the same gain
    res = kalman_filter(np.zeros((400, 2)), A, C, Q, R, np.zeros(2), np.eye(2))
    np.testing.assert_allclose(res.gains[-1], G, atol=1e-10)


def test_check_spd_rejects_bad_covariance():
    with pytest.raises(ValueDomainError):
        check_spd(np.array([[1.0, 2.0], [2.0, 1.0]]), "Q")
    with pytest.raises(ValueDomainError):
        check_spd(np.array([[1.0, 0.5], [0.0, 1.0]]), "Q")


def test_weak3_kalman_gains_of_table3_need_a02_5p27e_5():
    """Table 3 prints KF gains 0.6227, 0.0146, 123.9904 at k = 50; only A[0:2, 2] = 5.27e-5
    (not the printed, rounded 0.0001) reproduces them."""
    from tinyunfold.models.kalman import kalman_gain_sequence

    def gains(a02):
        A = np.array([[1.0030, 0.0502, a02], [0.0502, 1.0030, a02], [0.0, 0.0, 1.0005]])
        C = np.array([[1.0, 0, 0], [0, 1.0, 0]])
        G = kalman_gain_sequence(A, C, 1e-8 * np.eye(3), 1e-8 * np.eye(2), 25.0 * np.eye(3), 50)
        return G[0]

    G = gains(5.27e-5)
    np.testing.assert_allclose(G[0], np.eye(3, 2), atol=1e-4)  # k = 1
    np.testing.assert_allclose(G[49, :2], [[0.6227, 0.0146], [0.0146, 0.6227]], atol=1e-4)
    np.testing.assert_allclose(G[49, 2], [123.9904, 123.9904], rtol=1e-3)
    assert abs(gains(1e-4)[49, 2, 0] - 123.9904) > 10.0


def test_enkf_approaches_the_kalman_filter_for_a_linear_system():
    from tinyunfold.models.kalman import ensemble_kalman_filter

    rng = np.random.default_rng(7)
    A, C, Q, R, mu0, P0 = _random_system(rng, n=2, m=2)
    _, y = simulate_linear(A, C, Q, R, mu0, P0, 20, 1, rng)
    kf = kalman_filter(y[0], A, C, Q, R, mu0, P0)
    errs = []
    for n_ens in (50, 5000):
        mean, cov = ensemble_kalman_filter(
            y[0], lambda X: X @ A.T, C, Q, R, mu0, P0, n_ens, np.random.default_rng(0)
        )
        errs.append(np.abs(mean - kf.x_filt).max())
    scale = np.sqrt(np.max(np.diagonal(kf.P_filt, axis1=1, axis2=2)))
    assert errs[1] < 0.1 * scale  # Monte Carlo error ~ 1/sqrt(N)
    assert errs[1] < errs[0]
    np.testing.assert_allclose(cov[-1], kf.P_filt[-1], rtol=0.15, atol=0.02 * scale**2)
