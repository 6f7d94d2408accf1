"""The host (x86-64) build of a generated model, called in-process through ctypes.

The same generated C and the same CMSIS-DSP sources, compiled with the same numerics flags, give
the same float32 bits as the boards; this is also how Python reaches CMSIS functions whose order
numpy cannot mirror cheaply (e.g. ``arm_rfft_fast_f32``).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from tinyunfold.errors import ShapeError, SimulationError
from tinyunfold.modelfile import ModelFile
from tinyunfold.tools.build import build_model

_FLOAT_P = ctypes.POINTER(ctypes.c_float)


class HostModel:
    """``forward(x)`` of a generated model, from its host shared library.

    Parameters
    ----------
    library : path of ``lib<name>-<kernels>-lib.so``.
    in_len, out_len : flattened input / output sizes (TU_MODEL_IN_LEN / TU_MODEL_OUT_LEN).
    """

    def __init__(self, library: Path, in_len: int, out_len: int) -> None:
        self.library = library
        self.in_len = in_len
        self.out_len = out_len
        self._lib = ctypes.CDLL(str(library))
        self._lib.tu_model_init.restype = ctypes.c_int
        self._lib.tu_model_forward.restype = ctypes.c_int
        self._lib.tu_model_forward.argtypes = [_FLOAT_P, _FLOAT_P]
        status = self._lib.tu_model_init()
        if status != 0:
            raise SimulationError(f"{library.name}: tu_model_init returned {status}")

    @classmethod
    def build(cls, model: ModelFile, kernels: str = "cmsis") -> HostModel:
        res = build_model(model, "host", kernels)
        assert res.library is not None
        info = res.generated.info
        return cls(res.library, int(info["in_len"]), int(info["out_len"]))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """One block (any shape with ``in_len`` elements) -> flat (out_len,) float32."""
        src = np.ascontiguousarray(x, dtype=np.float32).ravel()
        if src.size != self.in_len:
            raise ShapeError(f"input has {src.size} values, the model takes {self.in_len}")
        dst = np.empty(self.out_len, dtype=np.float32)
        status = self._lib.tu_model_forward(
            src.ctypes.data_as(_FLOAT_P), dst.ctypes.data_as(_FLOAT_P)
        )
        if status != 0:
            raise SimulationError(f"{self.library.name}: tu_model_forward returned {status}")
        return dst
