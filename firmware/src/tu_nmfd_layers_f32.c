/* CMSIS-style implementation of tu_nmfd_layers_f32 (see tinyunfold/nmfd.h): the shifted
 * convolution and its adjoint as contiguous accumulations and dot products over the m rows of an
 * atom (tu_vec_f32.h: 8-float VLDM/VSTM blocks on the FPU), in the portable twin's order
 * (firmware/src/ref), hence the same bits. */
#include <stddef.h>

#include "arm_math.h"
#include "tinyunfold/nmfd.h"
#include "tu_vec_f32.h"

tu_status tu_nmfd_layers_f32(const tu_nmfd_instance_f32 *S, const float *pW, const float *pDen,
                             uint32_t n_layers, const float *pSrc, float *pH) {
    if (S == NULL || pW == NULL || pDen == NULL || pSrc == NULL || pH == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t M = S->n_bins, N = S->n_frames, J = S->n_dicts;
    const float eps = S->eps;
    float *Vt = S->scratch_nm; /* N x M */
    float *Nu = S->scratch_jn; /* J x N */
    for (uint32_t k = 0; k < n_layers; ++k) {
        arm_fill_f32(0.0f, Vt, N * M);
        const float *w = pW;
        for (uint32_t j = 0; j < J; ++j) { /* V = W*H (eq. 3.3.2), atoms (j, r) in order */
            const float *h = &pH[j * N];
            for (uint32_t r = 0; r < S->ranks[j]; ++r, w += M) {
                for (uint32_t t = r; t < N; ++t) {
                    tu_axpy_f32(w, h[t - r], &Vt[t * M], M);
                }
            }
        }
        for (uint32_t t = 0; t < N; ++t) { /* Qᵀ, Q = X ⊘ (W*H + ε) */
            float *v = &Vt[t * M];
            const float *x = &pSrc[t];
            for (uint32_t f = 0; f < M; ++f) {
                v[f] = *x / (v[f] + eps);
                x += N;
            }
        }
        arm_fill_f32(0.0f, Nu, J * N);
        w = pW;
        for (uint32_t j = 0; j < J; ++j) { /* N = Σ_r W_{j,r}ᵀ (←r Q), r ascending */
            float *nu = &Nu[j * N];
            for (uint32_t r = 0; r < S->ranks[j]; ++r, w += M) {
                for (uint32_t t = 0; t + r < N; ++t) {
                    nu[t] += tu_dot_f32(w, &Vt[(t + r) * M], M);
                }
            }
        }
        for (uint32_t i = 0; i < J * N; ++i) { /* eq. (4.4.3), projection (3.2.38) */
            const float v = pH[i] * (Nu[i] / pDen[i]);
            pH[i] = (v > eps) ? v : eps;
        }
    }
    return TU_OK;
}
