/* CMSIS-DSP implementation of tu_dkf_step_f32 (see tinyunfold/dkf.h). */
#include <stddef.h>

#include "arm_math.h"
#include "tinyunfold/dkf.h"

tu_status tu_dkf_step_f32(tu_dkf_instance_f32 *S, const float *pSrc, float *pDst) {
    if (S == NULL || pSrc == NULL || pDst == NULL) {
        return TU_ERROR_ARG;
    }
    const uint16_t n = S->n_states, m = S->n_outputs;
    const float *K = (S->step < S->n_layers) ? &S->gains[S->step * (uint32_t)n * m]
                                             : S->gain_beyond; /* K_G^(k), then the beyond gain */
    arm_matrix_instance_f32 mA, mC, mK, mx, mxp, me, mke;
    arm_mat_init_f32(&mA, n, n, (float32_t *)S->A);
    arm_mat_init_f32(&mC, m, n, (float32_t *)S->C);
    arm_mat_init_f32(&mK, n, m, (float32_t *)K);
    arm_mat_init_f32(&mx, n, 1, S->x);
    arm_mat_init_f32(&mxp, n, 1, S->xp);
    arm_mat_init_f32(&me, m, 1, S->e);
    arm_mat_init_f32(&mke, n, 1, S->ke);
    if (S->poly != NULL) {
        const tu_status st = tu_dkf_predict_poly_f32(S->poly, S->x, S->xp); /* x_p = f(x) */
        if (st != TU_OK) {
            return st;
        }
    } else {
        if (arm_mat_mult_f32(&mA, &mx, &mxp) != ARM_MATH_SUCCESS) {
            return TU_ERROR_SIZE;
        }
        arm_add_f32(S->xp, S->Bu, S->xp, n); /* x_p = A x + B u, eq. (6.4.2) */
    }
    if (arm_mat_mult_f32(&mC, &mxp, &me) != ARM_MATH_SUCCESS) {
        return TU_ERROR_SIZE;
    }
    arm_sub_f32(pSrc, S->e, S->e, m); /* e = y − C x_p */
    if (arm_mat_mult_f32(&mK, &me, &mke) != ARM_MATH_SUCCESS) {
        return TU_ERROR_SIZE;
    }
    arm_add_f32(S->xp, S->ke, S->x, n); /* x = x_p + K e, eq. (6.4.3) */
    if (S->step < S->n_layers) {
        S->step++;
    }
    arm_copy_f32(S->x, pDst, n);
    return TU_OK;
}
