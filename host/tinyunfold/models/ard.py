"""Automatic Relevance Determination for NMF (3.2.41-3.2.51) and NMFD (3.3.12-3.3.21, app. 3.C).

ARD-NMF attaches a relevance weight λ_s to each rank-1 factor (column of W, row of H) with
Half-Normal (ℓ2) or Exponential (ℓ1) priors and an inverse-Gamma(a, b) prior on λ; factors
whose λ_s falls to the lower bound B = b / c are pruned: r̂ = |{s : (λ_s − B)/B > τ}| (3.2.46).

ARD-NMFD (the thesis' contribution) gives dictionary j one weight per column, λ(j) ∈ R^{r_j}, and
ties H(j) to their mean μ_λ(j) (3.3.12). The λ update then is a coupled quadratic system per
dictionary (3.3.14 / 3.3.15, third line)::

    (1/(r_j μ)) (c2 − f(H(j))/μ) λ(j)² + c1 λ(j) − f_cols(W(j)) − b = 0,   μ = mean(λ(j))

solved with ``scipy.optimize.root`` from the previous λ. A dictionary is pruned when μ_λ(j)
reaches B(j) = b / (c1 + c2/r_j) (3.3.17); Ĵ counts the others (3.3.18). For ℓ1 the scale b
follows from the data mean (3.3.21); for ℓ2 appendix 3.C has no closed form and we evaluate the
expectation (3.C.4) by Monte Carlo (it is linear in b).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import optimize
from tqdm import tqdm

from tinyunfold.errors import ValueDomainError
from tinyunfold.models.nmfd import (
    beta_divergence,
    check_nonneg,
    convolve,
    convolve_adjoint_h,
    convolve_adjoint_w,
    gamma_exponent,
    rank_mask,
)

Array = np.ndarray
PRIORS = ("l1", "l2")


def xi_exponent(beta: float) -> float:
    """ξ(β) of eq. (3.2.45), the MM exponent of ℓ2-ARD."""
    return 1.0 / (3.0 - beta) if beta <= 2 else 1.0 / (beta - 1.0)


def _check_prior(prior: str) -> None:
    if prior not in PRIORS:
        raise ValueDomainError(f"prior must be one of {PRIORS}, got {prior!r}")


# ----------------------------------------------------------------------------- ARD-NMF formulas
def nmf_c(m: int, n: int, a: float, prior: str) -> float:
    """c of eq. (3.2.41): (n + m)/2 + a + 1 (ℓ2) or n + m + a + 1 (ℓ1)."""
    _check_prior(prior)
    return (n + m) / 2 + a + 1 if prior == "l2" else n + m + a + 1


def nmf_b(mu_x: float, r: int, a: float, prior: str) -> float:
    """b̂ of eq. (3.2.51)."""
    _check_prior(prior)
    if prior == "l2":
        return np.pi * (a - 1) * mu_x / (2 * r)
    return float(np.sqrt((a - 1) * (a - 2) * mu_x / r))


# ----------------------------------------------------------------------------- ARD-NMFD formulas
def nmfd_c(m: int, n: int, a: float, prior: str) -> tuple[float, float]:
    """(c1, c2) of eq. (3.3.13): (m/2 + a + 1, n/2) for ℓ2, (m + a + 1, n) for ℓ1."""
    _check_prior(prior)
    return (m / 2 + a + 1, n / 2) if prior == "l2" else (m + a + 1, float(n))


def nmfd_bound(b: float, c1: float, c2: float, ranks: Any) -> Array:
    """B(j) = b / (c1 + c2 / r_j), eq. (3.3.17)."""
    return b / (c1 + c2 / np.asarray(ranks, float))


def nmfd_b_l1(mu_x: float, ranks: Any, a: float) -> float:
    """b̂ for ℓ1-ARD-NMFD, eq. (3.3.21) (derivation 3.C.3)."""
    ranks = np.asarray(ranks, float)
    J = ranks.size
    denom = J / ((a - 1) * (a - 2)) + (ranks.sum() - J) / (a - 1) ** 2
    return float(np.sqrt(mu_x / denom))


def nmfd_b_l2(mu_x: float, ranks: Any, a: float, n_samples: int = 200_000, seed: int = 0) -> float:
    """b̂ for ℓ2-ARD-NMFD: Monte Carlo of eq. (3.C.4), which is linear in b.

    E[(W*H)_ab] = b · Σ_j (2√r_j/π) E[√(λ_r Σ_s λ_s)] with λ ~ IG(a, 1).
    """
    rng = np.random.default_rng(seed)
    total = 0.0
    for rj in np.unique(np.asarray(ranks, int)):
        lam = 1.0 / rng.gamma(a, 1.0, size=(n_samples, rj))  # IG(a, b=1)
        e = np.mean(np.sqrt(lam[:, 0] * lam.sum(axis=1)))
        total += np.sum(np.asarray(ranks) == rj) * 2 * np.sqrt(rj) / np.pi * e
    return float(mu_x / total)


def expected_mean_l1(b: float, ranks: Any, a: float) -> float:
    """Right-hand side of eq. (3.3.20): E[(W*H)_ab] for ℓ1-ARD-NMFD."""
    ranks = np.asarray(ranks, float)
    J = ranks.size
    return b**2 * (J / ((a - 1) * (a - 2)) + (ranks.sum() - J) / (a - 1) ** 2)


def lambda_residual(
    lam: Array, wnorm: Array, hnorm: Array, mask: Array, c1: float, c2: float, b: float
) -> Array:
    """Left-hand side of the λ equations (3.3.14)/(3.3.15), third line. Shapes (J, R)."""
    rj = mask.sum(axis=1)
    mu = (lam * mask).sum(axis=1) / rj
    A = (c2 - hnorm / mu) / (rj * mu)
    return (A[:, None] * lam**2 + c1 * lam - wnorm - b) * mask


def solve_lambda(
    lam0: Array, wnorm: Array, hnorm: Array, mask: Array, c1: float, c2: float, b: float
) -> Array:
    """Solve the coupled quadratic λ system of all dictionaries with scipy (hybr + Jacobian).

    lam0, wnorm, mask : (J, R) (mask 1 on existing columns); hnorm : (J,) f(H(j)).
    """
    idx = np.nonzero(mask.ravel())[0]
    J, R = mask.shape
    rj = mask.sum(axis=1)
    owner = np.repeat(np.arange(J), R)[idx]  # dictionary of every unknown

    def unpack(x: Array) -> Array:
        lam = np.ones(J * R)
        lam[idx] = x
        return lam.reshape(J, R)

    def fun(x: Array) -> Array:
        return lambda_residual(unpack(x), wnorm, hnorm, mask, c1, c2, b).ravel()[idx]

    def jac(x: Array) -> Array:
        lam = unpack(x)
        mu = (lam * mask).sum(axis=1) / rj
        A = (c2 - hnorm / mu) / (rj * mu)
        dA = (-c2 / mu**2 + 2 * hnorm / mu**3) / rj / rj  # dA/dλ_s = dA/dμ · 1/r_j
        xv = lam.ravel()[idx]
        Jm = np.zeros((idx.size, idx.size))
        same = owner[:, None] == owner[None, :]
        Jm[same] = (xv**2 * dA[owner])[:, None].repeat(idx.size, axis=1)[same]
        Jm[np.diag_indices(idx.size)] += 2 * A[owner] * xv + c1
        return Jm

    x0 = lam0.ravel()[idx]
    sol = optimize.root(fun, x0, jac=jac, method="hybr")
    x = sol.x
    if not sol.success or np.any(x <= 0) or not np.all(np.isfinite(x)):
        x = _solve_lambda_fixed_point(lam0, wnorm, hnorm, mask, c1, c2, b).ravel()[idx]
    return unpack(x) * mask


def _solve_lambda_fixed_point(
    lam0: Array, wnorm: Array, hnorm: Array, mask: Array, c1: float, c2: float, b: float
) -> Array:
    """Fallback: per dictionary, bisection on μ of μ = mean_r λ_r(μ) (positive quadratic roots)."""
    rj = mask.sum(axis=1)
    out = np.array(lam0, float)
    for j in range(mask.shape[0]):
        cols = mask[j] > 0
        w = wnorm[j, cols] + b

        def lam_of(mu: float, w: Array = w, j: int = j) -> Array:
            A = (c2 - hnorm[j] / mu) / (rj[j] * mu)
            if abs(A) < 1e-300:  # linear equation
                return w / c1
            disc = np.maximum(c1**2 + 4 * A * w, 0.0)
            return 2 * w / (c1 + np.sqrt(disc))  # the positive root, stable form

        g = lambda mu: lam_of(mu).mean() - mu  # noqa: E731
        hi = max(float(w.max()) / c1, hnorm[j] / c2) * 4 + 1.0
        lo = 1e-30 * hi
        mu = optimize.brentq(g, lo, hi) if g(lo) * g(hi) < 0 else float(lam0[j, cols].mean())
        out[j, cols] = lam_of(mu)
    return out


# ----------------------------------------------------------------------------- estimators
class ARDNMF:
    """ARD-NMF (Tan & Févotte), eq. (3.2.41)-(3.2.51).

    Parameters
    ----------
    rank : initial (upper bound) rank r.
    beta : β of the divergence.
    prior : ``"l1"`` (Exponential, 3.2.44) or ``"l2"`` (Half-Normal, 3.2.43).
    a : inverse-Gamma shape; b : scale or ``None`` for the rule (3.2.51).
    tau : relevance threshold of (3.2.46).
    n_iter, eps, random_state : iterations, projection floor, seed.

    Attributes
    ----------
    W_ (m, r), H_ (r, n), lambda_ (r,), bound_ B, rank_ r̂, relevant_ (bool mask),
    lambda_history_ (n_iter, r), loss_ (objective (3.2.41) per iteration).
    """

    def __init__(
        self,
        rank: int = 32,
        beta: float = 1.0,
        prior: str = "l1",
        a: float = 10.0,
        b: float | None = None,
        tau: float = 1e-6,
        n_iter: int = 2000,
        eps: float = 1e-16,
        random_state: int | None = 0,
        progress: bool = False,
    ) -> None:
        self.rank = rank
        self.beta = beta
        self.prior = prior
        self.a = a
        self.b = b
        self.tau = tau
        self.n_iter = n_iter
        self.eps = eps
        self.random_state = random_state
        self.progress = progress

    def fit(self, X: Array) -> ARDNMF:
        _check_prior(self.prior)
        X = check_nonneg(X)
        m, n = X.shape
        r, beta, eps = self.rank, self.beta, self.eps
        rng = np.random.default_rng(self.random_state)
        mu_x = float(X.mean())
        b = nmf_b(mu_x, r, self.a, self.prior) if self.b is None else float(self.b)
        c = nmf_c(m, n, self.a, self.prior)
        scale = np.sqrt(mu_x / r)
        W = rng.uniform(0.5, 1.5, (m, r)) * scale
        H = rng.uniform(0.5, 1.5, (r, n)) * scale
        lam = self._lambda(W, H, b, c)
        g = gamma_exponent(beta) if self.prior == "l1" else xi_exponent(beta)
        hist, losses = [], []
        for _ in tqdm(range(self.n_iter), desc="ARD-NMF", disable=None if self.progress else True):
            V = W @ H + eps
            reg_h = (1.0 / lam)[:, None] if self.prior == "l1" else H / lam[:, None]
            num = W.T @ (V ** (beta - 2) * X)
            H = np.maximum(eps, H * (num / (W.T @ V ** (beta - 1) + reg_h)) ** g)  # (3.2.43/44)
            V = W @ H + eps
            reg_w = (1.0 / lam)[None, :] if self.prior == "l1" else W / lam[None, :]
            num = (V ** (beta - 2) * X) @ H.T
            W = np.maximum(eps, W * (num / (V ** (beta - 1) @ H.T + reg_w)) ** g)  # (3.2.43/44)
            lam = self._lambda(W, H, b, c)  # λ_s = (f(W_s) + f(H_s) + b) / c
            hist.append(lam)
            losses.append(self._objective(X, W, H, lam, b, c))
        self.W_, self.H_, self.lambda_ = W, H, lam
        self.b_, self.c_ = b, c
        self.bound_ = b / c  # B (3.2.46)
        self.relevant_ = (lam - self.bound_) / self.bound_ > self.tau
        self.rank_ = int(self.relevant_.sum())
        self.lambda_history_ = np.array(hist)
        self.loss_ = losses
        return self

    def _lambda(self, W: Array, H: Array, b: float, c: float) -> Array:
        if self.prior == "l1":
            return (W.sum(axis=0) + H.sum(axis=1) + b) / c
        return (0.5 * (W**2).sum(axis=0) + 0.5 * (H**2).sum(axis=1) + b) / c

    def _objective(self, X: Array, W: Array, H: Array, lam: Array, b: float, c: float) -> float:
        if self.prior == "l1":
            f = W.sum(axis=0) + H.sum(axis=1)
        else:
            f = 0.5 * (W**2).sum(axis=0) + 0.5 * (H**2).sum(axis=1)
        reg = np.sum((f + b) / lam + c * np.log(lam))
        return beta_divergence(X, W @ H + self.eps, self.beta) + float(reg)  # (3.2.41)


class ARDNMFD:
    """ARD-NMFD: joint estimation of the number of dictionaries J and their ranks (3.3.2).

    Parameters
    ----------
    n_dicts : upper bound J on the number of dictionaries.
    max_rank : upper bound r_j ≡ max_rank (or ``ranks`` for per-dictionary bounds).
    beta, prior, a, b, tau, n_iter, eps, random_state : as in :class:`ARDNMF`
        (b = None: rule (3.3.21) for ℓ1, Monte Carlo (3.C.4) for ℓ2).
    col_tol : a column of a surviving W(j) counts in r̂_j when its sum exceeds
        ``col_tol`` x the largest column sum of all surviving dictionaries.

    Attributes
    ----------
    W_ (J, m, R), H_ (J, n), lambda_ (J, R), mu_ (J,) μ_λ(j), bound_ (J,) B(j),
    n_dicts_ Ĵ (3.3.18), relevant_ (J,) bool, ranks_ r̂_j (0 for pruned dictionaries),
    mu_history_ (n_iter, J), loss_ objective (3.3.13) per iteration.
    """

    def __init__(
        self,
        n_dicts: int = 16,
        max_rank: int = 8,
        ranks: Any = None,
        beta: float = 1.0,
        prior: str = "l1",
        a: float = 5e4,
        b: float | None = None,
        tau: float = 1e-3,
        n_iter: int = 1000,
        eps: float = 1e-16,
        col_tol: float = 1e-3,
        random_state: int | None = 0,
        progress: bool = False,
    ) -> None:
        self.n_dicts = n_dicts
        self.max_rank = max_rank
        self.ranks = ranks
        self.beta = beta
        self.prior = prior
        self.a = a
        self.b = b
        self.tau = tau
        self.n_iter = n_iter
        self.eps = eps
        self.col_tol = col_tol
        self.random_state = random_state
        self.progress = progress

    def _ranks(self) -> Array:
        ranks = (
            np.full(self.n_dicts, self.max_rank, int)
            if self.ranks is None
            else np.asarray(self.ranks, int)
        )
        if ranks.ndim != 1 or ranks.size < 1 or np.any(ranks < 1):
            raise ValueDomainError(f"ranks must be integers >= 1, got {ranks}")
        return ranks

    def fit(self, X: Array) -> ARDNMFD:
        _check_prior(self.prior)
        X = check_nonneg(X)
        if X.ndim != 2:
            raise ValueDomainError(f"X must be 2-D, got shape {X.shape}")
        m, n = X.shape
        ranks = self._ranks()
        J, R = ranks.size, int(ranks.max())
        mask3 = rank_mask(ranks)  # (J, 1, R)
        mask = mask3[:, 0, :]
        beta, eps, l1 = self.beta, self.eps, self.prior == "l1"
        mu_x = float(X.mean())
        if self.b is not None:
            b = float(self.b)
        else:
            b = nmfd_b_l1(mu_x, ranks, self.a) if l1 else nmfd_b_l2(mu_x, ranks, self.a)
        c1, c2 = nmfd_c(m, n, self.a, self.prior)
        rng = np.random.default_rng(self.random_state)
        scale = np.sqrt(mu_x / ranks.sum())
        W = rng.uniform(0.5, 1.5, (J, m, R)) * scale * mask3
        H = rng.uniform(0.5, 1.5, (J, n)) * scale
        lam = np.where(mask > 0, b / c1, 1.0)
        lam = solve_lambda(lam, *self._norms(W, H), mask, c1, c2, b)
        mu = (lam * mask).sum(axis=1) / ranks
        g = 1.0  # the heuristic updates (3.3.14)-(3.3.15) use exponent 1
        hist, losses = [], []
        for _ in tqdm(range(self.n_iter), desc="ARD-NMFD", disable=None if self.progress else True):
            V = convolve(W, H) + eps
            num = convolve_adjoint_h(W, V ** (beta - 2) * X)
            reg_h = (1.0 / mu)[:, None] if l1 else H / mu[:, None]
            den = convolve_adjoint_h(W, V ** (beta - 1)) + reg_h
            H = np.maximum(eps, H * (num / den) ** g)  # H line of (3.3.14)/(3.3.15)
            V = convolve(W, H) + eps
            num = convolve_adjoint_w(V ** (beta - 2) * X, H, R)
            reg_w = (1.0 / lam)[:, None, :] if l1 else W / lam[:, None, :]
            den = convolve_adjoint_w(V ** (beta - 1), H, R) + reg_w
            W = np.maximum(eps, W * (num / den) ** g) * mask3  # W line of (3.3.14)/(3.3.15)
            lam = solve_lambda(lam, *self._norms(W, H), mask, c1, c2, b)  # λ line, coupled
            mu = (lam * mask).sum(axis=1) / ranks
            hist.append(mu)
            losses.append(self._objective(X, W, H, lam, mu, mask, b, c1, c2))
        self.W_, self.H_, self.lambda_, self.mu_ = W, H, lam, mu
        self.b_, self.c1_, self.c2_ = b, c1, c2
        self.bound_ = nmfd_bound(b, c1, c2, ranks)  # B(j), (3.3.17)
        self.relevant_ = (mu - self.bound_) / self.bound_ > self.tau
        self.n_dicts_ = int(self.relevant_.sum())  # Ĵ, (3.3.18)
        colsum = W.sum(axis=1) * mask  # (J, R)
        ref = colsum[self.relevant_].max() if self.n_dicts_ else 1.0
        self.ranks_ = np.where(self.relevant_, (colsum > self.col_tol * ref).sum(axis=1), 0)
        self.mu_history_ = np.array(hist)
        self.loss_ = losses
        return self

    def _norms(self, W: Array, H: Array) -> tuple[Array, Array]:
        if self.prior == "l1":
            return W.sum(axis=1), H.sum(axis=1)
        return 0.5 * (W**2).sum(axis=1), 0.5 * (H**2).sum(axis=1)

    def _objective(
        self,
        X: Array,
        W: Array,
        H: Array,
        lam: Array,
        mu: Array,
        mask: Array,
        b: float,
        c1: float,
        c2: float,
    ) -> float:
        wn, hn = self._norms(W, H)
        reg = np.sum(((wn + b) / lam + c1 * np.log(lam)) * mask) + np.sum(hn / mu + c2 * np.log(mu))
        return beta_divergence(X, convolve(W, H) + self.eps, self.beta) + float(reg)  # (3.3.13)
