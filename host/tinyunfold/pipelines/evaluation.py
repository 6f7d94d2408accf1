"""Evaluation of hit detectors: confusion counts, per-class x per-SNR tables, JSON and plots.

Conventions (as Table 3 of thesis 4.3.6): for each class l, TP_l = fraction of the mixtures holding l
in which l is reported, FN_l = 1 - TP_l (missed or reported as another class); TN = fraction of the
no-hit mixtures with nothing reported, FP_l = fraction of the no-hit mixtures in which l is reported
(so TN + Σ_l FP_l ≥ 100% with equality when at most one class is reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from tinyunfold.datasets.prep import (
    label_sets,
    label_sets_of,
    model_front_end,
    spectrogram,
    train_split,
    transform_many,
)
from tinyunfold.detection import Detector, UncertaintyReduction, decide
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.models.padnmf import BlockLayout


def confusion(
    pred: Sequence[Sequence[int]], true: Sequence[Sequence[int]], n_classes: int
) -> dict[str, Any]:
    """TP/FN per class, TN and FP per class on no-hit mixtures, exact-match accuracy."""
    tp = np.zeros(n_classes)
    npos = np.zeros(n_classes)
    fp = np.zeros(n_classes)
    tn = 0
    nneg = 0
    exact = 0
    for p, t in zip(pred, true, strict=True):
        exact += int(sorted(p) == sorted(t))
        if not t:
            nneg += 1
            tn += int(not p)
            for c in p:
                fp[c] += 1
        for c in t:
            npos[c] += 1
            tp[c] += int(c in p)
    return confusion_rates(tp, npos, fp, tn, nneg, exact, len(true))


def confusion_windows(
    pred: Sequence[Sequence[int]],
    true: Sequence[Sequence[int]],
    n_classes: int,
    tolerance: int = 0,
) -> dict[str, Any]:
    """:func:`confusion` for consecutive windows of one recording, with a ±``tolerance``-window
    tolerance on where a hit is labelled (for labels that may be one window off).

    A labelled hit of class l in window i is found (TP) when l is reported in any window
    i - tolerance .. i + tolerance. A class l reported in window j is *explained* when l is
    labelled in a window j - tolerance .. j + tolerance; only unexplained reports count:
    FP_l = fraction of the no-hit windows with an unexplained report of l, TN = no-hit windows
    without one, and a window is exactly right when each of its labelled classes is found and
    each of its reports is explained. ``tolerance = 0`` is :func:`confusion`. The windows must
    be consecutive and in order (a spectrogram set of one recording); a report may explain the
    labels of two windows (hits of one class closer than 2 ``tolerance`` + 1 windows).
    """
    if tolerance < 0:
        raise TinyUnfoldError(f"tolerance must be >= 0 windows, got {tolerance}", "use 0 or 1")
    if len(pred) != len(true):
        raise TinyUnfoldError(f"{len(pred)} decisions for {len(true)} labelled windows")
    B = len(true)

    def near(sets: Sequence[Sequence[int]], i: int, c: int) -> bool:
        lo, hi = max(0, i - tolerance), min(B, i + tolerance + 1)
        return any(c in sets[j] for j in range(lo, hi))

    tp = np.zeros(n_classes)
    npos = np.zeros(n_classes)
    fp = np.zeros(n_classes)
    tn = nneg = exact = 0
    for i, (p, t) in enumerate(zip(pred, true, strict=True)):
        unexplained = [c for c in p if not near(true, i, c)]
        found = [c for c in t if near(pred, i, c)]
        exact += int(not unexplained and len(found) == len(t))
        if not t:
            nneg += 1
            tn += int(not unexplained)
            for c in unexplained:
                fp[c] += 1
        for c in t:
            npos[c] += 1
        for c in found:
            tp[c] += 1
    return {**confusion_rates(tp, npos, fp, tn, nneg, exact, B), "tolerance": int(tolerance)}


def confusion_rates(
    tp: np.ndarray, npos: np.ndarray, fp: np.ndarray, tn: int, nneg: int, exact: int, n: int
) -> dict[str, Any]:
    """The report of :func:`confusion` / :func:`confusion_windows` from their counts: per class
    TP (L,) over its labelled hits npos (L,), FP (L,) over the nneg no-hit items, TN, and the
    exactly right items among n."""
    with np.errstate(invalid="ignore", divide="ignore"):
        tp_rate = tp / npos
        fp_rate = fp / max(nneg, 1)
    return {
        "tp_rate": [None if np.isnan(v) else float(v) for v in tp_rate],
        "tp_overall": float(tp.sum() / npos.sum()) if npos.sum() else None,
        "tn_rate": float(tn / nneg) if nneg else None,
        "fp_rate": [float(v) for v in fp_rate],
        "fp_overall": float(fp.sum() / nneg) if nneg else None,
        "n_hit": [int(v) for v in npos],
        "n_nohit": int(nneg),
        "accuracy": float(exact / n) if n else None,
    }


def all_decision_rules(det: Detector, n_classes: int) -> dict[str, Any]:
    """Every decision rule of the package on a fitted detector, refitted from its stored
    training indices (no other data): thresholds τ = max and τ = gm over the no-hit training
    mixtures (4.3.6 / 4.3.5), τ for the stated false-positive rate (``fpr``, the detector's rate
    or 5%), and the detector's uncertainty reduction (as fitted, e.g. the authors' variant with
    cross-validated α and factor) refitted for β = 0, 1, 2. Name -> ("threshold", τ) or
    ("ur", model)."""
    from tinyunfold.detection import fit_fpr_thresholds, fit_thresholds

    idx, ls = det.train_index, det.train_labels
    nohit = np.array([not s for s in ls])
    fpr = 0.05 if det.fpr is None else det.fpr
    rules: dict[str, Any] = {}
    if idx.size and nohit.any():
        for rule in ("max", "gm"):
            rules["threshold (max)" if rule == "max" else "threshold (gm)"] = (
                "threshold",
                fit_thresholds(idx[nohit], rule, det.margin),
            )
        rules[f"threshold (fpr {100 * fpr:g}%)"] = (
            "threshold",
            fit_fpr_thresholds(idx, ls, fpr, det.margin)[0],
        )
    else:
        rules[f"threshold ({det.rule})"] = ("threshold", det.thresholds)
    for name, (kind, ur) in detector_methods(det, n_classes).items():
        if kind == "ur":
            rules[name] = ("ur", ur)
    return rules


def spectrogram_set_report(
    H: np.ndarray,
    labels: Sequence[str],
    layout: BlockLayout,
    det: Detector,
    tolerance: int = 0,
    X: np.ndarray | Sequence[np.ndarray] | None = None,
) -> dict[str, Any]:
    """Table-3-style report of a detector on one labelled spectrogram set (consecutive windows of
    one recording) under :func:`all_decision_rules`: exact labels and, when ``tolerance`` > 0,
    a ±``tolerance``-window tolerance (:func:`confusion_windows`). ``X`` (B, m', n): the windows
    themselves, read by a spectrum readout (``Readout.source``)."""
    names = list(layout.class_names)
    true = label_sets(labels, names)
    index = det.indices(H, layout).index
    out: dict[str, Any] = {}
    for name, (kind, obj) in all_decision_rules(det, layout.n_classes).items():
        pred = (
            decide(index, obj, det.top_k) if kind == "threshold" else obj.decide(index, det.top_k)
        )
        row = {"exact": confusion_windows(pred, true, layout.n_classes, 0)}
        if tolerance > 0:
            row[f"pm{tolerance}"] = confusion_windows(pred, true, layout.n_classes, tolerance)
        if kind == "ur":
            row["ur"] = obj.to_params()
        out[name] = row
    if det.readout is not None:  # reads H or X~ (as fitted: no stored features to refit from)
        Xa = None if X is None else np.asarray(X)
        pred = det.readout.decide(det.readout.source(H, Xa), det.top_k)
        row = {"exact": confusion_windows(pred, true, layout.n_classes, 0)}
        if tolerance > 0:
            row[f"pm{tolerance}"] = confusion_windows(pred, true, layout.n_classes, tolerance)
        out["readout"] = row
    return {
        "classes": names,
        "n_mixtures": len(true),
        "shifted": det.shifted,
        "floor": det.floor,
        "top_k": det.top_k,
        "tolerance": int(tolerance),
        "methods": out,
    }


def format_spectrogram_set_report(title: str, rep: dict[str, Any]) -> str:
    """Lines of :func:`spectrogram_set_report`: one per rule, then the same with the tolerance."""
    lines = [
        f"{title}: {rep['n_mixtures']} windows; classes {'/'.join(rep['classes'])}; "
        f"{'shifted' if rep['shifted'] else 'diagonal'} indices, floor {rep['floor']:g}"
    ]
    tol = rep["tolerance"]
    for key, tag in [("exact", "")] + ([(f"pm{tol}", f" ±{tol}")] if tol else []):
        for name, row in rep["methods"].items():
            lines.append(format_confusion(f"  {name}{tag}", row[key]))
    return "\n".join(lines)


def _pct(v: float | None) -> str:
    return "  -" if v is None else f"{100 * v:3.0f}"


def format_confusion(name: str, c: dict[str, Any]) -> str:
    tp = "/".join(_pct(v) for v in c["tp_rate"])
    fp = "/".join(_pct(v) for v in c["fp_rate"])
    return (
        f"{name:<28} TP {tp} ({_pct(c['tp_overall'])})  TN {_pct(c['tn_rate'])}  "
        f"FP {fp} ({_pct(c['fp_overall'])})  acc {_pct(c['accuracy'])}"
    )


def detector_methods(det: Detector, n_classes: int) -> dict[str, Any]:
    """The decision rules to report: thresholds, and uncertainty reduction for β = 0, 1, 2."""
    methods: dict[str, Any] = {f"threshold ({det.rule})": ("threshold", None)}
    if det.train_index.size and any(det.train_labels):
        base = det.ur
        for beta in (0.0, 1.0, 2.0):
            proto = UncertaintyReduction(alpha=0.1) if base is None else base
            ur = replace(proto, beta=beta, A=np.zeros((0, 0)), class_threshold=None).fit(
                det.train_index, det.train_labels, n_classes
            )
            methods[f"UR beta={beta:g}"] = ("ur", ur)
    return methods


def decide_all(det: Detector, index: np.ndarray, n_classes: int) -> dict[str, list[list[int]]]:
    out = {}
    for name, (kind, ur) in detector_methods(det, n_classes).items():
        out[name] = (
            det.decide(index, "threshold") if kind == "threshold" else ur.decide(index, det.top_k)
        )
    return out


def piano_report(
    H: np.ndarray,
    labels: Sequence[str],
    layout: BlockLayout,
    det: Detector,
    train_H: np.ndarray | None = None,
) -> dict[str, Any]:
    """Table-3-style report of a detector on labelled mixtures (one label per mixture)."""
    names = list(layout.class_names)
    true = label_sets(labels, names)
    res = det.indices(H, layout)
    table: dict[str, Any] = {}
    lines = [
        f"{len(true)} mixtures; classes {'/'.join(names)}; "
        f"{'shifted' if det.shifted else 'diagonal'} indices"
    ]
    for name, pred in decide_all(det, res.index, layout.n_classes).items():
        c = confusion(pred, true, layout.n_classes)
        table[name] = c
        lines.append(format_confusion(name, c))
    return {
        "text": "\n".join(lines),
        "json": {
            "classes": names,
            "n_mixtures": len(true),
            "shifted": det.shifted,
            "thresholds": det.thresholds.tolist(),
            "methods": table,
        },
    }


# ============================================================================ dataset pipeline


def _snr_key(s: float | None) -> str:
    return "n/a" if s is None else f"{s:g}"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k / n (n = 0: (0, 1))."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, mid - half)), float(min(1.0, mid + half))


def _prop(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson(k, n)
    return {"k": int(k), "n": int(n), "rate": (k / n) if n else None, "ci95": [lo, hi]}


GAP_EDGES_DB = (12.0, 24.0, 36.0)  # bins of the level gap between a two-hit mixture's hits


def hit_snrs(mx: Any) -> tuple[float, ...] | None:
    """Each hit's own SNR (column ``snr_db_each``, ``;``-separated, aligned with ``classes``;
    ``dataset mdof`` writes it), or None when the column is absent, malformed or not one finite
    number per class."""
    txt = (getattr(mx, "extra", None) or {}).get("snr_db_each", "")
    try:
        v = tuple(float(x) for x in str(txt).split(";") if x.strip())
    except ValueError:
        return None
    if len(v) != len(mx.classes) or not all(np.isfinite(v)):
        return None
    return v


def _gap_key(gap: float) -> str:
    """The bin of a level gap (dB): "0-12", "12-24", "24-36", ">=36" (lower edge included)."""
    g = round(abs(gap), 6)
    lo = 0.0
    for hi in GAP_EDGES_DB:
        if g < hi:
            return f"{lo:g}-{hi:g}"
        lo = hi
    return f">={lo:g}"


def set_exact_scores(
    pred: Sequence[Sequence[int]], mixtures: Sequence[Any], true: Sequence[Sequence[int]], L: int
) -> dict[str, Any]:
    """Set-exact accuracy (the reported set of classes equals the true set) with 95% Wilson
    intervals: overall, per SNR of the single-hit mixtures, on no-hit and on two-hit mixtures
    (the decision does not know the number of hits); false positives per class and "any class"
    on the no-hit mixtures; the confusion counts (true class or none x reported class or none).

    Two-hit mixtures whose hits' own SNRs are known (:func:`hit_snrs`) are also scored per bin
    of the level gap |SNR₁ − SNR₂| (``two_hit_by_gap``, bins :data:`GAP_EDGES_DB`): set-exact,
    and how often the louder and the quieter hit's class is among the reported ones (with equal
    levels: at least one, and both; a hit far below another in the same window is masked by
    it)."""
    ok = [sorted(p) == sorted(t) for p, t in zip(pred, true, strict=True)]
    per_snr: dict[str, list[int]] = {}
    nohit = [0, 0]
    two = [0, 0]
    by_gap: dict[str, list[int]] = {}  # n, set-exact, louder reported, quieter reported
    fp_cls = np.zeros(L, dtype=np.int64)
    conf = np.zeros((L + 1, L + 1), dtype=np.int64)  # rows: true class (L = none); cols: reported
    for q, (mx, t) in enumerate(zip(mixtures, true, strict=True)):
        p = pred[q]
        if not t:
            nohit[0] += 1
            nohit[1] += int(ok[q])
            for c in p:
                fp_cls[c] += 1
        elif len(t) == 1:
            cell = per_snr.setdefault(_snr_key(mx.snr_db), [0, 0])
            cell[0] += 1
            cell[1] += int(ok[q])
        else:
            two[0] += 1
            two[1] += int(ok[q])
            snrs = hit_snrs(mx) if len(t) == 2 else None
            if snrs is not None:
                found = [int(c in p) for c in t]
                if snrs[0] == snrs[1]:  # equal levels: the louder is whichever was reported
                    loud_ok, quiet_ok = max(found), min(found)
                else:
                    loud_ok, quiet_ok = found[int(snrs[1] > snrs[0])], found[int(snrs[1] < snrs[0])]
                cell = by_gap.setdefault(_gap_key(snrs[0] - snrs[1]), [0, 0, 0, 0])
                cell[0] += 1
                cell[1] += int(ok[q])
                cell[2] += loud_ok
                cell[3] += quiet_ok
        if len(t) <= 1:
            row = t[0] if t else L
            for c in p or [L]:
                conf[row, c] += 1
    return {
        "overall": _prop(sum(ok), len(ok)),
        "single_hit_per_snr": {
            k: _prop(v[1], v[0]) for k, v in sorted(per_snr.items(), key=lambda kv: _num(kv[0]))
        },
        "no_hit": _prop(nohit[1], nohit[0]),
        "two_hit": _prop(two[1], two[0]),
        "two_hit_by_gap": {
            k: {
                "set_exact": _prop(v[1], v[0]),
                "louder_reported": _prop(v[2], v[0]),
                "quieter_reported": _prop(v[3], v[0]),
            }
            for k, v in sorted(by_gap.items(), key=lambda kv: _gap_num(kv[0]))
        },
        "false_positive_per_class": [_prop(int(v), nohit[0]) for v in fp_cls],
        "false_positive_any": _prop(nohit[0] - nohit[1], nohit[0]),
        "confusion": conf.tolist(),
    }


def calibration_scores(
    prob: np.ndarray, true: Sequence[Sequence[int]], L: int, n_bins: int = 10
) -> dict[str, Any]:
    """Brier score, expected calibration error and the reliability curve of per-class
    probabilities (B, L) against the true sets (every mixture x class pair is one forecast)."""
    y = np.zeros((len(true), L))
    for q, t in enumerate(true):
        y[q, list(t)] = 1.0
    p, yy = prob.ravel(), y.ravel()
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    curve = []
    ece = 0.0
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            curve.append([float(p[sel].mean()), float(yy[sel].mean()), int(sel.sum())])
            ece += sel.mean() * abs(p[sel].mean() - yy[sel].mean())
    return {"brier": float(((p - yy) ** 2).mean()), "ece": float(ece), "reliability": curve}


def score_mixtures(
    index: np.ndarray,
    mixtures: Sequence[Any],
    classes: Sequence[str],
    det: Detector,
    H: np.ndarray | None = None,
    X: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per-class x per-SNR detection rates, false positives and two-hit results of one method.

    ``H`` (B, r, n): the network outputs, and ``X`` (B, m', n) its input windows X̃: the readout
    rule reads one of them (``Readout.source``; reported when the detector has a readout and
    its input is given). Two-hit "top-2" and "thresholded" columns rank the indices, the readout
    row its scores z (one-vs-rest) or its per-class marginals P(c ∈ set) (label sets)."""
    out: dict[str, Any] = {}
    rules = {"threshold": det.decide(index, "threshold")}
    ranked = {"threshold": (index, det.thresholds)}
    if det.ur is not None:
        rules[f"UR beta={det.ur.beta:g}"] = det.decide(index, "ur")
        ranked[f"UR beta={det.ur.beta:g}"] = (index, det.thresholds)
    if det.readout is not None and (H is not None or X is not None):
        A = det.readout.source(H, X)
        rules["readout"] = det.readout.decide(A, det.top_k)
        ranked["readout"] = det.readout.class_scores(A)  # z, or the set readout's marginals
    true = label_sets_of(mixtures, classes)
    for rname, pred in rules.items():
        rank_score, rank_thr = ranked[rname]
        table: dict[str, dict[str, list[int]]] = {c: {} for c in classes}
        fp = [0, 0]
        two = [0, 0, 0]  # count, top-2 pair correct (count known), thresholded exact
        for q, (mx, t) in enumerate(zip(mixtures, true, strict=True)):
            p = pred[q]
            if not t:
                fp[0] += 1
                fp[1] += int(bool(p))
            elif len(t) == 1:
                cell = table[classes[t[0]]].setdefault(_snr_key(mx.snr_db), [0, 0])
                cell[0] += 1
                cell[1] += int(p[:1] == t)
            else:
                two[0] += 1
                top2 = [int(c) for c in np.argsort(-rank_score[q], kind="stable")[: len(t)]]
                two[1] += int(sorted(top2) == sorted(t))
                pk = decide(rank_score[q : q + 1], rank_thr, len(t))[0]
                two[2] += int(sorted(pk) == sorted(t))
        rates = {
            c: {s: v[1] / v[0] for s, v in sorted(cells.items(), key=lambda kv: _num(kv[0]))}
            for c, cells in table.items()
        }
        n_hit = sum(v[0] for cells in table.values() for v in cells.values())
        n_ok = sum(v[1] for cells in table.values() for v in cells.values())
        out[rname] = {
            "rate": rates,
            "counts": {c: {s: v for s, v in cells.items()} for c, cells in table.items()},
            "hit_accuracy": n_ok / n_hit if n_hit else None,
            "false_positive_rate": fp[1] / fp[0] if fp[0] else None,
            "n_nohit": fp[0],
            "two_hit": None
            if not two[0]
            else {"n": two[0], "top2_known_count": two[1] / two[0], "thresholded": two[2] / two[0]},
            "set_exact": set_exact_scores(pred, mixtures, true, len(classes)),
        }
    return out


def _gap_num(key: str) -> float:
    return float(key.lstrip(">=").split("-")[0])


def _num(s: str) -> float:
    try:
        return float(s)
    except ValueError:
        return float("inf")


def format_table(name: str, res: dict[str, Any]) -> str:
    lines = []
    for rname, r in res.items():
        snrs = sorted({s for c in r["rate"].values() for s in c}, key=_num)
        head = f"  {name} [{rname}]"
        lines.append(head)
        lines.append("    " + f"{'class':<14}" + "".join(f"{s + ' dB':>9}" for s in snrs))
        for c, cells in r["rate"].items():
            row = "".join(f"{100 * cells[s]:8.0f}%" if s in cells else f"{'-':>9}" for s in snrs)
            lines.append("    " + f"{c:<14}" + row)
        fpr = r["false_positive_rate"]
        extra = f"    hits correct {100 * (r['hit_accuracy'] or 0):.1f}%"
        extra += f", false positives {'-' if fpr is None else f'{100 * fpr:.1f}%'}"
        extra += f" of {r['n_nohit']} no-hit mixtures"
        if r["two_hit"]:
            t = r["two_hit"]
            extra += (
                f", two-hit pairs: {100 * t['top2_known_count']:.0f}% (top-2, count known),"
                f" {100 * t['thresholded']:.0f}% (thresholds)"
            )
        lines.append(extra)
        if "set_exact" in r:
            lines.append("    " + format_set_exact(r["set_exact"]))
            gaps = format_gaps(r["set_exact"])
            if gaps:
                lines.append("    " + gaps)
    return "\n".join(lines)


def _ci(p: dict[str, Any]) -> str:
    if not p["n"]:
        return "-"
    lo, hi = p["ci95"]
    return f"{100 * p['rate']:.1f}% [{100 * lo:.0f}-{100 * hi:.0f}] of {p['n']}"


def format_gaps(se: dict[str, Any]) -> str | None:
    """The two-hit line per level gap, or None when no two-hit mixture has per-hit SNRs."""
    gaps = se.get("two_hit_by_gap") or {}
    if not gaps:
        return None
    return "two hits by level gap (|SNR1 - SNR2|): " + ", ".join(
        f"{k} dB {_ci(v['set_exact'])} (louder hit reported {100 * v['louder_reported']['rate']:.0f}%"
        f", quieter {100 * v['quieter_reported']['rate']:.0f}%)"
        for k, v in gaps.items()
    )


def format_set_exact(se: dict[str, Any]) -> str:
    per = ", ".join(f"{k} dB {_ci(v)}" for k, v in se["single_hit_per_snr"].items())
    return (
        f"set-exact: overall {_ci(se['overall'])}; single hits: {per}; no hit {_ci(se['no_hit'])};"
        f" two hits (count unknown) {_ci(se['two_hit'])}; false positives any class "
        f"{_ci(se['false_positive_any'])}, per class "
        + "/".join(
            "-" if not p["n"] else f"{100 * p['rate']:.0f}%" for p in se["false_positive_per_class"]
        )
    )


def format_summary(results: dict[str, Any]) -> str:
    """One table for the model and its baselines: set-exact accuracy (%) overall, per SNR of the
    single hits, two hits (count unknown), and false positives (any class) on no-hit mixtures."""
    rows = []
    snrs: set[str] = set()
    for name, r in results.items():
        for rname, sc in r["scores"].items():
            se = sc.get("set_exact")
            if se is None:
                continue
            snrs |= set(se["single_hit_per_snr"])
            rows.append((f"{name} [{rname}]", se))
    cols = sorted(snrs, key=_num)

    def pct(p: dict[str, Any]) -> str:
        return f"{'-':>8}" if not p["n"] else f"{100 * p['rate']:7.1f}%"

    head = f"{'set-exact (%)':<44}{'overall':>8}" + "".join(f"{c + ' dB':>8}" for c in cols)
    head += f"{'2-hit':>8}{'FP any':>8}"
    lines = [head]
    for label, se in rows:
        line = f"{label[:43]:<44}{pct(se['overall'])}"
        line += "".join(
            pct(se["single_hit_per_snr"][c]) if c in se["single_hit_per_snr"] else f"{'-':>8}"
            for c in cols
        )
        line += pct(se["two_hit"]) + pct(se["false_positive_any"])
        lines.append(line)
    return "\n".join(lines)


def evaluate_methods(
    methods: dict[str, tuple[Any, Detector | None, dict[str, Any]]],
    ds: Any,
    feats: Any,
    scale: float,
    progress: bool = True,
    which: str = "test",
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Run each (estimator, detector or None, detector options) on the dataset's mixtures.

    A method without a detector gets one fitted on the training mixtures (thresholds from the
    no-hit ones); on a folder without ``split=train`` mixtures (a pure test folder) such methods
    are skipped with a line in ``notes``, methods with a stored detector run on every mixture.
    Returns {method: {"scores": ..., "index": (B, L), "mixtures": names}}.
    """
    from tinyunfold.detection import fit_detector

    train = [m for m in ds.mixtures if m.split == "train"]
    test = [m for m in ds.mixtures if m.split != "train"] or list(ds.mixtures)
    mixes = test if which == "test" else list(ds.mixtures)
    Xte = [spectrogram(m.audio, feats, scale) for m in mixes]
    Xs = np.stack(Xte) if Xte else None  # the windows X~ a spectrum readout reads
    Xtr = None
    out: dict[str, Any] = {}
    for name, (est, det, opts) in methods.items():
        if det is None:
            if not train:
                if notes is not None:
                    notes.append(
                        f"{name}: skipped (its thresholds are fitted on split=train mixtures, "
                        "and this folder has none)"
                    )
                continue
            if Xtr is None:
                Xtr = [spectrogram(m.audio, feats, scale) for m in train]
            Htr = transform_many(est, Xtr, f"{name} (train)", progress)
            det = fit_detector(Htr, label_sets_of(train, ds.classes), est.layout_, **opts)
        H = transform_many(est, Xte, f"{name} (test)", progress)
        res = det.indices(H, est.layout_)
        conf = det.confidence(res.index)
        out[name] = {
            "calibration": None
            if conf is None
            else calibration_scores(conf, label_sets_of(mixes, ds.classes), len(ds.classes)),
            "H_max": H.max(axis=(0, 2)),
            "raw_index": res.index,
            "scores": score_mixtures(res.index, mixes, ds.classes, det, H, Xs),
            "readout_calibration": None
            if det.readout is None
            else calibration_scores(
                det.readout.probability(det.readout.source(H, Xs)),
                label_sets_of(mixes, ds.classes),
                len(ds.classes),
            ),
            "index": res.index,
            "thresholds": det.thresholds,
            "mixtures": [m.name for m in mixes],
            "snr": [m.snr_db for m in mixes],
            "classes": [list(m.classes) for m in mixes],
        }
    return out


def plot_indices(results: dict[str, Any], classes: Sequence[str], path: str) -> None:
    """Fig. 4.11-style: detection indices (dB) vs SNR for the single-hit mixtures of each class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(
        len(names), len(classes), figsize=(4 * len(classes), 2.8 * len(names)), squeeze=False
    )
    markers = "*os^Dv<>p"
    for i, n in enumerate(names):
        r = results[n]
        idx = 10 * np.log10(np.maximum(r["index"], 1e-300))
        for j, c in enumerate(classes):
            ax = axes[i][j]
            sel = [q for q, cl in enumerate(r["classes"]) if cl == [c] and r["snr"][q] is not None]
            snr = np.array([r["snr"][q] for q in sel])
            for lc, cname in enumerate(classes):
                ax.scatter(
                    snr,
                    idx[sel, lc],
                    marker=markers[lc % len(markers)],
                    s=18,
                    label=cname,
                    alpha=0.8 if cname == c else 0.4,
                )
                ax.axhline(
                    10 * np.log10(max(r["thresholds"][lc], 1e-300)),
                    ls="--",
                    lw=1.8 if cname == c else 0.8,
                    color=f"C{lc}",
                )
            ax.set_title(f"{n}: hits of {c}", fontsize=8)
            ax.set_xlabel("SNR (dB)")
            ax.set_ylabel("index (dB)")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def report(results: dict[str, Any], ds: Any, out_dir: str | None, plots: bool = True) -> str:
    """Print-ready text; JSON (+ plots) into ``out_dir``."""
    import json
    from pathlib import Path

    text = (
        format_summary(results)
        + "\n"
        + "\n".join(format_table(n, r["scores"]) for n, r in results.items())
    )
    for n, r in results.items():
        c = r.get("calibration")
        if c is not None:
            text += (
                f"\n  {n}: calibrated class probabilities (Platt, fitted on the training "
                f"mixtures): Brier {c['brier']:.3f}, ECE {c['ece']:.3f}"
            )
        c = r.get("readout_calibration")
        if c is not None:
            text += (
                f"\n  {n}: readout probabilities (σ(z), or P(c ∈ set) for label sets; fitted "
                "on the training mixtures): "
                f"Brier {c['brier']:.3f}, ECE {c['ece']:.3f}"
            )
    if out_dir:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        js = {
            n: {
                "scores": r["scores"],
                "calibration": r.get("calibration"),
                "readout_calibration": r.get("readout_calibration"),
                "thresholds": np.asarray(r["thresholds"]).tolist(),
                "index": np.asarray(r["index"]).tolist(),
                "mixtures": r["mixtures"],
            }
            for n, r in results.items()
        }
        (d / "report.json").write_text(
            json.dumps({"classes": list(ds.classes), "methods": js}, indent=1)
        )
        (d / "report.txt").write_text(text + "\n")
        if plots:
            plot_indices(results, ds.classes, str(d / "indices_vs_snr.png"))
            plot_confusion(results, ds.classes, str(d / "confusion.png"))
            plot_reliability(results, str(d / "reliability.png"))
    return text


def plot_reliability(results: dict[str, Any], path: str) -> None:
    """Reliability diagram: mean calibrated probability vs observed frequency per bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cal = {n: r["calibration"] for n, r in results.items() if r.get("calibration")}
    if not cal:
        return
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
    for n, c in cal.items():
        pts = np.asarray(c["reliability"])
        ax.plot(pts[:, 0], pts[:, 1], "o-", ms=3, label=f"{n} (ECE {c['ece']:.3f})")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_confusion(results: dict[str, Any], classes: Sequence[str], path: str) -> None:
    """Confusion matrices (single-hit and no-hit mixtures): true class or none (rows) x reported
    class or none (columns), one panel per method and decision rule, counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        (f"{n} [{rn}]", np.asarray(sc["set_exact"]["confusion"]))
        for n, r in results.items()
        for rn, sc in r["scores"].items()
        if "set_exact" in sc
    ]
    if not panels:
        return
    labels = [*classes, "none"]
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    k = len(labels)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(0.6 * k * ncol + 2, 0.6 * k * nrow + 1.5), squeeze=False
    )
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    for ax, (title, C) in zip(axes.ravel(), panels, strict=False):
        rows = np.maximum(C.sum(1, keepdims=True), 1)
        ax.imshow(C / rows, cmap="Blues", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                if C[i, j]:
                    ax.text(j, i, str(C[i, j]), ha="center", va="center", fontsize=7)
        ax.set_xticks(range(k), labels, rotation=60, fontsize=7)
        ax.set_yticks(range(k), labels, fontsize=7)
        ax.set_xlabel("reported")
        ax.set_ylabel("true")
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def evaluate_detector(model: Any, dataset: str | None, out: str | None, plots: bool) -> str:
    """The report text of :func:`evaluate_dataset` (problems appended as CHECK FAILED lines)."""
    return evaluate_dataset(model, dataset, out, plots)[0]


def evaluate_dataset(
    model: Any, dataset: str | None, out: str | None, plots: bool
) -> tuple[str, list[str]]:
    """``tinyunfold evaluate --model M --dataset D`` for every detector kind.

    Reports the model and, on the same test mixtures, the baselines its kind names (the same
    initial dictionary without trained layers, ...), thresholds of every baseline fitted on the
    training mixtures the same way. The model uses its stored thresholds, so a folder with no
    ``split=train`` mixture (a pure test folder) is evaluated whole (without the baselines).
    Returns (report text, degeneracy problems: ``evaluate`` exits 1 when there is any).
    """
    from tinyunfold.datasets import load_dataset

    if not dataset:
        raise TinyUnfoldError("evaluating a hit detector needs --dataset")
    ds = load_dataset(dataset)
    feats, scale = model_front_end(model.params)
    if feats.sample_rate != ds.sample_rate:
        raise TinyUnfoldError(
            f"model front-end is for {feats.sample_rate} Hz, dataset is {ds.sample_rate} Hz",
            "evaluate on a dataset of the same rate",
        )
    return evaluate_detector_checked(model, ds, feats, scale, out, plots)


def evaluate_detector_checked(
    model: Any, ds: Any, feats: Any, scale: float, out: str | None, plots: bool
) -> tuple[str, list[str]]:
    """The report of :func:`evaluate_detector` and the degeneracy problems found in the model
    (:func:`tinyunfold.detection.degeneracy_problems` on its dictionary, its thresholds and its
    outputs on the evaluated mixtures): ``evaluate`` fails when there is any."""
    from tinyunfold import kinds
    from tinyunfold.detection import degeneracy_problems

    parts = kinds.get(model.kind).require("detection")(model)
    methods: dict[str, Any] = {model.kind: (parts.transformer, parts.detector, {})}
    methods.update(parts.baselines(ds, feats, scale))
    notes: list[str] = []
    results = evaluate_methods(methods, ds, feats, scale, progress=True, notes=notes)
    text = report(results, ds, out, plots=plots)
    est = parts.transformer
    problems: list[str] = []
    if hasattr(est, "W_fixed_") and hasattr(est, "layout_"):
        r = results[model.kind]
        problems = degeneracy_problems(
            est.W_fixed_,
            est.layout_,
            float(est.eps),
            H=r["H_max"][None, :, None],
            index=r["raw_index"],
            thresholds=parts.detector.thresholds,
            mask=est.masks(1)[0],
        )
    cv = parts.detector.threshold_cv
    if cv:
        text += (
            f"\n  {model.kind}: thresholds for {100 * (parts.detector.fpr or 0):g}% false "
            "positives (rule fpr); leave-one-out on the training mixtures: any class on no-hit "
            + ("-" if cv.get("fp_any_nohit") is None else f"{100 * cv['fp_any_nohit']:.1f}%")
            + ", per class on its negatives "
            + "/".join(f"{100 * v:.1f}%" for v in cv["fp_per_class"])
        )
    for n in notes:
        text += f"\nnote: {n}"
    for p in problems:
        text += f"\nCHECK FAILED: {model.kind}: {p}"
    if out:
        from pathlib import Path

        (Path(out) / "checks.txt").write_text("".join(f"{p}\n" for p in problems))
    return text, problems


# ================================================================================== bench
def speed_comparison(
    est: Any, ds: Any, feats: Any, scale: float, batch: int, repeats: int = 1
) -> dict[str, float]:
    """Seconds per mini-batch: hand-derived split gradients with cached fixed layers (ours) vs a
    straightforward torch-autograd implementation (all K layers every batch, backward by
    autograd; it yields only ∇, not the [∇]± the multiplicative update (4.3.9) needs)."""
    import time

    import torch

    from tinyunfold.models.padnmf import kl_layer, split_gradients, stack_columns, torch_threads

    train, _ = train_split(ds)
    mix = train[:batch]
    X = [spectrogram(m.audio, feats, scale) for m in mix]
    S = [
        spectrogram(m.target_stem, feats, scale) if m.target_stem is not None else np.zeros_like(x)
        for m, x in zip(mix, X, strict=True)
    ]
    n = X[0].shape[1]
    Xs = stack_columns(X, est.context)
    Ss = stack_columns(S, est.context)
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    _, MH = est.masks(n)
    M = None if MH is None else t(np.tile(MH, (1, len(mix))))
    Wd = [t(W) for W in est.W_disc_]
    Wf = t(est.W_fixed_)
    out: dict[str, float] = {}
    with torch_threads(est.n_threads):
        t0 = time.perf_counter()
        Hf = est.cached_fixed_states(Xs, len(mix), n, torch.float64, torch.device("cpu"))
        out["fixed_layers_once_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(repeats):
            split_gradients(
                Hf,
                Wd,
                Wf,
                t(Xs),
                t(Ss),
                est.layout_.target_rank,
                est.alpha_h,
                est.alpha_s_eff,
                est.eps,
                M,
            )
        out["split_gradients_per_batch_s"] = (time.perf_counter() - t0) / repeats
        t0 = time.perf_counter()
        for _ in range(repeats):
            Wg = [W.clone().requires_grad_(True) for W in Wd]
            H = t(est._h0(n, len(mix)))
            Xt = t(Xs)
            for _k in range(est.n_layers - est.n_discriminative):
                H = kl_layer(H, Wf, Xt, Wf.sum(0)[:, None] + est.alpha_h, est.eps, M)
            for W in Wg:
                H = kl_layer(H, W, Xt, W.sum(0)[:, None] + est.alpha_h, est.eps, M)
            rs = est.layout_.target_rank
            Vs = Wf[:, :rs] @ H[:rs]
            Y = Vs + Wf[:, rs:] @ H[rs:] + est.eps
            St = t(Ss)
            loss = (
                0.5 * ((Vs / Y * Xt - St) ** 2).sum()
                + 0.5 * est.alpha_s_eff * ((St - Vs) ** 2).sum()
            )
            loss.backward()
        out["autograd_all_layers_per_batch_s"] = (time.perf_counter() - t0) / repeats
    out["batch"] = float(len(mix))
    return out


def bench(
    ds_path: str,
    config: str | None,
    overrides: Sequence[str],
    out_dir: str,
    kind_names: Sequence[str] = ("padnmf", "deepnmf"),
    progress: bool = True,
    speed: bool = True,
    plots: bool = True,
) -> dict[str, Any]:
    """Train every kind on the dataset with one config, evaluate them and the first kind's
    fixed-dictionary baselines on the test mixtures; optionally time the training step."""
    import json
    import time
    from pathlib import Path

    from tinyunfold import kinds
    from tinyunfold.datasets import load_dataset

    ds = load_dataset(ds_path)
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    methods: dict[str, Any] = {}
    timing: dict[str, Any] = {}
    first = None
    for name in kind_names:
        training = kinds.get(name).require("training")
        cfg = training.load_config(config, list(overrides))
        t0 = time.perf_counter()
        trained = training.fit(ds, cfg, progress)
        timing[f"train_{name}_s"] = time.perf_counter() - t0
        model = trained.modelfile()
        kinds.save_model(d / f"{name}.tum", model)
        methods[name] = (trained.transformer, trained.detector, {})
        if first is None:
            first = (model, trained, cfg)
    assert first is not None
    model, trained, cfg = first
    feats, scale = model_front_end(model.params)
    det_parts = kinds.get(model.kind).require("detection")(model)
    methods.update(det_parts.baselines(ds, feats, scale))
    t0 = time.perf_counter()
    results = evaluate_methods(methods, ds, feats, scale, progress)
    timing["evaluate_all_s"] = time.perf_counter() - t0
    est = trained.transformer
    if speed:
        timing["speed"] = speed_comparison(
            est, ds, feats, scale, min(est.batch_size, len(train_split(ds)[0]))
        )
    text = report(results, ds, str(d), plots)
    (d / "timing.json").write_text(json.dumps(timing, indent=1))
    (d / "config.json").write_text(json.dumps(cfg, indent=1))
    return {"text": text, "timing": timing, "results": results}
