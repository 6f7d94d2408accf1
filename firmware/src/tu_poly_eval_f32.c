/* Portable kernel (no CMSIS-DSP counterpart): the polynomial field of tinyunfold/poly.h. */
#include "tinyunfold/poly.h"

void tu_poly_eval_f32(const tu_poly_instance_f32 *S, const float *x, float *dx) {
    const uint32_t n = S->n_states;
    for (uint32_t i = 0U; i < n; ++i) {
        dx[i] = 0.0f;
    }
    const uint8_t *e = S->exps;
    for (uint32_t t = 0U; t < S->n_terms; ++t, e += n) {
        float v = 1.0f; /* the monomial Π_j x_j^e_j, factors in index order */
        for (uint32_t j = 0U; j < n; ++j) {
            for (uint32_t r = 0U; r < e[j]; ++r) {
                v = v * x[j];
            }
        }
        dx[S->out[t]] = dx[S->out[t]] + S->coef[t] * v; /* terms summed in table order */
    }
}
