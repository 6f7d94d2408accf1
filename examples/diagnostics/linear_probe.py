"""How much class information a front-end (or a model's activations) carries: a probe.

Fits a classifier on features of the training mixtures plus N synthetic ones
(``augment_mixtures``; the test split is never read for fitting) and prints set-exact accuracy
overall, per SNR (single hits), on two-hit mixtures and the false positives on no-hit mixtures.
A diagnostic (docs/padnmf.md, "Frames that skip audio" and "Where the accuracy goes"), not a
detector.

    python examples/diagnostics/linear_probe.py DATASET --n-fft 4096 --hop 4096 --n-bands 48 --log
    python examples/diagnostics/linear_probe.py DATASET --model m.tum --layers 200
    python examples/diagnostics/linear_probe.py DATASET --n-fft 4096 --hop 4096 --n-bands 48 --log \
        --augment 2000 --sets --holdout 500

Features: max and mean over frames of ln(band power + 1e-3) (front-end mode), with ``--energy``
the band energies of the window ln max(Σ_t X̃[b, t], 1e-6) (what the readout reads with
``readout_input = "spectrum"``), or ln(Σ_t H + 1e-6) per atom of the model's forward pass
(``--model``). ``--pool A B ...`` concatenates other poolings of the window's bands:
``energy``, ``max`` and ``mean`` (as above), ``maxmed`` (ln max − ln median over frames, a
transient measure) and ``binmax`` (ln of the largest rfft bin of the time-averaged spectrum in
each band, a peak picker).

Classifiers: one L2 logistic regression per class decided at p > 0.5 (default), or with
``--sets`` one multinomial logistic regression over the label sets of at most two classes (the
empty set included), decided by the most probable set; ``--hidden N`` puts one ReLU layer of N
units in front (a nonlinear probe).

``--orders-f0 LO HI`` runs the front-end's order notch (``[features] orders_f0``,
docs/datasets.md "Order notch") before the pooling.

``--test-gain-db G ...`` scores the test split played louder or quieter by G dB (the first
``--l2`` only); ``--augment-gain-db`` gives the synthetic training mixtures random gains.

``--by-source`` fits the label-set classifier over the target *files* (sources) instead of the
classes and merges each predicted set of sources into its set of classes (piecewise-linear
class boundaries for classes with several templates; needs ``--sets``). ``--in-situ`` adds the
target stem of every single-hit training mixture to its class's templates for the synthetic
mixtures (the monitored machine's own hits, docs/padnmf.md "Not done").

``--holdout N`` scores the last N synthetic mixtures instead of the test split (fitting on the
others): mixtures built from the same templates and backgrounds as the training data, i.e. with
no mismatch between the chain that made the templates and the one that made the test mixtures.
The difference between the two scores is what that mismatch costs. Their SNRs are continuous,
so they are reported in 10 dB bins [lo, lo + 10) (a top bin of fewer than 10 mixtures joins
the one below).

``--empty-bar D ...`` (``--sets``): a bar on "no hit": a window is called empty only when no
hit set's score beats the empty set's by more than −D (D > 0 favours hits; 0 is the argmax);
one row per weight and bar. ``--fpr-bar F ...``: the bar D that leaves a stated fraction F of
the training no-hit windows reported as hits, each window scored by a fit on the other four
fifths (5-fold), printed and scored like the ``--empty-bar`` ones (docs/padnmf.md item 14).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
from collections.abc import Callable

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
from tinyunfold.features import SpectrogramParams, band_edges


def _binmax(X: np.ndarray, audio: list, feats: SpectrogramParams, scale: float) -> np.ndarray:
    full = dataclasses.replace(feats, n_bands=None)
    e = band_edges(feats) - band_edges(feats)[0]
    P = np.stack([spectrogram(x, full, scale).mean(1) for x in audio])  # (Q, bins)
    return np.log(np.stack([P[:, e[b] : e[b + 1]].max(1) for b in range(len(e) - 1)], 1) + 1e-6)


POOLS = {  # (Q, F, N) band spectrogram (+ the audio) -> (Q, F) features
    "energy": lambda X, *_: np.log(np.maximum(X.sum(2), 1e-6)),
    "max": lambda X, *_: np.log(X.max(2) + 1e-3),
    "mean": lambda X, *_: np.log(X + 1e-3).mean(2),
    "maxmed": lambda X, *_: np.log(X.max(2) + 1e-3) - np.log(np.median(X, 2) + 1e-3),
    "binmax": _binmax,
}


def lbfgs_fit(
    net: torch.nn.Module,
    X: torch.Tensor,
    data_loss: Callable[[torch.Tensor], torch.Tensor],
    l2: float,
    max_iter: int,
) -> None:
    """min data_loss(net(X)) + l2 Σ‖weights‖² (biases unpenalised) over ``net``'s parameters
    by L-BFGS with a strong-Wolfe line search (masking.py uses it too)."""
    opt = torch.optim.LBFGS(net.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = data_loss(net(X))
        for name, p in net.named_parameters():
            if "weight" in name:
                loss = loss + l2 * (p**2).sum()
        loss.backward()
        return loss

    opt.step(closure)


class Probe:
    """A fitted probe: features (Q, d) -> scores z (Q, outputs) and boolean decisions (Q, L)."""

    def __init__(
        self, net: torch.nn.Module, mu: np.ndarray, sd: np.ndarray, table: list, L: int, sets: bool
    ) -> None:
        self.net, self.mu, self.sd, self.table, self.L, self.sets = net, mu, sd, table, L, sets

    def scores(self, G: np.ndarray) -> np.ndarray:
        """The classifier's scores z (Q, outputs), a writable copy."""
        with torch.no_grad():
            return self.net(torch.tensor((G - self.mu) / self.sd)).numpy().copy()

    def __call__(self, G: np.ndarray, bar: float = 0.0) -> np.ndarray:
        """Decisions (Q, L); ``bar``: D of ``--empty-bar`` (label sets only)."""
        z = self.scores(G)
        if not self.sets:
            return z > 0.0
        z[:, 0] -= bar
        out = np.zeros((len(G), self.L), dtype=bool)
        for q, k in enumerate(z.argmax(1)):
            out[q, list(self.table[k])] = True
        return out


def fit_probe(F: np.ndarray, Y: np.ndarray, l2: float, sets: bool, hidden: int) -> Probe:
    """The probe fitted on features F (Q, d) and labels Y (Q, L)."""
    L = Y.shape[1]
    table = [()] + [(c,) for c in range(L)] + list(itertools.combinations(range(L), 2))
    code: dict[tuple[int, ...], int] = {s: k for k, s in enumerate(table)}
    mu, sd = F.mean(0), F.std(0) + 1e-6
    Ft = torch.tensor((F - mu) / sd)
    n_out = len(table) if sets else L
    torch.manual_seed(0)
    net: torch.nn.Module
    if hidden:
        net = torch.nn.Sequential(
            torch.nn.Linear(F.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out)
        ).double()
    else:
        lin = torch.nn.Linear(F.shape[1], n_out).double()
        torch.nn.init.zeros_(lin.weight)
        torch.nn.init.zeros_(lin.bias)
        net = lin
    if sets:
        target = torch.tensor([code.get(tuple(int(c) for c in np.flatnonzero(y)), 0) for y in Y])
    else:
        target = torch.tensor(Y)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    loss = torch.nn.functional.cross_entropy if sets else bce
    lbfgs_fit(net, Ft, lambda z: loss(z, target), l2, 800)
    return Probe(net, mu, sd, table, L, sets)


def fpr_bars(F: np.ndarray, Y: np.ndarray, l2: float, hidden: int, rates: list[float]) -> list:
    """``--fpr-bar``: per stated rate, the bar D that leaves that fraction of the no-hit windows
    of (F, Y) reported as hits, each scored by a fit on the other four fifths."""
    fold = np.random.default_rng(0).permutation(len(F)) % 5
    m = np.zeros(len(F))
    for k in range(5):
        z = fit_probe(F[fold != k], Y[fold != k], l2, True, hidden).scores(F[fold == k])
        m[fold == k] = z[:, 1:].max(1) - z[:, 0]  # the best hit set's margin over "no hit"
    neg = m[Y.sum(1) == 0]
    return [-float(np.quantile(neg, 1.0 - r)) for r in rates]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("--model", help="probe this model's activations instead of a front-end")
    ap.add_argument("--layers", type=int, help="K of the model's forward pass (default: its own)")
    ap.add_argument("--n-fft", type=int, default=1024)
    ap.add_argument("--hop", type=int, default=4096)
    ap.add_argument("--n-bands", type=int)
    ap.add_argument("--log", action="store_true", help="log-spaced bands")
    ap.add_argument(
        "--orders-f0", type=float, nargs=2, metavar=("LO", "HI"), help="notch orders (features)"
    )
    ap.add_argument("--augment", type=int, default=600)
    ap.add_argument("--l2", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2])
    ap.add_argument("--sets", action="store_true", help="multinomial over label sets (<= 2 hits)")
    ap.add_argument("--hidden", type=int, default=0, help="one ReLU layer of this many units")
    ap.add_argument("--energy", action="store_true", help="features ln max(sum_t X, 1e-6)")
    ap.add_argument("--pool", nargs="+", choices=sorted(POOLS), help="poolings, concatenated")
    ap.add_argument("--by-source", action="store_true", help="label sets of sources (--sets)")
    ap.add_argument("--in-situ", action="store_true", help="training stems join the templates")
    ap.add_argument("--augment-gain-db", type=float, default=0.0, help="gain draw of augmentation")
    ap.add_argument(
        "--test-gain-db", type=float, nargs="+", default=[0.0], help="score at these test levels"
    )
    ap.add_argument("--holdout", type=int, default=0, help="score the last N synthetic mixtures")
    ap.add_argument("--empty-bar", type=float, nargs="+", default=[], help="bars on no hit")
    ap.add_argument("--fpr-bar", type=float, nargs="+", default=[], help="bars for these FP rates")
    a = ap.parse_args()
    if a.by_source and not a.sets:
        ap.error("--by-source needs --sets")
    if (a.empty_bar or a.fpr_bar) and (not a.sets or a.by_source):
        ap.error("--empty-bar and --fpr-bar need --sets (without --by-source)")
    if any(not 0.0 < r < 1.0 for r in a.fpr_bar):
        ap.error("--fpr-bar rates must lie in (0, 1), e.g. 0.01")
    torch.set_num_threads(1)
    ds = load_dataset(a.dataset)
    train, test = train_split(ds)
    ds_aug = ds
    if a.in_situ:  # the single-hit training mixtures' stems join their class's templates
        ds_aug = copy.copy(ds)
        ds_aug.targets = {c: list(v) for c, v in ds.targets.items()}
        ds_aug.target_files = {c: list(ds.target_files.get(c, [])) for c in ds.targets}
        for m in train:
            if len(m.classes) == 1 and m.target_stem is not None:
                ds_aug.targets[m.classes[0]].append(m.target_stem)
                src = m.sources[0].split("/")[-1] if m.sources else m.name  # the hit location
                ds_aug.target_files[m.classes[0]].append(src)
    train = train + augment_mixtures(ds_aug, a.augment, seed=1, gain_db=a.augment_gain_db)
    if a.holdout:
        if not 0 < a.holdout < a.augment:
            ap.error("--holdout must be between 1 and --augment - 1")
        train, test = train[: -a.holdout], train[-a.holdout :]
    C = len(ds.classes)
    if a.model:
        mf = kinds.load_model(a.model)
        est = kinds.get(mf.kind).require("estimator")(mf)
        if a.layers:
            est.n_layers = a.layers
        feats, scale = model_front_end(mf.params)
    else:
        feats = SpectrogramParams(
            sample_rate=int(ds.sample_rate),
            n_fft=a.n_fft,
            hop=a.hop,
            n_bands=a.n_bands,
            band_scale="log" if a.log else "linear",
            orders_f0=tuple(a.orders_f0) if a.orders_f0 else None,
        )
        noise = np.concatenate([spectrogram(x, feats, 1.0) for x in ds.noise], axis=1)
        scale = 1.0 / noise.mean()

    def features(ms: list, gain: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        X = [spectrogram(m.audio * gain, feats, scale) for m in ms]
        if a.pool:
            F = np.concatenate(
                [POOLS[p](np.stack(X), [m.audio * gain for m in ms], feats, scale) for p in a.pool],
                1,
            )
        elif a.model:
            H = transform_many(est, X, "forward", False)
            F = np.log(H.sum(2) + 1e-6)
        elif a.energy:
            F = np.log(np.maximum(np.stack(X).sum(2), 1e-6))
        else:
            Lg = np.log(np.stack(X) + 1e-3)
            F = np.concatenate([Lg.max(2), Lg.mean(2)], 1)
        Y = np.zeros((len(ms), C))
        for q, ls in enumerate(label_sets_of(ms, ds.classes)):
            Y[q, ls] = 1.0
        return F, Y

    Ftr, Ytr = features(train)
    Fte, Yte = features(test)
    Ysrc = np.zeros((len(train), 0))
    srcs: list[str] = []
    if a.by_source:  # fit over sources, decide over classes
        # a mixture without a sources column: one "unknown" source per class
        src_of = [
            m.sources if len(m.sources) == len(m.classes) else tuple(f"{c}/?" for c in m.classes)
            for m in train
        ]
        srcs = sorted({s for ss in src_of for s in ss})
        Ysrc = np.zeros((len(train), len(srcs)))
        for q, ss in enumerate(src_of):
            Ysrc[q, [srcs.index(s) for s in ss]] = 1.0
    cls_of = np.array([list(ds.classes).index(s.split("/")[0]) for s in srcs], dtype=np.int64)

    def fitter(l2: float):  # noqa: ANN202
        if not a.by_source:
            return fit_probe(Ftr, Ytr, l2, a.sets, a.hidden)
        by_src = fit_probe(Ftr, Ysrc, l2, True, a.hidden)

        def predict(G: np.ndarray) -> np.ndarray:
            out = np.zeros((len(G), C), dtype=bool)
            for q, row in enumerate(by_src(G)):
                out[q, cls_of[row]] = True
            return out

        return predict

    if a.test_gain_db != [0.0]:  # the test recordings louder or quieter, the model unchanged
        predict = fitter(a.l2[0])
        print(f"{'gain dB':>8} overall  FP-any")
        for g in a.test_gain_db:
            F, _ = features(test, 10.0 ** (g / 20.0))
            pred = predict(F)
            ok = (pred == (Yte > 0)).all(1)
            print(
                f"{g:>8g} {ok.mean() * 100:7.1f} {pred[Yte.sum(1) == 0].any(1).mean() * 100:7.1f}"
            )
        return
    snr = np.array([np.nan if m.snr_db is None else float(m.snr_db) for m in test])
    nh = Yte.sum(1)
    single = (nh == 1) & ~np.isnan(snr)
    if a.holdout:
        lo = np.floor(snr / 10.0) * 10.0
        while True:  # a top bin of fewer than 10 mixtures joins the one below
            top = np.nanmax(lo[single])
            if (lo[single] == top).sum() >= 10 or (lo[single] < top).sum() == 0:
                break
            lo[lo == top] = top - 10.0
        snr = np.where(single, lo, np.nan)
    else:
        snr = np.round(snr)
    snrs = sorted({float(s) for s in snr[single]})
    barred = bool(a.empty_bar or a.fpr_bar)
    bars_of = {l2: list(a.empty_bar) for l2 in a.l2}
    for l2 in a.l2 if a.fpr_bar else []:
        got = fpr_bars(Ftr, Ytr, l2, a.hidden, a.fpr_bar)
        for r, d in zip(a.fpr_bar, got, strict=True):
            print(f"# l2 {l2:g}: bar {d:.3f} for {r:g} of the training no-hit windows (5-fold)")
        bars_of[l2] += got
    head = f"{'l2':>8} " + (f"{'bar':>6} " if barred else "") + "overall "
    print(head + " ".join(f"{s:>5g}" for s in snrs) + "  2-hit  FP-any")
    for l2 in a.l2:
        predict = fitter(l2)
        for bar in bars_of[l2] or [0.0]:
            pred = predict(Fte, bar) if barred else predict(Fte)
            ok = (pred == (Yte > 0)).all(1)
            per = [ok[(snr == s) & single].mean() * 100 for s in snrs]
            row = f"{l2:>8g} " + (f"{bar:6.3f} " if barred else "") + f"{ok.mean() * 100:7.1f} "
            row += " ".join(f"{v:5.1f}" for v in per)
            fp = pred[nh == 0].any(1).mean() * 100
            print(row + f" {ok[nh == 2].mean() * 100:6.1f} {fp:7.1f}")


if __name__ == "__main__":
    main()
