"""Build + run + compare: the bit-exactness check of one model on one board."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyunfold.errors import ShapeError
from tinyunfold.kinds import get
from tinyunfold.modelfile import ModelFile
from tinyunfold.tools.build import BuildResult, build_model
from tinyunfold.tools.report import memory_usage
from tinyunfold.tools.sim import run_vectors


def golden_batch(model: ModelFile, inputs: np.ndarray) -> np.ndarray:
    """Golden outputs of consecutive blocks (blocks, *input_shape) -> (blocks, out_len).

    Stateless kinds map each block alone; filters (``task == "filter"``) run their state through
    the blocks exactly as the firmware keeps it between forward passes.
    """
    return get(model.kind).require("golden")(model, np.asarray(inputs, dtype=np.float32))


def input_shape(model: ModelFile) -> tuple[int, ...]:
    """Shape of one input block of the device forward pass."""
    return tuple(get(model.kind).require("input_shape")(model))


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equality of two float32 arrays (uint32 views; NaN payloads and -0 included)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    return a.shape == b.shape and bool(np.array_equal(a.view(np.uint32), b.view(np.uint32)))


@dataclass
class CheckResult:
    build: BuildResult
    outputs: np.ndarray  # (blocks, out_len)
    reference: np.ndarray  # (blocks, out_len)
    bit_exact: bool
    mismatches: int
    count: int  # instructions (QEMU) or ns (host) of the first forward pass
    unit: str

    def report(self) -> dict[str, Any]:
        r: dict[str, Any] = {
            "board": self.build.board.name,
            "kernels": self.build.kernels,
            "model": self.build.generated.name,
            "bit_exact": self.bit_exact,
            "mismatched_values": self.mismatches,
            "values_compared": int(self.reference.size),
            f"{self.unit}_per_forward": self.count,
        }
        if not self.build.board.is_host:
            r["memory_bytes"] = memory_usage(self.build.artifact).as_dict()
        r.update({f"generated_{k}": v for k, v in self.build.generated.info.items()})
        return r


def check_model(
    model: ModelFile,
    board: str,
    inputs: np.ndarray,
    kernels: str = "cmsis",
    timeout_s: float = 120.0,
) -> CheckResult:
    """Build ``model`` for ``board``, run it on ``inputs`` (blocks, *input_shape) and compare bits."""
    shape = input_shape(model)
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.shape == shape:
        inputs = inputs[None]
    if inputs.shape[1:] != shape:
        raise ShapeError(f"inputs have shape {inputs.shape}, the model expects (blocks, *{shape})")
    ref = golden_batch(model, inputs)
    b = build_model(model, board, kernels)
    res = run_vectors(b.board, b.artifact, inputs.reshape(len(inputs), -1), ref.shape[1], timeout_s)
    mism = int(np.count_nonzero(res.outputs.view(np.uint32) != ref.view(np.uint32)))
    return CheckResult(b, res.outputs, ref, mism == 0, mism, res.units, res.unit)
