/* CUSTOM:Hardtanh for picojoule-generated libraries: min(max(x, lo), hi). */
#include "pj_custom.h"

void hardtanh(const pj_tensor *in, int32_t n_in, pj_tensor *out, int32_t n_out,
              const pj_custom_params *p)
{
    int32_t i;
    (void)n_in;
    (void)n_out;
    if (in[0].type == PJ_INT8) {
        const int8_t *x = (const int8_t *)in[0].data;
        int8_t *y = (int8_t *)out[0].data;
        const int32_t lo = p->ints[0], hi = p->ints[1];
        for (i = 0; i < in[0].size; ++i) {
            int32_t v = x[i];
            y[i] = (int8_t)(v < lo ? lo : (v > hi ? hi : v));
        }
    } else {
        const float *x = (const float *)in[0].data;
        float *y = (float *)out[0].data;
        const float lo = p->floats[0], hi = p->floats[1];
        for (i = 0; i < in[0].size; ++i) {
            float v = x[i] > lo ? x[i] : lo;
            y[i] = v < hi ? v : hi;
        }
    }
}
