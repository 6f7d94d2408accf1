/* Portable reference implementation of tu_nmfd_layers_f32 (see tinyunfold/nmfd.h): plain C
 * loops, same signature and same operation order as the CMSIS-style version, hence the same bits.
 */
#include <stddef.h>

#include "tinyunfold/nmfd.h"

tu_status tu_nmfd_layers_f32(const tu_nmfd_instance_f32 *S, const float *pW, const float *pDen,
                             uint32_t n_layers, const float *pSrc, float *pH) {
    if (S == NULL || pW == NULL || pDen == NULL || pSrc == NULL || pH == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t M = S->n_bins, N = S->n_frames, J = S->n_dicts;
    float *Vt = S->scratch_nm; /* N x M */
    float *Nu = S->scratch_jn; /* J x N */
    for (uint32_t k = 0; k < n_layers; ++k) {
        for (uint32_t i = 0; i < N * M; ++i) {
            Vt[i] = 0.0f;
        }
        const float *w = pW;
        for (uint32_t j = 0; j < J; ++j) { /* V = W*H (eq. 3.3.2), atoms (j, r) in order */
            for (uint32_t r = 0; r < S->ranks[j]; ++r, w += M) {
                for (uint32_t t = r; t < N; ++t) {
                    const float h = pH[j * N + t - r];
                    float *v = &Vt[t * M];
                    for (uint32_t f = 0; f < M; ++f) {
                        v[f] = v[f] + w[f] * h;
                    }
                }
            }
        }
        for (uint32_t t = 0; t < N; ++t) { /* Qᵀ, Q = X ⊘ (W*H + ε) */
            for (uint32_t f = 0; f < M; ++f) {
                Vt[t * M + f] = pSrc[f * N + t] / (Vt[t * M + f] + S->eps);
            }
        }
        for (uint32_t i = 0; i < J * N; ++i) {
            Nu[i] = 0.0f;
        }
        w = pW;
        for (uint32_t j = 0; j < J; ++j) { /* N = Σ_r W_{j,r}ᵀ (←r Q), r ascending */
            for (uint32_t r = 0; r < S->ranks[j]; ++r, w += M) {
                for (uint32_t t = 0; t + r < N; ++t) {
                    const float *q = &Vt[(t + r) * M];
                    float acc = 0.0f;
                    for (uint32_t f = 0; f < M; ++f) {
                        acc += w[f] * q[f];
                    }
                    Nu[j * N + t] += acc;
                }
            }
        }
        for (uint32_t i = 0; i < J * N; ++i) { /* eq. (4.4.3), projection (3.2.38) */
            const float v = pH[i] * (Nu[i] / pDen[i]);
            pH[i] = (v > S->eps) ? v : S->eps;
        }
    }
    return TU_OK;
}
