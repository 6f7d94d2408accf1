/**
 * @file protocol.h
 * @brief The serial-link protocol between the host and the streaming firmware (docs/protocol.md).
 *
 * Frame: 0xA5 0x5A | type u8 | seq u8 | len u16 LE | payload[len] | crc u16 LE,
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over type, seq, len and payload.
 */
#ifndef TINYUNFOLD_PROTOCOL_H
#define TINYUNFOLD_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TU_PROTO_SYNC0 0xA5U
#define TU_PROTO_SYNC1 0x5AU
#define TU_PROTO_HEADER_BYTES 6U /* sync x2, type, seq, len x2 */
#define TU_PROTO_OVERHEAD 8U     /* header + crc */

/** @brief Message types; replies set bit 7. */
enum {
    TU_MSG_HELLO = 0x01, /**< host: who are you? -> TU_MSG_INFO */
    TU_MSG_INFER = 0x02, /**< host: one input block (float32 LE) -> TU_MSG_RESULT */
    TU_MSG_BYE = 0x03,   /**< host: stop -> TU_MSG_BYE_ACK, then the program exits 0 */
    TU_MSG_INFO = 0x81,
    TU_MSG_RESULT = 0x82,
    TU_MSG_BYE_ACK = 0x83,
    TU_MSG_ERROR = 0xEE, /**< device: payload = one tu_proto_error code */
};

/** @brief Error codes carried by TU_MSG_ERROR. */
enum {
    TU_PROTO_ERR_CRC = 1,      /**< frame CRC mismatch: frame dropped */
    TU_PROTO_ERR_LENGTH = 2,   /**< payload length wrong for the message type */
    TU_PROTO_ERR_TYPE = 3,     /**< unknown message type */
    TU_PROTO_ERR_TOO_LONG = 4, /**< payload longer than the receive buffer */
    TU_PROTO_ERR_MODEL = 5,    /**< the model returned an error status */
};

/** @brief What tu_proto_parser_push() found. */
typedef enum {
    TU_PROTO_NEED_MORE = 0, /**< keep feeding bytes */
    TU_PROTO_FRAME = 1,     /**< a complete, CRC-valid frame is in the parser */
    TU_PROTO_BAD_CRC = 2,   /**< a complete frame failed its CRC (dropped) */
    TU_PROTO_TOO_LONG = 3,  /**< the announced payload does not fit (frame skipped) */
} tu_proto_event;

/** @brief Byte-at-a-time frame parser; resynchronises on the sync bytes after any error. */
typedef struct {
    uint8_t *payload;  /**< receive buffer */
    uint16_t capacity; /**< its size in bytes */
    uint8_t state;     /**< internal */
    uint8_t type;      /**< last frame's type */
    uint8_t seq;       /**< last frame's sequence number */
    uint16_t len;      /**< last frame's payload length */
    uint16_t index;    /**< internal */
    uint16_t crc;      /**< internal: running CRC */
    uint16_t crc_rx;   /**< internal: received CRC */
} tu_proto_parser;

/**
 * @brief CRC-16/CCITT-FALSE update.
 * @param[in] crc  running value (0xFFFF to start)
 * @param[in] data bytes
 * @param[in] len  number of bytes
 * @return updated CRC
 */
uint16_t tu_proto_crc16(uint16_t crc, const uint8_t *data, size_t len);

/**
 * @brief Reset a parser onto a receive buffer.
 * @param[out] P        parser
 * @param[in]  payload  buffer for payloads
 * @param[in]  capacity its size in bytes
 */
void tu_proto_parser_init(tu_proto_parser *P, uint8_t *payload, uint16_t capacity);

/**
 * @brief Feed one received byte.
 * @param[in,out] P    parser
 * @param[in]     byte the byte
 * @return the event (TU_PROTO_FRAME when type/seq/len/payload hold a valid frame)
 */
tu_proto_event tu_proto_parser_push(tu_proto_parser *P, uint8_t byte);

/**
 * @brief Encode a frame.
 * @param[out] dst      buffer of at least len + TU_PROTO_OVERHEAD bytes
 * @param[in]  type     message type
 * @param[in]  seq      sequence number
 * @param[in]  parts    payload pieces, concatenated in order (may be NULL when nparts is 0)
 * @param[in]  sizes    their sizes in bytes
 * @param[in]  nparts   number of pieces
 * @return the frame length in bytes
 */
size_t tu_proto_encode(uint8_t *dst, uint8_t type, uint8_t seq, const void *const *parts,
                       const size_t *sizes, size_t nparts);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_PROTOCOL_H */
