"""The detector kernels (tu_detect_indices_f32, tu_detect_decide_f32, tu_ur_infer_f32,
tu_detect_readout_f32, tu_detect_readout_sets_f32) equal the float32 golden detection
(golden/detect.py) bit for bit: indices, shifts, hit classes, latent Î, readout scores and their
decisions (one-vs-rest, or the label set chosen), through the host library (ctypes), on both QEMU
boards and the host program."""

import dataclasses
import zlib

import numpy as np
import pytest

from tinyunfold.golden import detect as gd
from tinyunfold.tools import kernelvectors as kv

BOARDS = ["host-lib", "mps2-an386", "mps2-an500", "host"]
F32 = np.float32


def _ur(A, beta, alpha_p=0.0, n_iter=gd.UR_N_ITER, n_penalized=None):
    A = np.asarray(A, dtype=np.float32)
    return gd.URParams(
        A=A, beta=beta, alpha_p=F32(alpha_p), p_minus_1=F32(-0.75), eps=F32(gd.UR_EPS),
        scale=F32(0.37), threshold=np.linspace(0.4, 0.6, A.shape[0]).astype(F32), n_iter=n_iter,
        n_penalized=A.shape[0] if n_penalized is None else n_penalized,
    )  # fmt: skip


def _case(name, n_windows=12):
    """(params, H): layouts with one or several blocks per class, a noise block, shifts, top_k."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    if name == "diag-2cls":  # ranks (3, 2 | 3 noise), 4 frames, KL uncertainty reduction
        offs, cls, rank, n, shifts, k = (0, 3, 5), (0, 1), 8, 4, 1, 1
        ur = _ur(rng.random((2, 2)) + 0.1, beta=1, alpha_p=0.025)
    elif name == "shift-3cls":  # two blocks for class 0, time-shifted, IS divergence + background
        offs, cls, rank, n, shifts, k = (0, 2, 5, 6, 9), (0, 1, 0, 2), 11, 6, 6, 2
        ur = _ur(rng.random((3, 4)) + 0.05, beta=0, alpha_p=0.01, n_penalized=3)
    elif name in (
        "shift-long",
        "excess-long",
    ):  # long diagonals (the accumulation order shows), Euclidean UR
        offs, cls, rank, n, shifts, k = (0, 20, 40), (0, 1), 44, 20, 20, 2
        ur = _ur(rng.random((2, 2)) + 0.2, beta=2, alpha_p=0.0)
    else:  # no uncertainty reduction, top_k = L
        offs, cls, rank, n, shifts, k = (0, 1, 2, 3), (2, 0, 1), 3, 3, 3, 3
        ur = None
    L = max(cls) + 1
    params = gd.DetectParams(
        rank=rank, n_frames=n, block_offset=offs, block_class=cls, n_classes=L, n_shifts=shifts,
        floor=F32(gd.DEFAULT_FLOOR), log_threshold=rng.normal(-2.0, 0.5, L).astype(np.float32),
        top_k=k, ur=ur,
    )  # fmt: skip
    scale = rng.choice([1e-3, 1.0, 30.0], (n_windows, 1, 1))
    H = (rng.random((n_windows, rank, n)) ** 4 * scale).astype(F32)
    H[0] = 0.0  # every entry below the floor
    H[1, 0, 0] = np.nan  # NaN clips to the floor, as C's (h > floor) ? h : floor
    H[2, :, :] = H[2, :1, :1]  # equal indices: ties between classes and shifts
    H[3, 1, 1] = 1e-40  # subnormal entry
    H[4, 0, 0] = np.inf
    return _with_readout(name, params, H), H


def _with_readout(name, params, H):
    """A readout (W, b on every atom) whose per-class thresholds sit at the 75% quantile of the
    finite scores, so that some windows fire and some do not (own rng: the cases are unchanged).
    Case ``shift-3cls`` gets the readout over label sets instead (:func:`_with_sets_readout`)."""
    rng = np.random.default_rng(zlib.crc32((name + "-readout").encode()))
    L = params.n_classes
    if name in SETS_CASES:
        return _with_sets_readout(rng, params, H)
    if name in EXCESS_CASES:
        return _with_excess_readout(rng, params, H)
    W = rng.normal(0.0, 0.3, (L, params.rank)).astype(F32)
    b = rng.normal(0.0, 1.0, L).astype(F32)
    rd = gd.ReadoutParams(W=W, b=b, threshold=np.zeros(L, F32), floor=F32(1e-6))
    z = gd.readout_f32(H, rd)
    thr = np.array([np.quantile(z[np.isfinite(z[:, c]), c], 0.75) for c in range(L)], dtype=F32)
    rd = gd.ReadoutParams(W=W, b=b, threshold=thr, floor=rd.floor)
    return gd.DetectParams(**{**params.__dict__, "readout": rd})


def _with_sets_readout(rng, params, H):
    """Label sets of at most 2 of the L classes (S rows, row 0 zero as trained). The non-empty
    rows' biases are shifted so that the empty set wins about 40% of the windows, and the set
    that wins most often is copied into another row: whenever it leads, the two tie (same bits),
    and the first one must win."""
    from tinyunfold.models.labelsets import label_set_table, set_masks

    sets = set_masks(label_set_table(params.n_classes, 2))
    S = sets.size
    W = rng.normal(0.0, 0.3, (S, params.rank)).astype(F32)
    b = rng.normal(0.0, 1.0, S).astype(F32)
    W[0], b[0] = 0.0, 0.0
    rd = gd.ReadoutParams(W=W, b=b, threshold=np.zeros(params.n_classes, F32), floor=F32(1e-6),
                          sets=sets)  # fmt: skip
    z = gd.readout_f32(H, rd)
    top = np.max(np.where(np.isfinite(z[:, 1:]), z[:, 1:], -np.inf), axis=1)
    b[1:] -= F32(np.quantile(top[np.isfinite(top)], 0.4))
    rd = gd.ReadoutParams(W=W, b=b, threshold=rd.threshold, floor=rd.floor, sets=sets)
    won = gd.readout_sets_f32(gd.readout_f32(H, rd), sets, params.n_classes, params.top_k)[1]
    k = int(np.bincount(won[won > 0], minlength=S).argmax())
    j = 1 if k != 1 else 2
    W[j], b[j] = W[k], b[k]
    rd = gd.ReadoutParams(W=W, b=b, threshold=rd.threshold, floor=rd.floor, sets=sets)
    return gd.DetectParams(**{**params.__dict__, "readout": rd})


def _with_excess_readout(rng, params, H, clip=2.5):
    """A one-vs-rest readout with the excess block (``readout_excess``): W on the 2 rank
    features, μ the median log sum of each row over the windows, κ such that about a third of
    the excess entries clip at ±``clip`` (and the inf / all-floor windows clip too)."""
    L, r = params.n_classes, params.rank
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.log(np.maximum(np.nansum(H.astype(np.float64), 2), 1e-6))
    fin = np.where(np.isfinite(f), f, np.nan)
    mu = np.nanmedian(fin, 0).astype(F32)
    spread = np.nanpercentile(np.abs(fin - mu), 66, 0)
    inv_sd = (clip / np.maximum(spread, 1e-3)).astype(F32)
    W = rng.normal(0.0, 0.3, (L, 2 * r)).astype(F32)
    b = rng.normal(0.0, 1.0, L).astype(F32)
    kw = dict(floor=F32(1e-6), bg_mu=mu, bg_inv_sd=inv_sd, excess=F32(clip))
    rd = gd.ReadoutParams(W=W, b=b, threshold=np.zeros(L, F32), **kw)
    z = gd.readout_f32(H, rd)
    thr = np.array([np.quantile(z[np.isfinite(z[:, c]), c], 0.75) for c in range(L)], dtype=F32)
    rd = gd.ReadoutParams(W=W, b=b, threshold=thr, **kw)
    return gd.DetectParams(**{**params.__dict__, "readout": rd})


CASES = ["diag-2cls", "shift-3cls", "shift-long", "no-ur", "excess-long"]
SETS_CASES = ("shift-3cls",)  # the readout over label sets
EXCESS_CASES = ("excess-long",)  # the readout with the excess block


def _check(dev: kv.DeviceDetect, params, H) -> None:
    g = gd.detect_f32(H, params)
    assert np.array_equal(dev.log_index.view(np.uint32), g.log_index.view(np.uint32))
    assert np.array_equal(dev.shift, g.shift)
    assert dev.classes == g.classes
    if params.ur is not None:
        gu = gd.detect_f32(H, params, "ur")
        assert dev.latent is not None
        assert np.array_equal(dev.latent.view(np.uint32), gu.latent.view(np.uint32))
        assert dev.ur_classes == gu.classes
    if params.readout is not None:
        gr = gd.detect_f32(H, params, "readout")
        assert dev.readout_score is not None
        assert gr.readout_z is not None
        assert np.array_equal(dev.readout_score.view(np.uint32), gr.readout_z.view(np.uint32))
        assert dev.readout_classes == gr.classes
        if params.readout.sets is not None:
            assert dev.readout_set is not None and gr.set_index is not None
            assert np.array_equal(dev.readout_set, gr.set_index)


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("case", CASES)
def test_detector_bits(board, case):
    params, H = _case(case)
    dev = kv.detect_on(board, params, H)
    _check(dev, params, H)
    assert sum(map(len, dev.classes)) > 0  # the windows exercise the decision rule


def test_the_cases_decide_something_and_not_everything():
    for case in CASES:
        params, H = _case(case)
        for method in ("threshold", "readout"):
            hits = gd.detect_f32(H, params, method).classes
            assert any(hits) and not all(hits), (case, method)


def test_a_libm_logarithm_fails_the_check(monkeypatch):
    """Golden indices with numpy's own log (rounded to float32) differ from the device."""
    params, H = _case("shift-long", n_windows=100)
    dev = kv.detect_on("host-lib", params, H)
    _check(dev, params, H)

    def np_log(x):
        with np.errstate(all="ignore"):
            return np.log(np.asarray(x, np.float64)).astype(np.float32)

    monkeypatch.setattr(gd, "logf", np_log)
    with pytest.raises(AssertionError):
        _check(dev, params, H)


def test_another_accumulation_order_fails_the_check():
    """The same log entries summed in reverse order (instead of C order) give other bits."""
    params, H = _case("shift-long")
    dev = kv.detect_on("host-lib", params, H)
    from tinyunfold.golden.mathf import logf

    logH = logf(np.where(H > params.floor, H, params.floor))
    n, rev = params.n_frames, np.zeros_like(dev.log_index)
    for c in range(params.n_classes):
        i = params.block_class.index(c)  # one block per class here; shift 0
        o = params.block_offset[i]
        d = [logH[:, o + s, s] for s in range(min(params.block_offset[i + 1] - o, n))]
        acc = np.zeros(H.shape[0], np.float32)
        for v in d[::-1]:
            acc = acc + v
        rev[:, c] = acc / F32(len(d))
    g0 = gd.indices_f32(H, gd.DetectParams(**{**params.__dict__, "n_shifts": 1}))[0]
    assert not np.array_equal(rev.view(np.uint32), g0.view(np.uint32))


def test_another_readout_order_fails_the_check(monkeypatch):
    """The readout's a-sum reversed (W[c, r-1] f_{r-1} first) gives other bits than the device."""
    params, H = _case("shift-long", n_windows=40)
    dev = kv.detect_on("host-lib", params, H)
    _check(dev, params, H)
    real = gd.readout_f32

    def reversed_sum(H_, rd):
        rev = gd.ReadoutParams(
            W=rd.W[:, ::-1].copy(), b=rd.b, threshold=rd.threshold, floor=rd.floor
        )
        return real(np.ascontiguousarray(np.asarray(H_)[..., ::-1, :]), rev)

    monkeypatch.setattr(gd, "readout_f32", reversed_sum)
    with pytest.raises(AssertionError):
        _check(dev, params, H)


def _log_sums(H, floor):
    """f_a = logf(max(Σ_t H[a, t], floor)), t ascending in float32 (the readout's levels)."""
    H = np.asarray(H, dtype=F32)
    s = np.zeros(H.shape[:2], F32)
    for t in range(H.shape[2]):
        s = s + H[:, :, t]
    return gd.logf(np.where(s > floor, s, floor))


def test_the_excess_case_clips_both_ways():
    """The excess case's features reach both clips and lie between them too (the comparison
    covers the clip and the arithmetic)."""
    params, H = _case("excess-long")
    rd = params.readout
    f = _log_sums(H, rd.floor)
    e = (f - rd.bg_mu) * rd.bg_inv_sd
    assert (e > rd.excess).any() and (e < -rd.excess).any() and (np.abs(e) < rd.excess).any()
    assert rd.W.shape == (params.n_classes, 2 * params.rank) and rd.width == params.rank


@pytest.mark.parametrize(
    "wrong",
    ["no clip", "product first"],
)
def test_a_wrong_excess_fails_the_check(monkeypatch, wrong):
    """A golden without the clip, or computing the excess as f κ − μ κ (other roundings),
    differs from the device on the excess case."""
    params, H = _case("excess-long", n_windows=40)
    dev = kv.detect_on("host-lib", params, H)
    _check(dev, params, H)
    rd = params.readout
    if wrong == "no clip":
        bad = dataclasses.replace(rd, excess=F32(1e30))
        monkeypatch.setattr(gd, "readout_f32", lambda H_, rd_, real=gd.readout_f32: real(H_, bad))
    else:

        def product_first(H_, rd_):
            f = _log_sums(H_, rd_.floor)
            e = f * rd_.bg_inv_sd - rd_.bg_mu * rd_.bg_inv_sd
            e = np.where(e > rd_.excess, rd_.excess, np.where(e < -rd_.excess, -rd_.excess, e))
            g = np.concatenate([f, e.astype(F32)], 1)
            z = np.broadcast_to(rd_.b, (g.shape[0], rd_.b.size)).copy()
            with np.errstate(invalid="ignore"):
                for a in range(g.shape[1]):
                    z = z + rd_.W[None, :, a] * g[:, a : a + 1]
            return np.where(z == z, z, F32(np.nan)).astype(F32)

        monkeypatch.setattr(gd, "readout_f32", product_first)
    with pytest.raises(AssertionError):
        _check(dev, params, H)


def test_the_sets_case_has_ties_and_hits():
    """The label-set case decides some windows for a set and some for none, with ties."""
    params, H = _case("shift-3cls")
    res = gd.detect_f32(H, params, "readout")
    assert any(res.classes) and not all(res.classes)
    assert any(len(c) == 2 for c in res.classes)  # a pair was chosen
    z = res.readout_z
    ties = 0
    for zb, s in zip(z, res.set_index, strict=True):  # a tie for the lead: the first set won
        same = np.flatnonzero(zb.view(np.uint32) == zb[s].view(np.uint32))
        ties += same.size > 1
        assert s == same[0] or not zb[s] >= zb.max()
    assert ties > 0
    assert np.isnan(res.readout_z).any()  # the inf window: 0 * inf in row 0, canonical NaN


def test_the_last_maximum_fails_the_sets_check(monkeypatch):
    """A golden that keeps the last maximum (>= instead of >) differs from the device on ties."""
    params, H = _case("shift-3cls", n_windows=40)
    dev = kv.detect_on("host-lib", params, H)
    _check(dev, params, H)

    def last_max(z, sets, n_classes, top_k):
        z = np.atleast_2d(np.asarray(z, dtype=np.float32))
        chosen = np.array([max(range(len(r)), key=lambda s, r=r: (r[s], s)) for r in z])
        cls = [[c for c in range(n_classes) if (int(sets[k]) >> c) & 1][:top_k] for k in chosen]
        return cls, chosen

    monkeypatch.setattr(gd, "readout_sets_f32", last_max)
    with pytest.raises(AssertionError):
        _check(dev, params, H)


def test_a_libm_power_fails_the_uncertainty_reduction_check(monkeypatch):
    """The prior's Î^(p-1) from numpy's float64 power instead of the shared powf: other bits."""
    params, H = _case("diag-2cls")
    params = gd.DetectParams(**{**params.__dict__, "ur": _ur(params.ur.A, 1, 0.025, n_iter=9)})
    dev = kv.detect_on("host-lib", params, H)
    _check(dev, params, H)
    monkeypatch.setattr(
        gd, "powf", lambda x, y: (x.astype(np.float64) ** np.float64(y)).astype(np.float32)
    )
    with pytest.raises(AssertionError):
        _check(dev, params, H)


def test_bad_layout_is_refused_by_the_kernel():
    """tu_detect_init_f32 rejects a class without blocks (TU_ERROR_SIZE -> a clear error)."""
    params, H = _case("no-ur")
    bad = gd.DetectParams(**{**params.__dict__, "block_class": (0, 0, 1)})
    from tinyunfold.errors import SimulationError

    with pytest.raises(SimulationError, match="returned 2"):
        kv.detect_on("host-lib", bad, H)
