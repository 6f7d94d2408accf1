"""Sparse KL-NMF activation inference with a fixed dictionary (the ``nmf`` model kind).

Each layer applies the multiplicative KL update of thesis eq. (4.2.2) with the ε-projection of
eq. (3.2.38)::

    H <- max(ε, H ∘ (Wᵀ (X ⊘ (W H + ε))) ⊘ (Wᵀ 1 + α_H))

for ``K`` layers with the same dictionary ``W`` (F x R). ``X`` is F x N (N frames), ``H`` is R x N.
The denominator ``Wᵀ1 + α_H`` does not depend on the data and is precomputed (at generation time on
the device). This module holds the float64 model used for numerical checks; the float32 reference
that the firmware must match bit for bit lives in :mod:`tinyunfold.golden.nmf`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyunfold.errors import ShapeError, ValueDomainError
from tinyunfold.modelfile import (
    MAX_DIM,
    MAX_LAYERS,
    ModelFile,
    param_choice,
    param_float,
    param_int,
    require_array,
    require_params,
)

KIND = "nmf"
H0_RULES = ("ones", "const")


def check_input(X: np.ndarray, n_features: int, name: str = "X") -> np.ndarray:
    """Validate one input block (F x N): 2-D, right F, finite, nonnegative."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] != n_features:
        raise ShapeError(
            f"{name} has shape {X.shape}, the model expects ({n_features}, N)",
            "pass one spectrogram block with the model's number of frequency bins as rows",
        )
    if not np.all(np.isfinite(X)):
        raise ValueDomainError(f"{name} contains NaN or Inf", "clean the input features")
    if np.any(X < 0):
        raise ValueDomainError(f"{name} has negative entries", "NMF inputs must be nonnegative")
    return X


Array = Any  # numpy.ndarray or torch.Tensor: the layer is written with operators only


def project_floor(x: Array, eps: float) -> Array:
    """ε-projection max(ε, x) of eq. (3.2.38), for numpy arrays and torch tensors."""
    if isinstance(x, np.ndarray):
        return np.maximum(x, eps)
    return x.clamp_min(eps)


def denominator(W: Array, alpha_h: float) -> Array:
    """Wᵀ1 + α_H of eq. (4.2.2), shape (r, 1) (data independent: precomputed per dictionary)."""
    return W.sum(0)[:, None] + alpha_h


def kl_layer(
    H: Array, W: Array, X: Array, denom: Array, eps: float, mask: Array | None = None
) -> Array:
    """One layer, eq. (4.2.2) / (4.3.15) with the ε-projection (3.2.38).

    H: (r, N), W: (m, r), X: (m, N), denom: (r, 1); ``mask`` is M^H of eq. (4.3.14) or None.
    Float64/float32 model code (numpy or torch); the firmware's order is in golden/nmf.py.
    """
    U = W.T @ (X / (W @ H + eps))  # Wᵀ(X ⊘ (WH + ε))
    Hn = project_floor(H * U / denom, eps)  # eq. (4.2.2) + projection (3.2.38)
    return Hn if mask is None else Hn * mask  # M^H, eq. (4.3.14)


def kl_update_w(X: Array, W: Array, H: Array, eps: float, mask: Array | None = None) -> Array:
    """One multiplicative KL update of W (3.2.27 with β = 1) with the ε-projection (3.2.38).

    W ← max(ε, W ∘ ((X ⊘ (WH + ε)) Hᵀ) ⊘ (1 Hᵀ + ε)); ``mask`` (e.g. M^W, 4.3.8) after it.
    X: (m, N), W: (m, r), H: (r, N); numpy or torch.
    """
    Q = X / (W @ H + eps)
    Wn = project_floor(W * (Q @ H.T) / (H.sum(1)[None, :] + eps), eps)
    return Wn if mask is None else Wn * mask


def initial_h(rank: int, n_frames: int, h0: str, h0_value: float, dtype: Any) -> np.ndarray:
    """Deterministic H⁽⁰⁾: all ones (``ones``) or the constant ``h0_value`` (``const``)."""
    value = 1.0 if h0 == "ones" else h0_value
    return np.full((rank, n_frames), value, dtype=dtype)


class NMFInference:
    """Fixed-dictionary sparse KL-NMF unrolled for ``n_layers`` layers (eq. 4.2.2, 3.2.38).

    Parameters
    ----------
    W : array (F, R), nonnegative dictionary.
    n_layers : K, number of unrolled multiplicative updates.
    alpha_h : α_H ≥ 0, ℓ1 sparsity weight on H.
    eps : ε > 0, projection floor and division guard.
    n_frames : N, frames per input block (the device's static buffer width).
    h0 : ``"ones"`` or ``"const"`` (then ``h0_value``) — the H⁽⁰⁾ rule.
    """

    def __init__(
        self,
        W: np.ndarray,
        n_layers: int = 100,
        alpha_h: float = 0.0,
        eps: float = 1e-9,
        n_frames: int = 1,
        h0: str = "ones",
        h0_value: float = 1.0,
    ) -> None:
        self.W = W
        self.n_layers = n_layers
        self.alpha_h = alpha_h
        self.eps = eps
        self.n_frames = n_frames
        self.h0 = h0
        self.h0_value = h0_value

    # ------------------------------------------------------------------ model file
    def to_modelfile(self) -> ModelFile:
        W = np.asarray(self.W, dtype=np.float32)
        return ModelFile(
            kind=KIND,
            params={
                "n_layers": int(self.n_layers),
                "alpha_h": float(self.alpha_h),
                "eps": float(self.eps),
                "n_frames": int(self.n_frames),
                "h0": self.h0,
                "h0_value": float(self.h0_value),
            },
            arrays={"W": W},
        )

    @classmethod
    def from_modelfile(cls, model: ModelFile) -> NMFInference:
        p = model.params
        return cls(
            W=model.array("W"),
            n_layers=int(p["n_layers"]),
            alpha_h=float(p["alpha_h"]),
            eps=float(p["eps"]),
            n_frames=int(p["n_frames"]),
            h0=str(p["h0"]),
            h0_value=float(p["h0_value"]),
        )

    # ------------------------------------------------------------------ float64 forward
    def transform(self, X: np.ndarray) -> np.ndarray:
        """Float64 forward pass. X: (F, N) -> H: (R, N)."""
        W = np.asarray(self.W, dtype=np.float64)
        X = check_input(X, W.shape[0]).astype(np.float64)
        H = initial_h(W.shape[1], X.shape[1], self.h0, self.h0_value, np.float64)
        denom = denominator(W, self.alpha_h)  # Wᵀ1 + α_H, eq. (4.2.2)
        for _ in range(self.n_layers):
            H = kl_layer(H, W, X, denom, self.eps)
        return H


def validate_model(model: ModelFile) -> None:
    require_params(model, "n_layers", "alpha_h", "eps", "n_frames", "h0", "h0_value")
    param_int(model, "n_layers", 1, MAX_LAYERS)
    param_int(model, "n_frames", 1, MAX_DIM)
    param_float(model, "alpha_h", lo=0.0)
    param_float(model, "eps", lo=0.0, lo_open=True)
    param_choice(model, "h0", H0_RULES)
    param_float(model, "h0_value", lo=0.0, lo_open=True)
    W = require_array(model, "W", ndim=2, nonneg=True)
    if W.dtype != np.float32:
        raise ValueDomainError(f"nmf: W must be float32, got {W.dtype}")
    if W.shape[0] < 1 or W.shape[1] < 1:
        raise ShapeError(f"nmf: W has empty shape {W.shape}")
    if not np.all(W.sum(axis=0) > 0):
        raise ValueDomainError("nmf: every dictionary atom (column of W) needs a positive entry")
