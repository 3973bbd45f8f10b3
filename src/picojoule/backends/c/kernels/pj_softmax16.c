/* SOFTMAX int8 -> int16 as TFLM's Softmax<int8, int16>: the int8 -> int8 algorithm
 * (pj_softmax_row: tabulated fixed-point exponentials, Q12.19 sum, Newton-Raphson
 * reciprocal) with the final rounding shift to the 1/65536 output scale.
 */
#include "pj_common.h"
#include "pj_ops2.h"

void pj_softmax_s8_s16(const pj_softmax16_params *p, const int8_t *in, int16_t *out)
{
    const int32_t depth = p->depth;
    int32_t r, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * depth;
        int16_t *o = out + r * depth;
        int32_t mx;
        int shift;
        const int32_t scale = pj_softmax_row(p->exp_table, x, depth, &mx, &shift);
        const int exponent = shift - 16;
        for (i = 0; i < depth; ++i) {
            const int32_t e = p->exp_table[x[i] - mx + 255];
            const int32_t v = pj_rdbpot(pj_srdhm(scale, e), exponent) - 32768;
            o[i] = (int16_t)(v > 32767 ? 32767 : v);
        }
    }
}
