/*
 * Kernel test-vector program: runs the one operation in "input.bin" (kernel_vectors.h) and writes
 * "output.bin" through the HAL's host files; prints "TU_RESULT kernels ok" or a TU_ERROR line.
 * Built for every board (host included) without any generated model.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kernel_vectors.h"
#include "tinyunfold/hal.h"

typedef struct {
    int fin;
    int fout;
} kv_files;

static int file_read(void *ctx, void *buf, size_t len) {
    return tu_hal_file_read(((kv_files *)ctx)->fin, buf, len);
}

static int file_write(void *ctx, const void *buf, size_t len) {
    return tu_hal_file_write(((kv_files *)ctx)->fout, buf, len);
}

static void say(const char *msg) {
    tu_hal_console_write(msg, strlen(msg));
}

int main(void) {
    char line[96];
    tu_hal_init();
    kv_files files;
    files.fin = tu_hal_file_open("input.bin", 0);
    if (files.fin < 0) {
        say("TU_ERROR cannot open input.bin\n");
        return TU_EXIT_BAD_INPUT;
    }
    files.fout = tu_hal_file_open("output.bin", 1);
    if (files.fout < 0) {
        say("TU_ERROR cannot create output.bin\n");
        return TU_EXIT_BAD_INPUT;
    }
    const tu_kv_io io = {file_read, file_write, &files};
    tu_hal_counter_start();
    const int rc = tu_kv_run(&io);
    const uint64_t ticks = tu_hal_counter_ticks();
    tu_hal_file_close(files.fin);
    tu_hal_file_close(files.fout);
    if (rc != 0) {
        snprintf(line, sizeof line, "TU_ERROR kernel vectors failed with code %d\n", rc);
        say(line);
        return (rc == TU_KV_BAD_INPUT) ? TU_EXIT_BAD_INPUT : TU_EXIT_APP_ERROR;
    }
    snprintf(line, sizeof line, "TU_RESULT kernels ok ticks_hi=%lu ticks_lo=%lu\n",
             (unsigned long)(ticks >> 32), (unsigned long)(ticks & 0xFFFFFFFFU));
    say(line);
    return TU_EXIT_OK;
}
