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

#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief A linear DKF: constants in flash, state and work buffers in RAM. */
typedef struct {
    uint16_t n_states;        /**< n */
    uint16_t n_outputs;       /**< m */
    uint32_t n_layers;        /**< K, trained gains */
    const float *A;           /**< n x n transition */
    const float *Bu;          /**< n constant input term B u */
    const float *C;           /**< m x n observation */
    const float *gains;       /**< K x n x m learned gains */
    const float *gain_beyond; /**< n x m gain after step K */
    const float *x0;          /**< n initial state */
    float *x;                 /**< n state x̂(k) */
    float *xp;                /**< n work: prediction */
    float *e;                 /**< m work: innovation */
    float *ke;                /**< n work: K e */
    uint32_t step;            /**< steps taken so far */
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
