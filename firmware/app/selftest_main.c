/*
 * Board self-tests for the runners: TU_SELFTEST_FAULT reads from an unmapped address (a HardFault
 * that must end the run with TU_EXIT_HARDFAULT), TU_SELFTEST_HANG never returns (the runner's time
 * limit must stop it), TU_SELFTEST_FPU checks the FPU is enabled and IEEE (round to nearest,
 * subnormals kept) and exits 0.
 */
#include <stdint.h>
#include <string.h>

#include "tinyunfold/hal.h"

static void say(const char *msg) {
    tu_hal_console_write(msg, strlen(msg));
}

int main(void) {
    tu_hal_init();
#if defined(TU_SELFTEST_FAULT)
    say("TU_SELFTEST fault: reading 0xF0000000\n");
    volatile uint32_t *bad = (volatile uint32_t *)0xF0000000UL;
    return (int)*bad;
#elif defined(TU_SELFTEST_HANG)
    say("TU_SELFTEST hang\n");
    for (;;) {
        __asm volatile("nop");
    }
#else
    volatile float tiny = 1e-38f, third = 1.0f / 3.0f;
    const float sub = tiny / 16.0f; /* subnormal, not flushed to zero */
    const float r = third * 3.0f;
    if (sub == 0.0f || r != 1.0f) {
        say("TU_SELFTEST fpu: FAILED\n");
        return TU_EXIT_APP_ERROR;
    }
    say("TU_SELFTEST fpu: ok\n");
    return TU_EXIT_OK;
#endif
}
