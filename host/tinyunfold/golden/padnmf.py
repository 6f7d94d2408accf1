"""Float32 golden reference of the PAD-NMF / Deep-NMF forward pass on the device.

Mirrors the generated ``tu_model_forward`` of ``codegen/templates/padnmf``: the input block is the
spectrogram window X̃ (m' x n); the device forms X = H_T(X̃) (eq. 4.3.1, ``tu_hankel_f32``: copies
and zeros, exact), starts from H⁽⁰⁾ = 1 ∘ M^H, and runs the schedule of
:meth:`tinyunfold.models.padnmf.PADNMF.schedule` — K−C layers with Ŵ, then one layer with each
trained dictionary — through ``tu_nmf_layers_f32`` (eq. 4.3.15 with 3.2.38 and the mask 4.3.14).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyunfold.errors import ModelFileError, ShapeError
from tinyunfold.features import hankel
from tinyunfold.golden.linalg import F32, as_f32, column_sums_f32, max_f32
from tinyunfold.golden.nmf import nmf_layers_f32
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.nmf import check_input
from tinyunfold.models.padnmf import PADNMF


@dataclass(frozen=True)
class PADNMFConstants:
    """What the generator bakes into the firmware: dictionaries, denominators, mask, schedule."""

    n_bins: int  # m'
    context: int  # T
    n_frames: int  # n
    dictionaries: tuple[np.ndarray, ...]  # each (m'T, r) float32
    denominators: tuple[np.ndarray, ...]  # each (r,) float32: Wᵀ1 + α_H
    counts: tuple[int, ...]  # layers run with each dictionary
    mask: np.ndarray | None  # (r, n) float32 0/1, or None
    eps: np.float32
    warm_stride: int = 0  # frames between consecutive windows of a warm start (0: none)

    @property
    def n_features(self) -> int:
        return self.n_bins * self.context

    @property
    def rank(self) -> int:
        return int(self.dictionaries[0].shape[1])


def constants(model: ModelFile) -> PADNMFConstants:
    if "n_frames" not in model.params:
        raise ModelFileError(
            f"{model.kind} model has no n_frames: the device needs a fixed window length",
            "train it with `tinyunfold train`, or import it with --training-set",
        )
    est = PADNMF.from_modelfile(model)
    n = int(model.params["n_frames"])
    alpha = F32(est.alpha_h)
    sched = [(as_f32(W), c) for W, c in est.schedule() if c > 0]
    mask = h_mask_f32(est, n)
    return PADNMFConstants(
        n_bins=est.layout_.n_bins,
        context=est.layout_.context,
        n_frames=n,
        dictionaries=tuple(W for W, _ in sched),
        denominators=tuple((column_sums_f32(W) + alpha).astype(F32) for W, _ in sched),
        counts=tuple(int(c) for _, c in sched),
        mask=mask,
        eps=F32(est.eps),
        warm_stride=int(model.params.get("warm_stride", 0)),
    )


def h_mask_f32(est: PADNMF, n_frames: int) -> np.ndarray | None:
    _, MH = est.masks(n_frames)
    return None if MH is None else as_f32(MH)


def padnmf_forward_f32(
    c: PADNMFConstants, spec: np.ndarray, h_prev: np.ndarray | None = None
) -> np.ndarray:
    """Bit-exact float32 forward pass: spectrogram window (m', n) -> H⁽ᴷ⁾ (r, n).

    The dense path (``tu_nmf_layers_f32``, kernel sets ``cmsis-dense``/``ref-dense``); the
    mask-aware path :func:`padnmf_forward_masked_f32` gives the same bits. ``h_prev``: the previous
    window's H⁽ᴷ⁾ (r, n) for a warm start (``tu_model_forward_warm``, :func:`warm_start_f32`).
    """
    spec = as_f32(check_input(spec, c.n_bins, "spectrogram window"))
    if spec.shape[1] != c.n_frames:
        raise ShapeError(
            f"window has {spec.shape[1]} frames, the model was built for {c.n_frames}",
            "cut windows of the training length",
        )
    X = hankel(spec, c.context)  # eq. (4.3.1): copies and zeros, exact in float32
    if h_prev is None:
        H = np.ones((c.rank, c.n_frames), dtype=F32) if c.mask is None else c.mask.copy()
    else:
        s = support(c.dictionaries, c.mask, c.n_frames)
        H = expand_h(warm_start_f32(c, s, h_prev), s, c.rank, c.n_frames)
    for W, d, count in zip(c.dictionaries, c.denominators, c.counts, strict=True):
        H = nmf_layers_f32(W, d, c.eps, X, H, count, c.mask)
    return H


# ------------------------------------------------------------------ mask-aware (compact) path
@dataclass(frozen=True)
class Support:
    """Where the dictionaries and H can be nonzero: what the mask-aware kernels iterate over.

    ``w_lo[r]``, ``w_len[r]``: column r of every dictionary is zero outside the rows
    ``[w_lo[r], w_lo[r] + w_len[r])``. For PAD-NMF the Hankel blocks of M^W (eqs. 4.3.6-4.3.8) give
    ``[(T-1-s) m', m'T)`` for atom s of a block. ``w_off[r]`` is the column's offset in the compact
    storage (the columns one after the other, rows ascending). ``h_ptr`` (n+1,) and ``h_rows``
    (nnz,): the support of M^H column by column (CSC, rows ascending); every row of every column
    without an H mask. The compact H holds its nnz entries in this order.
    """

    w_lo: np.ndarray  # (r,) int64
    w_len: np.ndarray  # (r,) int64
    w_off: np.ndarray  # (r,) int64
    h_ptr: np.ndarray  # (n + 1,) int64
    h_rows: np.ndarray  # (nnz,) int64

    @property
    def nnz(self) -> int:
        return int(self.h_rows.size)

    @property
    def h_cols(self) -> np.ndarray:
        """Column of each compact H entry, (nnz,)."""
        return np.repeat(np.arange(self.h_ptr.size - 1), np.diff(self.h_ptr)).astype(np.int64)

    @property
    def w_size(self) -> int:
        """Floats of one compact dictionary."""
        return int(self.w_len.sum())

    def kept_macs(self) -> int:
        """Multiply-adds of one layer left by the masks (W H and Wᵀ Q: Σ w_len over H's support each)."""
        return 2 * int(self.w_len[self.h_rows].sum())


def support(
    dictionaries: tuple[np.ndarray, ...], mask: np.ndarray | None, n_frames: int
) -> Support:
    """The :class:`Support` of a schedule: per-column row ranges covering the nonzeros of every
    dictionary (``(m, r)`` each), and the support of M^H (``(r, n)`` 0/1, or None: all of H)."""
    nz: np.ndarray = np.zeros(dictionaries[0].shape, dtype=bool)
    for W in dictionaries:
        nz |= W != 0
    F = nz.shape[0]
    R = nz.shape[1]
    any_row = nz.any(axis=0)
    first = np.where(any_row, nz.argmax(axis=0), 0).astype(np.int64)
    end = np.where(any_row, F - nz[::-1].argmax(axis=0), 0).astype(np.int64)
    w_len = end - first
    w_off = np.concatenate([[0], np.cumsum(w_len)[:-1]]).astype(np.int64)
    keep = np.ones((R, n_frames), dtype=bool) if mask is None else np.asarray(mask) != 0
    h_rows = np.concatenate([np.flatnonzero(keep[:, j]) for j in range(n_frames)]).astype(np.int64)
    h_ptr = np.concatenate([[0], np.cumsum(keep.sum(axis=0))]).astype(np.int64)
    return Support(first, w_len, w_off, h_ptr, h_rows)


def compact_dictionary(W: np.ndarray, s: Support) -> np.ndarray:
    """W stored on its support: column r's rows ``[w_lo[r], w_lo[r] + w_len[r])``, one column after
    the other; shape (Σ w_len,) float32. Refuses a W with a nonzero outside the support."""
    W = as_f32(W)
    out = np.concatenate(
        [W[lo : lo + ln, r] for r, (lo, ln) in enumerate(zip(s.w_lo, s.w_len, strict=True))]
    ).astype(F32)
    if np.count_nonzero(out) != np.count_nonzero(W):
        raise ValueError("the dictionary has nonzeros outside the support")
    return out


def compact_h(H: np.ndarray, s: Support) -> np.ndarray:
    """The nnz entries of H (r, n) on the support, CSC order."""
    return as_f32(np.asarray(H)[s.h_rows, s.h_cols])


def expand_h(Hc: np.ndarray, s: Support, rank: int, n_frames: int) -> np.ndarray:
    """``tu_padnmf_expand_f32``: the compact H back to (r, n), +0 off the support."""
    H = np.zeros((rank, n_frames), dtype=F32)
    H[s.h_rows, s.h_cols] = Hc
    return H


@dataclass(frozen=True)
class _Plan:
    """Index lists of the mask-aware layer, precomputed once per support (vectorised golden)."""

    wh: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # per position j in a column's list
    wq: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # per row t of a column's range


def _plan(s: Support, F: int) -> _Plan:
    cols = s.h_cols
    pos = np.arange(s.nnz) - s.h_ptr[cols]  # position of each entry in its column's list
    wh = []
    for j in range(int(pos.max(initial=-1)) + 1):
        ent = np.flatnonzero(pos == j)  # at most one entry per column: no index repeats
        ln = s.w_len[s.h_rows[ent]]
        e = np.repeat(ent, ln)
        t = np.arange(int(ln.sum())) - np.repeat(np.cumsum(ln) - ln, ln)
        r = s.h_rows[e]
        wh.append((cols[e] * F + s.w_lo[r] + t, s.w_off[r] + t, e))
    wq = []
    lens = s.w_len[s.h_rows]
    for t in range(int(lens.max(initial=0))):
        ent = np.flatnonzero(lens > t)
        r = s.h_rows[ent]
        wq.append((ent, s.w_off[r] + t, cols[ent] * F + s.w_lo[r] + t))
    return _Plan(tuple(wh), tuple(wq))


def padnmf_layers_masked_f32(
    Wc: np.ndarray,
    s: Support,
    denom: np.ndarray,
    eps: np.float32,
    X: np.ndarray,
    Hc: np.ndarray,
    n_layers: int,
    plan: _Plan | None = None,
    order: str = "ascending",
) -> np.ndarray:
    """``tu_padnmf_layers_f32``: layers on the supports only; returns the new compact H (nnz,).

    Per layer, in the C's order (no product with a structural zero is formed):

    * Vᵀ[j, :] = 0, then for each kept row r of column j, ascending: Vᵀ[j, lo_r:lo_r+len_r] +=
      W_r * H[r, j] (so each V[f, j] adds its kept products in ascending r, as ``mat_mult_f32``);
    * Qᵀ = Xᵀ / (Vᵀ + ε) (all F x n: the quotient is needed wherever some kept column reads it);
    * for each kept (r, j): U = Σ_f W[f, r] Q[f, j] over the column's range, f ascending;
      H[r, j] = max(ε, (H[r, j] U) / d_r).

    ``order="reversed"`` adds the kept terms of both products in the reverse order: the same
    products, another rounding sequence (the tests show its bits differ).
    """
    F = X.shape[0]
    n = s.h_ptr.size - 1
    p = _plan(s, F) if plan is None else plan
    Xt = as_f32(X.T).ravel()
    d = as_f32(denom)[s.h_rows]
    wh = p.wh if order == "ascending" else p.wh[::-1]
    wq = p.wq if order == "ascending" else p.wq[::-1]
    for _ in range(n_layers):
        Vt = np.zeros(n * F, dtype=F32)
        for iv, iw, e in wh:
            Vt[iv] += Wc[iw] * Hc[e]  # one rounded product, one rounded sum per element
        Qt = Xt / (Vt + eps)  # X ⊘ (WH + ε), transposed
        U = np.zeros(s.nnz, dtype=F32)
        for ent, iw, iq in wq:
            U[ent] += Wc[iw] * Qt[iq]
        Hc = max_f32((Hc * U) / d, eps)  # eq. (4.2.2), projection (3.2.38); M^H by construction
    return Hc


def padnmf_forward_masked_f32(
    c: PADNMFConstants,
    spec: np.ndarray,
    order: str = "ascending",
    h_prev: np.ndarray | None = None,
) -> np.ndarray:
    """The mask-aware forward pass (what the ``cmsis``/``ref`` kernel sets run for padnmf):
    spectrogram window (m', n) -> H⁽ᴷ⁾ (r, n). Equal bits to :func:`padnmf_forward_f32`
    (docs/numerics.md, "Skipping structural zeros")."""
    spec = as_f32(check_input(spec, c.n_bins, "spectrogram window"))
    X = hankel(spec, c.context)
    s = support(c.dictionaries, c.mask, c.n_frames)
    p = _plan(s, c.n_features)
    # H⁽⁰⁾ = 1 ∘ M^H on the support, or the warm start
    Hc = np.ones(s.nnz, dtype=F32) if h_prev is None else warm_start_f32(c, s, h_prev)
    for W, d, count in zip(c.dictionaries, c.denominators, c.counts, strict=True):
        Hc = padnmf_layers_masked_f32(compact_dictionary(W, s), s, d, c.eps, X, Hc, count, p, order)
    return expand_h(Hc, s, c.rank, c.n_frames)


def warm_source(s: Support, stride: int, rank: int, n_frames: int) -> np.ndarray:
    """The warm-start table ``tu_warm_src`` (nnz,) int32: for the compact entry at (r, j), the
    index r n + j + stride of the previous window's H⁽ᴷ⁾ when that frame existed there and (r, j +
    stride) is on the support of M^H, else -1 (cold: 1). ``stride`` 0 makes every entry cold."""
    keep = np.zeros((rank, n_frames), dtype=bool)
    keep[s.h_rows, s.h_cols] = True
    src = np.full(s.nnz, -1, dtype=np.int32)
    if stride > 0:
        j = s.h_cols + stride
        ok = j < n_frames
        ok[ok] = keep[s.h_rows[ok], j[ok]]
        src[ok] = (s.h_rows[ok] * n_frames + j[ok]).astype(np.int32)
    return src


def warm_start_f32(c: PADNMFConstants, s: Support, h_prev: np.ndarray) -> np.ndarray:
    """``tu_padnmf_warm_f32``: compact H⁽⁰⁾ (nnz,) from the previous window's H⁽ᴷ⁾ (r, n) shifted
    by ``c.warm_stride`` frames, floored at ε (C's ``(h > ε) ? h : ε``), 1 where no predecessor."""
    prev = as_f32(h_prev).ravel()
    if prev.size != c.rank * c.n_frames:
        raise ShapeError(
            f"previous H has {prev.size} values, the model has {c.rank} x {c.n_frames}",
            "pass the previous window's output H⁽ᴷ⁾",
        )
    src = warm_source(s, c.warm_stride, c.rank, c.n_frames)
    out = np.ones(s.nnz, dtype=F32)
    hit = src >= 0
    out[hit] = max_f32(prev[src[hit]], c.eps)
    return out
