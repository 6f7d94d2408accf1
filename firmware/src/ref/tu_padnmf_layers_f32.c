/* Portable reference implementation of tu_padnmf_layers_f32 (see tinyunfold/padnmf.h): plain C
 * loops, same signature and same operation order as the CMSIS-DSP version, hence the same bits. */
#include <stddef.h>

#include "tinyunfold/padnmf.h"

tu_status tu_padnmf_layers_f32(const tu_padnmf_instance_f32 *S, const float *pW, const float *denom,
                               uint32_t n_layers, const float *pSrc, float *pH) {
    if (S == NULL || pW == NULL || denom == NULL || pSrc == NULL || pH == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t F = S->n_features, N = S->n_frames;
    float *Vt = S->scratch_nf; /* N x F */
    for (uint32_t k = 0; k < n_layers; ++k) {
        for (uint32_t j = 0; j < N; ++j) {
            float *v = &Vt[j * F];
            for (uint32_t f = 0; f < F; ++f) {
                v[f] = 0.0f;
            }
            for (uint32_t i = S->h_ptr[j]; i < S->h_ptr[j + 1U]; ++i) { /* V = W H, r ascending */
                const uint32_t r = S->h_rows[i];
                const float h = pH[i];
                const float *w = &pW[S->w_off[r]];
                float *vr = &v[S->w_lo[r]];
                for (uint32_t t = 0; t < S->w_len[r]; ++t) {
                    vr[t] += w[t] * h;
                }
            }
            for (uint32_t f = 0; f < F; ++f) {
                v[f] = pSrc[f * N + j] / (v[f] + S->eps); /* Qᵀ, Q = X ⊘ (WH + ε) */
            }
        }
        for (uint32_t j = 0; j < N; ++j) {
            const float *q = &Vt[j * F];
            for (uint32_t i = S->h_ptr[j]; i < S->h_ptr[j + 1U]; ++i) {
                const uint32_t r = S->h_rows[i];
                const float *w = &pW[S->w_off[r]];
                const float *qr = &q[S->w_lo[r]];
                float acc = 0.0f; /* U = Wᵀ Q at the kept (r, j), f ascending */
                for (uint32_t t = 0; t < S->w_len[r]; ++t) {
                    acc += w[t] * qr[t];
                }
                const float v = (pH[i] * acc) / denom[r]; /* eq. (4.2.2) */
                pH[i] = (v > S->eps) ? v : S->eps;        /* ε-projection, eq. (3.2.38) */
            }
        }
    }
    return TU_OK;
}
