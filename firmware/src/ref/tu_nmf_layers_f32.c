/* Portable reference implementation of tu_nmf_layers_f32 (see tinyunfold/nmf.h): plain C loops,
 * same signature and same operation order as the CMSIS-DSP version, hence the same bits. */
#include <stddef.h>

#include "tinyunfold/nmf.h"

tu_status tu_nmf_layers_f32(const tu_nmf_instance_f32 *S, const float *W, const float *denom,
                            uint32_t n_layers, const float *pSrc, float *pH) {
    if (S == NULL || W == NULL || denom == NULL || pSrc == NULL || pH == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t F = S->n_features, R = S->rank, N = S->n_frames;
    float *V = S->scratch_fn; /* F x N */
    for (uint32_t k = 0; k < n_layers; ++k) {
        for (uint32_t f = 0; f < F; ++f) { /* V = W H + ε, sums over r from 0 */
            for (uint32_t n = 0; n < N; ++n) {
                float acc = 0.0f;
                for (uint32_t r = 0; r < R; ++r) {
                    acc += W[f * R + r] * pH[r * N + n];
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
                const uint32_t i = r * N + n;
                const float v = (pH[i] * S->scratch_rn[n * R + r]) / denom[r];
                pH[i] = (v > S->eps) ? v : S->eps; /* eq. (4.2.2), (3.2.38) */
                if (S->mask != NULL) {
                    pH[i] = pH[i] * S->mask[i]; /* ∘ M^H, eq. (4.3.14) */
                }
            }
        }
    }
    return TU_OK;
}
