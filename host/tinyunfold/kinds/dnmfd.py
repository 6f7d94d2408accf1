"""Kind ``dnmfd``: Deep-NMFD hit detector (thesis 4.4), one rank-1 block per NMFD dictionary."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyunfold import complexity
from tinyunfold.golden import dnmfd as golden
from tinyunfold.golden import stream as golden_stream
from tinyunfold.kinds.base import Detection, Kind, Trained, Training
from tinyunfold.kinds.padnmf import detector_context, require_detector
from tinyunfold.modelfile import ModelFile
from tinyunfold.models import dnmfd as model_dnmfd
from tinyunfold.models.padnmf import BlockLayout
from tinyunfold.training import dnmfd as training


def _detection(model: ModelFile) -> Detection:
    det = require_detector(model)
    if "layout" not in model.params:
        from tinyunfold.errors import TinyUnfoldError

        raise TinyUnfoldError(
            "this dnmfd model has no detector layout",
            "train it with `tinyunfold train dnmfd --dataset ...`",
        )
    est = model_dnmfd.DeepNMFD.from_modelfile(model)
    adapter = model_dnmfd.DNMFDDetector(est, BlockLayout.from_params(model.params["layout"]))

    def _baselines(ds: Any, feats: Any, scale: float) -> dict[str, Any]:
        base = model_dnmfd.fixed_dictionary_baseline(adapter)
        return {"KL-NMFD fixed W": (base, None, det.baseline_options())}

    return Detection(adapter, det, _baselines)


def _stream(model: ModelFile) -> golden_stream.StreamConfig:
    """Audio in, hits out (golden/stream.py) with the Deep-NMFD forward pass: window X (m x n)
    -> H⁽ᴷ⁾ (J̄ x n), one row per dictionary = one rank-1 block of the detector's layout."""
    if "layout" not in model.params:
        raise golden_stream.DetectorDeployError(
            "this dnmfd model has no detector layout",
            "train it with `tinyunfold train dnmfd --dataset ...`",
        )
    cfg = golden_stream.stream_config(model, golden.constants, golden.dnmfd_forward_f32)
    if cfg.detect.rank != cfg.forward.n_dicts:  # the indices read H's rows (tu_detect_*)
        raise golden_stream.DetectorDeployError(
            f"the detector layout has {cfg.detect.rank} rows, the network {cfg.forward.n_dicts} "
            "dictionaries",
            "retrain the model with `tinyunfold train dnmfd` (one rank-1 block per dictionary)",
        )
    return cfg


def _fit(ds: Any, cfg: dict[str, dict[str, Any]], progress: bool) -> Trained:
    est, adapter, det, extra = training.train_dnmfd_from_dataset(ds, cfg, progress)
    params = {"detection": det.to_params(), **extra}
    curves = {"loss": list(est.loss_)}  # mean loss (4.4.4) per epoch
    return Trained(adapter, det, extra, lambda: est.to_modelfile(params, det.arrays()), curves)


def _golden(model: ModelFile, blocks: np.ndarray) -> np.ndarray:
    c = golden.constants(model)
    return np.stack([golden.dnmfd_forward_f32(c, x).ravel() for x in blocks])


def _input_shape(model: ModelFile) -> tuple[int, ...]:
    c = golden.constants(model)  # names what is missing (n_frames)
    return (c.n_bins, c.n_frames)


def _output_shape(model: ModelFile) -> tuple[int, ...]:
    c = golden.constants(model)
    return (c.n_dicts, c.n_frames)


def _codegen(model: ModelFile) -> dict[str, Any]:
    c = golden.constants(model)
    m, N, J = c.n_bins, c.n_frames, c.n_dicts
    n_atoms = int(sum(c.ranks))
    return {
        "m": m,
        "N": N,
        "J": J,
        "R": max(c.ranks),
        "ranks": list(c.ranks),
        "n_atoms": n_atoms,
        "atoms": c.atoms,
        "counts": c.counts,
        "eps": c.eps,
        "in_len": m * N,
        "out_len": J * N,
        # flash: the dictionaries (the first term of 4.5.6) and the ranks; the denominators
        # max(D, ε) are computed at start-up into RAM (tu_nmfd_denominator_f32)
        "flash_const_bytes": 4 * len(c.atoms) * n_atoms * m + 2 * J,
        "ram_scratch_bytes": 4 * (N * m + J * N + len(c.atoms) * J * N),
        "detector": detector_context(model, _stream),
    }


def _flops(adapter: Any, n_frames: int) -> float:
    e = adapter.est
    return float(complexity.cost_deep_nmfd(list(e.ranks), n_frames, e.W_hat_.shape[1], e.n_layers))


KIND = Kind(
    name=model_dnmfd.KIND,
    family="nmf",
    task="detector",
    summary="Deep-NMFD hit detector (thesis 4.4): unrolled KL-NMFD with trained dictionaries",
    validate=model_dnmfd.validate_model,
    estimator=model_dnmfd.DeepNMFD.from_modelfile,
    golden=_golden,
    input_shape=_input_shape,
    output_shape=_output_shape,
    codegen=_codegen,
    templates="dnmfd",
    detection=_detection,
    training=Training(
        training.DNMFD_CONFIG_HELP,
        training.load_dnmfd_config,
        _fit,
        demo_config=training.DNMFD_DEMO_CONFIG,
    ),
    forward_flops=_flops,
    stream=_stream,
)
