"""Baselines for the hit detectors: fixed-dictionary KL-NMF without unrolled training.

* :func:`fixed_dictionary` — the same discriminatively initialised dictionary Ŵ (with the T-frame
  Hankel context and the model's masks) for K-1 layers and no trained layer: what PAD-NMF is before
  training. Scored with the same diagonal detection indices (4.3.28-4.3.30).
* :func:`no_context` — plain KL-NMF on single frames (T = 1, no masks), one NMF dictionary per
  initialisation file, scored by the geometric mean over frames of each class's total activation
  (:func:`tinyunfold.detection.activation_indices`).

Both run the one update of :mod:`tinyunfold.models.padnmf` (eq. 4.2.2 with the projection 3.2.38).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tinyunfold.models.padnmf import PADNMF


def fixed_dictionary(est: PADNMF) -> PADNMF:
    """PAD-NMF/Deep-NMF ``est`` with its trained layers removed (C = 1): K-1 layers of Ŵ."""
    base = PADNMF(
        kind=est.kind,
        n_layers=est.n_layers,
        n_discriminative=1,
        context=est.context,
        alpha_h=est.alpha_h,
        alpha_s=est.alpha_s,
        eps=est.eps,
        use_h_mask=est.h_mask_on,
    )
    base.layout_ = est.layout_
    base.W_fixed_ = est.W_fixed_
    base.W_disc_ = []
    base.features_ = est.features_
    base.loss_history_ = []
    return base


def no_context(
    targets: Sequence[tuple[int, Any]],
    noise: Sequence[Any],
    class_names: Sequence[str],
    n_layers: int,
    target_rank: int,
    noise_rank: int,
    alpha_h: float = 0.0,
    eps: float = 1e-16,
    init_iter: int = 200,
    seed: int = 0,
) -> PADNMF:
    """Single-frame (T = 1) KL-NMF with a fixed dictionary from the same initialisation sets."""
    base = PADNMF(
        kind="deepnmf",
        n_layers=n_layers,
        n_discriminative=1,
        context=1,
        target_rank=target_rank,
        noise_rank=noise_rank,
        alpha_h=alpha_h,
        eps=eps,
        use_h_mask=False,
        init_iter=init_iter,
        seed=seed,
    )
    base.init_dictionary(targets, noise, list(class_names))
    return base
