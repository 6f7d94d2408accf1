"""Which rule picks the readout's L2 weight well: every weight of the grid scored on the test split
next to what each CV rule would pick from the training mixtures alone.

The readout of the spectrum (``[detection] readout = "sets"``, ``readout_input = "spectrum"``)
reads the window's band energies only, so this script rebuilds exactly its training data
without training a network: the dataset's ``split=train`` mixtures plus ``--augment`` synthetic
ones (``augment_mixtures``, seed ``--seed``, levels ±``--augment-gain-db``, with
``--noise-stretch`` the noise pieces time-scaled as the hits), the front-end of
the training pipeline (inputs scaled so that the mean noise power is 1), then
``detection.Readout`` with each fixed weight. For each weight it prints the test split's
set-exact accuracy (overall, per SNR of the single hits, two-hit, false positives on no-hit
mixtures) and the 5-fold CV scores of the training mixtures the rules read: accuracy and mean
log-loss, over all training mixtures ("cv") and over the recorded ones only ("cv-recorded").
Then, for each rule (``readout_l2`` x ``readout_cv_score``), the weight it picks and that
weight's test score. The test split is read for the report only. A diagnostic for
docs/padnmf.md ("The readout's weight, judged by log-loss"), not a detector.

    python examples/diagnostics/readout_l2_rules.py DATASET --n-bands 128 --augment 2000
"""

from __future__ import annotations

import argparse

import numpy as np

from tinyunfold.datasets.io import load_dataset
from tinyunfold.datasets.prep import (
    augment_mixtures,
    built_from_recordings,
    label_sets_of,
    spectrogram,
    train_split,
)
from tinyunfold.detection import READOUT_L2_GRID, Readout
from tinyunfold.features import SpectrogramParams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--n-fft", type=int, default=4096)
    ap.add_argument("--hop", type=int, default=4096)
    ap.add_argument("--n-bands", type=int, default=128)
    ap.add_argument("--augment", type=int, default=2000, help="synthetic training mixtures")
    ap.add_argument("--augment-gain-db", type=float, default=12.0)
    ap.add_argument("--seed", type=int, default=0, help="of the synthetic mixtures")
    ap.add_argument(
        "--noise-stretch", action="store_true", help="[model] augment_noise_stretch = true"
    )
    ap.add_argument("--grid", type=float, nargs="+", default=list(READOUT_L2_GRID))
    a = ap.parse_args()

    ds = load_dataset(a.dataset)
    real, test = train_split(ds)
    aug = (
        augment_mixtures(
            ds, a.augment, seed=a.seed, gain_db=a.augment_gain_db, noise_stretch=a.noise_stretch
        )
        if a.augment
        else []
    )
    feats = SpectrogramParams(
        sample_rate=int(ds.sample_rate),
        n_fft=a.n_fft,
        hop=a.hop,
        n_bands=a.n_bands,
        band_scale="log",
    )
    noise = np.concatenate([spectrogram(x, feats, 1.0) for x in ds.noise], axis=1)
    scale = 1.0 / max(float(noise.mean()), 1e-300)  # as the training pipeline
    train = real + aug
    A = np.stack([spectrogram(m.audio, feats, scale) for m in train])
    At = np.stack([spectrogram(m.audio, feats, scale) for m in test])
    L = len(ds.classes)
    ls, lt = label_sets_of(train, ds.classes), label_sets_of(test, ds.classes)
    rec = np.arange(len(train)) < len(real)
    built = built_from_recordings(train, real)  # held out with their recordings, as in training
    single = np.array([len(s) == 1 for s in lt])
    nohit = np.array([len(t) == 0 for t in lt])
    two = np.array([len(t) == 2 for t in lt])
    snr = np.array([m.snr_db if m.snr_db is not None else np.nan for m in test])
    levels = sorted({float(v) for v in snr[single]})
    # the CV scores of every weight, as training computes them (Readout.fit: the same folds,
    # accuracy and mean log-loss), judged on all training mixtures and on the recorded ones
    cv = {}
    for rule, flags in (("cv", None), ("cv-recorded", rec)):
        r = Readout(l2=rule, max_hits=2, input="spectrum")
        r.fit(A, ls, L, top_k=L, grid=a.grid, recorded=flags, built_from=built)
        cv[rule] = r
    head = ["l2", "test"] + [f"{v:g}" for v in levels] + ["2-hit", "FP-any"]
    head += ["cv-acc", "cv-ll", "rec-acc", "rec-ll"]
    print(" ".join(f"{h:>7}" for h in head))
    rows: dict[float, dict[str, float]] = {}
    for lam in a.grid:
        ro = Readout(l2=lam, max_hits=2, input="spectrum").fit(A, ls, L, top_k=L)
        ok = np.array([sorted(p) == sorted(t) for p, t in zip(ro.decide(At, L), lt, strict=True)])
        fp = np.mean([len(p) > 0 for p in ro.decide(At[nohit], L)]) if nohit.any() else np.nan
        key = f"{lam:g}"
        row = {
            "test": 100 * ok.mean(),
            **{f"{v:g}": 100 * ok[single & (snr == v)].mean() for v in levels},
            "2-hit": 100 * ok[two].mean() if two.any() else float("nan"),
            "FP-any": 100 * fp,
            "cv-acc": 100 * cv["cv"].cv_scores[key],
            "cv-ll": cv["cv"].cv_log_loss[key],
            "rec-acc": 100 * cv["cv-recorded"].cv_scores[key],
            "rec-ll": cv["cv-recorded"].cv_log_loss[key],
        }
        rows[lam] = row
        print(f"{lam:>7g} " + " ".join(f"{row[h]:>7.4g}" for h in head[1:]), flush=True)
    print("rule (readout_l2 / readout_cv_score)  picks  test")
    for name, key, by_loss in (
        ("cv / accuracy", "cv-acc", False),
        ("cv / log-loss", "cv-ll", True),
        ("cv-recorded / accuracy", "rec-acc", False),
        ("cv-recorded / log-loss", "rec-ll", True),
    ):  # ties: the larger weight, as Readout.fit
        pick = max(rows, key=lambda v: ((-rows[v][key] if by_loss else rows[v][key]), v))
        print(f"{name:<36} {pick:>6g} {rows[pick]['test']:>5.1f}")


if __name__ == "__main__":
    main()
