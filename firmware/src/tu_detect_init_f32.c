/* tu_detect_init_f32: check the block layout of H and fill the instance (detect.h). */
#include "tinyunfold/detect.h"

tu_status tu_detect_init_f32(tu_detect_instance_f32 *S, uint16_t rank, uint16_t n_frames,
                             uint16_t n_blocks, uint16_t n_classes, uint16_t n_shifts,
                             const uint16_t *block_offset, const uint16_t *block_class,
                             float floor) {
    if (S == 0 || block_offset == 0 || block_class == 0 || rank == 0U || n_frames == 0U ||
        n_blocks == 0U || n_classes == 0U || n_shifts == 0U) {
        return TU_ERROR_ARG;
    }
    if (n_shifts > n_frames || block_offset[n_blocks] > rank) {
        return TU_ERROR_SIZE;
    }
    for (uint16_t i = 0U; i < n_blocks; ++i) {
        if (block_offset[i + 1U] <= block_offset[i] || block_class[i] >= n_classes) {
            return TU_ERROR_SIZE;
        }
    }
    for (uint16_t l = 0U; l < n_classes; ++l) {
        uint16_t used = 0U;
        for (uint16_t i = 0U; i < n_blocks; ++i) {
            used = (block_class[i] == l) ? 1U : used;
        }
        if (used == 0U) {
            return TU_ERROR_SIZE;
        }
    }
    if (!(floor > 0.0f)) {
        return TU_ERROR_NUMERIC;
    }
    S->rank = rank;
    S->n_frames = n_frames;
    S->n_blocks = n_blocks;
    S->n_classes = n_classes;
    S->n_shifts = n_shifts;
    S->block_offset = block_offset;
    S->block_class = block_class;
    S->floor = floor;
    return TU_OK;
}
