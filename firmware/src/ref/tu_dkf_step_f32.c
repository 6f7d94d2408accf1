/* Portable reference implementation of tu_dkf_step_f32 (see tinyunfold/dkf.h): plain C loops,
 * same signature and operation order as the CMSIS-DSP version, hence the same bits. */
#include <stddef.h>

#include "tinyunfold/dkf.h"

/* y = M v for an r x c row-major M: sums over columns from 0, as arm_mat_mult_f32. */
static void mat_vec(const float *M, const float *v, float *y, uint32_t r, uint32_t c) {
    for (uint32_t i = 0; i < r; ++i) {
        float acc = 0.0f;
        for (uint32_t j = 0; j < c; ++j) {
            acc += M[i * c + j] * v[j];
        }
        y[i] = acc;
    }
}

tu_status tu_dkf_step_f32(tu_dkf_instance_f32 *S, const float *pSrc, float *pDst) {
    if (S == NULL || pSrc == NULL || pDst == NULL) {
        return TU_ERROR_ARG;
    }
    const uint32_t n = S->n_states, m = S->n_outputs;
    const float *K = (S->step < S->n_layers) ? &S->gains[S->step * n * m] : S->gain_beyond;
    if (S->poly != NULL) {
        const tu_status st = tu_dkf_predict_poly_f32(S->poly, S->x, S->xp); /* x_p = f(x) */
        if (st != TU_OK) {
            return st;
        }
    } else {
        mat_vec(S->A, S->x, S->xp, n, n);
        for (uint32_t i = 0; i < n; ++i) {
            S->xp[i] = S->xp[i] + S->Bu[i]; /* x_p = A x + B u, eq. (6.4.2) */
        }
    }
    mat_vec(S->C, S->xp, S->e, m, n);
    for (uint32_t i = 0; i < m; ++i) {
        S->e[i] = pSrc[i] - S->e[i]; /* e = y − C x_p */
    }
    mat_vec(K, S->e, S->ke, n, m);
    for (uint32_t i = 0; i < n; ++i) {
        S->x[i] = S->xp[i] + S->ke[i]; /* x = x_p + K e, eq. (6.4.3) */
        pDst[i] = S->x[i];
    }
    if (S->step < S->n_layers) {
        S->step++;
    }
    return TU_OK;
}
