/*
 * tu_ur_infer_f32: uncertainty reduction, I^ = argmin D_beta(x, A I^) + alpha ||I^||_p^p
 * (eqs. 4.3.37-4.3.38) by the heuristic multiplicative update (3.2.26), a fixed number of times.
 * Twin: golden/detect.py::ur_infer_f32. Operation order per iteration:
 *   V_l   = (0 + A[l][0] I^_0 + A[l][1] I^_1 + ...) + eps
 *   beta 0: pos_l = 1 / V_l, neg_l = (x_l pos_l) pos_l;  beta 1: pos_l = 1, neg_l = x_l / V_l;
 *   beta 2: pos_l = V_l, neg_l = x_l
 *   num_j = sum_l A[l][j] neg_l, den_j = sum_l A[l][j] pos_l (l ascending, from 0)
 *   pen_j = alpha_p tu_powf(max(I^_j, eps), p - 1) for j < n_penalized and alpha_p != 0, else 0
 *   I^_j  = max(eps, (I^_j num_j) / ((den_j + pen_j) + eps))   (C's (v > eps) ? v : eps)
 */
#include "tinyunfold/detect.h"
#include "tinyunfold/mathf.h"

tu_status tu_ur_infer_f32(const tu_ur_instance_f32 *S, const float *log_index, float *latent) {
    if (S == 0 || log_index == 0 || latent == 0) {
        return TU_ERROR_ARG;
    }
    const uint32_t L = S->n_index;
    const uint32_t Lp = S->n_latent;
    const float eps = S->eps;
    float *x = S->pState;
    float *pos = x + L;
    float *neg = pos + L;
    for (uint32_t l = 0U; l < L; ++l) {
        x[l] = tu_expf(log_index[l]) / S->scale;
    }
    for (uint32_t j = 0U; j < Lp; ++j) {
        latent[j] = 1.0f;
    }
    for (uint32_t it = 0U; it < S->n_iter; ++it) {
        for (uint32_t l = 0U; l < L; ++l) {
            float v = 0.0f;
            for (uint32_t j = 0U; j < Lp; ++j) {
                v = v + S->A[l * Lp + j] * latent[j];
            }
            v = v + eps;
            if (S->beta == 0U) {
                pos[l] = 1.0f / v;
                neg[l] = (x[l] * pos[l]) * pos[l];
            } else if (S->beta == 1U) {
                pos[l] = 1.0f;
                neg[l] = x[l] / v;
            } else {
                pos[l] = v;
                neg[l] = x[l];
            }
        }
        for (uint32_t j = 0U; j < Lp; ++j) {
            float num = 0.0f;
            float den = 0.0f;
            for (uint32_t l = 0U; l < L; ++l) {
                num = num + S->A[l * Lp + j] * neg[l];
                den = den + S->A[l * Lp + j] * pos[l];
            }
            const float h = latent[j];
            float pen = 0.0f;
            if (j < S->n_penalized && S->alpha_p != 0.0f) {
                pen = S->alpha_p * tu_powf((h > eps) ? h : eps, S->p_minus_1); /* grad of prior */
            }
            const float u = (h * num) / ((den + pen) + eps);
            latent[j] = (u > eps) ? u : eps;
        }
    }
    return TU_OK;
}
