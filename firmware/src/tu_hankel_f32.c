#include <string.h>

#include "tinyunfold/nmf.h"

void tu_hankel_f32(const float *pSrc, uint16_t m, uint16_t n, uint16_t T, float *pDst) {
    for (uint32_t t = 0; t < T; ++t) {
        for (uint32_t i = 0; i < m; ++i) {
            float *row = &pDst[(t * m + i) * n];
            const float *src = &pSrc[i * n];
            const uint32_t shift = T - 1U - t; /* block t of column j holds frame j - shift */
            for (uint32_t j = 0; j < n; ++j) {
                row[j] = (j >= shift) ? src[j - shift] : 0.0f;
            }
        }
    }
}
