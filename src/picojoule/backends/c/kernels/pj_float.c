/* float32 kernels in TFLM's reference order of summation (float accumulators, bias added
 * after the taps, then the activation clamp), so results track TFLM's to a few ulps.
 * No <math.h>: softmax's exponential is computed here in double precision.
 */
#include "pj_common.h"
#include "pj_ops2.h"

PJ_INLINE float pj_clampf(float v, float lo, float hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void pj_conv_f32(const pj_convf_params *p, const float *in, float *out)
{
    int32_t b, oy, ox, c, ky, kx, ic;
    const int32_t kstride = p->k_h * p->k_w * p->in_c;
    for (b = 0; b < p->batches; ++b) {
        const float *img = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_t;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_l;
                for (c = 0; c < p->out_c; ++c) {
                    const float *wc = p->weights + c * kstride;
                    float acc = 0.0f;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            const float *px;
                            const float *wk;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            px = img + (iy * p->in_w + ix) * p->in_c;
                            wk = wc + (ky * p->k_w + kx) * p->in_c;
                            for (ic = 0; ic < p->in_c; ++ic) {
                                acc += px[ic] * wk[ic];
                            }
                        }
                    }
                    if (p->bias != 0) {
                        acc += p->bias[c];
                    }
                    *out++ = pj_clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void pj_dwconv_f32(const pj_convf_params *p, const float *in, float *out)
{
    int32_t b, oy, ox, c, ky, kx;
    for (b = 0; b < p->batches; ++b) {
        const float *img = in + (int32_t)b * p->in_h * p->in_w * p->in_c;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_t;
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_l;
                for (c = 0; c < p->out_c; ++c) {
                    const int32_t ic = c / p->depth_multiplier;
                    float acc = 0.0f;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = y0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = x0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            acc += img[(iy * p->in_w + ix) * p->in_c + ic]
                                   * p->weights[(ky * p->k_w + kx) * p->out_c + c];
                        }
                    }
                    if (p->bias != 0) {
                        acc += p->bias[c];
                    }
                    *out++ = pj_clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void pj_fc_f32(const pj_fcf_params *p, const float *in, float *out)
{
    int32_t b, o, d;
    for (b = 0; b < p->batches; ++b) {
        const float *x = in + b * p->accum_depth;
        for (o = 0; o < p->out_depth; ++o) {
            const float *w = p->weights + o * p->accum_depth;
            float acc = 0.0f;
            for (d = 0; d < p->accum_depth; ++d) {
                acc += x[d] * w[d];
            }
            if (p->bias != 0) {
                acc += p->bias[o];
            }
            *out++ = pj_clampf(acc, p->act_min, p->act_max);
        }
    }
}

void pj_pool_f32(const pj_poolf_params *p, const float *in, float *out)
{
    int32_t b, oy, ox, c, y, x;
    for (b = 0; b < p->batches; ++b) {
        const float *img = in + (int32_t)b * p->in_h * p->in_w * p->channels;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t y0 = oy * p->stride_h - p->pad_t;
            const int32_t ys = pj_max32(0, -y0), ye = pj_min32(p->k_h, p->in_h - y0);
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t x0 = ox * p->stride_w - p->pad_l;
                const int32_t xs = pj_max32(0, -x0), xe = pj_min32(p->k_w, p->in_w - x0);
                for (c = 0; c < p->channels; ++c) {
                    float acc = p->is_max ? -3.40282347e+38f : 0.0f;
                    int32_t count = 0;
                    for (y = ys; y < ye; ++y) {
                        for (x = xs; x < xe; ++x) {
                            const float v = img[((y0 + y) * p->in_w + x0 + x) * p->channels + c];
                            if (p->is_max) {
                                acc = v > acc ? v : acc;
                            } else {
                                acc += v;
                            }
                            ++count;
                        }
                    }
                    if (!p->is_max) {
                        acc = count > 0 ? acc / (float)count : 0.0f;
                    }
                    *out++ = pj_clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

PJ_INLINE float pj_binf(int32_t op, float a, float b)
{
    switch (op) {
    case 0:
        return a + b;
    case 1:
        return a - b;
    case 2:
        return a * b;
    case 3:
        return a / b;
    case 4:
        return a < b ? a : b;
    default:
        return a > b ? a : b;
    }
}

void pj_binary_f32(const pj_binf_params *p, const float *in1, const float *in2, float *out)
{
    int32_t i0, i1, i2, i3;
    for (i0 = 0; i0 < p->dims[0]; ++i0) {
        for (i1 = 0; i1 < p->dims[1]; ++i1) {
            for (i2 = 0; i2 < p->dims[2]; ++i2) {
                for (i3 = 0; i3 < p->dims[3]; ++i3) {
                    const int32_t a = i0 * p->strides1[0] + i1 * p->strides1[1]
                                      + i2 * p->strides1[2] + i3 * p->strides1[3];
                    const int32_t b = i0 * p->strides2[0] + i1 * p->strides2[1]
                                      + i2 * p->strides2[2] + i3 * p->strides2[3];
                    *out++ = pj_clampf(pj_binf(p->op, in1[a], in2[b]), p->act_min,
                                       p->act_max);
                }
            }
        }
    }
}

/* exp(x) for x <= 0 in double: x = k ln2 + r with |r| <= ln2 / 2, a Taylor series for
 * e^r (relative error below 1e-16) and 2^k by repeated halving (no libm needed). */
static double pj_exp_neg(double x)
{
    static const double ln2 = 0.69314718055994530942;
    double r, term, sum, scale;
    int32_t k, i;
    if (x < -745.0) {
        return 0.0;
    }
    k = (int32_t)(x / ln2 - 0.5);
    r = x - (double)k * ln2;
    term = 1.0;
    sum = 1.0;
    for (i = 1; i < 18; ++i) {
        term *= r / (double)i;
        sum += term;
    }
    scale = 1.0;
    for (i = 0; i > k; --i) {
        scale *= 0.5;
    }
    return sum * scale;
}

void pj_softmax_f32(const pj_softmaxf_params *p, const float *in, float *out)
{
    int32_t r, i;
    for (r = 0; r < p->rows; ++r) {
        const float *x = in + r * p->depth;
        float *y = out + r * p->depth;
        float mx = x[0];
        double sum = 0.0;
        for (i = 1; i < p->depth; ++i) {
            mx = x[i] > mx ? x[i] : mx;
        }
        for (i = 0; i < p->depth; ++i) {
            const double e = pj_exp_neg((double)((x[i] - mx) * p->beta));
            y[i] = (float)e;
            sum += e;
        }
        for (i = 0; i < p->depth; ++i) {
            y[i] = (float)((double)y[i] / sum);
        }
    }
}

/* exp(x) for any x (double). */
static double pj_exp(double x)
{
    if (x > 709.0) {
        return 1.0e308; /* beyond float range: becomes +inf as a float */
    }
    return x <= 0.0 ? pj_exp_neg(x) : 1.0 / pj_exp_neg(-x);
}

/* TFLM float Logistic: exp(v) below -9, 1 above 16.619..., else 1 / (1 + exp(-v)). */
static float pj_sigmoidf(float v)
{
    if (v > 16.619047164916992188f) {
        return 1.0f;
    }
    if (v < -9.0f) {
        return (float)pj_exp((double)v);
    }
    return 1.0f / (1.0f + (float)pj_exp(-(double)v));
}

static float pj_tanhf(float v)
{
    const double a = v < 0.0f ? -(double)v : (double)v;
    const double e = pj_exp_neg(-2.0 * a);
    const double t = (1.0 - e) / (1.0 + e);
    return (float)(v < 0.0f ? -t : t);
}

void pj_lstm_f32(const pj_lstmf_params *p, const float *in, float *h, float *c, float *out,
                 float *scratch)
{
    const int32_t S = p->units, I = p->inputs;
    int32_t t, b, g, s, k;
    for (t = 0; t < p->steps; ++t) {
        for (b = 0; b < p->batches; ++b) {
            const int32_t row = p->time_major ? t * p->batches + b : b * p->steps + t;
            const float *x = in + row * I;
            float *hb = h + b * S;
            float *cb = c + b * S;
            for (g = 0; g < 4; ++g) {
                for (s = 0; s < S; ++s) {
                    const float *wi = p->w_in[g] + s * I;
                    const float *wr = p->w_rec[g] + s * S;
                    double ai = 0.0, ar = 0.0;
                    for (k = 0; k < I; ++k) {
                        ai += (double)x[k] * (double)wi[k];
                    }
                    for (k = 0; k < S; ++k) {
                        ar += (double)hb[k] * (double)wr[k];
                    }
                    scratch[g * S + s] = ((float)ai + p->bias[g][s]) + (float)ar;
                }
            }
            for (s = 0; s < S; ++s) {
                const float ig = pj_sigmoidf(scratch[s]);
                const float fg = pj_sigmoidf(scratch[S + s]);
                const float cg = pj_tanhf(scratch[2 * S + s]);
                const float og = pj_sigmoidf(scratch[3 * S + s]);
                float cs = fg * cb[s] + ig * cg;
                if (p->cell_clip > 0.0f) {
                    cs = pj_clampf(cs, -p->cell_clip, p->cell_clip);
                }
                cb[s] = cs;
                scratch[s] = pj_tanhf(cs) * og;
            }
            for (s = 0; s < S; ++s) {
                hb[s] = scratch[s];
                out[row * S + s] = scratch[s];
            }
        }
    }
}
