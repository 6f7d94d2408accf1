/* CMSIS-DSP implementation of tu_nmf_layers_f32 (see tinyunfold/nmf.h). */
#include <stddef.h>

#include "arm_math.h"
#include "tinyunfold/nmf.h"

tu_status tu_nmf_layers_f32(const tu_nmf_instance_f32 *S, const float *W, const float *denom,
                            uint32_t n_layers, const float *pSrc, float *pH) {
    if (S == NULL || W == NULL || denom == NULL || pSrc == NULL || pH == NULL) {
        return TU_ERROR_ARG;
    }
    const uint16_t F = S->n_features, R = S->rank, N = S->n_frames;
    float *V = S->scratch_fn;  /* F x N */
    float *Qt = S->scratch_nf; /* N x F */
    float *Ut = S->scratch_rn; /* N x R */
    arm_matrix_instance_f32 mW, mH, mV, mQt, mUt;
    arm_mat_init_f32(&mW, F, R, (float32_t *)W);
    arm_mat_init_f32(&mH, R, N, pH);
    arm_mat_init_f32(&mV, F, N, V);
    arm_mat_init_f32(&mQt, N, F, Qt);
    arm_mat_init_f32(&mUt, N, R, Ut);

    for (uint32_t k = 0; k < n_layers; ++k) {
        if (arm_mat_mult_f32(&mW, &mH, &mV) != ARM_MATH_SUCCESS) { /* V = W H */
            return TU_ERROR_SIZE;
        }
        arm_offset_f32(V, S->eps, V, (uint32_t)F * N); /* V + ε */
        for (uint32_t f = 0; f < F; ++f) {
            for (uint32_t n = 0; n < N; ++n) {
                Qt[n * F + f] = pSrc[f * N + n] / V[f * N + n]; /* Qᵀ, Q = X ⊘ (WH + ε) */
            }
        }
        if (arm_mat_mult_f32(&mQt, &mW, &mUt) != ARM_MATH_SUCCESS) { /* Uᵀ = Qᵀ W = (Wᵀ Q)ᵀ */
            return TU_ERROR_SIZE;
        }
        for (uint32_t r = 0; r < R; ++r) {
            const float d = denom[r];
            float *h = &pH[r * N];
            for (uint32_t n = 0; n < N; ++n) {
                const float v = (h[n] * Ut[n * R + r]) / d; /* eq. (4.2.2) */
                h[n] = (v > S->eps) ? v : S->eps;           /* ε-projection, eq. (3.2.38) */
            }
        }
        if (S->mask != NULL) {
            arm_mult_f32(pH, S->mask, pH, (uint32_t)R * N); /* ∘ M^H, eq. (4.3.14) */
        }
    }
    return TU_OK;
}
