/* tu_spectrogram_orders_f32: attach an order notch to a front-end (spectrogram.h). */
#include <stddef.h>

#include "tinyunfold/spectrogram.h"

tu_status tu_spectrogram_orders_f32(tu_spectrogram_instance_f32 *S,
                                    tu_orders_instance_f32 *orders) {
    if (S == NULL) {
        return TU_ERROR_ARG;
    }
    if (orders != NULL && orders->n_bins != (uint16_t)(S->n_fft / 2U + 1U)) {
        return TU_ERROR_SIZE;
    }
    S->orders = orders;
    return TU_OK;
}
