"""Data preparation shared by training, evaluation and detection of hit detectors.

Spectrograms of a dataset at a model's front-end and input scale, the training split, label sets,
and the initialisation sets (isolated targets per class, noise blocks) of thesis 4.3.2.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyunfold.errors import TinyUnfoldError
from tinyunfold.features import FrontEndWarning, SpectrogramParams, power_spectrogram

NONE_LABELS = ("none", "", "-")


def label_sets(labels: Sequence[str], class_names: Sequence[str]) -> list[list[int]]:
    """'C4' / 'none' / 'a+b' labels -> lists of class indices."""
    out: list[list[int]] = []
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


def model_front_end(params: dict[str, Any]) -> tuple[Any, float]:
    """(SpectrogramParams, input_scale) of a trained model; error for imported feature-less ones."""
    if params.get("features") is None:
        raise TinyUnfoldError(
            "this model has no feature front-end (imported from precomputed spectrograms)",
            "run it on spectrograms (.npy) or train a model with `tinyunfold train padnmf`",
        )
    return SpectrogramParams.from_dict(params["features"]), float(params.get("input_scale", 1.0))


def spectrogram(x: np.ndarray, feats: Any, scale: float) -> np.ndarray:
    return power_spectrogram(x, feats) * scale


def config_front_end(ds: Any, features: dict[str, Any]) -> tuple[SpectrogramParams, float]:
    """(SpectrogramParams, input_scale) that training gives a model: a config's ``[features]``
    at the dataset's rate, and the scale that makes the mean power of its ``noise/`` recordings
    1, so that ε = 1e-16 means the same thing for every dataset (KL-NMF is scale covariant:
    only ε's relative size changes). A front-end whose frames skip audio warns
    (``FrontEndWarning``)."""
    feats = SpectrogramParams(
        sample_rate=int(ds.sample_rate), **{"n_fft": 1024, "hop": 4096, **features}
    )
    gap = feats.gap_warning()
    if gap is not None:
        warnings.warn(gap, FrontEndWarning, stacklevel=3)
    noise = np.concatenate([spectrogram(x, feats, 1.0) for x in ds.noise], axis=1)
    return feats, 1.0 / max(float(noise.mean()), 1e-300)


def train_split(ds: Any) -> tuple[list[Any], list[Any]]:
    """(training mixtures, test mixtures): split=train / the rest (all test if nothing marked)."""
    train = [m for m in ds.mixtures if m.split == "train"]
    test = [m for m in ds.mixtures if m.split != "train"]
    if not train:
        raise TinyUnfoldError(
            "the dataset marks no mixture with split=train",
            "mark training mixtures in labels.csv (column split) — `dataset mdof` does",
        )
    return train, test or list(ds.mixtures)


def gate_template(x: np.ndarray, gate_db: float, min_len: int = 1) -> np.ndarray:
    """One clean template, conditioned for the dictionary initialisation (docs/padnmf.md).

    1. DC removal: the waveform's median is subtracted (a DC offset would otherwise become part
       of every target atom and fire on any mixture with an offset; the median, not the mean,
       because a hit's oscillation is zero-mean while silence before it sits at the offset).
    2. Energy gate: samples before the first sample whose magnitude reaches
       ``10^(-gate_db/20)`` of the peak magnitude are cut, so the template's onset is sample 0
       and frame 0 of its spectrogram holds the hit (the H mask 4.3.13 puts atom s of a block on
       frame s: leading silence would leave atom 0 all-ε and its activation unbounded).
       The tail is kept: atoms 1..r-1 model frames 1..r-1 after the onset, and cutting a decay
       below the gate would leave them all-ε too. ``gate_db <= 0`` switches the gate off.

    Parameters
    ----------
    x : (n_samples,) waveform. gate_db : gate level below the peak (amplitude dB).
    min_len : the result is zero-padded at the end to at least this many samples (one FFT frame).

    Returns
    -------
    (n_kept,) float64 waveform.
    """
    y = np.asarray(x, dtype=np.float64)
    y = y - np.median(y) if y.size else y
    if gate_db > 0 and y.size:
        mag = np.abs(y)
        peak = float(mag.max())
        if peak > 0:
            above = np.flatnonzero(mag >= peak * 10.0 ** (-gate_db / 20.0))
            y = y[above[0] :]
    if y.size < min_len:
        y = np.concatenate([y, np.zeros(min_len - y.size)])
    return y


def init_sets(
    ds: Any,
    feats: Any,
    scale: float,
    noise_blocks: str = "one",
    gate_db: float | None = None,
    equal_gain: bool = False,
) -> tuple[list[tuple[int, np.ndarray]], list[Any]]:
    """Initialisation sets of thesis 4.3.2: (class index, target spectrogram) and noise blocks.

    ``gate_db`` (None: off): each target waveform goes through :func:`gate_template` first.
    ``equal_gain``: every target spectrogram is rescaled so its mean power equals the geometric
    mean over all targets (templates recorded at different gains give atoms of one scale, so
    one class is not favoured by its louder templates in the block NMF and the indices).
    """
    if gate_db is None:
        wav = [(ci, x) for ci, c in enumerate(ds.classes) for x in ds.targets[c]]
    else:
        wav = [
            (ci, gate_template(x, gate_db, int(feats.n_fft)))
            for ci, c in enumerate(ds.classes)
            for x in ds.targets[c]
        ]
    targets = [(ci, spectrogram(x, feats, scale)) for ci, x in wav]
    if equal_gain and targets:
        means = np.array([max(float(s.mean()), 1e-300) for _, s in targets])
        ref = float(np.exp(np.log(means).mean()))
        targets = [(ci, s * (ref / m)) for (ci, s), m in zip(targets, means, strict=True)]
    nspecs = [spectrogram(x, feats, scale) for x in ds.noise]
    if noise_blocks == "one":
        return targets, [nspecs]
    if noise_blocks == "each":
        return targets, nspecs
    raise TinyUnfoldError(f"noise_blocks must be 'one' or 'each', got {noise_blocks!r}")


def label_sets_of(mixtures: Sequence[Any], classes: Sequence[str]) -> list[list[int]]:
    return [[list(classes).index(c) for c in m.classes] for m in mixtures]


def progress_bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    # disable=None: tqdm switches itself off when stderr is not a terminal (logs, CI)
    return tqdm(total=total, desc=desc, disable=None if enabled else True, leave=False)


def transform_many(
    est: Any, specs: list[np.ndarray], desc: str = "forward", progress: bool = True, chunk: int = 16
) -> np.ndarray:
    """est.transform in chunks with a progress bar -> (B, r, n)."""
    out = []
    with progress_bar(len(specs), desc, progress) as bar:
        for i in range(0, len(specs), chunk):
            out.append(est.transform(specs[i : i + chunk]))
            bar.update(len(specs[i : i + chunk]))
    return np.concatenate(out, axis=0)


# ========================================================================== dataset evaluation


# ====================================================================== training augmentation
def time_scale(x: np.ndarray, f: float, n: int) -> np.ndarray:
    """x time-scaled by f (linear interpolation), n samples: y[i] = x(i / f); a resonance at
    frequency ν moves to ν / f."""
    return np.asarray(np.interp(np.arange(n) / f, np.arange(len(x)), x))


def warp_resonances(
    x: np.ndarray, width: float, rng: np.random.Generator, sample_rate: float, n_knots: int = 8
) -> np.ndarray:
    """x with each frequency ν moved to about ν (1 + δ(ν)), δ a smooth random curve within
    ±``width``: ``n_knots`` values drawn uniformly in [−width, width] at log-spaced frequencies
    from 20 Hz to Nyquist, linear in ln ν between them. Y(ν) = X(ν / (1 + δ(ν))) on the rfft
    grid of x (real and imaginary parts interpolated), same length.

    A hit recorded on another unit of the same machine type rings at resonances that each sit a
    little elsewhere, not all by one factor: every mass and stiffness differs by its own few
    percent, so each mode moves by its own amount (as ``dataset mdof --mismatch`` perturbs m, k, c).
    :func:`time_scale` moves every resonance by one factor; this moves resonances in different
    frequency regions by different factors, so that a detector trained on templates of one unit
    does not learn the exact ratios between one unit's resonances."""
    n = len(x)
    X = np.fft.rfft(x)
    nu = np.arange(len(X)) * (float(sample_rate) / n)
    knots = np.geomspace(20.0, float(sample_rate) / 2, n_knots)
    d = rng.uniform(-width, width, n_knots)
    delta = np.interp(np.log(np.maximum(nu, 1.0)), np.log(knots), d)
    src = nu / (1.0 + delta)
    Y = np.interp(src, nu, X.real) + 1j * np.interp(src, nu, X.imag)
    return np.asarray(np.fft.irfft(Y, n))


def with_in_situ_targets(ds: Any, min_snr_db: float) -> Any:
    """A shallow copy of ``ds`` whose ``targets`` also hold the clean hit of every single-hit
    training mixture labelled at ``min_snr_db`` or above: its ``target_stem`` joins its class's
    templates (named after the mixture in ``target_files``), so that :func:`augment_mixtures`
    also builds hits from the monitored machine's own recordings, not only from templates
    recorded elsewhere. Quiet stems are left out: written as 16-bit PCM, a hit recorded far
    below the noise is mostly quantisation noise once scaled up to a loud synthetic hit.
    Mixtures without an SNR label are left out. ``ds`` itself is not changed."""
    out = copy.copy(ds)
    out.targets = {c: list(v) for c, v in ds.targets.items()}
    out.target_files = {c: list(ds.target_files.get(c, [])) for c in ds.targets}
    for m in train_split(ds)[0]:
        if len(m.classes) != 1 or m.target_stem is None or m.snr_db is None:
            continue
        if m.snr_db >= min_snr_db and m.classes[0] in out.targets:
            out.targets[m.classes[0]].append(np.asarray(m.target_stem, dtype=np.float64))
            out.target_files[m.classes[0]].append(m.name)
    return out


def built_from_recordings(mixtures: Sequence[Any], recordings: Sequence[Any]) -> list[list[int]]:
    """For each mixture, the indices into ``recordings`` (the recorded training mixtures) of
    those its audio was made from: for a synthetic mixture of :func:`augment_mixtures`, the
    no-hit recordings its background pieces were cut from (``extra["backgrounds"]``) and the
    recordings whose clean hit it carries (a ``sources`` entry ``class/<mixture name>``, see
    :func:`with_in_situ_targets`); empty for the recordings themselves and for mixtures
    without that record. A cross-validation over the recordings holds these out with them."""
    index = {m.name: i for i, m in enumerate(recordings)}
    own = {id(m) for m in recordings}
    out: list[list[int]] = []
    for m in mixtures:
        if id(m) in own:
            out.append([])
            continue
        names = (getattr(m, "extra", None) or {}).get("backgrounds", "").split(";")
        names += [src.split("/", 1)[-1] for src in getattr(m, "sources", ())]
        out.append(sorted({index[n] for n in names if n in index}))
    return out


def augment_mixtures(
    ds: Any,
    n: int,
    seed: int = 0,
    snr_db: tuple[float, float] | None = None,
    two_hit: float = 0.2,
    no_hit: float = 0.2,
    onset_s: tuple[float, float] | None = None,
    stretch: float = 0.03,
    gate_db: float = 40.0,
    gain_db: float = 0.0,
    noise_stretch: bool = False,
    warp: float = 0.0,
    snr_margin_db: float = 0.0,
) -> list[Any]:
    """``n`` synthetic training mixtures from ``targets/`` and the background recordings.

    Each mixture is a background window plus 0, 1 or 2 hits of different classes (fractions
    ``no_hit`` and ``two_hit``), built the way the dataset generator defines them
    (docs/datasets.md): a hit is a clean target of its class (DC removed and onset-aligned by
    :func:`gate_template`), time-scaled by a factor drawn in [1 - ``stretch``, 1 + ``stretch``]
    (a resonance shift of that relative size: recordings of other chains, other mountings),
    delayed to an onset drawn in ``onset_s`` (default: the range of the training mixtures'
    onsets) and scaled to an SNR drawn uniformly in ``snr_db`` (default: the range of every
    labelled SNR of the dataset, its low end lowered by ``snr_margin_db``: hits below the weakest
    labelled level, so that it lies inside the training range, not at its edge), SNR = 10
    log10(‖s‖² / ‖n‖²) over the window (per hit).
    ``gain_db`` > 0: the whole mixture (background and hits, and its target stem) is then scaled
    by a gain drawn in ±``gain_db`` dB, so that a detector does not learn the level of the
    recordings it was trained on (another microphone, amplifier or machine is louder or quieter;
    every feature of a readout shifts by ln g²). 0 (default): no draw, the mixtures of earlier
    versions.
    Backgrounds: the noise files and the no-hit training mixtures, cut to the window length at a
    random start, each a random unit-energy-preserving mix a·n₁ + b·n₂ (a² + b² = 1) of two of
    them, so that no two synthetic backgrounds are the same. ``noise_stretch``: each piece cut
    from a ``noise/`` recording is time-scaled like the hits, by a factor drawn in [1 −
    ``stretch``, 1 + ``stretch``] (recorded on another unit, its resonances sit elsewhere than
    the monitored machine's, and an unstretched copy teaches the readout that the machine's own
    noise is a hit); pieces of the no-hit training mixtures (the machine itself) stay as
    recorded. False (default): no draw, the mixtures of earlier versions. ``warp`` > 0: each hit's
    resonances are then moved by a smooth random amount within ±``warp`` that differs from one
    frequency region to another (:func:`warp_resonances`: the unit-to-unit spread of a machine
    type); 0 (default): no draw. Only ``split=train`` data and
    ``targets/``/``noise/`` are used: the test split is never touched.

    Returns :class:`~tinyunfold.datasets.io.Mixture` objects with ``target_stem``,
    ``split="train"``, ``sources`` (``class/template file`` of each hit, as in labels.csv) and
    each hit's own SNR in ``extra["snr_db_each"]`` (as ``dataset mdof`` writes it) and the two
    background pieces' recordings in ``extra["backgrounds"]`` (``noise/<file>`` or the name of a
    no-hit training mixture, ``;``-separated: what a cross-validation over the recordings must
    hold out with them), named ``aug_00000.wav`` ...
    """
    from tinyunfold.datasets.io import Mixture

    train, _ = train_split(ds)
    n_win = len(train[0].audio)
    # (name, audio) of every recording a background piece may be cut from: noise/ files first
    noise_names = list(getattr(ds, "noise_files", []))
    named = [
        (f"noise/{noise_names[i] if i < len(noise_names) else i}", np.asarray(x, dtype=np.float64))
        for i, x in enumerate(ds.noise)
    ]
    named = [(n, x) for n, x in named if len(x) >= n_win]
    n_files = len(named)  # the first n_files: noise/ files
    named += [(m.name, m.audio) for m in train if not m.has_hit and len(m.audio) >= n_win]
    bg_names = [n for n, _ in named]
    backgrounds = [x for _, x in named]
    if not backgrounds:
        raise TinyUnfoldError(
            f"no background recording is as long as the {n_win}-sample window",
            "add longer noise/ recordings or no-hit training mixtures",
        )
    if snr_db is None:
        snrs = [m.snr_db for m in ds.mixtures if m.snr_db is not None]
        lo, hi = (min(snrs), max(snrs)) if snrs else (-20.0, 20.0)
        snr_db = (lo - float(snr_margin_db), hi)
    if onset_s is None:
        ons = [t for m in train for t in m.onsets_s]
        onset_s = (0.0, max(ons)) if ons else (0.0, 0.0)
    fs = float(ds.sample_rate)
    rng = np.random.default_rng(seed)
    templates = {
        c: [gate_template(x, gate_db) for x in ds.targets[c]] for c in ds.classes if ds.targets[c]
    }
    classes = list(templates)

    def background(used: list[str]) -> np.ndarray:
        out = []
        for _ in range(2):
            j = int(rng.integers(len(backgrounds)))
            x = backgrounds[j]
            used.append(bg_names[j])
            if noise_stretch and stretch > 0 and j < n_files:
                f = 1.0 + float(rng.uniform(-stretch, stretch))
                # time-scaled by f as the hits below, y[i] = x(s0 + i / f): reads n_read
                # samples, the recording mirrored at its end when it is shorter (f < 1)
                n_read = int(np.ceil((n_win - 1) / f)) + 2
                if len(x) < n_read:
                    x = np.pad(x, (0, n_read - len(x)), mode="reflect")
                s0 = int(rng.integers(0, len(x) - n_read + 1))
                out.append(time_scale(x[s0 : s0 + n_read], f, n_win))
                continue
            s0 = int(rng.integers(0, len(x) - n_win + 1))
            out.append(x[s0 : s0 + n_win])
        a = float(rng.uniform(0.0, 1.0))
        return np.sqrt(a) * out[0] + np.sqrt(1.0 - a) * out[1]

    files = {c: list(ds.target_files.get(c, [])) for c in templates}

    def hit(c: str, e_noise: float) -> tuple[np.ndarray, float, float, str]:
        j = int(rng.integers(len(templates[c])))
        x = templates[c][j]
        f = 1.0 + float(rng.uniform(-stretch, stretch))
        y = time_scale(x, f, int(len(x) * f))  # every resonance / f
        if warp > 0:
            y = warp_resonances(y, warp, rng, fs)  # and each by its own few percent
        onset = int(round(rng.uniform(*onset_s) * fs))
        s = np.zeros(n_win)
        k = min(len(y), n_win - onset)
        if k > 0:
            s[onset : onset + k] = y[:k]
        snr = float(rng.uniform(*snr_db))
        e = float(np.dot(s, s))
        if e > 0:
            s *= np.sqrt(10 ** (snr / 10) * e_noise / e)
        return s, snr, onset / fs, f"{c}/{files[c][j] if j < len(files[c]) else j}"

    out = []
    for i in range(int(n)):
        bgs: list[str] = []
        noise = background(bgs)
        e_n = float(np.dot(noise, noise))
        u = rng.random()
        n_hits = 0 if u < no_hit else (2 if u < no_hit + two_hit and len(classes) >= 2 else 1)
        picked = [classes[int(j)] for j in rng.choice(len(classes), n_hits, replace=False)]
        stem = np.zeros(n_win)
        snrs_i, ons, srcs = [], [], []
        for c in picked:
            s, snr, t0, src = hit(c, e_n)
            stem += s
            snrs_i.append(snr)
            ons.append(t0)
            srcs.append(src)
        tot = None
        if n_hits == 1:
            tot = snrs_i[0]
        elif n_hits == 2 and np.dot(stem, stem) > 0:
            tot = 10 * float(np.log10(np.dot(stem, stem) / max(e_n, 1e-300)))
        if gain_db > 0:
            g = 10.0 ** (float(rng.uniform(-gain_db, gain_db)) / 20.0)
            noise, stem = g * noise, g * stem
        out.append(
            Mixture(
                name=f"aug_{i:05d}.wav",
                audio=noise + stem,
                classes=tuple(picked),
                snr_db=tot,
                onsets_s=tuple(ons),
                target_stem=stem if picked else None,
                split="train",
                sources=tuple(srcs),
                extra={
                    "backgrounds": ";".join(bgs),
                    **({"snr_db_each": ";".join(f"{v:.17g}" for v in snrs_i)} if picked else {}),
                },
            )
        )
    return out
