/*
 * Streaming firmware: serves the generated model over the serial link, protocol v2
 * (docs/protocol.md). At boot it sends one INFO frame with seq 0 (ready).
 * HELLO -> INFO; GET_STATE -> STATE (stateful models: the dkf estimate); INFER (one input block) ->
 * RESULT (status, counter ticks of the forward pass, outputs); GET_STATS -> STATS; BYE -> BYE_ACK
 * and exit 0. A corrupt or rejected frame is answered with ERROR (code, seq it refers to) and
 * dropped; the parser resynchronises on the next sync bytes. A repeated INFER (same type, seq and
 * CRC: the host's retry) is answered from the cached reply, never computed twice.
 */
#include <stdint.h>
#include <string.h>

#include "tinyunfold/hal.h"
#include "tinyunfold/model.h"
#include "tinyunfold/protocol.h"

#define IN_BYTES (TU_MODEL_IN_LEN * 4U)
#define OUT_BYTES (TU_MODEL_OUT_LEN * 4U)
#define RX_BYTES ((IN_BYTES > 64U) ? IN_BYTES : 64U)

#if IN_BYTES > TU_PROTO_MAX_INFER || (OUT_BYTES + 12U) > TU_PROTO_MAX_RESULT
#error "the model's input or output block does not fit an INFER/RESULT frame (docs/protocol.md)"
#endif

static uint8_t rx_payload[RX_BYTES];
static float in_block[TU_MODEL_IN_LEN];
static float out_block[TU_MODEL_OUT_LEN];
/* tx_frame holds the last INFER reply (the reply cache); other frames go through small_frame. */
static uint8_t tx_frame[TU_PROTO_OVERHEAD + 12U + OUT_BYTES];
static uint8_t small_frame[TU_PROTO_OVERHEAD + TU_PROTO_MAX_INFO];
static size_t cached_len;
static uint8_t cached_seq;
static uint16_t cached_crc;
static int cached_valid;
static tu_proto_stats stats;

static void send_small(uint8_t type, uint8_t seq, const void *payload, size_t len) {
    const void *parts[1] = {payload};
    const size_t sizes[1] = {len};
    const size_t n = tu_proto_encode(small_frame, type, seq, parts, sizes, len > 0U ? 1U : 0U);
    tu_hal_serial_write(small_frame, n);
}

static void send_error(uint8_t seq, uint8_t code) {
    uint8_t p[TU_PROTO_LEN_ERROR];
    (void)tu_proto_error_pack(p, sizeof p, code, seq);
    send_small(TU_MSG_ERROR, seq, p, sizeof p);
}

static void send_info(uint8_t seq) {
    static const char kind[] = TU_MODEL_KIND;
    static uint8_t p[TU_PROTO_MAX_INFO];
    tu_proto_info m;
    memset(&m, 0, sizeof m);
    m.proto = TU_PROTO_VERSION;
    m.abi = TU_RUNTIME_ABI_VERSION;
    m.in_len = TU_MODEL_IN_LEN;
    m.out_len = TU_MODEL_OUT_LEN;
#ifdef TU_MODEL_SAMPLE_RATE /* audio framing, when the generated config provides it */
    m.sample_rate = TU_MODEL_SAMPLE_RATE;
    m.hop = TU_MODEL_HOP;
    m.window = TU_MODEL_WINDOW;
    m.stride = TU_MODEL_STRIDE;
#endif
#ifdef TU_MODEL_HASH8 /* first 8 bytes of the model's sha256, e.g. {0x12, 0x34, ...} */
    static const uint8_t hash[8] = TU_MODEL_HASH8;
    memcpy(m.model_hash, hash, 8U);
#endif
    m.kind = kind;
    m.kind_len = (uint8_t)(sizeof kind - 1U);
    send_small(TU_MSG_INFO, seq, p, tu_proto_info_pack(p, sizeof p, &m));
}

#if defined(TU_MODEL_HAS_STATE) && TU_MODEL_N_STATES <= TU_PROTO_STATE_MAX_N
/* GET_STATE -> STATE: the DKF estimate x̂(k) and k, the state kept between forward passes. */
static void send_state(uint8_t seq) {
    static uint8_t p[4U + 4U * TU_MODEL_N_STATES];
    uint32_t step = 0U;
    const float *x = NULL;
    if (tu_model_state(&step, &x) != TU_OK) {
        send_error(seq, TU_PROTO_ERR_MODEL);
        return;
    }
    send_small(TU_MSG_STATE, seq, p, tu_proto_state_pack(p, sizeof p, step, x, TU_MODEL_N_STATES));
}
#endif

static void send_stats(uint8_t seq, const tu_proto_parser *P) {
    uint8_t p[TU_PROTO_LEN_STATS];
    stats.frames_ok = P->frames_ok;
    stats.crc_errors = P->crc_errors;
    stats.length_errors += P->length_errors; /* parser rejections + wrong lengths below */
    stats.resyncs = P->resyncs;
    (void)tu_proto_stats_pack(p, sizeof p, &stats);
    stats.length_errors -= P->length_errors;
    send_small(TU_MSG_STATS, seq, p, sizeof p);
}

static void infer(const tu_proto_parser *P) {
    if (cached_valid && cached_seq == P->seq && cached_crc == P->crc) {
        stats.duplicates++; /* the host's retry: the reply was lost, not the request */
        tu_hal_serial_write(tx_frame, cached_len);
        return;
    }
    memcpy(in_block, rx_payload, IN_BYTES);
    tu_hal_counter_start();
    const tu_status st = tu_model_forward(in_block, out_block);
    const uint64_t ticks = tu_hal_counter_ticks();
    if (st != TU_OK) {
        send_error(P->seq, TU_PROTO_ERR_MODEL);
        return;
    }
    stats.ticks_last = ticks;
    stats.ticks_max = (ticks > stats.ticks_max) ? ticks : stats.ticks_max;
    const int32_t status = (int32_t)st;
    const void *parts[3] = {&status, &ticks, out_block};
    const size_t sizes[3] = {4U, 8U, OUT_BYTES};
    cached_len = tu_proto_encode(tx_frame, TU_MSG_RESULT, P->seq, parts, sizes, 3U);
    cached_seq = P->seq;
    cached_crc = P->crc;
    cached_valid = 1;
    tu_hal_serial_write(tx_frame, cached_len);
}

int main(void) {
    tu_proto_parser parser;
    tu_hal_init();
    if (tu_model_init() != TU_OK) {
        return TU_EXIT_APP_ERROR;
    }
    tu_proto_parser_init(&parser, rx_payload, (uint16_t)sizeof rx_payload);
    /* Boot announcement: the UART receives from here on, so the host may start sending. Bytes that
     * reach a UART before it is enabled are dropped by the hardware (and by QEMU's model). */
    send_info(0U);
    /* After an event, resume before the next byte: a rejected frame's bytes are re-scanned
     * and may hold more frames (docs/protocol.md, "Parsers"). */
    tu_proto_event ev = TU_PROTO_NEED_MORE;
    for (;;) {
        ev = (ev == TU_PROTO_NEED_MORE) ? tu_proto_parser_push(&parser, tu_hal_serial_read())
                                        : tu_proto_parser_resume(&parser);
        if (ev == TU_PROTO_BAD_CRC) {
            send_error(parser.seq, TU_PROTO_ERR_CRC);
        } else if (ev == TU_PROTO_TOO_LONG) {
            send_error(parser.seq, TU_PROTO_ERR_TOO_LONG);
        } else if (ev == TU_PROTO_BAD_TYPE) {
            send_error(0U, TU_PROTO_ERR_TYPE); /* the seq byte was not read */
        } else if (ev == TU_PROTO_FRAME) {
            switch (parser.type) {
            case TU_MSG_HELLO:
                send_info(parser.seq);
                break;
            case TU_MSG_INFER:
                if (parser.len != IN_BYTES) {
                    stats.length_errors++;
                    send_error(parser.seq, TU_PROTO_ERR_LENGTH);
                } else {
                    infer(&parser);
                }
                break;
            case TU_MSG_GET_STATS:
                send_stats(parser.seq, &parser);
                break;
#if defined(TU_MODEL_HAS_STATE) && TU_MODEL_N_STATES <= TU_PROTO_STATE_MAX_N
            case TU_MSG_GET_STATE:
                send_state(parser.seq);
                break;
#endif
            case TU_MSG_BYE:
                send_small(TU_MSG_BYE_ACK, parser.seq, NULL, 0U);
                return TU_EXIT_OK;
            default: /* a type of the protocol that this firmware does not serve */
                send_error(parser.seq, TU_PROTO_ERR_TYPE);
                break;
            }
        }
    }
}
