"""Fine-tuning and evaluation on precomputed spectrogram sets (the authors' ``TrainingSet*.mat`` /
``TestingSet*.mat`` with ``mixture,label`` CSVs, e.g. the piano data of thesis 4.3.6).

``tinyunfold train padnmf --init M.tum --training-set ... --train-labels ...`` runs
:func:`finetune_model`; with ``--test-set``/``--test-labels`` :func:`evaluate_models` reports the
``--init`` model and the fine-tuned one side by side under every decision rule
(:func:`tinyunfold.pipelines.evaluation.all_decision_rules`), with an optional ±N-window tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyunfold import kinds
from tinyunfold.datasets.prep import label_sets
from tinyunfold.errors import ModelFileError
from tinyunfold.kinds.base import Trained
from tinyunfold.modelfile import ModelFile
from tinyunfold.pipelines.evaluation import spectrogram_set_report
from tinyunfold.pipelines.importers import read_labels, read_mat_mixtures, read_mat_targets


@dataclass
class FineTuned:
    """The ``--init`` model file, the fine-tuned result (``trained.modelfile()`` to save) and
    ``untrained``: the ``--init`` network run through the same pipeline with 0 epochs (its
    dictionaries unchanged, the detector refitted with the same [detection] config), so that a
    report can tell what the training changed from what the detector fitting changed."""

    init: ModelFile
    trained: Trained
    untrained: Trained


def load_init_model(path: str | Path, kind: str) -> ModelFile:
    """The ``--init`` model: loaded and validated by its kind; one line when it is not a model
    of ``kind`` or its kind cannot be fine-tuned."""
    model = kinds.load_model(path)
    if model.kind != kind:
        raise ModelFileError(
            f"--init {path} is a {model.kind!r} model, not {kind!r}",
            f"use `tinyunfold train {model.kind} --init` or a {kind} model file",
        )
    return model


def finetune_model(
    kind: str,
    init: str | Path,
    training_set: str | Path,
    train_labels: str | Path,
    cfg: dict[str, dict[str, Any]],
    progress: bool = True,
) -> FineTuned:
    """Train the ``--init`` model further on a ``TrainingSet*.mat`` (mixtures + clean targets)."""
    finetune = kinds.get(kind).require("training").finetune
    if finetune is None:
        raise ModelFileError(
            f"model kind {kind!r} cannot be fine-tuned (--init)", "train it from a dataset"
        )
    model = load_init_model(init, kind)
    X = read_mat_mixtures(training_set, "TrainingSet")
    S = read_mat_targets(training_set, "TrainingSet")
    names = list(model.params["layout"]["class_names"])
    ls = label_sets(read_labels(train_labels, len(X)), names)
    trained = finetune(model, X, S, ls, cfg, progress)
    cfg0 = {**cfg, "model": {**cfg["model"], "n_epochs": 0}}
    return FineTuned(model, trained, finetune(model, X, S, ls, cfg0, progress))


def evaluate_models(
    models: dict[str, ModelFile],
    test_set: str | Path,
    test_labels: str | Path,
    tolerance: int = 0,
) -> dict[str, Any]:
    """Reports (:func:`spectrogram_set_report`) of each named detector model on a
    ``TestingSet*.mat``. Models that share the fixed dictionary Ŵ, K and C (an ``--init`` model
    and its fine-tuned version) share the K - C fixed layers: computed once."""
    from tinyunfold.models.padnmf import stack_columns, torch_threads

    X = read_mat_mixtures(test_set, "TestingSet")
    labels = read_labels(test_labels, len(X))
    cache: list[tuple[Any, Any]] = []  # (estimator, H^(K-C) as a torch tensor)
    out: dict[str, Any] = {}
    for name, model in models.items():
        det_of = kinds.get(model.kind).require("detection")(model)
        est, det = det_of.transformer, det_of.detector
        if not hasattr(est, "cached_fixed_states"):  # no fixed layers to share
            out[name] = spectrogram_set_report(
                est.transform(X), labels, est.layout_, det, tolerance, X
            )
            continue
        n = est._check_specs(X)
        hit = next(
            (
                h
                for e, h in cache
                if e.W_fixed_.shape == est.W_fixed_.shape
                and np.array_equal(e.W_fixed_, est.W_fixed_)
                and (e.n_layers, e.n_discriminative, e.alpha_h, e.eps, e.h_mask_on)
                == (est.n_layers, est.n_discriminative, est.alpha_h, est.eps, est.h_mask_on)
            ),
            None,
        )
        import torch

        X_all = stack_columns(X, est.context)
        if hit is None:
            with torch_threads(est.n_threads):
                hit = est.cached_fixed_states(
                    X_all, len(X), n, torch.float64, torch.device(est.device)
                )
            cache.append((est, hit))
        H = _trained_layers(est, hit, X_all, len(X), n)
        out[name] = spectrogram_set_report(H, labels, est.layout_, det, tolerance, X)
    return out


def _trained_layers(est: Any, H_fix: Any, X_all: np.ndarray, Q: int, n: int) -> np.ndarray:
    """The C - 1 trained layers of ``est`` from the fixed layers' output H⁽ᴷ⁻ᶜ⁾ -> (Q, r, n)."""
    import torch

    from tinyunfold.models.padnmf import run_layers, torch_threads

    dt, dev = H_fix.dtype, H_fix.device

    def conv(a: np.ndarray) -> Any:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dt, device=dev)

    _, MH = est.masks(n)
    M = None if MH is None else conv(np.tile(MH, (1, Q)))
    with torch_threads(est.n_threads):
        H = run_layers(
            H_fix, conv(X_all), [(conv(W), 1) for W in est.W_disc_], est.alpha_h, est.eps, M
        )
    H = H.cpu().numpy().astype(np.float64)
    return H.reshape(H.shape[0], Q, n).transpose(1, 0, 2)
