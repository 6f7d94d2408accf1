/*
 * tu_detect_decide_f32: eq. (4.3.32) with top_k (end of 4.3.5): classes whose score exceeds their
 * threshold, largest score first, ties to the lower class index. Twin:
 * golden/detect.py::decide_f32.
 */
#include "tinyunfold/detect.h"

tu_status tu_detect_decide_f32(uint16_t n_classes, uint16_t top_k, const float *score,
                               const float *threshold, uint16_t *hit_class, uint16_t *n_hits) {
    if (score == 0 || threshold == 0 || n_hits == 0 || (top_k > 0U && hit_class == 0)) {
        return TU_ERROR_ARG;
    }
    uint16_t k = 0U;
    while (k < top_k) {
        int32_t pick = -1;
        for (uint16_t l = 0U; l < n_classes; ++l) {
            if (!(score[l] > threshold[l])) {
                continue; /* not in the candidate set (also: nan) */
            }
            uint16_t taken = 0U;
            for (uint16_t j = 0U; j < k; ++j) {
                taken = (hit_class[j] == l) ? 1U : taken;
            }
            if (taken == 0U && (pick < 0 || score[l] > score[pick])) {
                pick = (int32_t)l;
            }
        }
        if (pick < 0) {
            break;
        }
        hit_class[k] = (uint16_t)pick;
        ++k;
    }
    *n_hits = k;
    return TU_OK;
}
