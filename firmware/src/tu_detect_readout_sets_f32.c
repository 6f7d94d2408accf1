/*
 * tu_detect_readout_sets_f32: the decision of the readout over label sets (issue 11; not in the
 * thesis): the most probable label set, argmax_s softmax(z)_s = argmax_s z_s, and its classes.
 * Twin: golden/detect.py::readout_sets_f32.
 *
 * Order (docs/numerics.md "Detection"): best = 0; for s = 1 .. n_sets-1 ascending, best = s when
 * score[s] > score[best] (strict: the first maximum wins, a NaN never wins). The hits are the
 * classes c of set_mask[best] in ascending c, at most max_hits of them.
 */
#include "tinyunfold/detect.h"

tu_status tu_detect_readout_sets_f32(const tu_detect_readout_sets_instance_f32 *S,
                                     const float *score, uint16_t max_hits, uint16_t *hit_class,
                                     uint16_t *n_hits, uint16_t *set_index) {
    if (S == 0 || score == 0 || hit_class == 0 || n_hits == 0 || set_index == 0) {
        return TU_ERROR_ARG;
    }
    uint16_t best = 0U;
    for (uint16_t s = 1U; s < S->n_sets; ++s) {
        if (score[s] > score[best]) {
            best = s;
        }
    }
    const uint32_t mask = S->set_mask[best];
    uint16_t n = 0U;
    for (uint16_t c = 0U; c < S->n_classes && n < max_hits; ++c) {
        if (((mask >> c) & 1U) != 0U) {
            hit_class[n] = c;
            ++n;
        }
    }
    *n_hits = n;
    *set_index = best;
    return TU_OK;
}
