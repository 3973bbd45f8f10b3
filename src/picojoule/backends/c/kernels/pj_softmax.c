/* SOFTMAX int8 -> int8 as TFLM: exponentials of (x - max) in fixed point (tabulated at
 * generation time), their sum in Q12.19, a Newton-Raphson reciprocal in Q0.31 (both in
 * pj_softmax_row), and a rounding shift to the output's 1/256 scale.
 */
#include "pj_common.h"
#include "pj_kernels.h"

void pj_softmax_s8(const pj_softmax_params *p, const int8_t *in, int8_t *out)
{
    const int32_t depth = p->depth;
    int32_t r, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * depth;
        int8_t *o = out + r * depth;
        int32_t mx;
        int shift;
        const int32_t scale = pj_softmax_row(p->exp_table, x, depth, &mx, &shift);
        const int exponent = shift - 8;
        if (exponent > 31) {
            /* A sum of exponentials of 512 or more (long rows of near-equal logits): every
             * probability is below 1/512, so each rounds to the bottom step. TFLM's and
             * LiteRT's kernels abort here; the reference's int64 arithmetic gives this. */
            for (i = 0; i < depth; ++i) {
                o[i] = -128;
            }
            continue;
        }
        for (i = 0; i < depth; ++i) {
            const int32_t e = p->exp_table[x[i] - mx + 255];
            int32_t v = pj_rdbpot(pj_srdhm(scale, e), exponent) - 128;
            o[i] = (int8_t)(v > 127 ? 127 : v);
        }
    }
}
