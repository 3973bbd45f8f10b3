/* Minimal Cortex-M startup for picojoule's QEMU firmware: vector table, reset handler
 * (copy .data, zero .bss, enable the FPU if present, run main, exit via semihosting) and a
 * SysTick handler counting 2^24-tick wraps for the instruction counter. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __StackTop;
extern int main(void);
extern void initialise_monitor_handles(void);

volatile uint32_t pj_systick_wraps;

void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

/* newlib's exit() runs _fini (normally from crti.o, which -nostartfiles drops). */
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}

void Default_Handler(void)
{
    exit(3);
}

void SysTick_Handler(void)
{
    ++pj_systick_wraps;
}

void Reset_Handler(void)
{
    uint32_t *src = &__data_load__;
    uint32_t *dst = &__data_start__;
    while (dst < &__data_end__) {
        *dst++ = *src++;
    }
    for (dst = &__bss_start__; dst < &__bss_end__; ++dst) {
        *dst = 0;
    }
#if defined(__ARM_FP)
    /* CPACR: full access to CP10 and CP11 (the FPU). */
    *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    initialise_monitor_handles();
    exit(main());
}

typedef void (*pj_vector)(void);

__attribute__((section(".vectors"), used))
const pj_vector pj_vector_table[16] = {
    (pj_vector)(uintptr_t)&__StackTop,
    Reset_Handler,
    Default_Handler, /* NMI */
    Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */
    Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVC */
    Default_Handler, /* DebugMon */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
};
