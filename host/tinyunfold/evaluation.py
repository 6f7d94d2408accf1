"""Evaluation of hit detectors: confusion counts, per-class x per-SNR tables, JSON and plots.

Conventions (as Table 3 of thesis 4.3.6): for each class l, TP_l = fraction of the mixtures holding l
in which l is reported, FN_l = 1 - TP_l (missed or reported as another class); TN = fraction of the
no-hit mixtures with nothing reported, FP_l = fraction of the no-hit mixtures in which l is reported
(so TN + Σ_l FP_l ≥ 100% with equality when at most one class is reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyunfold.detection import Detector, UncertaintyReduction
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.models.padnmf import BlockLayout

NONE_LABELS = ("none", "", "-")


def label_sets(labels: Sequence[str], class_names: Sequence[str]) -> list[list[int]]:
    """'C4' / 'none' / 'a+b' labels -> lists of class indices."""
    out = []
    for lab in labels:
        lab = lab.strip()
        if lab.lower() in NONE_LABELS:
            out.append([])
            continue
        idx = []
        for part in lab.replace(";", "+").split("+"):
            if part not in class_names:
                raise TinyUnfoldError(f"label {part!r} is not a class ({', '.join(class_names)})")
            idx.append(list(class_names).index(part))
        out.append(idx)
    return out


def confusion(pred: Sequence[Sequence[int]], true: Sequence[Sequence[int]], n_classes: int
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
        "accuracy": float(exact / len(true)) if len(true) else None,
    }


def _pct(v: float | None) -> str:
    return "  -" if v is None else f"{100 * v:3.0f}"


def format_confusion(name: str, c: dict[str, Any]) -> str:
    tp = "/".join(_pct(v) for v in c["tp_rate"])
    fp = "/".join(_pct(v) for v in c["fp_rate"])
    return (f"{name:<28} TP {tp} ({_pct(c['tp_overall'])})  TN {_pct(c['tn_rate'])}  "
            f"FP {fp} ({_pct(c['fp_overall'])})  acc {_pct(c['accuracy'])}")


def detector_methods(det: Detector, n_classes: int) -> dict[str, Any]:
    """The decision rules to report: thresholds, and uncertainty reduction for β = 0, 1, 2."""
    methods: dict[str, Any] = {f"threshold ({det.rule})": ("threshold", None)}
    if det.train_index.size and any(det.train_labels):
        base = det.ur
        for beta in (0.0, 1.0, 2.0):
            ur = UncertaintyReduction(
                beta=beta, alpha=base.alpha if base else 0.1, p=base.p if base else 0.25,
                background=base.background if base else False,
                threshold=base.threshold if base else 0.5,
            ).fit(det.train_index, det.train_labels, n_classes)
            methods[f"UR beta={beta:g}"] = ("ur", ur)
    return methods


def decide_all(det: Detector, index: np.ndarray, n_classes: int) -> dict[str, list[list[int]]]:
    out = {}
    for name, (kind, ur) in detector_methods(det, n_classes).items():
        out[name] = det.decide(index, "threshold") if kind == "threshold" else ur.decide(
            index, det.top_k)
    return out


def piano_report(
    H: np.ndarray, labels: Sequence[str], layout: BlockLayout, det: Detector,
    train_H: np.ndarray | None = None,
) -> dict[str, Any]:
    """Table-3-style report of a detector on labelled mixtures (one label per mixture)."""
    names = list(layout.class_names)
    true = label_sets(labels, names)
    res = det.indices(H, layout)
    table: dict[str, Any] = {}
    lines = [f"{len(true)} mixtures; classes {'/'.join(names)}; "
             f"{'shifted' if det.shifted else 'diagonal'} indices"]
    for name, pred in decide_all(det, res.index, layout.n_classes).items():
        c = confusion(pred, true, layout.n_classes)
        table[name] = c
        lines.append(format_confusion(name, c))
    return {"text": "\n".join(lines),
            "json": {"classes": names, "n_mixtures": len(true), "shifted": det.shifted,
                     "thresholds": det.thresholds.tolist(), "methods": table}}
