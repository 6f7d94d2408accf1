#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

size_t tu_proto_audio_pack(uint8_t *dst, size_t cap, uint32_t start, const int16_t *samples,
                           uint16_t n) {
    const size_t need = 4U + 2U * (size_t)n;
    if (dst == NULL || (samples == NULL && n > 0U) || n > TU_PROTO_AUDIO_MAX_SAMPLES ||
        need > cap) {
        return 0U;
    }
    tu_le_put32(dst, start);
    for (uint16_t i = 0U; i < n; ++i) {
        tu_le_put16(&dst[4U + 2U * i], (uint16_t)samples[i]);
    }
    return need;
}
