/**
 * @file nmfd.h
 * @brief Deep-NMFD layers (thesis 4.4.3 with the ε-projection 3.2.38): for J convolutive
 *        dictionaries W_j (m x r_j) and activations H (J x n),
 *        H <- max(ε, H ∘ (Σ_r W_{j,r}ᵀ(←r X ⊘ (W*H + ε)) ⊘ max(D, ε))),
 *        D[j, t] = Σ_{r < r_j, t+r < n} Σ_f W_j[f, r], the shifted-ones denominator, computed
 *        once at start-up from the stored dictionary by tu_nmfd_denominator_f32 into RAM (the
 *        curly term of eq. 4.5.6; only the dictionaries are in flash).
 *
 * Order (the golden reference host/tinyunfold/golden/dnmfd.py mirrors it):
 *   V[f, t] = Σ over the atoms (j, r) in order, r <= t, of W_j[f, r] H[j, t - r], from 0;
 *   Q = X ⊘ (V + ε);  N[j, t] = Σ_{r ascending, t + r < n} (Σ_f W_j[f, r] Q[f, t + r], f
 * ascending); H[j, t] = max(ε, H[j, t] (N[j, t] / D'[j, t])) with D' = max(D, ε). The dictionaries
 * are stored compactly: atom (j, r), r < r_j, as m contiguous floats, atoms in (j, r) order.
 * Products with a column beyond r_j or a shift before the window (structural zeros) are never
 * formed (docs/numerics.md, "Skipping structural zeros").
 *
 * Two implementations share this header: firmware/src/ and firmware/src/ref/; same bits.
 */
#ifndef TINYUNFOLD_NMFD_H
#define TINYUNFOLD_NMFD_H

#include <stdint.h>

#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Sizes, ranks and work buffers shared by every Deep-NMFD layer of a model. */
typedef struct {
    uint16_t n_bins;       /**< m, rows of X and of each dictionary */
    uint16_t n_frames;     /**< n, columns of X and H */
    uint16_t n_dicts;      /**< J, rows of H */
    float eps;             /**< ε: division guard and projection floor */
    const uint16_t *ranks; /**< J ranks r_j (atoms per dictionary) */
    float *scratch_nm;     /**< n x m work buffer: (W*H)ᵀ, then (X ⊘ (W*H + ε))ᵀ in place */
    float *scratch_jn;     /**< J x n work buffer: the numerator N */
} tu_nmfd_instance_f32;

/**
 * @brief Initialise a Deep-NMFD instance (no allocation; all buffers are provided).
 * @return TU_OK or TU_ERROR_ARG (NULL pointer, zero size, a zero rank, ε <= 0)
 */
tu_status tu_nmfd_init_f32(tu_nmfd_instance_f32 *S, uint16_t n_bins, uint16_t n_frames,
                           uint16_t n_dicts, float eps, const uint16_t *ranks, float *scratch_nm,
                           float *scratch_jn);

/**
 * @brief The shifted-ones denominators max(D, ε) of one compact dictionary (start-up, into RAM).
 *
 * Order (golden/dnmfd.py ones_denominator_f32, docs/numerics.md): s_jr = Σ_f W_j[f, r], f
 * ascending from 0.0f; D[j, t] = Σ_{r ascending, t + r < n} s_jr from 0.0f; then max(D, ε).
 * @param[in]  S    instance (sizes, ranks, ε)
 * @param[in]  pW   atoms (j, r), r < r_j, m floats each, in (j, r) order
 * @param[out] pDen J x n row-major
 * @return TU_OK or TU_ERROR_ARG (NULL pointer)
 */
tu_status tu_nmfd_denominator_f32(const tu_nmfd_instance_f32 *S, const float *pW, float *pDen);

/**
 * @brief Run @p n_layers layers (4.4.3) with one compact dictionary, updating H in place.
 * @param[in]     S        instance
 * @param[in]     pW       atoms (j, r), r < r_j, m floats each, in (j, r) order
 * @param[in]     pDen     J x n: max(D, ε), the shifted-ones denominator
 * @param[in]     n_layers number of layers
 * @param[in]     pSrc     X, m x n row-major, nonnegative and finite
 * @param[in,out] pH       H, J x n row-major
 * @return TU_OK or TU_ERROR_ARG
 */
tu_status tu_nmfd_layers_f32(const tu_nmfd_instance_f32 *S, const float *pW, const float *pDen,
                             uint32_t n_layers, const float *pSrc, float *pH);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_NMFD_H */
