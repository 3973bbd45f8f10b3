/* SQUARE, float32: x * x (one rounding, as TFLM's kernel). */
#include <stdint.h>

void pj_square_f32(int32_t n, const float *in, float *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = in[i] * in[i];
    }
}
