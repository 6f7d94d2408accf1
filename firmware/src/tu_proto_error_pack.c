#include "tinyunfold/protocol.h"

size_t tu_proto_error_pack(uint8_t *dst, size_t cap, uint8_t code, uint8_t ref_seq) {
    if (dst == NULL || cap < TU_PROTO_LEN_ERROR) {
        return 0U;
    }
    dst[0] = code;
    dst[1] = ref_seq;
    return TU_PROTO_LEN_ERROR;
}
