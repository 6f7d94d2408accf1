/**
 * @file detector.h
 * @brief The streaming detector stages a detector model generates (codegen/templates/padnmf):
 *        front-end frame -> band powers x input_scale, and H -> hits (indices, decision).
 *
 * The pipeline (host twin: host/tinyunfold/golden/stream.py, docs/architecture.md):
 * int16 PCM -> float32 (x 2^-15) -> frames every TU_MODEL_HOP samples -> tu_detector_frame ->
 * ring of TU_MODEL_WINDOW frames -> every TU_MODEL_STRIDE frames the window X~ ->
 * tu_model_forward -> tu_detector_decide -> dedupe (firmware/app/detector_main.c) -> EVENT.
 */
#ifndef TINYUNFOLD_DETECTOR_H
#define TINYUNFOLD_DETECTOR_H

#include <stdint.h>

#include "tinyunfold/status.h"
#include "tu_model_config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TU_DETECTOR_MAX_CLASSES 16U

/** @brief The hits of one window, largest score first. */
typedef struct {
    uint16_t n_hits;                               /**< at most top_k */
    uint16_t hit_class[TU_DETECTOR_MAX_CLASSES];   /**< class of each hit */
    uint16_t onset_frame[TU_DETECTOR_MAX_CLASSES]; /**< best off-diagonal (onset in the window) */
    float score[TU_DETECTOR_MAX_CLASSES];          /**< the score compared (ln I, or latent I^) */
    float threshold[TU_DETECTOR_MAX_CLASSES];      /**< the threshold it beat */
} tu_detector_hits;

/** @brief Bind the front-end and detection constants (call once, after tu_model_init). */
tu_status tu_detector_init(void);

/** @brief A new stream starts: forget the front-end's state (the order notch's last frame). */
tu_status tu_detector_reset(void);

/**
 * @brief One front-end frame: TU_MODEL_N_FFT samples -> TU_MODEL_N_BINS band powers x input_scale.
 * @param[in]  pSrc samples (float32, already scaled by 2^-15)
 * @param[out] pDst band powers
 */
tu_status tu_detector_frame(const float *pSrc, float *pDst);

/**
 * @brief Detection indices (4.3.28-4.3.30) and the model's decision rule (4.3.32, 4.3.37 or the
 *        readout, which reads H or, with readout_input = "spectrum", the window X~).
 * @param[in]  X    the window the network read, X~ (bands x frames, row-major: tu_model_forward's
 *                  pSrc)
 * @param[in]  H    activations of one window, TU_MODEL_RANK x TU_MODEL_N_FRAMES
 * @param[out] hits the hits
 */
tu_status tu_detector_decide(const float *X, const float *H, tu_detector_hits *hits);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_DETECTOR_H */
