/**
 * @file detect.h
 * @brief Hit detection from H of a PAD-NMF / Deep-NMF network (thesis 4.3.3-4.3.4), float32.
 *
 * Twin: host/tinyunfold/golden/detect.py (same operations in the same order, same bits).
 *
 * Score representation (defined once, docs/numerics.md "Detection"):
 *  - threshold rule: score = ln I(l), the log of the geometric-mean index (4.3.30), computed as
 *    (sum of tu_logf over D_l) / |D_l|; threshold = ln tau_l as a float32 constant;
 *    a class is a candidate when score > threshold (4.3.32).
 *  - uncertainty reduction: score = latent I^_l (4.3.37); threshold = a float32 constant per class.
 *  - readout: score = z_c = b_c + sum_a W[c][a] ln max(sum_t H[a][t], floor); threshold per class.
 *  - readout over label sets: score = z_s per set, the first argmax set's classes are the hits.
 */
#ifndef TINYUNFOLD_DETECT_H
#define TINYUNFOLD_DETECT_H

#include <stdint.h>

#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Layout of H and the index variant (eqs. 4.3.28-4.3.30).
 *
 * H is rank x n_frames, row-major. Target block i has rows block_offset[i] .. block_offset[i+1]-1
 * and class block_class[i]. Shift o in 0 .. n_shifts-1 uses the entries H[off_i + s, s + o]
 * (n_shifts = 1: the diagonals only; n_shifts = n_frames: the time-shifted variant, 4.3.6).
 */
typedef struct {
    uint16_t rank;                /**< rows of H */
    uint16_t n_frames;            /**< columns of H */
    uint16_t n_blocks;            /**< target blocks */
    uint16_t n_classes;           /**< L */
    uint16_t n_shifts;            /**< off-diagonals scanned, 1 .. n_frames */
    const uint16_t *block_offset; /**< n_blocks + 1 row offsets, increasing, last <= rank */
    const uint16_t *block_class;  /**< n_blocks class indices < n_classes, every class used */
    float floor;                  /**< entries are clipped below at floor before the log */
} tu_detect_instance_f32;

/** @brief Check and fill a detection instance (the arrays are referenced, not copied). */
tu_status tu_detect_init_f32(tu_detect_instance_f32 *S, uint16_t rank, uint16_t n_frames,
                             uint16_t n_blocks, uint16_t n_classes, uint16_t n_shifts,
                             const uint16_t *block_offset, const uint16_t *block_class,
                             float floor);

/**
 * @brief Log indices ln I(l) (eq. 4.3.30, maximum over shifts) and the shift that gave them.
 *
 * For each class l, each shift o (ascending): sum = 0.0f; for each block i of class l
 * (ascending), each s (ascending): sum += tu_logf(max(H[off_i+s][s+o], floor)); the candidate
 * sum / count replaces the best so far only when strictly larger (earliest shift wins ties).
 * A class with no entry at any shift gets -inf and shift 0.
 * @param[out] log_index n_classes values; @param[out] shift n_classes shifts
 */
tu_status tu_detect_indices_f32(const tu_detect_instance_f32 *S, const float *H, float *log_index,
                                uint16_t *shift);

/**
 * @brief Decision rule (eq. 4.3.32 with top_k): the classes with score > threshold, the largest
 *        score first (ties: the lower class index first), at most top_k of them.
 * @param[out] hit_class top_k entries, the first *n_hits used
 */
tu_status tu_detect_decide_f32(uint16_t n_classes, uint16_t top_k, const float *score,
                               const float *threshold, uint16_t *hit_class, uint16_t *n_hits);

/**
 * @brief Uncertainty reduction inference (eqs. 4.3.37-4.3.38, multiplicative update 3.2.26).
 *
 * x_l = tu_expf(log_index_l) / scale; I^ = 1; n_iter times:
 *   V_l = (sum_j A[l][j] I^_j) + eps; the split of the beta-divergence gradient into (pos, neg);
 *   num_j = sum_l A[l][j] neg_l, den_j = sum_l A[l][j] pos_l;
 *   I^_j = max(eps, (I^_j num_j) / ((den_j + pen_j) + eps)), pen_j = alpha_p tu_powf(I^_j, p-1).
 * The exact operation order is written at the top of tu_ur_infer_f32.c.
 */
typedef struct {
    uint16_t n_index;     /**< L, indices in */
    uint16_t n_latent;    /**< L', latent values out (L, or L + 1 with a background component) */
    uint16_t n_penalized; /**< the first n_penalized latent entries carry the prior */
    uint16_t n_iter;      /**< fixed iteration count */
    uint16_t beta;        /**< beta-divergence: 0 (Itakura-Saito), 1 (KL), 2 (Euclidean) */
    float alpha_p;        /**< alpha * p of the prior (0: no prior) */
    float p_minus_1;      /**< p - 1 */
    float eps;            /**< floor of V, I^ and the denominators */
    float scale;          /**< indices are divided by scale */
    const float *A;       /**< L x L', row-major */
    float *pState;        /**< scratch, 3 L floats */
} tu_ur_instance_f32;

/** @brief Check and fill an uncertainty-reduction instance. */
tu_status tu_ur_init_f32(tu_ur_instance_f32 *S, uint16_t n_index, uint16_t n_latent,
                         uint16_t n_penalized, uint16_t n_iter, uint16_t beta, float alpha_p,
                         float p_minus_1, float eps, float scale, const float *A, float *pState);

/** @brief I^ from the log indices; @param[out] latent n_latent values. */
tu_status tu_ur_infer_f32(const tu_ur_instance_f32 *S, const float *log_index, float *latent);

/**
 * @brief Linear readout of the per-atom log activations (not in the thesis; detection.py Readout).
 *
 * f_a = tu_logf(max(sum_t H[a][t], floor)) for every row a of H (t ascending from 0.0f);
 * z_c = b_c + sum_a W[c][a] f_a (a ascending, no FMA). One-vs-rest: one row per class, decided
 * with tu_detect_decide_f32 against per-class thresholds on z (0: probability 0.5). Over label
 * sets: one row per set (n_classes = S outputs), decided with tu_detect_readout_sets_f32.
 * With the excess block (tu_detect_readout_excess_f32, [detection] readout_excess) the features
 * are f_0 .. f_{rank-1} then e_a = clip((f_a - bg_mu[a]) * bg_inv_sd[a], -excess, excess), and W
 * has 2 rank columns.
 */
typedef struct {
    uint16_t rank;          /**< rows of the input: H (every atom a feature) or X~ (every band) */
    uint16_t n_frames;      /**< columns of the input */
    uint16_t n_classes;     /**< output rows: L (one-vs-rest) or S (label sets) */
    float floor;            /**< atom sums are clipped below at floor before the log */
    const float *W;         /**< n_classes x rank (2 rank with the excess block), row-major */
    const float *b;         /**< n_classes biases */
    float *pState;          /**< scratch, rank floats (2 rank with the excess block) */
    const float *bg_mu;     /**< 0, or rank background means of the excess block */
    const float *bg_inv_sd; /**< rank inverse background spreads of the excess block */
    float excess;           /**< clip of the excess block (> 0 when bg_mu is set) */
} tu_detect_readout_instance_f32;

/** @brief Check and fill a readout instance (the arrays are referenced, not copied). */
tu_status tu_detect_readout_init_f32(tu_detect_readout_instance_f32 *S, uint16_t rank,
                                     uint16_t n_frames, uint16_t n_classes, float floor,
                                     const float *W, const float *b, float *pState);

/**
 * @brief Add the excess block to an initialised readout: its W must have 2 rank columns and its
 * pState 2 rank floats. @param clip > 0 and finite; bg_inv_sd > 0 (checked).
 */
tu_status tu_detect_readout_excess_f32(tu_detect_readout_instance_f32 *S, const float *bg_mu,
                                       const float *bg_inv_sd, float clip);

/** @brief Readout scores z of H (rank x n_frames); @param[out] score n_classes values. */
tu_status tu_detect_readout_f32(const tu_detect_readout_instance_f32 *S, const float *H,
                                float *score);

/**
 * @brief Decision of the readout over label sets (issue 11): the set with the largest score.
 *
 * Sets s = 0 .. n_sets-1 in the host's order (empty, singletons, pairs lexicographic, ...), each a
 * class bitmask (bit c: class c). best = 0; for s ascending, best = s when score[s] > score[best]
 * (the first maximum wins); the hits are the classes of set best, ascending.
 */
typedef struct {
    uint16_t n_sets;          /**< S */
    uint16_t n_classes;       /**< L, at most 32 */
    const uint32_t *set_mask; /**< S class bitmasks */
} tu_detect_readout_sets_instance_f32;

/** @brief Check and fill a label-set decision instance (the masks are referenced, not copied). */
tu_status tu_detect_readout_sets_init_f32(tu_detect_readout_sets_instance_f32 *S, uint16_t n_sets,
                                          uint16_t n_classes, const uint32_t *set_mask);

/**
 * @brief The label set of the largest score and its classes.
 * @param[in]  score     n_sets readout scores z (tu_detect_readout_f32 with n_sets rows)
 * @param[in]  max_hits  capacity of hit_class (top_k)
 * @param[out] hit_class the classes of the chosen set, ascending, the first *n_hits used
 * @param[out] set_index the chosen set
 */
tu_status tu_detect_readout_sets_f32(const tu_detect_readout_sets_instance_f32 *S,
                                     const float *score, uint16_t max_hits, uint16_t *hit_class,
                                     uint16_t *n_hits, uint16_t *set_index);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_DETECT_H */
