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

``--pairs N`` asks the question every two-hit mixture of the dataset asks, told the count: N
windows (and N / 2 held out) with two hits of different classes, each hit's SNR drawn from the
dataset's labelled single-hit SNRs (its grid, as ``dataset mdof`` draws them for its two-hit
mixtures), built like the windows above; a multinomial classifier names the pair (10 pairs of
5 classes, chance 10%). Its held-out accuracy, overall and per level gap, is an estimate of what
any detector can reach on two-hit mixtures on the nominal chain: a detector that does not know
the count and gets a two-hit mixture right has named its pair, so its two-hit accuracy is at most
that of the best pair classifier. The last column scores the same classifiers on the dataset's
own two-hit test mixtures (on ``dataset2-hard`` made with the mismatched chain).

    python examples/diagnostics/masking.py DATASET --pairs 8000 --hidden 256

``--sets N`` asks what a detector must answer, count unknown: N windows (and N / 2 held out)
holding no hit, one hit or two hits of different classes (10% / 50% / 40%), each hit's SNR drawn
from the grid, built like the windows above; one classifier over the label sets of at most two
classes (16 for 5 classes), its scores moved to the test split's prior of no-hit, one-hit and
two-hit mixtures, then ``--pair-bias`` b added to every pair's score (b > 0 reports pairs more
often: two-hit accuracy rises, single-hit accuracy falls). Set-exact on the held-out windows per
grid SNR, on two-hit windows and the false positives on no-hit windows; "overall" weighs them
as the test split's mixtures are weighed. The same classifier on the test split follows the
"|". On the nominal chain (no mismatch) this estimates what the targets ask of any detector of
these features: two-hit accuracy at the loud single hits' and the false positives' targets.

    python examples/diagnostics/masking.py DATASET --sets 16000 --hidden 256 --pair-bias 0 1 2

``--features`` picks the features (``energy bins`` by default; ``onsets``: each band's energy,
loudest frame and largest rise between frames, where a second hit starts). ``--in-situ DB``: the
clean hits of the single-hit training mixtures at DB or above join the templates, as ``[model]
augment_in_situ_snr_db`` does (on ``dataset2-hard`` they come from the mismatched chain, so the
held-out windows are then no longer purely nominal).

``--own-hits`` (with ``--sets`` and ``--in-situ DB``) asks what the unit's own hits can do
alone: the templates are only its clean training hits, each completed by a fit of its damped
modes (:func:`complete_hit`: the decay a hit recorded late in its window lost at the window's
end, and no 16-bit floor scaled up with it) and not stretched, on backgrounds of the unit's
own recordings only. ``--unseen-backgrounds`` builds the held-out windows on the test split's
no-hit mixtures instead, backgrounds no training window was made of (a diagnostic: it reads
the test split's no-hit audio, never its labels of hits): whether a classifier carries to
backgrounds it has not seen, apart from any difference of the hits.

    python examples/diagnostics/masking.py DATASET --sets 8000 --in-situ 0 --own-hits \
        --unseen-backgrounds

``--model M.tum --two-hit N`` instead scores that detector's readout on N synthetic two-hit
mixtures (nominal chain, each hit's SNR uniform in the dataset's range, another seed than
training's) per level gap, as ``tinyunfold evaluate`` does on a test split.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

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
    train_split,
    transform_many,
    with_in_situ_targets,
)
from tinyunfold.features import SpectrogramParams
from tinyunfold.pipelines.evaluation import format_gaps, set_exact_scores

torch.set_num_threads(1)  # small problems: threads only contend


def _energy(X: np.ndarray) -> np.ndarray:
    """ln of each band's energy over the window (B, F, T) -> (B, F)."""
    return np.log(np.maximum(X.sum(2), 1e-6))


def _loudest(X: np.ndarray) -> np.ndarray:
    """ln of each band's loudest frame."""
    return np.log(X.max(2) + 1e-3)


FEATURES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "energy": _energy,
    "bins": lambda X: np.concatenate([_loudest(X), np.log(X + 1e-3).mean(2)], 1),
    "onsets": lambda X: np.concatenate(
        [_energy(X), _loudest(X), np.maximum(np.diff(np.log(X + 1e-3), axis=2), 0.0).max(2)], 1
    ),
}
FRONT = {"energy": "bands", "bins": "bins", "onsets": "bands"}  # the spectrogram each reads
Extract = Callable[[list], dict[str, np.ndarray]]  # windows' audio -> each feature (Q, d)


def windows(ds, n: int, gap: float, seed: int, lo: float, hi: float) -> tuple[list, np.ndarray]:  # noqa: ANN001
    """n windows, every second one with a quieter hit of another class ``gap`` dB below."""
    kw: dict[str, Any] = {"two_hit": 0.0, "no_hit": 0.0, "noise_stretch": True}
    louder = augment_mixtures(ds, n, seed=seed, snr_db=(min(lo + gap, hi), hi), **kw)
    quieter = augment_mixtures(ds, 2 * n, seed=seed + 1, snr_db=(0.0, 0.0), **kw)
    rng = np.random.default_rng(seed + 2)
    audio: list[np.ndarray] = []
    y: list[bool] = []
    j = 0
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
    return audio, np.array(y, dtype=int)


def complete_hit(x: np.ndarray, n_total: int, rank: int = 100, rows: int = 1500) -> np.ndarray:
    """A recorded clean hit (its onset at sample 0) as a sum of damped modes, synthesised over
    ``n_total`` samples: the decay past the end of its recording (a hit recorded late in its
    window is cut off there) and without the recording's floor (16-bit quantisation), which a
    template scaled up to a loud synthetic hit would otherwise carry up with it. The modes are
    the signal subspace of a Hankel matrix of its first 24,000 samples (half a second at 48 kHz;
    ``rows`` lags, ``rank`` poles; ESPRIT), their amplitudes a least-squares fit to all of it; a
    pole outside the unit circle is moved onto it (no growing mode)."""
    x = np.asarray(x, dtype=np.float64)
    seg = x[: min(len(x), 24_000)]
    if len(seg) <= rows + 1:
        raise SystemExit(f"--own-hits: a recorded hit of {len(seg)} samples is too short")
    H = np.lib.stride_tricks.sliding_window_view(seg, rows)[:: max(1, (len(seg) - rows) // 3000)]
    U, sv, _ = np.linalg.svd(H.T, full_matrices=False)
    r = max(1, min(rank, int(np.sum(sv > sv[0] * 1e-7))))
    phi = np.linalg.lstsq(U[:-1, :r], U[1:, :r], rcond=None)[0]
    z = np.linalg.eigvals(phi)
    z = np.where(np.abs(z) > 1.0, z / np.abs(z), z)
    c = np.linalg.lstsq(z[None, :] ** np.arange(len(x))[:, None], x.astype(complex), rcond=None)[0]
    return np.real((z[None, :] ** np.arange(n_total)[:, None]) @ c)


def own_hits_view(ds, min_snr_db: float):  # noqa: ANN001, ANN201
    """``ds`` whose templates are only the monitored unit's clean hits (the target stems of its
    single-hit training mixtures at ``min_snr_db`` or above), each from its labelled onset on,
    completed by :func:`complete_hit` to the window's length, and whose backgrounds are only
    the unit's own recordings: its no-hit training mixtures and each single-hit one minus its
    stem (``noise/`` comes from elsewhere)."""
    own = with_in_situ_targets(ds, min_snr_db)
    by_name = {m.name: m for m in ds.mixtures}
    n = len(ds.mixtures[0].audio)
    out = copy.copy(ds)
    out.targets, out.target_files = {}, {}
    for c in ds.classes:
        recorded = own.target_files[c][len(ds.targets[c]) :]
        hits = []
        for name in recorded:
            m = by_name[name]
            o = int(round(m.onsets_s[0] * ds.sample_rate)) if m.onsets_s else 0
            hits.append(complete_hit(m.target_stem[o:], n))
        if not hits:
            raise SystemExit(
                f"--own-hits: class {c} has no clean training hit at >= {min_snr_db} dB"
            )
        out.targets[c], out.target_files[c] = hits, recorded
    out.noise, out.noise_files = [], []
    rest = [
        dataclasses.replace(
            m,
            name=f"{m.name}-minus-stem",
            audio=m.audio - m.target_stem,
            classes=(),
            snr_db=None,
            onsets_s=(),
            target_stem=None,
            sources=(),
        )
        for m in train_split(ds)[0]
        if len(m.classes) == 1 and m.target_stem is not None
    ]
    out.mixtures = list(ds.mixtures) + rest
    return out


def unseen_backgrounds_view(ds):  # noqa: ANN001, ANN201
    """``ds`` whose only backgrounds are the test split's no-hit mixtures (marked as training
    ones here: a background no training window was built on). Its templates are ``ds``'s."""
    out = copy.copy(ds)
    out.noise, out.noise_files = [], []
    keep = [m for m in ds.mixtures if m.split == "train" and m.has_hit]
    fresh = [dataclasses.replace(m, split="train") for m in train_split(ds)[1] if not m.has_hit]
    if not fresh:
        raise SystemExit("--unseen-backgrounds: the test split has no no-hit mixture")
    out.mixtures = keep + fresh
    return out


def fit_scores(
    F: np.ndarray, y: np.ndarray, G: np.ndarray, l2s: list[float], hidden: int, n_cls: int = 2
) -> np.ndarray:
    """Scores on G (n_cls = 2: one logit; more: n_cls logits) of the classifier (labels
    0 .. n_cls - 1: logistic for two, softmax for more) whose L2 weight is the most accurate
    on F's last fifth."""
    nv = len(y) // 5
    mu, sd = F[:-nv].mean(0), F[:-nv].std(0) + 1e-6
    U, V, T = (torch.tensor((A - mu) / sd) for A in (F[:-nv], F[-nv:], G))
    n_out = 1 if n_cls == 2 else n_cls
    if n_cls == 2:
        t = torch.tensor(y[:-nv], dtype=torch.float64)
        loss = lambda z: torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], t)  # noqa: E731
    else:
        t = torch.tensor(y[:-nv], dtype=torch.int64)
        loss = lambda z: torch.nn.functional.cross_entropy(z, t)  # noqa: E731
    best: tuple[float, np.ndarray] = (-1.0, np.zeros((len(G), n_out)))
    for l2 in l2s:
        torch.manual_seed(0)
        net: torch.nn.Module
        if hidden:
            net = torch.nn.Sequential(
                torch.nn.Linear(F.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_out)
            ).double()
        else:
            net = torch.nn.Linear(F.shape[1], n_out).double()
        lbfgs_fit(net, U, loss, l2, 200)
        with torch.no_grad():
            va = float((decide(net(V).numpy()) == y[-nv:]).mean())
            if va > best[0]:
                best = (va, net(T).numpy())
    return best[1]


def decide(z: np.ndarray) -> np.ndarray:
    """Labels of scores: a logit's sign, or the largest of several."""
    return (z[:, 0] > 0).astype(int) if z.shape[1] == 1 else z.argmax(1)


def fit_predict(
    F: np.ndarray, y: np.ndarray, G: np.ndarray, l2s: list[float], hidden: int, n_cls: int = 2
) -> np.ndarray:
    """Decisions on G of :func:`fit_scores`' classifier."""
    return decide(fit_scores(F, y, G, l2s, hidden, n_cls))


def pair_index(ds, classes: tuple[str, ...]) -> int:  # noqa: ANN001
    """Index of a two-hit label among the sorted pairs of the dataset's classes."""
    pairs = list(itertools.combinations(range(len(ds.classes)), 2))
    return pairs.index(tuple(sorted(ds.classes.index(c) for c in classes)))


def set_windows(
    ds,
    n: int,
    seed: int,
    grid: list[float],
    extract: Extract,
    shares: tuple[float, float, float] = (0.0, 0.0, 1.0),  # noqa: ANN001
    stretch: float | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Features of n windows holding no hit, one hit or two hits of different classes (in the
    proportions ``shares``), each hit's SNR drawn from ``grid``; their label set's index
    (:func:`set_index`), the hit's SNR (single hits; NaN otherwise) and the level gap
    |s1 - s2| (two hits; NaN otherwise)."""
    kw: dict[str, Any] = {
        "two_hit": 0.0,
        "no_hit": 0.0,
        "noise_stretch": True,
        "snr_db": (0.0, 0.0),
        **({} if stretch is None else {"stretch": stretch}),  # None: augment_mixtures' own
    }
    rng = np.random.default_rng(seed + 2)
    count_rng = np.random.default_rng(seed + 3)  # its own stream: rng's draws stay those of --pairs
    out: dict[str, list] = {}
    y, snr, gap = [], [], []
    for c0 in range(0, n, 500):  # chunks: the audio of 500 windows at a time
        s = seed + 7 * c0
        first = augment_mixtures(ds, min(500, n - c0), seed=s, **kw)
        second = augment_mixtures(ds, 2 * len(first), seed=s + 1, **kw)
        j, audio = 0, []
        for m in first:
            n_hits = int(count_rng.choice(3, p=shares))
            hits = [m][:n_hits]
            if n_hits == 2:
                while second[j].classes == m.classes:  # another class
                    j += 1
                hits.append(second[j])
                j += 1
            bg = m.audio - m.target_stem
            e = float(np.sum(bg**2))
            levels = rng.choice(grid, 2)
            x = bg.copy()
            for h, level in zip(hits, levels, strict=False):
                x += h.target_stem * np.sqrt(
                    10 ** (level / 10) * e / float(np.sum(h.target_stem**2))
                )
            audio.append(x * 10 ** (rng.uniform(-12.0, 12.0) / 20))
            y.append(set_index(ds, tuple(h.classes[0] for h in hits)))
            snr.append(levels[0] if n_hits == 1 else np.nan)
            gap.append(abs(levels[0] - levels[1]) if n_hits == 2 else np.nan)
        for f, v in extract(audio).items():
            out.setdefault(f, []).append(v)
    feat = {f: np.concatenate(v) for f, v in out.items()}
    return feat, np.array(y), np.array(snr), np.array(gap)


def set_index(ds, classes: tuple[str, ...]) -> int:  # noqa: ANN001
    """Index of a label set of at most two classes: 0 none, 1 .. C one class, then the pairs."""
    if not classes:
        return 0
    if len(classes) == 1:
        return 1 + ds.classes.index(classes[0])
    return 1 + len(ds.classes) + pair_index(ds, classes)


def pair_windows(ds, n: int, seed: int, grid: list[float], extract: Extract):  # noqa: ANN001, ANN201
    """Features of n windows with two hits of different classes, each hit's SNR drawn from
    ``grid``; their pair index (into the sorted pairs of classes) and level gap |s1 - s2|."""
    F, y, _, gap = set_windows(ds, n, seed, grid, extract)
    return F, y - 1 - len(ds.classes), gap


def pairs_table(ds, n: int, seed: int, l2s: list[float], hidden: int, extract: Extract) -> None:  # noqa: ANN001
    """Held-out accuracy of naming the pair of a two-hit window, per level gap (``--pairs``)."""
    grid = sorted(
        {float(m.snr_db) for m in ds.mixtures if m.snr_db is not None and len(m.classes) == 1}
    )
    n_cls = len(ds.classes) * (len(ds.classes) - 1) // 2
    F, y, _ = pair_windows(ds, n, seed * 100_000 + 11, grid, extract)
    G, yt, gt = pair_windows(ds, n // 2, seed * 100_000 + 55_555, grid, extract)
    # the dataset's own two-hit test mixtures (on dataset2-hard: the mismatched chain)
    tests = [m for m in train_split(ds)[1] if len(m.classes) == 2]
    yr = np.array([pair_index(ds, m.classes) for m in tests])
    R = extract([m.audio for m in tests]) if tests else {}
    gaps = sorted(set(gt.tolist()))
    print(
        f"SNR grid (dB): {' '.join(f'{g:g}' for g in grid)}; {n_cls} pairs, chance {100 / n_cls:.0f}%"
    )
    print(
        "classifier overall "
        + " ".join(f"gap{g:g}({int((gt == g).sum())})" for g in gaps)
        + (f" test-two-hit({len(tests)})" if tests else "")
    )
    for f in F:
        for h in [0, hidden] if hidden else [0]:
            d = fit_predict(
                F[f], y, np.concatenate([G[f], *([R[f]] if tests else [])]), l2s, h, n_cls
            )
            ok = d[: len(yt)] == yt
            cells = " ".join(f"{100 * ok[gt == g].mean():.1f}" for g in gaps)
            if tests:
                cells += f" {100 * float((d[len(yt) :] == yr).mean()):.1f}"
            name = f"{f}-{'linear' if not h else f'hidden{h}'}"
            print(f"{name} {100 * ok.mean():.1f} {cells}", flush=True)


def sets_table(  # noqa: PLR0913
    ds,
    n: int,
    seed: int,
    l2s: list[float],
    hidden: int,
    extract: Extract,
    biases: list[float],  # noqa: ANN001
    heldout_ds=None,  # noqa: ANN001
    stretch: float | None = None,
) -> None:
    """Set-exact accuracy of a classifier over label sets, count unknown (``--sets``); the
    held-out windows are built from ``heldout_ds`` (default ``ds``)."""
    te = train_split(ds)[1]
    if not te:
        raise SystemExit(
            "--sets weighs its rates as the test split's mixtures: the dataset has none"
        )
    grid = sorted(
        {float(m.snr_db) for m in ds.mixtures if m.snr_db is not None and len(m.classes) == 1}
    )
    C = len(ds.classes)
    n_sets = 1 + C + C * (C - 1) // 2
    shares = (0.1, 0.5, 0.4)  # none, one, two hits: pairs and no-hit windows well represented
    F, y, _, _ = set_windows(ds, n, seed * 100_000 + 21, grid, extract, shares, stretch)
    G, yt, st, gt = set_windows(
        ds if heldout_ds is None else heldout_ds,
        n // 2,
        seed * 100_000 + 66_666,
        grid,
        extract,
        shares,
        stretch,
    )
    # the test split's composition weighs the held-out windows' rates into "overall" and sets
    # the prior of each label set (the classifier learned the training windows' prior)
    yr = np.array([set_index(ds, m.classes) for m in te])
    n_kind = np.bincount(np.minimum([len(m.classes) for m in te], 2), minlength=3)
    snr_n = {g: sum(len(m.classes) == 1 and m.snr_db == g for m in te) for g in grid}
    prior_te = np.array(
        [n_kind[min(k, 2)] / len(te) for k in [0] + [1] * C + [2] * (n_sets - 1 - C)]
    )
    prior_te[1 : 1 + C] /= C
    prior_te[1 + C :] /= n_sets - 1 - C
    prior_tr = np.bincount(y, minlength=n_sets) / len(y)
    shift = np.log(np.maximum(prior_te, 1e-9)) - np.log(np.maximum(prior_tr, 1e-9))
    R = extract([m.audio for m in te])
    kr = np.array([len(m.classes) for m in te])
    sr = np.array([m.snr_db if len(m.classes) == 1 else np.nan for m in te])
    print(
        f"SNR grid (dB): {' '.join(f'{g:g}' for g in grid)}; {n_sets} label sets; test split: "
        f"{n_kind[0]} no-hit, {n_kind[1]} one hit, {n_kind[2]} two hits"
    )
    print(
        "held-out windows (nominal chain): classifier pair_bias overall "
        + " ".join(f"{g:g}dB" for g in grid)
        + " two-hit FP-any | test split (mismatched): "
        "overall " + " ".join(f"{g:g}dB" for g in grid) + " two-hit FP-any"
    )
    for f in F:
        for h in [0, hidden] if hidden else [0]:
            z = fit_scores(F[f], y, np.concatenate([G[f], R[f]]), l2s, h, n_sets) + shift
            for b in biases:
                d = (z + b * (np.arange(n_sets) > C)).argmax(1)
                dh, dr = d[: len(yt)], d[len(yt) :]
                ok = dh == yt
                per = [100 * ok[st == g].mean() for g in grid]
                two, none = 100 * ok[gt >= 0].mean(), 100 * (dh[yt == 0] != 0).mean()
                overall = (
                    sum(p * snr_n[g] for p, g in zip(per, grid, strict=True))
                    + two * n_kind[2]
                    + (100 - none) * n_kind[0]
                ) / len(te)
                okr = dr == yr
                per_r = [100 * okr[sr == g].mean() for g in grid]
                name = f"{f}-{'linear' if not h else f'hidden{h}'}"
                print(
                    f"{name} {b:g} {overall:.1f} "
                    + " ".join(f"{v:.1f}" for v in per)
                    + f" {two:.1f} {none:.1f} | {100 * okr.mean():.1f} "
                    + " ".join(f"{v:.1f}" for v in per_r)
                    + f" {100 * okr[kr == 2].mean():.1f} {100 * (dr[kr == 0] != 0).mean():.1f}",
                    flush=True,
                )


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
        est = kinds.get(model.kind).require("estimator")(model)
        H = transform_many(est, list(X), "forward", False)
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
    ap.add_argument("--pairs", type=int, default=0, help="name the pair of N two-hit windows")
    ap.add_argument("--sets", type=int, default=0, help="the label set of N windows, count unknown")
    ap.add_argument(
        "--pair-bias",
        type=float,
        nargs="+",
        default=[0.0, 1.0, 2.0],
        help="with --sets: added to every pair's score, one row each",
    )
    ap.add_argument(
        "--features",
        nargs="+",
        choices=list(FEATURES),
        default=["energy", "bins"],
        help="energy: ln of each log band's energy; bins: max and mean over frames of every "
        "rfft bin; onsets: energy, each band's loudest frame and its largest rise between "
        "frames (a second hit's onset)",
    )
    ap.add_argument(
        "--in-situ",
        type=float,
        metavar="DB",
        help="the clean hits of the single-hit training mixtures at DB or above join the "
        "templates ([model] augment_in_situ_snr_db)",
    )
    ap.add_argument(
        "--own-hits",
        action="store_true",
        help="with --sets and --in-situ DB: the templates are only the unit's own clean hits, "
        "each completed by a fit of its damped modes (decay past its recording's end, no "
        "quantisation floor) and not stretched; the backgrounds only the unit's recordings "
        "(no-hit training mixtures, hit ones minus their stems)",
    )
    ap.add_argument(
        "--unseen-backgrounds",
        action="store_true",
        help="with --sets: the held-out windows are built on the test split's no-hit mixtures "
        "(backgrounds no training window saw) instead of the training windows' backgrounds",
    )
    a = ap.parse_args()
    if (a.own_hits or a.unseen_backgrounds) and not a.sets:
        ap.error("--own-hits and --unseen-backgrounds go with --sets")
    if a.own_hits and a.in_situ is None:
        ap.error("--own-hits takes the clean hits of --in-situ DB")
    ds = base = load_dataset(a.dataset)
    if a.own_hits:
        ds = own_hits_view(ds, a.in_situ)
    elif a.in_situ is not None:
        ds = with_in_situ_targets(ds, a.in_situ)
    if a.model:
        readout_by_gap(ds, a.model, a.two_hit, a.seed)
        return
    bands = SpectrogramParams(
        sample_rate=ds.sample_rate, n_fft=a.n_fft, hop=a.hop, n_bands=a.n_bands, band_scale="log"
    )
    fronts = {"bands": bands, "bins": dataclasses.replace(bands, n_bands=None)}
    fronts = {fr: fronts[fr] for fr in {FRONT[f] for f in a.features}}  # those the features read
    snrs = [m.snr_db for m in ds.mixtures if m.snr_db is not None]
    lo, hi = min(snrs), max(snrs)
    scale = {
        k: 1.0 / np.concatenate([spectrogram(x, fr, 1.0) for x in base.noise], 1).mean()
        for k, fr in fronts.items()
    }

    def extract(xs: list) -> dict[str, np.ndarray]:
        """Per window X~ scaled to unit mean noise power, as the model's, once per front-end;
        then every feature of ``--features``."""
        rows: dict[str, list] = {f: [] for f in a.features}
        for x in xs:
            X = {k: spectrogram(x, fr, scale[k])[None] for k, fr in fronts.items()}
            for f in a.features:
                rows[f].append(FEATURES[f](X[FRONT[f]]))
        return {f: np.concatenate(v) for f, v in rows.items()}

    if a.pairs:
        pairs_table(ds, a.pairs, a.seed, a.l2, a.hidden, extract)
        return
    if a.sets:
        sets_table(
            ds,
            a.sets,
            a.seed,
            a.l2,
            a.hidden,
            extract,
            a.pair_bias,
            unseen_backgrounds_view(ds) if a.unseen_backgrounds else None,
            0.0 if a.own_hits else None,
        )
        return
    cols = [(f, h) for f in a.features for h in ([0, a.hidden] if a.hidden else [0])]
    print("gap_dB " + " ".join(f"{f}-{'linear' if not h else f'hidden{h}'}" for f, h in cols))
    for g in a.gaps:
        seed = a.seed * 100_000 + int(round(10 * g)) * 10
        tr, y = windows(ds, a.n, g, seed, lo, hi)
        te, yt = windows(ds, a.n // 2, g, seed + 5, lo, hi)
        Ftr, Fte = extract(tr), extract(te)
        row = [100 * float((fit_predict(Ftr[f], y, Fte[f], a.l2, h) == yt).mean()) for f, h in cols]
        print(f"{g:g} " + " ".join(f"{v:.1f}" for v in row), flush=True)


if __name__ == "__main__":
    main()
