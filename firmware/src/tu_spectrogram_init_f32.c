#include <stddef.h>

#include "tinyunfold/spectrogram.h"

tu_status tu_spectrogram_init_f32(tu_spectrogram_instance_f32 *S, uint16_t n_fft,
                                  uint16_t n_features, const float *window, const uint16_t *edges,
                                  arm_rfft_fast_instance_f32 *rfft, float *scratch, float *spectrum,
                                  float *power) {
    if (S == NULL || window == NULL || edges == NULL || rfft == NULL || scratch == NULL ||
        spectrum == NULL || power == NULL || n_features == 0U) {
        return TU_ERROR_ARG;
    }
    if (rfft->fftLenRFFT != n_fft) {
        return TU_ERROR_SIZE;
    }
    for (uint16_t b = 0; b < n_features; ++b) {
        if (edges[b] >= edges[b + 1U]) {
            return TU_ERROR_ARG;
        }
    }
    if (edges[n_features] > (uint16_t)(n_fft / 2U + 1U)) {
        return TU_ERROR_SIZE;
    }
    S->n_fft = n_fft;
    S->n_features = n_features;
    S->window = window;
    S->edges = edges;
    S->rfft = rfft;
    S->scratch = scratch;
    S->spectrum = spectrum;
    S->power = power;
    S->orders = NULL;
    return TU_OK;
}
