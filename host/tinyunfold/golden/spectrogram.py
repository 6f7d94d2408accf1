"""Float32 golden reference of the device front-end ``tu_spectrogram_frame_f32``.

Per frame (features.py's chain, in the C's order)::

    y = x * w32                        arm_mult_f32, w32 = float32(w / Σw)
    Y = rfft(y)                        arm_rfft_fast_f32 via the host build (golden/hostcmsis.py)
    P0 = Y0², P(n/2) = Y1², Pk = Re² + Im²   arm_cmplx_mag_squared_f32
    s_b = ((0 + P_e_b) + P_(e_b+1)) + ...    band sums, increasing bins
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyunfold.features import SpectrogramParams, band_edges, window
from tinyunfold.golden.hostcmsis import rfft_fast_f32
from tinyunfold.golden.linalg import F32, as_f32


@dataclass(frozen=True)
class FrontEndConstants:
    n_fft: int
    window: np.ndarray  # (n_fft,) float32
    edges: np.ndarray  # (F + 1,) uint16

    @property
    def n_features(self) -> int:
        return len(self.edges) - 1


def constants(p: SpectrogramParams) -> FrontEndConstants:
    return FrontEndConstants(
        n_fft=p.n_fft,
        window=window(p).astype(F32),
        edges=band_edges(p).astype(np.uint16),
    )


def band_sums_f32(P: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Sequential band sums of power rows P (..., n_bins) -> (..., F) float32."""
    lo, hi = edges[:-1].astype(np.int64), edges[1:].astype(np.int64)
    acc = np.zeros(P.shape[:-1] + (len(lo),), dtype=F32)
    for j in range(int(np.max(hi - lo))):
        idx = lo + j
        live = idx < hi
        acc[..., live] += P[..., idx[live]]
    return acc


def frame_power_f32(c: FrontEndConstants, frames: np.ndarray) -> np.ndarray:
    """Band powers of frames (..., n_fft) -> (..., F), bit-exact with the firmware."""
    frames = as_f32(frames)
    Y = rfft_fast_f32(frames * c.window)
    half = c.n_fft // 2
    P = np.empty(frames.shape[:-1] + (half + 1,), dtype=F32)
    P[..., 0] = Y[..., 0] * Y[..., 0]
    P[..., half] = Y[..., 1] * Y[..., 1]
    re, im = Y[..., 2::2], Y[..., 3::2]
    P[..., 1:half] = re * re + im * im
    return band_sums_f32(P, c.edges)
