"""Kind ``spectrogram``: the feature front-end alone (window, rfft, power, band sums)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError
from tinyunfold.features import n_features
from tinyunfold.golden import spectrogram as golden
from tinyunfold.kinds.base import Kind
from tinyunfold.modelfile import ModelFile
from tinyunfold.models import frontend


def _golden(model: ModelFile, blocks: np.ndarray) -> np.ndarray:
    c = golden.constants(frontend.params_of(model))
    return golden.frame_power_f32(c, blocks).reshape(len(blocks), -1)


def _input_shape(model: ModelFile) -> tuple[int, ...]:
    return (frontend.params_of(model).n_fft,)


def _output_shape(model: ModelFile) -> tuple[int, ...]:
    return (n_features(frontend.params_of(model)),)


def _deploy_check(model: ModelFile) -> None:
    if frontend.params_of(model).log:
        raise ModelFileError(
            "spectrogram: log compression is not deployable (no shared log1p definition yet)",
            "deploy the linear band powers (log=false); see docs/numerics.md on transcendentals",
        )


def _codegen(model: ModelFile) -> dict[str, Any]:
    p = frontend.params_of(model)
    c = golden.constants(p)
    return {
        "n_fft": c.n_fft,
        "F": c.n_features,
        "window": c.window,
        "edges": [int(e) for e in c.edges],
        "orders": golden.orders_context(c),
        "sample_rate": p.sample_rate,
        "in_len": c.n_fft,
        "out_len": c.n_features,
        "flash_const_bytes": 4 * c.n_fft + 2 * len(c.edges),
        "ram_scratch_bytes": 4 * (2 * c.n_fft + c.n_fft // 2 + 1),
    }


KIND = Kind(
    name=frontend.KIND,
    family="front-end",
    task="features",
    summary="the device feature front-end: n_fft samples -> F band powers",
    validate=frontend.validate_model,
    estimator=frontend.params_of,
    golden=_golden,
    input_shape=_input_shape,
    output_shape=_output_shape,
    codegen=_codegen,
    templates="spectrogram",
    deploy_check=_deploy_check,
)
