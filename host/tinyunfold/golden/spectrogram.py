"""Float32 golden reference of the device front-end ``tu_spectrogram_frame_f32``.

Per frame (features.py's chain, in the C's order)::

    y = x * w32                        arm_mult_f32, w32 = float32(w / Σw)
    Y = rfft(y)                        arm_rfft_fast_f32 via the host build (golden/hostcmsis.py)
    P0 = Y0², P(n/2) = Y1², Pk = Re² + Im²   arm_cmplx_mag_squared_f32
    P = notch(P)                             tu_orders_notch_f32 when ``orders_f0`` is set
                                             (features.notch_orders in float32, shared logf)
    s_b = ((0 + P_e_b) + P_(e_b+1)) + ...    band sums, increasing bins
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyunfold.features import (
    ORDERS_COARSE,
    SpectrogramParams,
    band_edges,
    notch_orders,
    orders_gate,
    orders_terms,
    window,
)
from tinyunfold.golden import mathf
from tinyunfold.golden.hostcmsis import rfft_fast_f32
from tinyunfold.golden.linalg import F32, as_f32


@dataclass(frozen=True)
class FrontEndConstants:
    n_fft: int
    window: np.ndarray  # (n_fft,) float32
    edges: np.ndarray  # (F + 1,) uint16
    orders: SpectrogramParams | None = None  # the order notch's parameters (orders_f0 set)

    @property
    def n_features(self) -> int:
        return len(self.edges) - 1


def constants(p: SpectrogramParams) -> FrontEndConstants:
    return FrontEndConstants(
        n_fft=p.n_fft,
        window=window(p).astype(F32),
        edges=band_edges(p).astype(np.uint16),
        orders=p if p.orders_f0 is not None else None,
    )


def orders_context(c: FrontEndConstants) -> dict[str, Any] | None:
    """The order notch's constants for the templates (``tu_orders_init_f32``), float32 as
    :func:`features.notch_orders` computes with them; None without a notch."""
    if c.orders is None:
        return None
    lo, step, r, G, H, wd = orders_terms(c.orders, F32)
    return {
        "n_bins": c.n_fft // 2 + 1,
        "f0_lo": lo,
        "step": step,
        "bins_per_hz": r,
        "n_grid": G,
        "n_orders": H,
        "width": wd,
        "coarse": ORDERS_COARSE,
        "gate": orders_gate(c.orders, F32),
    }


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
    """Band powers of frames (..., n_fft) -> (..., F), bit-exact with the firmware.

    With an order notch the frames are one stream in C order (the flattened leading axes),
    from a fresh state (``tu_orders_reset_f32``): frame j's notch depends on frame j - 1's."""
    frames = as_f32(frames)
    Y = rfft_fast_f32(frames * c.window)
    half = c.n_fft // 2
    P = np.empty(frames.shape[:-1] + (half + 1,), dtype=F32)
    P[..., 0] = Y[..., 0] * Y[..., 0]
    P[..., half] = Y[..., 1] * Y[..., 1]
    re, im = Y[..., 2::2], Y[..., 3::2]
    P[..., 1:half] = re * re + im * im
    if c.orders is not None:
        flat = P.reshape(-1, half + 1)
        P = notch_orders(flat, c.orders, log=mathf.logf).reshape(P.shape)
    return band_sums_f32(P, c.edges)
