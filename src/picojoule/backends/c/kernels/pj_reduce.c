/* Reductions, ARG_MAX / ARG_MIN and CUMSUM (see pj_reduce.h).
 *
 * Scatter reductions walk the input once in memory order.  The innermost (merged)
 * dimension is either kept (out[i] op= in[i] over a contiguous run) or reduced (one
 * running value); an odometer over the outer dimensions moves the output offset.
 */
#include <stdint.h>
#include <string.h>

#include "pj_common.h"
#include "pj_reduce.h"

/* Advance the odometer over dimensions top..0 by one step; return the new output offset. */
PJ_INLINE int32_t pj_red_step(const pj_red_plan *p, int32_t *idx, int32_t top, int32_t o)
{
    int32_t d;
    for (d = top; d >= 0; --d) {
        o += p->out_stride[d];
        if (++idx[d] < p->count[d]) {
            return o;
        }
        o -= p->out_stride[d] * p->count[d];
        idx[d] = 0;
    }
    return o;
}

/* The scatter loop: ACC_T acc[]: OP(a, x) folds one input element into a; the inner run is
 * kept (a different a per element) or reduced (one a).  Expects p, in, acc in scope. */
#define PJ_RED_SCATTER(ACC_T, OP)                                                   \
    do {                                                                            \
        int32_t idx_[PJ_RED_MAXRANK];                                               \
        const int32_t n_ = p->count[p->rank - 1];                                   \
        const int32_t kept_ = p->out_stride[p->rank - 1] != 0;                      \
        int32_t r_, i_, o_ = 0;                                                     \
        memset(idx_, 0, sizeof idx_);                                               \
        for (r_ = 0; r_ < p->runs; ++r_, in += n_) {                                \
            if (kept_) {                                                            \
                ACC_T *a_ = acc + o_;                                               \
                for (i_ = 0; i_ < n_; ++i_) {                                       \
                    OP(a_[i_], in[i_]);                                             \
                }                                                                   \
            } else {                                                                \
                ACC_T s_ = acc[o_];                                                 \
                for (i_ = 0; i_ < n_; ++i_) {                                       \
                    OP(s_, in[i_]);                                                 \
                }                                                                   \
                acc[o_] = s_;                                                       \
            }                                                                       \
            o_ = pj_red_step(p, idx_, p->rank - 2, o_);                             \
        }                                                                           \
    } while (0)

#define PJ_ADD_WRAP32(a, x) ((a) = (int32_t)((uint32_t)(a) + (uint32_t)(int32_t)(x)))
#define PJ_ADD_WRAP64(a, x) ((a) = (int64_t)((uint64_t)(a) + (uint64_t)(x)))
#define PJ_ADD_F32(a, x) ((a) = (a) + (x))
#define PJ_MAX(a, x) ((a) = (x) > (a) ? (x) : (a))
#define PJ_MIN(a, x) ((a) = (x) < (a) ? (x) : (a))

/* Column sums of an int8 block [rows][cols] added to acc[cols]: four channels per pass,
 * their sums held in two registers of int16 lanes (SXTB16 + SADD16 on DSP cores; the
 * portable helpers give the same lanes elsewhere), flushed to int32 every 255 rows (255 *
 * 128 < 2^15, so no lane overflows).  This is MEAN over H,W of NHWC data
 * (GlobalAveragePooling2D). */
static void pj_colsum_s8(const int8_t *x, int32_t rows, int32_t cols, int32_t *acc)
{
    int32_t c = 0, r;
    for (; c + 4 <= cols; c += 4) {
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (r = 0; r < rows;) {
            const int32_t chunk = rows - r < 255 ? rows - r : 255;
            const int8_t *px = x + (int32_t)r * cols + c;
            uint32_t s02 = 0u, s13 = 0u;
            int32_t k;
            for (k = 0; k < chunk; ++k, px += cols) {
                const uint32_t w = pj_read32(px);
                s02 = pj_sadd16(s02, pj_sxtb16(w));
                s13 = pj_sadd16(s13, pj_sxtb16_ror8(w));
            }
            a0 += (int16_t)(uint16_t)(s02 & 0xFFFFu);
            a2 += (int16_t)(uint16_t)(s02 >> 16);
            a1 += (int16_t)(uint16_t)(s13 & 0xFFFFu);
            a3 += (int16_t)(uint16_t)(s13 >> 16);
            r += chunk;
        }
        PJ_ADD_WRAP32(acc[c], a0);
        PJ_ADD_WRAP32(acc[c + 1], a1);
        PJ_ADD_WRAP32(acc[c + 2], a2);
        PJ_ADD_WRAP32(acc[c + 3], a3);
    }
    for (; c < cols; ++c) {
        int32_t s = 0;
        const int8_t *px = x + c;
        for (r = 0; r < rows; ++r, px += cols) {
            s += *px;
        }
        PJ_ADD_WRAP32(acc[c], s);
    }
}

static void pj_sum_s8_acc(const pj_red_plan *p, const int8_t *in, int32_t *acc)
{
    if (p->rank >= 2 && p->out_stride[p->rank - 1] != 0 && p->out_stride[p->rank - 2] == 0) {
        /* [outer...][rows: reduced][cols: kept]: column sums block by block. */
        int32_t idx[PJ_RED_MAXRANK];
        const int32_t rows = p->count[p->rank - 2], cols = p->count[p->rank - 1];
        const int32_t blocks = p->runs / rows;
        int32_t b, o = 0;
        memset(idx, 0, sizeof idx);
        for (b = 0; b < blocks; ++b, in += rows * cols) {
            pj_colsum_s8(in, rows, cols, acc + o);
            o = pj_red_step(p, idx, p->rank - 3, o);
        }
        return;
    }
    PJ_RED_SCATTER(int32_t, PJ_ADD_WRAP32);
}

static void pj_sum_s16_acc(const pj_red_plan *p, const int16_t *in, int32_t *acc)
{
    PJ_RED_SCATTER(int32_t, PJ_ADD_WRAP32);
}

/* TFLM QuantizedMeanOrSum's output stage. */
PJ_INLINE int32_t pj_red_requant(const pj_red_q *q, int32_t sum)
{
    const int32_t shifted = (int32_t)((uint32_t)sum - (uint32_t)q->offset);
    return pj_clamp32(pj_mbqm(shifted, q->mult, q->shift) + q->zp_out, q->lo, q->hi);
}

void pj_reduce_sum_s8(const pj_red_plan *p, const pj_red_q *q, const int8_t *in, int8_t *out,
                      int32_t *acc)
{
    int32_t i;
    if (q->empty) {
        memset(out, 0, (size_t)p->out_size);
        return;
    }
    memset(acc, 0, (size_t)p->out_size * sizeof(int32_t));
    pj_sum_s8_acc(p, in, acc);
    for (i = 0; i < p->out_size; ++i) {
        out[i] = (int8_t)pj_red_requant(q, acc[i]);
    }
}

void pj_reduce_sum_s16(const pj_red_plan *p, const pj_red_q *q, const int16_t *in,
                       int16_t *out, int32_t *acc)
{
    int32_t i;
    if (q->empty) {
        memset(out, 0, (size_t)p->out_size * sizeof(int16_t));
        return;
    }
    memset(acc, 0, (size_t)p->out_size * sizeof(int32_t));
    pj_sum_s16_acc(p, in, acc);
    for (i = 0; i < p->out_size; ++i) {
        out[i] = (int16_t)pj_red_requant(q, acc[i]);
    }
}

void pj_reduce_sum_f32(const pj_red_plan *p, int32_t divisor, const float *in, float *out)
{
    float *acc = out;
    int32_t i;
    for (i = 0; i < p->out_size; ++i) {
        acc[i] = 0.0f;
    }
    PJ_RED_SCATTER(float, PJ_ADD_F32);
    if (divisor > 0) {
        const float n = (float)divisor;
        for (i = 0; i < p->out_size; ++i) {
            out[i] = out[i] / n;
        }
    }
}

void pj_reduce_sum_s32(const pj_red_plan *p, const int32_t *in, int32_t *out)
{
    int32_t *acc = out;
    memset(out, 0, (size_t)p->out_size * sizeof(int32_t));
    PJ_RED_SCATTER(int32_t, PJ_ADD_WRAP32);
}

void pj_reduce_sum_s64(const pj_red_plan *p, const int64_t *in, int64_t *out)
{
    int64_t *acc = out;
    memset(out, 0, (size_t)p->out_size * sizeof(int64_t));
    PJ_RED_SCATTER(int64_t, PJ_ADD_WRAP64);
}

/* ---- REDUCE_MAX / REDUCE_MIN ------------------------------------------------------ */
#define PJ_DEFINE_MINMAX(NAME, T, LOWEST, HIGHEST)                                  \
    void NAME(const pj_red_plan *p, int32_t is_max, const T *in, T *out)            \
    {                                                                               \
        T *acc = out;                                                               \
        const T init = is_max ? (LOWEST) : (HIGHEST);                               \
        int32_t i;                                                                  \
        for (i = 0; i < p->out_size; ++i) {                                         \
            out[i] = init;                                                          \
        }                                                                           \
        if (is_max) {                                                               \
            PJ_RED_SCATTER(T, PJ_MAX);                                              \
        } else {                                                                    \
            PJ_RED_SCATTER(T, PJ_MIN);                                              \
        }                                                                           \
    }

#define PJ_FLT_MAX 3.40282346638528859812e+38f

PJ_DEFINE_MINMAX(pj_reduce_minmax_s8, int8_t, INT8_MIN, INT8_MAX)
PJ_DEFINE_MINMAX(pj_reduce_minmax_u8, uint8_t, 0u, UINT8_MAX)
PJ_DEFINE_MINMAX(pj_reduce_minmax_s16, int16_t, INT16_MIN, INT16_MAX)
PJ_DEFINE_MINMAX(pj_reduce_minmax_s32, int32_t, INT32_MIN, INT32_MAX)
PJ_DEFINE_MINMAX(pj_reduce_minmax_s64, int64_t, INT64_MIN, INT64_MAX)
/* x > a is false for a NaN x: NaNs never win, as TFLM's comparison-based reduction. */
PJ_DEFINE_MINMAX(pj_reduce_minmax_f32, float, -PJ_FLT_MAX, PJ_FLT_MAX)

/* ---- REDUCE_PROD ------------------------------------------------------------------- */
/* Gather odometer: the input offset of the next element along dimensions n-1..0. */
PJ_INLINE int32_t pj_gather_step(int32_t n, const int32_t *count, const int32_t *stride,
                                 int32_t *idx, int32_t off)
{
    int32_t d;
    for (d = n - 1; d >= 0; --d) {
        off += stride[d];
        if (++idx[d] < count[d]) {
            return off;
        }
        off -= stride[d] * count[d];
        idx[d] = 0;
    }
    return off;
}

/* Elements reduced into each output (product of red_count). */
PJ_INLINE int32_t pj_gather_n(const pj_red_gather *g)
{
    int32_t d, n = 1;
    for (d = 0; d < g->n_red; ++d) {
        n *= g->red_count[d];
    }
    return n;
}

/* TFLM's 64-bit MultiplyByQuantizedMultiplier with the pre-reduced 16-bit multiplier. */
PJ_INLINE int32_t pj_mbqm64(int64_t x, const pj_prod_q *q)
{
    const int64_t y = (int64_t)((uint64_t)x * (uint64_t)(int64_t)q->red_mult
                                + ((uint64_t)1 << (q->tshift - 1)));
    return (int32_t)(uint32_t)(uint64_t)(y >> q->tshift);
}

#define PJ_DEFINE_PROD_Q(NAME, T)                                                   \
    void NAME(const pj_red_gather *g, const pj_prod_q *q, const T *in, T *out)      \
    {                                                                               \
        int32_t kidx[PJ_RED_MAXRANK], ridx[PJ_RED_MAXRANK];                         \
        const int32_t n = pj_gather_n(g);                                           \
        int32_t o, k, base = 0;                                                     \
        memset(kidx, 0, sizeof kidx);                                               \
        memset(ridx, 0, sizeof ridx);                                               \
        for (o = 0; o < g->out_size; ++o) {                                         \
            int32_t off = base;                                                     \
            int64_t acc = (int64_t)in[off] - q->zp_in;                              \
            int32_t y;                                                              \
            for (k = 1; k < n; ++k) {                                               \
                off = pj_gather_step(g->n_red, g->red_count, g->red_stride, ridx, off);\
                acc = pj_mbqm64((int64_t)((uint64_t)acc                             \
                                          * (uint64_t)((int64_t)in[off] - q->zp_in)), q);\
            }                                                                       \
            memset(ridx, 0, sizeof ridx);                                           \
            y = pj_clamp32(pj_mbqm64(acc, q) + q->zp_out, q->lo, q->hi);            \
            out[o] = (T)y;                                                          \
            base = pj_gather_step(g->n_kept, g->kept_count, g->kept_stride, kidx, base);\
        }                                                                           \
    }

PJ_DEFINE_PROD_Q(pj_reduce_prod_s8, int8_t)
PJ_DEFINE_PROD_Q(pj_reduce_prod_s16, int16_t)

#define PJ_MUL_F32(a, x) ((a) = (a) * (x))
#define PJ_MUL_WRAP32(a, x) ((a) = (int32_t)((uint32_t)(a) * (uint32_t)(x)))
#define PJ_MUL_WRAP64(a, x) ((a) = (int64_t)((uint64_t)(a) * (uint64_t)(x)))

#define PJ_DEFINE_PROD(NAME, T, ONE, OP)                                            \
    void NAME(const pj_red_gather *g, const T *in, T *out)                          \
    {                                                                               \
        int32_t kidx[PJ_RED_MAXRANK], ridx[PJ_RED_MAXRANK];                         \
        const int32_t n = pj_gather_n(g);                                           \
        int32_t o, k, base = 0;                                                     \
        memset(kidx, 0, sizeof kidx);                                               \
        memset(ridx, 0, sizeof ridx);                                               \
        for (o = 0; o < g->out_size; ++o) {                                         \
            int32_t off = base;                                                     \
            T acc = ONE;                                                            \
            for (k = 0; k < n; ++k) {                                               \
                OP(acc, in[off]);                                                   \
                off = pj_gather_step(g->n_red, g->red_count, g->red_stride, ridx, off);\
            }                                                                       \
            out[o] = acc;                                                           \
            base = pj_gather_step(g->n_kept, g->kept_count, g->kept_stride, kidx, base);\
        }                                                                           \
    }

PJ_DEFINE_PROD(pj_reduce_prod_f32, float, 1.0f, PJ_MUL_F32)
PJ_DEFINE_PROD(pj_reduce_prod_s32, int32_t, 1, PJ_MUL_WRAP32)
PJ_DEFINE_PROD(pj_reduce_prod_s64, int64_t, 1, PJ_MUL_WRAP64)

/* ---- ARG_MAX / ARG_MIN ------------------------------------------------------------- */
PJ_INLINE void pj_arg_store(void *out, int32_t out64, int32_t k, int32_t v)
{
    if (out64) {
        ((int64_t *)out)[k] = v;
    } else {
        ((int32_t *)out)[k] = v;
    }
}

#define PJ_DEFINE_ARG(NAME, T)                                                      \
    void NAME(const pj_arg_params *p, const T *in, void *out)                       \
    {                                                                               \
        const int32_t step = p->inner, span = p->axis * p->inner;                   \
        int32_t o, i, a, k = 0;                                                     \
        for (o = 0; o < p->outer; ++o) {                                            \
            const T *row = in + o * span;                                           \
            for (i = 0; i < p->inner; ++i, ++k) {                                   \
                const T *px = row + i;                                              \
                int32_t best_i = 0;                                                 \
                if (p->is_max) {                                                    \
                    T best = px[0];                                                 \
                    for (a = 1; a < p->axis; ++a) {                                 \
                        const T v = px[a * step];                                   \
                        if (v > best) {                                             \
                            best = v;                                               \
                            best_i = a;                                             \
                        }                                                           \
                    }                                                               \
                } else {                                                            \
                    T best = px[0];                                                 \
                    for (a = 1; a < p->axis; ++a) {                                 \
                        const T v = px[a * step];                                   \
                        if (v < best) {                                             \
                            best = v;                                               \
                            best_i = a;                                             \
                        }                                                           \
                    }                                                               \
                }                                                                   \
                pj_arg_store(out, p->out64, k, best_i);                             \
            }                                                                       \
        }                                                                           \
    }

PJ_DEFINE_ARG(pj_arg_s8, int8_t)
PJ_DEFINE_ARG(pj_arg_u8, uint8_t)
PJ_DEFINE_ARG(pj_arg_s16, int16_t)
PJ_DEFINE_ARG(pj_arg_s32, int32_t)
PJ_DEFINE_ARG(pj_arg_s64, int64_t)
/* float32 as TFLM: a NaN never wins a comparison, so it is picked only at index 0. */
PJ_DEFINE_ARG(pj_arg_f32, float)

/* ---- CUMSUM ------------------------------------------------------------------------ */
/* For each [outer][inner] line: visit the axis forward or backward; LOAD(x) is the term
 * added, STORE(o, acc) writes one output. */
#define PJ_CUMSUM_LOOP(ACC_T, START, LOAD, ADD, STORE)                              \
    do {                                                                            \
        const int32_t step_ = p->inner, span_ = p->axis * p->inner;                 \
        int32_t o_, i_, a_;                                                         \
        for (o_ = 0; o_ < p->outer; ++o_) {                                         \
            for (i_ = 0; i_ < p->inner; ++i_) {                                     \
                const int32_t base_ = o_ * span_ + i_;                              \
                ACC_T acc_ = START;                                                 \
                for (a_ = 0; a_ < p->axis; ++a_) {                                  \
                    const int32_t e_ = base_ + (p->reverse ? p->axis - 1 - a_ : a_) * step_;\
                    if (p->exclusive) {                                             \
                        STORE(e_, acc_);                                            \
                        ADD(acc_, LOAD(in[e_]));                                    \
                    } else {                                                        \
                        ADD(acc_, LOAD(in[e_]));                                    \
                        STORE(e_, acc_);                                            \
                    }                                                               \
                }                                                                   \
            }                                                                       \
        }                                                                           \
    } while (0)

#define PJ_STORE_RAW(e, acc) (out[e] = (acc))
#define PJ_SAME(x) (x)

void pj_cumsum_f32(const pj_cumsum_params *p, const float *in, float *out)
{
    PJ_CUMSUM_LOOP(float, 0.0f, PJ_SAME, PJ_ADD_F32, PJ_STORE_RAW);
}

void pj_cumsum_s32(const pj_cumsum_params *p, const int32_t *in, int32_t *out)
{
    PJ_CUMSUM_LOOP(int32_t, 0, PJ_SAME, PJ_ADD_WRAP32, PJ_STORE_RAW);
}

void pj_cumsum_s64(const pj_cumsum_params *p, const int64_t *in, int64_t *out)
{
    PJ_CUMSUM_LOOP(int64_t, 0, PJ_SAME, PJ_ADD_WRAP64, PJ_STORE_RAW);
}

#define PJ_CUMSUM_TERM(x) (q->table[(int32_t)(x) + 128])
#define PJ_STORE_Q8(e, acc)                                                         \
    (out[e] = (int8_t)pj_sat8(pj_mbqm((acc), q->out_mult, q->out_shift) + q->zp_out))

void pj_cumsum_s8(const pj_cumsum_params *p, const pj_cumsum_q *q, const int8_t *in,
                  int8_t *out)
{
    PJ_CUMSUM_LOOP(int32_t, q->start, PJ_CUMSUM_TERM, PJ_ADD_WRAP32, PJ_STORE_Q8);
}
