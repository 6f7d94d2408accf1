"""Classical linear-Gaussian state estimation: Kalman filter, RTS smoother, EM learning.

Conventions (thesis ch. 5, eq. 5.3.1, and the DKF of ch. 6): the state ``x(0) ~ N(μ0, P0)`` is
*not* observed; observations ``y(1), ..., y(K)`` follow::

    x(k) = A x(k-1) + B u(k) + w(k),   w(k) ~ N(0, Q)
    y(k) = C x(k) + v(k),              v(k) ~ N(0, R)

Arrays: ``y`` (K, m), ``u`` (K, p) or None, filtered states ``x_filt`` (K+1, n) with
``x_filt[0] = μ0`` (the estimate x̂(0) = μ0, P(0) = P0 of sect. 5.3.1), predictions
``x_pred[k-1] = x̂(k|k-1)`` (K, n), gains ``gains[k-1] = K̃_G^(k)`` (K, n, m).

The EM algorithm follows seed 002 (Vidal, "Linear Dynamical Systems") adapted to this convention:
the initial state is latent and unobserved, so the (C, R) M-step sums over t = 1..T only. Every
covariance is symmetrised after each update (Joseph form in the filter) so it stays symmetric
positive definite in floating point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyunfold.errors import ShapeError, ValueDomainError

LOG2PI = float(np.log(2.0 * np.pi))


def _sym(P: Any) -> Any:
    """0.5 (P + Pᵀ) over the last two axes (numpy arrays and torch tensors)."""
    return 0.5 * (P + P.swapaxes(-1, -2))


def _eye(n: int, like: Any) -> Any:
    if isinstance(like, np.ndarray):
        return np.eye(n)
    import torch

    return torch.eye(n, dtype=like.dtype)


def _solve(S: Any, B: Any) -> Any:
    if isinstance(S, np.ndarray):
        return np.linalg.solve(S, B)
    import torch

    return torch.linalg.solve(S, B)


def joseph_update(Pp: Any, G: Any, C: Any, R: Any) -> Any:
    """P(k|k) = (I - G C) P(k|k-1) (I - G C)ᵀ + G R Gᵀ (5.3.13 in Joseph form) for any gain G:
    the Kalman gain in :func:`riccati_step`, a learned one in :func:`gain_error_covariances`."""
    IGC = _eye(Pp.shape[-1], Pp) - G @ C
    return _sym(IGC @ Pp @ IGC.T + G @ R @ G.T)


def check_spd(P: np.ndarray, name: str) -> np.ndarray:
    """Raise :class:`ValueDomainError` unless ``P`` is a symmetric positive definite matrix."""
    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != P.shape[1]:
        raise ShapeError(f"{name} must be a square matrix, got shape {P.shape}")
    if not np.all(np.isfinite(P)):
        raise ValueDomainError(f"{name} contains NaN or Inf")
    if not np.allclose(P, P.T, rtol=1e-8, atol=1e-12 * max(1.0, float(np.abs(P).max()))):
        raise ValueDomainError(f"{name} is not symmetric", "pass a covariance matrix")
    try:
        np.linalg.cholesky(P)
    except np.linalg.LinAlgError:
        raise ValueDomainError(
            f"{name} is not positive definite", "use a covariance with positive eigenvalues"
        ) from None
    return P


@dataclass
class KalmanResult:
    """Output of :func:`kalman_filter` (K observations, n states, m outputs)."""

    x_filt: np.ndarray  # (K+1, n)  x̂(k|k), x_filt[0] = μ0
    P_filt: np.ndarray  # (K+1, n, n) P(k|k), P_filt[0] = P0
    x_pred: np.ndarray  # (K, n)  x̂(k|k-1), k = 1..K
    P_pred: np.ndarray  # (K, n, n) P(k|k-1)
    gains: np.ndarray  # (K, n, m) K̃_G^(k)
    innov: np.ndarray  # (K, m) e_y(k) = y(k) - C x̂(k|k-1)
    S: np.ndarray  # (K, m, m) innovation covariance C P(k|k-1) Cᵀ + R
    loglik: float  # log p(y(1..K))


def riccati_step(P: Any, A: Any, C: Any, Q: Any, R: Any) -> tuple[Any, Any, Any, Any]:
    """One step of the Riccati recursion: P(k-1|k-1) -> (P(k|k-1), S(k), gain G(k), P(k|k)).

    P(k|k-1) = A P Aᵀ + Q (5.3.6); S = C P(k|k-1) Cᵀ + R; G = P(k|k-1) Cᵀ S⁻¹ (5.3.12);
    P(k|k) = (I - G C) P(k|k-1) (I - G C)ᵀ + G R Gᵀ (5.3.13 in Joseph form, which keeps P
    symmetric positive semi-definite in floating point). The only definition in tinyunfold; numpy
    arrays or torch tensors (the DKF's Riccati-parametrised gains differentiate through it).
    """
    Pp = _sym(A @ P @ A.T + Q)  # eq. (5.3.6)
    S = _sym(C @ Pp @ C.T + R)
    G = _solve(S, C @ Pp).T  # eq. (5.3.12): P Cᵀ S⁻¹ (S, P symmetric)
    return Pp, S, G, joseph_update(Pp, G, C, R)  # eq. (5.3.13), Joseph form


def kalman_filter(
    y: np.ndarray,
    A: np.ndarray,
    C: np.ndarray,
    Q: np.ndarray,
    R: np.ndarray,
    mu0: np.ndarray,
    P0: np.ndarray,
    B: np.ndarray | None = None,
    u: np.ndarray | None = None,
) -> KalmanResult:
    """Run the Kalman filter (thesis eqs. 5.3.6-5.3.13) over one trajectory.

    Parameters
    ----------
    y : (K, m) observations y(1..K).
    A : (n, n), C : (m, n), Q : (n, n), R : (m, m), mu0 : (n,), P0 : (n, n).
    B : (n, p) and u : (K, p) optional inputs (u[k-1] = u(k)).
    """
    y = np.asarray(y, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    C = np.asarray(C, dtype=np.float64)
    n, m = A.shape[0], C.shape[0]
    if y.ndim != 2 or y.shape[1] != m:
        raise ShapeError(f"y has shape {y.shape}, expected (K, {m})")
    K = y.shape[0]
    x = np.asarray(mu0, dtype=np.float64).reshape(n).copy()
    P = np.asarray(P0, dtype=np.float64).copy()
    out = KalmanResult(
        x_filt=np.zeros((K + 1, n)),
        P_filt=np.zeros((K + 1, n, n)),
        x_pred=np.zeros((K, n)),
        P_pred=np.zeros((K, n, n)),
        gains=np.zeros((K, n, m)),
        innov=np.zeros((K, m)),
        S=np.zeros((K, m, m)),
        loglik=0.0,
    )
    out.x_filt[0], out.P_filt[0] = x, P
    ll = 0.0
    for k in range(K):
        Pp, S, G, P = riccati_step(P, A, C, Q, R)
        x = A @ x  # eq. (5.3.7)
        if B is not None and u is not None:
            x = x + B @ u[k]
        out.x_pred[k], out.P_pred[k] = x, Pp
        e = y[k] - C @ x  # eq. (5.3.8)
        x = x + G @ e  # eq. (5.3.10)
        out.x_filt[k + 1], out.P_filt[k + 1] = x, P
        out.gains[k], out.innov[k], out.S[k] = G, e, S
        _, logdet = np.linalg.slogdet(S)
        ll -= 0.5 * (m * LOG2PI + logdet + e @ np.linalg.solve(S, e))
    out.loglik = float(ll)
    return out


def kalman_gain_sequence(
    A: np.ndarray, C: np.ndarray, Q: np.ndarray, R: np.ndarray, P0: np.ndarray, K: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Data-independent Riccati recursion: gains K̃_G^(k) (K, n, m), P(k|k-1) (K, n, n), P(k|k)."""
    n, m = A.shape[0], C.shape[0]
    res = kalman_filter(np.zeros((K, m)), A, C, Q, R, np.zeros(n), P0)
    return res.gains, res.P_pred, res.P_filt[1:]


def steady_state_gain(
    A: np.ndarray,
    C: np.ndarray,
    Q: np.ndarray,
    R: np.ndarray,
    max_iter: int = 100000,
    tol: float = 1e-13,
) -> np.ndarray:
    """Fixed point of the Riccati recursion (5.3.6)+(5.3.12)+(5.3.13): the stationary gain."""
    n = A.shape[0]
    P = np.eye(n)
    G = np.zeros((n, C.shape[0]))
    for _ in range(max_iter):
        _, _, G_new, P = riccati_step(P, A, C, Q, R)
        if np.max(np.abs(G_new - G)) < tol:
            return G_new
        G = G_new
    return G


def gain_error_covariances(
    A: np.ndarray,
    C: np.ndarray,
    Q: np.ndarray,
    R: np.ndarray,
    P0: np.ndarray,
    gains: np.ndarray,
) -> np.ndarray:
    """Exact error covariances E[(x(k) - x̂(k))(x(k) - x̂(k))ᵀ] of a filter with *given* gains.

    For any gain sequence G_k (K, n, m) of the corrector (6.4.3) on the linear system (5.3.1) with
    true Q, R, P0 and x̂(0) = μ0, the error e(k) = x(k) - x̂(k) obeys
    e(k) = (1 - G_k C)(A e(k-1) + w(k)) - G_k v(k), so (Joseph form of 5.3.13 with any gain)::

        Σ(k) = (1 - G_k C)(A Σ(k-1) Aᵀ + Q)(1 - G_k C)ᵀ + G_k R G_kᵀ,   Σ(0) = P0.

    Returns Σ(1..K) (K, n, n). The expected MSE of the filtered states over k = 1..K is
    ``np.trace(Σ, axis1=1, axis2=2).mean() / n``; no sampling is involved, so two gain sequences
    can be compared without Monte-Carlo noise. With the Kalman gains of the true covariances
    this is P(k|k) of :func:`kalman_filter`, the smallest possible value for every k.
    """
    A, C = np.asarray(A, dtype=np.float64), np.asarray(C, dtype=np.float64)
    gains = np.asarray(gains, dtype=np.float64)
    n = A.shape[0]
    if gains.ndim != 3 or gains.shape[1:] != (n, C.shape[0]):
        raise ShapeError(f"gains has shape {gains.shape}, expected (K, {n}, {C.shape[0]})")
    P = np.asarray(P0, dtype=np.float64)
    out = np.zeros((gains.shape[0], n, n))
    for k, G in enumerate(gains):
        P = joseph_update(A @ P @ A.T + Q, G, C, R)
        out[k] = P
    return out


def gain_sequence_mse(
    A: np.ndarray,
    C: np.ndarray,
    Q: np.ndarray,
    R: np.ndarray,
    P0: np.ndarray,
    gains: np.ndarray,
    last: int | None = None,
) -> float:
    """Exact expected MSE (mean over k and states) of the filtered states for given gains.

    ``last`` restricts the mean to the last ``last`` steps. See :func:`gain_error_covariances`.
    """
    S = gain_error_covariances(A, C, Q, R, P0, gains)
    if last is not None:
        S = S[-last:]
    return float(np.trace(S, axis1=1, axis2=2).mean() / S.shape[1])


@dataclass
class SmootherResult:
    x_smooth: np.ndarray  # (K+1, n) x̂(k|K)
    P_smooth: np.ndarray  # (K+1, n, n) Σ(k|K)
    L: np.ndarray  # (K, n, n) L_{k-1} = P(k-1|k-1) Aᵀ P(k|k-1)⁻¹, k = 1..K
    P_lag: np.ndarray  # (K, n, n) Cov(x(k), x(k-1) | y(1..K)) = Σ(k|K) L_{k-1}ᵀ, k = 1..K


def rts_smoother(res: KalmanResult, A: np.ndarray) -> SmootherResult:
    """Rauch-Tung-Striebel backward pass over a :class:`KalmanResult` (seed 002)."""
    A = np.asarray(A, dtype=np.float64)
    K = res.x_pred.shape[0]
    xs = res.x_filt.copy()
    Ps = res.P_filt.copy()
    L = np.zeros_like(res.P_pred)
    P_lag = np.zeros_like(res.P_pred)
    for t in range(K, 0, -1):
        # L_{t-1} = Σ_{t-1|t-1} Aᵀ Σ_{t|t-1}⁻¹
        Lt = np.linalg.solve(res.P_pred[t - 1], A @ res.P_filt[t - 1]).T
        xs[t - 1] = res.x_filt[t - 1] + Lt @ (xs[t] - res.x_pred[t - 1])  # ẑ_{t-1|T}
        Ps[t - 1] = _sym(res.P_filt[t - 1] + Lt @ (Ps[t] - res.P_pred[t - 1]) @ Lt.T)  # Σ_{t-1|T}
        L[t - 1] = Lt
        P_lag[t - 1] = Ps[t] @ Lt.T  # Cov(z_t, z_{t-1} | y)
    return SmootherResult(x_smooth=xs, P_smooth=Ps, L=L, P_lag=P_lag)


def simulate_linear(
    A: np.ndarray,
    C: np.ndarray,
    Q: np.ndarray,
    R: np.ndarray,
    mu0: np.ndarray,
    P0: np.ndarray,
    K: int,
    n_traj: int,
    rng: np.random.Generator,
    B: np.ndarray | None = None,
    u: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``n_traj`` trajectories: states x (N, K+1, n) with x(0) ~ N(μ0, P0), y (N, K, m)."""
    n, m = A.shape[0], C.shape[0]
    x = np.zeros((n_traj, K + 1, n))
    y = np.zeros((n_traj, K, m))
    x[:, 0] = rng.multivariate_normal(np.asarray(mu0, float), P0, size=n_traj)
    for k in range(K):
        xn = x[:, k] @ A.T + rng.multivariate_normal(np.zeros(n), Q, size=n_traj)
        if B is not None and u is not None:
            xn = xn + u[k] @ B.T
        x[:, k + 1] = xn
        y[:, k] = xn @ C.T + rng.multivariate_normal(np.zeros(m), R, size=n_traj)
    return x, y


class LinearDynamicalSystemEM:
    """Maximum-likelihood (π0, Σ0, A, C, Q, R) of a linear-Gaussian state-space model by EM.

    E-step: Kalman filter + RTS smoother per trajectory (sufficient statistics E[z_t],
    E[z_t z_tᵀ], E[z_t z_{t-1}ᵀ]); M-step: the closed forms of seed 002 (initial state latent,
    observations y(1..T)). The log-likelihood of every iteration is kept in ``loglik_``; EM
    guarantees it never decreases (up to rounding).

    Parameters
    ----------
    n_states : n, latent state dimension.
    n_iter : maximum number of EM iterations.
    tol : stop when the log-likelihood gain per iteration is below ``tol * |loglik|``.
    init : optional dict with initial "A", "C", "Q", "R", "mu0", "P0" (otherwise random).
    random_state : seed for the random initialisation.
    """

    def __init__(
        self,
        n_states: int,
        n_iter: int = 50,
        tol: float = 0.0,
        init: dict[str, np.ndarray] | None = None,
        random_state: int = 0,
    ) -> None:
        self.n_states = n_states
        self.n_iter = n_iter
        self.tol = tol
        self.init = init
        self.random_state = random_state

    def _initial(self, m: int) -> dict[str, np.ndarray]:
        n = self.n_states
        rng = np.random.default_rng(self.random_state)
        p = {
            "A": 0.9 * np.eye(n) + 0.05 * rng.standard_normal((n, n)),
            "C": rng.standard_normal((m, n)),
            "Q": np.eye(n),
            "R": np.eye(m),
            "mu0": np.zeros(n),
            "P0": np.eye(n),
        }
        if self.init:
            p.update({k: np.array(v, dtype=np.float64) for k, v in self.init.items()})
        return p

    @staticmethod
    def e_step(Y: np.ndarray, p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
        """Sufficient statistics summed over trajectories; returns (log-likelihood, stats)."""
        n = p["A"].shape[0]
        m = p["C"].shape[0]
        st = {
            "Ez0": np.zeros(n),
            "Ez0z0": np.zeros((n, n)),
            "Szz1": np.zeros((n, n)),  # Σ_{t=1..T} E[z_t z_tᵀ]
            "Szz0": np.zeros((n, n)),  # Σ_{t=1..T} E[z_{t-1} z_{t-1}ᵀ]
            "Slag": np.zeros((n, n)),  # Σ_{t=1..T} E[z_t z_{t-1}ᵀ]
            "Syz": np.zeros((m, n)),  # Σ y_t E[z_t]ᵀ
            "Syy": np.zeros((m, m)),
        }
        ll = 0.0
        for y in Y:
            res = kalman_filter(y, p["A"], p["C"], p["Q"], p["R"], p["mu0"], p["P0"])
            sm = rts_smoother(res, p["A"])
            ll += res.loglik
            xs, Ps = sm.x_smooth, sm.P_smooth
            Ezz = Ps + xs[:, :, None] * xs[:, None, :]  # E[z_t z_tᵀ] = Σ_{t|T} + ẑ ẑᵀ
            st["Ez0"] += xs[0]
            st["Ez0z0"] += Ezz[0]
            st["Szz1"] += Ezz[1:].sum(0)
            st["Szz0"] += Ezz[:-1].sum(0)
            # E[z_t z_{t-1}ᵀ] = Cov(z_t, z_{t-1}|y) + ẑ_t ẑ_{t-1}ᵀ
            st["Slag"] += (sm.P_lag + xs[1:, :, None] * xs[:-1, None, :]).sum(0)
            st["Syz"] += y.T @ xs[1:]
            st["Syy"] += y.T @ y
        return ll, st

    @staticmethod
    def m_step(st: dict[str, np.ndarray], N: int, T: int) -> dict[str, np.ndarray]:
        mu0 = st["Ez0"] / N  # π0 update
        P0 = _sym(st["Ez0z0"] / N - np.outer(mu0, mu0))  # Σ0 update
        C = np.linalg.solve(st["Szz1"], st["Syz"].T).T  # C = (Σ y E[z]ᵀ)(Σ E[zzᵀ])⁻¹
        R = _sym((st["Syy"] - C @ st["Syz"].T) / (N * T))  # R update
        A = np.linalg.solve(st["Szz0"], st["Slag"].T).T  # A = (Σ E[z_t z_{t-1}ᵀ])(Σ E[zzᵀ]_{t-1})⁻¹
        Q = _sym((st["Szz1"] - A @ st["Slag"].T) / (N * T))  # Q update
        return {"A": A, "C": C, "Q": Q, "R": R, "mu0": mu0, "P0": P0}

    def fit(self, Y: np.ndarray) -> LinearDynamicalSystemEM:
        """Y: (N, T, m) observation trajectories (y(1..T) each). Returns self."""
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 2:
            Y = Y[None]
        if Y.ndim != 3:
            raise ShapeError(f"Y has shape {Y.shape}, expected (N, T, m)")
        if not np.all(np.isfinite(Y)):
            raise ValueDomainError("Y contains NaN or Inf")
        N, T, m = Y.shape
        p = self._initial(m)
        self.loglik_: list[float] = []
        for _ in range(self.n_iter):
            ll, st = self.e_step(Y, p)
            self.loglik_.append(ll)
            if len(self.loglik_) > 1 and self.tol > 0:
                if self.loglik_[-1] - self.loglik_[-2] < self.tol * abs(ll):
                    break
            p = self.m_step(st, N, T)
        self.params_ = p
        self.A_, self.C_, self.Q_, self.R_ = p["A"], p["C"], p["Q"], p["R"]
        self.mu0_, self.P0_ = p["mu0"], p["P0"]
        return self

    def score(self, Y: np.ndarray) -> float:
        """Log-likelihood of Y (N, T, m) under the fitted parameters."""
        Y = np.asarray(Y, dtype=np.float64)
        if Y.ndim == 2:
            Y = Y[None]
        return float(self.e_step(Y, self.params_)[0])


def observability_gramian(A: np.ndarray, C: np.ndarray, n_terms: int | None = None) -> np.ndarray:
    """G_O = Oᵀ O with O = [C; CA; ...; CA^{n-1}] (eq. 5.2.9)."""
    n = A.shape[0]
    n_terms = n if n_terms is None else n_terms
    blocks = []
    M = C.copy()
    for _ in range(n_terms):
        blocks.append(M)
        M = M @ A
    obs = np.vstack(blocks)
    return obs.T @ obs


def ensemble_kalman_filter(
    y: np.ndarray,
    f: Callable[[np.ndarray], np.ndarray],
    C: np.ndarray,
    Q: np.ndarray,
    R: np.ndarray,
    mu0: np.ndarray,
    P0: np.ndarray,
    n_ensemble: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic Ensemble Kalman filter (thesis 5.4.1) with additive Gaussian noise.

    f maps an ensemble (N, n) to (N, n) (the deterministic forward operator); the observation
    model is linear, h(x, v) = C x + v. Returns the ensemble means x̂_En (K+1, n) (5.4.13) and
    covariances P_En (K+1, n, n) (5.4.14); entry 0 is the initial ensemble.
    """
    y = np.asarray(y, dtype=np.float64)
    n = np.asarray(P0).shape[0]
    K = y.shape[0]

    def draw(cov: np.ndarray, size: int) -> np.ndarray:
        w, V = np.linalg.eigh(_sym(np.asarray(cov, dtype=np.float64)))
        return rng.standard_normal((size, cov.shape[0])) @ (V * np.sqrt(np.clip(w, 0, None))).T

    X = np.asarray(mu0, dtype=np.float64) + draw(P0, n_ensemble)
    means = np.zeros((K + 1, n))
    covs = np.zeros((K + 1, n, n))
    means[0], covs[0] = X.mean(0), np.cov(X.T, bias=True).reshape(n, n)
    for k in range(K):
        Xp = f(X) + draw(Q, n_ensemble)  # eq. (5.4.8)
        Yp = Xp @ C.T + draw(R, n_ensemble)  # eq. (5.4.9)
        dX = Xp - Xp.mean(0)  # eq. (5.4.11)
        dY = Yp - Yp.mean(0)
        Cxy = dX.T @ dY / n_ensemble  # eq. (5.4.12)
        Cyy = dY.T @ dY / n_ensemble
        G = np.linalg.solve(_sym(Cyy), Cxy.T).T
        X = Xp + (y[k] - Yp) @ G.T  # eq. (5.4.10)
        means[k + 1] = X.mean(0)  # eq. (5.4.13)
        covs[k + 1] = _sym(np.cov(X.T, bias=True).reshape(n, n))  # eq. (5.4.14)
    return means, covs
