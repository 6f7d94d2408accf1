#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

tu_status tu_proto_credit_unpack(const uint8_t *src, size_t len, tu_proto_credit *m) {
    if (src == NULL || m == NULL) {
        return TU_ERROR_ARG;
    }
    if (len != TU_PROTO_LEN_CREDIT) {
        return TU_ERROR_SIZE;
    }
    m->next_sample = tu_le_get32(&src[0]);
    m->credit = tu_le_get32(&src[4]);
    m->overruns = tu_le_get32(&src[8]);
    return TU_OK;
}
