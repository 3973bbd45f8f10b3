/* SVDF (int8) as TFLM's svdf_common.cc: the feature matmul is requantized into the newest
 * slot of a shifting memory (the state), then a dot product over time per filter, a sum
 * over the rank, the bias, and the output requantization.  The fused activation is not
 * applied by TFLM's integer kernel (only the int8 clamp).
 */
#include <string.h>

#include "pj_common.h"
#include "pj_ops2.h"

void pj_svdf_s8(const pj_svdf_params *p, const int8_t *in, void *state, int8_t *out)
{
    const int32_t mem = p->memory;
    int32_t b, f, i, m, u, r;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->inputs;
        for (f = 0; f < p->filters; ++f) {
            const int8_t *wf = p->weights_feature + f * p->inputs;
            const int32_t row = (b * p->filters + f) * mem;
            int32_t acc = 0, v;
            for (i = 0; i < p->inputs; ++i) {
                acc += (x[i] + p->in_offset) * wf[i];
            }
            v = pj_clamp32(pj_mbqm(acc, p->m1, p->s1), p->state_min, p->state_max)
                + p->state_zp;
            /* Shift the memory left by one and store the newest activation last. */
            if (p->state_is_16) {
                int16_t *s = (int16_t *)state + row;
                memmove(s, s + 1, (size_t)(mem - 1) * sizeof *s);
                s[mem - 1] = (int16_t)v;
            } else {
                int8_t *s = (int8_t *)state + row;
                memmove(s, s + 1, (size_t)(mem - 1));
                s[mem - 1] = (int8_t)v;
            }
        }
        for (u = 0; u < p->units; ++u) {
            int32_t red = p->bias[u];
            for (r = 0; r < p->rank; ++r) {
                const int32_t fi = u * p->rank + r;
                const int32_t row = (b * p->filters + fi) * mem;
                int32_t dot = 0;
                if (p->state_is_16) {
                    const int16_t *s = (const int16_t *)state + row;
                    const int16_t *wt = (const int16_t *)p->weights_time + fi * mem;
                    for (m = 0; m < mem; ++m) {
                        dot += (s[m] - p->state_zp) * wt[m];
                    }
                } else {
                    const int8_t *s = (const int8_t *)state + row;
                    const int8_t *wt = (const int8_t *)p->weights_time + fi * mem;
                    for (m = 0; m < mem; ++m) {
                        dot += (s[m] - p->state_zp) * wt[m];
                    }
                }
                red = (int32_t)((uint32_t)red + (uint32_t)dot);
            }
            out[b * p->units + u] = (int8_t)pj_clamp32(pj_mbqm(red, p->m2, p->s2) + p->out_zp,
                                                       -128, 127);
        }
    }
}

/* ---- UNIDIRECTIONAL_SEQUENCE_LSTM (TFLM lstm_eval.h, integer path) ------------------- */

/* (lut[h] << frac) + (a & mask) * (lut[h + 1] - lut[h]), h = min(a >> frac, 254). */
PJ_INLINE int32_t pj_lut_interp(const int32_t *lut, int32_t a, int frac)
{
    const int32_t h = pj_min32(a >> frac, 254);
    const int32_t lo = lut[h];
    return (lo << frac) + (a & ((1 << frac) - 1)) * (lut[h + 1] - lo);
}

/* TFLM int16 Logistic as the LSTM calls it: Q3.12 in, Q0.15 out. */
static int32_t pj_sigmoid16(const int32_t *lut, int32_t x)
{
    const int32_t v = x * 3;
    const int32_t a = v < 0 ? -v : v;
    int32_t r = (a >> 9) >= 255 ? (0x7FFF << 10) : pj_lut_interp(lut, a, 9);
    r = v >= 0 ? r + (1 << 9) : (1 << 25) - r + (1 << 9) - 1;
    return r >> 10;
}

/* TFLM int16 Tanh with an input multiplier and left shift (multiplier 0: power of two). */
static int32_t pj_tanh16(const int32_t *lut, int32_t x, int32_t mult, int32_t left)
{
    int64_t v64;
    int32_t v, a, r;
    if (mult == 0) {
        mult = 3 << left;
        left = 0;
    }
    v64 = ((int64_t)x * mult + (left > 0 ? ((int64_t)1 << (left - 1)) : 0)) >> left;
    v = (int32_t)(v64 > 0x3FFFFFFF ? 0x3FFFFFFF : (v64 < -0x3FFFFFFF ? -0x3FFFFFFF : v64));
    a = v < 0 ? -v : v;
    r = (a >> 8) >= 255 ? (0xFFFF << 8) : pj_lut_interp(lut, a, 8);
    r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
    return r >> 8;
}

PJ_INLINE int32_t pj_sat16(int32_t v) { return pj_clamp32(v, -32768, 32767); }

void pj_lstm_s8(const pj_lstm_params *p, const int8_t *in, int8_t *h, int16_t *c, int8_t *out,
                int32_t *scratch)
{
    const int32_t S = p->units, I = p->inputs;
    int32_t t, b, g, s, k;
    for (t = 0; t < p->steps; ++t) {
        for (b = 0; b < p->batches; ++b) {
            const int32_t row = p->time_major ? t * p->batches + b : b * p->steps + t;
            const int8_t *x = in + row * I;
            int8_t *hb = h + b * S;
            int16_t *cb = c + b * S;
            /* Gate pre-activations in Q3.12 from the previous hidden state. */
            for (g = 0; g < 4; ++g) {
                for (s = 0; s < S; ++s) {
                    const int8_t *wi = p->w_in[g] + s * I;
                    const int8_t *wr = p->w_rec[g] + s * S;
                    int32_t acc = p->bias[g][s], rec = 0;
                    for (k = 0; k < I; ++k) {
                        acc += (x[k] + p->in_offset) * wi[k];
                    }
                    for (k = 0; k < S; ++k) {
                        rec += (hb[k] - p->h_zp) * wr[k];
                    }
                    scratch[g * S + s] = pj_sat16(
                        pj_sat16(pj_mbqm(acc, p->in_mult[g], p->in_shift[g]))
                        + pj_sat16(pj_mbqm(rec, p->rec_mult[g], p->rec_shift[g])));
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
                /* The new hidden state is written after every gate of this step used the
                 * old one (scratch holds them all). */
                scratch[s] = pj_clamp32(hv, p->h_min, p->h_max);
            }
            for (s = 0; s < S; ++s) {
                hb[s] = (int8_t)scratch[s];
                out[row * S + s] = (int8_t)scratch[s];
            }
        }
    }
}
