/* tu_detect_readout_init_f32: check and fill a readout instance (detect.h). */
#include "tinyunfold/detect.h"

tu_status tu_detect_readout_init_f32(tu_detect_readout_instance_f32 *S, uint16_t rank,
                                     uint16_t n_frames, uint16_t n_classes, float floor,
                                     const float *W, const float *b, float *pState) {
    if (S == 0 || W == 0 || b == 0 || pState == 0) {
        return TU_ERROR_ARG;
    }
    if (rank == 0U || n_frames == 0U || n_classes == 0U) {
        return TU_ERROR_SIZE;
    }
    if (!(floor > 0.0f)) {
        return TU_ERROR_NUMERIC;
    }
    S->rank = rank;
    S->n_frames = n_frames;
    S->n_classes = n_classes;
    S->floor = floor;
    S->W = W;
    S->b = b;
    S->pState = pState;
    S->bg_mu = 0;
    S->bg_inv_sd = 0;
    S->excess = 0.0f;
    return TU_OK;
}
