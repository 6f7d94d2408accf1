/*
 * Streaming firmware: serves the generated model over the serial link (docs/protocol.md).
 * At boot it sends one INFO frame with seq 0 (ready).
 * HELLO -> INFO (ABI, input/output lengths, kind); INFER (one input block) -> RESULT (status,
 * counter ticks of the forward pass, outputs); BYE -> BYE_ACK and exit 0. Corrupt frames are
 * answered with ERROR and dropped; the parser resynchronises on the next sync bytes.
 */
#include <stdint.h>
#include <string.h>

#include "tinyunfold/hal.h"
#include "tinyunfold/model.h"
#include "tinyunfold/protocol.h"

#define IN_BYTES (TU_MODEL_IN_LEN * 4U)
#define OUT_BYTES (TU_MODEL_OUT_LEN * 4U)

static uint8_t rx_payload[IN_BYTES];
static float in_block[TU_MODEL_IN_LEN];
static float out_block[TU_MODEL_OUT_LEN];
static uint8_t tx_frame[TU_PROTO_OVERHEAD + 8U + OUT_BYTES + 64U];

static void send(uint8_t type, uint8_t seq, const void *const *parts, const size_t *sizes,
                 size_t nparts) {
    const size_t n = tu_proto_encode(tx_frame, type, seq, parts, sizes, nparts);
    tu_hal_serial_write(tx_frame, n);
}

static void send_error(uint8_t seq, uint8_t code) {
    const void *parts[1] = {&code};
    const size_t sizes[1] = {1U};
    send(TU_MSG_ERROR, seq, parts, sizes, 1U);
}

static void send_info(uint8_t seq) {
    const uint16_t abi = TU_RUNTIME_ABI_VERSION;
    const uint32_t in_len = TU_MODEL_IN_LEN, out_len = TU_MODEL_OUT_LEN;
    const char kind[] = TU_MODEL_KIND;
    const void *parts[4] = {&abi, &in_len, &out_len, kind};
    const size_t sizes[4] = {2U, 4U, 4U, sizeof kind - 1U};
    send(TU_MSG_INFO, seq, parts, sizes, 4U);
}

static void infer(uint8_t seq) {
    memcpy(in_block, rx_payload, IN_BYTES);
    tu_hal_counter_start();
    const tu_status st = tu_model_forward(in_block, out_block);
    const uint64_t ticks = tu_hal_counter_ticks();
    if (st != TU_OK) {
        send_error(seq, TU_PROTO_ERR_MODEL);
        return;
    }
    const int32_t status = (int32_t)st;
    const void *parts[3] = {&status, &ticks, out_block};
    const size_t sizes[3] = {4U, 8U, OUT_BYTES};
    send(TU_MSG_RESULT, seq, parts, sizes, 3U);
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
    for (;;) {
        const tu_proto_event ev = tu_proto_parser_push(&parser, tu_hal_serial_read());
        if (ev == TU_PROTO_BAD_CRC) {
            send_error(parser.seq, TU_PROTO_ERR_CRC);
        } else if (ev == TU_PROTO_TOO_LONG) {
            send_error(parser.seq, TU_PROTO_ERR_TOO_LONG);
        } else if (ev == TU_PROTO_FRAME) {
            switch (parser.type) {
            case TU_MSG_HELLO:
                send_info(parser.seq);
                break;
            case TU_MSG_INFER:
                if (parser.len != IN_BYTES) {
                    send_error(parser.seq, TU_PROTO_ERR_LENGTH);
                } else {
                    infer(parser.seq);
                }
                break;
            case TU_MSG_BYE:
                send(TU_MSG_BYE_ACK, parser.seq, NULL, NULL, 0U);
                return TU_EXIT_OK;
            default:
                send_error(parser.seq, TU_PROTO_ERR_TYPE);
                break;
            }
        }
    }
}
