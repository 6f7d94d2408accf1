/*
 * Detector firmware: audio in, hits out (protocol v2, docs/protocol.md "Detector firmware").
 * One program per trained detector model; the host twin is host/tinyunfold/golden/stream.py.
 *
 * AUDIO (start sample, int16 PCM) -> for every sample: PCM ring; every TU_MODEL_HOP samples, once
 * TU_MODEL_N_FFT are in, one front-end frame (x 2^-15, tu_detector_frame: window, rfft, power,
 * bands, input_scale) into a ring of TU_MODEL_WINDOW frames; every TU_MODEL_STRIDE frames the
 * window X~ (bands x frames) -> tu_model_forward -> tu_detector_decide -> dedupe -> EVENT per hit.
 * Warm start (golden/stream.py): when the model's TU_MODEL_WARM_STRIDE equals TU_MODEL_STRIDE,
 * window w > 0 of a stream runs tu_model_forward_warm from window w-1's H⁽ᴷ⁾ (window_h); window 0,
 * a new stream (AUDIO at sample 0) and a window after a failed forward pass start cold.
 * The AUDIO frame is processed completely before its CREDIT reply, so the host (which sends the
 * next AUDIO only within the credit) never overruns the device; audio past the credit or after a
 * gap is counted in overruns and named by ERROR, never dropped silently.
 * HELLO -> INFO, GET_STATS -> STATS (ticks per window, stack high-water mark), BYE -> BYE_ACK.
 */
#include <stdint.h>
#include <string.h>

#include "tinyunfold/detector.h"
#include "tinyunfold/hal.h"
#include "tinyunfold/model.h"
#include "tinyunfold/protocol.h"

#ifndef TU_MODEL_DETECTOR
#error "the detector program needs a detector model (tinyunfold build refuses others)"
#endif

#define N_FFT TU_MODEL_N_FFT
#define HOP TU_MODEL_HOP
#define WIN TU_MODEL_WINDOW
#define STRIDE TU_MODEL_STRIDE
#define BANDS TU_MODEL_N_BINS
#define N_CLASSES TU_MODEL_N_CLASSES
#define NO_ONSET 0xFFFFFFFFUL
#define STACK_PAINT 0xA5A5A5A5UL
#define CREDIT_SAMPLES TU_PROTO_AUDIO_MAX_SAMPLES

#if (N_FFT & (N_FFT - 1U)) != 0U
#error "n_fft must be a power of two"
#endif
#if N_CLASSES > TU_DETECTOR_MAX_CLASSES || N_CLASSES > TU_PROTO_INFO_MAX_CLASSES
#error "too many classes for INFO"
#endif
#if TU_MODEL_IN_LEN != BANDS * WIN
#error "the model's input block must be one bands x frames window"
#endif
#if defined(TU_MODEL_WARM_STRIDE) && (TU_MODEL_WARM_STRIDE > 0U) &&                                \
    (TU_MODEL_WARM_STRIDE == TU_MODEL_STRIDE)
#define WARM_START 1
#else
#define WARM_START 0
#endif

/* Linker symbols of the stack (boards/common/mps2.ld, boards/stm32/stm32f*.ld); weak: the host
 * build has none and reports stack_hwm 0 (not measured). */
extern uint32_t __StackLimit[] __attribute__((weak));
extern uint32_t __StackTop[] __attribute__((weak));

static uint8_t rx_payload[TU_PROTO_MAX_AUDIO];
static uint8_t tx_frame[TU_PROTO_OVERHEAD + TU_PROTO_MAX_INFO];
static int16_t audio_in[TU_PROTO_AUDIO_MAX_SAMPLES];
static int16_t pcm[N_FFT];               /* PCM ring: sample i at i mod n_fft */
static float frame_in[N_FFT];            /* one frame as float32 */
static float frames[WIN][BANDS];         /* frame ring: frame j at j mod WIN */
static float window_x[BANDS * WIN];      /* X~, row-major bands x frames */
static float window_h[TU_MODEL_OUT_LEN]; /* H⁽ᴷ⁾ of the last window (the warm start's source) */
static int window_h_valid;               /* window_h holds the previous window of this stream */
static uint32_t last_onset[N_CLASSES];   /* dedupe: absolute onset of the last event per class */

static uint32_t next_sample; /* samples received */
static uint32_t next_frame;  /* index of the next frame to compute */
static uint32_t next_window; /* index of the next window to complete */
static uint64_t frame_ticks; /* totals, printed on the console at BYE */
static uint64_t window_ticks;
static uint32_t n_events;
static tu_proto_stats stats;
static uint8_t credit_seq;
static uint16_t credit_crc;
static int credit_valid;
static tu_proto_credit last_credit;

static void send(uint8_t type, uint8_t seq, const void *payload, size_t len) {
    const void *parts[1] = {payload};
    const size_t sizes[1] = {len};
    const size_t n = tu_proto_encode(tx_frame, type, seq, parts, sizes, len > 0U ? 1U : 0U);
    tu_hal_serial_write(tx_frame, n);
}

static void send_error(uint8_t seq, uint8_t code) {
    uint8_t p[TU_PROTO_LEN_ERROR];
    (void)tu_proto_error_pack(p, sizeof p, code, seq);
    send(TU_MSG_ERROR, seq, p, sizeof p);
}

static void send_info(uint8_t seq) {
    static const char kind[] = TU_MODEL_KIND;
    static const char *const names[N_CLASSES] = TU_MODEL_CLASS_NAMES;
    static const uint8_t hash[8] = TU_MODEL_HASH8;
    static uint8_t p[TU_PROTO_MAX_INFO];
    tu_proto_info m;
    memset(&m, 0, sizeof m);
    m.proto = TU_PROTO_VERSION;
    m.abi = TU_RUNTIME_ABI_VERSION;
    m.in_len = TU_MODEL_IN_LEN;
    m.out_len = TU_MODEL_OUT_LEN;
    m.sample_rate = TU_MODEL_SAMPLE_RATE;
    m.hop = HOP;
    m.window = WIN;
    m.stride = STRIDE;
    memcpy(m.model_hash, hash, 8U);
    m.kind = kind;
    m.kind_len = (uint8_t)(sizeof kind - 1U);
    m.n_classes = N_CLASSES;
    for (uint32_t c = 0U; c < N_CLASSES; ++c) {
        m.class_names[c] = names[c];
        m.class_len[c] = (uint8_t)strlen(names[c]);
    }
    send(TU_MSG_INFO, seq, p, tu_proto_info_pack(p, sizeof p, &m));
}

static void stack_paint(void) {
    if ((uintptr_t)__StackLimit == 0U) {
        return;
    }
    /* paint from the stack's bottom up to 256 bytes below the current frame */
    volatile uint32_t *p = __StackLimit;
    const uintptr_t stop = (uintptr_t)__builtin_frame_address(0) - 256U;
    while ((uintptr_t)p < stop) {
        *p++ = STACK_PAINT;
    }
}

static uint32_t stack_hwm(void) {
    if ((uintptr_t)__StackLimit == 0U) {
        return 0U;
    }
    const volatile uint32_t *p = __StackLimit;
    while (p < __StackTop && *p == STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__StackTop - (uintptr_t)p);
}

static void send_stats(uint8_t seq, const tu_proto_parser *P) {
    uint8_t p[TU_PROTO_LEN_STATS];
    tu_proto_stats s = stats;
    s.frames_ok = P->frames_ok;
    s.crc_errors = P->crc_errors;
    s.length_errors += P->length_errors;
    s.resyncs = P->resyncs;
    s.stack_hwm = stack_hwm();
    (void)tu_proto_stats_pack(p, sizeof p, &s);
    send(TU_MSG_STATS, seq, p, sizeof p);
}

/* The window that just completed: X~ from the ring, forward pass, decision, dedupe, EVENTs. */
static tu_status run_window(void) {
    const uint32_t w = next_window;
    const uint32_t first = w * STRIDE;
    tu_detector_hits hits;
    tu_hal_counter_start();
    for (uint32_t b = 0U; b < BANDS; ++b) {
        for (uint32_t k = 0U; k < WIN; ++k) {
            window_x[b * WIN + k] = frames[(first + k) % WIN][b];
        }
    }
#if WARM_START
    /* pPrev may be pDst: tu_model_forward_warm reads it into H⁽⁰⁾ before it writes H⁽ᴷ⁾ */
    tu_status st = tu_model_forward_warm(window_x, window_h_valid ? window_h : NULL, window_h);
#else
    tu_status st = tu_model_forward(window_x, window_h);
#endif
    window_h_valid = (st == TU_OK);
    if (st == TU_OK) {
        st = tu_detector_decide(window_x, window_h, &hits); /* X~ and H of the window */
    }
    const uint64_t ticks = tu_hal_counter_ticks();
    window_ticks += ticks;
    stats.ticks_last = ticks;
    stats.ticks_max = (ticks > stats.ticks_max) ? ticks : stats.ticks_max;
    next_window++;
    if (st != TU_OK) {
        return st;
    }
    for (uint16_t i = 0U; i < hits.n_hits; ++i) {
        const uint16_t c = hits.hit_class[i];
        const uint32_t onset = first + hits.onset_frame[i];
        if (last_onset[c] == onset) {
            continue; /* dedupe: the same hit seen by an earlier overlapping window */
        }
        last_onset[c] = onset;
        tu_proto_event_msg e;
        uint8_t p[TU_PROTO_LEN_EVENT];
        e.window = w;
        e.start_sample = first * HOP;
        e.class_index = c;
        e.onset_frame = hits.onset_frame[i];
        memcpy(&e.score_bits, &hits.score[i], 4U);
        memcpy(&e.thresh_bits, &hits.threshold[i], 4U);
        (void)tu_proto_event_pack(p, sizeof p, &e);
        send(TU_MSG_EVENT, 0U, p, sizeof p);
        n_events++;
    }
    return TU_OK;
}

/* One sample in; a frame when n_fft samples since the frame's start are in; a window when its
 * last frame is in. */
static tu_status push_sample(int16_t s) {
    pcm[next_sample & (N_FFT - 1U)] = s;
    next_sample++;
    if (next_sample != next_frame * HOP + N_FFT) {
        return TU_OK;
    }
    const uint32_t start = next_frame * HOP;
    tu_hal_counter_start();
    for (uint32_t k = 0U; k < N_FFT; ++k) {
        frame_in[k] = (float)pcm[(start + k) & (N_FFT - 1U)] * TU_MODEL_PCM_SCALE; /* exact */
    }
    const tu_status st = tu_detector_frame(frame_in, frames[next_frame % WIN]);
    frame_ticks += tu_hal_counter_ticks();
    if (st != TU_OK) {
        return st;
    }
    const uint32_t j = next_frame++;
    if (j == next_window * STRIDE + WIN - 1U) {
        return run_window();
    }
    return TU_OK;
}

static void send_credit(uint8_t seq) {
    uint8_t p[TU_PROTO_LEN_CREDIT];
    last_credit.next_sample = next_sample;
    last_credit.credit = CREDIT_SAMPLES;
    last_credit.overruns = stats.overruns;
    (void)tu_proto_credit_pack(p, sizeof p, &last_credit);
    send(TU_MSG_CREDIT, seq, p, sizeof p);
}

static void audio(const tu_proto_parser *P) {
    uint32_t start;
    uint16_t n;
    if (credit_valid && credit_seq == P->seq && credit_crc == P->crc) {
        stats.duplicates++; /* the host's retry: its CREDIT was lost, the audio is in */
        send_credit(P->seq);
        return;
    }
    if (tu_proto_audio_unpack(rx_payload, P->len, &start, audio_in, TU_PROTO_AUDIO_MAX_SAMPLES,
                              &n) != TU_OK) {
        stats.length_errors++;
        send_error(P->seq, TU_PROTO_ERR_LENGTH);
        return;
    }
    if (start == 0U && next_sample > 0U) { /* a new stream (another client): start over */
        next_sample = 0U;
        next_frame = 0U;
        next_window = 0U;
        window_h_valid = 0; /* its first window starts cold */
        if (tu_detector_reset() != TU_OK) {
            send_error(P->seq, TU_PROTO_ERR_MODEL);
            return;
        }
        for (uint32_t c = 0U; c < N_CLASSES; ++c) {
            last_onset[c] = NO_ONSET;
        }
    }
    if (start > next_sample) { /* a gap: the missing samples are counted, the frame refused */
        stats.overruns += start - next_sample;
        send_error(P->seq, TU_PROTO_ERR_GAP);
        return;
    }
    if ((uint64_t)start + n > (uint64_t)next_sample + CREDIT_SAMPLES) {
        stats.overruns += n;
        send_error(P->seq, TU_PROTO_ERR_OVERRUN);
        return;
    }
    for (uint32_t i = next_sample - start; i < n; ++i) { /* samples already in are skipped */
        if (push_sample(audio_in[i]) != TU_OK) {
            send_error(P->seq, TU_PROTO_ERR_MODEL);
            return;
        }
    }
    credit_seq = P->seq;
    credit_crc = P->crc;
    credit_valid = 1;
    send_credit(P->seq);
}

static char *append_u64(char *q, const char *label, uint64_t v) {
    char digits[24];
    uint32_t nd = 0U;
    while (*label != '\0') {
        *q++ = *label++;
    }
    do {
        digits[nd++] = (char)('0' + (int)(v % 10U));
        v /= 10U;
    } while (v != 0U);
    while (nd > 0U) {
        *q++ = digits[--nd];
    }
    return q;
}

/* Console (semihosting) totals at BYE, read by `tinyunfold run` and the bench. */
static void print_summary(void) {
    static char line[192];
    char *q = line;
    q = append_u64(q, "TU_DETECTOR samples=", next_sample);
    q = append_u64(q, " frames=", next_frame);
    q = append_u64(q, " windows=", next_window);
    q = append_u64(q, " events=", n_events);
    q = append_u64(q, " frame_ticks=", frame_ticks);
    q = append_u64(q, " window_ticks=", window_ticks);
    *q++ = '\n';
    tu_hal_console_write(line, (size_t)(q - line));
}

int main(void) {
    tu_proto_parser parser;
    stack_paint();
    tu_hal_init();
    if (tu_model_init() != TU_OK || tu_detector_init() != TU_OK) {
        return TU_EXIT_APP_ERROR;
    }
    for (uint32_t c = 0U; c < N_CLASSES; ++c) {
        last_onset[c] = NO_ONSET;
    }
    tu_proto_parser_init(&parser, rx_payload, (uint16_t)sizeof rx_payload);
    send_info(0U); /* ready */
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
            send_error(0U, TU_PROTO_ERR_TYPE);
        } else if (ev == TU_PROTO_FRAME) {
            switch (parser.type) {
            case TU_MSG_HELLO:
                send_info(parser.seq);
                break;
            case TU_MSG_AUDIO:
                audio(&parser);
                break;
            case TU_MSG_GET_STATS:
                send_stats(parser.seq, &parser);
                break;
            case TU_MSG_BYE:
                send(TU_MSG_BYE_ACK, parser.seq, NULL, 0U);
                print_summary();
                return TU_EXIT_OK;
            default: /* INFER, GET_STATE: not served by the detector program */
                send_error(parser.seq, TU_PROTO_ERR_TYPE);
                break;
            }
        }
    }
}
