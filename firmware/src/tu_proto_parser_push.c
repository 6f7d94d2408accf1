#include "tinyunfold/protocol.h"

enum { S_SYNC0, S_SYNC1, S_TYPE, S_SEQ, S_LEN0, S_LEN1, S_PAYLOAD, S_CRC0, S_CRC1 };

static uint16_t crc_byte(uint16_t crc, uint8_t byte) {
    return tu_proto_crc16(crc, &byte, 1U);
}

/* Drop the frame in progress: hunt for the next sync, counting the skipped run as one resync. */
static void hunt(tu_proto_parser *P) {
    P->state = S_SYNC0;
    P->hunting = 1U;
}

tu_proto_event tu_proto_parser_push(tu_proto_parser *P, uint8_t byte) {
    switch (P->state) {
    case S_SYNC0:
        if (byte == TU_PROTO_SYNC0) {
            P->state = S_SYNC1;
        } else {
            P->hunting = 1U;
        }
        return TU_PROTO_NEED_MORE;
    case S_SYNC1:
        if (byte == TU_PROTO_SYNC1) {
            P->state = S_TYPE;
            P->crc = 0xFFFFU;
            if (P->hunting != 0U) {
                P->resyncs++;
                P->hunting = 0U;
            }
        } else if (byte != TU_PROTO_SYNC0) {
            hunt(P);
        }
        return TU_PROTO_NEED_MORE;
    case S_TYPE: {
        int known = 0;
        (void)tu_proto_max_len(byte, &known);
        P->type = byte;
        if (known == 0) { /* reject at once: the type selects the length bound */
            P->length_errors++;
            hunt(P);
            if (byte == TU_PROTO_SYNC0) { /* the rejected type byte may start the next frame */
                P->state = S_SYNC1;
            }
            return TU_PROTO_BAD_TYPE;
        }
        P->crc = crc_byte(P->crc, byte);
        P->state = S_SEQ;
        return TU_PROTO_NEED_MORE;
    }
    case S_SEQ:
        P->seq = byte;
        P->crc = crc_byte(P->crc, byte);
        P->state = S_LEN0;
        return TU_PROTO_NEED_MORE;
    case S_LEN0:
        P->len = byte;
        P->crc = crc_byte(P->crc, byte);
        P->state = S_LEN1;
        return TU_PROTO_NEED_MORE;
    case S_LEN1: {
        P->len = (uint16_t)(P->len | ((uint16_t)byte << 8));
        P->crc = crc_byte(P->crc, byte);
        P->index = 0U;
        uint16_t max = tu_proto_max_len(P->type, NULL);
        if (max > P->capacity) {
            max = P->capacity;
        }
        if (P->len > max) { /* reject at once: the length itself may be corrupt */
            P->length_errors++;
            hunt(P);
            return TU_PROTO_TOO_LONG;
        }
        P->state = (P->len == 0U) ? S_CRC0 : S_PAYLOAD;
        return TU_PROTO_NEED_MORE;
    }
    case S_PAYLOAD:
        P->payload[P->index++] = byte;
        P->crc = crc_byte(P->crc, byte);
        if (P->index >= P->len) {
            P->state = S_CRC0;
        }
        return TU_PROTO_NEED_MORE;
    case S_CRC0:
        P->crc_rx = byte;
        P->state = S_CRC1;
        return TU_PROTO_NEED_MORE;
    case S_CRC1:
        P->crc_rx = (uint16_t)(P->crc_rx | ((uint16_t)byte << 8));
        if (P->crc_rx == P->crc) {
            P->state = S_SYNC0;
            P->frames_ok++;
            return TU_PROTO_FRAME;
        }
        P->crc_errors++;
        hunt(P);
        return TU_PROTO_BAD_CRC;
    default:
        hunt(P);
        return TU_PROTO_NEED_MORE;
    }
}
