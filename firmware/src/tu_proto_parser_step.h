/* Internal to firmware/src/tu_proto_parser_*.c (see tu_proto_parser_step.c). */
#ifndef TU_PROTO_PARSER_STEP_H
#define TU_PROTO_PARSER_STEP_H

#include "tinyunfold/protocol.h"

enum { S_SYNC0, S_SYNC1, S_TYPE, S_SEQ, S_LEN0, S_LEN1, S_PAYLOAD, S_CRC0, S_CRC1 };

/* Held byte t of the rejected frame being re-scanned (layout in tu_proto_parser_step.c). */
static inline uint8_t tu_proto_parser_held(const tu_proto_parser *P, uint32_t t) {
    if (t < 5U) {
        return P->rescan_head[t];
    }
    t -= 5U;
    if (t < P->rescan_n) {
        return P->payload[t];
    }
    return P->rescan_tail[t - P->rescan_n];
}

/* One byte through the state machine; @p rescanning: the byte is held byte rescan_pos - 1. */
tu_proto_event tu_proto_parser_step(tu_proto_parser *P, uint8_t byte, int rescanning);

#endif /* TU_PROTO_PARSER_STEP_H */
