"""Is a hit g dB below another hit in the same window still there to be found?  A diagnostic.

For each level gap g a balanced yes/no question: a window holding hit *a* at SNR s (uniform in
[lo + g, hi], the range of the dataset's labelled SNRs; s = hi when g exceeds it) against the
same kind of window with a hit of another class *b* added at s − g. Both come from the synthetic
mixtures of ``augment_mixtures`` (its templates, ±3% stretch, random onsets, mixed and
stretched backgrounds; the test split is never read): the louder hit is a single-hit synthetic
mixture, the quieter one the hit of another, rescaled to s − g against the first one's
background; then a gain in ±12 dB. The templates come from the nominal chain, so there is no
chain mismatch here: this is the best case.

Classifiers (logistic regression, and with ``--hidden N`` one ReLU layer of N units in front),
fitted on ``--n`` windows per gap with the L2 weight of ``--l2`` chosen by the accuracy on the
last fifth of them, scored on ``--n`` / 2 further windows (chance: 50%), for two features:
``energy``, the band energies ln max(Σ_t X̃[b, t], 1e-6) (what the readout reads with
``readout_input = "spectrum"``, ``--n-bands`` log bands), and ``bins``, max and mean over
frames of ln(X + 1e-3) of every rfft bin (the full-resolution window). docs/padnmf.md, "Where
the accuracy goes".

    python examples/diagnostics/masking.py DATASET --n-fft 4096 --hop 4096 --n-bands 128 \
        --gaps 12 24 36 48 --n 4000 --hidden 128

``--model M.tum --two-hit N`` instead scores that detector's readout on N synthetic two-hit
mixtures (nominal chain, each hit's SNR uniform in the dataset's range, another seed than
training's) per level gap, as ``tinyunfold evaluate`` does on a test split.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import torch
from linear_probe import lbfgs_fit  # the same directory: the scripts run as files

from tinyunfold import kinds
from tinyunfold.datasets.io import load_dataset
from tinyunfold.datasets.prep import (
    augment_mixtures,
    label_sets_of,
    model_front_end,
    spectrogram,
    transform_many,
)
from tinyunfold.features import SpectrogramParams
from tinyunfold.pipelines.evaluation import format_gaps, set_exact_scores

torch.set_num_threads(1)  # small problems: threads only contend

FEATURES = {
    "energy": lambda X: np.log(np.maximum(X.sum(2), 1e-6)),
    "bins": lambda X: np.concatenate([np.log(X.max(2) + 1e-3), np.log(X + 1e-3).mean(2)], 1),
}


def windows(ds, n: int, gap: float, seed: int, lo: float, hi: float) -> tuple[list, np.ndarray]:  # noqa: ANN001
    """n windows, every second one with a quieter hit of another class ``gap`` dB below."""
    kw = {"two_hit": 0.0, "no_hit": 0.0, "noise_stretch": True}
    louder = augment_mixtures(ds, n, seed=seed, snr_db=(min(lo + gap, hi), hi), **kw)
    quieter = augment_mixtures(ds, 2 * n, seed=seed + 1, snr_db=(0.0, 0.0), **kw)
    rng = np.random.default_rng(seed + 2)
    audio, y, j = [], [], 0
    for m in louder:
        if len(audio) == n:
            break
        x = m.audio.copy()
        if len(audio) % 2:
            while quieter[j].classes == m.classes:  # another class
                j += 1
            q = quieter[j]
            j += 1
            e1 = float(np.sum((m.audio - m.target_stem) ** 2))  # the window's background energy
            e2 = float(np.sum((q.audio - q.target_stem) ** 2))  # 0 dB: ||stem||² = e2
            x += q.target_stem * np.sqrt(10 ** ((m.snr_db - gap) / 10) * e1 / e2)
        audio.append(x * 10 ** (rng.uniform(-12.0, 12.0) / 20))
        y.append(len(audio) % 2 == 0)
    return audio, np.array(y, dtype=np.float64)


def fit_score(
    F: np.ndarray, y: np.ndarray, G: np.ndarray, yg: np.ndarray, l2s: list[float], hidden: int
) -> float:
    """Accuracy on (G, yg) of the classifier whose L2 weight scores best on F's last fifth."""
    nv = len(y) // 5
    mu, sd = F[:-nv].mean(0), F[:-nv].std(0) + 1e-6
    U, V, T = (torch.tensor((A - mu) / sd) for A in (F[:-nv], F[-nv:], G))
    t = torch.tensor(y[:-nv])
    best = (-1.0, 0.0)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for l2 in l2s:
        torch.manual_seed(0)
        if hidden:
            net = torch.nn.Sequential(
                torch.nn.Linear(F.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
            ).double()
        else:
            net = torch.nn.Linear(F.shape[1], 1).double()
        lbfgs_fit(net, U, lambda z: bce(z[:, 0], t), l2, 200)
        with torch.no_grad():
            va = float(((net(V)[:, 0] > 0).numpy() == (y[-nv:] > 0.5)).mean())
            te = float(((net(T)[:, 0] > 0).numpy() == (yg > 0.5)).mean())
        if va > best[0]:
            best = (va, te)
    return best[1]


def readout_by_gap(ds, path: str, n: int, seed: int) -> None:  # noqa: ANN001
    """The detector's readout on n synthetic two-hit mixtures, set-exact per level gap."""
    model = kinds.load_model(path)
    det = kinds.get(model.kind).require("detection")(model).detector
    if det.readout is None:
        raise SystemExit(f'{path} has no readout ([detection] readout = true or "sets")')
    front, scale = model_front_end(model.params)
    mix = augment_mixtures(ds, n, seed=987_654 + seed, two_hit=1.0, no_hit=0.0, noise_stretch=True)
    X = np.stack([spectrogram(m.audio, front, scale) for m in mix])
    H = None
    if det.readout.input != "spectrum":
        H = transform_many(kinds.get(model.kind).estimator(model), list(X), "forward", False)
    pred = det.readout.decide(det.readout.source(H, X), det.top_k)
    se = set_exact_scores(pred, mix, label_sets_of(mix, ds.classes), len(ds.classes))
    t = se["two_hit"]
    print(f"two hits (count unknown): {100 * t['rate']:.1f}% of {t['n']}")
    print(format_gaps(se))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--n-fft", type=int, default=4096)
    ap.add_argument("--hop", type=int, default=4096)
    ap.add_argument("--n-bands", type=int, default=128, help="log bands of the energy features")
    ap.add_argument("--gaps", type=float, nargs="+", default=[12.0, 24.0, 36.0, 48.0])
    ap.add_argument("--n", type=int, default=4000, help="training windows per gap")
    ap.add_argument("--l2", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2])
    ap.add_argument("--hidden", type=int, default=0, help="also one ReLU layer of N units")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", help="score this detector's readout instead (with --two-hit)")
    ap.add_argument("--two-hit", type=int, default=1000, help="synthetic two-hit mixtures")
    a = ap.parse_args()
    ds = load_dataset(a.dataset)
    if a.model:
        readout_by_gap(ds, a.model, a.two_hit, a.seed)
        return
    bands = SpectrogramParams(
        sample_rate=ds.sample_rate, n_fft=a.n_fft, hop=a.hop, n_bands=a.n_bands, band_scale="log"
    )
    fronts = {"energy": bands, "bins": dataclasses.replace(bands, n_bands=None)}
    snrs = [m.snr_db for m in ds.mixtures if m.snr_db is not None]
    lo, hi = min(snrs), max(snrs)
    scale = {
        f: 1.0 / np.concatenate([spectrogram(x, fr, 1.0) for x in ds.noise], 1).mean()
        for f, fr in fronts.items()
    }
    cols = [(f, h) for f in FEATURES for h in ([0, a.hidden] if a.hidden else [0])]
    print("gap_dB " + " ".join(f"{f}-{'linear' if not h else f'hidden{h}'}" for f, h in cols))
    for g in a.gaps:
        seed = a.seed * 100_000 + int(round(10 * g)) * 10
        tr, y = windows(ds, a.n, g, seed, lo, hi)
        te, yt = windows(ds, a.n // 2, g, seed + 5, lo, hi)
        feats = {}
        for f, front in fronts.items():  # X~ scaled to unit mean noise power, as the model's

            def of(xs: list, f: str = f, front: SpectrogramParams = front) -> np.ndarray:
                return np.concatenate(
                    [FEATURES[f](spectrogram(x, front, scale[f])[None]) for x in xs]
                )

            feats[f] = (of(tr), of(te))
        row = [100 * fit_score(feats[f][0], y, feats[f][1], yt, a.l2, h) for f, h in cols]
        print(f"{g:g} " + " ".join(f"{v:.1f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
