/**
 * @file protocol.h
 * @brief The serial-link protocol v2 between the host and the firmware (docs/protocol.md).
 *
 * Frame: 0xA5 0x5A | type u8 | seq u8 | len u16 LE | payload[len] | crc u16 LE,
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over type, seq, len and payload.
 * Every type has a maximum payload length (tu_proto_max_len()); the parser rejects a longer
 * announcement as soon as the header is complete. After any rejection it searches again from one
 * byte after the rejected sync (the bytes it had taken are re-scanned), as the host's Decoder does.
 */
#ifndef TINYUNFOLD_PROTOCOL_H
#define TINYUNFOLD_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "tinyunfold/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TU_PROTO_VERSION 2U
#define TU_PROTO_SYNC0 0xA5U
#define TU_PROTO_SYNC1 0x5AU
#define TU_PROTO_HEADER_BYTES 6U /* sync x2, type, seq, len x2 */
#define TU_PROTO_OVERHEAD 8U     /* header + crc */

/** @brief Frame types; device -> host types set bit 7. */
enum {
    TU_MSG_HELLO = 0x01,     /**< host: [proto u8] -> TU_MSG_INFO */
    TU_MSG_INFER = 0x02,     /**< host: one feature window (float32 LE) -> TU_MSG_RESULT */
    TU_MSG_BYE = 0x03,       /**< host: stop -> TU_MSG_BYE_ACK, then the program exits 0 */
    TU_MSG_AUDIO = 0x04,     /**< host: start u32 + int16 PCM -> TU_MSG_CREDIT */
    TU_MSG_GET_STATS = 0x05, /**< host: -> TU_MSG_STATS */
    TU_MSG_GET_STATE = 0x06, /**< host: -> TU_MSG_STATE */
    TU_MSG_INFO = 0x81,
    TU_MSG_RESULT = 0x82,
    TU_MSG_BYE_ACK = 0x83,
    TU_MSG_CREDIT = 0x84,
    TU_MSG_STATS = 0x85,
    TU_MSG_STATE = 0x86,
    TU_MSG_EVENT = 0x87,
    TU_MSG_ERROR = 0xEE, /**< device: code u8, ref_seq u8 */
    TU_MSG_FAULT = 0xEF, /**< device: the fault line, ASCII */
};

/** @brief Maximum payload lengths, one per type (the table of tu_proto_max_len()). */
#define TU_PROTO_MAX_HELLO 1U
#define TU_PROTO_MAX_INFER 32768U /* 8192 float32 */
#define TU_PROTO_MAX_BYE 0U
#define TU_PROTO_AUDIO_MAX_SAMPLES 512U
#define TU_PROTO_MAX_AUDIO (4U + 2U * TU_PROTO_AUDIO_MAX_SAMPLES)
#define TU_PROTO_MAX_GET_STATS 0U
#define TU_PROTO_MAX_GET_STATE 0U
#define TU_PROTO_MAX_INFO 512U
#define TU_PROTO_MAX_RESULT (12U + TU_PROTO_MAX_INFER)
#define TU_PROTO_MAX_BYE_ACK 0U
#define TU_PROTO_LEN_CREDIT 12U
#define TU_PROTO_LEN_STATS 44U
#define TU_PROTO_STATE_MAX_N 64U
#define TU_PROTO_MAX_STATE (4U + 4U * TU_PROTO_STATE_MAX_N)
#define TU_PROTO_LEN_EVENT 20U
#define TU_PROTO_LEN_ERROR 2U
#define TU_PROTO_MAX_FAULT 160U
#define TU_PROTO_INFO_MAX_CLASSES 16U
#define TU_PROTO_INFO_MAX_NAME 24U
#define TU_PROTO_INFO_MAX_KIND 16U

/** @brief Error codes carried by TU_MSG_ERROR. */
enum {
    TU_PROTO_ERR_CRC = 1,      /**< frame CRC mismatch: frame dropped */
    TU_PROTO_ERR_LENGTH = 2,   /**< payload length wrong for the message type */
    TU_PROTO_ERR_TYPE = 3,     /**< unknown message type */
    TU_PROTO_ERR_TOO_LONG = 4, /**< announced length over the maximum of its type */
    TU_PROTO_ERR_MODEL = 5,    /**< the model returned an error status */
    TU_PROTO_ERR_OVERRUN = 6,  /**< AUDIO past the credit: refused, counted in overruns */
    TU_PROTO_ERR_GAP = 7,      /**< AUDIO started after next_sample: the gap counted in overruns */
};

/** @brief What tu_proto_parser_push() found. */
typedef enum {
    TU_PROTO_NEED_MORE = 0, /**< keep feeding bytes */
    TU_PROTO_FRAME = 1,     /**< a complete, CRC-valid frame is in the parser */
    TU_PROTO_BAD_CRC = 2,   /**< a complete frame failed its CRC (dropped) */
    TU_PROTO_TOO_LONG = 3,  /**< the announced length is over the type's maximum (skipped) */
    TU_PROTO_BAD_TYPE = 4,  /**< unknown type (skipped at once) */
} tu_proto_event;

/**
 * @brief Byte-at-a-time frame parser; after a rejected frame it re-scans that frame's bytes from
 * one byte after its sync (so a frame that a corrupt length swallowed is still found).
 *
 * Memory: the payload buffer and this struct, nothing else (the re-scan runs in place).
 */
typedef struct {
    uint8_t *payload;       /**< receive buffer */
    uint16_t capacity;      /**< its size in bytes (caps every type's maximum) */
    uint8_t state;          /**< internal */
    uint8_t hunting;        /**< internal: bytes were skipped since the last valid frame */
    uint8_t type;           /**< last frame's type */
    uint8_t seq;            /**< last frame's sequence number */
    uint16_t len;           /**< last frame's payload length */
    uint16_t index;         /**< internal */
    uint16_t crc;           /**< running CRC; after TU_PROTO_FRAME the frame's CRC */
    uint16_t crc_rx;        /**< internal: received CRC */
    uint32_t frames_ok;     /**< counter: valid frames */
    uint32_t crc_errors;    /**< counter: CRC mismatches */
    uint32_t length_errors; /**< counter: lengths over the maximum, unknown types */
    uint32_t resyncs;       /**< counter: valid frames after skipped bytes (host's resyncs) */
    uint32_t rescan_pos;    /**< internal: next held byte of the rejected frame to re-scan */
    uint32_t rescan_end;    /**< internal: number of held bytes (0: no re-scan pending) */
    uint32_t rescan_start;  /**< internal: held index of the candidate's sync in a re-scan */
    uint16_t rescan_n;      /**< internal: held payload bytes (in payload[]) */
    uint8_t rescan_head[5]; /**< internal: held 5A, type, seq, len lo, len hi */
    uint8_t rescan_tail[2]; /**< internal: held CRC bytes */
} tu_proto_parser;

/** @brief INFO payload (pointers refer into the unpacked payload or the caller's strings). */
typedef struct {
    uint8_t proto;        /**< TU_PROTO_VERSION */
    uint16_t abi;         /**< TU_RUNTIME_ABI_VERSION */
    uint32_t in_len;      /**< model input length (float32 values) */
    uint32_t out_len;     /**< model output length (float32 values) */
    uint32_t sample_rate; /**< Hz, 0 without an audio front-end */
    uint16_t hop;         /**< samples per frame hop */
    uint16_t window;      /**< frames per model window */
    uint16_t stride;      /**< frames between windows */
    uint8_t model_hash[8];
    const char *kind;
    uint8_t kind_len;
    uint8_t n_classes;
    const char *class_names[TU_PROTO_INFO_MAX_CLASSES];
    uint8_t class_len[TU_PROTO_INFO_MAX_CLASSES];
} tu_proto_info;

/** @brief CREDIT payload: flow control of AUDIO. */
typedef struct {
    uint32_t next_sample; /**< index of the next sample the device expects */
    uint32_t credit;      /**< samples past next_sample it can accept now */
    uint32_t overruns;    /**< samples refused or missing so far */
} tu_proto_credit;

/** @brief EVENT payload: one detected hit. */
typedef struct {
    uint32_t window;       /**< window index */
    uint32_t start_sample; /**< first sample of the window */
    uint16_t class_index;  /**< class */
    uint16_t onset_frame;  /**< onset frame inside the window */
    uint32_t score_bits;   /**< score, float32 bits */
    uint32_t thresh_bits;  /**< threshold, float32 bits */
} tu_proto_event_msg;

/** @brief STATS payload. */
typedef struct {
    uint64_t ticks_last;    /**< counter ticks of the last forward pass */
    uint64_t ticks_max;     /**< ... and of the slowest */
    uint32_t frames_ok;     /**< valid frames received */
    uint32_t crc_errors;    /**< frames dropped for their CRC */
    uint32_t length_errors; /**< lengths over the maximum, wrong lengths, unknown types */
    uint32_t resyncs;       /**< runs of skipped bytes before a sync */
    uint32_t duplicates;    /**< repeated requests answered from the reply cache */
    uint32_t overruns;      /**< AUDIO samples refused or missing */
    uint32_t stack_hwm;     /**< bytes of stack ever used (0 = not measured) */
} tu_proto_stats;

/**
 * @brief CRC-16/CCITT-FALSE update.
 * @param[in] crc  running value (0xFFFF to start)
 * @param[in] data bytes
 * @param[in] len  number of bytes
 * @return updated CRC
 */
uint16_t tu_proto_crc16(uint16_t crc, const uint8_t *data, size_t len);

/**
 * @brief Largest payload a frame of @p type may carry.
 * @param[in]  type  frame type
 * @param[out] known set to 1 for a type of the protocol, 0 otherwise (may be NULL)
 * @return the maximum length in bytes (0 for an unknown type)
 */
uint16_t tu_proto_max_len(uint8_t type, int *known);

/**
 * @brief Reset a parser onto a receive buffer (counters to zero).
 * @param[out] P        parser
 * @param[in]  payload  buffer for payloads
 * @param[in]  capacity its size in bytes
 */
void tu_proto_parser_init(tu_proto_parser *P, uint8_t *payload, uint16_t capacity);

/**
 * @brief Feed one received byte.
 *
 * After an event other than TU_PROTO_NEED_MORE, call tu_proto_parser_resume() until it returns
 * TU_PROTO_NEED_MORE: a rejected frame's bytes are re-scanned there and may hold more frames
 * (a re-scan left unfinished is finished here, its frames counted but not reported).
 * The caller must not write to the payload buffer (held bytes of a re-scan live in it).
 * @param[in,out] P    parser
 * @param[in]     byte the byte
 * @return the event (TU_PROTO_FRAME when type/seq/len/payload hold a valid frame)
 */
tu_proto_event tu_proto_parser_push(tu_proto_parser *P, uint8_t byte);

/**
 * @brief The next event of the bytes already pushed: re-scan of a rejected frame's bytes.
 *
 * Usage: `for (ev = tu_proto_parser_push(P, b); ev != TU_PROTO_NEED_MORE;
 * ev = tu_proto_parser_resume(P)) { handle(ev); }`. The re-scan holds at most H = capacity + 7
 * bytes; each starts at most one candidate: under H * H byte steps for all the calls after one
 * rejection (a crafted nest of frames), no recursion, constant stack.
 * @param[in,out] P parser
 * @return the event, TU_PROTO_NEED_MORE when the parser wants the next byte
 */
tu_proto_event tu_proto_parser_resume(tu_proto_parser *P);

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

/* Payload packers return the payload length written (0 when it does not fit or is invalid);
 * unpackers return TU_OK or TU_ERROR_SIZE (wrong length) / TU_ERROR_ARG (bad content). */

/** @brief Pack an INFO payload into @p dst (@p cap bytes). */
size_t tu_proto_info_pack(uint8_t *dst, size_t cap, const tu_proto_info *m);
/** @brief Unpack an INFO payload; string pointers refer into @p src. */
tu_status tu_proto_info_unpack(const uint8_t *src, size_t len, tu_proto_info *m);
/** @brief Pack an AUDIO payload: @p n samples starting at sample index @p start. */
size_t tu_proto_audio_pack(uint8_t *dst, size_t cap, uint32_t start, const int16_t *samples,
                           uint16_t n);
/** @brief Unpack an AUDIO payload into @p samples (room for @p cap); sets @p start and @p n. */
tu_status tu_proto_audio_unpack(const uint8_t *src, size_t len, uint32_t *start, int16_t *samples,
                                uint16_t cap, uint16_t *n);
/** @brief Pack a CREDIT payload (TU_PROTO_LEN_CREDIT bytes). */
size_t tu_proto_credit_pack(uint8_t *dst, size_t cap, const tu_proto_credit *m);
/** @brief Unpack a CREDIT payload. */
tu_status tu_proto_credit_unpack(const uint8_t *src, size_t len, tu_proto_credit *m);
/** @brief Pack an EVENT payload (TU_PROTO_LEN_EVENT bytes). */
size_t tu_proto_event_pack(uint8_t *dst, size_t cap, const tu_proto_event_msg *m);
/** @brief Unpack an EVENT payload. */
tu_status tu_proto_event_unpack(const uint8_t *src, size_t len, tu_proto_event_msg *m);
/** @brief Pack a STATS payload (TU_PROTO_LEN_STATS bytes). */
size_t tu_proto_stats_pack(uint8_t *dst, size_t cap, const tu_proto_stats *m);
/** @brief Unpack a STATS payload. */
tu_status tu_proto_stats_unpack(const uint8_t *src, size_t len, tu_proto_stats *m);
/** @brief Pack a STATE payload: step index and @p n float32 values (bits copied). */
size_t tu_proto_state_pack(uint8_t *dst, size_t cap, uint32_t step, const float *x, uint16_t n);
/** @brief Unpack a STATE payload into @p x (room for @p cap values); sets @p step and @p n. */
tu_status tu_proto_state_unpack(const uint8_t *src, size_t len, uint32_t *step, float *x,
                                uint16_t cap, uint16_t *n);
/** @brief Pack an ERROR payload (code, seq of the frame it refers to). */
size_t tu_proto_error_pack(uint8_t *dst, size_t cap, uint8_t code, uint8_t ref_seq);
/** @brief Unpack an ERROR payload. */
tu_status tu_proto_error_unpack(const uint8_t *src, size_t len, uint8_t *code, uint8_t *ref_seq);
/** @brief Pack a FAULT payload: the NUL-terminated @p line, cut at TU_PROTO_MAX_FAULT bytes. */
size_t tu_proto_fault_pack(uint8_t *dst, size_t cap, const char *line);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_PROTOCOL_H */
