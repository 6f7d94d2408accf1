/*
 * tu_expf: exponential in float32 without libm (twin: host/tinyunfold/golden/mathf.py::expf).
 *
 * n = round-half-away(x log2 e), r = (x - n LN2_HI) - n LN2_LO (Cody-Waite, n LN2_HI exact),
 * exp(r) ~ ((r^2 Q(r) + r) + 1), Q of degree 5, then the exact scaling by 2^n (one rounding when
 * the result is subnormal: first by 2^(n+64), then by 2^-64).
 */
#include <math.h> /* INFINITY and NAN only: no libm function is called */
#include <stdint.h>

#include "tinyunfold/mathf.h"

typedef union {
    float f;
    uint32_t u;
} tu_f32_bits;

/* 2^n for n in [-126, 127], from the exponent bits. */
static float tu_pow2i(int32_t n) {
    tu_f32_bits b;
    b.u = (uint32_t)(n + 127) << 23;
    return b.f;
}

float tu_expf(float x) {
    if (x != x) {
        return NAN;
    }
    if (x > 0x1.62e42ep+6f) {
        return INFINITY;
    }
    if (x < -0x1.9fe368p+6f) {
        return 0.0f;
    }
    float t = x * 0x1.715476p+0f;
    t = (t >= 0.0f) ? t + 0.5f : t - 0.5f;
    const int32_t n = (int32_t)t; /* truncation toward zero */
    const float nf = (float)n;
    float r = x - nf * 0x1.63p-1f;
    r = r - nf * -0x1.bd0106p-13f;
    const float z = r * r;
    float y = 0x1.a163aep-13f;
    y = y * r + 0x1.6d54b6p-10f;
    y = y * r + 0x1.1110bep-7f;
    y = y * r + 0x1.5554dcp-5f;
    y = y * r + 0x1.555556p-3f;
    y = y * r + 0x1p-1f;
    y = y * z; /* r^2 Q(r) */
    y = y + r;
    y = y + 1.0f;
    if (n < -126) {
        return (y * tu_pow2i(n + 64)) * 0x1p-64f;
    }
    if (n > 127) {
        return (y * 0x1p+127f) * tu_pow2i(n - 127);
    }
    return y * tu_pow2i(n);
}
