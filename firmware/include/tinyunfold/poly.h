/**
 * @file poly.h
 * @brief Polynomial vector fields f(x) = Σ_t c_t e_{out_t} Π_j x_j^{e_tj} and one classical RK4
 *        step of x' = f(x): the nonlinear DKF predictor (thesis 6.4.26-6.4.30, SINDy 6.4.15).
 * The term table is generated from the model file (host/tinyunfold/models/dkf_poly.py) and is
 * the same table the float32 golden model evaluates (golden/dkf.py), in the same order.
 */
#ifndef TINYUNFOLD_POLY_H
#define TINYUNFOLD_POLY_H

#include <stdint.h>

#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief A polynomial vector field with T terms over n states (constants in flash). */
typedef struct {
    uint16_t n_states;   /**< n */
    uint16_t n_terms;    /**< T */
    const uint8_t *out;  /**< T output index of each term */
    const uint8_t *exps; /**< T x n monomial exponents */
    const float *coef;   /**< T coefficients */
} tu_poly_instance_f32;

/**
 * @brief Initialise a polynomial field.
 * @param[out] S        instance
 * @param[in]  n_states n
 * @param[in]  n_terms  T
 * @param[in]  out      T output indices (< n)
 * @param[in]  exps     T x n exponents
 * @param[in]  coef     T coefficients
 * @return TU_OK or TU_ERROR_ARG
 */
tu_status tu_poly_init_f32(tu_poly_instance_f32 *S, uint16_t n_states, uint16_t n_terms,
                           const uint8_t *out, const uint8_t *exps, const float *coef);

/**
 * @brief f(x): dx = 0, then for t = 0..T-1: v = 1, v *= x_j (e_tj times, j = 0..n-1),
 *        dx[out_t] += c_t v. Float32, no contraction.
 * @param[in]  S  field
 * @param[in]  x  n floats
 * @param[out] dx n floats (must not alias x)
 */
void tu_poly_eval_f32(const tu_poly_instance_f32 *S, const float *x, float *dx);

/**
 * @brief One classical RK4 step of x' = f(x) with step h (eq. of the predictor, 6.4.2):
 *        k1 = f(x), k2 = f(x + h/2 k1), k3 = f(x + h/2 k2), k4 = f(x + h k3),
 *        x' = x + (h/6) (((k1 + 2 k2) + 2 k3) + k4).
 * @param[in]  F    field
 * @param[in]  h    step
 * @param[in]  x    n floats
 * @param[out] xn   n floats (may alias x)
 * @param[in]  work 3 n floats
 */
void tu_rk4_step_f32(const tu_poly_instance_f32 *F, float h, const float *x, float *xn,
                     float *work);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_POLY_H */
