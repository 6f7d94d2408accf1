"""Data preparation shared by training, evaluation and detection of hit detectors.

Spectrograms of a dataset at a model's front-end and input scale, the training split, label sets,
and the initialisation sets (isolated targets per class, noise blocks) of thesis 4.3.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tinyunfold.errors import TinyUnfoldError
from tinyunfold.features import SpectrogramParams, power_spectrogram

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
