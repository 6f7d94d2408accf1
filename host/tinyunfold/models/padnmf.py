"""PAD-NMF (physics-aware Deep-NMF, thesis 4.3) and Deep-NMF (4.2) through one code path.

Architecture (model kinds ``padnmf`` and ``deepnmf``)
----------------------------------------------------
A mixture spectrogram X̃ (m' bins x n frames) is Hankel-extended, X = H_T(X̃) (eq. 4.3.1,
:func:`tinyunfold.features.hankel`), m = m'T rows. The coefficient matrix H (r x n) starts from the
deterministic H⁽⁰⁾ = 1 ∘ M^H (all ones, masked; Algorithm 4.3.2 step 7 draws it at random, we do not
so that the result of a forward pass is reproducible and the K-C fixed layers can be cached) and runs

* ``K - C`` non-discriminative layers with the fixed dictionary Ŵ (``W_fixed``),
* ``C - 1`` discriminative layers with their own trained dictionaries W⁽ᵏ⁾ (``W_disc``),

each layer being the sparse KL multiplicative update of eq. (4.2.2) with the H mask (4.3.15) and the
ε-projection of eq. (3.2.38)::

    H <- max(ε, H ∘ Wᵀ(X ⊘ (WH + ε)) ⊘ (Wᵀ1 + α_H)) ∘ M^H

The last dictionary W⁽ᴷ⁾ = Ŵ is used only for the reconstruction in the loss and for detection, so a
K-layer network applies K-1 updates (this is what the authors' published implementation does; the
piano reference outputs match it to 1e-12). The same update is :class:`tinyunfold.models.nmf.NMFInference`
with M^H = 1; ``tests/host/test_padnmf.py`` checks the two agree.

Dictionary layout: blocks [W_S1 ... W_SI  W_N1 ... W_NJ] (eq. 4.3.2/4.3.5) with ranks r_Si, r_Nj.
Each target block belongs to a class (feature set F_l of eq. 4.3.25); detection indices are computed
per class (:mod:`tinyunfold.detection`).

Masks: M^W = [H_T(1_{m' x r_b})]_b (eqs. 4.3.6-4.3.8): atom s of a block only sees the last s+1 frames
of its context (the onset at frame 0 followed by s frames). M^H (eqs. 4.3.11-4.3.13): in frame j only
atom j of each block is active, and the last atom in every frame after it. ``deepnmf`` uses neither
mask (M^W = 1, M^H = 1) and the plain Wiener-filter loss (4.2.3) (α_S = 0); ``padnmf`` uses both and
the loss (4.3.20). The piano network of 4.3.6 is a ``padnmf`` without the H mask.

Training (Algorithm 4.3.2): the split-gradient multiplicative update (4.3.9)::

    W⁽ᵏ⁾ <- max(ε, W⁽ᵏ⁾ ∘ [Σ∇]₋ ⊘ [Σ∇]₊) ∘ M^W

with [∇]± obtained by back-propagating positive and negative parts separately through the maps
Φ_K (4.3.24), Φ_H (4.3.23), Φ_W (4.3.22). Every map is column-separable, so a mini-batch is simply the
column concatenation of its Hankel-extended mixtures (and the sums over the batch of Algorithm 4.3.2
step 15 are the matrix products over all columns). The code is written with operators only, so it runs
on numpy arrays and on torch tensors (CPU or GPU) alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyunfold.errors import (
    ModelFileError,
    ShapeError,
    TinyUnfoldError,
    TrainingError,
    ValueDomainError,
)
from tinyunfold.features import hankel
from tinyunfold.modelfile import (
    MAX_DIM,
    MAX_LAYERS,
    ModelFile,
    param_bool,
    param_choice,
    param_float,
    param_int,
    require_array,
    require_params,
    typed_int,
    typed_str,
)
from tinyunfold.models.labelsets import check_set_table
from tinyunfold.models.nmf import check_input, denominator, kl_layer, kl_update_w
from tinyunfold.models.nmf import project_floor as _floor
from tinyunfold.models.readout import (
    model_readout_excess,
    model_readout_input,
    readout_columns,
    readout_width,
)

# The two network variants of this class (model kinds of the same name): whether the masks M^W
# (4.3.8) and M^H (4.3.13) apply and whether the loss keeps α_S (4.3.20; Deep-NMF's 4.2.3 has none).
VARIANTS: dict[str, dict[str, bool]] = {
    "padnmf": {"w_mask": True, "h_mask": True, "alpha_s": True},
    "deepnmf": {"w_mask": False, "h_mask": False, "alpha_s": False},
}
Array = Any  # numpy.ndarray or torch.Tensor

DICTIONARY_LIMIT = 1e30  # a trained dictionary entry above this stops the training
# Passes over the whole training set (fixed layers, epoch loss, outputs) hold about ten
# (m x columns) temporaries; they run over column blocks of at most this many entries each
# (every map is column-separable) so that a full-spectrum model (m = 2049 T) trains in bounded
# memory. Smaller sets are one block, as before.
FULL_PASS_ENTRIES = 1 << 25


def column_blocks(n_rows: int, n_cols: int, n_frames: int) -> list[slice]:
    """Column ranges of at most :data:`FULL_PASS_ENTRIES` entries, whole mixtures each."""
    per = max(1, FULL_PASS_ENTRIES // max(1, n_rows * n_frames)) * n_frames
    return [slice(c, min(c + per, n_cols)) for c in range(0, n_cols, per)]


class TrainingDataError(TinyUnfoldError):
    """Training/initialisation data that cannot be used (missing targets, wrong shapes...)."""


# ----------------------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class BlockLayout:
    """Block structure of the dictionary (eq. 4.3.2) and of H (eq. 4.3.10).

    Parameters
    ----------
    n_bins : m', feature rows of one frame.
    context : T, frames per Hankel column (eq. 4.3.1).
    ranks : r_b of every block, target blocks first, then noise blocks.
    block_class : class index (feature set F_l, eq. 4.3.25) of each target block.
    class_names : the L class names.
    """

    n_bins: int
    context: int
    ranks: tuple[int, ...]
    block_class: tuple[int, ...]
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.n_bins < 1 or self.context < 1:
            raise ShapeError(f"n_bins={self.n_bins}, context={self.context} must be >= 1")
        if not self.ranks or any(int(r) < 1 for r in self.ranks):
            raise ShapeError(f"block ranks must be >= 1, got {self.ranks}")
        if not 1 <= len(self.block_class) <= len(self.ranks):
            raise ShapeError(
                f"{len(self.block_class)} target blocks for {len(self.ranks)} blocks in all",
                "give a class for each target block (and at most as many as there are blocks)",
            )
        L = len(self.class_names)
        if any(not 0 <= c < L for c in self.block_class) or set(self.block_class) != set(range(L)):
            raise ShapeError(
                f"block_class {self.block_class} must use every class index 0..{L - 1}",
                "every class needs at least one target block",
            )

    @property
    def n_features(self) -> int:
        """m = m'T rows of the Hankel-extended spectrogram."""
        return self.n_bins * self.context

    @property
    def rank(self) -> int:
        return int(sum(self.ranks))

    @property
    def n_target_blocks(self) -> int:
        return len(self.block_class)

    @property
    def target_rank(self) -> int:
        """Rows of H_S (eq. 4.3.18)."""
        return int(sum(self.ranks[: self.n_target_blocks]))

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def offsets(self) -> np.ndarray:
        """Row offset of each block in H (column offset in W), shape (n_blocks + 1,)."""
        return np.concatenate([[0], np.cumsum(self.ranks)]).astype(np.int64)

    def to_params(self) -> dict[str, Any]:
        return {
            "n_bins": int(self.n_bins),
            "context": int(self.context),
            "ranks": [int(r) for r in self.ranks],
            "block_class": [int(c) for c in self.block_class],
            "class_names": list(self.class_names),
        }

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> BlockLayout:
        return cls(
            n_bins=int(p["n_bins"]),
            context=int(p["context"]),
            ranks=tuple(int(r) for r in p["ranks"]),
            block_class=tuple(int(c) for c in p["block_class"]),
            class_names=tuple(str(c) for c in p["class_names"]),
        )


def block_w_mask(n_bins: int, context: int, rank: int) -> np.ndarray:
    """M^W of one block, H_T(1_{m' x r}) (eqs. 4.3.6/4.3.7), shape (m'T, r)."""
    return hankel(np.ones((n_bins, rank)), context)


def w_mask(layout: BlockLayout) -> np.ndarray:
    """Complete W mask M^W (eq. 4.3.8), shape (m, r), float64 0/1."""
    return np.concatenate(
        [block_w_mask(layout.n_bins, layout.context, r) for r in layout.ranks], axis=1
    )


def block_h_mask(rank: int, n_frames: int) -> np.ndarray:
    """M^H of one block (eqs. 4.3.11/4.3.12): 1 at (s, j) if s == j or (j > s == r-1)."""
    s = np.arange(rank)[:, None]
    j = np.arange(n_frames)[None, :]
    return ((s == j) | ((j > s) & (s == rank - 1))).astype(np.float64)


def h_mask(layout: BlockLayout, n_frames: int) -> np.ndarray:
    """Complete H mask M^H (eq. 4.3.13), shape (r, n)."""
    return np.concatenate([block_h_mask(r, n_frames) for r in layout.ranks], axis=0)


# ------------------------------------------------------------------------------- forward pass
def run_layers(
    H: Array,
    X: Array,
    dictionaries: Sequence[tuple[Array, int]],
    alpha_h: float,
    eps: float,
    mask: Array | None,
    trace: list[Array] | None = None,
) -> Array:
    """Apply ``count`` layers with each ``(W, count)`` in order; append layer inputs to ``trace``."""
    for W, count in dictionaries:
        denom = denominator(W, alpha_h)
        for _ in range(count):
            if trace is not None:
                trace.append(H)
            H = kl_layer(H, W, X, denom, eps, mask)
    return H


def run_layers_blockwise(
    H: Any,
    X: Any,
    dictionaries: Sequence[tuple[Any, int]],
    alpha_h: float,
    eps: float,
    mask: Any | None,
    n_frames: int,
) -> Iterator[tuple[slice, Any]]:
    """:func:`run_layers` over the whole training set in bounded memory: yields ``(columns,
    H⁽ᵏ⁾[:, columns])`` for each :func:`column_blocks` block (every layer is column-separable).
    ``H`` and ``mask`` are torch tensors (r, Q n); ``X`` (m, Q n) a tensor or a numpy array,
    converted one block at a time."""
    import torch

    for c in column_blocks(X.shape[0], X.shape[1], n_frames):
        Xc = X[:, c] if torch.is_tensor(X) else np.ascontiguousarray(X[:, c])
        Xc = torch.as_tensor(Xc, dtype=H.dtype, device=H.device)
        Mc = None if mask is None else mask[:, c]
        yield c, run_layers(H[:, c], Xc, dictionaries, alpha_h, eps, Mc)


def stack_columns(specs: Sequence[np.ndarray], context: int) -> np.ndarray:
    """Hankel-extend each (m', n) spectrogram and concatenate the columns -> (m'T, B n)."""
    return np.concatenate([hankel(np.asarray(s, dtype=np.float64), context) for s in specs], 1)


# ------------------------------------------------------------------------------ backward maps
def layer_backward(
    gp: Array,
    gm: Array,
    H: Array,
    W: Array,
    X: Array,
    alpha_h: float,
    eps: float,
    mask: Array | None,
) -> tuple[Array, Array, Array, Array]:
    """Split back-propagation through one layer (eqs. 4.3.22 and 4.3.23, appendix 4.A).

    Parameters
    ----------
    gp, gm : [∇_{H⁽ᵏ⁺¹⁾}]₊ and [∇_{H⁽ᵏ⁺¹⁾}]₋, (r, N), nonnegative.
    H : the layer input H⁽ᵏ⁾, (r, N). W : W⁽ᵏ⁾, (m, r). X : (m, N).

    Returns
    -------
    hp, hm : [∇_{H⁽ᵏ⁾}]± (r, N) (Φ_H, eq. 4.3.23);  wp, wm : [∇_{W⁽ᵏ⁾}]± (m, r) (Φ_W, eq. 4.3.22).
    Each pair is nonnegative and its difference is the exact gradient of the float forward
    (including ε in WH + ε and the zero derivative where the projection max(ε, ·) is active).
    """
    d = denominator(W, alpha_h)
    V = W @ H + eps
    Q = X / V
    U = W.T @ Q
    G = H * U / d
    active = G > eps  # projection (3.2.38) not active
    P = active if mask is None else active * mask
    gp = gp * P
    gm = gm * P
    Hd = H / d
    Ap, Am = Hd * gp, Hd * gm  # [∂/∂U]±
    XV2 = X / (V * V)
    Bp, Bm = XV2 * (W @ Am), XV2 * (W @ Ap)  # [∂/∂(WH)]± (sign flips through X/V)
    Ud = U / d
    hp = Ud * gp + W.T @ Bp  # Φ_H, eq. (4.3.23)
    hm = Ud * gm + W.T @ Bm
    C = G / d  # H ∘ U ⊘ d², the derivative of G by the denominator (sign flips)
    dp, dm = (C * gm).sum(1), (C * gp).sum(1)
    wp = Q @ Ap.T + Bp @ H.T + dp[None, :]  # Φ_W, eq. (4.3.22): three terms
    wm = Q @ Am.T + Bm @ H.T + dm[None, :]
    return hp, hm, wp, wm


def loss_terms(
    H: Array, W_final: Array, X: Array, S: Array, target_rank: int, alpha_s: float, eps: float
) -> tuple[float, Array, Array]:
    """Loss (4.3.20) summed over columns (= 4.3.21 over a batch) and Φ_K (4.3.24).

    F^out = ½‖S - F ∘ X‖² + α_S/2 ‖S - Ŵ_S H_S‖², F = Ŵ_S H_S ⊘ (ŴH + ε). With α_S = 0 this is the
    Deep-NMF loss (4.2.3). Returns (loss, [∇_H]₊, [∇_H]₋).
    """
    Ws, Wn = W_final[:, :target_rank], W_final[:, target_rank:]
    Hs, Hn = H[:target_rank], H[target_rank:]
    Vs = Ws @ Hs
    Vn1 = Wn @ Hn + eps  # Ŵ_N H_N + ε: ∂F/∂(Ŵ_S H_S) = (Ŵ_N H_N + ε) / Y²
    Y = Vs + Vn1
    E = Vs * X / Y - S
    R = S - Vs
    loss = 0.5 * float((E * E).sum()) + 0.5 * alpha_s * float((R * R).sum())
    XY2 = X / (Y * Y)
    sp = XY2 * (X * Vs * Vn1 / Y) + alpha_s * Vs  # eq. (4.3.24), [∂/∂(Ŵ_S H_S)]₊
    sm = XY2 * (S * Vn1) + alpha_s * S  # [∂/∂(Ŵ_S H_S)]₋
    np_ = XY2 * (S * Vs)  # [∂/∂(Ŵ_N H_N)]₊
    nm = XY2 * (X * Vs * Vs / Y)  # [∂/∂(Ŵ_N H_N)]₋
    gp = _cat0(Ws.T @ sp, Wn.T @ np_)
    gm = _cat0(Ws.T @ sm, Wn.T @ nm)
    return loss, gp, gm


def _cat0(a: Array, b: Array) -> Array:
    if isinstance(a, np.ndarray):
        return np.concatenate([a, b], axis=0)
    import torch

    return torch.cat([a, b], dim=0)


def detection_coefficients(
    H: Array, layout: BlockLayout, labels: np.ndarray, n_frames: int, shifted: bool
) -> np.ndarray:
    """Coefficients G (r, B n) of the detection-aware term (not in the thesis).

    The term is L_D = Σ_b Σ_l (1 − 2 y_bl) ln I_bl: it raises the log index (4.3.30) of the classes
    present in mixture b and lowers the others'. ln I_bl is the mean of ln H over the diagonal
    entries of class l's target blocks (at the best shift of the current H when ``shifted``), so
    L_D = Σ G ∘ ln H with G = (1 − 2 y_bl) / |D_l| on those entries and 0 elsewhere, and
    ∂L_D/∂H = G ⊘ H. The shift is treated as fixed (the max is piecewise constant).

    Parameters
    ----------
    H : (r, B n) network output H⁽ᴷ⁾ of B column-stacked mixtures (numpy or torch).
    labels : (B, L) 0/1 class labels. n_frames : n.
    """
    Hn = H.detach().cpu().numpy() if not isinstance(H, np.ndarray) else H
    B = Hn.shape[1] // n_frames
    offs = layout.offsets()
    G = np.zeros(Hn.shape)
    logH = np.log(np.maximum(Hn, 1e-300))
    for b in range(B):
        c0 = b * n_frames
        for lc in range(layout.n_classes):
            blocks = [i for i, c in enumerate(layout.block_class) if c == lc]
            best_o, best = 0, -np.inf
            for o in range(n_frames if shifted else 1):
                vals = [
                    logH[offs[i] + s, c0 + s + o]
                    for i in blocks
                    for s in range(min(offs[i + 1] - offs[i], n_frames - o))
                ]
                if vals and np.mean(vals) > best:
                    best, best_o = float(np.mean(vals)), o
            ent = [
                (offs[i] + s, c0 + s + best_o)
                for i in blocks
                for s in range(min(offs[i + 1] - offs[i], n_frames - best_o))
            ]
            if not ent:
                continue
            coef = (1.0 - 2.0 * float(labels[b, lc])) / len(ent)
            for r_, j in ent:
                G[r_, j] = coef
    return G


def detection_terms(H: Array, G: Array, weight: float) -> tuple[float, Array, Array]:
    """weight x L_D = weight x Σ G ∘ ln H and its split gradient ([∇_H]₊, [∇_H]₋), eq. above."""
    Hs = H * (G != 0) + (G == 0)  # 1 where G = 0: ln 1 = 0, no 0 x -inf
    if isinstance(H, np.ndarray):
        loss = float(weight * (G * np.log(Hs)).sum())
    else:
        import torch

        loss = float(weight * (G * torch.log(Hs)).sum())
    gp = weight * (G * (G > 0)) / Hs
    gm = weight * (-G * (G < 0)) / Hs
    return loss, gp, gm


def split_gradients(
    H_start: Array,
    W_disc: Sequence[Array],
    W_final: Array,
    X: Array,
    S: Array,
    target_rank: int,
    alpha_h: float,
    alpha_s: float,
    eps: float,
    mask: Array | None,
    detection: Callable[[Array], tuple[float, Array, Array]] | None = None,
) -> tuple[float, list[Array], list[Array]]:
    """Forward through the discriminative layers from H⁽ᴷ⁻ᶜ⁾ and back (Algorithm 4.3.2, 9-16).

    ``detection(H⁽ᴷ⁾) -> (loss, [∇]₊, [∇]₋)``: an extra term added to Φ_K (the detection-aware
    term, :func:`detection_terms`).

    Returns the loss and [∇_{W⁽ᵏ⁾}]₊, [∇_{W⁽ᵏ⁾}]₋ for every discriminative dictionary, summed over
    all columns of X (a whole mini-batch at once).
    """
    trace: list[Array] = []
    H = run_layers(H_start, X, [(W, 1) for W in W_disc], alpha_h, eps, mask, trace)
    loss, gp, gm = loss_terms(H, W_final, X, S, target_rank, alpha_s, eps)  # Φ_K (4.3.24)
    if detection is not None:
        dl, dp, dm = detection(H)
        loss, gp, gm = loss + dl, gp + dp, gm + dm
    wps: list[Array] = [None] * len(W_disc)
    wms: list[Array] = [None] * len(W_disc)
    for k in range(len(W_disc) - 1, -1, -1):
        gp, gm, wps[k], wms[k] = layer_backward(gp, gm, trace[k], W_disc[k], X, alpha_h, eps, mask)
    return loss, wps, wms


def multiplicative_w_update(
    W: Array, wp: Array, wm: Array, eps: float, mask: Array | None
) -> Array:
    """W <- max(ε, W ∘ [∇]₋ ⊘ [∇]₊) ∘ M^W, eq. (4.3.9) (entries with [∇]₊ = 0 are kept)."""
    pos = wp > 0
    safe = wp * pos + (~pos)  # 1 where [∇]₊ = 0
    ratio = wm / safe * pos + (~pos)
    Wn = _floor(W * ratio, eps)
    return Wn if mask is None else Wn * mask


# --------------------------------------------------------------- discriminative initialisation
def block_nmf(
    Z: np.ndarray,
    rank: int,
    context: int,
    n_bins: int,
    frames: Sequence[int],
    n_iter: int,
    eps: float,
    masked: bool,
    seed: int,
) -> np.ndarray:
    """KL-NMF of one Initialization-Set block (eqs. 4.3.3/4.3.4), masks applied after each update.

    Z is the column concatenation of the Hankel-extended spectrograms of the block (``frames``
    gives their widths, for the per-spectrogram H mask). W⁽⁰⁾ is a seeded uniform draw in
    [0.5, 1.5] times the mean of Z (masked); H⁽⁰⁾ = M^H. Multiplicative KL updates (3.2.26-3.2.27)
    with ε-projection (3.2.38). Returns Ŵ_b, shape (m'T, rank).
    """
    rng = np.random.default_rng(seed)
    m = Z.shape[0]
    MW = block_w_mask(n_bins, context, rank) if masked else np.ones((m, rank))
    MH = (
        np.concatenate([block_h_mask(rank, n) for n in frames], axis=1)
        if masked
        else np.ones((rank, Z.shape[1]))
    )
    scale = max(float(Z.mean()), eps)
    W = MW * rng.uniform(0.5, 1.5, size=(m, rank)) * scale
    H = MH.copy()
    for _ in range(n_iter):
        H = kl_layer(H, W, Z, W.sum(0)[:, None] + eps, eps, MH)  # (3.2.26), β = 1
        W = kl_update_w(Z, W, H, eps, MW)  # (3.2.27), β = 1
    return W


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Temporarily set torch's CPU thread count (None: leave it)."""
    import torch

    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


# -------------------------------------------------------------------------------- the model
class PADNMF:
    """PAD-NMF / Deep-NMF hit detector (thesis 4.3 / 4.2), one class for both kinds.

    Parameters
    ----------
    kind : ``"padnmf"`` (W and H masks, loss 4.3.20) or ``"deepnmf"`` (no masks, loss 4.2.3).
    n_layers : K. n_discriminative : C (C-1 trained dictionaries; C >= 1).
    context : T. target_rank, noise_rank : r_S, r_N per block.
    alpha_h : α_H (ℓ1 on H). alpha_s : α_S of (4.3.20) (forced to 0 for ``deepnmf``).
    eps : ε of the projection (3.2.38) and the division guards.
    use_h_mask : apply M^H (None: True for padnmf, False for deepnmf; False when hits may start
        anywhere in the window, as for the piano network).
    n_epochs, batch_size : Algorithm 4.3.2. init_iter : NMF iterations per initialisation block.
    seed : permutation of the training set and the initialisation's W⁽⁰⁾.
    device, dtype : torch device/dtype for training ("cpu"/"cuda", "float64"/"float32").
    alpha_d : weight of the detection-aware term (:func:`detection_coefficients`; 0 = the
        thesis' loss only); needs ``labels`` in :meth:`fit`.
    warm_stride : streaming warm start (0: off). For consecutive windows ``stride`` frames apart,
        :meth:`transform_stream` starts each window from the previous window's H⁽ᴷ⁾ shifted by
        ``stride`` frames (floored at ε, on the support of M^H; 1 where no predecessor) instead of
        1 ∘ M^H; the golden model and the generated C (``tu_model_forward_warm``) do the same.
    n_threads : torch CPU threads while this model computes (1 is fastest on a shared 2-core
        machine: BLAS threads spinning against other processes cost far more than they give).

    Attributes
    ----------
    layout_ : BlockLayout.  W_fixed_ : Ŵ (m, r).  W_disc_ : list of C-1 (m, r).
    loss_history_ : loss per mini-batch.  epoch_loss_ : (4.3.21) on the whole training set
        before training and after each epoch.  features_ : front-end params dict (or None).
    """

    def __init__(
        self,
        kind: str = "padnmf",
        n_layers: int = 1000,
        n_discriminative: int = 20,
        context: int = 7,
        target_rank: int = 8,
        noise_rank: int = 7,
        alpha_h: float = 0.0,
        alpha_s: float = 1e6,
        eps: float = 1e-16,
        use_h_mask: bool | None = None,
        n_epochs: int = 3,
        batch_size: int = 27,
        init_iter: int = 200,
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float64",
        n_threads: int = 1,
        alpha_d: float = 0.0,
        warm_stride: int = 0,
    ) -> None:
        self.kind = kind
        self.alpha_d = alpha_d
        self.n_layers = n_layers
        self.n_discriminative = n_discriminative
        self.context = context
        self.target_rank = target_rank
        self.noise_rank = noise_rank
        self.alpha_h = alpha_h
        self.alpha_s = alpha_s
        self.eps = eps
        self.use_h_mask = use_h_mask
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.init_iter = init_iter
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.n_threads = n_threads
        self.warm_stride = warm_stride

    # ---------------------------------------------------------------- derived switches
    @property
    def h_mask_on(self) -> bool:
        return self._variant["h_mask"] if self.use_h_mask is None else bool(self.use_h_mask)

    @property
    def w_mask_on(self) -> bool:
        return self._variant["w_mask"]

    @property
    def alpha_s_eff(self) -> float:
        return float(self.alpha_s) if self._variant["alpha_s"] else 0.0

    @property
    def _variant(self) -> dict[str, bool]:
        if self.kind not in VARIANTS:
            raise ValueDomainError(f"kind must be one of {tuple(VARIANTS)}, got {self.kind!r}")
        return VARIANTS[self.kind]

    def _check_hyper(self) -> None:
        self._variant  # noqa: B018 (raises for an unknown variant)
        if not 1 <= self.n_discriminative <= self.n_layers:
            raise ValueDomainError(
                f"need 1 <= C <= K, got C={self.n_discriminative}, K={self.n_layers}"
            )
        if self.eps <= 0 or self.alpha_h < 0 or self.alpha_s < 0:
            raise ValueDomainError("need eps > 0, alpha_h >= 0, alpha_s >= 0")

    # ------------------------------------------------------------ initialisation (4.3.2)
    def init_dictionary(
        self,
        targets: Sequence[tuple[int, np.ndarray | Sequence[np.ndarray]]],
        noise: Sequence[np.ndarray | Sequence[np.ndarray]],
        class_names: Sequence[str],
        features: dict[str, Any] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> PADNMF:
        """Discriminative dictionary initialisation, eqs. (4.3.2)-(4.3.4).

        Parameters
        ----------
        targets : one entry per target block S̃_i: (class index, spectrogram (m', n) or a list of
            spectrograms concatenated into the block's NMF).
        noise : one entry per noise block Ñ_j: a spectrogram or a list of spectrograms.
        class_names : the L class names (indices used in ``targets``).
        """
        self._check_hyper()
        blocks: list[list[np.ndarray]] = []
        classes: list[int] = []
        for c, spec in targets:
            blocks.append([spec] if isinstance(spec, np.ndarray) else list(spec))
            classes.append(int(c))
        for spec in noise:
            blocks.append([spec] if isinstance(spec, np.ndarray) else list(spec))
        if not classes or len(blocks) == len(classes):
            raise TrainingDataError(
                f"need target blocks and noise blocks, got {len(classes)} targets and "
                f"{len(blocks) - len(classes)} noise",
                "give at least one clean target per class and one noise recording",
            )
        n_bins = int(np.asarray(blocks[0][0]).shape[0])
        for b in blocks:
            for s in b:
                s = np.asarray(s)
                if (
                    s.ndim != 2
                    or s.shape[0] != n_bins
                    or not np.all(np.isfinite(s))
                    or (s < 0).any()
                ):
                    raise TrainingDataError(
                        f"initialisation spectrogram of shape {s.shape}: expected finite, "
                        f"nonnegative ({n_bins}, n)",
                        "compute all spectrograms with the same front-end",
                    )
        ranks = [self.target_rank] * len(classes) + [self.noise_rank] * (len(blocks) - len(classes))
        self.layout_ = BlockLayout(
            n_bins, self.context, tuple(ranks), tuple(classes), tuple(class_names)
        )
        Ws = []
        for i, (b, r) in enumerate(zip(blocks, ranks, strict=True)):
            Z = stack_columns(b, self.context)
            Ws.append(
                block_nmf(
                    Z,
                    r,
                    self.context,
                    n_bins,
                    [s.shape[1] for s in b],
                    self.init_iter,
                    self.eps,
                    self.w_mask_on,
                    self.seed + i,
                )
            )
            if progress is not None:
                progress(i + 1, len(blocks))
        self.W_fixed_ = np.concatenate(Ws, axis=1)
        # all weights start at Ŵ (4.3.1, "before the training process begins")
        self.W_disc_ = [self.W_fixed_.copy() for _ in range(self.n_discriminative - 1)]
        self.features_ = features
        self.loss_history_: list[float] = []
        return self

    # ------------------------------------------------------------------ forward
    def masks(self, n_frames: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        MW = w_mask(self.layout_) if self.w_mask_on else None
        MH = h_mask(self.layout_, n_frames) if self.h_mask_on else None
        return MW, MH

    def _h0(self, n_frames: int, n_mix: int) -> np.ndarray:
        """Deterministic H⁽⁰⁾ = 1 ∘ M^H for ``n_mix`` column-stacked mixtures."""
        _, MH = self.masks(n_frames)
        H0 = np.ones((self.layout_.rank, n_frames)) if MH is None else MH
        return np.tile(H0, (1, n_mix))

    def _check_specs(self, specs: Sequence[np.ndarray]) -> int:
        if len(specs) == 0:
            raise ShapeError("no spectrograms given", "pass at least one mixture")
        n = int(np.asarray(specs[0]).shape[-1])
        for s in specs:
            check_input(np.asarray(s), self.layout_.n_bins, "mixture spectrogram")
            if np.asarray(s).shape[1] != n:
                raise ShapeError(
                    f"mixtures have different frame counts ({np.asarray(s).shape[1]} vs {n})",
                    "cut every mixture to the same length",
                )
        return n

    def transform(
        self, specs: Sequence[np.ndarray], batch: int = 64, dtype: Any = np.float64
    ) -> np.ndarray:
        """Forward pass of every mixture. specs: list of (m', n) -> H⁽ᴷ⁾: (B, r, n).

        Runs in torch (``device``, ``n_threads``). ``dtype=np.float32`` runs the same operations in
        float32 (BLAS summation order, not the CMSIS order of a firmware golden model) to measure
        the precision loss.
        """
        n = self._check_specs(specs)
        _, MH = self.masks(n)
        import torch

        tdt = torch.float32 if dtype is np.float32 else torch.float64
        dev = torch.device(self.device)

        def conv(a: np.ndarray) -> Any:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=tdt, device=dev)

        sched = [(conv(W), c) for W, c in self.schedule()]
        eps, alpha = float(self.eps), float(self.alpha_h)
        out = []
        for b0 in range(0, len(specs), batch):
            chunk = specs[b0 : b0 + batch]
            X = conv(stack_columns(chunk, self.context))
            M = None if MH is None else conv(np.tile(MH, (1, len(chunk))))
            with torch_threads(self.n_threads):
                H = run_layers(conv(self._h0(n, len(chunk))), X, sched, alpha, eps, M)
            H = H.cpu().numpy()
            out.append(H.reshape(H.shape[0], len(chunk), n).transpose(1, 0, 2))
        return np.concatenate(out, axis=0)

    def warm_h0(self, h_prev: np.ndarray) -> np.ndarray:
        """H⁽⁰⁾ of a window from the previous window's H⁽ᴷ⁾ (r, n), shifted by ``warm_stride``.

        Entry (r, j) on the support of M^H takes max(ε, H_prev[r, j + stride]) when j + stride < n
        and (r, j + stride) is on the support too; every other entry on the support starts at 1
        (the cold start), entries off the support are 0. ``warm_stride`` 0: the cold start.
        """
        h_prev = np.asarray(h_prev, dtype=np.float64)
        r, n = h_prev.shape
        _, MH = self.masks(n)
        keep = np.ones((r, n), dtype=bool) if MH is None else MH != 0
        H0 = keep.astype(np.float64)
        s = int(self.warm_stride)
        if 0 < s < n:
            take = keep[:, : n - s] & keep[:, s:]
            H0[:, : n - s][take] = np.where(h_prev[:, s:] > self.eps, h_prev[:, s:], self.eps)[take]
        return H0

    def transform_stream(self, specs: Sequence[np.ndarray]) -> np.ndarray:
        """Forward pass of consecutive windows with the warm start (float64, numpy).

        specs: list of (m', n) windows, each ``warm_stride`` frames after the previous one ->
        H⁽ᴷ⁾: (B, r, n). The first window starts cold (1 ∘ M^H).
        """
        n = self._check_specs(specs)
        _, MH = self.masks(n)
        out = []
        H0 = self._h0(n, 1)
        for spec in specs:
            X = hankel(np.asarray(spec, dtype=np.float64), self.context)
            H = run_layers(H0, X, self.schedule(), float(self.alpha_h), float(self.eps), MH)
            out.append(H)
            H0 = self.warm_h0(H)
        return np.stack(out)

    def schedule(self) -> list[tuple[np.ndarray, int]]:
        """(dictionary, layer count) in order: K-C fixed layers, then one per W⁽ᵏ⁾."""
        return [(self.W_fixed_, self.n_layers - self.n_discriminative)] + [
            (W, 1) for W in self.W_disc_
        ]

    # ------------------------------------------------------------------ training
    def fit(
        self,
        mixtures: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        progress: Callable[[int, int, float], None] | None = None,
        labels: np.ndarray | None = None,
    ) -> PADNMF:
        """Algorithm 4.3.2: train the C-1 discriminative dictionaries.

        Parameters
        ----------
        mixtures : Q mixture spectrograms X̃_q, each (m', n).
        targets : Q clean target spectrograms S̃_q (zeros for a no-hit mixture), each (m', n).
        progress : called as progress(batch_index, n_batches_total, loss).
        labels : (Q, L) 0/1 class labels, for the detection-aware term (``alpha_d > 0``).
        """
        with torch_threads(self.n_threads):
            return self._fit(mixtures, targets, progress, labels)

    def _fit(
        self,
        mixtures: Sequence[np.ndarray],
        targets: Sequence[np.ndarray],
        progress: Callable[[int, int, float], None] | None,
        labels: np.ndarray | None = None,
    ) -> PADNMF:
        import torch

        if not hasattr(self, "layout_"):
            raise TrainingDataError("call init_dictionary before fit")
        if len(mixtures) != len(targets):
            raise TrainingDataError(f"{len(mixtures)} mixtures but {len(targets)} targets")
        n = self._check_specs(list(mixtures) + list(targets))
        dt = torch.float64 if self.dtype == "float64" else torch.float32
        dev = torch.device(self.device)

        def T_(a: np.ndarray) -> Any:
            return torch.as_tensor(np.ascontiguousarray(a), dtype=dt, device=dev)

        Q = len(mixtures)
        self._check_memory(Q, n)
        MW, MH = self.masks(n)
        X_all = stack_columns(mixtures, self.context)
        S_all = stack_columns(targets, self.context)
        # The K-C fixed layers do not depend on the trained weights and H⁽⁰⁾ is deterministic:
        # H⁽ᴷ⁻ᶜ⁾ is computed once for the whole training set (exact, saves (K-C)/(C-1) of the work).
        H_fix = self.cached_fixed_states(X_all, Q, n, dt, dev)
        Wd = [T_(W) for W in self.W_disc_]
        Wf = T_(self.W_fixed_)
        MWt = None if MW is None else T_(MW)
        rng = np.random.default_rng(self.seed)
        bs = max(1, min(int(self.batch_size), Q))
        n_batches = math.ceil(Q / bs)
        total = n_batches * self.n_epochs
        step = 0
        self.loss_history_ = []
        self._train_cache = (H_fix, X_all, Q, n)
        if not Wd:
            return self
        Xt_all, St_all = T_(X_all), T_(S_all)
        Mt_all = None if MH is None else T_(np.tile(MH, (1, Q)))

        def full_loss() -> float:  # (4.3.21) over the whole training set, in column blocks
            total = 0.0
            schedule = [(W, 1) for W in Wd]
            for c, H in run_layers_blockwise(H_fix, Xt_all, schedule, self.alpha_h, self.eps,
                                             Mt_all, n):  # fmt: skip
                total += loss_terms(
                    H, Wf, Xt_all[:, c], St_all[:, c], self.layout_.target_rank,
                    self.alpha_s_eff, self.eps,
                )[0]  # fmt: skip
            return total

        self.epoch_loss_ = [full_loss()]
        for _ in range(self.n_epochs):
            perm = rng.permutation(Q)  # Algorithm 4.3.2 step 2
            for b0 in range(0, Q, bs):
                idx = perm[b0 : b0 + bs]
                cols = (idx[:, None] * n + np.arange(n)[None, :]).ravel()
                colt = torch.as_tensor(cols, device=dev)
                X = T_(X_all[:, cols])
                S = T_(S_all[:, cols])
                M = None if MH is None else T_(np.tile(MH, (1, len(idx))))
                det_fn = None
                if self.alpha_d > 0 and labels is not None:
                    Yb = np.asarray(labels)[idx]

                    def det_fn(H: Any, Yb: np.ndarray = Yb) -> tuple[float, Any, Any]:
                        G = T_(detection_coefficients(H, self.layout_, Yb, n, not self.h_mask_on))
                        return detection_terms(H, G, float(self.alpha_d))

                loss, wps, wms = split_gradients(
                    H_fix[:, colt],
                    Wd,
                    Wf,
                    X,
                    S,
                    self.layout_.target_rank,
                    self.alpha_h,
                    self.alpha_s_eff,
                    self.eps,
                    M,
                    det_fn,
                )
                for k in range(len(Wd)):  # Algorithm 4.3.2 steps 17-19, eq. (4.3.9)
                    Wd[k] = multiplicative_w_update(Wd[k], wps[k], wms[k], self.eps, MWt)
                self.loss_history_.append(loss)
                step += 1
                if progress is not None:
                    progress(step, total, loss)
            self.epoch_loss_.append(full_loss())
            self._check_divergence(Wd)
        self.W_disc_ = [W.detach().cpu().numpy().astype(np.float64) for W in Wd]
        # kept (not saved) so the training set's outputs need no second K-C-layer pass
        self._train_cache = (H_fix, X_all, Q, n)
        return self

    def _check_memory(self, n_mix: int, n_frames: int) -> None:
        """Refuse, in one line and before allocating, a training set whose Hankel-extended
        mixtures and targets (2 x m x Q n float64) and one column block of temporaries
        (:data:`FULL_PASS_ENTRIES`, about ten arrays) exceed the machine's available memory: the
        kernel would otherwise kill the process with nothing said."""
        from tinyunfold.platform.memory import available_bytes

        entries = self.layout_.n_features * n_mix * n_frames
        need = 8 * (2 * entries + 10 * min(entries, FULL_PASS_ENTRIES))
        have = available_bytes()
        if have is not None and need > have:
            raise TrainingDataError(
                f"the training set ({n_mix} mixtures x {self.layout_.n_features} rows x "
                f"{n_frames} frames) needs about {need / 2**30:.1f} GiB, this machine has "
                f"{have / 2**30:.1f} GiB available",
                "use fewer synthetic mixtures ([model] augment; readout_augment costs no "
                "network memory), fewer bands ([features] n_bands) or a shorter context "
                "([model] context), or a machine with more memory",
            )

    def _check_divergence(self, Wd: list[Any]) -> None:
        """Stop a training whose loss (4.3.21) or dictionaries left the finite range (NaN/Inf,
        an entry over DICTIONARY_LIMIT): a model trained that way would otherwise be saved
        silently (``alpha_d = 1`` on the piano sets grew the dictionaries by ~1e100). The loss
        itself is not required to decrease: on small sets the split-gradient updates (4.3.9)
        can raise it by orders of magnitude while the decisions still work."""
        last = self.epoch_loss_[-1]
        big = max(float(W.abs().max()) for W in Wd)
        epoch = len(self.epoch_loss_) - 1
        if not math.isfinite(last) or not math.isfinite(big) or big > DICTIONARY_LIMIT:
            raise TrainingError(
                f"training diverged in epoch {epoch}: loss {last:.3g}, largest dictionary entry "
                f"{big:.3g}; nothing was saved",
                "lower model.alpha_d (the detection-aware term) or model.alpha_s, or check the "
                "data for outliers",
            )

    def transform_training_set(self) -> np.ndarray:
        """H⁽ᴷ⁾ of the mixtures of the last :meth:`fit`, (Q, r, n), from the cached H⁽ᴷ⁻ᶜ⁾."""
        import torch

        H_fix, X_all, Q, n = self._train_cache
        _, MH = self.masks(n)
        dt, dev = H_fix.dtype, H_fix.device
        conv = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dt, device=dev)  # noqa: E731
        M = None if MH is None else conv(np.tile(MH, (1, Q)))
        Ws = [(conv(W), 1) for W in self.W_disc_]
        with torch_threads(self.n_threads):
            parts = [
                Hc.cpu().numpy().astype(np.float64)
                for _, Hc in run_layers_blockwise(H_fix, X_all, Ws, self.alpha_h, self.eps, M, n)
            ]
        H = np.concatenate(parts, axis=1)
        return H.reshape(H.shape[0], Q, n).transpose(1, 0, 2)

    def cached_fixed_states(self, X_all: np.ndarray, Q: int, n: int, dt: Any, dev: Any) -> Any:
        """H⁽ᴷ⁻ᶜ⁾ of every column-stacked mixture, as a torch tensor (r, Q n)."""
        import torch

        _, MH = self.masks(n)
        H0 = torch.as_tensor(self._h0(n, Q), dtype=dt, device=dev)
        M = None if MH is None else torch.as_tensor(np.tile(MH, (1, Q)), dtype=dt, device=dev)
        W = torch.as_tensor(self.W_fixed_, dtype=dt, device=dev)
        fixed = [(W, self.n_layers - self.n_discriminative)]
        blocks = run_layers_blockwise(H0, X_all, fixed, self.alpha_h, self.eps, M, n)
        parts = [H for _, H in blocks]  # X_all converted one block at a time
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    # ------------------------------------------------------------------ model file
    def to_modelfile(
        self,
        extra_params: dict[str, Any] | None = None,
        extra_arrays: dict[str, np.ndarray] | None = None,
    ) -> ModelFile:
        """The ``padnmf``/``deepnmf`` model file (float64 weights: training precision)."""
        params: dict[str, Any] = {
            "n_layers": int(self.n_layers),
            "n_discriminative": int(self.n_discriminative),
            "alpha_h": float(self.alpha_h),
            "alpha_s": float(self.alpha_s_eff),
            "eps": float(self.eps),
            "h_mask": bool(self.h_mask_on),
            "w_mask": bool(self.w_mask_on),
            "h0": "ones",
            "layout": self.layout_.to_params(),
            "features": self.features_,
            "training": {
                "n_epochs": int(self.n_epochs),
                "batch_size": int(self.batch_size),
                "init_iter": int(self.init_iter),
                "seed": int(self.seed),
                "alpha_d": float(self.alpha_d),
                "loss_history": [float(v) for v in getattr(self, "loss_history_", [])],
                "epoch_loss": [float(v) for v in getattr(self, "epoch_loss_", [])],
            },
        }
        if int(self.warm_stride) > 0:
            params["warm_stride"] = int(self.warm_stride)
        params.update(extra_params or {})
        arrays = {
            "W_fixed": np.asarray(self.W_fixed_, dtype=np.float64),
            "W_disc": np.asarray(
                np.stack(self.W_disc_) if self.W_disc_ else np.zeros((0,) + self.W_fixed_.shape),
                dtype=np.float64,
            ),
        }
        if self.w_mask_on:  # M^W (4.3.8), stored for code generators (derivable from layout)
            arrays["W_mask"] = w_mask(self.layout_).astype(np.uint8)
        n_frames = params.get("n_frames")
        if self.h_mask_on and isinstance(n_frames, int):  # M^H (4.3.13) at the window length
            arrays["H_mask"] = h_mask(self.layout_, n_frames).astype(np.uint8)
        arrays.update(extra_arrays or {})
        return ModelFile(kind=self.kind, params=params, arrays=arrays)

    @classmethod
    def from_modelfile(cls, model: ModelFile) -> PADNMF:
        p = model.params
        lay = BlockLayout.from_params(p["layout"])
        tr = p.get("training", {})
        est = cls(
            kind=model.kind,
            n_layers=int(p["n_layers"]),
            n_discriminative=int(p["n_discriminative"]),
            context=lay.context,
            alpha_h=float(p["alpha_h"]),
            alpha_s=float(p["alpha_s"]),
            eps=float(p["eps"]),
            use_h_mask=bool(p["h_mask"]),
            n_epochs=int(tr.get("n_epochs", 0)),
            batch_size=int(tr.get("batch_size", 1)),
            init_iter=int(tr.get("init_iter", 0)),
            seed=int(tr.get("seed", 0)),
            warm_stride=int(p.get("warm_stride", 0)),
        )
        est.layout_ = lay
        est.W_fixed_ = np.asarray(model.array("W_fixed"), dtype=np.float64)
        est.W_disc_ = [np.asarray(W, dtype=np.float64) for W in model.array("W_disc")]
        est.features_ = p.get("features")
        est.loss_history_ = list(tr.get("loss_history", []))
        return est


def validate_model(model: ModelFile) -> None:
    require_params(
        model,
        "n_layers",
        "n_discriminative",
        "alpha_h",
        "alpha_s",
        "eps",
        "h_mask",
        "w_mask",
        "h0",
        "layout",
        "features",
    )
    p = model.params
    kind = model.kind
    K = param_int(model, "n_layers", 1, MAX_LAYERS)
    C = param_int(model, "n_discriminative", 1, K)
    param_float(model, "eps", lo=0.0, lo_open=True)
    param_float(model, "alpha_h", lo=0.0)
    param_float(model, "alpha_s", lo=0.0)
    param_bool(model, "h_mask")
    param_bool(model, "w_mask")
    param_choice(model, "h0", ("ones",))
    if "n_frames" in p:
        param_int(model, "n_frames", 1, MAX_DIM)
    raw = p["layout"]
    if not isinstance(raw, dict):
        raise ValueDomainError(f"{kind}: layout must be an object, got {type(raw).__name__}")
    for key in ("n_bins", "context"):
        typed_int(raw.get(key), kind, f"layout.{key}", 1, MAX_DIM)
    for key in ("ranks", "block_class", "class_names"):
        if not isinstance(raw.get(key), list) or len(raw[key]) > MAX_DIM:
            raise ValueDomainError(f"{kind}: layout.{key} must be a list")
    for i, v in enumerate(raw["ranks"]):
        typed_int(v, kind, f"layout.ranks[{i}]", 1, MAX_DIM)
    for i, v in enumerate(raw["block_class"]):
        typed_int(v, kind, f"layout.block_class[{i}]", 0, MAX_DIM)
    for i, v in enumerate(raw["class_names"]):
        typed_str(v, kind, f"layout.class_names[{i}]")
    try:
        lay = BlockLayout.from_params(raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueDomainError(f"{kind}: malformed layout ({exc})") from None
    m, r = lay.n_features, lay.rank
    require_array(model, "W_fixed", shape=(m, r), nonneg=True)
    Wd = require_array(model, "W_disc", ndim=3, nonneg=True)
    if Wd.shape != (C - 1, m, r):
        raise ShapeError(f"{kind}: W_disc has shape {Wd.shape}, expected {(C - 1, m, r)}")
    ws = p.get("warm_stride", 0)
    if not (isinstance(ws, int) and not isinstance(ws, bool) and 0 <= ws <= 0xFFFF):
        raise ValueDomainError(
            f"{model.kind}: warm_stride must be an integer >= 0 (frames), got {ws!r}",
            "set warm_stride to the hop between consecutive windows in frames, or 0 for none",
        )
    if not np.all(model.array("W_fixed").sum(0) > 0):
        raise ValueDomainError(f"{model.kind}: every atom of W_fixed needs a positive entry")
    if "W_mask" in model.arrays:
        MW = require_array(model, "W_mask", shape=(m, r))
        if not np.array_equal(MW, w_mask(lay)) or np.any(model.array("W_fixed")[MW == 0] != 0):
            raise ValueDomainError(f"{model.kind}: W_mask is not M^W of the layout (4.3.8)")
    if "H_mask" in model.arrays:
        MH = require_array(model, "H_mask", ndim=2)
        if not np.array_equal(MH, h_mask(lay, MH.shape[1])):
            raise ValueDomainError(f"{model.kind}: H_mask is not M^H of the layout (4.3.13)")
    if "thresholds" in model.arrays:
        require_array(model, "thresholds", shape=(lay.n_classes,), nonneg=True)
    st = p.get("stream")
    if st is not None:  # streaming detector parameters (golden/stream.py)
        stride, decision = (
            (st.get("stride", 1), st.get("decision", "threshold"))
            if isinstance(st, dict)
            else (None, None)
        )
        if (
            not isinstance(st, dict)
            or set(st) - {"stride", "decision"}
            or not isinstance(stride, int)
            or isinstance(stride, bool)
            or stride < 1
            or decision not in ("threshold", "ur", "readout")
        ):
            raise ValueDomainError(
                f"{model.kind}: params['stream'] must be {{'stride': int >= 1, 'decision': "
                f"'threshold' | 'ur' | 'readout'}}, got {st!r}",
                "set it with `tinyunfold model stream M --stride S --decision threshold|ur|readout`",
            )
    if "calibration" in model.arrays:
        require_array(model, "calibration", shape=(lay.n_classes, 2))
    if "ur_matrix" in model.arrays:
        require_array(model, "ur_matrix", shape=(lay.n_classes, None), nonneg=True)
    if "readout_W" in model.arrays or "readout_b" in model.arrays:
        # one row per class (one-vs-rest) or per label set (readout = "sets", models/labelsets.py)
        rd = (p.get("detection") or {}).get("readout")
        rows = lay.n_classes
        if isinstance(rd, dict) and (rd.get("max_hits", 0) != 0 or "sets" in rd):
            rows = len(check_set_table(rd.get("sets"), rd.get("max_hits"), lay.n_classes))
        # columns: the rows of the readout's input, H (r) or the window X~ (m', models/readout.py)
        ri = model_readout_input(rd)
        width = readout_width(ri, lay.rank, lay.n_bins)
        excess = model_readout_excess(rd)  # > 0: the levels, then their excess (2 x width)
        cols = readout_columns(ri, lay.rank, lay.n_bins, excess)
        Wr = require_array(model, "readout_W", ndim=2)
        if Wr.shape != (rows, cols):
            what = "rows of H (rank)" if ri == "activations" else "bands of X~ (n_bins)"
            raise ModelFileError(
                f"{model.kind}: readout_W has shape {Wr.shape}, the {ri} readout needs "
                f"({rows}, {cols}): {rows} outputs x {cols} {what}"
                + (" (levels and their excess)" if excess else ""),
                "re-create the model with `tinyunfold train`",
            )
        require_array(model, "readout_b", shape=(rows,))
        if excess:
            require_array(model, "readout_bg_mu", shape=(width,))
            require_array(model, "readout_bg_inv_sd", shape=(width,), nonneg=True)
