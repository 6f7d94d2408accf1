"""CMSIS-DSP functions from Python, through the host build of the pinned sources (ctypes).

For functions whose internal operation order numpy cannot mirror cheaply (``arm_rfft_fast_f32``),
the golden reference calls the very same C compiled for x86-64 with the numerics flags of the
firmware (docs/numerics.md).
"""

from __future__ import annotations

import ctypes
import functools
import subprocess

import numpy as np

from tinyunfold.errors import ShapeError, ToolchainError
from tinyunfold.platform.boards import load_board

_FLOAT_P = ctypes.POINTER(ctypes.c_float)


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    from tinyunfold.platform.cmake import configure

    bdir = configure(load_board("host"))
    proc = subprocess.run(
        ["cmake", "--build", str(bdir), "--target", "tu_cmsis_host"], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ToolchainError(
            f"host build of CMSIS-DSP failed:\n{(proc.stdout + proc.stderr)[-3000:]}"
        )
    lib = ctypes.CDLL(str(bdir / "libtu_cmsis_host.so"))
    lib.tu_host_rfft_f32.restype = ctypes.c_int
    lib.tu_host_rfft_f32.argtypes = [ctypes.c_uint16, _FLOAT_P, _FLOAT_P]
    return lib


def rfft_fast_f32(x: np.ndarray) -> np.ndarray:
    """``arm_rfft_fast_f32`` of each row of ``x`` (..., n) float32 -> packed (..., n) float32.

    Packed layout: ``[Re0, Re(n/2), Re1, Im1, ..., Re(n/2-1), Im(n/2-1)]``.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[-1]
    if n < 32 or n > 4096 or n & (n - 1):
        raise ShapeError(f"arm_rfft_fast_f32 needs a power-of-two length in [32, 4096], got {n}")
    rows = x.reshape(-1, n)
    out = np.empty_like(rows)
    lib = _library()
    for i in range(rows.shape[0]):
        buf = rows[i].copy()  # the rfft destroys its input
        status = lib.tu_host_rfft_f32(
            n, buf.ctypes.data_as(_FLOAT_P), out[i].ctypes.data_as(_FLOAT_P)
        )
        if status != 0:
            raise ToolchainError(f"arm_rfft_fast_init_f32({n}) returned {status}")
    return out.reshape(x.shape)
