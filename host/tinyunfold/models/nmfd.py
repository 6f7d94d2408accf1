"""Nonnegative Matrix Factor Deconvolution (NMFD) with per-dictionary ranks (thesis section 3.3).

Model (eq. 3.3.1-3.3.2): ``J`` dictionaries ``W(j)`` (m x r_j, columns labelled 0..r_j-1), one
activation row ``H(j)`` (1 x n) each, and::

    W * H = sum_j sum_{r < r_j} W(j)[:, r] (→r H(j))          (3.3.2)

where ``→r`` shifts a row right by r columns, zero-padding on the left.

Storage convention used by every NMFD-family module (nmfd, ard, dnmfd):

* ``W`` is a 3-D array (J, m, R) with ``R = max_j r_j``; columns ``r >= r_j`` of ``W[j]`` are zero
  and are kept at zero by the updates (``rank_mask``).
* ``H`` is (J, n), or (B, J, n) for a batch of B independent inputs sharing ``W``.

The convolution is computed once as one matrix product ``W.reshape`` (m x J·R) times the
shift stack ``S(H)`` (J·R x n) with ``S(H)[j, r, t] = H[j, t - r]`` (zero for t < r). Every
transpose-side operation (the ``Σ_r W(j)_rᵀ(←r A)`` of eq. 3.3.10) is the adjoint of that map:
``shift_stack_adjoint`` sums ``B[j, r, t + r]`` over r. Both are gathers with precomputed index
arrays: no Python loop over time frames. Left-shift ``←r`` is the adjoint of the right-shift ``→r``
(appendix 3.C writes them as ``A Jʳ`` and ``A (Jʳ)ᵀ``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm import tqdm

from tinyunfold.errors import ShapeError, ValueDomainError
from tinyunfold.models.divergence import beta_divergence, beta_gradient_parts

Array = np.ndarray


# ----------------------------------------------------------------------------- shift operators
def shift_right(A: Array, r: int) -> Array:
    """Column-wise right shift ``→r`` of the last axis, zero-padding the r left-most columns."""
    out = np.zeros_like(A)
    n = A.shape[-1]
    if r < n:
        out[..., r:] = A[..., : n - r]
    return out


def shift_left(A: Array, r: int) -> Array:
    """Column-wise left shift ``←r`` of the last axis, zero-padding the r right-most columns."""
    out = np.zeros_like(A)
    n = A.shape[-1]
    if r < n:
        out[..., : n - r] = A[..., r:]
    return out


def shift_stack(H: Array, R: int) -> Array:
    """Stack of right shifts: ``S[..., j, r, t] = H[..., j, t - r]`` (0 for t < r).

    H : (..., J, n)  ->  (..., J, R, n). Gather with one index array (no loop over time).
    """
    n = H.shape[-1]
    t = np.arange(n)[None, :] - np.arange(R)[:, None]  # (R, n): source column t - r
    valid = t >= 0
    S = H[..., np.clip(t, 0, None)]  # (..., J, R, n)
    return S * valid


def shift_stack_adjoint(B: Array) -> Array:
    """Adjoint of :func:`shift_stack`: ``out[..., j, t] = Σ_r B[..., j, r, t + r]`` (t + r < n).

    B : (..., J, R, n)  ->  (..., J, n). This is the ``Σ_r (←r ·)`` of eq. (3.3.10).
    """
    R, n = B.shape[-2], B.shape[-1]
    t = np.arange(n)[None, :] + np.arange(R)[:, None]  # (R, n): column t + r
    valid = t < n
    G = np.take_along_axis(B, np.broadcast_to(np.minimum(t, n - 1), B.shape), axis=-1)
    return (G * valid).sum(axis=-2)


# ----------------------------------------------------------------------------- convolution
def rank_mask(ranks: Any, R: int | None = None) -> Array:
    """(J, 1, R) float mask: 1 where column r < r_j of dictionary j exists."""
    ranks = np.asarray(ranks, dtype=int)
    R = int(ranks.max()) if R is None else R
    return (np.arange(R)[None, :] < ranks[:, None]).astype(float)[:, None, :]


def convolve(W: Array, H: Array) -> Array:
    """``W * H`` (eq. 3.3.2). W: (J, m, R); H: (..., J, n) -> (..., m, n)."""
    J, m, R = W.shape
    S = shift_stack(H, R)  # (..., J, R, n)
    Wmat = W.transpose(1, 0, 2).reshape(m, J * R)  # columns ordered (j, r)
    return Wmat @ S.reshape(*S.shape[:-3], J * R, S.shape[-1])


def convolve_adjoint_h(W: Array, A: Array) -> Array:
    """``Σ_r W(j)[:, r]ᵀ (←r A)`` for every j (eq. 3.3.10).

    W: (J, m, R); A: (..., m, n) -> (..., J, n).
    """
    J, m, R = W.shape
    Wmat = W.transpose(1, 0, 2).reshape(m, J * R)
    B = np.swapaxes(Wmat, 0, 1) @ A  # (..., J·R, n)
    return shift_stack_adjoint(B.reshape(*B.shape[:-2], J, R, B.shape[-1]))


def convolve_adjoint_w(A: Array, H: Array, R: int) -> Array:
    """``[A (→r H(j))ᵀ]_r`` for every j, r (eq. 3.3.11).

    A: (..., m, n); H: (..., J, n) -> (J, m, R).

    Leading batch axes are summed (a mini-batch shares the dictionaries).
    """
    S = shift_stack(H, R)  # (..., J, R, n)
    J, n = S.shape[-3], S.shape[-1]
    G = A @ np.swapaxes(S.reshape(*S.shape[:-3], J * R, n), -1, -2)  # (..., m, J·R)
    G = G.reshape(-1, A.shape[-2], J * R).sum(axis=0)
    return G.reshape(A.shape[-2], J, R).transpose(1, 0, 2)


def ones_denominator(W: Array, n: int) -> Array:
    """``Σ_r W(j)_rᵀ (←r 1_{m x n})`` (J, n): shifted-ones denominator of [129], eq. (4.4.3).

    At frame t only the columns r with t + r < n contribute.
    """
    colsum = W.sum(axis=1)  # (J, R)
    R = W.shape[2]
    t = np.arange(n)[None, :] + np.arange(R)[:, None]
    return colsum @ (t < n).astype(W.dtype)  # (J, n)


# ----------------------------------------------------------------------------- β-divergence
def gamma_exponent(beta: float) -> float:
    """γ(β) of eq. (3.2.34): the MM exponent that makes the updates monotone for every β."""
    if beta < 1:
        return 1.0 / (2.0 - beta)
    if beta <= 2:
        return 1.0
    return 1.0 / (beta - 1.0)


# ----------------------------------------------------------------------------- MU updates
def update_h(
    X: Array,
    W: Array,
    H: Array,
    beta: float = 1.0,
    eps: float = 1e-16,
    exponent: str = "mm",
    reg: Array | float = 0.0,
    den: Array | None = None,
) -> Array:
    """One multiplicative H update, eq. (3.3.10), with the ε-projection of eq. (3.2.38).

    ``reg`` is added to the denominator (ARD terms 3.3.14-3.3.15); ``exponent="mm"`` raises the
    ratio to γ(β) (3.2.34, monotone for every β), ``"heuristic"`` uses 1 as printed in (3.3.10).
    ``den``: a precomputed data-independent denominator (for β = 1 it is Σ_r W_rᵀ(←r 1), what the
    Deep-NMFD layers 4.4.3 store); computed when None. X, H may carry a leading batch axis.
    """
    V = convolve(W, H) + eps
    pos, neg = beta_gradient_parts(V, X, beta)
    num = convolve_adjoint_h(W, neg)
    den = (convolve_adjoint_h(W, pos) if den is None else den) + reg
    ratio = num / np.maximum(den, eps)
    g = gamma_exponent(beta) if exponent == "mm" else 1.0
    return np.maximum(eps, H * ratio**g)  # eq. (3.3.10) + projection (3.2.38)


def update_w(
    X: Array,
    W: Array,
    H: Array,
    beta: float = 1.0,
    eps: float = 1e-16,
    exponent: str = "mm",
    reg: Array | float = 0.0,
    mask: Array | None = None,
) -> Array:
    """One multiplicative W update, eq. (3.3.11), ε-projected; columns outside ``mask`` stay 0."""
    R = W.shape[2]
    V = convolve(W, H) + eps
    pos, neg = beta_gradient_parts(V, X, beta)
    num = convolve_adjoint_w(neg, H, R)
    den = convolve_adjoint_w(pos, H, R) + reg
    g = gamma_exponent(beta) if exponent == "mm" else 1.0
    Wn = np.maximum(eps, W * (num / np.maximum(den, eps)) ** g)  # eq. (3.3.11) + (3.2.38)
    return Wn if mask is None else Wn * mask


def check_nonneg(X: Array, name: str = "X") -> Array:
    X = np.asarray(X, dtype=float)
    if not np.all(np.isfinite(X)):
        raise ValueDomainError(f"{name} contains NaN or Inf", "clean the input features")
    if np.any(X < 0):
        raise ValueDomainError(f"{name} has negative entries", "NMFD inputs must be nonnegative")
    return X


class NMFD:
    """NMFD by 2J-block coordinate descent (Algorithm 3.3.1) with β-divergence MU.

    Parameters
    ----------
    ranks : sequence of r_j (length J), the per-dictionary ranks (eq. 3.3.1).
    beta : β of the β-divergence (0 = Itakura-Saito, 1 = KL, 2 = Euclidean).
    n_iter : number of (H, W) sweeps.
    eps : ε of the projection (3.2.38).
    exponent : ``"mm"`` (γ(β), monotone) or ``"heuristic"`` (exponent 1, eq. 3.3.10-3.3.11).
    update_w : if False only H is fitted (fixed dictionary ``W_init``).
    random_state : seed for the random initialisation.

    Attributes
    ----------
    W_ : (J, m, R) dictionaries, zero outside each rank.
    H_ : (J, n) activations.
    loss_ : list of D_β after every sweep.
    """

    def __init__(
        self,
        ranks: Any = (1,),
        beta: float = 1.0,
        n_iter: int = 200,
        eps: float = 1e-16,
        exponent: str = "mm",
        update_w: bool = True,
        random_state: int | None = 0,
        progress: bool = False,
    ) -> None:
        self.ranks = ranks
        self.beta = beta
        self.n_iter = n_iter
        self.eps = eps
        self.exponent = exponent
        self.update_w = update_w
        self.random_state = random_state
        self.progress = progress

    def _init(self, X: Array, W_init: Array | None, H_init: Array | None) -> tuple[Array, Array]:
        ranks = np.asarray(self.ranks, dtype=int)
        if ranks.ndim != 1 or ranks.size == 0 or np.any(ranks < 1):
            raise ValueDomainError(
                f"ranks must be a non-empty list of integers >= 1, got {self.ranks}",
                "pass one rank per dictionary, e.g. ranks=(3, 3, 1)",
            )
        J, R = ranks.size, int(ranks.max())
        m, n = X.shape
        rng = np.random.default_rng(self.random_state)
        mask = rank_mask(ranks)
        scale = np.sqrt(max(X.mean(), self.eps) / ranks.sum())
        if W_init is None:
            W = rng.uniform(0.5, 1.5, (J, m, R)) * scale * mask
        else:
            W = np.array(W_init, float)
        if H_init is None:
            H = rng.uniform(0.5, 1.5, (J, n)) * scale
        else:
            H = np.array(H_init, float)
        if W.shape != (J, m, R):
            raise ShapeError(f"W_init has shape {W.shape}, expected {(J, m, R)}")
        if H.shape != (J, n):
            raise ShapeError(f"H_init has shape {H.shape}, expected {(J, n)}")
        return np.maximum(W, self.eps) * mask, np.maximum(H, self.eps)

    def fit(self, X: Array, W_init: Array | None = None, H_init: Array | None = None) -> NMFD:
        """Fit on X (m x n). Returns self."""
        X = check_nonneg(X)
        if X.ndim != 2:
            raise ShapeError(f"X must be 2-D (m x n), got shape {X.shape}")
        W, H = self._init(X, W_init, H_init)
        mask = rank_mask(self.ranks)
        self.loss_ = []
        it = tqdm(range(self.n_iter), desc="NMFD", disable=None if self.progress else True)
        for _ in it:
            H = update_h(X, W, H, self.beta, self.eps, self.exponent)  # eq. (3.3.10)
            if self.update_w:
                W = update_w(X, W, H, self.beta, self.eps, self.exponent, mask=mask)  # (3.3.11)
            self.loss_.append(beta_divergence(X, convolve(W, H) + self.eps, self.beta))
        self.W_, self.H_ = W, H
        return self

    def transform(self, X: Array, n_iter: int | None = None) -> Array:
        """Activations of X for the fitted dictionaries (W fixed). Returns (J, n)."""
        X = check_nonneg(X)
        H = np.full((self.W_.shape[0], X.shape[1]), 1.0)
        for _ in range(self.n_iter if n_iter is None else n_iter):
            H = update_h(X, self.W_, H, self.beta, self.eps, self.exponent)
        return H

    def reconstruct(self) -> Array:
        return convolve(self.W_, self.H_)
