#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

tu_status tu_proto_event_unpack(const uint8_t *src, size_t len, tu_proto_event_msg *m) {
    if (src == NULL || m == NULL) {
        return TU_ERROR_ARG;
    }
    if (len != TU_PROTO_LEN_EVENT) {
        return TU_ERROR_SIZE;
    }
    m->window = tu_le_get32(&src[0]);
    m->start_sample = tu_le_get32(&src[4]);
    m->class_index = tu_le_get16(&src[8]);
    m->onset_frame = tu_le_get16(&src[10]);
    m->score_bits = tu_le_get32(&src[12]);
    m->thresh_bits = tu_le_get32(&src[16]);
    return TU_OK;
}
