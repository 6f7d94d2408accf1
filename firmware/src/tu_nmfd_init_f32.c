#include <stddef.h>

#include "tinyunfold/nmfd.h"

tu_status tu_nmfd_init_f32(tu_nmfd_instance_f32 *S, uint16_t n_bins, uint16_t n_frames,
                           uint16_t n_dicts, float eps, const uint16_t *ranks, float *scratch_nm,
                           float *scratch_jn) {
    if (S == NULL || ranks == NULL || scratch_nm == NULL || scratch_jn == NULL || n_bins == 0U ||
        n_frames == 0U || n_dicts == 0U || !(eps > 0.0f)) {
        return TU_ERROR_ARG;
    }
    for (uint32_t j = 0; j < n_dicts; ++j) {
        if (ranks[j] == 0U) {
            return TU_ERROR_ARG;
        }
    }
    S->n_bins = n_bins;
    S->n_frames = n_frames;
    S->n_dicts = n_dicts;
    S->eps = eps;
    S->ranks = ranks;
    S->scratch_nm = scratch_nm;
    S->scratch_jn = scratch_jn;
    return TU_OK;
}
