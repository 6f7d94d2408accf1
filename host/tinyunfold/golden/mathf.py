"""logf / expf / powf defined once for the firmware and the golden reference (float32, no libm).

The C twin is ``firmware/src/tu_math_logf.c``, ``tu_math_expf.c`` and ``tu_math_powf.c``
(header ``firmware/include/tinyunfold/mathf.h``). Both sides perform the same IEEE-754 float32
operations (+, -, *, / rounded to nearest even, no fused multiply-add) and the same integer bit
manipulations in the same order, so they return the same bits for every input; see
docs/numerics.md ("logf, expf, powf") for the argument and the measured accuracy.

Every function here is vectorised over arrays and keeps every intermediate in float32: scalars
are ``np.float32`` before they meet arrays, integers are ``int32``/``uint32``.

logf(x), x = 2^e m with m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), z = f²:
    log(x) = (f + (((P(f) f) z + e LN2_LO) - z/2)) + e LN2_HI (see :func:`logf` for the order);
    P is a degree-8 polynomial with log(1+f) ~ f - f²/2 + f³ P(f) on [sqrt(1/2)-1, sqrt(2)-1]
    (least squares at Chebyshev nodes, ``python -m tinyunfold.golden.mathf_fit``).
expf(x) = 2^n exp(r), n = round(x / ln2), r = (x - n C1) - n C2 (Cody-Waite, C1 exact in 9 bits),
    exp(r) ~ 1 + r + r² Q(r), Q of degree 5 on [-ln2/2, ln2/2].
powf(x, y) = expf(y logf(x)) for x >= 0.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def _h(s: str) -> np.float32:
    """A float32 constant from its C99 hexadecimal literal (the same text as in the C source)."""
    return F32(float.fromhex(s))


# ---- logf constants (mirrored literally in firmware/src/tu_math_logf.c)
LOG_P = (
    _h("0x1.555554p-2"),
    _h("-0x1.fffff2p-3"),
    _h("0x1.999d5p-3"),
    _h("-0x1.555ed8p-3"),
    _h("0x1.23d6b4p-3"),
    _h("-0x1.fc5b4cp-4"),
    _h("0x1.dda7dp-4"),
    _h("-0x1.d9f4d6p-4"),
    _h("0x1.24da98p-4"),
)  # P(f) = LOG_P[0] + LOG_P[1] f + ... + LOG_P[8] f^8
LOG_SQRT2 = _h("0x1.6a09e6p+0")  # float32(sqrt(2)) (rounded down): m > this -> m/2
LN2_HI = _h("0x1.63p-1")  # 0.693359375, 9 significant bits: e * LN2_HI is exact for |e| < 2^15
LN2_LO = _h("-0x1.bd0106p-13")  # float32(ln 2 - LN2_HI)
TWO23 = _h("0x1p+23")
MIN_NORMAL = _h("0x1p-126")

# ---- expf constants (mirrored literally in firmware/src/tu_math_expf.c)
EXP_Q = (
    _h("0x1p-1"),
    _h("0x1.555556p-3"),
    _h("0x1.5554dcp-5"),
    _h("0x1.1110bep-7"),
    _h("0x1.6d54b6p-10"),
    _h("0x1.a163aep-13"),
)  # Q(r) = EXP_Q[0] + EXP_Q[1] r + ... + EXP_Q[5] r^5
LOG2E = _h("0x1.715476p+0")  # float32(1/ln 2)
EXP_HI = _h("0x1.62e42ep+6")  # above: +inf (exp(x) > FLT_MAX)
EXP_LO = _h("-0x1.9fe368p+6")  # below: +0 (exp(x) < 2^-150)
TWO64 = _h("0x1p+64")
TWOM64 = _h("0x1p-64")
TWO127 = _h("0x1p+127")

_HALF = F32(0.5)
_ONE = F32(1.0)


def _pow2(n: np.ndarray) -> np.ndarray:
    """2^n as float32 for int32 n in [-126, 127], built from the exponent bits."""
    return ((n.astype(np.int32) + 127).astype(np.uint32) << np.uint32(23)).view(np.float32)


def logf(x: np.ndarray, p: tuple[np.float32, ...] = LOG_P) -> np.ndarray:
    """Natural logarithm, float32 in and out (any shape); the twin of C ``tu_logf``.

    Special values: log(+0) = log(-0) = -inf, log(+inf) = +inf, log(x < 0) = log(nan) = nan.
    ``p`` replaces the polynomial (only the test that shows the bit check can fail uses it).
    """
    x = np.asarray(x, dtype=np.float32)
    shape = x.shape
    x = x.ravel()
    with np.errstate(all="ignore"):
        sub = (x > F32(0)) & (x < MIN_NORMAL)
        xs = np.where(sub, x * TWO23, x)  # subnormal: scale into the normal range (exact)
        ix = xs.view(np.uint32)
        e = ((ix >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int32) - np.int32(127)
        e = e - np.where(sub, np.int32(23), np.int32(0))
        m = ((ix & np.uint32(0x007FFFFF)) | np.uint32(0x3F800000)).view(np.float32)  # [1, 2)
        big = m > LOG_SQRT2
        m = np.where(big, m * _HALF, m)  # exact
        e = e + big.astype(np.int32)
        f = m - _ONE  # exact (Sterbenz)
        z = f * f
        y = np.full_like(f, p[-1])
        for c in p[-2::-1]:  # Horner, highest coefficient first
            y = y * f + c
        y = (y * f) * z  # f^3 P(f)
        ef = e.astype(np.float32)
        y = y + ef * LN2_LO
        y = y - _HALF * z
        r = f + y
        r = r + ef * LN2_HI
        r = np.where(x == F32(0), F32(-np.inf), r)
        r = np.where(x == F32(np.inf), F32(np.inf), r)
        r = np.where((x < F32(0)) | (x != x), F32(np.nan), r)
    return r.astype(np.float32).reshape(shape)


def expf(x: np.ndarray, q: tuple[np.float32, ...] = EXP_Q) -> np.ndarray:
    """Exponential, float32 in and out (any shape); the twin of C ``tu_expf``.

    exp(nan) = nan, exp(x > EXP_HI) = +inf, exp(x < EXP_LO) = +0.
    """
    x = np.asarray(x, dtype=np.float32)
    shape = x.shape
    x = x.ravel()
    with np.errstate(all="ignore"):
        t = x * LOG2E
        t = np.where(t >= F32(0), t + _HALF, t - _HALF)
        t = np.where(np.abs(t) < F32(256), t, F32(0))  # out-of-range lanes are replaced below
        n = t.astype(np.int32)  # C's (int32_t) cast: truncation toward zero
        nf = n.astype(np.float32)
        r = x - nf * LN2_HI  # exact: n has <= 8 bits, LN2_HI 9 bits
        r = r - nf * LN2_LO
        z = r * r
        y = np.full_like(r, q[-1])
        for c in q[-2::-1]:
            y = y * r + c
        y = y * z  # r^2 Q(r)
        y = y + r
        y = y + _ONE
        lo = n < -126
        hi = n > 127
        mid = ~(lo | hi)
        out = np.empty_like(y)
        out[mid] = y[mid] * _pow2(n[mid])
        out[lo] = (y[lo] * _pow2(n[lo] + 64)) * TWOM64  # one rounding into the subnormals
        out[hi] = (y[hi] * TWO127) * _pow2(n[hi] - 127)
        out = np.where(x > EXP_HI, F32(np.inf), out)
        out = np.where(x < EXP_LO, F32(0), out)
        out = np.where(x != x, F32(np.nan), out)
    return out.astype(np.float32).reshape(shape)


def powf(x: np.ndarray, y: np.ndarray | np.float32) -> np.ndarray:
    """x^y = expf(y * logf(x)) for x >= 0 (float32; broadcasts); the twin of C ``tu_powf``."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    with np.errstate(all="ignore"):
        return expf(y * logf(x))
