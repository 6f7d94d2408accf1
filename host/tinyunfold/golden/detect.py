"""Float32 golden detection: the contract of the device detector (C twin: firmware/src/tu_detect_*.c,
tu_ur_*.c; header firmware/include/tinyunfold/detect.h).

What the device decides, and how it is represented (defined once, docs/numerics.md "Detection"):

* **Indices** (eqs. 4.3.28-4.3.30), both variants: the diagonal one (shift 0 only) and the
  time-shifted one (4.3.6, maximum over the off-diagonals o = 0..n-1). The score is the *log*
  index ln I(l) = (Σ_{h ∈ D_l} logf(max(h, floor))) / |D_l| in float32, with :func:`mathf.logf`
  (the logarithm both sides share). Accumulation order (C order): per class l, per shift o
  ascending, ``acc = 0``; over the target blocks of class l in block order, over s ascending,
  ``acc += logf(H[off_i + s, s + o])``; then ``acc / count``. A shift replaces the best one only
  when strictly larger (the earliest shift wins ties). A class without entries gets -inf.
* **Threshold rule** (eq. 4.3.32, ``top_k``): candidates are the classes with ln I(l) > ln τ_l;
  ln τ_l is a float32 constant computed once on the host from the model's float64 τ_l. The
  candidates are reported largest score first (ties: lower class first), at most ``top_k``.
* **Uncertainty reduction** (eqs. 4.3.37-4.3.38, update 3.2.26) with a fixed iteration count:
  x = expf(ln I) / scale, then the multiplicative update in the order of
  :func:`ur_infer_f32`; score = the latent Î_l (first L entries), threshold = a float32 constant
  per class (0.5 for every class with detection.py's rule), decided by the same top-k rule.
* **Readout** (not in the thesis; detection.py ``Readout``): features per atom a = 0..r-1 (every
  row of H⁽ᴷ⁾, target and noise blocks): ``s = 0.0f``, over t ascending ``s += H[a, t]``;
  ``f_a = logf(s > floor ? s : floor)``. Score per class c = 0..L-1: ``z = b_c``, over a ascending
  ``z = z + W[c, a] * f_a`` (product rounded, then the sum: no FMA); a NaN z is stored as the
  canonical quiet NaN 0x7fc00000 (``z == z ? z : NAN``). Threshold = a float32
  constant per class (0.0: probability σ(z) = 0.5), decided by the same top-k rule. The indices
  are still computed: an event's onset is the time-shifted index's shift.
  With ``readout_input = "spectrum"`` (models/readout.py) the rows a = 0..m'-1 are the bands of
  the window X̃ the network reads (bands x frames, row-major, float32 x input_scale: the device's
  ``window_x``) instead of the atoms of H⁽ᴷ⁾; same sums, same order (:func:`readout_input_f32`).
* **Readout over label sets** (``readout = "sets"``, issue 11): the same scores with one row per
  label set s = 0..S-1 (models/labelsets.py order: empty, singletons, pairs lexicographic, ...;
  row 0 is zero, so z_0 = 0 for finite features). Decision (:func:`readout_sets_f32`, C
  ``tu_detect_readout_sets_f32``): ``best = 0``, for s = 1..S-1 ascending ``if (z[s] > z[best])
  best = s`` (strict: the first maximum wins; a NaN never wins); the hits are the classes of set
  ``best`` (uint32 bitmask) in ascending class order, at most top_k. Every hit's score is
  z[best] (the set's log-odds against "no hit") and its threshold 0.0 (z_0).

Every operation is float32 in the C order; no ``@``/BLAS/np.sum on this path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyunfold.detection import prior_weight, readout_source
from tinyunfold.errors import ShapeError, ValueDomainError
from tinyunfold.golden.mathf import expf, logf, powf
from tinyunfold.models.labelsets import set_masks
from tinyunfold.models.padnmf import BlockLayout
from tinyunfold.models.readout import DEFAULT_READOUT_INPUT, readout_columns

F32 = np.float32
UR_BETAS = (0, 1, 2)
DEFAULT_FLOOR = 1e-30  # detection.detection_indices' default floor
UR_EPS = 1e-12  # detection.ur_infer's eps
UR_N_ITER = 500  # detection.ur_infer's default iteration count
METHODS = ("threshold", "ur", "readout")


@dataclass(frozen=True)
class URParams:
    """Uncertainty-reduction constants as the device holds them (float32).

    Attributes
    ----------
    A : (L, L') float32 matrix Â (eq. 4.3.36).
    beta : 0, 1 or 2 (Table 3 noise models).
    alpha_p : float32 weight of Î^(p-1) in the update (0: no prior): α p, or α with the
        authors' prior (``detection.prior_weight``; one kernel for both).
    p_minus_1 : float32(p - 1).
    eps, scale : float32 floor and index scale.
    threshold : (L,) float32 decision thresholds on Î_l (one per class, so that per-class rules
        such as "a multiple of the largest Î_l seen on no-hit mixtures" need no new kernel).
        ``UncertaintyReduction.class_thresholds()``: 0.5 everywhere (rule ``fixed``) or
        factor x max Î_l on the no-hit training mixtures (rule ``nohit_max``).
    n_iter : fixed iteration count. n_penalized : the first n_penalized latent entries carry the prior.
    """

    A: np.ndarray
    beta: int
    alpha_p: np.float32
    p_minus_1: np.float32
    eps: np.float32
    scale: np.float32
    threshold: np.ndarray
    n_iter: int = UR_N_ITER
    n_penalized: int = 0

    @property
    def n_index(self) -> int:
        return int(self.A.shape[0])

    @property
    def n_latent(self) -> int:
        return int(self.A.shape[1])


@dataclass(frozen=True)
class ReadoutParams:
    """Readout constants as the device holds them (float32).

    Attributes
    ----------
    W : (L, r) float32 weights (label sets: (S, r)); r = the rows of the input (rank, or m'
    bands for ``input = "spectrum"``). b : (L,) float32 biases (label sets: (S,)).
    threshold : (L,) float32 thresholds on z. floor : float32 clip of the row sums before the
    logarithm. sets : None (one-vs-rest) or (S,) uint32 class bitmasks of the label sets.
    input : ``"activations"`` (reads H⁽ᴷ⁾) or ``"spectrum"`` (reads the window X̃).
    bg_mu, bg_inv_sd : None, or the (rows,) float32 background mean and inverse spread of the
    excess block (``readout_excess``; W then has 2 x rows columns). excess : its clip c.
    """

    W: np.ndarray
    b: np.ndarray
    threshold: np.ndarray
    floor: np.float32
    sets: np.ndarray | None = None
    input: str = "activations"
    bg_mu: np.ndarray | None = None
    bg_inv_sd: np.ndarray | None = None
    excess: np.float32 = F32(0.0)

    @property
    def width(self) -> int:
        """Rows of the readout's input: r (H) or m' (X̃); W has twice as many columns with the
        excess block."""
        return int(self.W.shape[1]) // (1 if self.bg_mu is None else 2)


@dataclass(frozen=True)
class DetectParams:
    """Everything the device detector needs, as float32 / integer constants.

    Attributes
    ----------
    rank, n_frames : H is (rank, n_frames).
    block_offset : (n_blocks + 1,) row offsets of the target blocks; block_class : (n_blocks,).
    n_classes : L. n_shifts : 1 (diagonals) or n_frames (time-shifted variant).
    floor : float32 clip before the logarithm.
    log_threshold : (L,) float32 ln τ_l. top_k : hits reported at most per window.
    ur : :class:`URParams` or None. readout : :class:`ReadoutParams` or None.
    """

    rank: int
    n_frames: int
    block_offset: tuple[int, ...]
    block_class: tuple[int, ...]
    n_classes: int
    n_shifts: int
    floor: np.float32
    log_threshold: np.ndarray
    top_k: int = 1
    ur: URParams | None = None
    readout: ReadoutParams | None = None


def log_thresholds(thresholds: np.ndarray) -> np.ndarray:
    """ln τ_l as float32 (the threshold representation), computed once from float64 τ_l."""
    tau = np.asarray(thresholds, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(tau).astype(np.float32)


def params_from_detector(detector: Any, layout: BlockLayout, n_frames: int) -> DetectParams:
    """Device constants from a fitted :class:`tinyunfold.detection.Detector` and its layout
    (the readout's W has ``layout.rank`` columns, or ``layout.n_bins`` for a spectrum readout).

    Raises
    ------
    ValueDomainError : a rule the device does not run (activation-sum indices, β not in {0,1,2}).
    """
    if bool(getattr(detector, "activation", False)):
        raise ValueDomainError(
            "activation-sum indices (the fixed-dictionary baselines) are not deployable",
            "use a PAD-NMF / Deep-NMF detector (diagonal or time-shifted indices)",
        )
    offs = [int(v) for v in layout.offsets()[: layout.n_target_blocks + 1]]
    ur = None
    if detector.ur is not None:
        u = detector.ur
        beta = float(u.beta)
        if beta not in UR_BETAS:
            raise ValueDomainError(
                f"uncertainty reduction with beta={beta:g} does not run on the device",
                f"use ur_beta in {UR_BETAS}",
            )
        A = np.asarray(u.A, dtype=np.float32)
        ur = URParams(
            A=A,
            beta=int(beta),
            alpha_p=F32(prior_weight(u.alpha, u.p, getattr(u, "prior", "alpha_p"))),
            p_minus_1=F32(float(u.p) - 1.0),
            eps=F32(UR_EPS),
            scale=F32(u.scale),
            threshold=np.asarray(u.class_thresholds(), dtype=np.float32),
            n_iter=UR_N_ITER,
            n_penalized=int(A.shape[0]),  # detection.UncertaintyReduction.latent: the L classes
        )
    readout = None
    ro = getattr(detector, "readout", None)
    if ro is not None:
        W = np.asarray(ro.W, dtype=np.float32)
        sets = set_masks(ro.sets) if ro.max_hits else None
        rows = layout.n_classes if sets is None else sets.size
        ri = getattr(ro, "input", DEFAULT_READOUT_INPUT)
        excess = float(getattr(ro, "excess", 0.0) or 0.0)
        cols = readout_columns(ri, layout.rank, layout.n_bins, excess)
        if W.shape != (rows, cols):
            raise ValueDomainError(
                f"readout weights have shape {W.shape}, the {ri} readout of the layout needs "
                f"({rows}, {cols})",
                "re-create the model with `tinyunfold train`",
            )
        readout = ReadoutParams(
            W=W,
            b=np.asarray(ro.b, dtype=np.float32),
            threshold=np.asarray(ro.threshold, dtype=np.float32),
            floor=F32(ro.floor),
            sets=sets,
            input=ri,
            bg_mu=np.asarray(ro.bg_mu, dtype=np.float32) if excess else None,
            bg_inv_sd=np.asarray(ro.bg_inv_sd, dtype=np.float32) if excess else None,
            excess=F32(excess),
        )
    return DetectParams(
        rank=layout.rank,
        n_frames=int(n_frames),
        block_offset=tuple(offs),
        block_class=tuple(int(c) for c in layout.block_class),
        n_classes=layout.n_classes,
        n_shifts=int(n_frames) if detector.shifted else 1,
        floor=F32(getattr(detector, "floor", DEFAULT_FLOOR)),
        log_threshold=log_thresholds(detector.thresholds),
        top_k=int(detector.top_k),
        ur=ur,
        readout=readout,
    )


def indices_f32(H: np.ndarray, params: DetectParams) -> tuple[np.ndarray, np.ndarray]:
    """Log indices ln I(l) (eq. 4.3.30, max over shifts) of H (B, rank, n) or (rank, n).

    Returns
    -------
    log_index : (B, L) float32. shift : (B, L) int64, the off-diagonal that gave the index.
    """
    H = np.asarray(H, dtype=np.float32)
    if H.ndim == 2:
        H = H[None]
    if H.ndim != 3 or H.shape[1:] != (params.rank, params.n_frames):
        raise ShapeError(f"H has shape {H.shape}, expected (B, {params.rank}, {params.n_frames})")
    B, n = H.shape[0], params.n_frames
    # logf is element-wise: taking it of every entry once gives the bits of the C's per-entry call
    logH = logf(np.where(H > params.floor, H, params.floor))
    offs = params.block_offset
    log_index = np.empty((B, params.n_classes), dtype=np.float32)
    shift = np.zeros((B, params.n_classes), dtype=np.int64)
    for c in range(params.n_classes):
        best = np.full(B, -np.inf, dtype=np.float32)
        best_shift = np.zeros(B, dtype=np.int64)
        for o in range(params.n_shifts):
            acc = np.zeros(B, dtype=np.float32)
            count = 0
            for i, ci in enumerate(params.block_class):
                if ci != c:
                    continue
                length = min(offs[i + 1] - offs[i], n - o)  # d_{l_j}, eq. (4.3.28)
                for s in range(length):
                    acc = acc + logH[:, offs[i] + s, s + o]  # D_l, eq. (4.3.29)
                count += length
            if count > 0:
                gm = acc / F32(count)  # ln GM(D_l), eq. (4.3.30)
                better = gm > best
                best = np.where(better, gm, best)
                best_shift = np.where(better, o, best_shift)
        log_index[:, c] = best
        shift[:, c] = best_shift
    return log_index, shift


def decide_f32(score: np.ndarray, threshold: np.ndarray, top_k: int) -> list[list[int]]:
    """Eq. (4.3.32) with top_k per row of ``score`` (B, L): C's selection loop, same ties."""
    score = np.atleast_2d(np.asarray(score, dtype=np.float32))
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float32), score.shape[1:])
    out = []
    for row in score:
        hits: list[int] = []
        while len(hits) < top_k:
            pick = -1
            for c in range(row.size):
                if not row[c] > thr[c] or c in hits:
                    continue
                if pick < 0 or row[c] > row[pick]:
                    pick = c
            if pick < 0:
                break
            hits.append(pick)
        out.append(hits)
    return out


def ur_infer_f32(log_index: np.ndarray, ur: URParams) -> np.ndarray:
    """Latent Î (B, L') from log indices (B, L): the update of C ``tu_ur_infer_f32``, same order."""
    li = np.atleast_2d(np.asarray(log_index, dtype=np.float32))
    L, Lp = ur.A.shape
    if li.shape[1] != L:
        raise ShapeError(f"{li.shape[1]} indices, the uncertainty-reduction matrix takes {L}")
    A = ur.A.astype(np.float32)
    eps = ur.eps
    with np.errstate(all="ignore"):
        x = expf(li) / ur.scale  # (B, L)
        Ih = np.ones((li.shape[0], Lp), dtype=np.float32)
        for _ in range(ur.n_iter):
            V = np.zeros_like(x)
            for j in range(Lp):
                V = V + A[:, j][None, :] * Ih[:, j : j + 1]
            V = V + eps
            if ur.beta == 0:
                pos = F32(1) / V
                neg = (x * pos) * pos
            elif ur.beta == 1:
                pos = np.ones_like(V)
                neg = x / V
            else:
                pos = V
                neg = x
            num: np.ndarray = np.zeros_like(Ih)
            den: np.ndarray = np.zeros_like(Ih)
            for l_ in range(L):
                num = num + A[l_, :][None, :] * neg[:, l_ : l_ + 1]
                den = den + A[l_, :][None, :] * pos[:, l_ : l_ + 1]
            pen = np.zeros_like(Ih)
            if ur.alpha_p != F32(0) and ur.n_penalized > 0:
                k = ur.n_penalized
                hk = Ih[:, :k]
                pen[:, :k] = ur.alpha_p * powf(np.where(hk > eps, hk, eps), ur.p_minus_1)
            u = (Ih * num) / ((den + pen) + eps)
            Ih = np.where(u > eps, u, eps).astype(np.float32)
    return Ih


def readout_f32(H: np.ndarray, rd: ReadoutParams) -> np.ndarray:
    """Readout scores z (B, L or S) of its input (B, r, n) or (r, n): C ``tu_detect_readout_f32``,
    same order. The input is H⁽ᴷ⁾ or the window X̃ (:func:`readout_input_f32` picks it).

    s_a = Σ_t H[a, t] (t ascending from 0.0f), f_a = logf(max(s_a, floor)); with the excess
    block, g_a = f_a and g_{r+a} = e_a, e_a = (f_a − μ_a) κ_a (difference rounded, then the
    product), then e_a = c if e_a > c, −c if e_a < −c (detection.excess_features); else g = f.
    z_c = b_c + Σ_a W[c, a] g_a (a ascending, product then sum); a NaN z is the canonical quiet
    NaN 0x7fc00000 (the hardware NaNs of 0 * inf differ in sign between Cortex-M and x86-64).
    """
    H = np.asarray(H, dtype=np.float32)
    if H.ndim == 2:
        H = H[None]
    L = rd.W.shape[0]
    r = rd.width
    if H.ndim != 3 or H.shape[1] != r:
        raise ShapeError(f"the readout's input has shape {H.shape}, the readout takes {r} rows")
    B, n = H.shape[0], H.shape[2]
    s = np.zeros((B, r), dtype=np.float32)
    for t in range(n):
        s = s + H[:, :, t]
    f = logf(np.where(s > rd.floor, s, rd.floor))  # element-wise: the bits of the C's calls
    if rd.bg_mu is not None and rd.bg_inv_sd is not None:
        c = F32(rd.excess)
        with np.errstate(invalid="ignore", over="ignore"):
            e = (f - rd.bg_mu.astype(np.float32)[None, :]) * rd.bg_inv_sd.astype(np.float32)[
                None, :
            ]
        e = np.where(e > c, c, np.where(e < -c, -c, e)).astype(np.float32)
        f = np.concatenate([f, e], 1)
    W = rd.W.astype(np.float32)
    z = np.broadcast_to(rd.b.astype(np.float32), (B, L)).copy()
    with np.errstate(invalid="ignore"):
        for a in range(W.shape[1]):
            z = z + W[None, :, a] * f[:, a : a + 1]
    return np.where(z == z, z, F32(np.nan)).astype(np.float32)  # canonical NaN 0x7fc00000


def readout_input_f32(rd: ReadoutParams, H: np.ndarray, X: np.ndarray | None) -> np.ndarray:
    """The readout's float32 input of windows with output H (B, r, n) and input X̃ (B, m', n):
    ``detection.readout_source`` (one choice, host and golden)."""
    return np.asarray(readout_source(rd.input, H, X), dtype=np.float32)


def readout_sets_f32(
    z: np.ndarray, sets: np.ndarray, n_classes: int, top_k: int
) -> tuple[list[list[int]], np.ndarray]:
    """The label-set decision of scores z (B, S): C ``tu_detect_readout_sets_f32``, same order.

    Returns the hits per row (classes of the first-maximum set, ascending, at most ``top_k``) and
    the chosen set index (B,).
    """
    z = np.atleast_2d(np.asarray(z, dtype=np.float32))
    masks = np.asarray(sets, dtype=np.uint32)
    if z.shape[1] != masks.size:
        raise ShapeError(f"{z.shape[1]} scores for {masks.size} label sets")
    chosen = np.zeros(z.shape[0], dtype=np.int64)
    out = []
    for b, row in enumerate(z):
        best = 0
        for s in range(1, row.size):
            if row[s] > row[best]:  # strict: the first maximum wins
                best = s
        chosen[b] = best
        m = int(masks[best])
        out.append([c for c in range(n_classes) if (m >> c) & 1][:top_k])
    return out, chosen


@dataclass
class DetectResult:
    """Golden detection of B windows.

    Attributes
    ----------
    classes : per window, the hit classes (largest score first).
    score : (B, L) float32 scores compared (ln I for ``threshold``, Î_l for ``ur``, z for
        ``readout``; for the label-set readout the chosen set's z in every column).
    threshold : (L,) float32 thresholds compared against ``score``.
    log_index, shift : (B, L) the indices and their onset off-diagonals.
    latent : (B, L') Î for ``ur`` (None otherwise).
    readout_z : (B, L or S) the readout scores z (None unless ``readout``).
    set_index : (B,) the chosen label set (None unless the label-set readout).
    """

    classes: list[list[int]]
    score: np.ndarray
    threshold: np.ndarray
    log_index: np.ndarray
    shift: np.ndarray
    latent: np.ndarray | None = None
    readout_z: np.ndarray | None = None
    set_index: np.ndarray | None = None

    def events(self) -> list[list[tuple[int, int, np.float32, np.float32]]]:
        """Per window: (class, onset shift, score, threshold) of each hit."""
        return [
            [(c, int(self.shift[b, c]), self.score[b, c], self.threshold[c]) for c in cs]
            for b, cs in enumerate(self.classes)
        ]


def detect_f32(
    H: np.ndarray, params: DetectParams, method: str = "threshold", X: np.ndarray | None = None
) -> DetectResult:
    """Indices, then the ``threshold`` rule, the uncertainty reduction (``ur``) or the
    ``readout`` of H (or of the windows X̃ (B, m', n) for a spectrum readout), and top_k."""
    log_index, shift = indices_f32(H, params)
    if method == "threshold":
        classes = decide_f32(log_index, params.log_threshold, params.top_k)
        return DetectResult(classes, log_index, params.log_threshold, log_index, shift)
    if method == "ur":
        if params.ur is None:
            raise ValueDomainError(
                "this detector has no uncertainty-reduction matrix", "use method='threshold'"
            )
        latent = ur_infer_f32(log_index, params.ur)
        score = latent[:, : params.n_classes]
        thr = np.asarray(params.ur.threshold, dtype=np.float32)
        classes = decide_f32(score, thr, params.top_k)
        return DetectResult(classes, score, thr, log_index, shift, latent)
    if method == "readout":
        if params.readout is None:
            raise ValueDomainError("this detector has no readout", "use method='threshold'")
        rd = params.readout
        z = readout_f32(readout_input_f32(rd, H, X), rd)
        thr = np.asarray(rd.threshold, dtype=np.float32)
        if rd.sets is None:
            classes = decide_f32(z, thr, params.top_k)
            return DetectResult(classes, z, thr, log_index, shift, readout_z=z)
        classes, chosen = readout_sets_f32(z, rd.sets, params.n_classes, params.top_k)
        score = np.repeat(z[np.arange(z.shape[0]), chosen][:, None], params.n_classes, axis=1)
        return DetectResult(classes, score, thr, log_index, shift, None, z, chosen)
    raise ValueDomainError(f"unknown decision method {method!r}", f"use one of {METHODS}")
