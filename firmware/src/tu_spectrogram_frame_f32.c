/* CMSIS-DSP implementation of tu_spectrogram_frame_f32 (see tinyunfold/spectrogram.h). */
#include <stddef.h>

#include "tinyunfold/spectrogram.h"

tu_status tu_spectrogram_frame_f32(const tu_spectrogram_instance_f32 *S, const float *pSrc,
                                   float *pDst) {
    if (S == NULL || pSrc == NULL || pDst == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t n = S->n_fft, half = n / 2U;
    arm_mult_f32(pSrc, S->window, S->scratch, n); /* y = x ∘ w */
    arm_rfft_fast_f32(S->rfft, S->scratch, S->spectrum,
                      0U); /* packed: [Re0, Re(n/2), Re1, Im1, ...] */
    S->power[0] = S->spectrum[0] * S->spectrum[0];
    S->power[half] = S->spectrum[1] * S->spectrum[1];
    arm_cmplx_mag_squared_f32(&S->spectrum[2], &S->power[1], half - 1U); /* re² + im² */
    if (S->orders != NULL) { /* the spectrum is consumed: it holds the log powers */
        const tu_status st = tu_orders_notch_f32(S->orders, S->power, S->spectrum);
        if (st != TU_OK) {
            return st;
        }
    }
    for (uint32_t b = 0; b < S->n_features; ++b) {
        float acc = 0.0f;
        for (uint32_t k = S->edges[b]; k < S->edges[b + 1U]; ++k) {
            acc += S->power[k]; /* band sum, bins in increasing order */
        }
        pDst[b] = acc;
    }
    return TU_OK;
}
