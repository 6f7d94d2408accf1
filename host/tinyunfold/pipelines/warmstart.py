"""Accuracy against the number of layers K for cold and warm starts (streaming PAD-NMF).

Protocol (docs/padnmf.md "Warm starts"): the spectrograms of a split's mixtures (n frames each)
are concatenated in dataset order into one stream of frames; a window of n frames is analysed
every ``stride`` frames. The windows that start on a mixture boundary are exactly the mixtures'
own windows and carry their labels; the windows in between only carry the warm state. Cold: every
window starts from 1 ∘ M^H (what ``evaluate`` measures today). Warm: each window starts from the
previous window's H⁽ᴷ⁾ shifted by ``stride`` (``PADNMF.warm_h0``, identical in the golden model
and the C). For each K (K − C fixed layers, then the C − 1 trained dictionaries) the detector is
refitted on the training split's boundary windows (thresholds of the model's [detection] config)
and scored on the test split: the fraction of test mixtures whose decided class set equals the
label set.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold.datasets import load_dataset
from tinyunfold.datasets.prep import label_sets_of, model_front_end, spectrogram, train_split
from tinyunfold.detection import fit_detector_from_config
from tinyunfold.features import hankel
from tinyunfold.kinds import load_model
from tinyunfold.models.padnmf import PADNMF, run_layers


def stream_windows(est: PADNMF, specs: Sequence[np.ndarray], stride: int, warm: bool) -> np.ndarray:
    """H⁽ᴷ⁾ of the boundary windows of the concatenated stream, (len(specs), r, n)."""
    n = int(specs[0].shape[1])
    if n % stride:
        raise ValueError(f"stride {stride} must divide the window length {n}")
    frames = np.concatenate(specs, axis=1)
    est = copy.copy(est)
    est.warm_stride = stride
    _, MH = est.masks(n)
    sched = est.schedule()
    alpha, eps = float(est.alpha_h), float(est.eps)
    cold = np.ones((est.layout_.rank, n)) if MH is None else MH  # H⁽⁰⁾ = 1 ∘ M^H
    out = []
    H = None
    for t in range(0, frames.shape[1] - n + 1, stride):
        X = hankel(frames[:, t : t + n], est.context)
        H0 = est.warm_h0(H) if (warm and H is not None) else cold
        H = run_layers(H0, X, sched, alpha, eps, MH)
        if t % n == 0:
            out.append(H)
    return np.stack(out)


def accuracy_vs_layers(
    model_path: Path,
    dataset: Path,
    layers: Sequence[int],
    stride: int,
    log: Callable[[str], None] = print,
    starts: Sequence[bool] = (False, True),
    methods: Sequence[str] = ("threshold",),
) -> list[dict[str, Any]]:
    """Rows {K, start, decision, accuracy, hits, false_positives} for cold and warm starts and
    each decision rule of ``methods`` (``"threshold"`` 4.3.32, ``"ur"`` 4.3.37, both fitted on
    the training windows)."""
    model = load_model(model_path)
    base = PADNMF.from_modelfile(model)
    feats, scale = model_front_end(model.params)
    ds = load_dataset(dataset)
    train, test = train_split(ds)
    X_tr = [spectrogram(m.audio, feats, scale) for m in train]
    X_te = [spectrogram(m.audio, feats, scale) for m in test]
    y_tr = label_sets_of(train, ds.classes)
    y_te = label_sets_of(test, ds.classes)
    dc = model.params.get("config", {}).get("detection", {})
    rows = []
    for K in layers:
        est = copy.copy(base)
        est.n_layers = int(K)
        est.warm_stride = stride
        for warm in starts:
            if warm:
                H_tr = stream_windows(est, X_tr, stride, True)
                H_te = stream_windows(est, X_te, stride, True)
            else:  # the cold boundary windows are the mixtures' own forward passes (batched)
                H_tr, H_te = est.transform(X_tr), est.transform(X_te)
            det = fit_detector_from_config(
                H_tr,
                y_tr,
                est.layout_,
                dc,
                shifted_default=not est.h_mask_on,
            )
            res = det.indices(H_te, est.layout_)
            for method in methods:
                dec = det.decide(res.index, method)
                right = [sorted(d) == sorted(y) for d, y in zip(dec, y_te, strict=True)]
                hit = [r for r, y in zip(right, y_te, strict=True) if y]
                fp = [bool(d) for d, y in zip(dec, y_te, strict=True) if not y]
                row = {
                    "K": int(K),
                    "start": "warm" if warm else "cold",
                    "decision": method,
                    "stride": stride,
                    "accuracy": round(100 * float(np.mean(right)), 1),
                    "hits_right": round(100 * float(np.mean(hit)), 1) if hit else None,
                    "false_positives": round(100 * float(np.mean(fp)), 1) if fp else None,
                    "test_mixtures": len(y_te),
                }
                log(str(row))
                rows.append(row)
    return rows
