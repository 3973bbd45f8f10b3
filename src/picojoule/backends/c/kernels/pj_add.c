/* ADD int8 (TFLM's quantized add): both inputs are shifted left by 20 bits, rescaled to a
 * common scale with multipliers below one, summed, then rescaled to the output.
 */
#include "pj_common.h"
#include "pj_kernels.h"

/* Fast path: the same three requantizations through pj_rq (exact; see pj_common.h). */
PJ_INLINE int8_t pj_add_fast(const int32_t *rq, int32_t off1, int32_t off2, int32_t lo,
                             int32_t hi, int32_t a, int32_t b)
{
    const int32_t ra = pj_rq_any((a + off1) * (1 << 20), rq);
    const int32_t rb = pj_rq_any((b + off2) * (1 << 20), rq + 4);
    return (int8_t)pj_clamp32(pj_rq_any(ra + rb, rq + 8), lo, hi);
}

static int8_t pj_add_one(const pj_add_params *p, int32_t a, int32_t b)
{
    const int32_t sa = (int32_t)((uint32_t)(a + p->in1_offset) << p->left_shift);
    const int32_t sb = (int32_t)((uint32_t)(b + p->in2_offset) << p->left_shift);
    const int32_t ra = pj_rdbpot(pj_srdhm(sa, p->in1_mult), -p->in1_shift);
    const int32_t rb = pj_rdbpot(pj_srdhm(sb, p->in2_mult), -p->in2_shift);
    const int32_t v = pj_mbqm(ra + rb, p->out_mult, p->out_shift) + p->out_offset;
    return (int8_t)pj_clamp32(v, p->act_min, p->act_max);
}

void pj_add_s8(const pj_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    int32_t i0, i1, i2, i3;
    if (p->same_shape && p->rq != 0 && p->left_shift == 20) {
        const int32_t n = p->dims[0] * p->dims[1] * p->dims[2] * p->dims[3];
        const int32_t off1 = p->in1_offset, off2 = p->in2_offset;
        const int32_t lo = p->act_min, hi = p->act_max;
        for (i0 = 0; i0 < n; ++i0) {
            out[i0] = pj_add_fast(p->rq, off1, off2, lo, hi, in1[i0], in2[i0]);
        }
        return;
    }
    if (p->same_shape) {
        const int32_t n = p->dims[0] * p->dims[1] * p->dims[2] * p->dims[3];
        for (i0 = 0; i0 < n; ++i0) {
            out[i0] = pj_add_one(p, in1[i0], in2[i0]);
        }
        return;
    }
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t a = i0 * p->strides1[0] + i1 * p->strides1[1]
                                      + i2 * p->strides1[2] + i3 * p->strides1[3];
                    const int32_t b = i0 * p->strides2[0] + i1 * p->strides2[1]
                                      + i2 * p->strides2[2] + i3 * p->strides2[3];
                    *out++ = pj_add_one(p, in1[a], in2[b]);
                }
            }
        }
    }
}

/* Large same-shape ADDs with pj_rq constants.  The two input requantizations are functions
 * of one int8 value each, so the generator tabulates them with the reference kernel's
 * arithmetic: lut[128 + v] for input 1, lut[384 + v] for input 2 (v in [-128, 127]).  An
 * element then costs two table loads, the output requantization and the clamp.  The
 * constants are copied to locals first: the int8 stores could alias p's fields. */
void pj_add_s8_lut(const pj_add_params *p, const int32_t *lut, const int8_t *in1,
                   const int8_t *in2, int8_t *out)
{
    const int32_t n = p->dims[0] * p->dims[1] * p->dims[2] * p->dims[3];
    const int32_t *t1 = lut + 128, *t2 = lut + 384;
    const int32_t rq[4] = {p->rq[8], p->rq[9], p->rq[10], p->rq[11]};
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t i;
    if (rq[1] < 0) {
        for (i = 0; i < n; ++i) {
            const int32_t v = pj_rq_any(t1[in1[i]] + t2[in2[i]], rq);
            out[i] = (int8_t)pj_clamp32(v, lo, hi);
        }
        return;
    }
    for (i = 0; i < n; ++i) {
        const int32_t v = pj_rq(t1[in1[i]] + t2[in2[i]], rq);
        out[i] = (int8_t)pj_clamp32(v, lo, hi);
    }
}
