/* Portable reference implementation of tu_nmf_forward_f32 (see tinyunfold/nmf.h): plain C loops,
 * same signature and same operation order as the CMSIS-DSP version, hence the same bits. */
#include <stddef.h>

#include "tinyunfold/nmf.h"

tu_status tu_nmf_forward_f32(const tu_nmf_instance_f32 *S, const float *pSrc, float *pDst) {
    if (S == NULL || pSrc == NULL || pDst == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t F = S->n_features, R = S->rank, N = S->n_frames;
    const float *W = S->W;
    float *V = S->scratch_fn; /* F x N */
    for (uint32_t i = 0; i < R * N; ++i) {
        pDst[i] = S->h0; /* H⁽⁰⁾ */
    }
    for (uint32_t k = 0; k < S->n_layers; ++k) {
        for (uint32_t f = 0; f < F; ++f) { /* V = W H + ε, sums over r from 0 */
            for (uint32_t n = 0; n < N; ++n) {
                float acc = 0.0f;
                for (uint32_t r = 0; r < R; ++r) {
                    acc += W[f * R + r] * pDst[r * N + n];
                }
                V[f * N + n] = pSrc[f * N + n] / (acc + S->eps); /* Q = X ⊘ (WH + ε) */
            }
        }
        for (uint32_t r = 0; r < R; ++r) { /* U = Wᵀ Q, sums over f from 0, W read in place */
            for (uint32_t n = 0; n < N; ++n) {
                float acc = 0.0f;
                for (uint32_t f = 0; f < F; ++f) {
                    acc += V[f * N + n] * W[f * R + r];
                }
                S->scratch_rn[n * R + r] = acc;
            }
        }
        for (uint32_t r = 0; r < R; ++r) {
            for (uint32_t n = 0; n < N; ++n) {
                const float v = (pDst[r * N + n] * S->scratch_rn[n * R + r]) / S->denom[r];
                pDst[r * N + n] = (v > S->eps) ? v : S->eps; /* eq. (4.2.2), (3.2.38) */
            }
        }
    }
    return TU_OK;
}
