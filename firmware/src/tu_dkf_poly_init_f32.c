#include <stddef.h>

#include "tinyunfold/dkf.h"

/* P->field is initialised beforehand with tu_poly_init_f32. */
tu_status tu_dkf_poly_init_f32(tu_dkf_poly_instance_f32 *P, uint16_t scheme, uint16_t n_sub,
                               float h, float *work) {
    if (P == NULL || (scheme != TU_DKF_SCHEME_MAP && scheme != TU_DKF_SCHEME_RK4) ||
        (scheme == TU_DKF_SCHEME_RK4 && (n_sub == 0U || work == NULL))) {
        return TU_ERROR_ARG;
    }
    P->scheme = scheme;
    P->n_sub = n_sub;
    P->h = h;
    P->work = work;
    return TU_OK;
}
