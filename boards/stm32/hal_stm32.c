/*
 * tinyunfold HAL for STM32F405/F407 (TU_STM32F4) and STM32F746 (TU_STM32F7).
 *
 * Clock tree: HSE (or HSI when no crystal answers) -> PLL -> 168 MHz (F4) / 216 MHz with
 * over-drive (F7), flash wait states set before the switch. Every wait on a ready flag is bounded:
 * a part that does not answer (QEMU's netduinoplus2 models no RCC) stays on the 16 MHz HSI, and
 * the boot line says so.
 *
 * Simulation vs real part, decided at run time: on silicon the RCC always reports the running
 * oscillator ready (HSIRDY or HSERDY); an RCC that reads 0 is a simulator. In simulation the
 * console, the test-vector files and the exit status go through semihosting (as on the MPS2
 * boards). On a real part the console and the exit report go to the UART; semihosting (files
 * only) is used only while a debugger is attached (DHCSR.C_DEBUGEN), never otherwise, because a
 * semihosting BKPT without a debugger is a HardFault.
 *
 * Counter: SysTick at the core clock, 24-bit, wraps counted by its interrupt (64 bits). On silicon
 * the DWT cycle counter is enabled as well and supplies the low 32 bits (exact cycles). DWT reads
 * 0 under QEMU, so there the figure is SysTick's, which QEMU -icount drives from virtual time (see
 * board.json "runner"). The boot line names the counter ("counter=dwt" or "counter=systick").
 */
#include <stdint.h>
#include <string.h>

#include "stm32_board.h"
#include "tinyunfold/hal.h"

#if defined(TU_STM32F4)
#define PART_NAME "stm32f405"
#else
#define PART_NAME "stm32f746"
#endif

#define WAIT_TRIES 200000U     /* ready-flag polls: > 50 ms at 16 MHz (HSE start-up is ~2 ms) */
#define UART_TX_TRIES 1000000U /* one byte at 9600 baud is ~1 ms: ample, yet never a hang */

static int hal_state; /* 0: not initialised, 1: initialising, 2: ready */
static int simulated; /* the RCC reads 0: a simulator (QEMU) */
static int use_dwt;   /* DWT CYCCNT counts (silicon) */
static uint32_t core_hz = HSI_HZ;
static uint32_t uart_hz = HSI_HZ;
static const char *clock_name = "hsi";
static volatile uint32_t systick_wraps;
static int console_handle = -1;

/* Poll until (*reg & mask) == want, at most WAIT_TRIES times; returns 1 when it got there. */
static int wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t want) {
    for (uint32_t i = 0; i < WAIT_TRIES; ++i) {
        if ((*reg & mask) == want) {
            return 1;
        }
    }
    return 0;
}

static uint32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Out of reset the core runs on the HSI, so silicon reads HSIRDY (or HSERDY) as 1; QEMU reads 0.
 * Not inlined: a test forces the silicon path under QEMU by making it return 0 through GDB. */
__attribute__((noinline)) static int stm32_simulator_detected(void) {
    return (RCC_CR & (RCC_CR_HSIRDY | RCC_CR_HSERDY)) == 0U;
}

static int semihosting_ok(void) {
    return simulated || (DHCSR & 1U) != 0U;
}

/* Back to the HSI (a debugger may restart us with the PLL running), then HSE/HSI -> PLL. */
static void clock_init(void) {
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR;
    RCC_CR |= RCC_CR_HSION;
    (void)wait_bits(&RCC_CR, RCC_CR_HSIRDY, RCC_CR_HSIRDY);
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_HSI;
    (void)wait_bits(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_HSI);
    RCC_CR &= ~RCC_CR_PLLON;
    (void)wait_bits(&RCC_CR, RCC_CR_PLLRDY, 0U);
    PWR_CR |= PWR_CR_VOS_SCALE1; /* voltage scale 1: written while the PLL is off */
    FLASH_ACR = 0U;
    core_hz = uart_hz = HSI_HZ;
    clock_name = "hsi";

    uint32_t src_hz = HSI_HZ, src = 0U;
#if defined(TU_HSE_BYPASS)
    RCC_CR |= RCC_CR_HSEBYP; /* an external clock (the ST-LINK's MCO), not a crystal */
#endif
    RCC_CR |= RCC_CR_HSEON;
    if (wait_bits(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY)) {
        src_hz = TU_HSE_HZ;
        src = RCC_PLLCFGR_SRC_HSE;
    } else {
        RCC_CR &= ~RCC_CR_HSEON;
        RCC_CR &= ~RCC_CR_HSEBYP; /* writable only once the HSE is off */
    }
    /* VCO input 1 MHz (M = source in MHz), VCO = N MHz, SYSCLK = VCO / 2 (PLLP = 0b00). */
    RCC_PLLCFGR = (RCC_PLLCFGR & 0xF0000000UL) | (src_hz / 1000000U) | (PLL_N << 6) | src |
                  (PLL_Q << 24); /* bits 31:28 reserved (F4) or PLLR (F7): kept */
    RCC_CR |= RCC_CR_PLLON;
    if (!wait_bits(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY)) {
        clock_name = "hsi (PLL did not lock: RCC not answering)";
        return;
    }
#if defined(TU_STM32F7)
    PWR_CR |= PWR_CR_ODEN; /* over-drive for 216 MHz */
    if (!wait_bits(&PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY)) {
        clock_name = "hsi (over-drive not ready)";
        return;
    }
    PWR_CR |= PWR_CR_ODSWEN;
    (void)wait_bits(&PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY);
#endif
    FLASH_ACR = FLASH_LATENCY | FLASH_ACR_CACHES;
    if ((FLASH_ACR & 0xFU) != FLASH_LATENCY) {
        FLASH_ACR = 0U;
        clock_name = "hsi (flash latency not accepted)";
        return;
    }
    /* AHB = core, APB1 = core / 4 (PPRE1 = 0b101), APB2 = core / 2 (PPRE2 = 0b100). */
    RCC_CFGR =
        (RCC_CFGR & ~((0xFUL << 4) | (0x7UL << 10) | (0x7UL << 13))) | (5UL << 10) | (4UL << 13);
    RCC_CFGR = (RCC_CFGR & ~RCC_CFGR_SW_MASK) | RCC_CFGR_SW_PLL;
    if (!wait_bits(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL)) {
        RCC_CFGR = RCC_CFGR & ~(RCC_CFGR_SW_MASK | (0x7UL << 10) | (0x7UL << 13));
        FLASH_ACR = 0U;
        clock_name = "hsi (switch to PLL refused)";
        return;
    }
    core_hz = TU_CORE_HZ;
    uart_hz = TU_CORE_HZ >> UART_APB_SHIFT;
    clock_name = src ? "hse-pll" : "hsi-pll";
}

static void uart_init(void) {
    RCC_AHB1ENR |= UART_GPIO_EN;
    (void)RCC_AHB1ENR;
    UART_CLOCK_ENABLE();
    const uint32_t g = UART_GPIO_BASE, tx = UART_TX_PIN, rx = UART_RX_PIN;
    GPIO_MODER(g) = (GPIO_MODER(g) & ~((3UL << (2U * tx)) | (3UL << (2U * rx)))) |
                    (2UL << (2U * tx)) | (2UL << (2U * rx)); /* alternate function */
    GPIO_OSPEEDR(g) |= 2UL << (2U * tx);
    GPIO_PUPDR(g) = (GPIO_PUPDR(g) & ~(3UL << (2U * rx))) | (1UL << (2U * rx)); /* RX pull-up */
    GPIO_AFRH(g) = (GPIO_AFRH(g) & ~((0xFUL << (4U * (tx - 8U))) | (0xFUL << (4U * (rx - 8U))))) |
                   (7UL << (4U * (tx - 8U))) | (7UL << (4U * (rx - 8U))); /* AF7 = USART */
    UART_CR1 = 0U;
    UART_BRR = (uart_hz + TU_UART_BAUD / 2U) / TU_UART_BAUD; /* 16x oversampling */
    UART_CR1 = UART_CR1_ENABLE;
}

static void dwt_init(void) {
    DEMCR |= 1UL << 24; /* TRCENA */
    DWT_LAR = 0xC5ACCE55UL;
    DWT_CYCCNT = 0U;
    DWT_CTRL |= 1U; /* CYCCNTENA */
    __asm volatile("nop\nnop\nnop\nnop\nnop\nnop\nnop\nnop");
    use_dwt = DWT_CYCCNT != 0U;
}

static char *put_hex(char *p, uint32_t v) {
    static const char digits[] = "0123456789abcdef";
    for (int s = 28; s >= 0; s -= 4) {
        *p++ = digits[(v >> s) & 0xFU];
    }
    return p;
}

static char *put_dec(char *p, uint32_t v) {
    char tmp[10];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10U);
        v /= 10U;
    } while (v != 0U);
    while (n > 0) {
        *p++ = tmp[--n];
    }
    return p;
}

static char *put_str(char *p, const char *s) {
    const size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static void uart_write(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; ++i) {
        for (uint32_t t = 0; t < UART_TX_TRIES && !(UART_SR & UART_SR_TXE); ++t) {
        }
        UART_TDR = data[i];
    }
}

void tu_hal_init(void) {
    if (hal_state != 0) {
        return;
    }
    hal_state = 1;
    simulated = stm32_simulator_detected();
    clock_init();
    uart_init();
    dwt_init();
    SYST_CSR = 0U;
    hal_state = 2;
    char line[160];
    char *p = put_str(line, "TU_BOOT " PART_NAME " core=");
    p = put_dec(p, core_hz);
    p = put_str(p, " Hz clock=");
    p = put_str(p, clock_name);
    p = put_str(p, use_dwt ? " counter=dwt" : " counter=systick");
    p = put_str(p, simulated ? " console=semihosting (simulator)\n" : " console=uart\n");
    tu_hal_console_write(line, (size_t)(p - line));
}

void tu_hal_console_write(const char *text, size_t len) {
    if (hal_state == 0) {
        tu_hal_init();
    }
    if (simulated) {
        if (console_handle < 0) {
            static const char tt[] = ":tt"; /* mode 4 ("w"): the semihosting console */
            uint32_t open_args[3] = {(uint32_t)tt, 4U, 3U};
            console_handle = (int)semihost(SH_SYS_OPEN, open_args);
        }
        uint32_t args[3] = {(uint32_t)console_handle, (uint32_t)text, (uint32_t)len};
        (void)semihost(SH_SYS_WRITE, args);
    } else {
        uart_write((const uint8_t *)text, len);
    }
}

int tu_hal_file_open(const char *name, int write) {
    if (!semihosting_ok()) {
        return -1; /* no host to hold the files: the test-vector program needs a debugger */
    }
    /* Modes: 1 = "rb", 5 = "wb". */
    uint32_t args[3] = {(uint32_t)name, write ? 5U : 1U, (uint32_t)strlen(name)};
    return (int)semihost(SH_SYS_OPEN, args);
}

long tu_hal_file_length(int handle) {
    uint32_t args[1] = {(uint32_t)handle};
    return (long)(int32_t)semihost(SH_SYS_FLEN, args);
}

int tu_hal_file_read(int handle, void *buf, size_t len) {
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)buf, (uint32_t)len};
    return semihost(SH_SYS_READ, args) == 0U ? 0 : -1; /* returns bytes NOT read */
}

int tu_hal_file_write(int handle, const void *buf, size_t len) {
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)buf, (uint32_t)len};
    return semihost(SH_SYS_WRITE, args) == 0U ? 0 : -1;
}

void tu_hal_file_close(int handle) {
    uint32_t args[1] = {(uint32_t)handle};
    (void)semihost(SH_SYS_CLOSE, args);
}

void tu_hal_serial_write(const uint8_t *data, size_t len) {
    uart_write(data, len);
}

uint8_t tu_hal_serial_read(void) {
    uint32_t sr;
    while (!((sr = UART_SR) & UART_SR_RXNE)) {
        if (sr & UART_SR_ORE) { /* an overrun: clear it, or reception stops */
#if defined(TU_STM32F7)
            UART_ICR = UART_SR_ORE;
#else
            (void)UART_RDR;
#endif
        }
    }
    return (uint8_t)UART_RDR;
}

/* SysTick reached zero (every 2^24 core clocks): count the wrap. */
void SysTick_Handler(void) {
    systick_wraps = systick_wraps + 1U;
}

void tu_hal_counter_start(void) {
    SYST_CSR = 0U;
    systick_wraps = 0U;
    SYST_RVR = 0xFFFFFFU;
    SYST_CVR = 0U; /* any write clears it: the count restarts from the reload value */
    if (use_dwt) {
        DWT_CYCCNT = 0U;
    }
    SYST_CSR = 7U; /* ENABLE | TICKINT | CLKSOURCE = core clock */
}

static uint64_t systick_count(void) {
    uint32_t wraps, value;
    do { /* a wrap between the two reads would pair a new count with an old wrap number */
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    return ((uint64_t)wraps << 24) + (uint64_t)(0xFFFFFFU - value);
}

uint64_t tu_hal_counter_ticks(void) {
    const uint64_t st = systick_count();
    if (!use_dwt) {
        return st;
    }
    /* Both count core clocks from (nearly) the same start: DWT's exact low 32 bits, the high
     * bits from the SysTick extension. */
    const uint32_t cyc = DWT_CYCCNT;
    return st + (uint64_t)(int64_t)(int32_t)(cyc - (uint32_t)st);
}

void tu_hal_exit(int code) {
    SYST_CSR = 0U;
    if (!simulated) {
        char line[32];
        char *p = put_str(line, "TU_EXIT ");
        if (code < 0) {
            *p++ = '-';
            code = -code;
        }
        p = put_dec(p, (uint32_t)code);
        *p++ = '\n';
        uart_write((const uint8_t *)line, (size_t)(p - line));
    }
    if (semihosting_ok()) {
        uint32_t args[2] = {SH_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
        (void)semihost(SH_SYS_EXIT_EXTENDED, args);
    }
    for (;;) {
    }
}

void stm32_fault_report(const uint32_t *frame, uint32_t exc) {
    char line[96];
    char *p = put_str(line, "TU_FAULT exc=");
    p = put_hex(p, exc);
    p = put_str(p, " pc=");
    p = put_hex(p, frame[6]);
    p = put_str(p, " cfsr=");
    p = put_hex(p, SCB_CFSR);
    *p++ = '\n';
    if (hal_state == 2) { /* always on the UART, once it is set up */
        uart_write((const uint8_t *)line, (size_t)(p - line));
    }
    if (hal_state == 0) {
        simulated = stm32_simulator_detected();
    }
    if (simulated) {
        tu_hal_console_write(line, (size_t)(p - line));
    }
}
