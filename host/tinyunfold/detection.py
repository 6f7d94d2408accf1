"""Hit detection from the output H⁽ᴷ⁾ of a PAD-NMF / Deep-NMF network (thesis 4.3.3-4.3.4).

Indices (eqs. 4.3.27-4.3.30): for each class l (feature set F_l), the diagonals of the target blocks
H_{S_lj} of class l are concatenated into D_l and the index is their geometric mean,
I(l) = GM(D_l). The *time-shifted* variant (4.3.6: hits anywhere in the window) computes the same
geometric mean on every off-diagonal o (entries H[s, s+o]: the hit started o frames into the window)
and keeps the maximum over o.

Decision (eq. 4.3.32): l̄ = argmax_{l ∈ 𝓛} I(l), 𝓛 = {l : I(l) > τ_l}; no hit when 𝓛 is empty. With
``top_k`` the k largest indices of 𝓛 are returned (multiple hits, end of 4.3.5). Thresholds τ_l come
from no-hit mixtures: ``"gm"`` the geometric mean of their indices (Dataset1/2 rule, 4.3.5), ``"max"``
their maximum (piano rule, 4.3.6), each times a ``margin`` factor; ``"fpr"`` (the default, not in
the thesis) fits them on all training mixtures to a stated false-positive rate and checks the rate
by leave-one-out cross-validation (:func:`fit_fpr_thresholds`). ``top_k = 0`` reports every class
over its threshold (set-valued decisions). Every rule ends in "ln I(l) > ln τ_l, at most top_k",
which is what the device runs (golden/detect.py): fitting τ differently needs no new kernel.

Uncertainty reduction (eqs. 4.3.34-4.3.39): a nonnegative Â with I ≈ Â Î is fitted on the training
mixtures (labels Î_q one-hot, zero for no hit) by minimising D_β(I_Q, Â Î_Q) (4.3.36) with
multiplicative updates; at inference Î solves min D_β(I, ÂÎ) + α‖Î‖_p^p (4.3.37, prior 4.3.38) with
the heuristic multiplicative update (3.2.26). β ∈ {0, 1, 2} are the Gamma (Itakura-Saito), Poisson (KL)
and Normal (Euclidean) noise models of Table 3. A class is reported when Î_l > ``ur_threshold``
(labels are 0/1, so 0.5 by default). Option ``background``: one extra latent component that is 1 in
every training mixture (the index level of the background alone); an extension, off by default.

Readout (not in the thesis, :class:`Readout`): a linear logistic readout of the per-atom log
activations f_a = ln max(Σ_t H⁽ᴷ⁾[a, t], floor) of *every* atom (target and noise blocks), one
vs. rest, z_c = b_c + Σ_a W[c, a] f_a; class c is a candidate when z_c > 0 (P = σ(z_c) > 0.5), and
the top-k rule of (4.3.32) applies to z. Fitted on the training mixtures only (L2-regularised
binary cross-entropy per class on standardised features, the weight chosen by 5-fold CV,
stratified by label set, on set-exact accuracy). The GM indices read only the block diagonals;
on presets whose classes excite the same modes (dataset2-hard) the other atoms carry the class.
With ``readout = "sets"`` (issue 11) the same features feed a multinomial logistic regression over
the label sets of at most ``readout_max_hits`` classes (softmax cross-entropy, same L2/CV), the
decision is the most probable set and the per-class confidence its marginal P(c ∈ set).
With ``readout_input = "spectrum"`` the same features are read from the network's input window X̃
(m' bands x n frames, scaled by ``input_scale``, before the Hankel extension 4.3.1): f_b =
ln max(Σ_t X̃[b, t], floor), one per band (:func:`readout_source`, models/readout.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tinyunfold.errors import (
    ModelFileError,
    ShapeError,
    ValueDomainError,
    check_choice,
    check_flag,
)
from tinyunfold.models.divergence import beta_gradient_parts
from tinyunfold.models.labelsets import check_max_hits, check_set_table, label_set_table
from tinyunfold.models.padnmf import BlockLayout
from tinyunfold.models.readout import (
    DEFAULT_READOUT_INPUT,
    check_readout_input,
    model_readout_excess,
    model_readout_input,
    readout_columns,
    readout_excess_value,
    readout_width,
)

THRESHOLD_RULES = ("fpr", "gm", "max")
_TINY = 1e-300


# ------------------------------------------------------------------------------------ indices
@dataclass
class IndexResult:
    """Detection indices of a batch of mixtures.

    Attributes
    ----------
    index : (B, L) I(l) of eq. (4.3.30) (maximum over shifts in the shifted variant).
    shift : (B, L) the off-diagonal (frame offset of the hit onset) that gave the index.
    partial : (B, I) partial indices I(l_j) = GM(d_{l_j}) of every target block (at ``shift``).
    """

    index: np.ndarray
    shift: np.ndarray
    partial: np.ndarray


def detection_indices(
    H: np.ndarray,
    layout: BlockLayout,
    shifted: bool = False,
    shifts: Sequence[int] | None = None,
    floor: float = 1e-30,
) -> IndexResult:
    """Indices (4.3.28)-(4.3.30) of H⁽ᴷ⁾, shape (B, r, n) or (r, n).

    Parameters
    ----------
    shifted : use every off-diagonal and take the maximum (the time-shifted variant).
    shifts : offsets to scan when ``shifted`` (default 0..n-1: onsets inside the window).
    floor : entries are clipped below at ``floor`` before the logarithm.
    """
    H = np.asarray(H, dtype=np.float64)
    if H.ndim == 2:
        H = H[None]
    if H.ndim != 3 or H.shape[1] != layout.rank:
        raise ShapeError(f"H has shape {H.shape}, expected (B, {layout.rank}, n)")
    B, _, n = H.shape
    offs = layout.offsets()
    if not shifted:
        shift_list = [0]
    else:
        shift_list = list(range(n)) if shifts is None else [int(s) for s in shifts]
    L = layout.n_classes
    best = np.full((B, L), -np.inf)
    best_shift = np.zeros((B, L), dtype=np.int64)
    partial = np.zeros((B, layout.n_target_blocks))
    logH = np.log(np.maximum(H, floor))
    for o in shift_list:
        sums = np.zeros((B, L))
        counts = np.zeros(L)
        blk_log = np.full((B, layout.n_target_blocks), np.nan)
        for i, c in enumerate(layout.block_class):
            blk = logH[:, offs[i] : offs[i + 1], :]
            d = np.diagonal(blk, offset=o, axis1=1, axis2=2)  # (B, len): d_{l_j}, eq. (4.3.28)
            if d.shape[1] == 0:
                continue
            sums[:, c] += d.sum(1)  # D_l, eq. (4.3.29)
            counts[c] += d.shape[1]
            blk_log[:, i] = d.mean(1)
        ok = counts > 0
        gm = np.full((B, L), -np.inf)
        gm[:, ok] = sums[:, ok] / counts[ok]  # log GM(D_l), eq. (4.3.30)
        better = gm > best
        best = np.where(better, gm, best)
        best_shift = np.where(better, o, best_shift)
        for i, c in enumerate(layout.block_class):
            upd = better[:, c] & np.isfinite(blk_log[:, i])
            partial[upd, i] = blk_log[upd, i]
    return IndexResult(index=np.exp(best), shift=best_shift, partial=np.exp(partial))


def activation_indices(H: np.ndarray, layout: BlockLayout, floor: float = 1e-30) -> IndexResult:
    """Class score for models without the diagonal structure (plain NMF baselines, T = 1).

    I(l) = geometric mean over frames of the total activation Σ_{s ∈ blocks of l} H[s, j]. Not in
    the thesis: the score of the fixed-dictionary KL-NMF baselines.
    """
    H = np.asarray(H, dtype=np.float64)
    if H.ndim == 2:
        H = H[None]
    offs = layout.offsets()
    B = H.shape[0]
    act = np.zeros((B, layout.n_classes, H.shape[2]))
    partial = np.zeros((B, layout.n_target_blocks))
    for i, c in enumerate(layout.block_class):
        blk = H[:, offs[i] : offs[i + 1], :].sum(1)
        act[:, c] += blk
        partial[:, i] = np.exp(np.log(np.maximum(blk, floor)).mean(1))
    index = np.exp(np.log(np.maximum(act, floor)).mean(2))
    return IndexResult(index=index, shift=np.zeros(index.shape, dtype=np.int64), partial=partial)


# ------------------------------------------------------------------------------ thresholds
def fit_thresholds(I_nohit: np.ndarray, rule: str = "gm", margin: float = 1.0) -> np.ndarray:
    """Per-class thresholds τ_l (eq. 4.3.32) from the indices of no-hit mixtures, (Q0, L) -> (L,)."""
    I_nohit = np.asarray(I_nohit, dtype=np.float64)
    if I_nohit.ndim != 2 or I_nohit.shape[0] == 0:
        raise ShapeError(
            f"need indices of at least one no-hit mixture, got shape {I_nohit.shape}",
            "include background-only mixtures in the training set",
        )
    if rule == "gm":
        tau = np.exp(np.log(np.maximum(I_nohit, _TINY)).mean(0))
    elif rule == "max":
        tau = I_nohit.max(0)
    else:
        raise ValueDomainError(f"unknown threshold rule {rule!r}", f"use one of {THRESHOLD_RULES}")
    return tau * float(margin)


def fit_fpr_thresholds(
    index: np.ndarray,
    label_sets: Sequence[Sequence[int]],
    fpr: float = 0.05,
    margin: float = 1.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Thresholds for a stated false-positive rate, fitted on training mixtures only.

    For class l the *negatives* are the training mixtures that do not hold l (no-hit mixtures
    and hits of the other classes: both must stay below τ_l for a set-exact decision). Their log
    indices are modelled as Gaussian, and ln τ_l = μ_l + z σ_l (+ ln margin) with
    z = Φ⁻¹(1 - fpr/L): each class then fires on a fraction fpr/L of the negatives, so "any
    class" fires on at most about ``fpr`` of the no-hit mixtures (union bound). A parametric fit
    because a preset has ~10-50 negatives per class: an empirical (1 - fpr/L) quantile needs far
    more. With fewer than 3 negatives the rule falls back to their maximum.

    The stated rate is checked by leave-one-out cross-validation on the training mixtures (each
    mixture scored with thresholds fitted without it): returned as ``cv``.

    Parameters
    ----------
    index : (Q, L) indices of the training mixtures. label_sets : classes held by each.
    fpr : target false-positive rate ("any class") on no-hit mixtures, in (0, 1).

    Returns
    -------
    tau : (L,) thresholds. cv : {"fp_per_class": (L,) LOO false-positive rate of each class on
    its negatives, "fp_any_nohit": LOO rate of no-hit mixtures with any class over threshold,
    "tp_per_class": (L,) LOO rate of each class's mixtures over its threshold, "z": z}.
    """
    from statistics import NormalDist

    if not 0.0 < fpr < 1.0:
        raise ValueDomainError(f"fpr must be in (0, 1), got {fpr!r}", "e.g. fpr = 0.05")
    logI = np.log(np.maximum(np.asarray(index, dtype=np.float64), _TINY))
    if logI.ndim != 2 or logI.shape[0] != len(label_sets):
        raise ShapeError(f"index has shape {logI.shape} for {len(label_sets)} label sets")
    Q, L = logI.shape
    z = NormalDist().inv_cdf(1.0 - fpr / L)
    held = np.zeros((Q, L), dtype=bool)
    for q, cs in enumerate(label_sets):
        held[q, list(cs)] = True
    tau = np.zeros(L)
    loo_thr = np.full((Q, L), np.inf)  # ln τ_l fitted without mixture q
    for c in range(L):
        x = logI[~held[:, c], c]
        n = x.size
        if n == 0:
            raise ShapeError(
                f"class {c} has no negative training mixture (one without it)",
                "include no-hit mixtures in the training set",
            )
        if n < 3:
            tau[c] = float(x.max())
            loo_thr[:, c] = tau[c]
            continue
        mu, sd = float(x.mean()), float(x.std(ddof=1))
        tau[c] = mu + z * sd
        # leave-one-out: without a negative i, mean and variance of the other n - 1
        S, SS = x.sum(), (x * x).sum()
        mu_i = (S - x) / (n - 1)
        var_i = np.maximum((SS - x * x - (n - 1) * mu_i * mu_i) / (n - 2), 0.0)
        loo_thr[:, c] = tau[c]
        loo_thr[~held[:, c], c] = mu_i + z * np.sqrt(var_i)
    log_margin = float(np.log(margin))
    over = logI > loo_thr + log_margin
    nohit = ~held.any(1)
    with np.errstate(invalid="ignore"):
        cv = {
            "fp_per_class": [float(over[~held[:, c], c].mean()) for c in range(L)],
            "fp_any_nohit": float(over[nohit].any(1).mean()) if nohit.any() else None,
            "tp_per_class": [
                float(over[held[:, c], c].mean()) if held[:, c].any() else None for c in range(L)
            ],
            "z": float(z),
            "loo_set_exact": float(np.mean(np.all(over == held, axis=1))),
        }
    return np.exp(tau + log_margin), cv


def fit_calibration(
    index: np.ndarray, label_sets: Sequence[Sequence[int]], l2: float = 1e-2, n_iter: int = 50
) -> np.ndarray:
    """Per-class logistic calibration (Platt scaling) of the log indices: P(l present | I) =
    σ(a_l ln I(l) + b_l), fitted by Newton's method on the training mixtures with a small ridge
    ``l2`` on a_l (separable classes would otherwise drive a_l to infinity). Returns (L, 2) [a, b].
    The log index is centred and scaled per class first (stored in the fit), so ``l2`` has one
    meaning for every dataset: the returned a, b act on the raw ln I."""
    logI = np.log(np.maximum(np.asarray(index, dtype=np.float64), _TINY))
    Q, L = logI.shape
    out = np.zeros((L, 2))
    for c in range(L):
        y = np.array([1.0 if c in s else 0.0 for s in label_sets])
        x = logI[:, c]
        mu, sd = float(x.mean()), float(x.std()) or 1.0
        u = (x - mu) / sd
        # prior counts (Platt 1999): targets (n+ + 1)/(n+ + 2) and 1/(n- + 2), never 0 or 1
        npos, nneg = y.sum(), Q - y.sum()
        t = np.where(y > 0, (npos + 1) / (npos + 2), 1 / (nneg + 2))
        w = np.zeros(2)  # [a, b] on u
        for _ in range(n_iter):
            p = 1 / (1 + np.exp(-(w[0] * u + w[1])))
            g = np.array([((p - t) * u).sum() + l2 * w[0], (p - t).sum()])
            r = p * (1 - p)
            Hm = np.array([[(r * u * u).sum() + l2, (r * u).sum()], [(r * u).sum(), r.sum()]])
            step = np.linalg.solve(Hm + 1e-12 * np.eye(2), g)
            w = w - step
            if np.abs(step).max() < 1e-10:
                break
        out[c] = [w[0] / sd, w[1] - w[0] * mu / sd]
    return out


def calibrated_probability(index: np.ndarray, calib: np.ndarray) -> np.ndarray:
    """P(l present) = σ(a_l ln I(l) + b_l) for (B, L) indices and (L, 2) :func:`fit_calibration`."""
    logI = np.log(np.maximum(np.atleast_2d(np.asarray(index, dtype=np.float64)), _TINY))
    z = logI * calib[:, 0][None, :] + calib[:, 1][None, :]
    return 1 / (1 + np.exp(-np.clip(z, -700, 700)))


def decide(index: np.ndarray, thresholds: np.ndarray | None, top_k: int = 1) -> list[list[int]]:
    """Eq. (4.3.32) per mixture: classes with I(l) > τ_l, the ``top_k`` largest first."""
    index = np.atleast_2d(np.asarray(index, dtype=np.float64))
    out = []
    for row in index:
        cand = np.arange(row.size) if thresholds is None else np.flatnonzero(row > thresholds)
        order = cand[np.argsort(-row[cand], kind="stable")]
        out.append([int(c) for c in order[:top_k]])
    return out


# -------------------------------------------------------------------- uncertainty reduction
def fit_ur_matrix(
    I_Q: np.ndarray, labels: np.ndarray, beta: float = 1.0, n_iter: int = 2000, eps: float = 1e-12
) -> np.ndarray:
    """Â ≥ 0 minimising D_β(I_Q, Â Î_Q), eq. (4.3.36). I_Q: (L, Q) indices, labels: (L', Q) -> (L, L')."""
    I_Q = np.asarray(I_Q, dtype=np.float64)
    Lb = np.asarray(labels, dtype=np.float64)
    if I_Q.shape[1] != Lb.shape[1]:
        raise ShapeError(f"{I_Q.shape[1]} index vectors but {Lb.shape[1]} label vectors")
    if not np.any(Lb.sum(1) > 0):
        raise ValueDomainError("no training mixture has a label", "include hit mixtures")
    A = np.full((I_Q.shape[0], Lb.shape[0]), max(float(I_Q.mean()), eps))
    for _ in range(n_iter):
        V = A @ Lb + eps
        pos, neg = beta_gradient_parts(V, I_Q, beta)
        A = np.maximum(eps, A * (neg @ Lb.T) / (pos @ Lb.T + eps))  # (3.2.27)
    return A


def ur_infer(
    index: np.ndarray,
    A: np.ndarray,
    beta: float = 1.0,
    alpha: float = 0.0,
    p: float = 0.25,
    n_iter: int = 500,
    n_penalized: int | None = None,
    eps: float = 1e-12,
    prior: str = "alpha_p",
) -> np.ndarray:
    """Î of eq. (4.3.37) with the ℓp prior (4.3.38), multiplicative update (3.2.26).

    ``prior``: the weight of Î^(p-1) in the denominator, ``"alpha_p"`` = α p (the gradient of
    α‖Î‖_p^p) or ``"alpha"`` = α (as the thesis' authors apply it: the same family of priors,
    α rescaled by 1/p).

    index : (B, L) or (L,) detection indices. A : (L, L') from :func:`fit_ur_matrix`.
    n_penalized : the first ``n_penalized`` latent entries carry the penalty (default: all).
    Returns Î, (B, L').
    """
    Ix = np.atleast_2d(np.asarray(index, dtype=np.float64)).T  # (L, B)
    A = np.asarray(A, dtype=np.float64)
    Lp = A.shape[1]
    npen = Lp if n_penalized is None else int(n_penalized)
    pen_mask = (np.arange(Lp) < npen)[:, None]
    Ih = np.ones((Lp, Ix.shape[1]))
    for _ in range(n_iter):
        V = A @ Ih + eps
        pos, neg = beta_gradient_parts(V, Ix, beta)
        w = prior_weight(alpha, p, prior)
        grad_pen = w * np.maximum(Ih, eps) ** (p - 1.0) * pen_mask  # ∇ α‖Î‖_p^p
        Ih = np.maximum(eps, Ih * (A.T @ neg) / (A.T @ pos + grad_pen + eps))  # (3.2.26)
    return Ih.T


UR_PRIORS = ("alpha_p", "alpha")
UR_RULES = ("fixed", "nohit_max")


def prior_weight(alpha: float, p: float, prior: str) -> float:
    """Weight of Î^(p-1) in the update's denominator: α p (``alpha_p``) or α (``alpha``)."""
    if prior == "alpha_p":
        return float(alpha) * float(p)
    if prior == "alpha":
        return float(alpha)
    raise ValueDomainError(f"unknown ur_prior {prior!r}", f"use one of {UR_PRIORS}")


@dataclass
class UncertaintyReduction:
    """Fitted uncertainty-reduction model (4.3.34-4.3.39) — see the module docstring.

    Attributes beyond the thesis' α, p, β
    -------------------------------------
    nohit_label : label of every class on a no-hit training mixture (0: the thesis' one-hot
        labels; the authors use a small positive value, about 1e-2 for β = 0, so no-hit
        mixtures still shape Â).
    prior : ``"alpha_p"`` or ``"alpha"`` (:func:`prior_weight`).
    rule : ``"fixed"``: a class is reported when Î_l > ``threshold`` (0.5 on the 0/1 label
        scale); ``"nohit_max"``: when Î_l > ``factor`` x the largest Î_l seen on the no-hit
        training mixtures (the authors' rule), stored per class in ``class_threshold``.
    """

    beta: float = 1.0
    alpha: float = 0.0
    p: float = 0.25
    background: bool = False
    threshold: float = 0.5
    scale: float = 1.0
    A: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    nohit_label: float = 0.0
    prior: str = "alpha_p"
    rule: str = "fixed"
    factor: float = 1.0
    class_threshold: np.ndarray | None = None

    def class_thresholds(self) -> np.ndarray:
        """(L,) thresholds on Î_l (what the device compares, golden/detect.py)."""
        if self.class_threshold is not None:
            return np.asarray(self.class_threshold, dtype=np.float64)
        return np.full(self.A.shape[0], float(self.threshold))

    def _labels(self, label_sets: Sequence[Sequence[int]], n_classes: int) -> np.ndarray:
        Q = len(label_sets)
        Lb = np.zeros((n_classes + int(self.background), Q))
        for q, cs in enumerate(label_sets):
            if not cs:
                Lb[:n_classes, q] = self.nohit_label
            for c in cs:
                Lb[c, q] = 1.0
        if self.background:
            Lb[n_classes] = 1.0
        return Lb

    def _fit_rule(self, I_Q: np.ndarray, label_sets: Sequence[Sequence[int]]) -> None:
        if self.rule == "fixed":
            self.class_threshold = None
            return
        if self.rule != "nohit_max":
            raise ValueDomainError(f"unknown ur_rule {self.rule!r}", f"use one of {UR_RULES}")
        nohit = [q for q, s in enumerate(label_sets) if not s]
        if not nohit:
            raise ValueDomainError(
                "ur_rule nohit_max needs no-hit training mixtures", "include some or use fixed"
            )
        lat = self.latent(np.asarray(I_Q)[nohit])
        self.class_threshold = float(self.factor) * lat.max(0)

    def fit_cv(
        self,
        I_Q: np.ndarray,
        label_sets: Sequence[Sequence[int]],
        n_classes: int,
        alphas: Sequence[float] = (0.0, 0.01, 0.1, 1.0),
        factors: Sequence[float] = (1.0, 1.25, 1.5, 2.0, 3.0),
        n_folds: int = 5,
        seed: int = 0,
    ) -> UncertaintyReduction:
        """Choose α and (rule ``nohit_max``) the factor by ``n_folds``-fold cross-validation on
        the training mixtures (set-exact accuracy of the held-out folds; ties: smaller α, then
        larger factor), then fit on all of them. Stores the CV accuracy in ``cv_accuracy``."""
        I_Q = np.asarray(I_Q, dtype=np.float64)
        Q = len(label_sets)
        folds = np.random.default_rng(seed).permutation(Q) % max(2, min(n_folds, Q))
        facs = list(factors) if self.rule == "nohit_max" else [self.factor]
        best: tuple[float, float, float] | None = None
        for a in alphas:
            correct = np.zeros(len(facs))
            for k in np.unique(folds):
                tr = np.flatnonzero(folds != k)
                te = np.flatnonzero(folds == k)
                ls_tr = [label_sets[int(q)] for q in tr]
                if not any(ls_tr) or (self.rule == "nohit_max" and all(ls_tr)):
                    continue
                u = replace(self, alpha=float(a))
                u.fit(I_Q[tr], ls_tr, n_classes)
                lat_te = u.latent(I_Q[te])
                base = u.class_thresholds() / (u.factor if self.rule == "nohit_max" else 1.0)
                for i, f in enumerate(facs):
                    thr = base * (f if self.rule == "nohit_max" else 1.0)
                    pred = decide(lat_te, thr, n_classes)
                    correct[i] += sum(
                        sorted(p_) == sorted(label_sets[int(q)])
                        for p_, q in zip(pred, te, strict=True)
                    )
            for i, f in enumerate(facs):
                key = (correct[i] / Q, -float(a), float(f))
                if best is None or key > best:
                    best = key
        assert best is not None
        self.alpha, self.factor = -best[1], best[2]
        self.cv_accuracy = best[0]
        return self.fit(I_Q, label_sets, n_classes)

    def fit(
        self, I_Q: np.ndarray, label_sets: Sequence[Sequence[int]], n_classes: int
    ) -> UncertaintyReduction:
        """I_Q: (Q, L) indices of the training mixtures; label_sets: classes present per mixture."""
        Lb = self._labels(label_sets, n_classes)
        # Indices are divided by their mean over the training set so that α of the prior does
        # not depend on the (arbitrary) scale of H: the latent Î is on the 0/1 scale of the labels.
        self.scale = float(np.mean(I_Q))
        self.A = fit_ur_matrix(np.asarray(I_Q).T / self.scale, Lb, self.beta)
        self._fit_rule(I_Q, label_sets)
        return self

    def latent(self, index: np.ndarray) -> np.ndarray:
        L = self.A.shape[0]
        Ix = np.asarray(index, dtype=np.float64) / self.scale
        return ur_infer(Ix, self.A, self.beta, self.alpha, self.p, n_penalized=L, prior=self.prior)[
            :, :L
        ]

    def decide(self, index: np.ndarray, top_k: int = 1) -> list[list[int]]:
        lat = self.latent(index)
        return decide(lat, self.class_thresholds(), top_k)

    def to_params(self) -> dict[str, Any]:
        return {
            "beta": float(self.beta),
            "alpha": float(self.alpha),
            "p": float(self.p),
            "background": bool(self.background),
            "threshold": float(self.threshold),
            "scale": float(self.scale),
            "nohit_label": float(self.nohit_label),
            "prior": self.prior,
            "rule": self.rule,
            "factor": float(self.factor),
            "class_threshold": None
            if self.class_threshold is None
            else [float(v) for v in self.class_threshold],
        }

    @classmethod
    def from_params(cls, d: dict[str, Any], A: np.ndarray) -> UncertaintyReduction:
        return cls(
            beta=float(d["beta"]),
            alpha=float(d["alpha"]),
            p=float(d["p"]),
            background=bool(d["background"]),
            threshold=float(d["threshold"]),
            scale=float(d.get("scale", 1.0)),
            A=np.asarray(A, dtype=np.float64),
            nohit_label=float(d.get("nohit_label", 0.0)),
            prior=str(d.get("prior", "alpha_p")),
            rule=str(d.get("rule", "fixed")),
            factor=float(d.get("factor", 1.0)),
            class_threshold=None
            if d.get("class_threshold") is None
            else np.asarray(d["class_threshold"], dtype=np.float64),
        )


# ---------------------------------------------------------------------------- linear readout
READOUT_L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
READOUT_L2_RULES = ("cv", "cv-recorded")  # how readout_l2 is chosen when it is not a number
# what a CV rule scores on the held-out mixtures: set-exact accuracy, or the mean log-loss of
# the readout's probabilities (a proper scoring rule: every judged mixture counts by how sure
# the readout was, not only whether its argmax was right, so 30 judged recordings tell weights
# apart that tie on accuracy)
READOUT_CV_SCORES = ("accuracy", "log-loss")
# the smallest background standard deviation (ln units, 0.43 dB) of a feature's excess block: a
# band whose no-hit training windows all read the same value (the recorder's floor) still moves
# by a few tenths of a dB between recordings
EXCESS_SD_MIN = 0.1


def readout_l2_value(v: Any) -> float | str:
    """``[detection] readout_l2`` of a config: one of :data:`READOUT_L2_RULES` or a number > 0."""
    if isinstance(v, str) and v in READOUT_L2_RULES:
        return v
    try:
        lam = float(v)
    except (TypeError, ValueError):
        lam = float("nan")
    if isinstance(v, bool) or not np.isfinite(lam) or lam <= 0:
        raise ValueDomainError(
            f"readout_l2 must be 'cv', 'cv-recorded' or a number > 0, got {v!r}",
            'e.g. readout_l2 = "cv-recorded" or readout_l2 = 0.01',
        )
    return lam


def readout_cv_score_value(v: Any) -> str:
    """``[detection] readout_cv_score`` of a config: one of :data:`READOUT_CV_SCORES`."""
    return check_choice(
        v, READOUT_CV_SCORES, "readout_cv_score", 'e.g. readout_cv_score = "log-loss"'
    )


def label_set_keys(label_sets: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Each label set as a hashable key: its classes ascending (the readout's folds and weights
    group mixtures by it)."""
    return [tuple(sorted(int(c) for c in s)) for s in label_sets]


def label_set_weights(label_sets: Sequence[Sequence[int]], judge: np.ndarray) -> np.ndarray:
    """(Q,) each mixture's weight in a CV score (a weighted mean over the mixtures) when every
    label set among the judged mixtures (``judge`` (Q,) True) weighs the same: 1 / the number of
    judged mixtures with its label set; 0 for the mixtures not judged."""
    keys = label_set_keys(label_sets)
    counts = Counter(k for k, j in zip(keys, judge, strict=True) if j)
    return np.array([1.0 / counts[k] if j else 0.0 for k, j in zip(keys, judge, strict=True)])


def check_readout_config(dc: dict[str, Any]) -> None:
    """The readout keys of a ``[detection]`` section, each checked as the detector's fit reads it
    (one line for a bad value): called before any training, so that a typo costs no network."""
    _readout_flag(dc.get("readout", False))
    readout_l2_value(dc.get("readout_l2", "cv"))
    readout_cv_score_value(dc.get("readout_cv_score", "accuracy"))
    check_flag(dc.get("readout_cv_balance", False), "readout_cv_balance")
    readout_excess_value(dc.get("readout_excess", 0.0))
    readout_augment_value(dc.get("readout_augment", 0))
    check_readout_input(dc.get("readout_input", DEFAULT_READOUT_INPUT))


def readout_augment_value(v: Any) -> int:
    """``[detection] readout_augment`` of a config: a whole number of mixtures >= 0."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueDomainError(
            f"readout_augment must be a whole number of synthetic mixtures >= 0, got {v!r}",
            "e.g. readout_augment = 18000 (0: the readout trains on the network's mixtures only)",
        )
    return int(v)


def excess_features(F: np.ndarray, mu: np.ndarray, inv_sd: np.ndarray, clip: float) -> np.ndarray:
    """The excess of each readout feature over the no-hit windows, in their standard deviations,
    clipped: e_a = min(max((f_a − μ_a) κ_a, −c), c), κ_a = 1/σ_a. F: (B, r) -> (B, r).

    A band whose background is steady (the recorder's floor, a quiet region of the spectrum)
    has a small σ_a, so a weak hit that lifts it by a few dB moves e_a by many units, where
    the level f_a alone moves by as much as a loud window's engine does elsewhere; the clip
    keeps a loud hit's excess from growing without bound (its level f_a still tells the
    classes apart). Not in the thesis. Float32 twin: golden/detect.py ``readout_f32``."""
    E = (np.asarray(F, dtype=np.float64) - mu[None, :]) * inv_sd[None, :]
    return np.asarray(np.clip(E, -clip, clip))


def check_background(background: tuple[Any, Any], rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A model file's excess-block arrays (μ, κ): finite, (rows,) each, κ > 0 (one line
    otherwise; rows < 0: W's column count is odd, no excess block fits it)."""
    mu, inv_sd = background
    ok = (
        rows > 0
        and mu is not None
        and inv_sd is not None
        and np.shape(mu) == (rows,)
        and np.shape(inv_sd) == (rows,)
    )
    if ok:
        mu = np.asarray(mu, dtype=np.float64)
        inv_sd = np.asarray(inv_sd, dtype=np.float64)
        ok = bool(np.all(np.isfinite(mu)) and np.all(np.isfinite(inv_sd)) and np.all(inv_sd > 0))
    if not ok:
        raise ModelFileError(
            "readout: the excess block needs readout_bg_mu and readout_bg_inv_sd, finite, "
            "one per input row (inv_sd > 0), and W with twice the input's rows as columns",
            "re-create the model with `tinyunfold train`",
        )
    return np.asarray(mu, dtype=np.float64), np.asarray(inv_sd, dtype=np.float64)


def background_stats(F: np.ndarray, nohit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(μ, κ = 1/σ) per column of F (Q, r) over the no-hit rows (σ at least EXCESS_SD_MIN)."""
    if int(np.sum(nohit)) < 2:
        raise ValueDomainError(
            "readout_excess needs at least two no-hit training mixtures in every fit of the "
            "readout, the CV's folds included (the background's spread per feature)",
            "add background-only recordings, or set readout_augment / augment (synthetic "
            "no-hit mixtures), or readout_excess = 0",
        )
    G = F[np.asarray(nohit, dtype=bool)]
    return G.mean(0), 1.0 / np.maximum(G.std(0), EXCESS_SD_MIN)


def readout_log_loss(z: np.ndarray, Y: np.ndarray, idx: np.ndarray, max_hits: int) -> np.ndarray:
    """Per-mixture log-loss of readout scores z (B, S or L) against the truth: −ln softmax(z)[s]
    of the true set s = ``idx`` (label sets) or Σ_c BCE(σ(z_c), Y[:, c]) (one-vs-rest) -> (B,)."""
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    if max_hits:
        zmax = z.max(1, keepdims=True)
        lse = np.log(np.exp(z - zmax).sum(1)) + zmax[:, 0]
        return np.asarray(lse - z[np.arange(z.shape[0]), idx])
    return np.asarray((np.logaddexp(0.0, z) - Y * z).sum(1))


def readout_features(H: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Per-row log sums of the readout's input A (B, rows, n) or (rows, n) -> (B, rows):
    f_a = ln max(Σ_t A[a, t], floor).

    A is H⁽ᴷ⁾ (every atom, target and noise blocks, is a feature) or, with ``readout_input =
    "spectrum"``, the window X̃ (every band is a feature): :func:`readout_source`. Not in the
    thesis (an extension of 4.3.3: the GM indices (4.3.30) read the block diagonals only; this
    reads every row's total in the window). Inputs are scaled to unit mean noise power, so
    ``floor`` means the same for every dataset. Float32 twin: golden/detect.py ``readout_f32``.
    """
    H = np.asarray(H, dtype=np.float64)
    if H.ndim == 2:
        H = H[None]
    if H.ndim != 3:
        raise ShapeError(f"H has shape {H.shape}, expected (B, r, n)")
    return np.log(np.maximum(window_totals(H)[:, :, 0], float(floor)))


def window_totals(A: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Each row's total over the window, (B, rows, n) -> (B, rows, 1): all that
    :func:`readout_features` reads of a window (the same sum, so the same features to the bit),
    at 1/n of the memory: what the readout's training keeps of its many windows. ``A`` may also
    be a list of B windows (rows, n): each is summed alone, never stacked (the same sums)."""
    if isinstance(A, list | tuple):
        return np.stack([np.asarray(a, dtype=np.float64).sum(1, keepdims=True) for a in A])
    return np.asarray(A, dtype=np.float64).sum(2, keepdims=True)


def readout_source(
    readout_input: str, H: np.ndarray | None, X: np.ndarray | None = None
) -> np.ndarray:
    """The readout's input of these windows (the one place that chooses it, host and golden):
    H⁽ᴷ⁾ (B, r, n) for ``"activations"``, the network's input X̃ (B, m', n) for ``"spectrum"``."""
    spectrum = check_readout_input(readout_input) == "spectrum"
    A = X if spectrum else H
    if A is None:
        what = "X~ (the windows' spectrogram)" if spectrum else "H (the network output)"
        raise ValueDomainError(
            f"the {readout_input} readout needs {what}",
            f"pass {'X' if spectrum else 'H'}=... to the readout's decision",
        )
    return A


def _stratified_folds(label_sets: Sequence[Sequence[int]], k: int, seed: int = 0) -> np.ndarray:
    """Fold of each mixture, stratified by label set (each set dealt round-robin over folds)."""
    rng = np.random.default_rng(seed)
    keys = label_set_keys(label_sets)
    folds = np.zeros(len(keys), dtype=np.int64)
    start = 0
    for key in sorted(set(keys)):
        idx = rng.permutation([q for q, kq in enumerate(keys) if kq == key])
        folds[idx] = (start + np.arange(idx.size)) % k
        start += idx.size
    return folds


def _fit_logistic(U: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """min_w,b mean BCE(σ(U w + b), y) + l2/2 ‖w‖² (L-BFGS-B, analytic gradient). U: (Q, r)."""
    from scipy.optimize import minimize

    Q, r = U.shape

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = x[:r], x[r]
        z = U @ w + b
        # BCE = log(1 + e^z) - y z, stable
        loss = float(np.mean(np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * float(w @ w)
        g = (1.0 / (1.0 + np.exp(-np.clip(z, -700, 700))) - y) / Q
        return loss, np.concatenate([U.T @ g + l2 * w, [g.sum()]])

    res = minimize(fun, np.zeros(r + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[:r], float(res.x[r])


def softmax_objective(
    U: np.ndarray, y: np.ndarray, n_sets: int, l2: float
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Mean softmax cross-entropy + l2/2 ‖W‖² of a multinomial readout over label sets and its
    analytic gradient, as a function of x = [W (S, r) row-major, b (S,)].

    z_q = W u_q + b, P_q = softmax(z_q), loss = mean_q (logsumexp(z_q) - z_q[y_q]) + l2/2 ‖W‖²;
    ∂/∂z_q = (P_q - e_{y_q}) / Q, so ∂/∂W = Gᵀ U + l2 W and ∂/∂b = Σ_q G_q. U: (Q, r)
    standardised features, y: (Q,) index of each mixture's label set in the set table.
    """
    Q, r = U.shape
    Y = np.zeros((Q, n_sets))
    Y[np.arange(Q), y] = 1.0

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        W = x[: n_sets * r].reshape(n_sets, r)
        b = x[n_sets * r :]
        z = U @ W.T + b[None, :]
        zmax = z.max(1, keepdims=True)
        e = np.exp(z - zmax)
        se = e.sum(1, keepdims=True)
        lse = np.log(se)[:, 0] + zmax[:, 0]
        loss = float(np.mean(lse - z[np.arange(Q), y])) + 0.5 * l2 * float((W * W).sum())
        G = (e / se - Y) / Q
        return loss, np.concatenate([(G.T @ U + l2 * W).ravel(), G.sum(0)])

    return fun


def _fit_softmax(
    U: np.ndarray, y: np.ndarray, n_sets: int, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    """min over W (S, r), b (S,) of :func:`softmax_objective` (L-BFGS-B, analytic gradient)."""
    from scipy.optimize import minimize

    r = U.shape[1]
    fun = softmax_objective(U, y, n_sets, l2)
    x0 = np.zeros(n_sets * (r + 1))
    res = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return res.x[: n_sets * r].reshape(n_sets, r), res.x[n_sets * r :]


def set_probability(z: np.ndarray) -> np.ndarray:
    """softmax over the sets of scores z (B, S) -> (B, S)."""
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    e = np.exp(z - z.max(1, keepdims=True))
    return np.asarray(e / e.sum(1, keepdims=True))


def class_marginals(z: np.ndarray, table: Sequence[Sequence[int]], n_classes: int) -> np.ndarray:
    """Per-class confidence of the set readout: P(c ∈ set) = Σ_{s ∋ c} softmax(z)_s, (B, L)."""
    P = set_probability(z)
    M = np.zeros((len(table), n_classes))
    for i, s in enumerate(table):
        M[i, list(s)] = 1.0
    return np.asarray(P @ M)


def decide_sets(
    z: np.ndarray, table: Sequence[Sequence[int]], top_k: int | None = None
) -> list[list[int]]:
    """The argmax set of each row of z (B, S) (ties: the lowest set index), its classes ascending,
    at most ``top_k`` of them."""
    z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    out = []
    for row in z:
        best = 0
        for i in range(1, row.size):  # strict >: the first maximum wins (golden/detect.py)
            if row[i] > row[best]:
                best = i
        cs = sorted(int(c) for c in table[best])
        out.append(cs if top_k is None else cs[:top_k])
    return out


@dataclass
class Readout:
    """Linear logistic readout of the per-atom log activations (a decision rule, not in the thesis).

    Two modes, one definition of the features f = :func:`readout_features` (H) and of the scores
    z = b + W f (one row per output):

    * **one-vs-rest** (``max_hits = 0``, ``[detection] readout = true``): L rows, z_c the log-odds
      of class c; class c is a candidate when z_c > threshold_c (0: probability 0.5), at most
      ``top_k`` reported, largest z first (the rule of eq. 4.3.32 on the score z).
      P(c present) = σ(z_c) is the calibrated confidence.
    * **label sets** (``max_hits >= 1``, ``readout = "sets"``): a multinomial logistic regression
      over the S label sets of at most ``max_hits`` classes (``sets``, the table of
      :mod:`tinyunfold.models.labelsets`: empty, singletons, pairs, ...): S rows, P(set) =
      softmax(z); the decision is the argmax set (ties: the lowest set index), its classes in
      ascending order. Row 0 (the empty set) is 0 (the softmax is unchanged by subtracting it),
      so z_s is the log-odds of set s against "no hit" and ``threshold`` (L zeros) is what an
      event's score beat. The per-class confidence is the marginal P(c ∈ set) = Σ_{s ∋ c} P(s).

    Attributes
    ----------
    W : (L or S, r) weights on the raw features (the standardisation is folded in).
    b : (L or S,) biases. threshold : (L,) thresholds on z. floor : clip of the atom sums.
    l2 : the L2 weight used (on standardised features). cv_accuracy : its k-fold set-exact
        accuracy on the training mixtures (None when ``l2`` was given).
    cv_score : what a CV rule minimises the error of: ``"accuracy"`` (set-exact, the default)
        or ``"log-loss"`` (mean held-out log-loss). cv_scores / cv_log_loss : the held-out
        accuracy / mean log-loss of every weight of the grid (on the judged mixtures).
    cv_balance : False (every judged mixture weighs the same in those scores) or True (each
        label set among the judged mixtures weighs the same: :func:`label_set_weights`).
    max_hits : 0 (one-vs-rest) or the largest set size. sets : the set table (label sets mode).
    input : what the features read (models/readout.py): ``"activations"`` (H⁽ᴷ⁾, r = the rank
        columns of W) or ``"spectrum"`` (the window X̃, m' = n_bands columns). The methods below
        take that input A (:meth:`source` picks it from H and X̃).
    excess : 0 (off, the default) or the clip c of the excess block (``[detection]
        readout_excess``): W then has 2 x rows columns, the levels f then their excess
        e = :func:`excess_features` over the no-hit training mixtures (with the readout's own
        further mixtures), each row's (μ, κ = 1/σ) in ``bg_mu``, ``bg_inv_sd`` (rows,). The
        excess block is not standardised again in the fit: it is in background units already.
    """

    floor: float = 1e-6
    l2: float | str = "cv"
    W: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    b: np.ndarray = field(default_factory=lambda: np.zeros(0))
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cv_accuracy: float | None = None
    cv_scores: dict[str, float] = field(default_factory=dict)
    cv_score: str = "accuracy"
    cv_log_loss: dict[str, float] = field(default_factory=dict)
    cv_balance: bool = False
    max_hits: int = 0
    sets: list[tuple[int, ...]] = field(default_factory=list)
    input: str = DEFAULT_READOUT_INPUT
    excess: float = 0.0
    bg_mu: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bg_inv_sd: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_classes(self) -> int:
        return int(self.threshold.size)

    def source(self, H: np.ndarray | None, X: np.ndarray | None = None) -> np.ndarray:
        """This readout's input A of windows with output H and input X̃ (:func:`readout_source`)."""
        return readout_source(self.input, H, X)

    @staticmethod
    def _standardise(
        F: np.ndarray, n_std: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns < ``n_std`` (all: None) to zero mean and unit spread; the rest (the excess
        block, already in background standard deviations) as they are."""
        k = F.shape[1] if n_std is None else int(n_std)
        mu = np.zeros(F.shape[1])
        sd = np.ones(F.shape[1])
        mu[:k] = F[:, :k].mean(0)
        s = F[:, :k].std(0)
        sd[:k] = np.where(s > 1e-12, s, 1.0)
        return (F - mu) / sd, mu, sd

    @staticmethod
    def _fit_w(
        F: np.ndarray, Y: np.ndarray, l2: float, n_std: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One-vs-rest on standardised features, folded back: (L, r) W and (L,) b on raw F."""
        U, mu, sd = Readout._standardise(F, n_std)
        L, r = Y.shape[1], F.shape[1]
        W = np.zeros((L, r))
        b = np.zeros(L)
        for c in range(L):
            w, bc = _fit_logistic(U, Y[:, c], l2)
            W[c] = w / sd  # z = w·(f - mu)/sd + bc
            b[c] = bc - float((w * mu / sd).sum())
        return W, b

    @staticmethod
    def _fit_sets_w(
        F: np.ndarray, y: np.ndarray, n_sets: int, l2: float, n_std: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Softmax over label sets on standardised features, folded back to raw F, row 0 (the
        empty set) subtracted from every row: (S, r) W with W[0] = 0 and (S,) b with b[0] = 0."""
        U, mu, sd = Readout._standardise(F, n_std)
        Ws, bs = _fit_softmax(U, y, n_sets, l2)
        W = Ws / sd[None, :]  # z_s = w_s·(f - mu)/sd + b_s
        b = bs - (Ws * (mu / sd)[None, :]).sum(1)
        return W - W[0][None, :], b - b[0]

    def _targets(
        self, label_sets: Sequence[Sequence[int]], n_classes: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(Q, L) one-hot class labels and (Q,) set-table index of each label set (sets mode)."""
        Q = len(label_sets)
        Y = np.zeros((Q, n_classes))
        idx = np.zeros(Q, dtype=np.int64)
        where = {s: i for i, s in enumerate(self.sets)}
        for q, s in enumerate(label_sets):
            Y[q, list(s)] = 1.0
            if self.max_hits:
                key = tuple(sorted({int(c) for c in s}))
                if key not in where:
                    raise ValueDomainError(
                        f"training mixture {q} holds {len(key)} classes, the readout's label "
                        f"sets hold at most readout_max_hits = {self.max_hits}",
                        f"set [detection] readout_max_hits = {len(key)}",
                    )
                idx[q] = where[key]
        return Y, idx

    def _fit_rows(
        self, F: np.ndarray, Y: np.ndarray, idx: np.ndarray, l2: float
    ) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Fit on the level features F (Q, r): (W, b, the background statistics (μ, κ) of the
        excess block or None). With ``excess``, the excess of F over the no-hit rows of these
        mixtures joins them (columns r .. 2r − 1; :meth:`_with_excess` applies it)."""
        n_std = None
        stats = None
        if self.excess:
            stats = background_stats(F, Y.sum(1) == 0)
            F = self._with_excess(F, stats)
            n_std = F.shape[1] // 2
        if self.max_hits:
            W, b = self._fit_sets_w(F, idx, len(self.sets), l2, n_std)
        else:
            W, b = self._fit_w(F, Y, l2, n_std)
        return W, b, stats

    def _with_excess(
        self, F: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        if stats is None:
            return F
        return np.concatenate([F, excess_features(F, stats[0], stats[1], self.excess)], 1)

    def features(self, H: np.ndarray) -> np.ndarray:
        """The readout's features of input A (B, rows, n): the levels f (:func:`readout_features`)
        and, with ``excess``, their excess block (:func:`excess_features`): (B, rows or 2 rows)."""
        stats = (self.bg_mu, self.bg_inv_sd) if self.excess else None
        return self._with_excess(readout_features(H, self.floor), stats)

    def _decide_z(self, z: np.ndarray, top_k: int) -> list[list[int]]:
        if self.max_hits:
            return decide_sets(z, self.sets, top_k)
        return decide(z, self.threshold, top_k)

    def fit(
        self,
        H: np.ndarray,
        label_sets: Sequence[Sequence[int]],
        n_classes: int,
        top_k: int | None = None,
        grid: Sequence[float] = READOUT_L2_GRID,
        n_folds: int = 5,
        seed: int = 0,
        recorded: np.ndarray | None = None,
        built_from: Sequence[Sequence[int]] | None = None,
    ) -> Readout:
        """Fit on the readout's input of the training mixtures, H (Q, rows, n) = H⁽ᴷ⁾ or X̃
        (:meth:`source`), with their label sets; ``l2 = "cv"`` picks the
        L2 weight from ``grid`` by ``n_folds``-fold CV (stratified by label set, set-exact
        accuracy; ties: the larger weight). ``l2 = "cv-recorded"``: the same folds, but a weight
        is scored on the held-out mixtures flagged in ``recorded`` (Q,) only, the recordings of
        the monitored machine as opposed to the synthetic mixtures of ``augment`` (which still
        train every fold): where the synthetic mixtures differ from the machine (another
        chain, mounting or sensor made the templates), the CV on them favours weights that fit
        their details; ``recorded`` None or all False: every mixture. ``max_hits`` (set before
        fitting) selects the label-sets mode. ``cv_score = "log-loss"``: the weight with the
        smallest mean held-out log-loss (:func:`readout_log_loss`) wins instead of the most
        accurate one (ties: the larger weight, both scores). ``built_from`` (Q lists): the
        mixtures (indices into the Q) whose audio each mixture was built from, e.g. a synthetic
        mixture laid on a recorded no-hit mixture or made with a recorded mixture's clean hit
        (``augment_in_situ_snr_db``); a fold leaves out of its fit every mixture built from one
        it holds out, so that no held-out recording is judged by a readout that saw it.
        ``cv_balance``: both scores weigh each judged label set equally
        (:func:`label_set_weights`), so that a label set recorded far more often than the others
        (hours of background, a few hits) does not decide the weight alone."""
        F = readout_features(H, self.floor)
        Q = F.shape[0]
        if Q != len(label_sets):
            raise ShapeError(f"{Q} mixtures but {len(label_sets)} label sets")
        k_top = n_classes if top_k is None or top_k <= 0 else int(top_k)
        self.threshold = np.zeros(n_classes)
        if self.max_hits:
            self.max_hits = check_max_hits(self.max_hits, n_classes)
            self.sets = label_set_table(n_classes, self.max_hits)
        Y, idx = self._targets(label_sets, n_classes)
        if isinstance(self.l2, str):
            rule = readout_l2_value(self.l2)
            # the mixtures whose held-out decisions score a weight: all ("cv"), or the recorded
            # ones only ("cv-recorded": synthetic mixtures train, recordings judge)
            judge = np.ones(Q, dtype=bool)
            if rule == "cv-recorded" and recorded is not None:
                judge = np.asarray(recorded, dtype=bool).reshape(-1)
                if judge.size != Q:
                    raise ShapeError(f"{Q} mixtures but {judge.size} recorded flags")
                if not judge.any():
                    judge = np.ones(Q, dtype=bool)
            by_loss = readout_cv_score_value(self.cv_score) == "log-loss"
            # each mixture's weight in a score (a weighted mean): 1 per judged mixture, or
            # 1 / its label set's count among them (every judged label set weighs the same)
            weight = judge.astype(np.float64)
            if check_flag(self.cv_balance, "readout_cv_balance"):
                weight = label_set_weights(label_sets, judge)
            folds = _stratified_folds(label_sets, max(2, min(n_folds, Q)), seed)
            # per fold, the mixtures made from one it holds out: they leave its fit
            made_from_held = {int(f): np.zeros(Q, bool) for f in np.unique(folds)}
            if built_from is not None:
                if len(built_from) != Q or any(not 0 <= j < Q for b in built_from for j in b):
                    raise ShapeError(
                        f"built_from must hold {Q} lists of indices in 0..{Q - 1}",
                        "pass the recordings each mixture was made from (built_from_recordings)",
                    )
                for f, mask in made_from_held.items():
                    mask[:] = [any(folds[j] == f for j in b) for b in built_from]
            best: tuple[float, float, float] | None = None  # (score, λ, accuracy)
            for lam in grid:
                right = np.zeros(Q)  # each mixture's held-out decision: right (1) or not
                loss_q = np.zeros(Q)  # and its held-out log-loss
                for f in np.unique(folds):
                    tr, te = (folds != f) & ~made_from_held[int(f)], folds == f
                    W, b, stats = self._fit_rows(F[tr], Y[tr], idx[tr], float(lam))
                    z = self._with_excess(F[te], stats) @ W.T + b
                    held = np.flatnonzero(te)
                    right[held] = [
                        sorted(p) == sorted(label_sets[int(q)])
                        for p, q in zip(self._decide_z(z, k_top), held, strict=True)
                    ]
                    loss_q[held] = readout_log_loss(z, Y[te], idx[te], self.max_hits)
                acc = float(weight @ right / weight.sum())
                loss = float(weight @ loss_q / weight.sum())
                self.cv_scores[f"{lam:g}"] = acc
                self.cv_log_loss[f"{lam:g}"] = loss
                key = (-loss if by_loss else acc, float(lam), acc)
                if best is None or key[:2] > best[:2]:
                    best = key
            assert best is not None
            lam_used = best[1]
            self.cv_accuracy = best[2]
        else:
            lam_used = float(self.l2)
        self.W, self.b, stats = self._fit_rows(F, Y, idx, lam_used)
        if stats is not None:
            self.bg_mu, self.bg_inv_sd = stats
        self.l2 = lam_used if isinstance(self.l2, str) else self.l2
        return self

    def score(self, H: np.ndarray) -> np.ndarray:
        """(B, L) or, for label sets, (B, S) z = b + W f (float64)."""
        return self.features(H) @ self.W.T + self.b[None, :]

    def probability_of_score(self, z: np.ndarray) -> np.ndarray:
        """(B, L) calibrated P(class present) from scores z: σ(z_c) (one-vs-rest) or the
        marginal Σ_{s ∋ c} softmax(z)_s (label sets)."""
        z = np.atleast_2d(np.asarray(z, dtype=np.float64))
        if self.max_hits:
            return class_marginals(z, self.sets, self.n_classes)
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -700, 700))))

    def probability(self, H: np.ndarray) -> np.ndarray:
        """(B, L) calibrated P(class present) (:meth:`probability_of_score`)."""
        return self.probability_of_score(self.score(H))

    def class_scores(self, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A per-class score (B, L) and its thresholds (L,) for rankings: z and ``threshold``
        (one-vs-rest) or the marginal probability and 0.5 (label sets)."""
        if self.max_hits:
            return self.probability(H), np.full(self.n_classes, 0.5)
        return self.score(H), self.threshold

    def decide(self, H: np.ndarray, top_k: int = 1) -> list[list[int]]:
        return self._decide_z(self.score(H), top_k)

    def to_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "floor": float(self.floor),
            "l2": self.l2 if isinstance(self.l2, str) else float(self.l2),
            "threshold": [float(v) for v in self.threshold],
            "cv_accuracy": self.cv_accuracy,
            "cv_scores": dict(self.cv_scores),
            "cv_score": self.cv_score,
            "cv_log_loss": dict(self.cv_log_loss),
            "input": self.input,
        }
        if self.cv_balance:
            out["cv_balance"] = True
        if self.excess:
            out["excess"] = float(self.excess)
        if self.max_hits:
            out["max_hits"] = int(self.max_hits)
            out["sets"] = [[int(c) for c in s] for s in self.sets]
        return out

    @classmethod
    def from_params(
        cls,
        d: dict[str, Any],
        W: np.ndarray,
        b: np.ndarray,
        n_classes: int | None = None,
        width: tuple[int, int] | None = None,
        background: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    ) -> Readout:
        """From a model file; ``n_classes`` (the detector's L) checks the threshold count,
        ``width`` = (rank r, n_bands m') of the layout the columns of W (r for the activations
        input, m' for the spectrum, twice that with ``excess``); ``background``: the arrays
        (μ, κ) of the excess block."""
        readout_input = model_readout_input(d)
        excess = model_readout_excess(d)
        W = np.asarray(W, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        max_hits = d.get("max_hits", 0)
        sets: list[tuple[int, ...]] = []
        L = b.size if n_classes is None else int(n_classes)
        thr = np.asarray(d.get("threshold", [0.0] * L), dtype=np.float64)
        if max_hits != 0 or "sets" in d:
            sets = check_set_table(d.get("sets"), max_hits, L)
        rows = len(sets) if sets else L
        if W.ndim != 2 or W.shape[0] != rows or b.shape != (rows,) or thr.shape != (L,):
            raise ShapeError(
                f"readout arrays W {W.shape}, b {b.shape}, threshold {thr.shape} do not match "
                f"{rows} outputs of {L} classes",
                "re-create the model with `tinyunfold train`",
            )
        if width is not None:
            cols = readout_columns(readout_input, *width, excess)
            if W.shape[1] != cols:
                rows_of = "rows of H (rank)" if readout_input == "activations" else "bands of X~"
                raise ShapeError(
                    f"readout_W has {W.shape[1]} columns, the {readout_input} readout reads "
                    f"{cols} ({rows_of})",
                    "re-create the model with `tinyunfold train`",
                )
        mu = inv_sd = np.zeros(0)
        if excess:
            mu, inv_sd = (np.asarray(a, dtype=np.float64) for a in check_background(
                background, W.shape[1] // 2 if W.shape[1] % 2 == 0 else -1
            ))  # fmt: skip
        l2 = d.get("l2", "cv")
        return cls(
            excess=excess,
            bg_mu=mu,
            bg_inv_sd=inv_sd,
            floor=float(d.get("floor", 1e-6)),
            l2=l2 if isinstance(l2, str) else float(l2),
            W=W,
            b=b,
            threshold=thr,
            cv_accuracy=None if d.get("cv_accuracy") is None else float(d["cv_accuracy"]),
            cv_scores=dict(d.get("cv_scores") or {}),
            cv_score=readout_cv_score_value(d.get("cv_score", "accuracy")),
            cv_log_loss=dict(d.get("cv_log_loss") or {}),
            cv_balance=check_flag(d.get("cv_balance", False), "readout cv_balance"),
            max_hits=int(max_hits) if sets else 0,
            sets=sets,
            input=readout_input,
        )


# ---------------------------------------------------------------------------- the detector
@dataclass
class Detector:
    """Indices + thresholds (4.3.32) + optional uncertainty reduction, as stored in a model file.

    Attributes
    ----------
    shifted : time-shifted indices (max over off-diagonals).
    rule, margin : threshold rule and factor used to fit ``thresholds`` (L,).
    top_k : number of hits reported at most per mixture.
    ur : fitted :class:`UncertaintyReduction` (or None).
    train_index : (Q, L) indices of the training mixtures, train_labels their label sets (kept so
        reports can refit the uncertainty reduction for every β without the training data).
    """

    shifted: bool
    rule: str
    margin: float
    thresholds: np.ndarray
    top_k: int = 1
    ur: UncertaintyReduction | None = None
    train_index: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    train_labels: list[list[int]] = field(default_factory=list)
    activation: bool = False
    fpr: float | None = None
    threshold_cv: dict[str, Any] = field(default_factory=dict)
    calibration: np.ndarray | None = None
    floor: float = 1e-30
    readout: Readout | None = None

    def confidence(self, index: np.ndarray) -> np.ndarray | None:
        """(B, L) calibrated probability that each class is present (None: not calibrated)."""
        if self.calibration is None:
            return None
        return calibrated_probability(index, self.calibration)

    def indices(self, H: np.ndarray, layout: BlockLayout) -> IndexResult:
        if self.activation:
            return activation_indices(H, layout)
        return detection_indices(H, layout, shifted=self.shifted, floor=self.floor)

    def decide(
        self,
        index: np.ndarray,
        method: str = "threshold",
        H: np.ndarray | None = None,
        X: np.ndarray | None = None,
    ) -> list[list[int]]:
        """Decisions of ``method`` per mixture: ``threshold`` and ``ur`` read the indices,
        ``readout`` its input: the network output H (B, r, n) or, for a spectrum readout, the
        windows X̃ (B, m', n) (:class:`Readout`)."""
        if method == "readout":
            if self.readout is None:
                raise ValueDomainError(
                    "this model has no readout",
                    'train it with [detection] readout = true or readout = "sets"',
                )
            return self.readout.decide(self.readout.source(H, X), self.top_k)
        if method == "threshold":
            return decide(index, self.thresholds, self.top_k)
        if method == "ur":
            if self.ur is None:
                raise ValueDomainError(
                    "this model has no uncertainty-reduction matrix",
                    "re-create it with training mixtures",
                )
            return self.ur.decide(index, self.top_k)
        raise ValueDomainError(
            f"unknown decision method {method!r}", "use threshold, ur or readout"
        )

    def baseline_options(self) -> dict[str, Any]:
        """How baselines are scored next to this detector: same indices, rule, margin, top_k."""
        return {
            "shifted": self.shifted,
            "rule": self.rule,
            "margin": self.margin,
            "top_k": self.top_k,
            "ur_beta": None,
            "fpr": 0.05 if self.fpr is None else self.fpr,
            "floor": None if self.floor != 1e-30 else 1e-30,  # selected the same way
        }

    def to_params(self) -> dict[str, Any]:
        return {
            "shifted": bool(self.shifted),
            "rule": self.rule,
            "margin": float(self.margin),
            "top_k": int(self.top_k),
            "activation": bool(self.activation),
            "ur": None if self.ur is None else self.ur.to_params(),
            "train_labels": [[int(c) for c in s] for s in self.train_labels],
            "fpr": self.fpr,
            "threshold_cv": self.threshold_cv,
            "floor": float(self.floor),
            "readout": None if self.readout is None else self.readout.to_params(),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        out = {
            "thresholds": np.asarray(self.thresholds, dtype=np.float64),
            "train_index": np.asarray(self.train_index, dtype=np.float64),
        }
        if self.ur is not None:
            out["ur_matrix"] = np.asarray(self.ur.A, dtype=np.float64)
        if self.calibration is not None:
            out["calibration"] = np.asarray(self.calibration, dtype=np.float64)
        if self.readout is not None:
            out["readout_W"] = np.asarray(self.readout.W, dtype=np.float64)
            out["readout_b"] = np.asarray(self.readout.b, dtype=np.float64)
            if self.readout.excess:
                out["readout_bg_mu"] = np.asarray(self.readout.bg_mu, dtype=np.float64)
                out["readout_bg_inv_sd"] = np.asarray(self.readout.bg_inv_sd, dtype=np.float64)
        return out

    @classmethod
    def from_model(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> Detector:
        d = params["detection"]
        ur = None
        if d.get("ur") is not None and "ur_matrix" in arrays:
            ur = UncertaintyReduction.from_params(d["ur"], arrays["ur_matrix"])
        readout = None
        if d.get("readout") is not None and "readout_W" in arrays and "readout_b" in arrays:
            lay = params.get("layout")
            width = None
            if isinstance(lay, dict) and isinstance(lay.get("ranks"), list) and "n_bins" in lay:
                width = (int(sum(lay["ranks"])), int(lay["n_bins"]))
            readout = Readout.from_params(
                d["readout"],
                arrays["readout_W"],
                arrays["readout_b"],
                n_classes=int(np.asarray(arrays["thresholds"]).size),
                width=width,
                background=(arrays.get("readout_bg_mu"), arrays.get("readout_bg_inv_sd")),
            )
        return cls(
            shifted=bool(d["shifted"]),
            rule=str(d["rule"]),
            margin=float(d["margin"]),
            thresholds=np.asarray(arrays["thresholds"], dtype=np.float64),
            top_k=int(d.get("top_k", 1)),
            ur=ur,
            train_index=np.asarray(arrays.get("train_index", np.zeros((0, 0)))),
            train_labels=[list(s) for s in d.get("train_labels", [])],
            activation=bool(d.get("activation", False)),
            fpr=None if d.get("fpr") is None else float(d["fpr"]),
            threshold_cv=dict(d.get("threshold_cv") or {}),
            calibration=None
            if "calibration" not in arrays
            else np.asarray(arrays["calibration"], dtype=np.float64),
            floor=float(d.get("floor", 1e-30)),
            readout=readout,
        )


def fit_detector(
    H_train: np.ndarray,
    label_sets: Sequence[Sequence[int]],
    layout: BlockLayout,
    shifted: bool = False,
    rule: str = "gm",
    margin: float = 1.0,
    top_k: int = 1,
    ur_beta: float | None = 0.0,
    ur_alpha: float = 0.1,
    ur_p: float = 0.25,
    ur_background: bool = False,
    activation: bool = False,
    fpr: float = 0.05,
    ur_nohit_label: float = 0.0,
    ur_prior: str = "alpha_p",
    ur_rule: str = "fixed",
    ur_factor: float | None = 1.0,
    floor: float | None = 1e-30,
    readout: bool | str = False,
    readout_floor: float = 1e-6,
    readout_l2: float | str = "cv",
    readout_cv_score: str = "accuracy",
    readout_cv_balance: bool = False,
    readout_excess: float = 0.0,
    readout_max_hits: int = 2,
    readout_input: str = DEFAULT_READOUT_INPUT,
    X_train: np.ndarray | None = None,
    recorded: np.ndarray | None = None,
    readout_extra: ReadoutExtra | None = None,
    built_from: Sequence[Sequence[int]] | None = None,
) -> Detector:
    """Fit thresholds on the no-hit training mixtures and Â on all training mixtures.

    ``top_k <= 0`` (the default of the training configs, not of this function, whose defaults
    are the thesis' rules) reports every class over its threshold (set-valued decisions: a
    two-hit mixture can be exactly right); it is stored as ``top_k = L``, so the device's top-k
    selection (golden/detect.py) runs it unchanged.

    ``readout``: False (none), True (one-vs-rest) or ``"sets"`` (the multinomial readout over the
    label sets of at most ``readout_max_hits`` classes, :class:`Readout`), fitted on
    ``readout_input``: ``"activations"`` (H_train) or ``"spectrum"`` (X_train (Q, m', n), the
    network's input windows X̃ of the same mixtures, or their :func:`window_totals` (Q, m', 1),
    all the readout reads of them). ``recorded`` (Q,) flags the recorded (not synthetic)
    training mixtures, read by ``readout_l2 = "cv-recorded"`` (:meth:`Readout.fit`);
    ``readout_cv_score``: what a CV rule of ``readout_l2`` scores (``"accuracy"`` or
    ``"log-loss"``), ``readout_cv_balance``: with each judged label set weighed the same;
    ``readout_excess`` > 0: the excess block of the features over the no-hit mixtures, clipped
    there (:func:`excess_features`). ``readout_extra``: further synthetic
    mixtures that train the readout only (``[detection] readout_augment``), appended after the
    training mixtures as not recorded; the thresholds, Â and the checks never see them.
    ``built_from`` (Q lists of indices into the training mixtures; ``readout_extra.built_from``
    likewise): the recordings each synthetic mixture was made from, held out with them in the
    readout's cross-validation (:meth:`Readout.fit`).
    """
    if top_k <= 0:
        top_k = layout.n_classes
    max_hits = 0
    if readout == "sets":
        max_hits = check_max_hits(readout_max_hits, layout.n_classes)
        if max_hits > top_k:
            raise ValueDomainError(
                f"readout_max_hits = {max_hits} but top_k = {top_k}: the chosen label set "
                "could not be reported whole",
                "set [detection] top_k = 0 (every class) or readout_max_hits <= top_k",
            )
    nohit = np.array([len(s) == 0 for s in label_sets])
    if floor is None and activation:
        floor = 1e-30
    elif floor is None:  # the index floor by leave-one-out set-exact accuracy on training data
        floor = select_floor(H_train, label_sets, layout, shifted, fpr, margin)
    res = (
        activation_indices(H_train, layout)
        if activation
        else detection_indices(H_train, layout, shifted=shifted, floor=floor)
    )
    cv: dict[str, Any] = {}
    if rule == "fpr":
        if not nohit.any():
            raise ShapeError(
                "need at least one no-hit training mixture", "include background-only mixtures"
            )
        tau, cv = fit_fpr_thresholds(res.index, label_sets, fpr, margin)
    else:
        tau = fit_thresholds(res.index[nohit], rule, margin)
    if not activation:
        tau = np.maximum(tau, float(floor) * FLOOR_THRESHOLD_FACTOR)
    ur = None
    if ur_beta is not None and (~nohit).any():
        ur = UncertaintyReduction(
            beta=ur_beta,
            alpha=ur_alpha,
            p=ur_p,
            background=ur_background,
            nohit_label=ur_nohit_label,
            prior=ur_prior,
            rule=ur_rule,
            factor=1.0 if ur_factor is None else ur_factor,
        )
        if ur_factor is None:  # α and the factor by cross-validation on the training mixtures
            ur.fit_cv(res.index, label_sets, layout.n_classes)
        else:
            ur.fit(res.index, label_sets, layout.n_classes)
    ro = None
    if readout:
        ro = Readout(
            floor=float(readout_floor),
            l2=readout_l2,
            cv_score=readout_cv_score,  # checked by Readout.fit
            cv_balance=readout_cv_balance,  # likewise
            excess=readout_excess_value(readout_excess),
            max_hits=max_hits,
            input=check_readout_input(readout_input),
        )
        width = readout_width(ro.input, layout.rank, layout.n_bins)
        A = _readout_input(
            ro.source(H_train, X_train), len(label_sets), (width, None),
            f"the {ro.input} readout's training input",
            "pass the training mixtures' windows (X_train for the spectrum)",
        )  # fmt: skip
        # the readout reads each row's total over the window only (readout_features): the
        # windows are reduced to (Q, width, 1) before they are joined (bounded memory)
        A = window_totals(A)
        fit_sets = [list(ls) for ls in label_sets]
        if readout_extra is not None:
            A2 = _readout_input(
                ro.source(readout_extra.H, readout_extra.X), len(readout_extra.labels),
                (width, None), "the readout's further mixtures",
                "build them with the training mixtures' front-end (train_from_dataset)",
            )  # fmt: skip
            A2 = window_totals(A2)
            rec = np.ones(len(A), bool) if recorded is None else np.asarray(recorded, bool)
            recorded = np.concatenate([rec.reshape(-1), np.zeros(len(A2), bool)])
            if built_from is not None or readout_extra.built_from is not None:
                built_from = [*(built_from or [[]] * len(A))]  # none known: built from nothing
                built_from += readout_extra.built_from or [[]] * len(A2)
            A = np.concatenate([A, A2])
            fit_sets += [list(ls) for ls in readout_extra.labels]
        ro.fit(A, fit_sets, layout.n_classes, top_k, recorded=recorded, built_from=built_from)
    return Detector(
        shifted=shifted,
        rule=rule,
        margin=margin,
        thresholds=tau,
        top_k=top_k,
        ur=ur,
        train_index=res.index,
        train_labels=[list(s) for s in label_sets],
        activation=activation,
        fpr=fpr if rule == "fpr" else None,
        threshold_cv=cv,
        calibration=fit_calibration(res.index, label_sets),
        floor=float(floor),
        readout=ro,
    )


def _readout_input(
    A: np.ndarray, n_mixtures: int, shape: tuple[int, int | None], what: str, fix: str
) -> np.ndarray:
    """A readout's input windows as float64 (Q, width, n), checked against ``n_mixtures`` label
    sets and ``shape`` = (width, n or None: any) in one line."""
    A = np.asarray(A, dtype=np.float64)
    width, n = shape
    if (
        A.ndim != 3
        or A.shape[0] != n_mixtures
        or A.shape[1] != width
        or n not in (None, A.shape[2])
    ):
        raise ShapeError(
            f"{what} has shape {A.shape}, expected ({n_mixtures}, {width}, {'n' if n is None else n})",
            fix,
        )
    return A


FLOOR_CANDIDATES = (1e-30, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2)
# A class whose diagonal is floored everywhere has the index `floor` exactly in float64, but its
# float32 mean of logarithms (golden/detect.py, the device) can round a few ulps above ln floor: a
# threshold at (or below) the floor would then report that class in every window on the device
# and nowhere on the host. Thresholds are therefore kept at least this factor above the floor
# (ln 1.01 ≈ 0.01, thousands of float32 ulps of |ln floor| ≤ 69): an all-floor index, which
# carries no evidence of a hit, is never a detection on either side.
FLOOR_THRESHOLD_FACTOR = 1.01


def select_floor(
    H_train: np.ndarray,
    label_sets: Sequence[Sequence[int]],
    layout: BlockLayout,
    shifted: bool,
    fpr: float = 0.05,
    margin: float = 1.0,
    candidates: Sequence[float] = FLOOR_CANDIDATES,
) -> float:
    """The clip level of H before the logarithm of the index (4.3.30) that gives the best
    leave-one-out set-exact accuracy of the ``fpr`` thresholds on the training mixtures (ties:
    the smallest). A GM over the diagonal is dominated by its ε-projected entries (ln 1e-16 =
    -37): a floor at a small activation level keeps one silent atom from deciding the index.
    Inputs are scaled to unit mean noise power, so the candidates mean the same everywhere. The
    device takes the floor as a constant (golden/detect.py ``DetectParams.floor``)."""
    best = (-1.0, -float(candidates[0]))
    for fl in candidates:
        idx = detection_indices(H_train, layout, shifted=shifted, floor=fl).index
        neg = [idx[[c not in s for s in label_sets], c] for c in range(layout.n_classes)]
        if any(np.ptp(x) <= 1e-12 * abs(x).max() for x in neg if x.size):
            continue  # the floor saturates a class's negatives: no spread to set τ from
        _, cv = fit_fpr_thresholds(idx, label_sets, fpr, margin)
        key = (cv["loo_set_exact"], -fl)
        if key > best:
            best = key
    return -best[1]


@dataclass
class ReadoutExtra:
    """Synthetic mixtures that train the readout only (``[detection] readout_augment``): the
    network's input windows X (Q', m', n), its outputs H (Q', r, n; None when the readout
    reads the spectrum), their label sets and, where known, the training mixtures (indices)
    each was built from (:func:`~tinyunfold.datasets.prep.built_from_recordings`). The readout
    reads only each row's total over the window, so X and H may hold the totals
    (:func:`window_totals`, n = 1): what the training keeps."""

    X: np.ndarray
    H: np.ndarray | None
    labels: list[list[int]]
    built_from: list[list[int]] | None = None


def fit_detector_from_config(
    H_train: np.ndarray,
    label_sets: Sequence[Sequence[int]],
    layout: BlockLayout,
    dc: dict[str, Any],
    shifted_default: bool = False,
    X_train: np.ndarray | None = None,
    recorded: np.ndarray | None = None,
    readout_extra: ReadoutExtra | None = None,
    built_from: Sequence[Sequence[int]] | None = None,
) -> Detector:
    """:func:`fit_detector` with the options of a training config's ``[detection]`` section;
    ``X_train`` (Q, m', n): the network's input windows X̃ of the training mixtures, or their
    totals (Q, m', 1) (:func:`window_totals`; needed by ``readout_input = "spectrum"``);
    ``recorded`` (Q,): which of them are recordings, not synthetic (``readout_l2 =
    "cv-recorded"``); ``readout_extra``: the mixtures of
    ``readout_augment`` (built by the caller, which owns the dataset and the network);
    ``built_from``: the recordings each training mixture was made from (:func:`fit_detector`)."""
    return fit_detector(
        H_train,
        label_sets,
        layout,
        shifted=bool(dc.get("shifted", shifted_default)),
        rule=str(dc.get("threshold_rule", "fpr")),
        fpr=float(dc.get("fpr", 0.05)),
        margin=float(dc.get("margin", 1.0)),
        top_k=int(dc.get("top_k", 0)),
        ur_beta=float(dc.get("ur_beta", 0.0)),
        ur_alpha=float(dc.get("ur_alpha", 0.1)),
        ur_p=float(dc.get("ur_p", 0.25)),
        ur_background=bool(dc.get("ur_background", False)),
        ur_nohit_label=float(dc.get("ur_nohit_label", 0.01)),
        ur_prior=str(dc.get("ur_prior", "alpha")),
        ur_rule=str(dc.get("ur_rule", "nohit_max")),
        ur_factor=None if dc.get("ur_factor", "cv") == "cv" else float(dc["ur_factor"]),
        floor=None if dc.get("index_floor", "cv") == "cv" else float(dc["index_floor"]),
        readout=_readout_flag(dc.get("readout", False)),
        readout_floor=float(dc.get("readout_floor", 1e-6)),
        readout_l2=readout_l2_value(dc.get("readout_l2", "cv")),
        readout_cv_score=readout_cv_score_value(dc.get("readout_cv_score", "accuracy")),
        readout_cv_balance=check_flag(dc.get("readout_cv_balance", False), "readout_cv_balance"),
        readout_excess=readout_excess_value(dc.get("readout_excess", 0.0)),
        readout_max_hits=dc.get("readout_max_hits", 2),
        readout_input=check_readout_input(dc.get("readout_input", DEFAULT_READOUT_INPUT)),
        X_train=X_train,
        recorded=recorded,
        readout_extra=readout_extra,
        built_from=built_from,
    )


def _readout_flag(v: Any) -> bool | str:
    if not isinstance(v, bool) and v != "sets":
        raise ValueDomainError(
            f'[detection] readout must be true, false or "sets", got {v!r}',
            'e.g. readout = true (one-vs-rest) or readout = "sets" (label sets)',
        )
    return v


# ------------------------------------------------------------------------- degeneracy checks
class DegenerateDetectorWarning(UserWarning):
    """A trained detector whose dictionary or thresholds cannot separate the classes."""


def degeneracy_problems(
    W: np.ndarray,
    layout: BlockLayout,
    eps: float,
    H: np.ndarray | None = None,
    index: np.ndarray | None = None,
    thresholds: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    explode_ratio: float = 1e6,
) -> list[str]:
    """Reasons why a detector is degenerate (empty list: none found). docs/padnmf.md "Checks".

    Parameters
    ----------
    W : (m, r) dictionary Ŵ. layout : its blocks. eps : the network's ε.
    H : (B, r, n) network outputs H⁽ᴷ⁾ of some mixtures (optional).
    index : (B, L) detection indices of the same mixtures (optional).
    thresholds : (L,) class thresholds τ_l (optional).
    mask : (m, r) M^W, or None (every entry counts).
    explode_ratio : an activation larger than this times max(1, the median of the per-atom
        maxima of the target atoms) is "exploding".

    Checks
    ------
    * all-ε atoms: a target or noise atom whose largest entry (inside M^W) is <= 10 ε, or whose
      sum is below 1e-9 times the median atom sum (a template frame of silence gives such an
      atom; its activation then grows without bound, eq. 4.2.2 divides by Wᵀ1 ≈ ε);
    * exploding activations: max H[s, :] > ``explode_ratio`` x max(1, median over target atoms
      of max H) (inputs scaled to unit mean noise power: useful activations are O(1));
    * identical class indices: all L indices equal (relative 1e-9) on more than half of the
      mixtures, or identical thresholds τ_l for L >= 2 classes.
    """
    out: list[str] = []
    W = np.asarray(W, dtype=np.float64)
    Wm = W if mask is None else np.where(np.asarray(mask) > 0, W, 0.0)
    col_max = Wm.max(0)
    col_sum = Wm.sum(0)
    med = float(np.median(col_sum))
    offs = layout.offsets()
    names = list(layout.class_names)

    def atom_name(s: int) -> str:
        b = int(np.searchsorted(offs, s, side="right") - 1)
        if b < layout.n_target_blocks:
            return f"atom {s - offs[b]} of target block {b} (class {names[layout.block_class[b]]})"
        return f"atom {s - offs[b]} of noise block {b - layout.n_target_blocks}"

    bad = np.flatnonzero((col_max <= 10 * eps) | (col_sum < 1e-9 * med))
    if bad.size:
        out.append(
            f"{bad.size} all-eps dictionary atoms (e.g. {atom_name(int(bad[0]))}): a template "
            "holds silence or a constant; keep model.template_gate_db > 0 or trim the targets"
        )
    if H is not None:
        Hs = np.asarray(H, dtype=np.float64)
        if Hs.ndim == 2:
            Hs = Hs[None]
        per_atom = Hs.max(axis=(0, 2))  # (r,)
        tgt = per_atom[: layout.target_rank]
        # inputs are scaled to unit mean noise power and atoms are fitted to the data, so useful
        # activations are O(1): the reference is the median atom's maximum, at least 1
        ref = max(float(np.median(tgt)), 1.0)
        if tgt.max() > explode_ratio * ref:
            s = int(np.argmax(tgt))
            out.append(
                f"exploding activations: {atom_name(s)} reaches {tgt.max():.3g}, "
                f"{tgt.max() / ref:.2g} x the median atom's maximum"
            )
    L = layout.n_classes
    if index is not None and L >= 2:
        ix = np.asarray(index, dtype=np.float64)
        same = np.all(np.isclose(ix, ix[:, :1], rtol=1e-9, atol=0.0), axis=1)
        if same.size and same.mean() > 0.5:
            out.append(
                f"all {L} class indices are equal on {int(same.sum())} of {same.size} mixtures: "
                "the indices do not depend on the class"
            )
    if thresholds is not None and L >= 2:
        t = np.asarray(thresholds, dtype=np.float64)
        if np.all(np.isclose(t, t[0], rtol=1e-9, atol=0.0)):
            out.append(f"all {L} class thresholds are equal ({t[0]:.3g})")
    return out
