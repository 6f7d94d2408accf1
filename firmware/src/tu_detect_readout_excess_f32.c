/* tu_detect_readout_excess_f32: add the excess block to an initialised readout (detect.h). */
#include "tinyunfold/detect.h"

tu_status tu_detect_readout_excess_f32(tu_detect_readout_instance_f32 *S, const float *bg_mu,
                                       const float *bg_inv_sd, float clip) {
    if (S == 0 || bg_mu == 0 || bg_inv_sd == 0 || S->W == 0) {
        return TU_ERROR_ARG;
    }
    if (!(clip > 0.0f) || !(clip <= 1000.0f)) {
        return TU_ERROR_NUMERIC;
    }
    for (uint32_t a = 0U; a < S->rank; ++a) {
        if (!(bg_inv_sd[a] > 0.0f) || !(bg_mu[a] == bg_mu[a]) || bg_inv_sd[a] > 3.0e38f ||
            bg_mu[a] > 3.0e38f || bg_mu[a] < -3.0e38f) {
            return TU_ERROR_NUMERIC;
        }
    }
    S->bg_mu = bg_mu;
    S->bg_inv_sd = bg_inv_sd;
    S->excess = clip;
    return TU_OK;
}
