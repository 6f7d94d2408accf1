"""The linear readout decision (detection.Readout) and its float32 golden (golden/detect.py
``readout_f32``, the contract of firmware/src/tu_detect_readout_f32.c): fit, model-file round trip,
golden order and decisions against the float64 twin."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tinyunfold.detection import (
    READOUT_L2_GRID,
    Detector,
    Readout,
    _stratified_folds,
    fit_detector,
    readout_cv_score_value,
    readout_features,
    readout_l2_value,
)
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.golden import detect as gd
from tinyunfold.golden.mathf import logf
from tinyunfold.models.padnmf import BlockLayout

LAY = BlockLayout(
    n_bins=3, context=2, ranks=(3, 3, 2, 2), block_class=(0, 1, 1), class_names=("a", "b")
)
N = 5


def _toy(seed: int, Q: int = 90) -> tuple[np.ndarray, list[list[int]]]:
    """H (Q, r, n) where class c's presence scales atom c's activation by 20 (separable), while
    every GM index is the same function of the noise (the readout must find the atoms)."""
    rng = np.random.default_rng(seed)
    ls = [[] if q % 3 == 0 else [q % 3 - 1] for q in range(Q)]
    H = rng.uniform(0.5, 1.5, (Q, LAY.rank, N))
    for q, s in enumerate(ls):
        for c in s:
            H[q, 8 + c] *= 20.0  # noise-block atoms 8, 9 carry the class (GM reads targets only)
    return H, ls


def _exact(pred: list[list[int]], ls: list[list[int]]) -> float:
    return float(np.mean([sorted(p) == sorted(t) for p, t in zip(pred, ls, strict=True)]))


def _held_out_by_hand(
    H: np.ndarray, ls: list[list[int]], rec: np.ndarray, lam: float, max_hits: int = 0
) -> list[tuple[tuple[int, ...], bool, float]]:
    """Readout.fit's CV by hand (the same 5 folds): for each held-out recorded mixture, fold by
    fold, its label set, whether the fold's readout decided it right and its log-loss
    (scipy's log-softmax / log-sigmoid)."""
    from scipy.special import log_expit, log_softmax

    folds = _stratified_folds(ls, 5, 0)
    out = []
    for f in np.unique(folds):
        tr, te = folds != f, (folds == f) & rec
        r = Readout(l2=lam, max_hits=max_hits)
        r.fit(H[tr], [ls[q] for q in np.flatnonzero(tr)], 2, top_k=0)
        held = zip(r.decide(H[te], 2), r.score(H[te]), np.flatnonzero(te), strict=True)
        for p, zq, q in held:
            key = tuple(sorted(ls[q]))
            if max_hits:
                ll = -float(log_softmax(zq)[r.sets.index(key)])
            else:
                y = np.isin([0, 1], ls[q])
                ll = -float(np.where(y, log_expit(zq), log_expit(-zq)).sum())
            out.append((key, sorted(p) == list(key), ll))
    return out


def test_readout_learns_a_separable_toy() -> None:
    H, ls = _toy(0)
    ro = Readout().fit(H, ls, 2, top_k=0)
    assert set(ro.cv_scores) == {f"{v:g}" for v in READOUT_L2_GRID}
    assert ro.cv_accuracy == 1.0 and ro.l2 in READOUT_L2_GRID
    Ht, lt = _toy(1)
    assert _exact(ro.decide(Ht, 2), lt) == 1.0
    p = ro.probability(Ht)
    y = np.zeros_like(p)
    for q, s in enumerate(lt):
        y[q, s] = 1.0
    assert np.mean((p - y) ** 2) < 0.05  # calibrated probabilities: small Brier score
    # the weights live on the class atoms (standardisation folded into W: compare W x std f)
    w_std = np.abs(ro.W) * readout_features(H, ro.floor).std(0)[None, :]
    assert np.argmax(w_std[0]) == 8 and np.argmax(w_std[1]) == 9


def test_readout_features_floor_and_fixed_l2() -> None:
    H, ls = _toy(0, 30)
    H[0, 2] = 0.0  # a silent atom: clipped at the floor, not -inf
    ro = Readout(floor=1e-3, l2=0.05).fit(H, ls, 2, top_k=0)
    assert ro.l2 == 0.05 and ro.cv_accuracy is None and np.all(np.isfinite(ro.score(H)))
    with pytest.raises(TinyUnfoldError, match="readout_l2"):
        Readout(l2="auto").fit(H, ls, 2)


def test_cv_recorded_scores_weights_on_the_recordings_only() -> None:
    """readout_l2 = "cv-recorded": synthetic mixtures train every fold, recordings judge."""
    H, ls = _toy(0, 40)
    Q = len(ls)
    rec = np.zeros(Q, dtype=bool)
    rec[::4] = True
    # the recordings' held-out decisions are all the score sees: make them unlearnable from the
    # rest by swapping their two classes' atoms (a "machine" unlike the synthetic mixtures)
    H2 = H.copy()
    H2[np.ix_(np.flatnonzero(rec), [8, 9])] = H[np.ix_(np.flatnonzero(rec), [9, 8])]
    cv = Readout().fit(H2, ls, 2, top_k=0)
    ro = Readout(l2="cv-recorded").fit(H2, ls, 2, top_k=0, recorded=rec)
    assert isinstance(ro.l2, float) and ro.cv_accuracy is not None
    by_hand = {  # the same folds, scored on the recordings only
        f"{lam:g}": sum(ok for _, ok, _ in _held_out_by_hand(H2, ls, rec, lam)) / rec.sum()
        for lam in READOUT_L2_GRID
    }
    assert ro.cv_scores == pytest.approx(by_hand)
    assert ro.cv_scores != pytest.approx(cv.cv_scores)
    # no flags, or none set: every mixture judges, as "cv"
    for flags in (None, np.zeros(Q, dtype=bool)):
        same = Readout(l2="cv-recorded").fit(H2, ls, 2, top_k=0, recorded=flags)
        assert same.cv_scores == cv.cv_scores and same.l2 == cv.l2
    with pytest.raises(TinyUnfoldError, match="recorded"):
        Readout(l2="cv-recorded").fit(H2, ls, 2, top_k=0, recorded=rec[:-1])
    for bad in ("auto", "cv1se", -1.0, 0.0, float("nan"), True):
        with pytest.raises(TinyUnfoldError, match="readout_l2"):
            readout_l2_value(bad)
    assert readout_l2_value("cv-recorded") == "cv-recorded" and readout_l2_value("0.01") == 0.01


@pytest.mark.parametrize("max_hits", [0, 2])
def test_cv_log_loss_picks_the_weight_of_the_smallest_held_out_log_loss(max_hits: int) -> None:
    """readout_cv_score = "log-loss": the held-out log-loss of every weight equals a by-hand
    recomputation (scipy's log-softmax / log-sigmoid), on the recorded mixtures only, and the
    smallest wins; on a separable toy every weight ties on accuracy (the larger wins) while the
    log-loss prefers a weak penalty (sure and right), so the two scores pick differently."""
    H, ls = _toy(0, 40)
    rec = np.zeros(len(ls), dtype=bool)
    rec[1::3] = True
    kw = {"max_hits": max_hits}
    acc = Readout(l2="cv-recorded", **kw).fit(H, ls, 2, top_k=0, recorded=rec)
    ro = Readout(l2="cv-recorded", cv_score="log-loss", **kw).fit(H, ls, 2, top_k=0, recorded=rec)
    by_hand = {
        f"{lam:g}": sum(ll for *_, ll in _held_out_by_hand(H, ls, rec, lam, max_hits)) / rec.sum()
        for lam in READOUT_L2_GRID
    }
    assert ro.cv_log_loss == pytest.approx(by_hand, rel=1e-9)
    assert ro.cv_scores == acc.cv_scores  # the accuracies are still reported
    pick = min(READOUT_L2_GRID, key=lambda v: (by_hand[f"{v:g}"], -v))
    assert ro.l2 == pick and ro.cv_accuracy == ro.cv_scores[f"{pick:g}"]
    assert acc.l2 == max(READOUT_L2_GRID) and set(acc.cv_scores.values()) == {1.0}
    assert ro.l2 != acc.l2
    back = Readout.from_params(json.loads(json.dumps(ro.to_params())), ro.W, ro.b, 2)
    assert back.cv_score == "log-loss" and back.cv_log_loss == ro.cv_log_loss
    for bad in ("loss", "", 1, None):
        with pytest.raises(TinyUnfoldError, match="readout_cv_score"):
            readout_cv_score_value(bad)
    with pytest.raises(TinyUnfoldError, match="readout_cv_score"):
        Readout(l2="cv", cv_score="brier").fit(H, ls, 2, top_k=0)


def test_cv_balance_weighs_every_recorded_label_set_the_same() -> None:
    """readout_cv_balance: both CV scores are the mean over the judged label sets of each set's
    mean held-out accuracy / log-loss (by hand, the same folds), not the mean over mixtures,
    which many recorded no-hit windows would decide alone; kept in the model file."""
    H, ls = _toy(0, 40)
    rec = np.array([not s for s in ls])  # every no-hit mixture, and two of each class
    for c in (0, 1):
        rec[[q for q, s in enumerate(ls) if s == [c]][:2]] = True
    H2 = H.copy()  # the recorded hits unlike the rest (as in the cv-recorded test)
    hits = np.flatnonzero(rec & np.array([bool(s) for s in ls]))
    H2[np.ix_(hits, [8, 9])] = H[np.ix_(hits, [9, 8])]
    kw = {"l2": "cv-recorded", "max_hits": 2}
    plain = Readout(**kw, cv_score="log-loss").fit(H2, ls, 2, top_k=0, recorded=rec)
    ro = Readout(**kw, cv_score="log-loss", cv_balance=True)
    ro.fit(H2, ls, 2, top_k=0, recorded=rec)
    acc, loss = {}, {}
    for lam in READOUT_L2_GRID:
        per_set: dict[tuple[int, ...], list[tuple[float, float]]] = {}
        for key, ok, ll in _held_out_by_hand(H2, ls, rec, lam, max_hits=2):
            per_set.setdefault(key, []).append((float(ok), ll))
        means = np.array([np.mean(v, 0) for v in per_set.values()])
        acc[f"{lam:g}"], loss[f"{lam:g}"] = means.mean(0)
    assert len(per_set) == 3
    assert ro.cv_scores == pytest.approx(acc, rel=1e-9)
    assert ro.cv_log_loss == pytest.approx(loss, rel=1e-9)
    assert ro.cv_log_loss != pytest.approx(plain.cv_log_loss, rel=1e-3)
    assert ro.cv_scores != pytest.approx(plain.cv_scores)
    assert ro.l2 == min(READOUT_L2_GRID, key=lambda v: (loss[f"{v:g}"], -v))
    back = Readout.from_params(json.loads(json.dumps(ro.to_params())), ro.W, ro.b, 2)
    assert back.cv_balance and not Readout.from_params(plain.to_params(), ro.W, ro.b, 2).cv_balance
    for bad in ("yes", 1, None):
        with pytest.raises(TinyUnfoldError, match="cv_balance must be true or false"):
            Readout(**kw, cv_balance=bad).fit(H2, ls, 2, top_k=0, recorded=rec)  # type: ignore[arg-type]
        with pytest.raises(TinyUnfoldError, match="cv_balance must be true or false"):
            Readout.from_params({**ro.to_params(), "cv_balance": bad}, ro.W, ro.b, 2)


def test_detector_round_trip_and_methods() -> None:
    H, ls = _toy(2)
    det = fit_detector(H, ls, LAY, rule="max", top_k=0, ur_beta=None, readout=True)
    assert det.readout is not None
    params = json.loads(json.dumps({"detection": det.to_params()}))  # model-file params are JSON
    back = Detector.from_model(params, det.arrays())
    assert back.readout is not None
    np.testing.assert_array_equal(back.readout.W, det.readout.W)
    np.testing.assert_array_equal(back.readout.b, det.readout.b)
    assert back.readout.l2 == det.readout.l2 and back.readout.floor == det.readout.floor
    idx = det.indices(H, LAY).index
    assert back.decide(idx, "readout", H=H) == det.decide(idx, "readout", H=H)
    assert _exact(back.decide(idx, "readout", H=H), ls) == 1.0
    assert back.decide(idx, "threshold") == det.decide(idx, "threshold")
    with pytest.raises(TinyUnfoldError, match="needs H"):
        back.decide(idx, "readout")
    plain = fit_detector(H, ls, LAY, rule="max", ur_beta=None)
    assert plain.readout is None and "readout_W" not in plain.arrays()
    with pytest.raises(TinyUnfoldError, match="no readout"):
        plain.decide(idx, "readout", H=H)


def _readout_c_order(H: np.ndarray, rd: gd.ReadoutParams, reverse: bool = False) -> np.ndarray:
    """Scalar float32 loops in the order of tu_detect_readout_f32.c (``reverse``: a-sum reversed)."""
    H = H.astype(np.float32)
    L, r = rd.W.shape
    f = []
    for a in range(r):
        s = np.float32(0.0)
        for t in range(H.shape[1]):
            s = np.float32(s + H[a, t])
        f.append(logf(np.float32(s if s > rd.floor else rd.floor)))
    out = np.zeros(L, dtype=np.float32)
    order = range(r - 1, -1, -1) if reverse else range(r)
    for c in range(L):
        z = np.float32(rd.b[c])
        for a in order:
            z = np.float32(z + np.float32(rd.W[c, a] * f[a]))
        out[c] = z
    return out


def test_golden_readout_order_and_decisions() -> None:
    H, ls = _toy(3)
    det = fit_detector(H, ls, LAY, rule="max", top_k=0, ur_beta=None, readout=True)
    params = gd.params_from_detector(det, LAY, N)
    assert params.readout is not None
    Ht, lt = _toy(4, 30)
    z = gd.readout_f32(Ht, params.readout)
    bits = z.view(np.uint32)
    ref = np.stack([_readout_c_order(h, params.readout) for h in Ht])
    np.testing.assert_array_equal(bits, ref.view(np.uint32))
    # the comparison sees the order: the a-sum reversed changes some bits
    rev = np.stack([_readout_c_order(h, params.readout, reverse=True) for h in Ht])
    assert np.any(rev.view(np.uint32) != bits)
    # float32 golden decisions equal the float64 twin's on a trained detector
    res = gd.detect_f32(Ht, params, "readout")
    assert res.classes == det.readout.decide(Ht, det.top_k)
    assert _exact(res.classes, lt) == 1.0
    np.testing.assert_array_equal(res.score.view(np.uint32), bits)
    np.testing.assert_array_equal(res.threshold, np.zeros(2, dtype=np.float32))
    # the onset stays the time-shifted index's shift
    _, shift = gd.indices_f32(Ht, params)
    np.testing.assert_array_equal(res.shift, shift)
    with pytest.raises(TinyUnfoldError, match="no readout"):
        gd.detect_f32(Ht, gd.params_from_detector(fit_detector(H, ls, LAY, ur_beta=None), LAY, N),
                      "readout")  # fmt: skip


def test_readout_config_keys() -> None:
    from tinyunfold.detection import fit_detector_from_config

    H, ls = _toy(5, 30)
    det = fit_detector_from_config(
        H, ls, LAY, {"readout": True, "readout_floor": 1e-4, "readout_l2": 0.01, "ur_beta": 0.0}
    )
    assert det.readout is not None and det.readout.floor == 1e-4 and det.readout.l2 == 0.01
    assert fit_detector_from_config(H, ls, LAY, {}).readout is None
    with pytest.raises(TinyUnfoldError, match="readout must be true, false or"):
        fit_detector_from_config(H, ls, LAY, {"readout": "yes"})


def test_cv_holds_out_what_was_built_from_a_held_out_recording() -> None:
    """``built_from``: a synthetic mixture made from a recording (its background, its hit) leaves
    the fold that holds that recording out. Recordings here carry no learnable signal (random
    labels) and each has five noisy copies among the synthetic mixtures: with the copies in the
    fit the recordings' held-out decisions are memorised (a leak that favours the weakest
    weight); without them they are at chance, as they are for a new recording."""
    rng = np.random.default_rng(5)
    n_rec, copies = 30, 5
    F = rng.normal(size=(n_rec, 64, N))  # 64 features: 30 random points are separable
    ls = [[] if q % 3 == 0 else [q % 3 - 1] for q in rng.permutation(n_rec)]
    H = np.exp(np.concatenate([F] + [F + 0.01 * rng.normal(size=F.shape) for _ in range(copies)]))
    sets = ls * (copies + 1)
    rec = np.arange(len(H)) < n_rec
    built = [[] for _ in range(n_rec)] + [[q] for _ in range(copies) for q in range(n_rec)]
    leaky = Readout(l2="cv-recorded", input="spectrum").fit(H, sets, 2, top_k=0, recorded=rec)
    fair = Readout(l2="cv-recorded", input="spectrum")
    fair.fit(H, sets, 2, top_k=0, recorded=rec, built_from=built)
    assert min(leaky.cv_scores.values()) > 0.9  # every weight recalls the copies' labels
    assert max(fair.cv_scores.values()) < 0.6  # three label sets: chance is about 1/3
    for bad in (built[:-1], built[:-1] + [[len(H)]]):  # one list short; an index out of range
        with pytest.raises(TinyUnfoldError, match="built_from"):
            Readout(l2="cv-recorded").fit(H, sets, 2, top_k=0, recorded=rec, built_from=bad)


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("readout", "yes"),
        ("readout_l2", "auto"),
        ("readout_cv_score", "brier"),
        ("readout_cv_balance", "yes"),
        ("readout_excess", -1.0),
        ("readout_augment", 1.5),
        ("readout_input", "bins"),
    ],
)
def test_readout_keys_are_checked_before_anything_trains(key: str, bad: object) -> None:
    """A bad readout key is one line naming it before the dataset or the network is touched
    (None stands for both: any use of them would raise something else)."""
    from tinyunfold.training.dnmfd import train_dnmfd_from_dataset
    from tinyunfold.training.padnmf import finetune, train_from_dataset

    cfg = {"model": {}, "features": {}, "detection": {"readout": "sets", key: bad}}
    calls = (
        lambda: train_from_dataset(None, "padnmf", cfg, progress=False),
        lambda: train_dnmfd_from_dataset(None, cfg, progress=False),
        lambda: finetune(None, {}, [], [], [], cfg, progress=False),
    )
    for call in calls:
        with pytest.raises(TinyUnfoldError, match=key):
            call()
