"""Kind ``dkf``: the Deep Kalman Filter (thesis 6.4): y(k) (m) -> x̂(k) (n), state kept across calls."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyunfold.golden.dkf import stream_f32
from tinyunfold.kinds.base import Filtering, Kind
from tinyunfold.modelfile import ModelFile
from tinyunfold.models import dkf as model_dkf
from tinyunfold.models.dkf_poly import SCHEME_RK4, poly_predictor

_ARRAYS = ("A", "Bu", "C", "gains", "gain_beyond", "x0")


def _golden(model: ModelFile, blocks: np.ndarray) -> np.ndarray:
    return stream_f32(model, np.asarray(blocks, dtype=np.float32))


def _deploy_check(model: ModelFile) -> None:
    """Every predictor deploys (linear: A x + Bu; imex/rk4: the polynomial table of
    models/dkf_poly.py); a table that cannot be built is refused with its reason."""
    if model.params["predictor"] != "linear":
        poly_predictor(model)


def _poly_context(model: ModelFile) -> dict[str, Any] | None:
    """The nonlinear predictor baked into the firmware: the same table golden/dkf.py evaluates."""
    if model.params["predictor"] == "linear":
        return None
    P = poly_predictor(model)
    return {
        "n_terms": P.n_terms,
        "out": ", ".join(f"{int(v)}U" for v in P.out),
        "exps": ", ".join(f"{int(v)}U" for v in P.exps.reshape(-1)),
        "coef": P.coef,
        "scheme": "TU_DKF_SCHEME_RK4" if P.scheme == SCHEME_RK4 else "TU_DKF_SCHEME_MAP",
        "n_sub": P.n_sub,
        "h": P.h,
        "rk4": P.scheme == SCHEME_RK4,
        "flash_bytes": 4 * P.n_terms + P.n_terms * (1 + P.n),
    }


def _codegen(model: ModelFile) -> dict[str, Any]:
    p = model.params
    n, m, K = int(p["n_states"]), int(p["n_outputs"]), int(p["n_layers"])
    arrays = {k: model.array(k) for k in _ARRAYS}
    poly = _poly_context(model)
    return {
        "n": n,
        "m": m,
        "K": K,
        "beyond": p["beyond"],
        "predictor": p["predictor"],
        "poly": poly,
        **arrays,
        "in_len": m,
        "out_len": n,
        "flash_const_bytes": 4 * sum(int(a.size) for a in arrays.values())
        + (poly["flash_bytes"] if poly else 0),
        "ram_scratch_bytes": 4 * (3 * n + m) + (4 * 3 * n if poly and poly["rk4"] else 0),
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
    summary="Deep Kalman Filter (thesis 6.4): learned gains K_G(k), y(k) -> x̂(k); linear, "
    "imex or rk4 (polynomial) predictor",
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
