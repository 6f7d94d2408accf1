/*
 * Startup for the STM32 boards (F405/F407, F746): vector table in flash at 0x08000000, reset
 * handler, fault handlers. The FPU is enabled through CPACR before any C code can touch a float
 * register; VTOR is pointed at this table (a debugger may start the program without a reset).
 * The clock tree is brought up later by tu_hal_init() (hal_stm32.c).
 */
#include <stdint.h>

#include "stm32_board.h"
#include "tinyunfold/hal.h"

extern uint32_t __etext, __data_start__, __data_end__, __bss_start__, __bss_end__, __StackTop;
extern int main(void);

void Reset_Handler(void);
void HardFault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

#define TU_STM32_IRQS 98 /* F746: 98 external interrupts; the F405's 82 fit in the same table */

__attribute__((section(".vectors"), used)) void (*const tu_vectors[16 + TU_STM32_IRQS])(void) = {
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
    SysTick_Handler, /* wraps of the measurement counter */
    [16 ... 16 + TU_STM32_IRQS - 1] = Default_Handler,
};

__attribute__((naked, noreturn)) void Reset_Handler(void) {
    __asm volatile(
        /* CPACR (0xE000ED88): CP10 and CP11 full access, then barriers. */
        "ldr r0, =0xE000ED88\n"
        "ldr r1, [r0]\n"
        "orr r1, r1, #(0xF << 20)\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
        /* SP from the table: a debugger that starts us at Reset_Handler may leave any SP. */
        "ldr r0, =tu_vectors\n"
        "ldr r1, [r0]\n"
        "mov sp, r1\n"
        "b tu_c_startup\n");
}

__attribute__((noreturn, used)) void tu_c_startup(void) {
    SCB_VTOR = (uint32_t)(uintptr_t)tu_vectors;
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

/* Reports the faulting context (UART, and semihosting in simulation) and exits non-zero. */
__attribute__((used)) void tu_fault_report(uint32_t *frame, uint32_t exc) {
    stm32_fault_report(frame, exc);
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
