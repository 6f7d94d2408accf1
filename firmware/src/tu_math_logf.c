/*
 * tu_logf: natural logarithm in float32 without libm (twin: host/tinyunfold/golden/mathf.py::logf).
 *
 * x = 2^e m, m in [sqrt(1/2), sqrt(2)), f = m - 1 (exact), z = f^2:
 *   log(x) = ((f + ((f^3 P(f) + e LN2_LO) - z/2)) + e LN2_HI)
 * P: degree 8, log(1+f) ~ f - f^2/2 + f^3 P(f) (tinyunfold.golden.mathf_fit). Every step is one
 * rounded float32 operation in the order written; the Python twin repeats it element-wise.
 */
#include <math.h> /* INFINITY and NAN only: no libm function is called */
#include <stdint.h>

#include "tinyunfold/mathf.h"

typedef union {
    float f;
    uint32_t u;
} tu_f32_bits;

float tu_logf(float x) {
    if (x != x || x < 0.0f) {
        return NAN;
    }
    if (x == 0.0f) {
        return -INFINITY;
    }
    if (x == INFINITY) {
        return INFINITY;
    }
    int32_t e = 0;
    if (x < 0x1p-126f) {
        x = x * 0x1p+23f; /* subnormal: into the normal range, exact */
        e = -23;
    }
    tu_f32_bits b;
    b.f = x;
    e += (int32_t)((b.u >> 23) & 0xFFU) - 127;
    b.u = (b.u & 0x007FFFFFU) | 0x3F800000U; /* m in [1, 2) */
    float m = b.f;
    if (m > 0x1.6a09e6p+0f) {
        m = m * 0.5f; /* exact */
        e += 1;
    }
    const float f = m - 1.0f; /* exact (Sterbenz) */
    const float z = f * f;
    float y = 0x1.24da98p-4f; /* Horner, highest coefficient first */
    y = y * f + -0x1.d9f4d6p-4f;
    y = y * f + 0x1.dda7dp-4f;
    y = y * f + -0x1.fc5b4cp-4f;
    y = y * f + 0x1.23d6b4p-3f;
    y = y * f + -0x1.555ed8p-3f;
    y = y * f + 0x1.999d5p-3f;
    y = y * f + -0x1.fffff2p-3f;
    y = y * f + 0x1.555554p-2f;
    y = (y * f) * z; /* f^3 P(f) */
    const float ef = (float)e;
    y = y + ef * -0x1.bd0106p-13f; /* e LN2_LO */
    y = y - 0.5f * z;
    float r = f + y;
    r = r + ef * 0x1.63p-1f; /* e LN2_HI, exact product */
    return r;
}
