/* CMSIS-DSP implementation of tu_padnmf_layers_f32 (see tinyunfold/padnmf.h).
 * Wᵀ Q at the kept entries: arm_dot_prod_f32 (sequential sum from 0.0f, unrolled by 4).
 * W H: per kept (r, j) one scaled accumulation V[lo:lo+len, j] += W_r h, unrolled by 4 in the
 * CMSIS manner; each element still receives one rounded product and one rounded sum. */
#include <stddef.h>

#include "arm_math.h"
#include "tinyunfold/padnmf.h"

static void tu_axpy_f32(const float *pW, float h, float *pV, uint32_t n) {
    uint32_t blk = n >> 2U;
    while (blk > 0U) {
        const float w0 = pW[0], w1 = pW[1], w2 = pW[2], w3 = pW[3];
        const float v0 = pV[0], v1 = pV[1], v2 = pV[2], v3 = pV[3];
        pV[0] = v0 + w0 * h;
        pV[1] = v1 + w1 * h;
        pV[2] = v2 + w2 * h;
        pV[3] = v3 + w3 * h;
        pW += 4;
        pV += 4;
        --blk;
    }
    blk = n & 3U;
    while (blk > 0U) {
        *pV = *pV + *pW++ * h;
        ++pV;
        --blk;
    }
}

tu_status tu_padnmf_layers_f32(const tu_padnmf_instance_f32 *S, const float *pW, const float *denom,
                               uint32_t n_layers, const float *pSrc, float *pH) {
    if (S == NULL || pW == NULL || denom == NULL || pSrc == NULL || pH == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t F = S->n_features, N = S->n_frames;
    const float eps = S->eps;
    float *Vt = S->scratch_nf; /* N x F */
    for (uint32_t k = 0; k < n_layers; ++k) {
        for (uint32_t j = 0; j < N; ++j) {
            float *v = &Vt[j * F];
            arm_fill_f32(0.0f, v, F);
            for (uint32_t i = S->h_ptr[j]; i < S->h_ptr[j + 1U]; ++i) { /* V = W H, r ascending */
                const uint32_t r = S->h_rows[i];
                tu_axpy_f32(&pW[S->w_off[r]], pH[i], &v[S->w_lo[r]], S->w_len[r]);
            }
            const float *x = &pSrc[j];
            for (uint32_t f = 0; f < F; ++f) {
                v[f] = *x / (v[f] + eps); /* Qᵀ, Q = X ⊘ (WH + ε) */
                x += N;
            }
        }
        for (uint32_t j = 0; j < N; ++j) {
            const float *q = &Vt[j * F];
            for (uint32_t i = S->h_ptr[j]; i < S->h_ptr[j + 1U]; ++i) {
                const uint32_t r = S->h_rows[i];
                float32_t u;
                arm_dot_prod_f32(&pW[S->w_off[r]], &q[S->w_lo[r]], S->w_len[r], &u); /* Wᵀ Q */
                const float v = (pH[i] * u) / denom[r]; /* eq. (4.2.2) */
                pH[i] = (v > eps) ? v : eps;            /* ε-projection, eq. (3.2.38) */
            }
        }
    }
    return TU_OK;
}
