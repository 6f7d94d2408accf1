#include <stddef.h>

#include "tinyunfold/poly.h"

tu_status tu_poly_init_f32(tu_poly_instance_f32 *S, uint16_t n_states, uint16_t n_terms,
                           const uint8_t *out, const uint8_t *exps, const float *coef) {
    if (S == NULL || n_states == 0U ||
        (n_terms > 0U && (out == NULL || exps == NULL || coef == NULL))) {
        return TU_ERROR_ARG;
    }
    for (uint16_t t = 0U; t < n_terms; ++t) {
        if (out[t] >= n_states) {
            return TU_ERROR_ARG;
        }
    }
    S->n_states = n_states;
    S->n_terms = n_terms;
    S->out = out;
    S->exps = exps;
    S->coef = coef;
    return TU_OK;
}
