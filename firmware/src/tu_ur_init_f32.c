/* tu_ur_init_f32: check and fill an uncertainty-reduction instance (detect.h). */
#include "tinyunfold/detect.h"

tu_status tu_ur_init_f32(tu_ur_instance_f32 *S, uint16_t n_index, uint16_t n_latent,
                         uint16_t n_penalized, uint16_t n_iter, uint16_t beta, float alpha_p,
                         float p_minus_1, float eps, float scale, const float *A, float *pState) {
    if (S == 0 || A == 0 || pState == 0 || n_index == 0U || n_latent == 0U) {
        return TU_ERROR_ARG;
    }
    if (n_penalized > n_latent || beta > 2U) {
        return TU_ERROR_SIZE;
    }
    if (!(eps > 0.0f) || !(scale > 0.0f) || !(alpha_p >= 0.0f) || p_minus_1 != p_minus_1) {
        return TU_ERROR_NUMERIC;
    }
    S->n_index = n_index;
    S->n_latent = n_latent;
    S->n_penalized = n_penalized;
    S->n_iter = n_iter;
    S->beta = beta;
    S->alpha_p = alpha_p;
    S->p_minus_1 = p_minus_1;
    S->eps = eps;
    S->scale = scale;
    S->A = A;
    S->pState = pState;
    return TU_OK;
}
