/* CMSIS-style implementation of tu_padnmf_layers_f32 (see tinyunfold/padnmf.h): the kept
 * products are short contiguous loops (tu_vec_f32.h: 8-float VLDM/VSTM blocks on the FPU),
 * in the portable twin's order (firmware/src/ref), hence the same bits. */
#include <stddef.h>

#include "arm_math.h"
#include "tinyunfold/padnmf.h"
#include "tu_vec_f32.h"

tu_status tu_padnmf_layers_f32(const tu_padnmf_instance_f32 *S, const float *pW, const float *denom,
                               uint32_t n_layers, const float *pSrc, float *pH) {
    if (S == NULL || pW == NULL || denom == NULL || pSrc == NULL || pH == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t F = S->n_features, N = S->n_frames;
    const float eps = S->eps;
    const uint16_t *ptr = S->h_ptr, *rows = S->h_rows, *lo = S->w_lo, *len = S->w_len;
    const uint32_t *off = S->w_off;
    float *Vt = S->scratch_nf; /* N x F */
    for (uint32_t k = 0; k < n_layers; ++k) {
        for (uint32_t j = 0; j < N; ++j) {
            float *v = &Vt[j * F];
            arm_fill_f32(0.0f, v, F);
            for (uint32_t i = ptr[j]; i < ptr[j + 1U]; ++i) { /* V = W H, r ascending */
                const uint32_t r = rows[i];
                tu_axpy_f32(&pW[off[r]], pH[i], &v[lo[r]], len[r]);
            }
            const float *x = &pSrc[j];
            for (uint32_t f = 0; f < F; ++f) {
                v[f] = *x / (v[f] + eps); /* Qᵀ, Q = X ⊘ (WH + ε) */
                x += N;
            }
        }
        for (uint32_t j = 0; j < N; ++j) {
            const float *q = &Vt[j * F];
            for (uint32_t i = ptr[j]; i < ptr[j + 1U]; ++i) {
                const uint32_t r = rows[i];
                const float u = tu_dot_f32(&pW[off[r]], &q[lo[r]], len[r]); /* Wᵀ Q */
                const float v = (pH[i] * u) / denom[r];                     /* eq. (4.2.2) */
                pH[i] = (v > eps) ? v : eps; /* ε-projection, eq. (3.2.38) */
            }
        }
    }
    return TU_OK;
}
