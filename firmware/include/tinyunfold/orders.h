/**
 * @file orders.h
 * @brief The order notch of the front-end: a machine's orders tracked in each frame's power and
 *        notched out of it before the band sums (host: features.notch_orders, its one definition;
 *        golden: golden/spectrogram.py, float32 with the shared tu_logf).
 *
 * Per frame of K = n_fft/2 + 1 power bins, r = n_fft / sample_rate bins per Hz:
 *  1. Track: L_k = tu_logf(P_k + 1e-30f) for k < n_log = min(K, (int)((H f_(G-1)) r) + 2);
 *     the harmonic sum of candidate f_g = f0_lo + (float)g * step,
 *     S_g = sum over h = 1..H of (1 - w) L_i + w L_(i+1), i + w = ((float)h f_g) r
 *     (h ascending from 0.0f; stops at the first i + 1 >= K); g_c = the first argmax over
 *     g = 0, C, 2C, ... (C = coarse), g* = the first argmax over g_c - C .. g_c + C (within
 *     [0, G - 1]). Gate: with m = (sum of the first pass's sums, g ascending) / their count,
 *     when fewer than half of the terms of S_g* (orders in range) reach (m / H) + gate
 *     (orders_gate_db in nepers), the frame is left alone and f0_prev forgotten. Else g* is
 *     kept in [1, G - 2]; with den = (S_- - 2 S_g*) + S_+ < 0 the offset (0.5
 * (S_- - S_+)) / den clipped to [-1, 1]: f0 = f_g* + step * offset.
 *  2. Sweep: d = |f0 - f0_prev| * 0.5 (0 on a stream's first frame).
 *  3. Notch, h = 1..H, in place: bins a0 = floor((h (f0 - d)) r) - width to
 *     a1 = ceil((h (f0 + d)) r) + width set to min(P_(a0-1), P_(a1+1)), skipped when a0 < 1 or
 *     a1 > K - 2.
 */
#ifndef TINYUNFOLD_ORDERS_H
#define TINYUNFOLD_ORDERS_H

#include <stdint.h>

#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint16_t n_bins;   /**< K = n_fft / 2 + 1 */
    uint16_t n_grid;   /**< G >= 3 candidate fundamentals */
    uint16_t n_orders; /**< H orders notched */
    uint16_t width;    /**< bins notched on each side of an order's sweep */
    uint16_t coarse;   /**< C: the first pass takes every C-th candidate */
    uint16_t n_log;    /**< bins whose log the sums read */
    float f0_lo;       /**< first candidate (Hz) */
    float step;        /**< candidate spacing (Hz) */
    float bins_per_hz; /**< r = n_fft / sample_rate */
    float gate;        /**< an order's presence gate over the average comb term, nepers */
    float f0_prev;     /**< the previous frame's fundamental (state) */
    uint32_t has_prev; /**< 0 at a stream's start */
} tu_orders_instance_f32;

/**
 * @brief Set up an order notch (state reset).
 * @return TU_ERROR_ARG on NULL or n_bins < 3, n_grid < 3, n_orders == 0, coarse == 0;
 *         TU_ERROR_NUMERIC on a non-positive or non-finite f0_lo, step or bins_per_hz, or a
 *         negative or non-finite gate
 */
tu_status tu_orders_init_f32(tu_orders_instance_f32 *S, uint16_t n_bins, float f0_lo, float step,
                             uint16_t n_grid, uint16_t n_orders, uint16_t width, uint16_t coarse,
                             float gate, float bins_per_hz);

/** @brief Forget the previous frame (a new stream starts). */
tu_status tu_orders_reset_f32(tu_orders_instance_f32 *S);

/**
 * @brief Track and notch the orders of one frame's power, in place (see the file comment).
 * @param[in,out] S        instance (its state moves to this frame)
 * @param[in,out] pPower   n_bins powers (nonnegative)
 * @param[out]    pScratch n_bins floats (the log powers)
 */
tu_status tu_orders_notch_f32(tu_orders_instance_f32 *S, float *pPower, float *pScratch);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_ORDERS_H */
