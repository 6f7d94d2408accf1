"""Kinds ``padnmf`` (PAD-NMF, thesis 4.3) and ``deepnmf`` (Deep-NMF, thesis 4.2): hit detectors.

Both are :class:`~tinyunfold.models.padnmf.PADNMF` networks; ``padnmf`` applies the masks M^W, M^H
(4.3.8, 4.3.13) and the loss 4.3.20, ``deepnmf`` neither. One device forward pass maps a spectrogram
window X̃ (m' x n) to H⁽ᴷ⁾ (r x n): ``tu_hankel_f32`` (4.3.1) then ``tu_nmf_layers_f32``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tinyunfold import complexity
from tinyunfold.datasets.prep import init_sets
from tinyunfold.detection import Detector
from tinyunfold.errors import TinyUnfoldError
from tinyunfold.golden import padnmf as golden
from tinyunfold.golden import spectrogram as gspec
from tinyunfold.golden import stream as golden_stream
from tinyunfold.kinds.base import Detection, Kind, Trained, Training
from tinyunfold.modelfile import ModelFile
from tinyunfold.models import baselines
from tinyunfold.models import padnmf as model_padnmf
from tinyunfold.training import padnmf as training


def _golden(model: ModelFile, blocks: np.ndarray) -> np.ndarray:
    c = golden.constants(model)
    return np.stack([golden.padnmf_forward_f32(c, x).ravel() for x in blocks])


def _input_shape(model: ModelFile) -> tuple[int, ...]:
    c = golden.constants(model)  # names what is missing (n_frames) for models that cannot deploy
    return (c.n_bins, c.n_frames)


def _output_shape(model: ModelFile) -> tuple[int, ...]:
    c = golden.constants(model)
    return (c.rank, c.n_frames)


def _codegen(model: ModelFile) -> dict[str, Any]:
    c = golden.constants(model)
    F, R, N = c.n_features, c.rank, c.n_frames
    s = golden.support(c.dictionaries, c.mask, N)
    if F > 0xFFFF or R > 0xFFFF or s.nnz > 0xFFFF:
        raise TinyUnfoldError(
            f"{model.kind}: m'T = {F}, r = {R}, nnz(M^H) = {s.nnz}: the support tables are 16-bit",
            "use fewer bands, a shorter context or a lower rank",
        )
    n_dict = len(c.dictionaries)
    tables = 2 * R + 4 * R + 2 * (N + 1) + 2 * s.nnz  # w_lo, w_len (16-bit), w_off, h_ptr, h_rows
    return {
        "m": c.n_bins,
        "T": c.context,
        "F": F,
        "R": R,
        "N": N,
        "dictionaries": c.dictionaries,
        "compact": tuple(golden.compact_dictionary(W, s) for W in c.dictionaries),
        "denominators": c.denominators,
        "counts": c.counts,
        "mask": c.mask,
        "eps": c.eps,
        "w_lo": [int(v) for v in s.w_lo],
        "w_len": [int(v) for v in s.w_len],
        "w_off": [int(v) for v in s.w_off],
        "h_ptr": [int(v) for v in s.h_ptr],
        "h_rows": [int(v) for v in s.h_rows],
        "nnz": s.nnz,
        "w_size": s.w_size,
        "kept_macs": s.kept_macs(),
        "warm_stride": c.warm_stride,
        "warm_src": [int(v) for v in golden.warm_source(s, c.warm_stride, R, N)],
        "in_len": c.n_bins * N,
        "out_len": R * N,
        # the default (mask-aware) build; the dense reference build (TU_DENSE) stores n_dict F R
        "flash_const_bytes": 4 * (n_dict * (s.w_size + R) + s.nnz) + tables,
        "ram_scratch_bytes": 4 * (2 * F * N + s.nnz),
        "detector": detector_context(model, golden_stream.stream_config),
    }


def detector_context(
    model: ModelFile, stream: Callable[[ModelFile], golden_stream.StreamConfig]
) -> dict[str, Any] | None:
    """Constants of the streaming detector (front-end, framing, detection) for the shared
    templates ``codegen/templates/detector/``, or None when the model is a forward pass only
    (``tinyunfold build`` of the detector program then refuses it with the reason from the
    kind's ``stream``, e.g. :func:`tinyunfold.golden.stream.stream_config`)."""
    try:
        cfg = stream(model)
    except TinyUnfoldError:
        return None
    d = cfg.detect
    ur = d.ur if cfg.decision == "ur" else None
    readout = d.readout if cfg.decision == "readout" else None
    return {
        "sample_rate": cfg.sample_rate,
        "n_fft": cfg.n_fft,
        "hop": cfg.hop,
        "n_frames": cfg.n_frames,  # n, frames per window (columns of H)
        "rank": d.rank,  # rows of H the indices read
        "stride": cfg.stride,
        "n_bands": cfg.front.n_features,
        "window": cfg.front.window,
        "edges": [int(e) for e in cfg.front.edges],
        "orders": gspec.orders_context(cfg.front),
        "input_scale": cfg.input_scale,
        "pcm_scale": golden_stream.PCM_SCALE,
        "decision": cfg.decision,
        "n_classes": len(cfg.class_names),
        # C string literals, every byte hex-escaped (class names are user text)
        "class_names_c": [
            '"' + "".join(f"\\x{b:02x}" for b in c.encode()) + '"' for c in cfg.class_names
        ],
        "block_offset": list(d.block_offset),
        "block_class": list(d.block_class),
        "n_shifts": d.n_shifts,
        "floor": d.floor,
        "top_k": d.top_k,
        "log_threshold": d.log_threshold,
        "ur": ur,
        "n_latent": 0 if ur is None else ur.n_latent,
        "readout": readout,
        # the readout reads H (rank rows) or the window X~ (n_bands rows; readout_input)
        "readout_spectrum": readout is not None and readout.input == "spectrum",
        "readout_rows_in": 0 if readout is None else readout.width,
    }


def require_detector(model: ModelFile) -> Detector:
    """The fitted :class:`Detector` stored in a detector model, or one line saying how to get one."""
    if "detection" not in model.params:
        raise TinyUnfoldError(
            "the model has no fitted detector (thresholds)",
            "train it with `tinyunfold train`, or import with --training-set",
        )
    return Detector.from_model(model.params, model.arrays)


def _detection(model: ModelFile) -> Detection:
    det = require_detector(model)
    est = model_padnmf.PADNMF.from_modelfile(model)
    cfg = model.params.get("config", {}).get("model", {})

    def _baselines(ds: Any, feats: Any, scale: float) -> dict[str, Any]:
        opts = det.baseline_options()
        targets, noise = init_sets(
            ds,
            feats,
            scale,
            model.params.get("noise_blocks", "one"),
            **model.params.get("template", {}),  # the training's template conditioning
        )
        no_ctx = baselines.no_context(
            targets,
            noise,
            ds.classes,
            est.n_layers,
            int(cfg.get("target_rank", 8)),
            int(cfg.get("noise_rank", 7)),
            est.alpha_h,
            est.eps,
            int(cfg.get("init_iter", 200)),
        )
        return {
            "KL-NMF fixed W, T context": (baselines.fixed_dictionary(est), None, opts),
            "KL-NMF fixed W, T=1": (no_ctx, None, {**opts, "activation": True, "shifted": False}),
        }

    return Detection(est, det, _baselines)


def _training(name: str, defaults: dict[str, Any]) -> Training:
    def load_config(path: str | None, overrides: list[str]) -> dict[str, dict[str, Any]]:
        cfg = training.load_config(path, overrides)
        for key, value in defaults.items():
            cfg["model"].setdefault(key, value)
        return cfg

    def fit(ds: Any, cfg: dict[str, dict[str, Any]], progress: bool) -> Trained:
        est, det, extra = training.train_from_dataset(ds, name, cfg, progress)
        params = {"detection": det.to_params(), **extra}
        curves = {
            "loss": list(est.loss_history_),  # per mini-batch
            "epoch_loss": list(getattr(est, "epoch_loss_", [])),  # (4.3.21), 0 = before training
        }
        return Trained(est, det, extra, lambda: est.to_modelfile(params, det.arrays()), curves)

    def finetune(
        model: ModelFile,
        mixtures: list[np.ndarray],
        targets: list[np.ndarray],
        label_sets: list[list[int]],
        cfg: dict[str, dict[str, Any]],
        progress: bool,
    ) -> Trained:
        est = model_padnmf.PADNMF.from_modelfile(model)
        est, det, extra = training.finetune(
            est, model.params, mixtures, targets, label_sets, cfg, progress
        )
        params = {"detection": det.to_params(), **extra}
        curves = {
            "loss": list(est.loss_history_),
            "epoch_loss": list(getattr(est, "epoch_loss_", [])),
        }
        return Trained(est, det, extra, lambda: est.to_modelfile(params, det.arrays()), curves)

    return Training(training.CONFIG_HELP, load_config, fit, finetune)


def _flops_padnmf(est: Any, n_frames: int) -> float:
    lay = est.layout_
    return float(complexity.cost_pad_nmf(lay.rank, n_frames, lay.n_bins, lay.context, est.n_layers))


def _flops_deepnmf(est: Any, n_frames: int) -> float:
    lay = est.layout_
    return float(
        complexity.cost_deep_nmf(
            lay.rank, n_frames, lay.n_bins, lay.context, est.n_layers, est.n_discriminative
        )
    )


def _kind(
    name: str,
    summary: str,
    defaults: dict[str, Any],
    flops: Any,
) -> Kind:
    return Kind(
        name=name,
        family="nmf",
        task="detector",
        summary=summary,
        validate=model_padnmf.validate_model,
        estimator=model_padnmf.PADNMF.from_modelfile,
        golden=_golden,
        input_shape=_input_shape,
        output_shape=_output_shape,
        codegen=_codegen,
        templates="padnmf",
        detection=_detection,
        training=_training(name, defaults),
        forward_flops=flops,
        stream=golden_stream.stream_config,
    )


PADNMF_KIND = _kind(
    "padnmf",
    "PAD-NMF hit detector (thesis 4.3): masked W and H, loss 4.3.20",
    {},
    _flops_padnmf,
)
# Deep-NMF trains purely stochastically by default (batch size 1, as Hershey et al.).
DEEPNMF_KIND = _kind(
    "deepnmf",
    "Deep-NMF hit detector (thesis 4.2): no masks, Wiener loss 4.2.3",
    {"batch_size": 1},
    _flops_deepnmf,
)
