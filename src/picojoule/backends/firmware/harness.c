/* picojoule QEMU harness: read runs of inputs from pj_in.bin over semihosting, invoke the
 * model once per run timing it with SysTick, write (ticks, outputs) per run to pj_out.bin.
 *
 * pj_in.bin: uint32 run count, then per run every input's bytes in order.
 * pj_out.bin: per run a uint64 SysTick tick count, then every output's bytes.
 * The model's API comes from PJ_MODEL_HEADER; PJ_INVOKE(ins, outs) calls it.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pj_harness_model.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

extern volatile uint32_t pj_systick_wraps;

static uint64_t pj_ticks(void)
{
    uint32_t w1, w2, v;
    do {
        w1 = pj_systick_wraps;
        v = SYST_CVR;
        w2 = pj_systick_wraps;
    } while (w1 != w2);
    return ((uint64_t)w1 << 24) + (uint64_t)(0xFFFFFFu - v);
}

#ifdef PJ_PROFILE
#define PJ_MAX_NODES 512
static uint64_t pj_node_ticks[PJ_MAX_NODES];
static uint64_t pj_last_tick;
void pj_profile_node(int index);
void pj_profile_node(int index)
{
    uint64_t now = pj_ticks();
    if (index >= 0 && index < PJ_MAX_NODES) {
        pj_node_ticks[index] += now - pj_last_tick;
    }
    pj_last_tick = now;
}
#endif

int main(void)
{
    FILE *fin = fopen("pj_in.bin", "rb");
    FILE *fout = fopen("pj_out.bin", "wb");
    uint32_t runs = 0, r;
    if (fin == NULL || fout == NULL || fread(&runs, 4, 1, fin) != 1) {
        return 2;
    }
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0u;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */
    while (SYST_CVR == 0u) {
        /* the first reload happens on the next tick */
    }
    for (r = 0; r < runs; ++r) {
        uint64_t t0, t1;
        if (!pj_read_inputs(fin)) {
            return 4;
        }
        t0 = pj_ticks();
#ifdef PJ_PROFILE
        pj_last_tick = t0;
#endif
        if (PJ_INVOKE() != 0) {
            return 5;
        }
        t1 = pj_ticks();
        t1 -= t0;
        if (fwrite(&t1, 8, 1, fout) != 1 || !pj_write_outputs(fout)) {
            return 6;
        }
    }
#ifdef PJ_PROFILE
    for (r = 0; r < PJ_MAX_NODES; ++r) {
        if (pj_node_ticks[r] != 0u) {
            printf("PJ_NODE %lu %lu\n", (unsigned long)r, (unsigned long)pj_node_ticks[r]);
        }
    }
#endif
    fclose(fout);
    fclose(fin);
    return 0;
}
