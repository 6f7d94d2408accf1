/*
 * The parser's state machine for one byte and the re-scan of a rejected frame's bytes, internal to
 * tu_proto_parser_push() and tu_proto_parser_resume() (docs/protocol.md, "Parsers").
 *
 * Semantics (the host's protocol.Decoder, byte for byte): a candidate frame starts at a sync
 * A5 5A; when it is rejected (unknown type, length over the bound, CRC mismatch) the search
 * restarts one byte after its A5, so the bytes after that A5 are parsed again. A frame that
 * started inside a rejected frame (a corrupt length swallowed it) is still found, and both sides
 * count the same errors, frames and resyncs.
 *
 * The held bytes of a rejected frame, indexed from 0 (the byte after its A5):
 *   0: 5A, 1: type, 2: seq, 3: len lo, 4: len hi   -> P->rescan_head[0..4]
 *   5 .. 5 + n - 1: payload bytes                    -> P->payload[0 .. n - 1], n = P->rescan_n
 *   5 + n, 6 + n: CRC lo, hi (CRC rejection only)    -> P->rescan_tail[0..1]
 * They are re-scanned in place, without a second frame buffer (see reject()).
 */
#include "tu_proto_parser_step.h"

static uint16_t crc_byte(uint16_t crc, uint8_t byte) {
    return tu_proto_crc16(crc, &byte, 1U);
}

/* Byte q of the current candidate after its A5 (the layout above, for the candidate in P). */
static uint8_t own_byte(const tu_proto_parser *P, uint32_t q) {
    switch (q) {
    case 0U:
        return TU_PROTO_SYNC1;
    case 1U:
        return P->type;
    case 2U:
        return P->seq;
    case 3U:
        return (uint8_t)(P->len & 0xFFU);
    case 4U:
        return (uint8_t)(P->len >> 8);
    default:
        break;
    }
    q -= 5U;
    if (q < P->index) {
        return P->payload[q];
    }
    return (q == P->index) ? (uint8_t)(P->crc_rx & 0xFFU) : (uint8_t)(P->crc_rx >> 8);
}

/*
 * The candidate in P was rejected; its held bytes are q = 0 .. m - 1 (m = 5: header only, the
 * length was over the bound; m = 7 + len: a CRC mismatch).
 *
 * Not re-scanning (the candidate started in live bytes): its bytes become the held bytes, to be
 * re-scanned from index 0. The header and CRC are copied into rescan_head/rescan_tail; its payload
 * stays where it is, in payload[0 .. index - 1].
 *
 * Re-scanning (the candidate started at held index c = P->rescan_start >= 1, so it lies within the
 * held bytes c .. c + m): the re-scan goes back to c + 1 (5A; host: "one byte after the rejected
 * sync"). Everything from c + 1 on must be readable again, but the candidate wrote its payload
 * over payload[0 .. index - 1]. Why this is all that was overwritten, and why it can be restored:
 *   - a candidate's payload byte k is held byte c + 6 + k, read from payload[c + 1 + k]; it is
 *     written to payload[k]. Since c >= 1 (held byte 0 is 5A, never a sync), the write index k
 *     is at least 2 below the read index c + 1 + k: a write never overwrites a held byte not yet
 *     read, so the re-scan can run in place (no second frame buffer).
 *   - the candidate's own bytes q (in the head fields, payload[0 ..], crc_rx) are exactly the held
 *     bytes c + 1 + q. Writing each back to payload[c + 1 + q - 5] (where that index is inside
 *     payload; the held head and tail bytes are never overwritten) restores all of c + 1 .. c + m;
 *     bytes after c + m were never touched. Source payload[q - 5], destination payload[c + q - 4]:
 *     the destination is above the source, so going from q = m - 1 down reads every source before
 *     it can be overwritten (a memmove to a higher address).
 * Accepted frames during a re-scan need no restoring: the re-scan never goes back before the end
 * of a frame it accepted.
 * No stack, no nesting: a rejection inside a re-scan only moves the re-scan's cursor back, to a
 * held index above the one it last went back to (candidate syncs only move forward), so there is
 * no depth to bound. Time: each of the H = len + 7 held bytes starts at most one candidate, which
 * reads at most H bytes and writes back at most as many: under H * H byte steps for one rejection
 * (a crafted nest of frames; the host Decoder does the same work).
 */
static void reject(tu_proto_parser *P, uint32_t m, int rescanning) {
    if (rescanning) {
        const uint32_t c = P->rescan_start;
        for (uint32_t q = m; q-- > 0U;) {
            const uint32_t t = c + 1U + q; /* held index >= 2 */
            if (t >= 5U && t - 5U < P->rescan_n) {
                P->payload[t - 5U] = own_byte(P, q);
            }
        }
        P->rescan_pos = c + 1U;
    } else {
        for (uint32_t q = 0U; q < 5U; ++q) {
            P->rescan_head[q] = own_byte(P, q);
        }
        P->rescan_tail[0] = (uint8_t)(P->crc_rx & 0xFFU);
        P->rescan_tail[1] = (uint8_t)(P->crc_rx >> 8);
        P->rescan_n = P->index;
        P->rescan_pos = 0U;
        P->rescan_end = m;
    }
    P->state = S_SYNC0;
    P->hunting = 1U; /* the rejected A5 is skipped */
}

/*
 * One byte through the state machine. @p rescanning: the byte is held byte P->rescan_pos - 1 of
 * a re-scan (a candidate starting here records that index). @p hunting is set whenever a byte is
 * skipped; a valid frame after skipped bytes counts one resync (host: DecoderCounts.resyncs).
 */
tu_proto_event tu_proto_parser_step(tu_proto_parser *P, uint8_t byte, int rescanning) {
    switch (P->state) {
    case S_SYNC0:
        if (byte == TU_PROTO_SYNC0) {
            P->state = S_SYNC1;
            P->rescan_start = P->rescan_pos - 1U; /* meaningful while re-scanning only */
        } else {
            P->hunting = 1U;
        }
        return TU_PROTO_NEED_MORE;
    case S_SYNC1:
        if (byte == TU_PROTO_SYNC1) {
            P->state = S_TYPE;
            P->crc = 0xFFFFU;
        } else if (byte == TU_PROTO_SYNC0) { /* the A5 before is skipped, this one may start */
            P->hunting = 1U;
            P->rescan_start = P->rescan_pos - 1U;
        } else {
            P->state = S_SYNC0;
            P->hunting = 1U;
        }
        return TU_PROTO_NEED_MORE;
    case S_TYPE: {
        int known = 0;
        (void)tu_proto_max_len(byte, &known);
        P->type = byte;
        if (known == 0) {
            /* Rejected at once: the type selects the length bound. Going back one byte after the
             * A5 re-reads 5A (skipped) and then this byte: it is re-checked here instead, without
             * a re-scan (the host rejects the same header three bytes later, when it is
             * complete, with the same outcome). */
            P->length_errors++;
            P->state = S_SYNC0;
            P->hunting = 1U;
            if (byte == TU_PROTO_SYNC0) { /* the rejected type byte may start the next frame */
                P->state = S_SYNC1;
                P->rescan_start = P->rescan_pos - 1U;
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
            reject(P, 5U, rescanning);
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
            if (P->hunting != 0U) {
                P->resyncs++;
                P->hunting = 0U;
            }
            return TU_PROTO_FRAME;
        }
        P->crc_errors++;
        reject(P, 7U + (uint32_t)P->len, rescanning);
        return TU_PROTO_BAD_CRC;
    default:
        P->state = S_SYNC0;
        P->hunting = 1U;
        return TU_PROTO_NEED_MORE;
    }
}
