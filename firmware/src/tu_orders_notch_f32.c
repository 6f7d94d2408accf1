/* tu_orders_notch_f32: track and notch one frame's orders (orders.h; features.notch_orders). */
#include <stddef.h>

#include "tinyunfold/mathf.h"
#include "tinyunfold/orders.h"

/* floor and ceil of |x| < 2^31 without libm (the same integers as floorf / ceilf) */
static int32_t floor_i(float x) {
    const int32_t i = (int32_t)x; /* toward zero */
    return ((float)i > x) ? i - 1 : i;
}

static int32_t ceil_i(float x) {
    const int32_t i = (int32_t)x;
    return ((float)i < x) ? i + 1 : i;
}

/* S_g: the harmonic sum of the log powers L at candidate g (h ascending from 0.0f); with `high`,
 * also the orders in range (*valid) and those whose term reaches thr (*high). */
static float harmonic_sum(const tu_orders_instance_f32 *S, const float *L, uint32_t g, float thr,
                          uint32_t *high, uint32_t *valid) {
    const float f = S->f0_lo + (float)g * S->step;
    float acc = 0.0f;
    for (uint32_t h = 1U; h <= S->n_orders; ++h) {
        const float pos = ((float)h * f) * S->bins_per_hz;
        const int32_t i = (int32_t)pos;
        if ((uint32_t)i + 1U >= S->n_bins) {
            break;
        }
        const float w = pos - (float)i;
        const float term = (1.0f - w) * L[i] + w * L[i + 1];
        acc += term;
        if (high != NULL) {
            *valid += 1U;
            *high += (term >= thr) ? 1U : 0U;
        }
    }
    return acc;
}

tu_status tu_orders_notch_f32(tu_orders_instance_f32 *S, float *pPower, float *pScratch) {
    if (S == NULL || pPower == NULL || pScratch == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t G = S->n_grid, C = S->coarse;
    for (uint32_t k = 0U; k < S->n_log; ++k) {
        pScratch[k] = tu_logf(pPower[k] + 1e-30f); /* L_k, the bins the sums read */
    }
    uint32_t best = 0U; /* the first argmax over every C-th candidate ... */
    float top = harmonic_sum(S, pScratch, 0U, 0.0f, NULL, NULL);
    float sum = top;
    uint32_t n_coarse = 1U;
    for (uint32_t g = C; g < G; g += C) {
        const float s = harmonic_sum(S, pScratch, g, 0.0f, NULL, NULL);
        sum += s;
        ++n_coarse;
        if (s > top) {
            top = s;
            best = g;
        }
    }
    const uint32_t g0 = best >= C ? best - C : 0U;
    const uint32_t g1 = best + C < G - 1U ? best + C : G - 1U;
    best = g0; /* ... then over the candidates within C of it */
    top = harmonic_sum(S, pScratch, g0, 0.0f, NULL, NULL);
    for (uint32_t g = g0 + 1U; g <= g1; ++g) {
        const float s = harmonic_sum(S, pScratch, g, 0.0f, NULL, NULL);
        if (s > top) {
            top = s;
            best = g;
        }
    }
    /* the gate: at least half of the orders of S_best stand out */
    const float thr = (sum / (float)n_coarse) / (float)S->n_orders + S->gate;
    uint32_t high = 0U, valid = 0U;
    const float s_best = harmonic_sum(S, pScratch, best, thr, &high, &valid);
    if (2U * high < valid) { /* no orders in this frame */
        S->has_prev = 0U;
        return TU_OK;
    }
    const uint32_t kept = best < 1U ? 1U : (best > G - 2U ? G - 2U : best);
    const float b = (kept == best) ? s_best : harmonic_sum(S, pScratch, kept, 0.0f, NULL, NULL);
    best = kept;
    const float a = harmonic_sum(S, pScratch, best - 1U, 0.0f, NULL, NULL);
    const float c = harmonic_sum(S, pScratch, best + 1U, 0.0f, NULL, NULL);
    const float den = (a - 2.0f * b) + c;
    float off = 0.0f;
    if (den < 0.0f) { /* the parabola's vertex, within one step */
        off = (0.5f * (a - c)) / den;
        off = off < -1.0f ? -1.0f : (off > 1.0f ? 1.0f : off);
    }
    const float f0 = (S->f0_lo + (float)best * S->step) + S->step * off;
    const float dif = f0 > S->f0_prev ? f0 - S->f0_prev : S->f0_prev - f0; /* |f0 - f0_prev| */
    const float d = S->has_prev ? dif * 0.5f : 0.0f;                       /* half the sweep */
    S->f0_prev = f0;
    S->has_prev = 1U;
    for (uint32_t h = 1U; h <= S->n_orders; ++h) {
        const int32_t a0 = floor_i(((float)h * (f0 - d)) * S->bins_per_hz) - (int32_t)S->width;
        const int32_t a1 = ceil_i(((float)h * (f0 + d)) * S->bins_per_hz) + (int32_t)S->width;
        if (a0 < 1 || a1 > (int32_t)S->n_bins - 2) {
            continue;
        }
        const float l = pPower[a0 - 1], r = pPower[a1 + 1];
        const float v = l < r ? l : r;
        for (int32_t k = a0; k <= a1; ++k) {
            pPower[k] = v; /* the lower of the power just outside */
        }
    }
    return TU_OK;
}
