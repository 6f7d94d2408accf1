#include "tinyunfold/protocol.h"

tu_status tu_proto_error_unpack(const uint8_t *src, size_t len, uint8_t *code, uint8_t *ref_seq) {
    if (src == NULL || code == NULL || ref_seq == NULL) {
        return TU_ERROR_ARG;
    }
    if (len != TU_PROTO_LEN_ERROR) {
        return TU_ERROR_SIZE;
    }
    *code = src[0];
    *ref_seq = src[1];
    return TU_OK;
}
