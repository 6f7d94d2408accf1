#include "tinyunfold/padnmf.h"

void tu_padnmf_warm_f32(const int32_t *src, uint16_t nnz, float eps, const float *pPrev,
                        float *pDst) {
    for (uint32_t i = 0; i < nnz; ++i) {
        if (src[i] >= 0) {
            const float h = pPrev[src[i]];
            pDst[i] = (h > eps) ? h : eps; /* floored at ε (3.2.38): a NaN becomes ε */
        } else {
            pDst[i] = 1.0f; /* a frame the previous window did not see: cold start 1 ∘ M^H */
        }
    }
}
