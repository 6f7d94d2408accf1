#include "tinyunfold/protocol.h"

size_t tu_proto_fault_pack(uint8_t *dst, size_t cap, const char *line) {
    if (dst == NULL || line == NULL) {
        return 0U;
    }
    size_t n = 0U;
    while (line[n] != '\0' && n < TU_PROTO_MAX_FAULT && n < cap) {
        dst[n] = (uint8_t)line[n];
        ++n;
    }
    return n;
}
