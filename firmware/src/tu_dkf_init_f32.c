#include <stddef.h>
#include <string.h>

#include "tinyunfold/dkf.h"

tu_status tu_dkf_init_f32(tu_dkf_instance_f32 *S, uint16_t n_states, uint16_t n_outputs,
                          uint32_t n_layers, const float *A, const float *Bu, const float *C,
                          const float *gains, const float *gain_beyond, const float *x0, float *x,
                          float *xp, float *e, float *ke) {
    if (S == NULL || A == NULL || Bu == NULL || C == NULL || gains == NULL || gain_beyond == NULL ||
        x0 == NULL || x == NULL || xp == NULL || e == NULL || ke == NULL || n_states == 0U ||
        n_outputs == 0U || n_layers == 0U) {
        return TU_ERROR_ARG;
    }
    S->n_states = n_states;
    S->n_outputs = n_outputs;
    S->n_layers = n_layers;
    S->A = A;
    S->Bu = Bu;
    S->C = C;
    S->gains = gains;
    S->gain_beyond = gain_beyond;
    S->x0 = x0;
    S->x = x;
    S->xp = xp;
    S->e = e;
    S->ke = ke;
    S->step = 0U;
    S->poly = NULL; /* linear predictor A x + B u; attach a polynomial one after init */
    memcpy(x, x0, sizeof(float) * n_states); /* x̂(0) = x0 */
    return TU_OK;
}
