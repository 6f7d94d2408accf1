"""Float32 golden reference of the Deep Kalman Filter step ``tu_dkf_step_f32``.

The prediction is linear (A x + Bu) or polynomial: the table of
:func:`tinyunfold.models.dkf_poly.poly_predictor` evaluated as ``tu_poly_eval_f32`` and, for the
``rk4`` predictor, integrated as ``tu_rk4_step_f32`` (:func:`poly_eval_f32`, :func:`rk4_step_f32`,
:func:`predict_poly_f32`). Layer k of the unrolled filter (thesis eqs. 6.4.2-6.4.3) in the order the C computes it; the state
runs through consecutive observations exactly as the firmware keeps it between forward passes.
Beyond the K trained layers the model's ``gain_beyond`` is used (:func:`gain_for_step`).
"""

from __future__ import annotations

import numpy as np

from tinyunfold.golden.linalg import as_f32, mat_mult_f32
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.dkf import gain_for_step
from tinyunfold.models.dkf_poly import SCHEME_MAP, PolyPredictor, poly_predictor

F32 = np.float32


def poly_eval_f32(P: PolyPredictor, x: np.ndarray) -> np.ndarray:
    """``tu_poly_eval_f32``: dx = 0; per term t: v = 1, v *= x_j (e_tj times, j ascending),
    dx[out_t] += c_t v. x (n,) -> dx (n,) float32."""
    x = as_f32(x)
    dx = np.zeros(P.n, dtype=F32)
    for t in range(P.n_terms):
        v = F32(1.0)
        for j in range(P.n):
            for _ in range(int(P.exps[t, j])):
                v = F32(v * x[j])
        i = int(P.out[t])
        dx[i] = F32(dx[i] + F32(P.coef[t] * v))
    return dx


def rk4_step_f32(P: PolyPredictor, h: np.float32, x: np.ndarray) -> np.ndarray:
    """``tu_rk4_step_f32``: x + (h/6) (((k1 + 2 k2) + 2 k3) + k4), elementwise float32."""
    x = as_f32(x)
    h = F32(h)
    hh, h6, two = F32(F32(0.5) * h), F32(h / F32(6.0)), F32(2.0)
    k = poly_eval_f32(P, x)  # k1
    acc = k.copy()
    k = poly_eval_f32(P, x + hh * k)  # k2
    acc = acc + two * k
    k = poly_eval_f32(P, x + hh * k)  # k3
    acc = acc + two * k
    k = poly_eval_f32(P, x + h * k)  # k4
    acc = acc + k
    return x + h6 * acc


def predict_poly_f32(P: PolyPredictor, x: np.ndarray) -> np.ndarray:
    """``tu_dkf_predict_poly_f32``: x_p = f(x) (imex map) or n_sub RK4 steps, eq. (6.4.2)."""
    if P.scheme == SCHEME_MAP:
        return poly_eval_f32(P, x)
    xp = rk4_step_f32(P, P.h, x)
    for _ in range(1, P.n_sub):
        xp = rk4_step_f32(P, P.h, xp)
    return xp


def step_f32(
    x: np.ndarray,
    y: np.ndarray,
    A: np.ndarray,
    Bu: np.ndarray,
    C: np.ndarray,
    gain: np.ndarray,
    poly: PolyPredictor | None = None,
) -> np.ndarray:
    """One float32 layer in the order a CMSIS-DSP implementation computes it.

    xp = mat_mult(A, x) + Bu (or xp = f(x) of the polynomial predictor ``poly``);
    e = y - mat_mult(C, xp); x' = xp + mat_mult(K, e). Shapes: x (n,), y (m,), A (n, n), Bu (n,),
    C (m, n), gain (n, m). Returns x' (n,) float32.
    """
    xc = as_f32(x).reshape(-1, 1)
    if poly is None:
        xp = mat_mult_f32(A, xc) + as_f32(Bu).reshape(-1, 1)  # eq. (6.4.2)
    else:
        xp = predict_poly_f32(poly, xc.reshape(-1)).reshape(-1, 1)  # eq. (6.4.2), f nonlinear
    e = as_f32(y).reshape(-1, 1) - mat_mult_f32(C, xp)  # innovation e_y(k)
    return (xp + mat_mult_f32(gain, e)).reshape(-1)  # eq. (6.4.3)


def stream_f32(model: ModelFile, y: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
    """Run a ``dkf`` model over y (T, m), T may exceed K. Returns x̂(1..T) (T, n) f32."""
    poly = None if model.params["predictor"] == "linear" else poly_predictor(model)
    A, Bu, C = model.array("A"), model.array("Bu"), model.array("C")
    gains, gb = model.array("gains"), model.array("gain_beyond")
    x = as_f32(model.array("x0") if x0 is None else x0)
    out = np.zeros((y.shape[0], x.shape[0]), dtype=np.float32)
    for k in range(1, y.shape[0] + 1):
        x = step_f32(x, y[k - 1], A, Bu, C, gain_for_step(gains, gb, k), poly)
        out[k - 1] = x
    return out
