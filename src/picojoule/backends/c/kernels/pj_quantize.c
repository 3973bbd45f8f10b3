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
        const double d = (double)q;
        int32_t v;
        /* Exact in double: d came from a float.  Out of range or NaN behaves like x86's
         * cvttss2si (INT32_MIN), as the reference does. */
        if (d > -2147483648.0 && d < 2147483647.5) {
            const double rounded = d >= 0.0 ? d + 0.5 : d - 0.5;
            const int64_t t = (int64_t)rounded;
            v = (t >= 2147483648LL || t < -2147483648LL) ? INT32_MIN : (int32_t)t;
        } else {
            v = INT32_MIN;
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
