/**
 * @file padnmf.h
 * @brief Mask-aware PAD-NMF layers (thesis eq. 4.3.15 with 3.2.38 and the masks 4.3.8, 4.3.13):
 *        the same update as tu_nmf_layers_f32, H <- max(ε, (H ∘ Wᵀ(X ⊘ (WH + ε))) ⊘ d) ∘ M^H,
 *        but no product with a structural zero is ever formed.
 *
 * - The dictionaries are stored compactly: column r keeps only rows [w_lo[r], w_lo[r] + w_len[r])
 *   (for M^W the Hankel blocks give one range per atom), the columns one after the other.
 * - H is stored compactly too: the nnz entries of the support of M^H, column by column
 *   (h_ptr[j] .. h_ptr[j+1]-1 hold the rows h_rows[] of column j, ascending).
 * - W H is accumulated per column j as V[:, j] += W_r H[r, j] over the kept rows r, ascending;
 *   Wᵀ(X ⊘ (WH + ε)) is formed only at the kept (r, j), as a dot product over column r's range.
 *
 * Every kept sum adds its terms in the dense kernel's order (ascending r for W H, ascending f for
 * Wᵀ Q) from +0.0f; the skipped terms are products with a +0 factor, which leave a sequential sum's
 * bits unchanged (docs/numerics.md, "Skipping structural zeros"). Hence the same bits as
 * tu_nmf_layers_f32 and the golden reference, as long as every X, Q and H is finite.
 *
 * Two implementations share this header: firmware/src/ (CMSIS-DSP: arm_dot_prod_f32, unrolled
 * accumulation) and firmware/src/ref/ (plain loops). Both give the same bits.
 */
#ifndef TINYUNFOLD_PADNMF_H
#define TINYUNFOLD_PADNMF_H

#include <stdint.h>

#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Sizes, supports and the work buffer shared by every mask-aware layer of a model. */
typedef struct {
    uint16_t n_features;    /**< F = m'T, rows of X and W */
    uint16_t rank;          /**< r, columns of W, rows of H */
    uint16_t n_frames;      /**< n, columns of X and H */
    uint16_t nnz;           /**< entries of the support of H */
    float eps;              /**< ε: division guard and projection floor */
    const uint16_t *w_lo;   /**< r: first row of column r's support */
    const uint16_t *w_len;  /**< r: rows of column r's support */
    const uint32_t *w_off;  /**< r: offset of column r in a compact dictionary */
    const uint16_t *h_ptr;  /**< n + 1: column pointers of H's support */
    const uint16_t *h_rows; /**< nnz: rows of H's support, ascending per column */
    float *scratch_nf;      /**< n x F work buffer: (W H)ᵀ, then (X ⊘ (WH + ε))ᵀ in place */
} tu_padnmf_instance_f32;

/**
 * @brief Initialise a mask-aware instance (no allocation; tables and buffer are provided).
 * @return TU_OK, or TU_ERROR_ARG for a NULL pointer, a zero size, ε <= 0 or a support row range
 *         or row index out of bounds
 */
tu_status tu_padnmf_init_f32(tu_padnmf_instance_f32 *S, uint16_t n_features, uint16_t rank,
                             uint16_t n_frames, uint16_t nnz, float eps, const uint16_t *w_lo,
                             const uint16_t *w_len, const uint32_t *w_off, const uint16_t *h_ptr,
                             const uint16_t *h_rows, float *scratch_nf);

/**
 * @brief Run @p n_layers mask-aware layers with one compact dictionary, updating H in place.
 * @param[in]     S        instance
 * @param[in]     pW       compact dictionary (Σ w_len floats)
 * @param[in]     denom    r denominators Wᵀ1 + α_H
 * @param[in]     n_layers number of layers
 * @param[in]     pSrc     X, F x n row-major, nonnegative and finite
 * @param[in,out] pH       compact H (nnz floats): H⁽ᵏ⁾ in, H⁽ᵏ⁺ⁿ⁾ out
 * @return TU_OK or TU_ERROR_ARG
 */
tu_status tu_padnmf_layers_f32(const tu_padnmf_instance_f32 *S, const float *pW, const float *denom,
                               uint32_t n_layers, const float *pSrc, float *pH);

/**
 * @brief Write the compact H into a full r x n row-major matrix (+0.0f off the support).
 */
void tu_padnmf_expand_f32(const tu_padnmf_instance_f32 *S, const float *pH, float *pDst);

/**
 * @brief Warm start (streaming): H⁽⁰⁾ from the previous window's H⁽ᴷ⁾ shifted by the stride.
 *
 * pDst[i] = max(ε, pPrev[src[i]]) where src[i] >= 0 (the entry that, @p stride frames earlier,
 * lay at the same place of the support), else 1.0f (the cold start 1 ∘ M^H). The table src is
 * computed by the code generator from the stride and the supports.
 * @param[in]  src   nnz source indices into @p pPrev (r x n row-major), -1 for a cold entry
 * @param[in]  nnz   entries
 * @param[in]  eps   floor ε
 * @param[in]  pPrev previous window's H⁽ᴷ⁾, r x n row-major
 * @param[out] pDst  compact H⁽⁰⁾ (nnz floats)
 */
void tu_padnmf_warm_f32(const int32_t *src, uint16_t nnz, float eps, const float *pPrev,
                        float *pDst);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_PADNMF_H */
