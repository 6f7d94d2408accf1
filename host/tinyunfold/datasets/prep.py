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


def init_sets(
    ds: Any, feats: Any, scale: float, noise_blocks: str = "one"
) -> tuple[list[tuple[int, np.ndarray]], list[Any]]:
    targets = [
        (ci, spectrogram(x, feats, scale)) for ci, c in enumerate(ds.classes) for x in ds.targets[c]
    ]
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
