/* tinyunfold HAL for the host (x86-64) build of the same programs: stdio files, stderr console,
 * a monotonic-clock counter in nanoseconds (host timings are informative only). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tinyunfold/hal.h"

#define MAX_FILES 8
static FILE *files[MAX_FILES];
static struct timespec t0;

void tu_hal_init(void) {
}

void tu_hal_console_write(const char *text, size_t len) {
    fwrite(text, 1, len, stderr);
}

int tu_hal_file_open(const char *name, int write) {
    for (int i = 0; i < MAX_FILES; ++i) {
        if (files[i] == NULL) {
            files[i] = fopen(name, write ? "wb" : "rb");
            return files[i] ? i : -1;
        }
    }
    return -1;
}

long tu_hal_file_length(int h) {
    if (h < 0 || h >= MAX_FILES || !files[h]) {
        return -1;
    }
    long pos = ftell(files[h]);
    fseek(files[h], 0, SEEK_END);
    long len = ftell(files[h]);
    fseek(files[h], pos, SEEK_SET);
    return len;
}

int tu_hal_file_read(int h, void *buf, size_t len) {
    return (h >= 0 && h < MAX_FILES && files[h] && fread(buf, 1, len, files[h]) == len) ? 0 : -1;
}

int tu_hal_file_write(int h, const void *buf, size_t len) {
    return (h >= 0 && h < MAX_FILES && files[h] && fwrite(buf, 1, len, files[h]) == len) ? 0 : -1;
}

void tu_hal_file_close(int h) {
    if (h >= 0 && h < MAX_FILES && files[h]) {
        fclose(files[h]);
        files[h] = NULL;
    }
}

void tu_hal_serial_write(const uint8_t *data, size_t len) {
    fwrite(data, 1, len, stdout);
    fflush(stdout);
}

uint8_t tu_hal_serial_read(void) {
    int c = getchar();
    if (c == EOF) {
        tu_hal_exit(TU_EXIT_OK);
    }
    return (uint8_t)c;
}

void tu_hal_counter_start(void) {
    clock_gettime(CLOCK_MONOTONIC, &t0);
}

uint64_t tu_hal_counter_ticks(void) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
}

void tu_hal_exit(int code) {
    exit(code);
}
