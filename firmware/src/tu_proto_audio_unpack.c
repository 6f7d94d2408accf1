#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

tu_status tu_proto_audio_unpack(const uint8_t *src, size_t len, uint32_t *start, int16_t *samples,
                                uint16_t cap, uint16_t *n) {
    if (src == NULL || start == NULL || n == NULL || (samples == NULL && cap > 0U)) {
        return TU_ERROR_ARG;
    }
    if (len < 4U || len > TU_PROTO_MAX_AUDIO || (len & 1U) != 0U || (len - 4U) / 2U > cap) {
        return TU_ERROR_SIZE;
    }
    *start = tu_le_get32(src);
    *n = (uint16_t)((len - 4U) / 2U);
    for (uint16_t i = 0U; i < *n; ++i) {
        samples[i] = (int16_t)tu_le_get16(&src[4U + 2U * i]);
    }
    return TU_OK;
}
