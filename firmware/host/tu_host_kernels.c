/*
 * Host-only entry point into the kernel test-vector dispatcher (kernel_vectors.h) for ctypes:
 * the same C as the board program, with memory buffers instead of semihosting files.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernel_vectors.h"

typedef struct {
    const uint8_t *in;
    size_t in_len;
    size_t in_pos;
    uint8_t *out;
    size_t out_cap;
    size_t out_len;
} kv_mem;

static int mem_read(void *ctx, void *buf, size_t len) {
    kv_mem *m = (kv_mem *)ctx;
    if (len > m->in_len - m->in_pos) {
        return -1;
    }
    memcpy(buf, m->in + m->in_pos, len);
    m->in_pos += len;
    return 0;
}

static int mem_write(void *ctx, const void *buf, size_t len) {
    kv_mem *m = (kv_mem *)ctx;
    if (len > m->out_cap - m->out_len) {
        return -1;
    }
    memcpy(m->out + m->out_len, buf, len);
    m->out_len += len;
    return 0;
}

/**
 * @brief Run one kernel-vector operation from memory.
 * @param[out] out_len bytes written to @p out
 * @return 0, or a TU_KV_* code
 */
int tu_host_kernel_vectors(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
                           size_t *out_len) {
    kv_mem m = {in, in_len, 0U, out, out_cap, 0U};
    const tu_kv_io io = {mem_read, mem_write, &m};
    const int rc = tu_kv_run(&io);
    *out_len = m.out_len;
    return rc;
}
