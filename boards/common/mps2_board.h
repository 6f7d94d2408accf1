/* Private to the MPS2 board support: CMSDK peripherals and semihosting. */
#ifndef TU_MPS2_BOARD_H
#define TU_MPS2_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* CMSDK APB UART0 and TIMER0 (same addresses on AN386 and AN500). */
#define MPS2_UART0_BASE 0x40004000UL
#define MPS2_TIMER0_BASE 0x40000000UL
#define MPS2_TIMER0_IRQ 8U /* external interrupt number of TIMER0 */
#define MPS2_TIMER1_BASE 0x40001000UL
#define MPS2_TIMER1_IRQ 9U

/* ARM semihosting operations used here. */
#define SH_SYS_OPEN 0x01
#define SH_SYS_CLOSE 0x02
#define SH_SYS_WRITE 0x05
#define SH_SYS_READ 0x06
#define SH_SYS_FLEN 0x0C
#define SH_SYS_EXIT_EXTENDED 0x20
#define SH_ADP_STOPPED_APPLICATION_EXIT 0x20026UL

uint32_t mps2_semihost(uint32_t op, const void *arg);
void mps2_uart_init(void);
void mps2_fault_report(const uint32_t *frame, uint32_t exc);

#endif
