#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

size_t tu_proto_credit_pack(uint8_t *dst, size_t cap, const tu_proto_credit *m) {
    if (dst == NULL || m == NULL || cap < TU_PROTO_LEN_CREDIT) {
        return 0U;
    }
    tu_le_put32(&dst[0], m->next_sample);
    tu_le_put32(&dst[4], m->credit);
    tu_le_put32(&dst[8], m->overruns);
    return TU_PROTO_LEN_CREDIT;
}
