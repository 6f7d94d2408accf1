/**
 * @file kernel_vectors.h
 * @brief Test-vector dispatcher for kernels that have no generated model around them (mathf,
 *        detection): one operation per input stream, little-endian 32-bit words in and out.
 *        Shared by the board program (kernels_main.c, semihosting files) and the host library
 *        (firmware/host/tu_host_kernels.c, memory buffers through ctypes). Format:
 *        host/tinyunfold/tools/kernelvectors.py.
 */
#ifndef TINYUNFOLD_KERNEL_VECTORS_H
#define TINYUNFOLD_KERNEL_VECTORS_H

#include <stddef.h>

enum {
    TU_KV_LOGF = 1U,   /**< n, x[n]             -> tu_logf(x)[n] */
    TU_KV_EXPF = 2U,   /**< n, x[n]             -> tu_expf(x)[n] */
    TU_KV_POWF = 3U,   /**< n, (x, y)[n]        -> tu_powf(x, y)[n] */
    TU_KV_DETECT = 4U, /**< detector + windows  -> indices, shifts, hits (+ latent, UR hits) */
};

/** Result of tu_kv_run: 0 success, else one of these. */
enum {
    TU_KV_BAD_INPUT = 1, /**< short read, unknown operation or sizes over the static limits */
    TU_KV_KERNEL = 2,    /**< a kernel returned an error status */
    TU_KV_WRITE = 3,     /**< the output could not be written */
};

typedef struct {
    int (*read)(void *ctx, void *buf, size_t len);        /**< exactly len bytes, 0 on success */
    int (*write)(void *ctx, const void *buf, size_t len); /**< 0 on success */
    void *ctx;
} tu_kv_io;

/** @brief Run the one operation of the input stream. */
int tu_kv_run(const tu_kv_io *io);

#endif /* TINYUNFOLD_KERNEL_VECTORS_H */
