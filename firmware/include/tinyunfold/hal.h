/**
 * @file hal.h
 * @brief The one hardware interface firmware uses. Each board (boards/<name>/) implements it;
 *        firmware never includes a board header.
 */
#ifndef TINYUNFOLD_HAL_H
#define TINYUNFOLD_HAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Exit codes shared by every board and checked by the host runners. */
enum {
    TU_EXIT_OK = 0,
    TU_EXIT_APP_ERROR = 1,   /**< the application reported a failure */
    TU_EXIT_BAD_INPUT = 2,   /**< test vectors missing or of the wrong size */
    TU_EXIT_HARDFAULT = 100, /**< a fault handler ran */
};

/** @brief Bring up clocks, console and counters. Called once by main(). */
void tu_hal_init(void);

/** @brief Write @p len bytes of text to the debug console (semihosting under QEMU). */
void tu_hal_console_write(const char *text, size_t len);

/**
 * @brief Open a host-side file of test vectors or results.
 * @param[in] name  file name, relative to the runner's working directory
 * @param[in] write 0 to read, 1 to create/truncate for writing
 * @return a handle >= 0, or -1 when the file cannot be opened
 */
int tu_hal_file_open(const char *name, int write);
/** @brief Length in bytes of an open file, or -1. */
long tu_hal_file_length(int handle);
/** @brief Read exactly @p len bytes; returns 0 on success, -1 on a short read. */
int tu_hal_file_read(int handle, void *buf, size_t len);
/** @brief Write exactly @p len bytes; returns 0 on success, -1 on failure. */
int tu_hal_file_write(int handle, const void *buf, size_t len);
/** @brief Close an open file. */
void tu_hal_file_close(int handle);

/** @brief Serial link (the streaming protocol): write bytes, blocking. */
void tu_hal_serial_write(const uint8_t *data, size_t len);
/** @brief Serial link: read one byte, blocking. */
uint8_t tu_hal_serial_read(void);

/** @brief Restart the free-running measurement counter. */
void tu_hal_counter_start(void);
/**
 * @brief Counter ticks since tu_hal_counter_start(), 64-bit (long runs wrap a 32-bit timer);
 *        the board metadata says what a tick is.
 */
uint64_t tu_hal_counter_ticks(void);

/** @brief Stop the program with an exit status visible to the host runner. */
__attribute__((noreturn)) void tu_hal_exit(int code);

#ifdef __cplusplus
}
#endif
#endif /* TINYUNFOLD_HAL_H */
