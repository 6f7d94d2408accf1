#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

tu_status tu_proto_stats_unpack(const uint8_t *src, size_t len, tu_proto_stats *m) {
    if (src == NULL || m == NULL) {
        return TU_ERROR_ARG;
    }
    if (len != TU_PROTO_LEN_STATS) {
        return TU_ERROR_SIZE;
    }
    m->ticks_last = tu_le_get64(&src[0]);
    m->ticks_max = tu_le_get64(&src[8]);
    m->frames_ok = tu_le_get32(&src[16]);
    m->crc_errors = tu_le_get32(&src[20]);
    m->length_errors = tu_le_get32(&src[24]);
    m->resyncs = tu_le_get32(&src[28]);
    m->duplicates = tu_le_get32(&src[32]);
    m->overruns = tu_le_get32(&src[36]);
    m->stack_hwm = tu_le_get32(&src[40]);
    return TU_OK;
}
