/* Portable reference implementation of tu_nmf_forward_f32 (see tinyunfold/nmf.h): plain C loops,
 * same signature and same operation order as the CMSIS-DSP version, hence the same bits. */
#include "tinyunfold/nmf.h"

#include <stddef.h>

/* C = A B with A (m x k), B (k x n): sequential accumulation from 0, as arm_mat_mult_f32. */
static void mat_mult(const float *A, const float *B, float *C, uint32_t m, uint32_t k,
                     uint32_t n) {
    for (uint32_t i = 0; i < m; ++i) {
        for (uint32_t j = 0; j < n; ++j) {
            float acc = 0.0f;
            for (uint32_t t = 0; t < k; ++t) {
                acc += A[i * k + t] * B[t * n + j];
            }
            C[i * n + j] = acc;
        }
    }
}

tu_status tu_nmf_forward_f32(const tu_nmf_instance_f32 *S, const float *pSrc, float *pDst) {
    if (S == NULL || pSrc == NULL || pDst == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t F = S->n_features, R = S->rank, N = S->n_frames;
    float *V = S->scratch_fn, *U = S->scratch_rn;
    for (uint32_t i = 0; i < R * N; ++i) {
        pDst[i] = S->h0; /* H⁽⁰⁾ */
    }
    for (uint32_t k = 0; k < S->n_layers; ++k) {
        mat_mult(S->W, pDst, V, F, R, N); /* V = W H */
        for (uint32_t i = 0; i < F * N; ++i) {
            V[i] = pSrc[i] / (V[i] + S->eps); /* Q = X ⊘ (WH + ε) */
        }
        mat_mult(S->Wt, V, U, R, F, N); /* U = Wᵀ Q */
        for (uint32_t r = 0; r < R; ++r) {
            for (uint32_t n = 0; n < N; ++n) {
                const uint32_t i = r * N + n;
                const float v = (pDst[i] * U[i]) / S->denom[r]; /* eq. (4.2.2) */
                pDst[i] = (v > S->eps) ? v : S->eps;            /* eq. (3.2.38) */
            }
        }
    }
    return TU_OK;
}
