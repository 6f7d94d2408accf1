/* Portable kernel (no CMSIS-DSP counterpart): one RK4 step of a polynomial field. */
#include "tinyunfold/poly.h"

void tu_rk4_step_f32(const tu_poly_instance_f32 *F, float h, const float *x, float *xn,
                     float *work) {
    const uint32_t n = F->n_states;
    float *k = work, *z = work + n, *acc = work + 2U * n;
    const float hh = 0.5f * h, h6 = h / 6.0f;
    tu_poly_eval_f32(F, x, k); /* k1 */
    for (uint32_t i = 0U; i < n; ++i) {
        acc[i] = k[i];
        z[i] = x[i] + hh * k[i];
    }
    tu_poly_eval_f32(F, z, k); /* k2 */
    for (uint32_t i = 0U; i < n; ++i) {
        acc[i] = acc[i] + 2.0f * k[i];
        z[i] = x[i] + hh * k[i];
    }
    tu_poly_eval_f32(F, z, k); /* k3 */
    for (uint32_t i = 0U; i < n; ++i) {
        acc[i] = acc[i] + 2.0f * k[i];
        z[i] = x[i] + h * k[i];
    }
    tu_poly_eval_f32(F, z, k); /* k4 */
    for (uint32_t i = 0U; i < n; ++i) {
        acc[i] = acc[i] + k[i];
        xn[i] = x[i] + h6 * acc[i]; /* x + h/6 (k1 + 2 k2 + 2 k3 + k4) */
    }
}
