/* tu_detect_readout_sets_init_f32: check and fill a label-set decision instance (detect.h). */
#include "tinyunfold/detect.h"

tu_status tu_detect_readout_sets_init_f32(tu_detect_readout_sets_instance_f32 *S, uint16_t n_sets,
                                          uint16_t n_classes, const uint32_t *set_mask) {
    if (S == 0 || set_mask == 0) {
        return TU_ERROR_ARG;
    }
    if (n_sets == 0U || n_classes == 0U || n_classes > 32U) {
        return TU_ERROR_SIZE;
    }
    for (uint16_t s = 0U; s < n_sets; ++s) {
        if (n_classes < 32U && (set_mask[s] >> n_classes) != 0U) {
            return TU_ERROR_SIZE; /* a class beyond n_classes */
        }
    }
    S->n_sets = n_sets;
    S->n_classes = n_classes;
    S->set_mask = set_mask;
    return TU_OK;
}
