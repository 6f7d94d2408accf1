#include <stddef.h>

#include "tinyunfold/nmf.h"

tu_status tu_nmf_init_f32(tu_nmf_instance_f32 *S, uint16_t n_features, uint16_t rank,
                          uint16_t n_frames, float eps, const float *mask, float *scratch_fn,
                          float *scratch_nf, float *scratch_rn) {
    if (S == NULL || scratch_fn == NULL || scratch_nf == NULL || scratch_rn == NULL ||
        n_features == 0U || rank == 0U || n_frames == 0U || !(eps > 0.0f)) {
        return TU_ERROR_ARG;
    }
    S->n_features = n_features;
    S->rank = rank;
    S->n_frames = n_frames;
    S->eps = eps;
    S->mask = mask;
    S->scratch_fn = scratch_fn;
    S->scratch_nf = scratch_nf;
    S->scratch_rn = scratch_rn;
    return TU_OK;
}
