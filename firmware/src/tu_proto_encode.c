#include <string.h>

#include "tinyunfold/protocol.h"

size_t tu_proto_encode(uint8_t *dst, uint8_t type, uint8_t seq, const void *const *parts,
                       const size_t *sizes, size_t nparts) {
    size_t len = 0U;
    for (size_t i = 0; i < nparts; ++i) {
        memcpy(&dst[TU_PROTO_HEADER_BYTES + len], parts[i], sizes[i]);
        len += sizes[i];
    }
    dst[0] = TU_PROTO_SYNC0;
    dst[1] = TU_PROTO_SYNC1;
    dst[2] = type;
    dst[3] = seq;
    dst[4] = (uint8_t)(len & 0xFFU);
    dst[5] = (uint8_t)((len >> 8) & 0xFFU);
    const uint16_t crc = tu_proto_crc16(0xFFFFU, &dst[2], len + 4U);
    dst[TU_PROTO_HEADER_BYTES + len] = (uint8_t)(crc & 0xFFU);
    dst[TU_PROTO_HEADER_BYTES + len + 1U] = (uint8_t)(crc >> 8);
    return len + TU_PROTO_OVERHEAD;
}
