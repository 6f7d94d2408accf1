"""Screen changes of a trained detector's readout decision in seconds, without training a network.

The readout of the spectrum (``[detection] readout = "sets"``, ``readout_input = "spectrum"``)
reads only each band's total over the window, so this script rebuilds exactly what a training
config gives it, with the training pipeline's own functions: the front-end (the order notch
included), the recorded ``split=train`` mixtures, the ``[model] augment`` mixtures (in-situ
hits, levels, stretched noise as configured) and the ``[detection] readout_augment`` ones, and
their window totals. It fits ``detection.Readout`` with the config's options (the product: the
same W and b as ``tinyunfold train`` with that config, so the same test decisions) and prints
the test split's set-exact accuracy, then one row per variant:

* ``--count-prior P0 P1 P2`` (or ``recorded``): the decision under another prior of the number
  of hits in a window: every label set of k hits gets ln(p_k / q_k) added to its score, q_k the
  fraction of the readout's training mixtures with k hits (mostly the synthetic mix,
  ``augment_no_hit`` / ``augment_two_hit``); ``recorded``: p_k from the recorded training
  mixtures, add-one smoothed (the machine's own rates). Equal p and q: the product's decisions.
* ``--excess-scale S``: the excess block (``readout_excess``) multiplied by S before the fit,
  i.e. its L2 penalty divided by S² against the standardised levels.
* ``--average-l2 L1 L2 ..``: the readouts fitted at each weight, their scores z averaged: one
  linear readout (W and b averaged; every fit standardises the same features alike), so the
  board's rule would not change, only its weights.

The test split is read for the report only. ``--cache F.npz`` keeps the inputs (the synthetic
mixtures take minutes). A diagnostic for docs/padnmf.md ("Where the accuracy goes", items 15-20),
not a detector.

    python examples/diagnostics/readout_screen.py DATASET \\
        --config examples/padnmf/dataset2-hard-deploy.toml --count-prior recorded
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from tinyunfold.datasets.io import load_dataset
from tinyunfold.datasets.prep import (
    built_from_recordings,
    config_front_end,
    label_sets_of,
    spectrogram,
    train_split,
)
from tinyunfold.detection import Readout, decide_sets, excess_features, window_totals
from tinyunfold.pipelines.evaluation import set_exact_scores
from tinyunfold.training.padnmf import (
    load_config,
    readout_mixtures,
    template_options,
    training_mixtures,
)


def readout_inputs(ds: Any, cfg: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The band totals (Q, m') the config's readout trains on, as ``train_from_dataset`` builds
    them, with labels, recorded flags and what each was built from; the test split's (B, m')."""
    mc, dc = cfg["model"], cfg["detection"]
    feats, scale = config_front_end(ds, cfg["features"])  # as the training pipeline
    train, real, ds_aug, aug = training_mixtures(ds, mc, template_options(mc))
    _, test = train_split(ds)
    A = window_totals([spectrogram(m.audio, feats, scale) for m in train])[:, :, 0]
    labels = label_sets_of(train, ds.classes)
    built = built_from_recordings(train, real)
    n_ro = int(dc.get("readout_augment", 0))
    if n_ro:
        ex = readout_mixtures(
            None, ds_aug, feats, scale, n_ro, int(mc.get("seed", 0)), aug, dc, False, real
        )
        A = np.concatenate([A, ex.X[:, :, 0]])
        labels += ex.labels
        built += ex.built_from or [[]] * len(ex.labels)
    return {
        "A": A,
        "labels": labels,
        "built": built,
        "recorded": np.arange(len(A)) < len(real),
        "T": window_totals([spectrogram(m.audio, feats, scale) for m in test])[:, :, 0],
        "test_labels": label_sets_of(test, ds.classes),
        "snr": [m.snr_db for m in test],
        "n_classes": len(ds.classes),
    }


def _save(path: Path, d: dict[str, Any]) -> None:
    np.savez(
        path, A=d["A"], recorded=d["recorded"], T=d["T"], n_classes=d["n_classes"],
        labels=np.array([repr(list(s)) for s in d["labels"]]),
        built=np.array([repr(list(b)) for b in d["built"]]),
        test_labels=np.array([repr(list(s)) for s in d["test_labels"]]),
        snr=np.array([np.nan if s is None else s for s in d["snr"]], dtype=np.float64),
    )  # fmt: skip


def _load(path: Path) -> dict[str, Any]:
    z = np.load(path)
    ints = lambda s: [int(v) for v in str(s).strip("[]").split(",") if v.strip()]  # noqa: E731
    return {
        "A": z["A"], "recorded": z["recorded"], "T": z["T"], "n_classes": int(z["n_classes"]),
        "labels": [ints(s) for s in z["labels"]], "built": [ints(s) for s in z["built"]],
        "test_labels": [ints(s) for s in z["test_labels"]],
        "snr": [None if np.isnan(s) else float(s) for s in z["snr"]],
    }  # fmt: skip


class ScaledExcess(Readout):
    """The product's readout with its excess block multiplied by ``scale`` (fit and decision)."""

    scale: float = 1.0

    def _with_excess(
        self, F: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None
    ) -> np.ndarray:
        if stats is None:
            return F
        return np.concatenate(
            [F, self.scale * excess_features(F, stats[0], stats[1], self.excess)], 1
        )


def fit_readout(d: dict[str, Any], dc: dict[str, Any], l2: Any, scale: float = 1.0) -> Readout:
    """``detection.Readout`` with the config's options, fitted as training fits it."""
    ro = ScaledExcess(
        floor=float(dc.get("readout_floor", 1e-6)),
        l2=l2,
        cv_score=str(dc.get("readout_cv_score", "accuracy")),
        cv_balance=dc.get("readout_cv_balance", False),
        excess=float(dc.get("readout_excess", 0.0)),
        max_hits=int(dc.get("readout_max_hits", 2)),
        input="spectrum",
    )
    ro.scale = scale
    ro.fit(
        d["A"][:, :, None], d["labels"], d["n_classes"], 0,
        recorded=d["recorded"], built_from=d["built"],
    )  # fmt: skip
    return ro


def averaged_scores(d: dict[str, Any], dc: dict[str, Any], weights: Sequence[float]) -> np.ndarray:
    """The test windows' scores z (B, S) of the readouts fitted at each L2 weight, averaged."""
    return np.mean([fit_readout(d, dc, lam).score(d["T"][:, :, None]) for lam in weights], 0)


def count_bias(
    prior: Sequence[float], labels: Sequence[Sequence[int]], sizes: np.ndarray
) -> np.ndarray:
    """ln(p_k / q_k) for each label set's size k: q_k the training mixtures' share with k hits
    (p normalised to sum 1)."""
    n = np.array([len(s) for s in labels])
    q = np.array([np.mean(n == k) for k in range(len(prior))])
    p = np.asarray(prior, dtype=np.float64) / np.sum(prior)
    # a size no training mixture has keeps its scores (there is no share to correct)
    return np.where(q > 0, np.log(p / np.maximum(q, 1e-300)), 0.0)[sizes]


def recorded_prior(d: dict[str, Any], max_hits: int) -> list[float]:
    """The recorded training mixtures' shares of 0 .. max_hits hits, add-one smoothed."""
    n = np.array([len(s) for s, r in zip(d["labels"], d["recorded"], strict=True) if r])
    return [(np.sum(n == k) + 1.0) / (len(n) + max_hits + 1.0) for k in range(max_hits + 1)]


def scores(pred: Sequence[Sequence[int]], d: dict[str, Any]) -> list[float]:
    """Set-exact % overall, per SNR of the single hits, two-hit, FP on no-hit mixtures: the
    report's own counts (:func:`~tinyunfold.pipelines.evaluation.set_exact_scores`)."""
    mixtures = [
        SimpleNamespace(snr_db=s, classes=t, extra={})  # no per-hit SNRs: no level-gap bins
        for s, t in zip(d["snr"], d["test_labels"], strict=True)
    ]
    se = set_exact_scores(pred, mixtures, d["test_labels"], d["n_classes"])
    cells = [se["overall"], *se["single_hit_per_snr"].values(), se["two_hit"]]
    cells.append(se["false_positive_any"])
    return [np.nan if c["rate"] is None else 100.0 * c["rate"] for c in cells]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--config", required=True, help="a padnmf training config (TOML)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--cache", type=Path, help="keep the readout's inputs here (.npz)")
    ap.add_argument("--l2", type=float, help="a fixed weight instead of the config's rule")
    ap.add_argument(
        "--count-prior", nargs="+", default=[], metavar="P", help="recorded or P0 P1 .."
    )
    ap.add_argument("--excess-scale", type=float, nargs="+", default=[])
    ap.add_argument("--average-l2", type=float, nargs="+", default=[], metavar="L2")
    a = ap.parse_args(argv)
    cfg = load_config(a.config, a.set)
    dc = cfg["detection"]
    if dc.get("readout") != "sets" or dc.get("readout_input") != "spectrum":
        ap.error('the config\'s readout must be readout = "sets", readout_input = "spectrum"')
    if a.cache is not None and a.cache.exists():
        d = _load(a.cache)
    else:
        d = readout_inputs(load_dataset(a.dataset), cfg)
        if a.cache is not None:
            _save(a.cache, d)
    l2 = dc.get("readout_l2", "cv") if a.l2 is None else a.l2
    snrs = sorted({s for s, t in zip(d["snr"], d["test_labels"], strict=True) if len(t) == 1})
    print("rule".ljust(34), "overall", *(f"{s:g}dB" for s in snrs), "2-hit", "FP-any")

    def row(name: str, pred: Sequence[Sequence[int]]) -> None:
        print(name.ljust(34), *(f"{v:.1f}" for v in scores(pred, d)), flush=True)

    ro = fit_readout(d, dc, l2)
    z = ro.score(d["T"][:, :, None])
    row(f"product (l2 {ro.l2:g})", ro.decide(d["T"][:, :, None], d["n_classes"]))
    for lam, acc in ro.cv_scores.items():  # the weight rule's held-out scores, when it ran
        print(f"  cv l2 {lam}: accuracy {acc:.4f} log-loss {ro.cv_log_loss[lam]:.4f}")
    sizes = np.array([len(s) for s in ro.sets])
    if a.count_prior:
        prior = (
            recorded_prior(d, ro.max_hits)
            if a.count_prior == ["recorded"]
            else [float(p) for p in a.count_prior]
        )
        if len(prior) != ro.max_hits + 1 or min(prior) <= 0:
            ap.error(f"--count-prior needs {ro.max_hits + 1} positive shares (0 .. max hits)")
        zz = z + count_bias(prior, d["labels"], sizes)[None, :]
        row(
            "count prior " + "/".join(f"{p:.3g}" for p in prior),
            [list(ro.sets[i]) for i in zz.argmax(1)],
        )
    for s in a.excess_scale:
        r2 = fit_readout(d, dc, ro.l2, s)
        row(f"excess block x{s:g}", r2.decide(d["T"][:, :, None], d["n_classes"]))
    if a.average_l2:
        za = averaged_scores(d, dc, a.average_l2)
        row("mean of l2 " + "/".join(f"{v:g}" for v in a.average_l2), decide_sets(za, ro.sets))


if __name__ == "__main__":
    main()
