/*
 * Test-vector runner: reads blocks from "input.bin" (host file via the HAL), runs the generated
 * model on each, writes "output.bin", and prints one result line with the measured counter ticks
 * of the first forward pass. Built identically for every board (host included).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tinyunfold/hal.h"
#include "tinyunfold/model.h"

static float in_block[TU_MODEL_IN_LEN];
static float out_block[TU_MODEL_OUT_LEN];

static void say(const char *msg) {
    tu_hal_console_write(msg, strlen(msg));
}

int main(void) {
    char line[128];
    tu_hal_init();
    if (tu_model_init() != TU_OK) {
        say("TU_ERROR model init failed\n");
        return TU_EXIT_APP_ERROR;
    }
    int fin = tu_hal_file_open("input.bin", 0);
    if (fin < 0) {
        say("TU_ERROR cannot open input.bin\n");
        return TU_EXIT_BAD_INPUT;
    }
    const long len = tu_hal_file_length(fin);
    const long block_bytes = (long)sizeof(in_block);
    if (len <= 0 || len % block_bytes != 0) {
        snprintf(line, sizeof line, "TU_ERROR input.bin has %ld bytes, not a multiple of %ld\n",
                 len, block_bytes);
        say(line);
        return TU_EXIT_BAD_INPUT;
    }
    int fout = tu_hal_file_open("output.bin", 1);
    if (fout < 0) {
        say("TU_ERROR cannot create output.bin\n");
        return TU_EXIT_BAD_INPUT;
    }
    const long blocks = len / block_bytes;
    uint64_t first_ticks = 0U;
    for (long b = 0; b < blocks; ++b) {
        if (tu_hal_file_read(fin, in_block, sizeof in_block) != 0) {
            say("TU_ERROR short read on input.bin\n");
            return TU_EXIT_BAD_INPUT;
        }
        tu_hal_counter_start();
        const tu_status st = tu_model_forward(in_block, out_block);
        const uint64_t ticks = tu_hal_counter_ticks();
        if (b == 0) {
            first_ticks = ticks;
        }
        if (st != TU_OK) {
            snprintf(line, sizeof line, "TU_ERROR forward returned %d on block %ld\n", (int)st, b);
            say(line);
            return TU_EXIT_APP_ERROR;
        }
        if (tu_hal_file_write(fout, out_block, sizeof out_block) != 0) {
            say("TU_ERROR write to output.bin failed\n");
            return TU_EXIT_APP_ERROR;
        }
    }
    tu_hal_file_close(fin);
    tu_hal_file_close(fout);
    /* newlib-nano's printf has no %llu: the 64-bit count goes out as two 32-bit halves. */
    snprintf(line, sizeof line, "TU_RESULT blocks=%ld ticks_hi=%lu ticks_lo=%lu\n", blocks,
             (unsigned long)(first_ticks >> 32), (unsigned long)(first_ticks & 0xFFFFFFFFU));
    say(line);
    return TU_EXIT_OK;
}
