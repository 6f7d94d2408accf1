/* Portable kernel (no CMSIS-DSP counterpart): the nonlinear DKF prediction (thesis 6.4.2). */
#include <stddef.h>

#include "tinyunfold/dkf.h"

tu_status tu_dkf_predict_poly_f32(const tu_dkf_poly_instance_f32 *P, const float *x, float *xp) {
    if (P == NULL || x == NULL || xp == NULL || x == xp) {
        return TU_ERROR_ARG;
    }
    if (P->scheme == TU_DKF_SCHEME_MAP) {
        tu_poly_eval_f32(&P->field, x, xp); /* (M - Δt L)⁻¹ (M x + Δt (N(x) + d)), eq. (6.4.25) */
        return TU_OK;
    }
    tu_rk4_step_f32(&P->field, P->h, x, xp, P->work);
    for (uint32_t s = 1U; s < P->n_sub; ++s) {
        tu_rk4_step_f32(&P->field, P->h, xp, xp, P->work);
    }
    return TU_OK;
}
