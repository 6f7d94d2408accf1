"""Float32 golden reference of the PAD-NMF / Deep-NMF forward pass on the device.

Mirrors the generated ``tu_model_forward`` of ``codegen/templates/padnmf``: the input block is the
spectrogram window X̃ (m' x n); the device forms X = H_T(X̃) (eq. 4.3.1, ``tu_hankel_f32``: copies
and zeros, exact), starts from H⁽⁰⁾ = 1 ∘ M^H, and runs the schedule of
:meth:`tinyunfold.models.padnmf.PADNMF.schedule` — K−C layers with Ŵ, then one layer with each
trained dictionary — through ``tu_nmf_layers_f32`` (eq. 4.3.15 with 3.2.38 and the mask 4.3.14).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyunfold.errors import ModelFileError, ShapeError
from tinyunfold.features import hankel
from tinyunfold.golden.linalg import F32, as_f32, column_sums_f32
from tinyunfold.golden.nmf import nmf_layers_f32
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.nmf import check_input
from tinyunfold.models.padnmf import PADNMF


@dataclass(frozen=True)
class PADNMFConstants:
    """What the generator bakes into the firmware: dictionaries, denominators, mask, schedule."""

    n_bins: int  # m'
    context: int  # T
    n_frames: int  # n
    dictionaries: tuple[np.ndarray, ...]  # each (m'T, r) float32
    denominators: tuple[np.ndarray, ...]  # each (r,) float32: Wᵀ1 + α_H
    counts: tuple[int, ...]  # layers run with each dictionary
    mask: np.ndarray | None  # (r, n) float32 0/1, or None
    eps: np.float32

    @property
    def n_features(self) -> int:
        return self.n_bins * self.context

    @property
    def rank(self) -> int:
        return int(self.dictionaries[0].shape[1])


def constants(model: ModelFile) -> PADNMFConstants:
    if "n_frames" not in model.params:
        raise ModelFileError(
            f"{model.kind} model has no n_frames: the device needs a fixed window length",
            "train it with `tinyunfold train`, or import it with --training-set",
        )
    est = PADNMF.from_modelfile(model)
    n = int(model.params["n_frames"])
    alpha = F32(est.alpha_h)
    sched = [(as_f32(W), c) for W, c in est.schedule() if c > 0]
    mask = h_mask_f32(est, n)
    return PADNMFConstants(
        n_bins=est.layout_.n_bins,
        context=est.layout_.context,
        n_frames=n,
        dictionaries=tuple(W for W, _ in sched),
        denominators=tuple((column_sums_f32(W) + alpha).astype(F32) for W, _ in sched),
        counts=tuple(int(c) for _, c in sched),
        mask=mask,
        eps=F32(est.eps),
    )


def h_mask_f32(est: PADNMF, n_frames: int) -> np.ndarray | None:
    _, MH = est.masks(n_frames)
    return None if MH is None else as_f32(MH)


def padnmf_forward_f32(c: PADNMFConstants, spec: np.ndarray) -> np.ndarray:
    """Bit-exact float32 forward pass: spectrogram window (m', n) -> H⁽ᴷ⁾ (r, n)."""
    spec = as_f32(check_input(spec, c.n_bins, "spectrogram window"))
    if spec.shape[1] != c.n_frames:
        raise ShapeError(
            f"window has {spec.shape[1]} frames, the model was built for {c.n_frames}",
            "cut windows of the training length",
        )
    X = hankel(spec, c.context)  # eq. (4.3.1): copies and zeros, exact in float32
    H = np.ones((c.rank, c.n_frames), dtype=F32) if c.mask is None else c.mask.copy()
    for W, d, count in zip(c.dictionaries, c.denominators, c.counts, strict=True):
        H = nmf_layers_f32(W, d, c.eps, X, H, count, c.mask)
    return H
