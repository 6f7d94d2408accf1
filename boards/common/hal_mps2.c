/*
 * tinyunfold HAL for the MPS2 boards under QEMU: console and test-vector files through ARM
 * semihosting, the serial link on CMSDK UART0, measurement on CMSDK TIMER0 (25 MHz;
 * 32-bit, extended to 64 bits by counting its wrap interrupts).
 */
#include <stdint.h>
#include <string.h>

#include "mps2_board.h"
#include "tinyunfold/hal.h"

#define REG32(addr) (*(volatile uint32_t *)(addr))
#define UART_DATA REG32(MPS2_UART0_BASE + 0x00)
#define UART_STATE REG32(MPS2_UART0_BASE + 0x04)
#define UART_CTRL REG32(MPS2_UART0_BASE + 0x08)
#define UART_BAUDDIV REG32(MPS2_UART0_BASE + 0x10)
#define UART_STATE_TXFULL 0x1U
#define UART_STATE_RXFULL 0x2U
#define TIMER_CTRL REG32(MPS2_TIMER0_BASE + 0x00)
#define TIMER_VALUE REG32(MPS2_TIMER0_BASE + 0x04)
#define TIMER_RELOAD REG32(MPS2_TIMER0_BASE + 0x08)
#define TIMER_INTCLEAR REG32(MPS2_TIMER0_BASE + 0x0C)
#define TIMER_CTRL_ENABLE 0x1U
#define TIMER_CTRL_IRQ 0x8U
#define NVIC_ISER0 REG32(0xE000E100UL)

#define TIMER1_CTRL REG32(MPS2_TIMER1_BASE + 0x00)
#define TIMER1_VALUE REG32(MPS2_TIMER1_BASE + 0x04)
#define TIMER1_RELOAD REG32(MPS2_TIMER1_BASE + 0x08)
#define TIMER1_INTCLEAR REG32(MPS2_TIMER1_BASE + 0x0C)
#define HEARTBEAT_TICKS 2500U /* 10 kHz at the 25 MHz APB clock */

static volatile uint32_t timer_wraps;

/* Heartbeat while waiting for serial input (see tu_hal_serial_read): nothing to do but clear. */
void TIMER1_Handler(void) {
    TIMER1_INTCLEAR = 1U;
}

/* TIMER0 reached zero (every 2^32 ticks): count the wrap. */
void TIMER0_Handler(void) {
    TIMER_INTCLEAR = 1U;
    timer_wraps = timer_wraps + 1U;
}

uint32_t mps2_semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void mps2_uart_init(void) {
    UART_BAUDDIV = 16U;
    UART_CTRL = 3U; /* TX and RX enable */
}

static int console_handle = -1;

void tu_hal_init(void) {
    /* ":tt" with mode 4 ("w") is the semihosting console. */
    static const char tt[] = ":tt";
    uint32_t args[3] = {(uint32_t)tt, 4U, 3U};
    console_handle = (int)mps2_semihost(SH_SYS_OPEN, args);
    mps2_uart_init();
    TIMER_CTRL = 0U;
}

void tu_hal_console_write(const char *text, size_t len) {
    if (console_handle < 0) {
        tu_hal_init();
    }
    uint32_t args[3] = {(uint32_t)console_handle, (uint32_t)text, (uint32_t)len};
    (void)mps2_semihost(SH_SYS_WRITE, args);
}

int tu_hal_file_open(const char *name, int write) {
    /* Modes: 1 = "rb", 5 = "wb". */
    uint32_t args[3] = {(uint32_t)name, write ? 5U : 1U, (uint32_t)strlen(name)};
    return (int)mps2_semihost(SH_SYS_OPEN, args);
}

long tu_hal_file_length(int handle) {
    uint32_t args[1] = {(uint32_t)handle};
    return (long)(int32_t)mps2_semihost(SH_SYS_FLEN, args);
}

int tu_hal_file_read(int handle, void *buf, size_t len) {
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)buf, (uint32_t)len};
    return mps2_semihost(SH_SYS_READ, args) == 0U ? 0 : -1; /* returns bytes NOT read */
}

int tu_hal_file_write(int handle, const void *buf, size_t len) {
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)buf, (uint32_t)len};
    return mps2_semihost(SH_SYS_WRITE, args) == 0U ? 0 : -1;
}

void tu_hal_file_close(int handle) {
    uint32_t args[1] = {(uint32_t)handle};
    (void)mps2_semihost(SH_SYS_CLOSE, args);
}

void tu_hal_serial_write(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; ++i) {
        while (UART_STATE & UART_STATE_TXFULL) {
        }
        UART_DATA = data[i];
    }
}

uint8_t tu_hal_serial_read(void) {
    if (!(UART_STATE & UART_STATE_RXFULL)) {
        /* QEMU's CMSDK UART model takes the next host byte only when its main loop re-polls the
         * chardev, which a drained RX register does not trigger; a periodic timer interrupt wakes
         * that loop. On hardware the heartbeat is harmless. It stops before any measured work. */
        TIMER1_CTRL = 0U;
        TIMER1_INTCLEAR = 1U;
        TIMER1_RELOAD = HEARTBEAT_TICKS;
        TIMER1_VALUE = HEARTBEAT_TICKS;
        NVIC_ISER0 = 1UL << MPS2_TIMER1_IRQ;
        TIMER1_CTRL = TIMER_CTRL_ENABLE | TIMER_CTRL_IRQ;
        while (!(UART_STATE & UART_STATE_RXFULL)) {
        }
        TIMER1_CTRL = 0U;
    }
    return (uint8_t)UART_DATA;
}

void tu_hal_counter_start(void) {
    TIMER_CTRL = 0U;
    TIMER_INTCLEAR = 1U;
    timer_wraps = 0U;
    TIMER_RELOAD = 0xFFFFFFFFU;
    TIMER_VALUE = 0xFFFFFFFFU;
    NVIC_ISER0 = 1UL << MPS2_TIMER0_IRQ;
    TIMER_CTRL = TIMER_CTRL_ENABLE | TIMER_CTRL_IRQ;
}

uint64_t tu_hal_counter_ticks(void) {
    uint32_t wraps, value;
    do { /* a wrap between the two reads would pair a new count with an old wrap number */
        wraps = timer_wraps;
        value = TIMER_VALUE;
    } while (wraps != timer_wraps);
    /* The timer counts down from 2^32 - 1 and reloads after 0: a period of 2^32 ticks. */
    return ((uint64_t)wraps << 32) + (uint64_t)(0xFFFFFFFFU - value);
}

void tu_hal_exit(int code) {
    uint32_t args[2] = {SH_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
    for (;;) {
        (void)mps2_semihost(SH_SYS_EXIT_EXTENDED, args);
    }
}

static char *put_hex(char *p, uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    for (int s = 28; s >= 0; s -= 4) {
        *p++ = digits[(v >> s) & 0xFU];
    }
    return p;
}

void mps2_fault_report(const uint32_t *frame, uint32_t exc) {
    char line[96];
    char *p = line;
    const char *head = "TU_FAULT exc=";
    memcpy(p, head, strlen(head));
    p = put_hex(p + strlen(head), exc);
    memcpy(p, " pc=", 4);
    p = put_hex(p + 4, frame[6]);
    memcpy(p, " cfsr=", 6);
    p = put_hex(p + 6, REG32(0xE000ED28UL));
    *p++ = '\n';
    tu_hal_console_write(line, (size_t)(p - line));
}
