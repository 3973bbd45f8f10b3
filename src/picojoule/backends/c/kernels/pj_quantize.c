/* QUANTIZE float32 -> int8 (TFLM AffineQuantize: round(x / scale) in float32, halves away
 * from zero, plus the zero point, clamped) and DEQUANTIZE int8 -> float32 (a 256-entry table
 * of float(double(scale) * (q - zp)) computed at generation time).
 */
#include "pj_common.h"
#include "pj_kernels.h"

void pj_quantize_f32_s8(const pj_quantize_params *p, const float *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const float q = in[i] / p->scale;
        int32_t v;
        if (q > -8388608.0f && q < 8388608.0f) {
            /* |q| < 2^23: the truncation and the fraction are exact in float32, so this
             * is roundf (halves away from zero) with single-precision FPU instructions. */
            const float t = (float)(int32_t)q;
            const float frac = q - t;
            v = (int32_t)t + (frac >= 0.5f ? 1 : (frac <= -0.5f ? -1 : 0));
        } else if (q > -2147483648.0f && q < 2147483648.0f) {
            v = (int32_t)q;  /* already an integer */
        } else {
            v = INT32_MIN;   /* out of range or NaN: x86's cvttss2si, as the reference */
        }
        v = pj_wrap32((int64_t)v + p->zero_point);
        out[i] = (int8_t)pj_clamp32(v, p->q_min, p->q_max);
    }
}

void pj_dequantize_s8_f32(const pj_dequantize_params *p, const int8_t *in, float *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        out[i] = p->table[(uint8_t)in[i]];
    }
}
