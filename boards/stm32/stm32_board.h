/*
 * Private to the STM32 board support (boards/stm32/): the few registers the HAL touches, for the
 * STM32F405/F407 (TU_STM32F4, RM0090) and the STM32F746 (TU_STM32F7, RM0385). Firmware never
 * includes this header (see tinyunfold/hal.h).
 */
#ifndef TU_STM32_BOARD_H
#define TU_STM32_BOARD_H

#include <stdint.h>

#if !defined(TU_STM32F4) && !defined(TU_STM32F7)
#error "define TU_STM32F4 or TU_STM32F7 (board.json \"defines\")"
#endif

#ifndef TU_HSE_HZ
#define TU_HSE_HZ 8000000U /* crystal (or ST-LINK MCO) frequency of the board */
#endif
#ifndef TU_UART_BAUD
#define TU_UART_BAUD 115200U
#endif

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* ---- Cortex-M system registers (ARMv7-M ARM) */
#define SCB_VTOR REG32(0xE000ED08UL)
#define SCB_CFSR REG32(0xE000ED28UL)
#define SCB_CPACR_ADDR 0xE000ED88UL
#define DHCSR REG32(0xE000EDF0UL) /* bit 0 C_DEBUGEN: a debugger is attached */
#define DEMCR REG32(0xE000EDFCUL) /* bit 24 TRCENA */
#define DWT_CTRL REG32(0xE0001000UL)
#define DWT_CYCCNT REG32(0xE0001004UL)
#define DWT_LAR REG32(0xE0001FB0UL) /* Cortex-M7: software lock of the DWT */
#define SYST_CSR REG32(0xE000E010UL)
#define SYST_RVR REG32(0xE000E014UL)
#define SYST_CVR REG32(0xE000E018UL)

/* ---- RCC, PWR, FLASH: same addresses on F4 and F7 */
#define RCC_BASE 0x40023800UL
#define RCC_CR REG32(RCC_BASE + 0x00U)
#define RCC_PLLCFGR REG32(RCC_BASE + 0x04U)
#define RCC_CFGR REG32(RCC_BASE + 0x08U)
#define RCC_AHB1ENR REG32(RCC_BASE + 0x30U)
#define RCC_APB1ENR REG32(RCC_BASE + 0x40U)
#define RCC_APB2ENR REG32(RCC_BASE + 0x44U)
#define RCC_CR_HSION (1UL << 0)
#define RCC_CR_HSIRDY (1UL << 1)
#define RCC_CR_HSEON (1UL << 16)
#define RCC_CR_HSERDY (1UL << 17)
#define RCC_CR_HSEBYP (1UL << 18)
#define RCC_CR_PLLON (1UL << 24)
#define RCC_CR_PLLRDY (1UL << 25)
#define RCC_PLLCFGR_SRC_HSE (1UL << 22)
#define RCC_CFGR_SW_MASK 0x3UL
#define RCC_CFGR_SW_HSI 0x0UL
#define RCC_CFGR_SW_PLL 0x2UL
#define RCC_CFGR_SWS_MASK (0x3UL << 2)
#define RCC_CFGR_SWS_PLL (0x2UL << 2)
#define RCC_CFGR_SWS_HSI (0x0UL << 2)
#define RCC_APB1ENR_PWREN (1UL << 28)
#define PWR_CR REG32(0x40007000UL)  /* PWR_CR1 on the F7 */
#define PWR_CSR REG32(0x40007004UL) /* PWR_CSR1 on the F7 */
#define FLASH_ACR REG32(0x40023C00UL)
#define HSI_HZ 16000000U

#if defined(TU_STM32F4)
/* 168 MHz = HSE / M * 336 / 2 with M = HSE in MHz (VCO input 1 MHz, VCO 336 MHz), 48 MHz USB. */
#define TU_CORE_HZ 168000000U
#define PLL_N 336U
#define PLL_Q 7U
#define FLASH_LATENCY 5U /* RM0090 table 10: 5 WS at 2.7-3.6 V */
#define FLASH_ACR_CACHES ((1UL << 8) | (1UL << 9) | (1UL << 10)) /* PRFTEN ICEN DCEN */
#define PWR_CR_VOS_SCALE1 (1UL << 14)
/* USART1 (QEMU's first -serial): PA9 TX / PA10 RX, AF7, on APB2 (core / 2). */
#define UART_BASE 0x40011000UL
#define UART_SR REG32(UART_BASE + 0x00U)
#define UART_RDR REG32(UART_BASE + 0x04U)
#define UART_TDR REG32(UART_BASE + 0x04U)
#define UART_BRR REG32(UART_BASE + 0x08U)
#define UART_CR1 REG32(UART_BASE + 0x0CU)
#define UART_CR1_ENABLE ((1UL << 13) | (1UL << 3) | (1UL << 2)) /* UE TE RE */
#define UART_CLOCK_ENABLE() (RCC_APB2ENR |= (1UL << 4))         /* USART1EN */
#define UART_APB_SHIFT 1U                                       /* APB2 = core / 2 */
#define UART_GPIO_BASE 0x40020000UL                             /* GPIOA */
#define UART_GPIO_EN (1UL << 0)                                 /* GPIOAEN */
#define UART_TX_PIN 9U
#define UART_RX_PIN 10U
#else
/* 216 MHz = HSE / M * 432 / 2 with M = HSE in MHz; needs over-drive (RM0385 3.3.2). */
#define TU_CORE_HZ 216000000U
#define PLL_N 432U
#define PLL_Q 9U
#define FLASH_LATENCY 7U                           /* RM0385 table 7: 7 WS at 210-216 MHz */
#define FLASH_ACR_CACHES ((1UL << 8) | (1UL << 9)) /* PRFTEN ARTEN */
#define PWR_CR_VOS_SCALE1 (3UL << 14)
#define PWR_CR_ODEN (1UL << 16)
#define PWR_CR_ODSWEN (1UL << 17)
#define PWR_CSR_ODRDY (1UL << 16)
#define PWR_CSR_ODSWRDY (1UL << 17)
/* USART3 (NUCLEO-144: ST-LINK virtual COM port): PD8 TX / PD9 RX, AF7, on APB1 (core / 4). */
#define UART_BASE 0x40004800UL
#define UART_CR1 REG32(UART_BASE + 0x00U)
#define UART_BRR REG32(UART_BASE + 0x0CU)
#define UART_SR REG32(UART_BASE + 0x1CU) /* ISR: same TXE/RXNE/ORE bits as the F4 SR */
#define UART_ICR REG32(UART_BASE + 0x20U)
#define UART_RDR REG32(UART_BASE + 0x24U)
#define UART_TDR REG32(UART_BASE + 0x28U)
#define UART_CR1_ENABLE ((1UL << 0) | (1UL << 3) | (1UL << 2)) /* UE TE RE */
#define UART_CLOCK_ENABLE() (RCC_APB1ENR |= (1UL << 18))       /* USART3EN */
#define UART_APB_SHIFT 2U                                      /* APB1 = core / 4 */
#define UART_GPIO_BASE 0x40020C00UL                            /* GPIOD */
#define UART_GPIO_EN (1UL << 3)                                /* GPIODEN */
#define UART_TX_PIN 8U
#define UART_RX_PIN 9U
#endif
#define UART_SR_ORE (1UL << 3)
#define UART_SR_RXNE (1UL << 5)
#define UART_SR_TXE (1UL << 7)
#define GPIO_MODER(base) REG32((base) + 0x00U)
#define GPIO_OSPEEDR(base) REG32((base) + 0x08U)
#define GPIO_PUPDR(base) REG32((base) + 0x0CU)
#define GPIO_AFRH(base) REG32((base) + 0x24U)

/* ---- ARM semihosting operations */
#define SH_SYS_OPEN 0x01
#define SH_SYS_CLOSE 0x02
#define SH_SYS_WRITE 0x05
#define SH_SYS_READ 0x06
#define SH_SYS_FLEN 0x0C
#define SH_SYS_EXIT_EXTENDED 0x20
#define SH_ADP_STOPPED_APPLICATION_EXIT 0x20026UL

void stm32_fault_report(const uint32_t *frame, uint32_t exc);

#endif
