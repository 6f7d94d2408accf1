"""Float32 golden reference of the linear Deep Kalman Filter step ``tu_dkf_step_f32``.

Layer k of the unrolled filter (thesis eqs. 6.4.2-6.4.3) in the order the C computes it; the state
runs through consecutive observations exactly as the firmware keeps it between forward passes.
Beyond the K trained layers the model's ``gain_beyond`` is used (:func:`gain_for_step`).
"""

from __future__ import annotations

import numpy as np

from tinyunfold.errors import ModelFileError
from tinyunfold.golden.linalg import as_f32, mat_mult_f32
from tinyunfold.modelfile import ModelFile
from tinyunfold.models.dkf import gain_for_step


def step_f32(
    x: np.ndarray, y: np.ndarray, A: np.ndarray, Bu: np.ndarray, C: np.ndarray, gain: np.ndarray
) -> np.ndarray:
    """One float32 layer in the order a CMSIS-DSP implementation computes it.

    xp = mat_mult(A, x) + Bu; e = y - mat_mult(C, xp); x' = xp + mat_mult(K, e). Shapes: x (n,),
    y (m,), A (n, n), Bu (n,), C (m, n), gain (n, m). Returns x' (n,) float32.
    """
    xc = as_f32(x).reshape(-1, 1)
    xp = mat_mult_f32(A, xc) + as_f32(Bu).reshape(-1, 1)  # eq. (6.4.2)
    e = as_f32(y).reshape(-1, 1) - mat_mult_f32(C, xp)  # innovation e_y(k)
    return (xp + mat_mult_f32(gain, e)).reshape(-1)  # eq. (6.4.3)


def stream_f32(model: ModelFile, y: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
    """Run a linear ``dkf`` model over y (T, m), T may exceed K. Returns x̂(1..T) (T, n) f32."""
    if model.params["predictor"] != "linear":
        raise ModelFileError("stream_f32 needs a linear predictor (kind linear/continuous)")
    A, Bu, C = model.array("A"), model.array("Bu"), model.array("C")
    gains, gb = model.array("gains"), model.array("gain_beyond")
    x = as_f32(model.array("x0") if x0 is None else x0)
    out = np.zeros((y.shape[0], x.shape[0]), dtype=np.float32)
    for k in range(1, y.shape[0] + 1):
        x = step_f32(x, y[k - 1], A, Bu, C, gain_for_step(gains, gb, k))
        out[k - 1] = x
    return out
