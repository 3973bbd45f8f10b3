/* UNIDIRECTIONAL_SEQUENCE_LSTM int16x8 and SVDF float32 as TFLM's reference kernels
 * (lstm_eval.h, svdf.cc), integer for integer where the kernel is integer. */
#include <string.h>

#include "pj_common.h"
#include "pj_lstm_gates.h"
#include "pj_recurrent.h"


/* TFLM's MultiplyByQuantizedMultiplier(int64 x, ...) with the 16-bit reduced multiplier m
 * and the total right shift s (>= 1) precomputed: (x * m + 2^(s-1)) >> s, as int32. */
PJ_INLINE int32_t pj_rq64(int64_t x, int32_t m, int32_t s)
{
    const uint64_t y = (uint64_t)x * (uint64_t)(int64_t)m + ((uint64_t)1 << (s - 1));
    return pj_wrap32((int64_t)y >> s);
}

void pj_lstm_s16(const pj_lstm16_params *p, const int16_t *in, int16_t *h, int16_t *c,
                 int16_t *out, int32_t *scratch)
{
    const int32_t S = p->units, I = p->inputs;
    int32_t t, b, g, s, k;
    for (t = 0; t < p->steps; ++t) {
        for (b = 0; b < p->batches; ++b) {
            const int32_t row = p->time_major ? t * p->batches + b : b * p->steps + t;
            const int16_t *x = in + row * I;
            int16_t *hb = h + b * S;
            int16_t *cb = c + b * S;
            for (g = 0; g < 4; ++g) {
                for (s = 0; s < S; ++s) {
                    const int8_t *wi = p->w_in[g] + s * I;
                    const int8_t *wr = p->w_rec[g] + s * S;
                    int64_t acc = p->bias[g][s], rec = 0;
                    for (k = 0; k < I; ++k) {
                        acc += (int64_t)(x[k] + p->in_offset) * wi[k];
                    }
                    for (k = 0; k < S; ++k) {
                        rec += (int64_t)(hb[k] - p->h_zp) * wr[k];
                    }
                    scratch[g * S + s] = pj_sat16(
                        pj_sat16(pj_rq64(acc, p->in_mult[g], p->in_shift[g]))
                        + pj_sat16(pj_rq64(rec, p->rec_mult[g], p->rec_shift[g])));
                }
            }
            for (s = 0; s < S; ++s) {
                const int32_t ig = pj_sigmoid16(p->sigmoid_lut, scratch[s]);
                const int32_t fg = pj_sigmoid16(p->sigmoid_lut, scratch[S + s]);
                const int32_t cg = pj_tanh16(p->sigmoid_lut, scratch[2 * S + s], 3, 0);
                const int32_t og = pj_sigmoid16(p->sigmoid_lut, scratch[3 * S + s]);
                int32_t cs = pj_sat16(pj_mbqm(fg * cb[s], p->fc_mult, p->fc_shift));
                int32_t hv;
                cs = pj_sat16(cs + pj_sat16(pj_mbqm(ig * cg, p->ic_mult, p->ic_shift)));
                if (p->cell_clip > 0) {
                    cs = pj_clamp32(cs, -p->cell_clip, p->cell_clip);
                }
                cb[s] = (int16_t)cs;
                hv = pj_mbqm(pj_tanh16(p->sigmoid_lut, cs, p->tanh_mult, p->tanh_shift) * og,
                             p->oh_mult, p->oh_shift) + p->h_zp;
                scratch[s] = pj_clamp32(hv, p->h_min, p->h_max);
            }
            for (s = 0; s < S; ++s) {
                hb[s] = (int16_t)scratch[s];
                out[row * S + s] = (int16_t)scratch[s];
            }
        }
    }
}

void pj_svdf_f32(const pj_svdf_f32_params *p, const float *in, float *state, float *out)
{
    const int32_t mem = p->memory;
    int32_t b, f, i, m, u, r;
    for (b = 0; b < p->batches; ++b) {
        const float *x = in + b * p->inputs;
        for (f = 0; f < p->filters; ++f) {
            const float *wf = p->weights_feature + f * p->inputs;
            float *st = state + (b * p->filters + f) * mem;
            double acc = 0.0;
            for (i = 0; i < p->inputs; ++i) {
                acc += (double)x[i] * (double)wf[i];
            }
            memmove(st, st + 1, (size_t)(mem - 1) * sizeof *st);
            st[mem - 1] = (float)acc;
        }
        for (u = 0; u < p->units; ++u) {
            double red = 0.0;
            float v;
            for (r = 0; r < p->rank; ++r) {
                const int32_t fi = u * p->rank + r;
                const float *st = state + (b * p->filters + fi) * mem;
                const float *wt = p->weights_time + fi * mem;
                double dot = 0.0;
                for (m = 0; m < mem; ++m) {
                    dot += (double)st[m] * (double)wt[m];
                }
                red += dot;
            }
            v = p->bias[u] + (float)red;
            switch (p->activation) {
            case 1:
                v = v < 0.0f ? 0.0f : v;
                break;
            case 2:
                v = v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);
                break;
            case 3:
                v = v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
                break;
            case 4: {
                uint32_t bits;
                memcpy(&bits, &v, sizeof bits);
                v = (bits >> 31) ? 1.0f : 0.0f;
                break;
            }
            default:
                break;
            }
            out[b * p->units + u] = v;
        }
    }
}
