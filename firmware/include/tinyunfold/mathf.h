/**
 * @file mathf.h
 * @brief logf / expf / powf defined once for the firmware and the golden reference.
 *
 * Portable C, no libm: the exponent/mantissa split is done on the IEEE-754 bits and the
 * polynomials are evaluated in a fixed order with float32 + - * / only (no fused multiply-add:
 * the build uses -ffp-contract=off). host/tinyunfold/golden/mathf.py performs the same float32
 * operations in the same order, so both give the same bits for every input on every board
 * (docs/numerics.md, "logf, expf, powf": accuracy and the bit-exactness argument).
 */
#ifndef TINYUNFOLD_MATHF_H
#define TINYUNFOLD_MATHF_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Natural logarithm. log(+-0) = -inf, log(+inf) = +inf, log(x < 0) = log(nan) = nan;
 *        subnormal inputs are handled exactly (scaled by 2^23 first).
 */
float tu_logf(float x);

/** @brief Exponential. exp(nan) = nan, +inf above 0x1.62e42ep+6f, +0 below -0x1.9fe368p+6f. */
float tu_expf(float x);

/** @brief x^y = tu_expf(y * tu_logf(x)), for x >= 0. */
float tu_powf(float x, float y);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_MATHF_H */
