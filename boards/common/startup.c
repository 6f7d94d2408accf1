/*
 * Startup for the MPS2 Cortex-M boards: vector table, reset handler, fault handlers.
 * The FPU is enabled through CPACR before any C code can touch a float register.
 */
#include <stdint.h>

#include "mps2_board.h"
#include "tinyunfold/hal.h"

extern uint32_t __etext, __data_start__, __data_end__, __bss_start__, __bss_end__, __StackTop;
extern int main(void);

void Reset_Handler(void);
void HardFault_Handler(void);
void Default_Handler(void);
void TIMER0_Handler(void);
void TIMER1_Handler(void);

__attribute__((naked, noreturn)) void Reset_Handler(void) {
    __asm volatile(
        /* CPACR (0xE000ED88): CP10 and CP11 full access, then barriers. */
        "ldr r0, =0xE000ED88\n"
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
        "b tu_c_startup\n");
}

__attribute__((noreturn, used)) void tu_c_startup(void) {
    uint32_t *src = &__etext;
    for (uint32_t *dst = &__data_start__; dst < &__data_end__;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start__; dst < &__bss_end__;) {
        *dst++ = 0U;
    }
    int rc = main();
    tu_hal_exit(rc);
}

/* Reports the faulting context on the console and exits non-zero (never 0: a fault must fail). */
__attribute__((used)) void tu_fault_report(uint32_t *frame, uint32_t exc) {
    mps2_fault_report(frame, exc);
    tu_hal_exit(TU_EXIT_HARDFAULT);
}

__attribute__((naked)) void HardFault_Handler(void) {
    __asm volatile("tst lr, #4\n"
                   "ite eq\n"
                   "mrseq r0, msp\n"
                   "mrsne r0, psp\n"
                   "mrs r1, ipsr\n"
                   "b tu_fault_report\n");
}

/* Every other exception is reported the same way: a tail branch keeps LR (EXC_RETURN) intact. */
__attribute__((naked)) void Default_Handler(void) {
    __asm volatile("b HardFault_Handler\n");
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16 + 32])(void) = {
    (void (*)(void))(&__StackTop),
    Reset_Handler,
    Default_Handler,   /* NMI */
    HardFault_Handler, /* HardFault */
    Default_Handler,   /* MemManage */
    Default_Handler,   /* BusFault */
    Default_Handler,   /* UsageFault */
    0,
    0,
    0,
    0,
    Default_Handler, /* SVC */
    Default_Handler, /* DebugMon */
    0,
    Default_Handler, /* PendSV */
    Default_Handler, /* SysTick */
    [16 ... 16 + MPS2_TIMER0_IRQ - 1] = Default_Handler,
    [16 + MPS2_TIMER0_IRQ] = TIMER0_Handler, /* wraps of the measurement counter */
    [16 + MPS2_TIMER1_IRQ] = TIMER1_Handler, /* heartbeat while waiting for serial input */
    [16 + MPS2_TIMER1_IRQ + 1 ... 47] = Default_Handler,
};
