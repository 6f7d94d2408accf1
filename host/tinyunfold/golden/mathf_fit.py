"""Where the polynomials of golden/mathf.py (and firmware/src/tu_math_*.c) come from.

``python -m tinyunfold.golden.mathf_fit`` prints, as C99 hexadecimal float32 literals:

* P (degree 8) with log(1+f) ~ f - f²/2 + f³ P(f) on [sqrt(1/2) - 1, sqrt(2) - 1];
* Q (degree 5) with exp(r) ~ 1 + r + r² Q(r) on [-ln2/2, ln2/2] (fitted slightly wider);

both by least squares at 4000 Chebyshev nodes in float64, then rounded to float32, with the
largest relative approximation error of the float64 polynomial (far below a float32 ulp).
The printed values are the constants written into both sources.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _fit(g: Callable[[np.ndarray], np.ndarray], a: float, b: float, deg: int) -> np.ndarray:
    k = np.arange(4000)
    x = (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / k.size)
    coef, *_ = np.linalg.lstsq(np.vander(x, deg + 1, increasing=True), g(x), rcond=None)
    return np.asarray(coef)


def _log_rest(f: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        exact = (np.log1p(f) - f + f * f / 2) / f**3
    return np.where(np.abs(f) < 1e-4, 1 / 3 - f / 4 + f * f / 5 - f**3 / 6, exact)


def _exp_rest(r: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        exact = (np.expm1(r) - r) / r**2
    return np.where(np.abs(r) < 1e-4, 0.5 + r / 6 + r * r / 24, exact)


def main() -> None:
    a, b = np.sqrt(0.5) - 1, np.sqrt(2) - 1
    p = _fit(_log_rest, a, b, 8)
    x = np.linspace(a, b, 100001)
    err = np.max(
        np.abs(x**3 * (np.polyval(p[::-1], x) - _log_rest(x))) / np.abs(np.log1p(x) + 1e-300)
    )
    print("LOG_P", [float(np.float32(c)).hex() for c in p], f"rel. error {err:.2g}")
    h = np.log(2) / 2
    q = _fit(_exp_rest, -h - 0.01, h + 0.01, 5)
    x = np.linspace(-h, h, 100001)
    err = np.max(np.abs(x**2 * (np.polyval(q[::-1], x) - _exp_rest(x))) / np.exp(x))
    print("EXP_Q", [float(np.float32(c)).hex() for c in q], f"rel. error {err:.2g}")


if __name__ == "__main__":
    main()
