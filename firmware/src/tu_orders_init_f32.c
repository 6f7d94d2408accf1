/* tu_orders_init_f32: set up an order notch (orders.h). */
#include <stddef.h>

#include "tinyunfold/orders.h"

static int positive_finite(float v) {
    return v > 0.0f && v <= 3.0e38f;
}

tu_status tu_orders_init_f32(tu_orders_instance_f32 *S, uint16_t n_bins, float f0_lo, float step,
                             uint16_t n_grid, uint16_t n_orders, uint16_t width, uint16_t coarse,
                             float gate, float bins_per_hz) {
    if (S == NULL || n_bins < 3U || n_grid < 3U || n_orders == 0U || coarse == 0U) {
        return TU_ERROR_ARG;
    }
    if (!positive_finite(f0_lo) || !positive_finite(step) || !positive_finite(bins_per_hz) ||
        !(gate >= 0.0f && gate <= 3.0e38f)) {
        return TU_ERROR_NUMERIC;
    }
    S->n_bins = n_bins;
    S->n_grid = n_grid;
    S->n_orders = n_orders;
    S->width = width;
    S->coarse = coarse;
    S->gate = gate;
    const float f_last = f0_lo + (float)(n_grid - 1U) * step; /* the highest candidate */
    const float top = ((float)n_orders * f_last) * bins_per_hz;
    const uint32_t read = (top < (float)n_bins) ? (uint32_t)top + 2U : n_bins; /* bins read */
    S->n_log = (uint16_t)(read < n_bins ? read : n_bins);
    S->f0_lo = f0_lo;
    S->step = step;
    S->bins_per_hz = bins_per_hz;
    S->f0_prev = 0.0f;
    S->has_prev = 0U;
    return TU_OK;
}
