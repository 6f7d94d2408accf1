"""The β-divergence (thesis 3.2, Table 2) and the split of its gradient, shared by every model.

β = 2: Euclidean (Normal noise), β = 1: Kullback-Leibler (Poisson), β = 0: Itakura-Saito (Gamma).
Zero handling: for β = 1 the term x log(x/y) is 0 at x = 0 (its limit); β = 0 needs x > 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = Any


def beta_divergence(X: Array, Y: Array, beta: float) -> float:
    """``D_β(X, Y) = Σ d_β(x, y)`` (section 3.2, Table 2). X ≥ 0, Y > 0."""
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if beta == 2:
        return float(0.5 * np.sum((X - Y) ** 2))
    if beta == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            xlog = np.where(X > 0, X * np.log(X / Y), 0.0)
        return float(np.sum(xlog - X + Y))
    if beta == 0:
        Q = X / Y
        with np.errstate(divide="ignore"):
            return float(np.sum(Q - np.log(Q) - 1.0))
    return float(
        np.sum((X**beta + (beta - 1) * Y**beta - beta * X * Y ** (beta - 1)) / (beta * (beta - 1)))
    )


def beta_gradient_parts(V: Array, X: Array, beta: float) -> tuple[Array, Array]:
    """Split ∂D_β(X, V)/∂V = V^{β-1} - X V^{β-2} into its (positive, negative) parts.

    The multiplicative updates (3.2.26-3.2.27) multiply by (negative part) / (positive part).
    """
    if beta == 1:
        return np.ones_like(V), X / V
    return V ** (beta - 1.0), X * V ** (beta - 2.0)
