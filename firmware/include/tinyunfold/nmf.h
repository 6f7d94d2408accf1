/**
 * @file nmf.h
 * @brief Layers of sparse KL-NMF activation inference with a fixed dictionary (thesis eq. 4.2.2
 *        with the ε-projection of eq. 3.2.38, optional H mask M^H of eq. 4.3.14):
 *        H <- max(ε, (H ∘ Wᵀ(X ⊘ (WH + ε))) ⊘ d) ∘ M^H,  d = Wᵀ1 + α_H precomputed by the
 * generator.
 *
 * A model is a schedule of (dictionary, layer count) pairs run from H⁽⁰⁾: one pair for the `nmf`
 * kind; K−C fixed layers then one layer per trained dictionary for PAD-NMF/Deep-NMF.
 *
 * Wᵀ(X ⊘ (WH + ε)) is computed as ((X ⊘ (WH + ε))ᵀ W)ᵀ: the quotient is written transposed, so
 * the dictionary is stored once (as in the thesis memory cost, eq. 4.5.2/4.5.4) at the price of an
 * N x F buffer; both products accumulate over their reduction index sequentially from 0, and
 * q·w = w·q exactly, so the bits equal those of Wᵀ Q (what the golden reference computes).
 *
 * Two implementations share this header and are selected at build time (TU_KERNELS):
 * firmware/src/ (CMSIS-DSP) and firmware/src/ref/ (portable C). Both give the same bits.
 */
#ifndef TINYUNFOLD_NMF_H
#define TINYUNFOLD_NMF_H

#include <stdint.h>

#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Sizes, ε, optional mask and work buffers shared by every layer of a model. */
typedef struct {
    uint16_t n_features; /**< F, rows of X and W */
    uint16_t rank;       /**< R, columns of W, rows of H */
    uint16_t n_frames;   /**< N, columns of X and H */
    float eps;           /**< ε: division guard and projection floor */
    const float *mask;   /**< R x N H mask M^H (entries 0/1), or NULL for none */
    float *scratch_fn;   /**< F x N work buffer: W H */
    float *scratch_nf;   /**< N x F work buffer: (X ⊘ (WH + ε))ᵀ */
    float *scratch_rn;   /**< R x N work buffer: (Wᵀ(X ⊘ (WH + ε)))ᵀ, stored N x R */
} tu_nmf_instance_f32;

/**
 * @brief Initialise an NMF instance (no allocation; all buffers are provided).
 * @param[out] S          instance
 * @param[in]  n_features F
 * @param[in]  rank       R
 * @param[in]  n_frames   N
 * @param[in]  eps        ε > 0
 * @param[in]  mask       R x N mask of zeros and ones, or NULL
 * @param[in]  scratch_fn F x N floats
 * @param[in]  scratch_nf N x F floats
 * @param[in]  scratch_rn R x N floats
 * @return TU_OK or TU_ERROR_ARG
 */
tu_status tu_nmf_init_f32(tu_nmf_instance_f32 *S, uint16_t n_features, uint16_t rank,
                          uint16_t n_frames, float eps, const float *mask, float *scratch_fn,
                          float *scratch_nf, float *scratch_rn);

/**
 * @brief Run @p n_layers layers with one dictionary, updating H in place.
 * @param[in]     S        instance
 * @param[in]     W        F x R dictionary, row-major
 * @param[in]     denom    R denominators Wᵀ1 + α_H
 * @param[in]     n_layers number of layers
 * @param[in]     pSrc     X, F x N row-major, nonnegative
 * @param[in,out] pH       H, R x N row-major: H⁽ᵏ⁾ in, H⁽ᵏ⁺ⁿ⁾ out
 * @return TU_OK, TU_ERROR_ARG or TU_ERROR_SIZE
 */
tu_status tu_nmf_layers_f32(const tu_nmf_instance_f32 *S, const float *W, const float *denom,
                            uint32_t n_layers, const float *pSrc, float *pH);

/**
 * @brief Hankel (context) extension H_T of thesis eq. (4.3.1): block t of column j holds frame
 *        j − (T−1) + t, zeros before the first frame (oldest block first).
 * @param[in]  pSrc   m x n spectrogram, row-major
 * @param[in]  m      rows of one frame
 * @param[in]  n      frames
 * @param[in]  T      context length
 * @param[out] pDst   (m T) x n, row-major
 */
void tu_hankel_f32(const float *pSrc, uint16_t m, uint16_t n, uint16_t T, float *pDst);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_NMF_H */
