"""Kind ``nmf``: sparse KL-NMF activations with a fixed dictionary (eq. 4.2.2 + 3.2.38)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyunfold.golden import nmf as golden
from tinyunfold.kinds.base import Kind
from tinyunfold.modelfile import ModelFile
from tinyunfold.models import nmf as model_nmf


def _golden(model: ModelFile, blocks: np.ndarray) -> np.ndarray:
    c = golden.constants(model)
    return np.stack([golden.nmf_forward_f32(c, x).ravel() for x in blocks])


def _input_shape(model: ModelFile) -> tuple[int, ...]:
    return (int(model.array("W").shape[0]), int(model.params["n_frames"]))


def _output_shape(model: ModelFile) -> tuple[int, ...]:
    return (int(model.array("W").shape[1]), int(model.params["n_frames"]))


def _codegen(model: ModelFile) -> dict[str, Any]:
    c = golden.constants(model)
    return {
        "F": c.n_features,
        "R": c.rank,
        "N": c.n_frames,
        "K": c.n_layers,
        "W": c.W,
        "denom": c.denom,
        "eps": c.eps,
        "h0": c.h0,
        "alpha_h": float(model.params["alpha_h"]),
        "in_len": c.n_features * c.n_frames,
        "out_len": c.rank * c.n_frames,
        "flash_const_bytes": 4 * (c.W.size + c.denom.size),
        "ram_scratch_bytes": 4 * (2 * c.n_features + c.rank) * c.n_frames,
    }


KIND = Kind(
    name=model_nmf.KIND,
    family="nmf",
    task="activations",
    summary="sparse KL-NMF activations H of X with a fixed dictionary W, K layers (eq. 4.2.2)",
    validate=model_nmf.validate_model,
    estimator=model_nmf.NMFInference.from_modelfile,
    golden=_golden,
    input_shape=_input_shape,
    output_shape=_output_shape,
    codegen=_codegen,
    templates="nmf",
)
