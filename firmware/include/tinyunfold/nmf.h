/**
 * @file nmf.h
 * @brief Fixed-dictionary sparse KL-NMF activation inference, K unrolled layers (thesis eq. 4.2.2
 *        with the ε-projection of eq. 3.2.38):
 *        H <- max(ε, (H ∘ Wᵀ(X ⊘ (WH + ε))) ⊘ d),  d = Wᵀ1 + α_H precomputed by the generator.
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

/** @brief Instance of an NMF inference: constants are const (flash), scratch is static RAM. */
typedef struct {
    uint16_t n_features; /**< F, rows of X and W */
    uint16_t rank;       /**< R, columns of W, rows of H */
    uint16_t n_frames;   /**< N, columns of X and H */
    uint32_t n_layers;   /**< K, unrolled multiplicative updates */
    const float *W;      /**< F x R dictionary, row-major (stored once: no transposed copy) */
    const float *denom;  /**< R denominators Wᵀ1 + α_H */
    float eps;           /**< ε: division guard and projection floor */
    float h0;            /**< H⁽⁰⁾ value (every entry) */
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
 * @param[in]  n_layers   K
 * @param[in]  W          F x R dictionary
 * @param[in]  denom      R denominators
 * @param[in]  eps        ε > 0
 * @param[in]  h0         H⁽⁰⁾ value > 0
 * @param[in]  scratch_fn F x N floats
 * @param[in]  scratch_nf N x F floats
 * @param[in]  scratch_rn R x N floats
 * @return TU_OK or TU_ERROR_ARG
 */
tu_status tu_nmf_init_f32(tu_nmf_instance_f32 *S, uint16_t n_features, uint16_t rank,
                          uint16_t n_frames, uint32_t n_layers, const float *W, const float *denom,
                          float eps, float h0, float *scratch_fn, float *scratch_nf,
                          float *scratch_rn);

/**
 * @brief Run the K-layer forward pass.
 * @param[in]  S    instance
 * @param[in]  pSrc X, F x N row-major, nonnegative
 * @param[out] pDst H⁽ᴷ⁾, R x N row-major
 * @return TU_OK, TU_ERROR_ARG or TU_ERROR_SIZE
 */
tu_status tu_nmf_forward_f32(const tu_nmf_instance_f32 *S, const float *pSrc, float *pDst);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_NMF_H */
