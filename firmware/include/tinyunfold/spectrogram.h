/**
 * @file spectrogram.h
 * @brief The feature front-end of host/tinyunfold/features.py for one frame:
 *        y = x ∘ w (scaled window), Y = rfft(y) (arm_rfft_fast_f32), P = |Y|², and band sums
 *        s_b = Σ_{k=e_b}^{e_{b+1}-1} P_k (contiguous rectangular bands, sequential order).
 *
 * The rfft has no portable twin (its internal order is CMSIS-DSP's); the reference kernel set
 * uses the same CMSIS-DSP implementation, and the Python golden reference reaches it through the
 * host build of the same sources (docs/numerics.md).
 */
#ifndef TINYUNFOLD_SPECTROGRAM_H
#define TINYUNFOLD_SPECTROGRAM_H

#include <stdint.h>

#include "arm_math.h"
#include "tinyunfold/orders.h"
#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Instance of the frame front-end. */
typedef struct {
    uint16_t n_fft;                   /**< frame length, a power of two in [32, 4096] */
    uint16_t n_features;              /**< number of bands F */
    const float *window;              /**< n_fft scaled window w / Σw */
    const uint16_t *edges;            /**< F + 1 band edges (rfft bin indices, increasing) */
    arm_rfft_fast_instance_f32 *rfft; /**< initialised by arm_rfft_fast_init_<n_fft>_f32 */
    float *scratch;                   /**< n_fft floats: windowed frame (destroyed by the rfft) */
    float *spectrum;                  /**< n_fft floats: packed rfft output */
    float *power;                     /**< n_fft / 2 + 1 floats */
    tu_orders_instance_f32 *orders;   /**< order notch before the band sums, or NULL (init) */
} tu_spectrogram_instance_f32;

/**
 * @brief Initialise the front-end; the rfft instance must already be initialised for n_fft.
 * @param[out] S        instance
 * @param[in]  n_fft    frame length
 * @param[in]  n_features F
 * @param[in]  window   n_fft floats
 * @param[in]  edges    F + 1 bin indices, e_0 < e_1 < ... <= n_fft / 2 + 1
 * @param[in]  rfft     initialised CMSIS rfft instance
 * @param[in]  scratch  n_fft floats
 * @param[in]  spectrum n_fft floats
 * @param[in]  power    n_fft / 2 + 1 floats
 * @return TU_OK, TU_ERROR_ARG or TU_ERROR_SIZE
 */
tu_status tu_spectrogram_init_f32(tu_spectrogram_instance_f32 *S, uint16_t n_fft,
                                  uint16_t n_features, const float *window, const uint16_t *edges,
                                  arm_rfft_fast_instance_f32 *rfft, float *scratch, float *spectrum,
                                  float *power);

/**
 * @brief Notch a machine's orders out of every frame's power before the band sums (orders.h);
 *        the spectrum buffer holds the log powers. NULL detaches it.
 * @return TU_ERROR_ARG on a NULL S; TU_ERROR_SIZE when orders->n_bins != n_fft / 2 + 1
 */
tu_status tu_spectrogram_orders_f32(tu_spectrogram_instance_f32 *S, tu_orders_instance_f32 *orders);

/**
 * @brief Band powers of one frame.
 * @param[in]  S    instance
 * @param[in]  pSrc n_fft samples
 * @param[out] pDst F band powers
 * @return TU_OK or TU_ERROR_ARG
 */
tu_status tu_spectrogram_frame_f32(const tu_spectrogram_instance_f32 *S, const float *pSrc,
                                   float *pDst);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_SPECTROGRAM_H */
