#include <stddef.h>

#include "tinyunfold/padnmf.h"

tu_status tu_padnmf_init_f32(tu_padnmf_instance_f32 *S, uint16_t n_features, uint16_t rank,
                             uint16_t n_frames, uint16_t nnz, float eps, const uint16_t *w_lo,
                             const uint16_t *w_len, const uint32_t *w_off, const uint16_t *h_ptr,
                             const uint16_t *h_rows, float *scratch_nf) {
    if (S == NULL || w_lo == NULL || w_len == NULL || w_off == NULL || h_ptr == NULL ||
        h_rows == NULL || scratch_nf == NULL || n_features == 0U || rank == 0U || n_frames == 0U ||
        !(eps > 0.0f)) {
        return TU_ERROR_ARG;
    }
    for (uint32_t r = 0; r < rank; ++r) {
        if ((uint32_t)w_lo[r] + w_len[r] > n_features) {
            return TU_ERROR_ARG;
        }
    }
    if (h_ptr[0] != 0U || h_ptr[n_frames] != nnz) {
        return TU_ERROR_ARG;
    }
    for (uint32_t i = 0; i < nnz; ++i) {
        if (h_rows[i] >= rank) {
            return TU_ERROR_ARG;
        }
    }
    S->n_features = n_features;
    S->rank = rank;
    S->n_frames = n_frames;
    S->nnz = nnz;
    S->eps = eps;
    S->w_lo = w_lo;
    S->w_len = w_len;
    S->w_off = w_off;
    S->h_ptr = h_ptr;
    S->h_rows = h_rows;
    S->scratch_nf = scratch_nf;
    return TU_OK;
}
