#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

size_t tu_proto_event_pack(uint8_t *dst, size_t cap, const tu_proto_event_msg *m) {
    if (dst == NULL || m == NULL || cap < TU_PROTO_LEN_EVENT) {
        return 0U;
    }
    tu_le_put32(&dst[0], m->window);
    tu_le_put32(&dst[4], m->start_sample);
    tu_le_put16(&dst[8], m->class_index);
    tu_le_put16(&dst[10], m->onset_frame);
    tu_le_put32(&dst[12], m->score_bits);
    tu_le_put32(&dst[16], m->thresh_bits);
    return TU_PROTO_LEN_EVENT;
}
