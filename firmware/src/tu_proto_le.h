/* Little-endian field access for the protocol payloads (private to firmware/src/tu_proto_*.c). */
#ifndef TU_PROTO_LE_H
#define TU_PROTO_LE_H

#include <stdint.h>
#include <string.h>

static inline void tu_le_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xFFU);
    p[1] = (uint8_t)(v >> 8);
}
static inline void tu_le_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        p[i] = (uint8_t)((v >> (8 * i)) & 0xFFU);
    }
}
static inline void tu_le_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; ++i) {
        p[i] = (uint8_t)((v >> (8 * i)) & 0xFFU);
    }
}
static inline uint16_t tu_le_get16(const uint8_t *p) {
    return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}
static inline uint32_t tu_le_get32(const uint8_t *p) {
    uint32_t v = 0U;
    for (int i = 3; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}
static inline uint64_t tu_le_get64(const uint8_t *p) {
    uint64_t v = 0U;
    for (int i = 7; i >= 0; --i) {
        v = (v << 8) | p[i];
    }
    return v;
}
static inline uint32_t tu_le_f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4U);
    return u;
}
static inline float tu_le_bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4U);
    return x;
}

#endif /* TU_PROTO_LE_H */
