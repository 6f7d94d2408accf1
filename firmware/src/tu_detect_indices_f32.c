/*
 * tu_detect_indices_f32: log detection indices, eqs. (4.3.28)-(4.3.30), and the time-shifted
 * variant (4.3.6: maximum over off-diagonals). Twin: golden/detect.py::indices_f32.
 */
#include <math.h> /* INFINITY only */

#include "tinyunfold/detect.h"
#include "tinyunfold/mathf.h"

tu_status tu_detect_indices_f32(const tu_detect_instance_f32 *S, const float *H, float *log_index,
                                uint16_t *shift) {
    if (S == 0 || H == 0 || log_index == 0 || shift == 0) {
        return TU_ERROR_ARG;
    }
    const uint32_t n = S->n_frames;
    for (uint16_t l = 0U; l < S->n_classes; ++l) {
        float best = -INFINITY;
        uint16_t best_shift = 0U;
        for (uint32_t o = 0U; o < S->n_shifts; ++o) {
            float sum = 0.0f;
            uint32_t count = 0U;
            for (uint16_t i = 0U; i < S->n_blocks; ++i) {
                if (S->block_class[i] != l) {
                    continue;
                }
                const uint32_t off = S->block_offset[i];
                const uint32_t rows = (uint32_t)S->block_offset[i + 1U] - off;
                const uint32_t len = (rows < n - o) ? rows : n - o; /* d_{l_j}, eq. (4.3.28) */
                for (uint32_t s = 0U; s < len; ++s) {
                    const float h = H[(off + s) * n + s + o];
                    sum = sum + tu_logf((h > S->floor) ? h : S->floor); /* D_l, eq. (4.3.29) */
                }
                count += len;
            }
            if (count > 0U) {
                const float gm = sum / (float)count; /* ln GM(D_l), eq. (4.3.30) */
                if (gm > best) {
                    best = gm;
                    best_shift = (uint16_t)o;
                }
            }
        }
        log_index[l] = best;
        shift[l] = best_shift;
    }
    return TU_OK;
}
