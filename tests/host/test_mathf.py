"""Accuracy of the shared logf / expf / powf (golden/mathf.py) against numpy's float64 functions,
special values, float32 all the way, and one definition: the C source holds the same constants."""

import re

import numpy as np
import pytest

from tinyunfold.golden import mathf
from tinyunfold.platform.paths import REPO_ROOT


def _ulp_error(y32: np.ndarray, ref64: np.ndarray) -> np.ndarray:
    """|y - ref| in units of the float32 spacing at ref (float64 reference)."""
    return np.abs(y32.astype(np.float64) - ref64) / np.spacing(np.abs(ref64).astype(np.float32))


def _positive_floats(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bits = rng.integers(1, 0x7F800000, n, dtype=np.uint32)  # every positive finite float32
    return bits.view(np.float32)


def test_logf_within_one_ulp():
    x = _positive_floats(1_000_000, 0)
    err = _ulp_error(mathf.logf(x), np.log(x.astype(np.float64)))
    assert err.max() < 1.0  # measured 0.75 (docs/numerics.md)
    sub = x[x < mathf.MIN_NORMAL]
    assert sub.size > 0
    assert _ulp_error(mathf.logf(sub), np.log(sub.astype(np.float64))).max() < 1.0


def test_expf_within_one_ulp_in_the_normal_range():
    x = np.random.default_rng(1).uniform(-87.3, 88.72, 1_000_000).astype(np.float32)
    err = _ulp_error(mathf.expf(x), np.exp(x.astype(np.float64)))
    assert err.max() < 1.0  # measured 0.94


def test_expf_subnormal_results_within_one_subnormal_step():
    x = np.random.default_rng(2).uniform(-103.9, -87.4, 100_000).astype(np.float32)
    y, ref = mathf.expf(x), np.exp(x.astype(np.float64))
    assert np.abs(y.astype(np.float64) - ref).max() <= 2.0**-149


def test_powf_accuracy_on_the_uncertainty_reduction_prior():
    """Î^(p-1) of the prior (4.3.38): x in [1e-12, 1e3], p - 1 in [-1, 0]."""
    rng = np.random.default_rng(3)
    x = np.exp(rng.uniform(np.log(1e-12), np.log(1e3), 200_000)).astype(np.float32)
    y = rng.uniform(-1.0, 0.0, x.size).astype(np.float32)
    ref = x.astype(np.float64) ** y.astype(np.float64)
    # expf amplifies the rounding of y * logf(x) (|y ln x| <= 27.6): relative error ~ |y ln x| 2^-24
    rel = np.abs(mathf.powf(x, y).astype(np.float64) - ref) / ref
    assert rel.max() < 4e-6  # measured 1.9e-6 (29 ulp at worst, docs/numerics.md)


def test_special_values():
    f = np.float32
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 1.0], f)
    lg = mathf.logf(x)
    assert lg[0] == -np.inf and lg[1] == -np.inf and lg[2] == np.inf and lg[6] == 0.0
    assert np.isnan(lg[3:6]).all()
    ex = mathf.expf(np.array([0.0, -np.inf, np.inf, np.nan, 100.0, -200.0, 1.0], f))
    assert ex[0] == 1.0 and ex[1] == 0.0 and ex[2] == np.inf and np.isnan(ex[3])
    assert ex[4] == np.inf and ex[5] == 0.0 and ex[6] == f(np.e)
    assert mathf.expf(mathf.EXP_HI) < np.inf
    assert mathf.expf(np.nextafter(mathf.EXP_HI, f(np.inf))) == np.inf
    assert mathf.expf(mathf.EXP_LO) > 0 and mathf.expf(np.nextafter(mathf.EXP_LO, f(-np.inf))) == 0
    # the canonical quiet NaN on both sides (the C returns __builtin_nanf(""))
    assert mathf.logf(np.array([-1.0], f)).view(np.uint32)[0] == 0x7FC00000


@pytest.mark.parametrize("fn", [mathf.logf, mathf.expf])
def test_float32_in_every_shape(fn):
    x = np.linspace(0.1, 5, 24, dtype=np.float32).reshape(2, 3, 4)
    y = fn(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    scalar = np.array([fn(np.float32(v)) for v in x.ravel()]).reshape(x.shape)  # element-wise
    assert np.array_equal(scalar.view(np.uint32), y.view(np.uint32))


def _c_literals(name: str) -> list[float]:
    src = (REPO_ROOT / "firmware" / "src" / name).read_text()
    return [float.fromhex(s) for s in re.findall(r"-?0x[0-9a-f.]+p[-+]?\d+", src)]


def test_c_source_holds_the_python_constants():
    """One definition: the polynomial coefficients in the C, in Horner order, are Python's."""
    lit = _c_literals("tu_math_logf.c")
    assert [np.float32(v) for v in lit[lit.index(float(mathf.LOG_P[-1])) :][:9]] == list(
        mathf.LOG_P[::-1]
    )
    for c in (mathf.LOG_SQRT2, mathf.LN2_HI, mathf.LN2_LO, mathf.MIN_NORMAL, mathf.TWO23):
        assert float(c) in lit
    lit = _c_literals("tu_math_expf.c")
    assert [np.float32(v) for v in lit[lit.index(float(mathf.EXP_Q[-1])) :][:6]] == list(
        mathf.EXP_Q[::-1]
    )
    for c in (mathf.LOG2E, mathf.EXP_HI, mathf.EXP_LO, mathf.LN2_HI, mathf.LN2_LO):
        assert float(c) in lit
