/*
 * libFuzzer harness for the serial-link frame parser and the payload codecs (docs/protocol.md).
 * Build and run: `make fuzz` (clang -fsanitize=fuzzer,address,undefined). Input: two bytes choose
 * the receive buffer's capacity (1..2048, allocated exactly so ASan sees any overrun), the rest is
 * the byte stream. Every frame the parser reports must respect its type's maximum and the capacity,
 * carry a valid CRC, parse again identically once re-encoded, and its payload, when the codec
 * accepts it, must pack back to the same bytes. The parser's counters must match its events, and
 * its events (push, then resume until NEED_MORE) must be those of ref_decode(), the host Decoder's
 * rule over the whole stream: after a rejected candidate, search again one byte after its sync.
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

/* One event of the reference: what, at which byte (the last byte pushed when it is reported), and
 * for a frame where it starts. */
typedef struct {
    tu_proto_event ev;
    size_t at;
    size_t start;
} ref_event;

typedef struct {
    uint32_t frames, crc_errors, length_errors, resyncs;
} ref_counts;

/*
 * The host's protocol.Decoder on the whole stream @p d (@p n bytes), bounds min(max_len, cap):
 * find A5 5A from pos; reject an unknown type, a length over the bound or a CRC mismatch and
 * search again from the byte after the rejected A5; a frame after skipped bytes counts a resync.
 * A decision about a candidate is taken when its deciding byte has arrived (the type byte for an
 * unknown type, as on the device; the host waits for the whole header, which only matters for a
 * header cut by the end of the stream) and not before the previous decision: at = running max.
 * Returns the number of events written to @p out (room for n + 1).
 */
static size_t ref_decode(const uint8_t *d, size_t n, uint16_t cap, ref_event *out, ref_counts *c) {
    size_t pos = 0U, t = 0U, ne = 0U;
    int hunting = 0;
    memset(c, 0, sizeof *c);
    for (;;) {
        size_t s = pos;
        while (s + 1U < n && !(d[s] == TU_PROTO_SYNC0 && d[s + 1U] == TU_PROTO_SYNC1)) {
            ++s;
        }
        if (s + 2U >= n) {
            return ne;
        }
        hunting |= (s > pos);
        int known = 0;
        uint16_t max = tu_proto_max_len(d[s + 2U], &known);
        tu_proto_event ev;
        size_t decided;
        if (known == 0) {
            ev = TU_PROTO_BAD_TYPE;
            decided = s + 2U;
            c->length_errors++;
        } else {
            if (s + 5U >= n) {
                return ne;
            }
            const uint16_t len = (uint16_t)(d[s + 4U] | (d[s + 5U] << 8));
            max = (max > cap) ? cap : max;
            if (len > max) {
                ev = TU_PROTO_TOO_LONG;
                decided = s + 5U;
                c->length_errors++;
            } else {
                decided = s + 7U + len;
                if (decided >= n) {
                    return ne;
                }
                const uint16_t crc = tu_proto_crc16(0xFFFFU, &d[s + 2U], 4U + (size_t)len);
                if (crc == (uint16_t)(d[decided - 1U] | (d[decided] << 8))) {
                    ev = TU_PROTO_FRAME;
                    c->frames++;
                    c->resyncs += (uint32_t)hunting;
                    hunting = 0;
                } else {
                    ev = TU_PROTO_BAD_CRC;
                    c->crc_errors++;
                }
            }
        }
        t = (decided > t) ? decided : t;
        out[ne].ev = ev;
        out[ne].at = t;
        out[ne].start = s;
        ++ne;
        if (ev == TU_PROTO_FRAME) {
            pos = decided + 1U;
        } else {
            hunting = 1;
            pos = s + 1U;
        }
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
    ref_event *ref = (ref_event *)malloc((size + 1U) * sizeof *ref);
    CHECK(ref != NULL);
    ref_counts rc;
    const uint8_t *stream = data + 2U;
    const size_t n_ref = ref_decode(stream, size - 2U, cap, ref, &rc);
    size_t k_ref = 0U;
    tu_proto_parser P, Q;
    tu_proto_parser_init(&P, buf, cap);
    uint32_t n_frame = 0U, n_crc = 0U, n_len = 0U;
    tu_proto_event ev = TU_PROTO_NEED_MORE;
    for (size_t i = 2U; i < size;) {
        if (ev == TU_PROTO_NEED_MORE) {
            ev = tu_proto_parser_push(&P, data[i]);
        } else {
            ev = tu_proto_parser_resume(&P);
        }
        if (ev != TU_PROTO_NEED_MORE) { /* the same event as the reference, at the same byte */
            CHECK(k_ref < n_ref && ref[k_ref].ev == ev && ref[k_ref].at == i - 2U);
            if (ev == TU_PROTO_FRAME) {
                const uint8_t *f = &stream[ref[k_ref].start];
                CHECK(P.type == f[2] && P.seq == f[3] && P.len == (f[4] | (f[5] << 8)) &&
                      memcmp(buf, &f[6], P.len) == 0);
            }
            ++k_ref;
        } else {
            ++i; /* the parser wants the next byte */
        }
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
    CHECK(k_ref == n_ref && rc.frames == P.frames_ok && rc.crc_errors == P.crc_errors &&
          rc.length_errors == P.length_errors && rc.resyncs == P.resyncs);
    free(ref);
    free(buf);
    free(buf2);
    return 0;
}
