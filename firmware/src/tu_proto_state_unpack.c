#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

tu_status tu_proto_state_unpack(const uint8_t *src, size_t len, uint32_t *step, float *x,
                                uint16_t cap, uint16_t *n) {
    if (src == NULL || step == NULL || n == NULL || (x == NULL && cap > 0U)) {
        return TU_ERROR_ARG;
    }
    if (len < 4U || len > TU_PROTO_MAX_STATE || (len & 3U) != 0U || (len - 4U) / 4U > cap) {
        return TU_ERROR_SIZE;
    }
    *step = tu_le_get32(src);
    *n = (uint16_t)((len - 4U) / 4U);
    for (uint16_t i = 0U; i < *n; ++i) {
        x[i] = tu_le_bits_f32(tu_le_get32(&src[4U + 4U * i]));
    }
    return TU_OK;
}
