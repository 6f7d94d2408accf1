"""Float32 golden reference of the ``nmf`` forward pass; mirrors the generated ``tu_model_forward``
(H⁽⁰⁾ = h0 everywhere, then ``tu_nmf_layers_f32``) exactly.

Per layer (thesis eq. 4.2.2 with the ε-projection 3.2.38, optional mask 4.3.14), in the C's order::

    V   = W H                           arm_mat_mult_f32, F x N
    Q   = X / (V + ε)                   element-wise, F x N
    U   = Wᵀ Q                          as (Qᵀ W)ᵀ with arm_mat_mult_f32: W is stored once
    H   = max(ε, (H * U) / d) [* M^H]   d = Wᵀ1 + α_H precomputed (generation time), R
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyunfold.golden.linalg import F32, as_f32, column_sums_f32, mat_mult_f32, max_f32
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.nmf import check_input, initial_h


@dataclass(frozen=True)
class NMFConstants:
    """What the generator bakes into the firmware as const data."""

    W: np.ndarray  # (F, R) float32
    denom: np.ndarray  # (R,) float32, Wᵀ1 + α_H
    eps: np.float32
    h0: np.float32
    n_layers: int
    n_frames: int

    @property
    def n_features(self) -> int:
        return int(self.W.shape[0])

    @property
    def rank(self) -> int:
        return int(self.W.shape[1])


def constants(model: ModelFile) -> NMFConstants:
    """Precompute the constants of an ``nmf`` model in float32 (shared with the generator)."""
    p = model.params
    W = as_f32(model.array("W"))
    # Denominator Wᵀ1 + α_H of eq. (4.2.2): sequential float32 column sums, then + α_H.
    denom = (column_sums_f32(W) + F32(p["alpha_h"])).astype(F32)
    h0 = initial_h(1, 1, p["h0"], p["h0_value"], F32)[0, 0]
    return NMFConstants(
        W=W,
        denom=denom,
        eps=F32(p["eps"]),
        h0=F32(h0),
        n_layers=int(p["n_layers"]),
        n_frames=int(p["n_frames"]),
    )


def nmf_forward_f32(c: NMFConstants, X: np.ndarray) -> np.ndarray:
    """Bit-exact float32 forward pass. X: (F, N) with N = c.n_frames -> H: (R, N)."""
    X = as_f32(check_input(X, c.n_features))
    if X.shape[1] != c.n_frames:
        from tinyunfold.errors import ShapeError

        raise ShapeError(
            f"X has {X.shape[1]} frames, the model was built for n_frames={c.n_frames}",
            "pass blocks of exactly n_frames columns",
        )
    H = np.full((c.rank, c.n_frames), c.h0, dtype=F32)
    return nmf_layers_f32(c.W, c.denom, c.eps, X, H, c.n_layers)


def nmf_layers_f32(
    W: np.ndarray,
    denom: np.ndarray,
    eps: np.float32,
    X: np.ndarray,
    H: np.ndarray,
    n_layers: int,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """``tu_nmf_layers_f32``: ``n_layers`` layers with one dictionary from H; returns the new H.

    W: (F, R), denom: (R,), X: (F, N), H: (R, N), mask: (R, N) of 0/1 or None; all float32.
    """
    d = denom[:, None]
    for _ in range(n_layers):
        V = mat_mult_f32(W, H)
        Q = X / (V + eps)  # X ⊘ (WH + ε)
        U = mat_mult_f32(W.T, Q)  # Wᵀ(X ⊘ (WH + ε)); the C forms (Qᵀ W)ᵀ: same sums, same bits
        H = max_f32((H * U) / d, eps)  # eq. (4.2.2), projection (3.2.38)
        if mask is not None:
            H = H * mask  # M^H, eq. (4.3.14)
    return H
