#include "tinyunfold/protocol.h"
#include "tu_proto_le.h"

size_t tu_proto_stats_pack(uint8_t *dst, size_t cap, const tu_proto_stats *m) {
    if (dst == NULL || m == NULL || cap < TU_PROTO_LEN_STATS) {
        return 0U;
    }
    tu_le_put64(&dst[0], m->ticks_last);
    tu_le_put64(&dst[8], m->ticks_max);
    tu_le_put32(&dst[16], m->frames_ok);
    tu_le_put32(&dst[20], m->crc_errors);
    tu_le_put32(&dst[24], m->length_errors);
    tu_le_put32(&dst[28], m->resyncs);
    tu_le_put32(&dst[32], m->duplicates);
    tu_le_put32(&dst[36], m->overruns);
    tu_le_put32(&dst[40], m->stack_hwm);
    return TU_PROTO_LEN_STATS;
}
