#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

size_t tu_proto_state_pack(uint8_t *dst, size_t cap, uint32_t step, const float *x, uint16_t n) {
    const size_t need = 4U + 4U * (size_t)n;
    if (dst == NULL || (x == NULL && n > 0U) || n > TU_PROTO_STATE_MAX_N || need > cap) {
        return 0U;
    }
    tu_le_put32(dst, step);
    for (uint16_t i = 0U; i < n; ++i) {
        tu_le_put32(&dst[4U + 4U * i], tu_le_f32_bits(x[i]));
    }
    return need;
}
