"""Kind ``dkf``: the Deep Kalman Filter (thesis 6.4): y(k) (m) -> x̂(k) (n), state kept across calls."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyunfold.errors import ModelFileError
from tinyunfold.golden.dkf import stream_f32
from tinyunfold.kinds.base import Filtering, Kind
from tinyunfold.modelfile import ModelFile
from tinyunfold.models import dkf as model_dkf

_ARRAYS = ("A", "Bu", "C", "gains", "gain_beyond", "x0")


def _golden(model: ModelFile, blocks: np.ndarray) -> np.ndarray:
    return stream_f32(model, np.asarray(blocks, dtype=np.float32))


def _deploy_check(model: ModelFile) -> None:
    p = model.params
    if p["predictor"] != "linear":
        raise ModelFileError(
            f"dkf: the {p['predictor']!r} (nonlinear) predictor is not deployable yet",
            "deploy a linear system (kind linear or continuous in system.toml)",
        )


def _codegen(model: ModelFile) -> dict[str, Any]:
    p = model.params
    n, m, K = int(p["n_states"]), int(p["n_outputs"]), int(p["n_layers"])
    arrays = {k: model.array(k) for k in _ARRAYS}
    return {
        "n": n,
        "m": m,
        "K": K,
        "beyond": p["beyond"],
        **arrays,
        "in_len": m,
        "out_len": n,
        "flash_const_bytes": 4 * sum(int(a.size) for a in arrays.values()),
        "ram_scratch_bytes": 4 * (3 * n + m),
    }


def _filtering(model: ModelFile) -> Filtering:
    dkf = model_dkf.DeepKalmanFilter.from_modelfile(model)
    s = dkf.system

    def estimate(y: np.ndarray, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        innov = np.zeros_like(y)
        xd = model_dkf.run_dkf_numpy(
            s, dkf.learned_coefs(), dkf.C_, dkf.gains_, dkf.gain_beyond_, y, x0, dkf.sindy_, innov
        )
        return xd, innov

    def extra(T: int) -> dict[str, Any]:
        return model_dkf.exact_gain_report(dkf, T) if model_dkf.exact_applies(dkf) else {}

    def gains() -> tuple[np.ndarray, np.ndarray]:
        return dkf.gains_, dkf.kalman_reference()[0]

    return Filtering(s, int(dkf.K), estimate, extra, gains)


KIND = Kind(
    name=model_dkf.KIND,
    family="state-space",
    task="filter",
    summary="Deep Kalman Filter (thesis 6.4): learned gains K_G(k), y(k) -> x̂(k)",
    validate=model_dkf.validate_model,
    estimator=model_dkf.DeepKalmanFilter.from_modelfile,
    golden=_golden,
    input_shape=lambda model: (int(model.params["n_outputs"]),),
    output_shape=lambda model: (int(model.params["n_states"]),),
    codegen=_codegen,
    templates="dkf",
    deploy_check=_deploy_check,
    filtering=_filtering,
)
