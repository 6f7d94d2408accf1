#include "tinyunfold/nmf.h"

#include <stddef.h>

tu_status tu_nmf_init_f32(tu_nmf_instance_f32 *S, uint16_t n_features, uint16_t rank,
                          uint16_t n_frames, uint32_t n_layers, const float *W, const float *denom,
                          float eps, float h0, float *scratch_fn, float *scratch_nf,
                          float *scratch_rn) {
    if (S == NULL || W == NULL || denom == NULL || scratch_fn == NULL || scratch_nf == NULL ||
        scratch_rn == NULL || n_features == 0U || rank == 0U || n_frames == 0U || n_layers == 0U ||
        !(eps > 0.0f) || !(h0 > 0.0f)) {
        return TU_ERROR_ARG;
    }
    S->n_features = n_features;
    S->rank = rank;
    S->n_frames = n_frames;
    S->n_layers = n_layers;
    S->W = W;
    S->denom = denom;
    S->eps = eps;
    S->h0 = h0;
    S->scratch_fn = scratch_fn;
    S->scratch_nf = scratch_nf;
    S->scratch_rn = scratch_rn;
    return TU_OK;
}
