/* SVDF (int8) as TFLM's svdf_common.cc: the feature matmul is requantized into the newest
 * slot of a shifting memory (the state), then a dot product over time per filter, a sum
 * over the rank, the bias, and the output requantization.  The fused activation is not
 * applied by TFLM's integer kernel (only the int8 clamp).
 */
#include <string.h>

#include "pj_common.h"
#include "pj_ops2.h"
#include "pj_lstm_gates.h"

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
                /* TFLM's int32 sums wrap; unsigned arithmetic wraps without undefined
                 * behaviour (int16 states at full scale overflow int32). */
                uint32_t dot = 0;
                if (p->state_is_16) {
                    const int16_t *s = (const int16_t *)state + row;
                    const int16_t *wt = (const int16_t *)p->weights_time + fi * mem;
                    for (m = 0; m < mem; ++m) {
                        dot += (uint32_t)(s[m] - p->state_zp) * (uint32_t)wt[m];
                    }
                } else {
                    const int8_t *s = (const int8_t *)state + row;
                    const int8_t *wt = (const int8_t *)p->weights_time + fi * mem;
                    for (m = 0; m < mem; ++m) {
                        dot += (uint32_t)((s[m] - p->state_zp) * wt[m]);
                    }
                }
                red = (int32_t)((uint32_t)red + dot);
            }
            out[b * p->units + u] = (int8_t)pj_clamp32(pj_mbqm(red, p->m2, p->s2) + p->out_zp,
                                                       -128, 127);
        }
    }
}

/* ---- UNIDIRECTIONAL_SEQUENCE_LSTM (TFLM lstm_eval.h, integer path) ------------------- */


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
