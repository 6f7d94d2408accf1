/* tu_nmfd_denominator_f32 (see tinyunfold/nmfd.h): the shifted-ones denominators max(D, ε) of one
 * compact dictionary, computed once at start-up into RAM (the curly term of eq. 4.5.6), in the
 * order of the golden reference host/tinyunfold/golden/dnmfd.py (ones_denominator_f32) and
 * docs/numerics.md "Deep-NMFD denominators": each column sum s_jr = Σ_f W_j[f, r] sequential over
 * f from 0.0f; D[j, t] = Σ_{r ascending, t + r < n} s_jr from 0.0f; then max(D, ε). Plain C: no
 * CMSIS kernel, so both kernel sets share this file. */
#include <stddef.h>

#include "tinyunfold/nmfd.h"

tu_status tu_nmfd_denominator_f32(const tu_nmfd_instance_f32 *S, const float *pW, float *pDen) {
    if (S == NULL || pW == NULL || pDen == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t M = S->n_bins, N = S->n_frames, J = S->n_dicts;
    for (uint32_t i = 0; i < J * N; ++i) {
        pDen[i] = 0.0f;
    }
    const float *w = pW;
    for (uint32_t j = 0; j < J; ++j) {
        float *d = &pDen[j * N];
        for (uint32_t r = 0; r < S->ranks[j]; ++r, w += M) {
            float s = 0.0f;
            for (uint32_t f = 0; f < M; ++f) { /* column sum, f ascending */
                s = s + w[f];
            }
            for (uint32_t t = 0; t + r < N; ++t) { /* shifted ones: frames t with t + r < n */
                d[t] = d[t] + s;
            }
        }
    }
    for (uint32_t i = 0; i < J * N; ++i) {
        pDen[i] = (pDen[i] > S->eps) ? pDen[i] : S->eps; /* max(D, ε) */
    }
    return TU_OK;
}
