/* CUSTOM:TFLite_Detection_PostProcess for picojoule-generated libraries: SSD box decoding
 * and non-max suppression (fast and regular), through the custom-op ABI (pj_custom.h).
 *
 * The semantics, and the numpy reference this file matches bit for bit, are in
 * detection.py beside it; every constant (options, and the doubles of the exponential)
 * comes from its params(). Inputs: box encodings [1, N, >=4], class predictions
 * [1, N, C(+1)], anchors [N, 4], each float32, uint8 or int8. Outputs (float32): boxes
 * [1, M, 4], classes [1, M], scores [1, M], count [1].
 *
 * Floating point: one IEEE operation per statement, in the reference's order, so no
 * compiler may fuse a multiply and an add (gcc does not in ISO C mode, -std=c99; clang
 * contracts only within one expression; GNU modes need -ffp-contract=off, and
 * -ffast-math breaks the equality). The decoding is in double precision like TFLM's and
 * LiteRT's kernels (libgcc's soft double on cores without a double FPU); for uint8/int8
 * encodings its per-value part comes from tables, with no exponential at run time.
 *
 * Scratch (4-byte words): decoded boxes 4N, scores N, candidate heap N, kept boxes
 * max(max_detections, per-class limit), then regular mode's running best 6 x
 * max_detections or fast mode's class ranking 2 x (C + background).
 */
#include <stdint.h>
#include <string.h>

#include "pj_custom.h"

/* p->ints: the options; the offsets of the y, x, h, w tables of quantized box encodings
 * (0 for float32 ones); then doubles as (high word, low word) pairs: for float32
 * encodings the exponential's constants from P_INV, for quantized ones the tables. */
enum {
    P_MAX_DET, P_MAX_CAT, P_PER_ANCHOR, P_PER_CLASS, P_REGULAR, P_NUM_CLASSES, P_LABEL_OFFSET,
    P_BOX_TABLES = 7, P_INV = 11, P_STEP_HI = 13, P_STEP_LO = 15, P_COEF = 17, P_TABLE = 25
};
/* p->floats */
enum { F_SCORE, F_IOU, F_Y_SCALE, F_X_SCALE, F_H_SCALE, F_W_SCALE };

#define PJ_DPP_TABLE 64
/* 1.5 * 2^52: adding it rounds a double below 2^51 in magnitude to an integer. */
#define PJ_DPP_SHIFTER 6755399441055744.0

static double pj_dpp_bits(uint32_t hi, uint32_t lo)
{
    uint64_t u = ((uint64_t)hi << 32) | (uint64_t)lo;
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static double pj_dpp_word_double(const int32_t *w)
{
    return pj_dpp_bits((uint32_t)w[0], (uint32_t)w[1]);
}

typedef struct {
    double inv, step_hi, step_lo, c3, c4, c5, c6;
    const int32_t *table; /* 2^(j/64): high double, low double, as word pairs */
} pj_dpp_exp_consts;

/* exp(x), operation for operation as exp_f64 in detection.py. */
static double pj_dpp_exp(double x, const pj_dpp_exp_consts *c)
{
    double t, kd, r, p, q, v, hi, lo;
    int32_t k, j, m;
    if (x != x) {
        return x;
    }
    if (x > 709.8) {
        return pj_dpp_bits(0x7FF00000u, 0u);
    }
    if (x < -708.0) {
        return 0.0;
    }
    t = x * c->inv;
    kd = t + PJ_DPP_SHIFTER;
    kd = kd - PJ_DPP_SHIFTER;
    p = kd * c->step_hi;
    r = x - p;
    p = kd * c->step_lo;
    r = r - p;
    p = r * c->c6;
    p = p + c->c5;
    p = p * r;
    p = p + c->c4;
    p = p * r;
    p = p + c->c3;
    p = p * r;
    p = p + 0.5;
    p = p * r;
    p = p * r;
    q = r + p;
    k = (int32_t)kd;
    j = k & (PJ_DPP_TABLE - 1);
    m = (k - j) / PJ_DPP_TABLE;
    hi = pj_dpp_word_double(c->table + 4 * j);
    lo = pj_dpp_word_double(c->table + 4 * j + 2);
    v = hi * q;
    v = lo + v;
    v = hi + v;
    if (m > 1023) {
        v = v * pj_dpp_bits((uint32_t)(m - 1 + 1023) << 20, 0u);
        v = v * 2.0;
    } else {
        v = v * pj_dpp_bits((uint32_t)(m + 1023) << 20, 0u);
    }
    return v;
}

/* An input element as float32: quantized ones as (float(q) - zp) * scale. */
static float pj_dpp_load(const pj_tensor *t, int32_t i)
{
    float q;
    if (t->type == PJ_UINT8) {
        q = (float)((const uint8_t *)t->data)[i];
    } else if (t->type == PJ_INT8) {
        q = (float)((const int8_t *)t->data)[i];
    } else {
        return ((const float *)t->data)[i];
    }
    q = q - (float)t->zero_point;
    return q * t->scale;
}

static void pj_dpp_corners(float *box, float yc, float xc, float hh, float hw)
{
    box[0] = yc - hh;
    box[1] = xc - hw;
    box[2] = yc + hh;
    box[3] = xc + hw;
}

/* Float32 encodings: y / y_scale * anchor_h + anchor_y and 0.5 exp(h / h_scale) anchor_h
 * (x and w alike) in double, rounded to float32. */
static void pj_dpp_decode(const pj_tensor *enc, const pj_tensor *anc, const float *f,
                          const pj_dpp_exp_consts *c, float *dec)
{
    const int32_t n = enc->dims[1], stride = enc->dims[2];
    const float *e = (const float *)enc->data;
    const double sy = (double)f[F_Y_SCALE], sx = (double)f[F_X_SCALE];
    const double sh = (double)f[F_H_SCALE], sw = (double)f[F_W_SCALE];
    int32_t i;
    for (i = 0; i < n; ++i, e += stride) {
        const float ay = pj_dpp_load(anc, 4 * i), ax = pj_dpp_load(anc, 4 * i + 1);
        const float ah = pj_dpp_load(anc, 4 * i + 2), aw = pj_dpp_load(anc, 4 * i + 3);
        double t;
        float yc, xc, hh, hw;
        t = (double)e[0] / sy;
        t = t * (double)ah;
        t = t + (double)ay;
        yc = (float)t;
        t = (double)e[1] / sx;
        t = t * (double)aw;
        t = t + (double)ax;
        xc = (float)t;
        t = (double)e[2] / sh;
        t = pj_dpp_exp(t, c);
        t = t * 0.5;
        t = t * (double)ah;
        hh = (float)t;
        t = (double)e[3] / sw;
        t = pj_dpp_exp(t, c);
        t = t * 0.5;
        t = t * (double)aw;
        hw = (float)t;
        pj_dpp_corners(dec + 4 * i, yc, xc, hh, hw);
    }
}

/* uint8/int8 encodings: the same, with y / y_scale and 0.5 exp(h / h_scale) (x, w alike)
 * looked up in tables of the 256 values, computed ahead by the same operations. */
static void pj_dpp_decode_quantized(const pj_tensor *enc, const pj_tensor *anc,
                                    const int32_t *ints, float *dec)
{
    const int32_t n = enc->dims[1], stride = enc->dims[2];
    const int32_t *ty = ints + ints[P_BOX_TABLES], *tx = ints + ints[P_BOX_TABLES + 1];
    const int32_t *th = ints + ints[P_BOX_TABLES + 2], *tw = ints + ints[P_BOX_TABLES + 3];
    const uint8_t *u = (const uint8_t *)enc->data;
    const int8_t *s = (const int8_t *)enc->data;
    const int32_t is_signed = enc->type == PJ_INT8;
    int32_t i, k, q[4];
    for (i = 0; i < n; ++i) {
        const float ay = pj_dpp_load(anc, 4 * i), ax = pj_dpp_load(anc, 4 * i + 1);
        const float ah = pj_dpp_load(anc, 4 * i + 2), aw = pj_dpp_load(anc, 4 * i + 3);
        double t;
        float yc, xc, hh, hw;
        for (k = 0; k < 4; ++k) {
            q[k] = is_signed ? (int32_t)s[stride * i + k] + 128 : (int32_t)u[stride * i + k];
        }
        t = pj_dpp_word_double(ty + 2 * q[0]);
        t = t * (double)ah;
        t = t + (double)ay;
        yc = (float)t;
        t = pj_dpp_word_double(tx + 2 * q[1]);
        t = t * (double)aw;
        t = t + (double)ax;
        xc = (float)t;
        t = pj_dpp_word_double(th + 2 * q[2]);
        t = t * (double)ah;
        hh = (float)t;
        t = pj_dpp_word_double(tw + 2 * q[3]);
        t = t * (double)aw;
        hw = (float)t;
        pj_dpp_corners(dec + 4 * i, yc, xc, hh, hw);
    }
}

/* IoU(a, b) > thr, in float32 like the kernels (0 for a box of no area). */
static int pj_dpp_overlaps(const float *a, const float *b, float thr)
{
    float area_a, area_b, y0, x0, y1, x1, h, w, inter, uni;
    area_a = (a[2] - a[0]) * (a[3] - a[1]);
    area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if (area_a <= 0.0f || area_b <= 0.0f) {
        return 0;
    }
    y0 = a[0] < b[0] ? b[0] : a[0];
    x0 = a[1] < b[1] ? b[1] : a[1];
    y1 = b[2] < a[2] ? b[2] : a[2];
    x1 = b[3] < a[3] ? b[3] : a[3];
    h = y1 - y0;
    w = x1 - x0;
    h = h < 0.0f ? 0.0f : h;
    w = w < 0.0f ? 0.0f : w;
    inter = h * w;
    uni = area_a + area_b;
    uni = uni - inter;
    return inter / uni > thr;
}

/* Candidate order: higher score first, then lower box index (a stable sort's order). */
static int pj_dpp_before(const float *sc, int32_t a, int32_t b)
{
    return sc[a] > sc[b] || (sc[a] == sc[b] && a < b);
}

static void pj_dpp_sift(int32_t *heap, int32_t n, int32_t i, const float *sc)
{
    const int32_t v = heap[i];
    for (;;) {
        int32_t child = 2 * i + 1;
        if (child >= n) {
            break;
        }
        if (child + 1 < n && pj_dpp_before(sc, heap[child + 1], heap[child])) {
            child++;
        }
        if (!pj_dpp_before(sc, heap[child], v)) {
            break;
        }
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = v;
}

/* Greedy NMS over one score per box: the boxes kept, in order, into kept[]; their count.
 * Candidates leave a heap one at a time, so only the ones looked at are ordered. */
static int32_t pj_dpp_nms(const float *dec, const float *sc, int32_t n, const float *f,
                          int32_t limit, int32_t *heap, int32_t *kept)
{
    const float thr = f[F_SCORE], iou = f[F_IOU];
    int32_t k = 0, nk = 0, i, s;
    for (i = 0; i < n; ++i) {
        if (sc[i] >= thr) {
            heap[k++] = i;
        }
    }
    for (i = k / 2 - 1; i >= 0; --i) {
        pj_dpp_sift(heap, k, i, sc);
    }
    while (k > 0 && nk < limit) {
        const int32_t c = heap[0];
        heap[0] = heap[--k];
        if (k > 1) {
            pj_dpp_sift(heap, k, 0, sc);
        }
        for (s = 0; s < nk; ++s) {
            if (pj_dpp_overlaps(dec + 4 * kept[s], dec + 4 * c, iou)) {
                break;
            }
        }
        if (s == nk) {
            kept[nk++] = c;
        }
    }
    return nk;
}

/* libstdc++'s heap (std::partial_sort with "a > b"), for fast mode's class order. */
static void pj_dpp_push(int32_t *idx, int32_t hole, int32_t top, int32_t value,
                        const float *v)
{
    int32_t parent = (hole - 1) / 2;
    while (hole > top && v[idx[parent]] > v[value]) {
        idx[hole] = idx[parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    idx[hole] = value;
}

static void pj_dpp_adjust(int32_t *idx, int32_t hole, int32_t len, int32_t value,
                          const float *v)
{
    const int32_t top = hole;
    int32_t child = hole;
    while (child < (len - 1) / 2) {
        child = 2 * (child + 1);
        if (v[idx[child]] > v[idx[child - 1]]) {
            child--;
        }
        idx[hole] = idx[child];
        hole = child;
    }
    if ((len & 1) == 0 && child == (len - 2) / 2) {
        child = 2 * (child + 1);
        idx[hole] = idx[child - 1];
        hole = child - 1;
    }
    pj_dpp_push(idx, hole, top, value, v);
}

static void pj_dpp_partial_sort(int32_t *idx, int32_t k, int32_t n, const float *v)
{
    int32_t i, value;
    if (k >= 2) {
        for (i = (k - 2) / 2; i >= 0; --i) {
            pj_dpp_adjust(idx, i, k, idx[i], v);
        }
    }
    for (i = k; i < n; ++i) {
        if (v[idx[i]] > v[idx[0]]) {
            value = idx[i];
            idx[i] = idx[0];
            pj_dpp_adjust(idx, 0, k, value, v);
        }
    }
    for (i = k - 1; i > 0; --i) {
        value = idx[i];
        idx[i] = idx[0];
        pj_dpp_adjust(idx, 0, i, value, v);
    }
}

static void pj_dpp_write(pj_tensor *out, int32_t row, const float *box, int32_t cls, float s)
{
    memcpy((float *)out[0].data + 4 * row, box, 4 * sizeof(float));
    ((float *)out[1].data)[row] = (float)cls;
    ((float *)out[2].data)[row] = s;
}

static int32_t pj_dpp_fast(const pj_tensor *in, pj_tensor *out, const pj_custom_params *p,
                           const float *dec, float *sc, int32_t *heap, int32_t *kept,
                           int32_t *rank)
{
    const pj_tensor *cls = &in[1];
    const int32_t n = in[0].dims[1], cols = cls->dims[2];
    const int32_t nc = p->ints[P_NUM_CLASSES], off = p->ints[P_LABEL_OFFSET];
    const int32_t per = p->ints[P_PER_ANCHOR], stride = p->ints[P_MAX_CAT];
    float *vals = (float *)(rank + cols);
    int32_t i, c, s, nk;
    for (i = 0; i < n; ++i) {
        float best = pj_dpp_load(cls, i * cols + off);
        for (c = 1; c < nc; ++c) {
            const float v = pj_dpp_load(cls, i * cols + off + c);
            best = v > best ? v : best;
        }
        sc[i] = best;
    }
    nk = pj_dpp_nms(dec, sc, n, p->floats, p->ints[P_MAX_DET], heap, kept);
    for (s = 0; s < nk; ++s) {
        const int32_t a = kept[s];
        for (c = 0; c < nc; ++c) {
            vals[c] = pj_dpp_load(cls, a * cols + off + c);
            rank[c] = c;
        }
        if (per == 1) {
            for (c = 1; c < nc; ++c) {
                if (vals[c] > vals[rank[0]]) {
                    rank[0] = c;
                }
            }
        } else {
            pj_dpp_partial_sort(rank, per, nc, vals);
        }
        for (c = 0; c < per; ++c) {
            pj_dpp_write(out, s * stride + c, dec + 4 * a, rank[c], vals[rank[c]]);
        }
    }
    return nk;
}

static int32_t pj_dpp_regular(const pj_tensor *in, pj_tensor *out, const pj_custom_params *p,
                              const float *dec, float *sc, int32_t *heap, int32_t *kept,
                              int32_t *pool)
{
    const pj_tensor *cls = &in[1];
    const int32_t n = in[0].dims[1], cols = cls->dims[2];
    const int32_t nc = p->ints[P_NUM_CLASSES], off = p->ints[P_LABEL_OFFSET];
    const int32_t md = p->ints[P_MAX_DET];
    /* The running best: box, class, score; then the same again for the merge. */
    int32_t *pa = pool, *pc = pool + md, *ta = pool + 3 * md, *tc = pool + 4 * md;
    float *ps = (float *)(pool + 2 * md), *ts = (float *)(pool + 5 * md);
    int32_t np = 0, c, i, nk;
    for (c = 0; c < nc; ++c) {
        int32_t a = 0, b = 0, m = 0;
        for (i = 0; i < n; ++i) {
            sc[i] = pj_dpp_load(cls, i * cols + off + c);
        }
        nk = pj_dpp_nms(dec, sc, n, p->floats, p->ints[P_PER_CLASS], heap, kept);
        /* Stable merge (earlier classes first on ties), keeping the best md. */
        while (m < md && (a < np || b < nk)) {
            if (b < nk && (a >= np || sc[kept[b]] > ps[a])) {
                ta[m] = kept[b];
                tc[m] = c;
                ts[m] = sc[kept[b]];
                b++;
            } else {
                ta[m] = pa[a];
                tc[m] = pc[a];
                ts[m] = ps[a];
                a++;
            }
            m++;
        }
        memcpy(pa, ta, (size_t)m * sizeof(int32_t));
        memcpy(pc, tc, (size_t)m * sizeof(int32_t));
        memcpy(ps, ts, (size_t)m * sizeof(float));
        np = m;
    }
    for (i = 0; i < np; ++i) {
        pj_dpp_write(out, i, dec + 4 * pa[i], pc[i], ps[i]);
    }
    return np;
}

void pj_detection_postprocess(const pj_tensor *in, int32_t n_in, pj_tensor *out,
                              int32_t n_out, const pj_custom_params *p)
{
    const int32_t n = in[0].dims[1];
    const int32_t md = p->ints[P_MAX_DET], pcl = p->ints[P_PER_CLASS];
    float *dec = (float *)p->scratch;
    float *sc = dec + 4 * n;
    int32_t *heap = (int32_t *)(sc + n);
    int32_t *kept = heap + n;
    int32_t *rest = kept + (md > pcl ? md : pcl);
    int32_t i, count;
    (void)n_in;
    for (i = 0; i < n_out; ++i) {
        memset(out[i].data, 0, (size_t)out[i].size * sizeof(float));
    }
    if (p->ints[P_BOX_TABLES] != 0) {
        pj_dpp_decode_quantized(&in[0], &in[2], p->ints, dec);
    } else {
        pj_dpp_exp_consts c;
        c.inv = pj_dpp_word_double(p->ints + P_INV);
        c.step_hi = pj_dpp_word_double(p->ints + P_STEP_HI);
        c.step_lo = pj_dpp_word_double(p->ints + P_STEP_LO);
        c.c3 = pj_dpp_word_double(p->ints + P_COEF);
        c.c4 = pj_dpp_word_double(p->ints + P_COEF + 2);
        c.c5 = pj_dpp_word_double(p->ints + P_COEF + 4);
        c.c6 = pj_dpp_word_double(p->ints + P_COEF + 6);
        c.table = p->ints + P_TABLE;
        pj_dpp_decode(&in[0], &in[2], p->floats, &c, dec);
    }
    if (p->ints[P_REGULAR]) {
        count = pj_dpp_regular(in, out, p, dec, sc, heap, kept, rest);
    } else {
        count = pj_dpp_fast(in, out, p, dec, sc, heap, kept, rest);
    }
    ((float *)out[3].data)[0] = (float)count;
}
