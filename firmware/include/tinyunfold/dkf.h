/**
 * @file dkf.h
 * @brief Deep Kalman Filter streaming step (thesis 6.4, eqs. 6.4.2-6.4.3) with learned, untied
 *        gains K_G^(k) for k = 1..K and one gain used after the last trained layer:
 *        x_p = A x + B u,  e = y − C x_p,  x ← x_p + K_G^(k) e.
 * The instance carries the state x̂ and the step counter between calls.
 */
#ifndef TINYUNFOLD_DKF_H
#define TINYUNFOLD_DKF_H

#include <stdint.h>

#include "tinyunfold/poly.h"
#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TU_DKF_SCHEME_MAP 0U /**< x_p = f(x): the polynomial map of the IMEX step (6.4.25) */
#define TU_DKF_SCHEME_RK4 1U /**< x_p = n_sub RK4 steps of x' = f(x) */

/** @brief A nonlinear (polynomial) DKF predictor x_p = f(x̂(k-1)), eq. (6.4.2). */
typedef struct {
    tu_poly_instance_f32 field; /**< f: the map (MAP) or the vector field (RK4) */
    uint16_t scheme;            /**< TU_DKF_SCHEME_MAP or TU_DKF_SCHEME_RK4 */
    uint16_t n_sub;             /**< RK4 sub-steps per sample */
    float h;                    /**< RK4 sub-step Δt / n_sub */
    float *work;                /**< 3 n floats (RK4) */
} tu_dkf_poly_instance_f32;

/** @brief A DKF: constants in flash, state and work buffers in RAM. */
typedef struct {
    uint16_t n_states;                    /**< n */
    uint16_t n_outputs;                   /**< m */
    uint32_t n_layers;                    /**< K, trained gains */
    const float *A;                       /**< n x n transition */
    const float *Bu;                      /**< n constant input term B u */
    const float *C;                       /**< m x n observation */
    const float *gains;                   /**< K x n x m learned gains */
    const float *gain_beyond;             /**< n x m gain after step K */
    const float *x0;                      /**< n initial state */
    float *x;                             /**< n state x̂(k) */
    float *xp;                            /**< n work: prediction */
    float *e;                             /**< m work: innovation */
    float *ke;                            /**< n work: K e */
    uint32_t step;                        /**< steps taken so far */
    const tu_dkf_poly_instance_f32 *poly; /**< NULL (init): x_p = A x + B u; else x_p = f(x) */
} tu_dkf_instance_f32;

/**
 * @brief Initialise a DKF and reset it to x̂(0) = x0, step 0.
 * @param[out] S           instance
 * @param[in]  n_states    n
 * @param[in]  n_outputs   m
 * @param[in]  n_layers    K
 * @param[in]  A           n x n
 * @param[in]  Bu          n
 * @param[in]  C           m x n
 * @param[in]  gains       K x n x m
 * @param[in]  gain_beyond n x m
 * @param[in]  x0          n
 * @param[in]  x           n floats (state)
 * @param[in]  xp          n floats
 * @param[in]  e           m floats
 * @param[in]  ke          n floats
 * @return TU_OK or TU_ERROR_ARG
 */
tu_status tu_dkf_init_f32(tu_dkf_instance_f32 *S, uint16_t n_states, uint16_t n_outputs,
                          uint32_t n_layers, const float *A, const float *Bu, const float *C,
                          const float *gains, const float *gain_beyond, const float *x0, float *x,
                          float *xp, float *e, float *ke);

/**
 * @brief Initialise a polynomial predictor (attach it with S->poly = P after tu_dkf_init_f32).
 * @param[out] P      instance
 * @param[in]  scheme TU_DKF_SCHEME_MAP or TU_DKF_SCHEME_RK4
 * @param[in]  n_sub  RK4 sub-steps (>= 1 for RK4)
 * @param[in]  h      RK4 sub-step
 * @param[in]  work   3 n floats (RK4; may be NULL for MAP)
 * @return TU_OK or TU_ERROR_ARG
 */
tu_status tu_dkf_poly_init_f32(tu_dkf_poly_instance_f32 *P, uint16_t scheme, uint16_t n_sub,
                               float h, float *work);

/**
 * @brief The polynomial prediction x_p = f(x) (MAP) or n_sub RK4 steps of x' = f(x).
 * @param[in]  P  predictor
 * @param[in]  x  n floats
 * @param[out] xp n floats (must not alias x)
 * @return TU_OK or TU_ERROR_ARG
 */
tu_status tu_dkf_predict_poly_f32(const tu_dkf_poly_instance_f32 *P, const float *x, float *xp);

/**
 * @brief One filter step with the observation y(k); writes x̂(k).
 * @param[in,out] S    instance (state and step advance)
 * @param[in]     pSrc y(k), m floats
 * @param[out]    pDst x̂(k), n floats
 * @return TU_OK, TU_ERROR_ARG or TU_ERROR_SIZE
 */
tu_status tu_dkf_step_f32(tu_dkf_instance_f32 *S, const float *pSrc, float *pDst);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_DKF_H */
