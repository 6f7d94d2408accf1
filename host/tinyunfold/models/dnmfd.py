"""Deep-NMFD: NMFD (β = 1) unrolled into K layers, the last C with trainable dictionaries (4.4).

Network (Fig. 4.16): with J̄ = J_S ∪ J_N dictionaries (the first ``n_targets`` are targets),

* layer k (k = 0..K-1) applies the inner map (4.4.3) with the shifted-ones denominator of [129]::

      H(j) <- max(ε, H(j) ∘ Σ_r W(j)_rᵀ(←r X ⊘ (W*H + ε)) ⊘ Σ_r W(j)_rᵀ(←r 1))

  with ``W = Ŵ`` for k < K − C (non-discriminative) and a trainable ``W⁽ᵏ⁾`` for k ≥ K − C;
* the output layer uses ``Ŵ`` again: the Wiener filter ``F = Ŵ_S*H_S ⊘ Ŵ*H`` (4.4.1) and the
  loss (4.4.4) ``½‖S − F∘X‖² + α_S/2 ‖S − Ŵ_S*H_S‖²``.

Training uses split gradients: both the positive and the negative parts of every gradient are
back-propagated (maps 4.4.6-4.4.8, appendix 4.B) and each trainable dictionary gets the
multiplicative update (4.4.5) ``W⁽ᵏ⁾ <- W⁽ᵏ⁾ ∘ [∇]₋ ⊘ [∇]₊``, which keeps it nonnegative.

Array conventions follow :mod:`tinyunfold.models.nmfd`: dictionaries (J̄, m, R) zero outside
their ranks, activations (B, J̄, n) for a batch of B inputs (m x n each), H⁽⁰⁾ = ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from tinyunfold.errors import ShapeError, ValueDomainError
from tinyunfold.modelfile import (
    MAX_LAYERS,
    ModelFile,
    param_choice,
    param_float,
    param_int,
    require_array,
    require_params,
)
from tinyunfold.models.nmfd import (
    NMFD,
    convolve,
    convolve_adjoint_h,
    convolve_adjoint_w,
    ones_denominator,
    rank_mask,
    update_h,
)
from tinyunfold.models.padnmf import BlockLayout

KIND = "dnmfd"
Array = np.ndarray


# ----------------------------------------------------------------------------- forward
def layer(X: Array, W: Array, H: Array, eps: float) -> Array:
    """Inner map (4.4.3) with ε-projection. X: (B, m, n), W: (J, m, R), H: (B, J, n)."""
    D = ones_denominator(W, X.shape[-1])  # Σ_r W(j)_rᵀ (←r 1), [129]
    return update_h(X, W, H, beta=1.0, eps=eps, exponent="heuristic", den=D)  # KL, (3.3.10)


def layer_dictionaries(W_hat: Array, W_layers: Array, n_layers: int) -> list[Array]:
    """Dictionary of each of the K layers: Ŵ for k < K − C, then the C trainable ones."""
    C = W_layers.shape[0]
    return [W_hat] * (n_layers - C) + [W_layers[c] for c in range(C)]


def forward(
    X: Array, W_hat: Array, W_layers: Array, n_layers: int, eps: float, H0: Array | None = None
) -> list[Array]:
    """All states H⁽⁰⁾..H⁽ᴷ⁾ (each (B, J, n)) for inputs X (B, m, n)."""
    J = W_hat.shape[0]
    H = np.ones((X.shape[0], J, X.shape[-1]), dtype=X.dtype) if H0 is None else H0
    states = [H]
    for W in layer_dictionaries(W_hat, W_layers, n_layers):
        H = layer(X, W, H, eps)  # eq. (4.4.3)
        states.append(H)
    return states


def wiener_output(X: Array, W_hat: Array, H: Array, n_targets: int, eps: float) -> Array:
    """F ∘ X with F = Ŵ_S*H_S ⊘ Ŵ*H (4.4.1): the network's target estimate, (B, m, n)."""
    Ys = convolve(W_hat[:n_targets], H[..., :n_targets, :])
    V = convolve(W_hat, H) + eps
    return X * Ys / V


def loss(X: Array, S: Array, W_hat: Array, H: Array, n_targets: int, alpha_s: float, eps: float):
    """Outer objective (4.4.4), summed over the batch."""
    Ys = convolve(W_hat[:n_targets], H[..., :n_targets, :])
    V = convolve(W_hat, H) + eps
    return float(0.5 * np.sum((S - X * Ys / V) ** 2) + 0.5 * alpha_s * np.sum((S - Ys) ** 2))


# ----------------------------------------------------------------------------- backward (split)
def final_gradient_split(
    X: Array, S: Array, W_hat: Array, H: Array, n_targets: int, alpha_s: float, eps: float
) -> tuple[Array, Array]:
    """[Φ_K]₊ and [Φ_K]₋ of eq. (4.4.8): ∇_{H⁽ᴷ⁾} of the loss split into nonnegative parts."""
    Ys = convolve(W_hat[:n_targets], H[..., :n_targets, :])  # Ŵ_S * H_S
    V = convolve(W_hat, H) + eps  # Ŵ * H
    Ws, Wn = W_hat[:n_targets], W_hat[n_targets:]
    # targets j ∈ J_S
    ps = (Ys * X**2 + S * X * Ys) / V**2 + alpha_s * Ys
    ms = S * X / V + Ys**2 * X**2 / V**3 + alpha_s * S
    # noises j ∈ J_N
    pn = S * X * Ys / V**2
    mn = Ys**2 * X**2 / V**3
    gp = np.concatenate([convolve_adjoint_h(Ws, ps), convolve_adjoint_h(Wn, pn)], axis=-2)
    gm = np.concatenate([convolve_adjoint_h(Ws, ms), convolve_adjoint_h(Wn, mn)], axis=-2)
    return gp, gm


def _denominator_grad(c: Array, R: int) -> Array:
    """∂/∂W(j)_{:,r} of Σ_t c(j)_t D(j)_t with D the shifted-ones denominator: Σ_{t+r<n} c_t."""
    n = c.shape[-1]
    valid = (np.arange(n)[None, :] + np.arange(R)[:, None] < n).astype(c.dtype)  # (R, n)
    return (c @ valid.T).reshape(-1, c.shape[-2], R).sum(axis=0)  # (J, R)


def layer_backward_split(
    X: Array, W: Array, H: Array, up_p: Array, up_m: Array, eps: float
) -> tuple[Array, Array, Array, Array]:
    """Split gradient maps of one layer H' = f(H, W) (eq. 4.4.6-4.4.7, appendix 4.B).

    up_p, up_m : [∇_{H'}]₊, [∇_{H'}]₋ (B, J, n).
    Returns [∇_H]₊, [∇_H]₋ (B, J, n) and [∇_W]₊, [∇_W]₋ (J, m, R) summed over the batch.
    """
    R = W.shape[2]
    V = convolve(W, H) + eps
    Q = X / V
    P2 = X / V**2
    N = convolve_adjoint_h(W, Q)
    D = ones_denominator(W, X.shape[-1])
    active = (H * N / D > eps).astype(H.dtype)  # the projection max(ε, ·) passes these
    up_p, up_m = up_p * active, up_m * active
    zp, zm = up_p * H / D, up_m * H / D
    Cp, Cm = convolve(W, zp), convolve(W, zm)  # Σ_s W(i)_s (→s [∇]± ∘ H/D)
    # eq. (4.4.7): state gradient map
    gHp = up_p * N / D + convolve_adjoint_h(W, P2 * Cm)
    gHm = up_m * N / D + convolve_adjoint_h(W, P2 * Cp)
    # eq. (4.4.6): parameter gradient map (third term: derivative of the shifted-ones denominator)
    ones_m = np.ones((1, W.shape[1], 1))
    gWp = (
        convolve_adjoint_w(Q, zp, R)
        + convolve_adjoint_w(P2 * Cm, H, R)
        + ones_m * _denominator_grad(up_m * H * N / D**2, R)[:, None, :]
    )
    gWm = (
        convolve_adjoint_w(Q, zm, R)
        + convolve_adjoint_w(P2 * Cp, H, R)
        + ones_m * _denominator_grad(up_p * H * N / D**2, R)[:, None, :]
    )
    return gHp, gHm, gWp, gWm


def backward_split(
    X: Array,
    S: Array,
    W_hat: Array,
    W_layers: Array,
    states: list[Array],
    n_targets: int,
    alpha_s: float,
    eps: float,
) -> tuple[Array, Array, Array, Array]:
    """Split gradients of the loss w.r.t. the C trainable dictionaries and H⁽⁰⁾.

    Returns gW_p, gW_m (C, J, m, R) and gH0_p, gH0_m (B, J, n).
    """
    K = len(states) - 1
    C = W_layers.shape[0]
    Ws = layer_dictionaries(W_hat, W_layers, K)
    up, um = final_gradient_split(X, S, W_hat, states[K], n_targets, alpha_s, eps)  # (4.4.8)
    gWp = np.zeros_like(W_layers)
    gWm = np.zeros_like(W_layers)
    for k in range(K - 1, -1, -1):  # loop over layers (not time frames)
        up, um, wp, wm = layer_backward_split(X, Ws[k], states[k], up, um, eps)
        if k >= K - C:
            gWp[k - (K - C)] = wp
            gWm[k - (K - C)] = wm
    return gWp, gWm, up, um


# ----------------------------------------------------------------------------- initialisation
def init_dictionaries(
    sources: list[Array], ranks: Any, n_iter: int = 200, eps: float = 1e-9, seed: int = 0
) -> Array:
    """Discriminative initialisation Ŵ: one KL-NMFD (J = 1, rank r_j) per source.

    sources : list of J̄ nonnegative (m x n_j) clean spectrograms (targets first, then noises);
        several examples of one source can be concatenated along time.
    Returns Ŵ (J̄, m, R), each dictionary scaled to unit maximum column sum.
    """
    ranks = [int(r) for r in ranks]
    if len(sources) != len(ranks):
        raise ShapeError(
            f"{len(sources)} sources but {len(ranks)} ranks", "give one rank per source"
        )
    m = sources[0].shape[0]
    R = max(ranks)
    W = np.zeros((len(ranks), m, R))
    for j, (Xj, rj) in enumerate(zip(sources, ranks, strict=True)):
        model = NMFD(ranks=(rj,), beta=1.0, n_iter=n_iter, eps=eps, random_state=seed + j)
        model.fit(np.asarray(Xj, float) + eps)
        Wj = model.W_[0]
        W[j, :, :rj] = Wj[:, :rj] / max(Wj.sum(axis=0).max(), eps)
    return W


# ----------------------------------------------------------------------------- estimator
@dataclass
class TrainLog:
    loss: list[float]


class DeepNMFD:
    """Deep-NMFD hit detector / separator (section 4.4).

    Parameters
    ----------
    ranks : r_j for the J̄ dictionaries, targets first.
    n_targets : I = |J_S|.
    n_layers : K.
    n_discriminative : C ≤ K, number of trainable layers (the last ones).
    alpha_s : α_S of the loss (4.4.4).
    eps : ε of the projection and division guard.
    n_epochs, batch_size : training schedule (mini-batches of training triplets).
    lr : exponent η of the multiplicative step ``W <- W ∘ ([∇]₋/[∇]₊)^η`` (η = 1 is (4.4.5)).
    guard : δ/mean([∇]₊ + [∇]₋) of the ratio ``([∇]₋ + δ)/([∇]₊ + δ)``; 0 is the plain rule.
    random_state : seed of the per-epoch permutation.

    Attributes
    ----------
    W_hat_ : (J̄, m, R) fixed dictionary Ŵ; W_layers_ : (C, J̄, m, R) trained dictionaries.
    loss_ : mean training loss per epoch.
    """

    def __init__(
        self,
        ranks: Any = (4, 4),
        n_targets: int = 1,
        n_layers: int = 20,
        n_discriminative: int = 5,
        alpha_s: float = 0.1,
        eps: float = 1e-9,
        n_epochs: int = 10,
        batch_size: int = 8,
        lr: float = 1.0,
        guard: float = 0.01,
        random_state: int | None = 0,
        progress: bool = False,
    ) -> None:
        self.ranks = ranks
        self.n_targets = n_targets
        self.n_layers = n_layers
        self.n_discriminative = n_discriminative
        self.alpha_s = alpha_s
        self.eps = eps
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.guard = guard
        self.random_state = random_state
        self.progress = progress

    def _check_hparams(self) -> None:
        if not 0 <= self.n_discriminative <= self.n_layers:
            raise ValueDomainError(
                f"n_discriminative C={self.n_discriminative} must be in [0, K={self.n_layers}]"
            )
        if not 1 <= self.n_targets <= len(self.ranks):
            raise ValueDomainError(f"n_targets must be in [1, {len(self.ranks)}]")

    def set_dictionary(self, W_hat: Array) -> DeepNMFD:
        """Use Ŵ for every layer (untrained network)."""
        self._check_hparams()
        W_hat = np.asarray(W_hat, float) * rank_mask(self.ranks)
        self.W_hat_ = W_hat
        self.W_layers_ = np.repeat(W_hat[None], self.n_discriminative, axis=0)
        self.loss_: list[float] = []
        return self

    def fit(self, X: Array, S: Array, W_hat: Array | None = None) -> DeepNMFD:
        """Train on mixtures X and target spectrograms S, both (Q, m, n).

        W_hat : initial Ŵ (J̄, m, R); if None, the one set by :meth:`set_dictionary` is used.
        """
        X, S = _as_batch(X), _as_batch(S)
        if X.shape != S.shape:
            raise ShapeError(f"X {X.shape} and S {S.shape} must have the same shape")
        if W_hat is not None:
            self.set_dictionary(W_hat)
        elif not hasattr(self, "W_hat_"):
            raise ValueDomainError(
                "no dictionary Ŵ", "pass W_hat or call set_dictionary (see init_dictionaries)"
            )
        rng = np.random.default_rng(self.random_state)
        Q = X.shape[0]
        # The K - C layers with the fixed Ŵ do not change during training: run them once.
        H_fixed = self.fixed_states(X)
        for _ in tqdm(
            range(self.n_epochs), desc="Deep-NMFD", disable=None if self.progress else True
        ):
            perm = rng.permutation(Q)
            total = 0.0
            for s in range(0, Q, self.batch_size):
                idx = perm[s : s + self.batch_size]
                total += self.train_step(X[idx], S[idx], H_fixed[idx])
            self.loss_.append(total / Q)
        return self

    def fixed_states(self, X: Array, chunk: int = 64) -> Array:
        """H⁽ᴷ⁻ᶜ⁾ of every input: the output of the non-discriminative layers, (Q, J̄, n)."""
        X = _as_batch(X)
        K0 = self.n_layers - self.n_discriminative
        empty = np.zeros((0, *self.W_hat_.shape))
        out = [
            forward(X[i : i + chunk], self.W_hat_, empty, K0, self.eps)[-1]
            for i in range(0, X.shape[0], chunk)
        ]
        return np.concatenate(out, axis=0)

    def train_step(self, X: Array, S: Array, H_start: Array | None = None) -> float:
        """One mini-batch: forward, split backward, update (4.4.5). Returns the batch loss.

        H_start : H⁽ᴷ⁻ᶜ⁾ of the batch (from :meth:`fixed_states`); computed when None.
        """
        if H_start is None:
            H_start = self.fixed_states(X)
        # only the C trainable layers are run (and back-propagated through)
        C = self.n_discriminative
        states = forward(X, self.W_hat_, self.W_layers_, C, self.eps, H0=H_start)
        value = loss(X, S, self.W_hat_, states[-1], self.n_targets, self.alpha_s, self.eps)
        if self.n_discriminative == 0:
            return value
        gWp, gWm, _, _ = backward_split(
            X, S, self.W_hat_, self.W_layers_, states, self.n_targets, self.alpha_s, self.eps
        )
        mask = rank_mask(self.ranks)
        # Guard δ relative to the layer's gradient scale: entries whose gradient parts are both
        # negligible (e.g. dictionaries no mixture of the mini-batch uses) keep their value
        # instead of jumping by an arbitrary ratio of two tiny numbers.
        delta = self.guard * (gWp + gWm).mean(axis=(1, 2, 3), keepdims=True) + self.eps
        ratio = (gWm + delta) / (gWp + delta)
        Wn = self.W_layers_ * ratio**self.lr  # eq. (4.4.5)
        self.W_layers_ = np.maximum(self.eps, Wn) * mask
        return value

    def transform(self, X: Array, dtype: Any = np.float64) -> Array:
        """H⁽ᴷ⁾ for X (m, n) or (B, m, n): (J̄, n) or (B, J̄, n).

        ``dtype=np.float32`` runs the same operations in float32 (numpy summation order, not the
        firmware's) to measure the precision loss.
        """
        Xb = _as_batch(X).astype(dtype)
        Wh = self.W_hat_.astype(dtype)
        Wl = self.W_layers_.astype(dtype)
        H = forward(Xb, Wh, Wl, self.n_layers, dtype(self.eps))[-1]
        return H[0] if np.ndim(X) == 2 else H

    def separate(self, X: Array) -> Array:
        """Target estimate F ∘ X (4.4.1), same shape as X."""
        Xb = _as_batch(X)
        H = forward(Xb, self.W_hat_, self.W_layers_, self.n_layers, self.eps)[-1]
        out = wiener_output(Xb, self.W_hat_, H, self.n_targets, self.eps)
        return out[0] if np.ndim(X) == 2 else out

    def score(self, X: Array, S: Array) -> float:
        """Mean loss (4.4.4) per instance."""
        Xb, Sb = _as_batch(X), _as_batch(S)
        H = forward(Xb, self.W_hat_, self.W_layers_, self.n_layers, self.eps)[-1]
        return loss(Xb, Sb, self.W_hat_, H, self.n_targets, self.alpha_s, self.eps) / len(Xb)

    # ------------------------------------------------------------------ model file
    def to_modelfile(
        self,
        extra_params: dict[str, Any] | None = None,
        extra_arrays: dict[str, Array] | None = None,
    ) -> ModelFile:
        params: dict[str, Any] = {
            "n_layers": int(self.n_layers),
            "n_discriminative": int(self.n_discriminative),
            "n_targets": int(self.n_targets),
            "alpha_s": float(self.alpha_s),
            "eps": float(self.eps),
            "h0": "ones",
        }
        params.update(extra_params or {})
        arrays = {
            "ranks": np.asarray(self.ranks, dtype=np.int32),
            "W_hat": np.asarray(self.W_hat_, dtype=np.float32),
            "W_layers": np.asarray(self.W_layers_, dtype=np.float32),
        }
        arrays.update(extra_arrays or {})
        return ModelFile(kind=KIND, params=params, arrays=arrays)

    @classmethod
    def from_modelfile(cls, model: ModelFile) -> DeepNMFD:
        p = model.params
        ranks = [int(r) for r in model.array("ranks")]
        est = cls(
            ranks=ranks,
            n_targets=int(p["n_targets"]),
            n_layers=int(p["n_layers"]),
            n_discriminative=int(p["n_discriminative"]),
            alpha_s=float(p["alpha_s"]),
            eps=float(p["eps"]),
        )
        est.W_hat_ = model.array("W_hat").astype(np.float64)
        est.W_layers_ = model.array("W_layers").astype(np.float64)
        est.loss_ = []
        return est


# ============================================================ detector adapter (docs/nmfd.md)
class DNMFDDetector:
    """Adapter giving a :class:`~tinyunfold.models.dnmfd.DeepNMFD` the interface of the shared
    detection/evaluation code: ``layout_`` (rank-1 blocks: one row H(j) per dictionary) and
    ``transform(list of (m, n) spectrograms) -> (B, J̄, n)``."""

    def __init__(self, est: Any, layout: Any) -> None:
        self.est = est
        self.layout_ = layout

    def transform(self, specs: list[np.ndarray]) -> np.ndarray:
        X = np.stack([np.asarray(s, dtype=float) for s in specs])
        return self.est.transform(X)


def dnmfd_layout(m: int, block_class: list[int], n_dicts: int, classes: list[str]) -> Any:
    """BlockLayout with one rank-1 block per NMFD dictionary (targets first)."""
    return BlockLayout(
        n_bins=m,
        context=1,
        ranks=(1,) * n_dicts,
        block_class=tuple(block_class),
        class_names=tuple(classes),
    )


def fixed_dictionary_baseline(adapter: Any) -> Any:
    """The same Ŵ for all K layers, nothing trained: plain KL-NMFD with a fixed dictionary."""
    e = adapter.est
    base = DeepNMFD(
        ranks=e.ranks,
        n_targets=e.n_targets,
        n_layers=e.n_layers,
        n_discriminative=0,
        alpha_s=e.alpha_s,
        eps=e.eps,
    )
    base.set_dictionary(e.W_hat_)
    return DNMFDDetector(base, adapter.layout_)


def _as_batch(X: Array) -> Array:
    X = np.asarray(X, dtype=float)
    if X.ndim == 2:
        X = X[None]
    if X.ndim != 3:
        raise ShapeError(f"expected (m, n) or (B, m, n) input, got shape {X.shape}")
    if not np.all(np.isfinite(X)) or np.any(X < 0):
        raise ValueDomainError("input must be finite and nonnegative", "check the features")
    return X


def validate_model(model: ModelFile) -> None:
    require_params(model, "n_layers", "n_discriminative", "n_targets", "alpha_s", "eps", "h0")
    K = param_int(model, "n_layers", 1, MAX_LAYERS)
    C = param_int(model, "n_discriminative", 0, K)
    param_float(model, "eps", lo=0.0, lo_open=True)
    param_float(model, "alpha_s", lo=0.0)
    param_choice(model, "h0", ("ones",))
    ranks = require_array(model, "ranks", ndim=1)
    if ranks.dtype.kind != "i" or ranks.size == 0 or np.any(ranks < 1):
        raise ValueDomainError("dnmfd: ranks must be a non-empty integer array with entries >= 1")
    J, R = int(ranks.size), int(ranks.max())
    W_hat = require_array(model, "W_hat", ndim=3, nonneg=True)
    if W_hat.shape[0] != J or W_hat.shape[2] != R:
        raise ShapeError(f"dnmfd: W_hat has shape {W_hat.shape}, expected ({J}, m, {R})")
    m = W_hat.shape[1]
    require_array(model, "W_layers", shape=(C, J, m, R), nonneg=True)
    for name in ("W_hat", "W_layers"):
        if model.arrays[name].dtype != np.float32:
            raise ValueDomainError(f"dnmfd: {name} must be float32")
    outside = 1.0 - rank_mask(ranks)
    if np.any(W_hat * outside != 0) or np.any(model.arrays["W_layers"] * outside != 0):
        raise ValueDomainError("dnmfd: dictionary columns beyond a rank r_j must be zero")
    if np.any(W_hat.sum(axis=(1, 2)) <= 0):
        raise ValueDomainError("dnmfd: every dictionary of W_hat needs a positive entry")
    param_int(model, "n_targets", 1, J)
