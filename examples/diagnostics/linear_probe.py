"""How much class information a front-end (or a model's activations) carries: a linear probe.

Fits one L2-regularised logistic regression per class on features of the training mixtures plus
N synthetic ones (``augment_mixtures``; the test split is never read for fitting), decides
p > 0.5 per class and prints set-exact accuracy on the test split overall, per SNR (single hits),
on two-hit mixtures and the false positives on no-hit mixtures. A diagnostic (docs/padnmf.md,
"Frames that skip audio"), not a detector.

    python examples/diagnostics/linear_probe.py DATASET --n-fft 4096 --hop 4096 --n-bands 48 --log
    python examples/diagnostics/linear_probe.py DATASET --model m.tum --layers 200

Features: max and mean over frames of ln(band power + 1e-3) (front-end mode), or ln(Σ_t H + 1e-6)
per atom of the model's forward pass (``--model``).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from tinyunfold import kinds
from tinyunfold.datasets.io import load_dataset
from tinyunfold.datasets.prep import (
    augment_mixtures,
    label_sets_of,
    model_front_end,
    spectrogram,
    train_split,
    transform_many,
)
from tinyunfold.features import SpectrogramParams


def fit_probe(F: np.ndarray, Y: np.ndarray, l2: float):  # noqa: ANN201 - a script
    mu, sd = F.mean(0), F.std(0) + 1e-6
    Ft, Yt = torch.tensor((F - mu) / sd), torch.tensor(Y)
    W = torch.zeros(F.shape[1], Y.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(Y.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], max_iter=800, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        z = Ft @ W + b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, Yt) + l2 * (W**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return lambda G: torch.sigmoid(torch.tensor((G - mu) / sd) @ W.detach() + b.detach()).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--model", help="probe this model's activations instead of a front-end")
    ap.add_argument("--layers", type=int, help="K of the model's forward pass (default: its own)")
    ap.add_argument("--n-fft", type=int, default=1024)
    ap.add_argument("--hop", type=int, default=4096)
    ap.add_argument("--n-bands", type=int)
    ap.add_argument("--log", action="store_true", help="log-spaced bands")
    ap.add_argument("--augment", type=int, default=600)
    ap.add_argument("--l2", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2])
    a = ap.parse_args()
    torch.set_num_threads(1)
    ds = load_dataset(a.dataset)
    train, test = train_split(ds)
    train = train + augment_mixtures(ds, a.augment, seed=1)
    C = len(ds.classes)
    if a.model:
        mf = kinds.load_model(a.model)
        est = kinds.get(mf.kind).estimator(mf)
        if a.layers:
            est.K = a.layers
        feats, scale = model_front_end(mf.params)
    else:
        feats = SpectrogramParams(
            sample_rate=int(ds.sample_rate),
            n_fft=a.n_fft,
            hop=a.hop,
            n_bands=a.n_bands,
            band_scale="log" if a.log else "linear",
        )
        noise = np.concatenate([spectrogram(x, feats, 1.0) for x in ds.noise], axis=1)
        scale = 1.0 / noise.mean()

    def features(ms: list) -> tuple[np.ndarray, np.ndarray]:
        X = [spectrogram(m.audio, feats, scale) for m in ms]
        if a.model:
            H = transform_many(est, X, "forward", False)
            F = np.log(H.sum(2) + 1e-6)
        else:
            L = np.log(np.stack(X) + 1e-3)
            F = np.concatenate([L.max(2), L.mean(2)], 1)
        Y = np.zeros((len(ms), C))
        for q, ls in enumerate(label_sets_of(ms, ds.classes)):
            Y[q, ls] = 1.0
        return F, Y

    Ftr, Ytr = features(train)
    Fte, Yte = features(test)
    snr = np.array([np.nan if m.snr_db is None else round(m.snr_db) for m in test])
    nh = Yte.sum(1)
    snrs = sorted({float(s) for s in snr[(nh == 1) & ~np.isnan(snr)]})
    print(f"{'l2':>8} overall " + " ".join(f"{s:>5g}" for s in snrs) + "  2-hit  FP-any")
    for l2 in a.l2:
        pred = fit_probe(Ftr, Ytr, l2)(Fte) > 0.5
        ok = (pred == (Yte > 0)).all(1)
        per = [ok[(snr == s) & (nh == 1)].mean() * 100 for s in snrs]
        row = f"{l2:>8g} {ok.mean() * 100:7.1f} " + " ".join(f"{v:5.1f}" for v in per)
        print(row + f" {ok[nh == 2].mean() * 100:6.1f} {pred[nh == 0].any(1).mean() * 100:7.1f}")


if __name__ == "__main__":
    main()
