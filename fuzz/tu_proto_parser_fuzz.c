/*
 * libFuzzer harness for the serial-link frame parser and the payload codecs (docs/protocol.md).
 * Build and run: `make fuzz` (clang -fsanitize=fuzzer,address,undefined). Input: two bytes choose
 * the receive buffer's capacity (1..2048, allocated exactly so ASan sees any overrun), the rest is
 * the byte stream. Every frame the parser reports must respect its type's maximum and the capacity,
 * carry a valid CRC, parse again identically once re-encoded, and its payload, when the codec
 * accepts it, must pack back to the same bytes. The parser's counters must match its events.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tinyunfold/protocol.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static uint8_t frame[TU_PROTO_OVERHEAD + TU_PROTO_MAX_RESULT];
static uint8_t repack[TU_PROTO_MAX_RESULT];

static void check_payload(uint8_t type, const uint8_t *p, uint16_t len) {
    size_t n = 0U;
    int ok = 0;
    switch (type) {
    case TU_MSG_INFO: {
        tu_proto_info m;
        if (tu_proto_info_unpack(p, len, &m) == TU_OK) {
            n = tu_proto_info_pack(repack, sizeof repack, &m);
            ok = 1;
        }
        break;
    }
    case TU_MSG_AUDIO: {
        static int16_t s[TU_PROTO_AUDIO_MAX_SAMPLES];
        uint32_t start = 0U;
        uint16_t count = 0U;
        if (tu_proto_audio_unpack(p, len, &start, s, TU_PROTO_AUDIO_MAX_SAMPLES, &count) == TU_OK) {
            n = tu_proto_audio_pack(repack, sizeof repack, start, s, count);
            ok = 1;
        }
        break;
    }
    case TU_MSG_CREDIT: {
        tu_proto_credit m;
        if (tu_proto_credit_unpack(p, len, &m) == TU_OK) {
            n = tu_proto_credit_pack(repack, sizeof repack, &m);
            ok = 1;
        }
        break;
    }
    case TU_MSG_EVENT: {
        tu_proto_event_msg m;
        if (tu_proto_event_unpack(p, len, &m) == TU_OK) {
            n = tu_proto_event_pack(repack, sizeof repack, &m);
            ok = 1;
        }
        break;
    }
    case TU_MSG_STATS: {
        tu_proto_stats m;
        if (tu_proto_stats_unpack(p, len, &m) == TU_OK) {
            n = tu_proto_stats_pack(repack, sizeof repack, &m);
            ok = 1;
        }
        break;
    }
    case TU_MSG_STATE: {
        static float x[TU_PROTO_STATE_MAX_N];
        uint32_t step = 0U;
        uint16_t count = 0U;
        if (tu_proto_state_unpack(p, len, &step, x, TU_PROTO_STATE_MAX_N, &count) == TU_OK) {
            n = tu_proto_state_pack(repack, sizeof repack, step, x, count);
            ok = 1;
        }
        break;
    }
    case TU_MSG_ERROR: {
        uint8_t code = 0U, ref = 0U;
        if (tu_proto_error_unpack(p, len, &code, &ref) == TU_OK) {
            n = tu_proto_error_pack(repack, sizeof repack, code, ref);
            ok = 1;
        }
        break;
    }
    default:
        break;
    }
    if (ok) {
        CHECK(n == len && memcmp(repack, p, len) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2U) {
        return 0;
    }
    const uint16_t cap = (uint16_t)(1U + ((unsigned)data[0] | ((unsigned)data[1] << 8)) % 2048U);
    uint8_t *buf = (uint8_t *)malloc(cap);
    uint8_t *buf2 = (uint8_t *)malloc(cap);
    CHECK(buf != NULL && buf2 != NULL);
    tu_proto_parser P, Q;
    tu_proto_parser_init(&P, buf, cap);
    uint32_t n_frame = 0U, n_crc = 0U, n_len = 0U;
    for (size_t i = 2U; i < size; ++i) {
        const tu_proto_event ev = tu_proto_parser_push(&P, data[i]);
        if (ev == TU_PROTO_BAD_CRC) {
            ++n_crc;
        } else if (ev == TU_PROTO_TOO_LONG || ev == TU_PROTO_BAD_TYPE) {
            ++n_len;
        } else if (ev == TU_PROTO_FRAME) {
            ++n_frame;
            int known = 0;
            const uint16_t max = tu_proto_max_len(P.type, &known);
            CHECK(known && P.len <= max && P.len <= cap);
            const uint8_t hdr[4] = {P.type, P.seq, (uint8_t)(P.len & 0xFFU), (uint8_t)(P.len >> 8)};
            uint16_t crc = tu_proto_crc16(0xFFFFU, hdr, 4U);
            crc = tu_proto_crc16(crc, buf, P.len);
            CHECK(crc == P.crc);
            /* re-encode: a fresh parser finds exactly this frame, at its last byte */
            const void *parts[1] = {buf};
            const size_t sizes[1] = {P.len};
            const size_t fl = tu_proto_encode(frame, P.type, P.seq, parts, sizes, 1U);
            CHECK(fl == P.len + TU_PROTO_OVERHEAD);
            tu_proto_parser_init(&Q, buf2, cap);
            for (size_t k = 0U; k < fl; ++k) {
                const tu_proto_event e2 = tu_proto_parser_push(&Q, frame[k]);
                CHECK((k + 1U == fl) ? (e2 == TU_PROTO_FRAME) : (e2 == TU_PROTO_NEED_MORE));
            }
            CHECK(Q.type == P.type && Q.seq == P.seq && Q.len == P.len &&
                  memcmp(buf2, buf, P.len) == 0);
            check_payload(P.type, buf, P.len);
        } else {
            CHECK(ev == TU_PROTO_NEED_MORE);
        }
    }
    CHECK(P.frames_ok == n_frame && P.crc_errors == n_crc && P.length_errors == n_len);
    free(buf);
    free(buf2);
    return 0;
}
