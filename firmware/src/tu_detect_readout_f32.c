/*
 * tu_detect_readout_f32: linear readout of the per-atom log activations of H (a decision rule
 * beside eq. 4.3.32; not in the thesis). Twin: golden/detect.py::readout_f32.
 *
 * Order (docs/numerics.md "Detection"): for each atom a ascending, s = 0.0f, for t ascending
 * s = s + H[a][t]; f_a = tu_logf(s > floor ? s : floor). For each class c ascending, z = b[c],
 * for a ascending z = z + W[c][a] * f_a (product rounded, then the sum: -ffp-contract=off).
 * With the excess block (bg_mu set): f_{rank+a} = (f_a - bg_mu[a]) * bg_inv_sd[a] (difference
 * rounded, then the product), then excess if above it, -excess if below -excess; the sums run
 * over the 2 rank features.
 * A NaN score (0 * inf, inf - inf from an infinite atom sum) is stored as the canonical quiet
 * NaN 0x7fc00000: the hardware's NaN bits differ (Cortex-M: +, x86-64: - default NaN).
 */
#include <math.h> /* NAN only */

#include "tinyunfold/detect.h"
#include "tinyunfold/mathf.h"

tu_status tu_detect_readout_f32(const tu_detect_readout_instance_f32 *S, const float *H,
                                float *score) {
    if (S == 0 || H == 0 || score == 0) {
        return TU_ERROR_ARG;
    }
    const uint32_t n = S->n_frames;
    float *f = S->pState;
    for (uint32_t a = 0U; a < S->rank; ++a) {
        float s = 0.0f;
        for (uint32_t t = 0U; t < n; ++t) {
            s = s + H[a * n + t];
        }
        f[a] = tu_logf((s > S->floor) ? s : S->floor);
    }
    uint32_t width = S->rank;
    if (S->bg_mu != 0) {
        const float clip = S->excess;
        for (uint32_t a = 0U; a < S->rank; ++a) {
            float e = (f[a] - S->bg_mu[a]) * S->bg_inv_sd[a];
            e = (e > clip) ? clip : ((e < -clip) ? -clip : e);
            f[S->rank + a] = e;
        }
        width = 2U * (uint32_t)S->rank;
    }
    for (uint32_t c = 0U; c < S->n_classes; ++c) {
        const float *w = &S->W[c * width];
        float z = S->b[c];
        for (uint32_t a = 0U; a < width; ++a) {
            z = z + w[a] * f[a];
        }
        score[c] = (z == z) ? z : NAN;
    }
    return TU_OK;
}
