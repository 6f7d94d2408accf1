#include "tinyunfold/padnmf.h"

void tu_padnmf_expand_f32(const tu_padnmf_instance_f32 *S, const float *pH, float *pDst) {
    const uint32_t N = S->n_frames;
    for (uint32_t i = 0; i < (uint32_t)S->rank * N; ++i) {
        pDst[i] = 0.0f;
    }
    for (uint32_t j = 0; j < N; ++j) {
        for (uint32_t i = S->h_ptr[j]; i < S->h_ptr[j + 1U]; ++i) {
            pDst[(uint32_t)S->h_rows[i] * N + j] = pH[i];
        }
    }
}
