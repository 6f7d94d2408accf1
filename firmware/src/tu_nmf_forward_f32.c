/* CMSIS-DSP implementation of tu_nmf_forward_f32 (see tinyunfold/nmf.h). */
#include "tinyunfold/nmf.h"

#include <stddef.h>

#include "arm_math.h"

tu_status tu_nmf_forward_f32(const tu_nmf_instance_f32 *S, const float *pSrc, float *pDst) {
    if (S == NULL || pSrc == NULL || pDst == NULL) {
        return TU_ERROR_ARG;
    }
    const uint16_t F = S->n_features, R = S->rank, N = S->n_frames;
    const uint32_t fn = (uint32_t)F * N, rn = (uint32_t)R * N;
    arm_matrix_instance_f32 mW, mWt, mH, mV, mU;
    arm_mat_init_f32(&mW, F, R, (float32_t *)S->W);
    arm_mat_init_f32(&mWt, R, F, (float32_t *)S->Wt);
    arm_mat_init_f32(&mH, R, N, pDst);
    arm_mat_init_f32(&mV, F, N, S->scratch_fn);
    arm_mat_init_f32(&mU, R, N, S->scratch_rn);
    arm_fill_f32(S->h0, pDst, rn); /* H⁽⁰⁾ */

    for (uint32_t k = 0; k < S->n_layers; ++k) {
        if (arm_mat_mult_f32(&mW, &mH, &mV) != ARM_MATH_SUCCESS) { /* V = W H */
            return TU_ERROR_SIZE;
        }
        arm_offset_f32(S->scratch_fn, S->eps, S->scratch_fn, fn); /* V + ε */
        for (uint32_t i = 0; i < fn; ++i) {
            S->scratch_fn[i] = pSrc[i] / S->scratch_fn[i]; /* Q = X ⊘ (WH + ε) */
        }
        if (arm_mat_mult_f32(&mWt, &mV, &mU) != ARM_MATH_SUCCESS) { /* U = Wᵀ Q */
            return TU_ERROR_SIZE;
        }
        arm_mult_f32(pDst, S->scratch_rn, S->scratch_rn, rn); /* H ∘ U */
        for (uint32_t r = 0; r < R; ++r) {
            const float d = S->denom[r];
            float *u = &S->scratch_rn[(uint32_t)r * N];
            float *h = &pDst[(uint32_t)r * N];
            for (uint32_t n = 0; n < N; ++n) {
                const float v = u[n] / d;              /* eq. (4.2.2) */
                h[n] = (v > S->eps) ? v : S->eps;      /* ε-projection, eq. (3.2.38) */
            }
        }
    }
    return TU_OK;
}
