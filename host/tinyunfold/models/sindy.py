"""SINDy model discovery for the Deep Kalman Filter predictor (thesis 6.4.1-6.4.2).

Given DKF state estimates X (n x K), a polynomial dictionary Φ(X) (monomials up to degree 3) and
numerical derivatives Ẋ, solve the sparse regression (6.4.14)::

    Φ(X) s = (M Ẋ - L X - N(X) - D)ᵀ

column by column with Orthogonal Matching Pursuit, then prune each support with the
leave-one-out rule (6.4.20)-(6.4.22). The learned term s^T Φ(x) enters the predictor's forcing
(6.4.15). Derivatives are Savitzky-Golay estimates (the thesis used the ``derivative`` package).
"""

from __future__ import annotations

from itertools import combinations_with_replacement
from typing import Any

import numpy as np

from tinyunfold.models.systems import System, nonlinear_term


def monomials(n: int, degree: int = 3, constant: bool = True) -> list[tuple[int, ...]]:
    """Exponent tuples of all monomials of n variables up to ``degree``."""
    out: list[tuple[int, ...]] = [(0,) * n] if constant else []
    for d in range(1, degree + 1):
        for combo in combinations_with_replacement(range(n), d):
            e = [0] * n
            for i in combo:
                e[i] += 1
            out.append(tuple(e))
    return out


def library(x: Any, exps: list[tuple[int, ...]], lib: Any = np) -> Any:
    """Φ(x): (B, n) -> (B, n_s), one column per monomial."""
    cols = []
    for e in exps:
        c = x[..., 0] * 0 + 1
        for i, p in enumerate(e):
            if p:
                c = c * x[..., i] ** p
        cols.append(c)
    return lib.stack(cols, -1)


def label(e: tuple[int, ...]) -> str:
    parts = [f"x{i + 1}" + (f"^{p}" if p > 1 else "") for i, p in enumerate(e) if p]
    return "*".join(parts) if parts else "1"


def omp(A: np.ndarray, b: np.ndarray, n_nonzero: int) -> np.ndarray:
    """Orthogonal Matching Pursuit: greedy support, least squares on it. A (N, p), b (N,)."""
    norms = np.linalg.norm(A, axis=0)
    norms[norms == 0] = 1.0
    An = A / norms
    r = b.copy()
    S: list[int] = []
    x = np.zeros(A.shape[1])
    for _ in range(min(n_nonzero, A.shape[1])):
        corr = np.abs(An.T @ r)
        corr[S] = -1.0
        j = int(np.argmax(corr))
        if corr[j] <= 1e-14 * max(1.0, float(np.linalg.norm(b))):
            break
        S.append(j)
        coef, *_ = np.linalg.lstsq(A[:, S], b, rcond=None)
        x = np.zeros(A.shape[1])
        x[S] = coef
        r = b - A @ x
    return x


def relative_residue(A: np.ndarray, b: np.ndarray, x: np.ndarray, support: list[int]) -> float:
    """r(I) = ‖b - A_I x̂_I‖₂ / ‖b‖₂ (6.4.20)."""
    return float(np.linalg.norm(b - A[:, support] @ x[support]) / np.linalg.norm(b))


def loo_prune(A: np.ndarray, b: np.ndarray, x: np.ndarray, tau: float) -> np.ndarray:
    """Leave-one-out support pruning (6.4.21)-(6.4.22); x̂ outside the final support set to 0."""
    S0 = [int(i) for i in np.flatnonzero(x)]
    if not S0 or np.linalg.norm(b) == 0:
        return x.copy()
    rS = relative_residue(A, b, x, S0)
    S = list(S0)
    while S:
        trials = [(relative_residue(A, b, x, [j for j in S if j != i]), i) for i in S]
        r_best, i_best = min(trials)  # eq. (6.4.21)
        if r_best < (1.0 + tau) * rS:  # eq. (6.4.22)
            S.remove(i_best)
        else:
            break
    out = np.zeros_like(x)
    out[S] = x[S]
    return out


class SindyTerm:
    """The learned forcing s^T Φ(x) of (6.4.15): ``s`` (n_s, n), monomial exponents ``exps``."""

    def __init__(self, exps: list[tuple[int, ...]], s: np.ndarray) -> None:
        self.exps = exps
        self.s = np.asarray(s, dtype=np.float64)

    def term_numpy(self, x: np.ndarray) -> np.ndarray:
        return library(x, self.exps) @ self.s

    def term_torch(self, x: Any) -> Any:
        import torch

        return library(x, self.exps, torch) @ torch.as_tensor(self.s)

    def to_params(self) -> dict[str, Any]:
        return {"exps": [list(e) for e in self.exps], "labels": [label(e) for e in self.exps]}

    @classmethod
    def from_params(cls, params: dict[str, Any], s: np.ndarray) -> SindyTerm:
        return cls([tuple(e) for e in params["exps"]], s)

    def describe(self, names: list[str] | None = None) -> list[str]:
        """Human-readable equations, e.g. ``x1' += -0.5 x1^3 + 1.0``."""
        lines = []
        for j in range(self.s.shape[1]):
            terms = [f"{self.s[i, j]:+.4g} {label(e)}" for i, e in enumerate(self.exps)
                     if self.s[i, j] != 0]  # fmt: skip
            nm = names[j] if names else f"x{j + 1}"
            lines.append(f"{nm}' += " + (" ".join(terms) if terms else "0"))
        return lines

    @classmethod
    def fit_from_states(
        cls,
        system: System,
        coefs: dict[str, np.ndarray],
        xs: np.ndarray,
        degree: int = 3,
        n_nonzero: int = 4,
        tau: float = 0.05,
        window: int = 7,
        constant: bool = True,
    ) -> SindyTerm:
        """Fit s from state estimates xs (N, K+1, n) of a continuous-time system (6.4.14).

        The residual target is M ẋ - L x - N(x) - d with the current (known + learned p) model,
        so s only captures what the model misses.
        """
        from scipy.signal import savgol_filter

        dt = system.dt
        exps = monomials(system.n, degree, constant)
        M = coefs.get("M", np.eye(system.n))
        Lin = coefs["K"] if system.kind == "continuous" else coefs["L"]
        rows_phi, rows_b = [], []
        w = min(window, xs.shape[1] - (1 - xs.shape[1] % 2))
        for X in xs:  # one trajectory (K+1, n)
            if w >= 5:
                Xs = savgol_filter(X, w, 3, axis=0)
                dX = savgol_filter(X, w, 3, deriv=1, delta=dt, axis=0)
            else:
                Xs, dX = X, np.gradient(X, dt, axis=0)
            known = Xs @ Lin.T + nonlinear_term(system.kind, coefs, Xs)
            if "d" in coefs:
                known = known + coefs["d"]
            rows_b.append(dX @ M.T - known)  # (M Ẋ - L X - N(X) - D)ᵀ
            rows_phi.append(library(Xs, exps))
        Phi = np.concatenate(rows_phi, 0)
        B = np.concatenate(rows_b, 0)
        s = np.zeros((len(exps), system.n))
        for j in range(system.n):
            x = omp(Phi, B[:, j], n_nonzero)
            s[:, j] = loo_prune(Phi, B[:, j], x, tau)
        return cls(exps, s)
