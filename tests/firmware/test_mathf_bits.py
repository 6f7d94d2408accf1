"""logf / expf / powf: the C (tu_math_*.c) equals its numpy float32 twin (golden/mathf.py) bit for
bit on >= 1e6 inputs (every class of float32: subnormals, zeros, infinities, NaN, negatives), through
the host library (ctypes) and on both QEMU boards and the host program."""

import numpy as np
import pytest

from tinyunfold.golden import mathf
from tinyunfold.tools import kernelvectors as kv

BOARDS = ["host-lib", "mps2-an386", "mps2-an500", "host"]
N_RANDOM = 1_000_000

_SPECIAL = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 2.0, 0.5, np.e, 10.0, 88.0]


def _special() -> np.ndarray:
    f = np.float32
    bits = np.array(
        [0x00000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0x7F800001, 0xFFC00000, 0x80000001],
        dtype=np.uint32,
    )
    around = [
        mathf.LOG_SQRT2, mathf.EXP_HI, mathf.EXP_LO, f(1.0), mathf.MIN_NORMAL,
        f(-87.33654), f(-103.27893), f(88.72283), f(0.34657359), f(-0.34657359),
    ]  # fmt: skip
    near = [np.nextafter(a, f(np.inf) * s) for a in around for s in (1, -1)]
    ints = np.arange(-150, 151, dtype=np.float32)
    return np.concatenate(
        [np.array(_SPECIAL, np.float32), bits.view(np.float32), np.array(around + near), ints]
    ).astype(np.float32)


def math_inputs(n: int = N_RANDOM, seed: int = 0) -> np.ndarray:
    """Special values, half uniformly random bit patterns (all classes), half in exp's range."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2**32, n // 2, dtype=np.uint64).astype(np.uint32).view(np.float32)
    rng_ = rng.uniform(-110.0, 95.0, n - n // 2).astype(np.float32)
    return np.concatenate([_special(), bits, rng_])


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == np.float32 and np.array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.fixture(scope="module")
def inputs():
    return math_inputs()


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("op", ["logf", "expf"])
def test_math_bits(board, op, inputs):
    assert inputs.size >= 1_000_000
    code = kv.OP_LOGF if op == "logf" else kv.OP_EXPF
    golden = getattr(mathf, op)(inputs)
    device = kv.math_on(board, code, inputs)
    diff = np.flatnonzero(device.view(np.uint32) != golden.view(np.uint32))
    assert diff.size == 0, f"{diff.size} differ, first inputs {inputs[diff[:5]]}"


@pytest.mark.parametrize("board", BOARDS)
def test_powf_bits(board, inputs):
    rng = np.random.default_rng(1)
    x = np.abs(inputs[: inputs.size // 4])
    y = rng.uniform(-3, 3, x.size).astype(np.float32)
    y[:16] = [0, -0.0, 1, -1, 0.5, -0.75, np.inf, -np.inf, np.nan, 2, 3, -2, 1e-8, 30, -30, 0.25]
    assert _same_bits(kv.math_on(board, kv.OP_POWF, x, y), mathf.powf(x, y))


@pytest.mark.parametrize("op, name, index", [("logf", "LOG_P", 4), ("expf", "EXP_Q", 1)])
def test_a_perturbed_coefficient_fails_the_check(op, name, index, inputs):
    """One coefficient moved by one float32 ulp in the reference: the bit check sees it."""
    coeffs = list(getattr(mathf, name))
    coeffs[index] = np.nextafter(coeffs[index], np.float32(np.inf))
    x = inputs[:200_000]
    code = kv.OP_LOGF if op == "logf" else kv.OP_EXPF
    device = kv.math_on("host-lib", code, x)
    good = getattr(mathf, op)(x)
    bad = getattr(mathf, op)(x, tuple(coeffs))
    assert _same_bits(device, good)
    assert not _same_bits(device, bad)


def test_a_float64_reference_fails_the_check(inputs):
    """numpy's own float64 log rounded to float32 is not the device's logf."""
    x = inputs[:200_000]
    with np.errstate(all="ignore"):
        ref = np.log(x.astype(np.float64)).astype(np.float32)
    assert not _same_bits(kv.math_on("host-lib", kv.OP_LOGF, x), ref)
