/* Broadcasting comparisons, logic, SELECT_V2 and the remaining elementwise binary math
 * (see pj_compare.h).
 *
 * Every kernel walks its contiguous output run by run (the innermost merged dimension);
 * an odometer over the outer dimensions moves each operand's offset by its strides.
 */
#include <stdint.h>
#include <string.h>

#include "pj_common.h"
#include "pj_compare.h"

typedef struct {
    int32_t idx[PJ_BC_MAXRANK];
    int32_t off[3];
} pj_bc_it;

/* Next run: advance the odometer over dimensions rank-2..0. */
PJ_INLINE void pj_bc_next(const pj_bcast *p, pj_bc_it *it)
{
    int32_t d, j;
    for (d = p->rank - 2; d >= 0; --d) {
        for (j = 0; j < 3; ++j) {
            it->off[j] += p->stride[j][d];
        }
        if (++it->idx[d] < p->count[d]) {
            return;
        }
        for (j = 0; j < 3; ++j) {
            it->off[j] -= p->stride[j][d] * p->count[d];
        }
        it->idx[d] = 0;
    }
}

/* y[k] = OP(a[...], b[...]) over the broadcast; a, b of type T; p, a, b, y in scope. */
#define PJ_BC2(T, OP)                                                                \
    do {                                                                             \
        pj_bc_it it_;                                                                \
        const int32_t n_ = p->count[p->rank - 1];                                    \
        const int32_t t0_ = p->stride[0][p->rank - 1], t1_ = p->stride[1][p->rank - 1]; \
        int32_t r_, k_;                                                              \
        memset(&it_, 0, sizeof it_);                                                 \
        for (r_ = 0; r_ < p->runs; ++r_, y += n_) {                                  \
            const T *pa_ = a + it_.off[0];                                           \
            const T *pb_ = b + it_.off[1];                                           \
            for (k_ = 0; k_ < n_; ++k_) {                                            \
                y[k_] = OP(pa_[k_ * t0_], pb_[k_ * t1_]);                            \
            }                                                                        \
            pj_bc_next(p, &it_);                                                     \
        }                                                                            \
    } while (0)

/* A comparison as a bit of mask: bit (sign(u - v) + 1), so one loop serves all six ops.
 * Masks (bits for u < v, u == v, u > v): == 2, != 5, < 1, <= 3, > 4, >= 6; the float
 * masks hold for NaNs too (every comparison false: d = 0 would read ==, so NaN pairs take
 * the separate unordered bit 3, set only for !=). */
#define PJ_SIGN3(u, v) (((u) > (v)) - ((u) < (v)) + 1)
#define PJ_CMPBIT(u, v) (uint8_t)((mask >> PJ_SIGN3(u, v)) & 1u)

static const uint8_t pj_cmp_masks[6] = {2u, 5u, 1u, 3u, 4u, 6u};

#define PJ_DEFINE_CMP(NAME, T)                                                       \
    void NAME(const pj_bcast *p, int32_t op, const T *a, const T *b, uint8_t *y)     \
    {                                                                                \
        const uint32_t mask = pj_cmp_masks[op];                                      \
        PJ_BC2(T, PJ_CMPBIT);                                                        \
    }

PJ_DEFINE_CMP(pj_cmp_s32, int32_t)
PJ_DEFINE_CMP(pj_cmp_s64, int64_t)
PJ_DEFINE_CMP(pj_cmp_u8, uint8_t)

/* float32: NaN operands make every comparison false (only != true): bit 3 of a mask
 * extended with the unordered case. */
#define PJ_FCMP(u, v) (uint8_t)((mask >> ((u) == (u) && (v) == (v) ? PJ_SIGN3(u, v) : 3)) & 1u)

void pj_cmp_f32(const pj_bcast *p, int32_t op, const float *a, const float *b, uint8_t *y)
{
    const uint32_t mask = (uint32_t)pj_cmp_masks[op] | (op == 1 ? 8u : 0u);
    PJ_BC2(float, PJ_FCMP);
}

/* TFLM's int8 comparison input stage. */
PJ_INLINE int32_t pj_cmp_side(int32_t x, int32_t zp, int32_t mult, int32_t shift)
{
    return pj_mbqm((int32_t)((uint32_t)(x - zp) << 8), mult, shift);
}

#define PJ_QCMP(u, v) \
    PJ_CMPBIT(pj_cmp_side((u), q->zp1, q->mult1, q->shift1), \
              pj_cmp_side((v), q->zp2, q->mult2, q->shift2))

void pj_cmp_s8(const pj_bcast *p, int32_t op, const pj_cmp_q *q, const int8_t *a,
               const int8_t *b, uint8_t *y)
{
    const uint32_t mask = pj_cmp_masks[op];
    PJ_BC2(int8_t, PJ_QCMP);
}

/* ---- logic ------------------------------------------------------------------------- */
#define PJ_AND(u, v) (uint8_t)(((u) != 0) & ((v) != 0))
#define PJ_OR(u, v) (uint8_t)(((u) != 0) | ((v) != 0))

void pj_logical(const pj_bcast *p, int32_t op, const uint8_t *a, const uint8_t *b, uint8_t *y)
{
    if (op == 0) {
        PJ_BC2(uint8_t, PJ_AND);
    } else {
        PJ_BC2(uint8_t, PJ_OR);
    }
}

void pj_logical_not(int32_t n, const uint8_t *x, uint8_t *y)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        y[i] = (uint8_t)(x[i] == 0);
    }
}

/* ---- SELECT_V2 --------------------------------------------------------------------- */
#define PJ_SELECT_LOOP(T)                                                            \
    do {                                                                             \
        const T *xs = (const T *)x, *zs = (const T *)z;                              \
        T *ys = (T *)y;                                                              \
        pj_bc_it it;                                                                 \
        const int32_t n = p->count[p->rank - 1];                                     \
        const int32_t tc = p->stride[0][p->rank - 1], tx = p->stride[1][p->rank - 1]; \
        const int32_t tz = p->stride[2][p->rank - 1];                                \
        int32_t r, k;                                                                \
        memset(&it, 0, sizeof it);                                                   \
        for (r = 0; r < p->runs; ++r, ys += n) {                                     \
            const uint8_t *pc = cond + it.off[0];                                    \
            const T *px = xs + it.off[1], *pz = zs + it.off[2];                      \
            for (k = 0; k < n; ++k) {                                                \
                ys[k] = pc[k * tc] ? px[k * tx] : pz[k * tz];                        \
            }                                                                        \
            pj_bc_next(p, &it);                                                      \
        }                                                                            \
    } while (0)

void pj_select(const pj_bcast *p, int32_t elem, const uint8_t *cond, const void *x,
               const void *z, void *y)
{
    switch (elem) {
    case 1: PJ_SELECT_LOOP(uint8_t); break;
    case 2: PJ_SELECT_LOOP(uint16_t); break;
    case 4: PJ_SELECT_LOOP(uint32_t); break;
    default: PJ_SELECT_LOOP(uint64_t); break;
    }
}

/* ---- MAXIMUM / MINIMUM ------------------------------------------------------------- */
/* MAXIMUM: u > v ? u : v; MINIMUM: u < v ? u : v (TFLM's order for NaNs). */
#define PJ_VMAXMIN(u, v) ((is_max ? (u) > (v) : (u) < (v)) ? (u) : (v))

#define PJ_DEFINE_MAXMIN(NAME, T)                                                    \
    void NAME(const pj_bcast *p, int32_t is_max, const T *a, const T *b, T *y)       \
    {                                                                                \
        PJ_BC2(T, PJ_VMAXMIN);                                                       \
    }

PJ_DEFINE_MAXMIN(pj_maxmin_s8, int8_t)
PJ_DEFINE_MAXMIN(pj_maxmin_s16, int16_t)
PJ_DEFINE_MAXMIN(pj_maxmin_s32, int32_t)
PJ_DEFINE_MAXMIN(pj_maxmin_s64, int64_t)
PJ_DEFINE_MAXMIN(pj_maxmin_f32, float)

/* ---- SQUARED_DIFFERENCE ------------------------------------------------------------ */
PJ_INLINE int32_t pj_sqdiff_side(int32_t x, int32_t zp, int32_t ls, int32_t m, int32_t s)
{
    return pj_mbqm((int32_t)((uint32_t)(x - zp) << ls), m, s);
}

PJ_INLINE int32_t pj_sqdiff_q1(const pj_sqdiff_q *q, int32_t u, int32_t v)
{
    const int32_t d = pj_sqdiff_side(u, q->zp1, q->left_shift, q->mult1, q->shift1)
                      - pj_sqdiff_side(v, q->zp2, q->left_shift, q->mult2, q->shift2);
    const int32_t sq = (int32_t)((uint32_t)d * (uint32_t)d);
    return pj_clamp32(pj_mbqm(sq, q->out_mult, q->out_shift) + q->zp_out, q->lo, q->hi);
}

#define PJ_SQD_Q8(u, v) (int8_t)pj_sqdiff_q1(q, (u), (v))
#define PJ_SQD_Q16(u, v) (int16_t)pj_sqdiff_q1(q, (u), (v))

void pj_sqdiff_s8(const pj_bcast *p, const pj_sqdiff_q *q, const int8_t *a, const int8_t *b,
                  int8_t *y)
{
    PJ_BC2(int8_t, PJ_SQD_Q8);
}

void pj_sqdiff_s16(const pj_bcast *p, const pj_sqdiff_q *q, const int16_t *a,
                   const int16_t *b, int16_t *y)
{
    PJ_BC2(int16_t, PJ_SQD_Q16);
}

PJ_INLINE int32_t pj_sqdiff_i32(int32_t u, int32_t v)
{
    const uint32_t d = (uint32_t)u - (uint32_t)v;
    return (int32_t)(d * d);
}

PJ_INLINE float pj_sqdiff_f(float u, float v)
{
    const float d = u - v;
    return d * d;
}

void pj_sqdiff_s32(const pj_bcast *p, const int32_t *a, const int32_t *b, int32_t *y)
{
    PJ_BC2(int32_t, pj_sqdiff_i32);
}

void pj_sqdiff_f32(const pj_bcast *p, const float *a, const float *b, float *y)
{
    PJ_BC2(float, pj_sqdiff_f);
}

/* ---- FLOOR_DIV / FLOOR_MOD --------------------------------------------------------- */
/* floor() of a double without libm: values of magnitude >= 2^52 (and NaN, infinities,
 * zeros) are already integers. */
PJ_INLINE double pj_floor_d(double q)
{
    double t;
    if (!(q > -4503599627370496.0 && q < 4503599627370496.0) || q == 0.0) {
        return q;
    }
    t = (double)(int64_t)q; /* truncation toward zero */
    return t > q ? t - 1.0 : t;
}

PJ_INLINE float pj_floor_div1(float u, float v)
{
    return (float)pj_floor_d((double)u / (double)v);
}

void pj_floor_div_f32(const pj_bcast *p, const float *a, const float *b, float *y)
{
    PJ_BC2(float, pj_floor_div1);
}

PJ_INLINE uint32_t pj_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

PJ_INLINE float pj_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The exact fmodf(x, y) (the remainder of x / y truncated, with x's sign) by binary long
 * division of the significands. */
static float pj_fmodf(float x, float y)
{
    const uint32_t ux = pj_f32_bits(x), uy = pj_f32_bits(y);
    const uint32_t sign = ux & 0x80000000u;
    const uint32_t ax = ux & 0x7FFFFFFFu, ay = uy & 0x7FFFFFFFu;
    int32_t ex, ey;
    uint32_t mx, my;
    if (ay == 0u || ax >= 0x7F800000u || ay > 0x7F800000u) {
        const float t = x * y; /* NaN for y = 0, x infinite or a NaN operand */
        return t / t;
    }
    if (ax < ay) {
        return x;
    }
    if (ax == ay) {
        return pj_bits_f32(sign);
    }
    ex = (int32_t)(ax >> 23);
    ey = (int32_t)(ay >> 23);
    if (ex == 0) { /* subnormal: normalize the significand */
        mx = ax;
        ex = 1;
        while ((mx & 0x800000u) == 0u) {
            mx <<= 1;
            --ex;
        }
    } else {
        mx = (ax & 0x7FFFFFu) | 0x800000u;
    }
    if (ey == 0) {
        my = ay;
        ey = 1;
        while ((my & 0x800000u) == 0u) {
            my <<= 1;
            --ey;
        }
    } else {
        my = (ay & 0x7FFFFFu) | 0x800000u;
    }
    /* mx < 2 my throughout: subtract when possible, then bring down the next bit. */
    for (; ex > ey; --ex) {
        if (mx >= my) {
            mx -= my;
        }
        mx <<= 1;
    }
    if (mx >= my) {
        mx -= my;
    }
    if (mx == 0u) {
        return pj_bits_f32(sign);
    }
    while ((mx & 0x800000u) == 0u) {
        mx <<= 1;
        --ex;
    }
    if (ex > 0) {
        return pj_bits_f32(sign | ((uint32_t)ex << 23) | (mx & 0x7FFFFFu));
    }
    return pj_bits_f32(sign | (mx >> (1 - ex))); /* subnormal (exact) */
}

PJ_INLINE float pj_floor_mod1(float u, float v)
{
    float r = pj_fmodf(u, v);
    if (r != 0.0f && ((v < 0.0f) != (r < 0.0f))) {
        r = r + v;
    }
    return r;
}

void pj_floor_mod_f32(const pj_bcast *p, const float *a, const float *b, float *y)
{
    PJ_BC2(float, pj_floor_mod1);
}

/* ---- int8 DIV ---------------------------------------------------------------------- */
/* gemmlowp RoundingDivideByPOT for any exponent as TFLM's int8 DIV runs on x86-64: the
 * mask (1 << e) - 1 is formed in 64 bits and truncated, the shift count taken mod 32. */
PJ_INLINE int32_t pj_rdbpot_x86(int32_t x, int32_t e)
{
    const uint32_t e64 = (uint32_t)e & 63u;
    const int32_t mask = (int32_t)(uint32_t)((((uint64_t)1) << e64) - 1u);
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> ((uint32_t)e & 31u)) + ((x & mask) > threshold ? 1 : 0);
}

/* Redundant sign bits of an int32 (31 for 0 and -1). */
PJ_INLINE int32_t pj_clrsb32(int32_t x)
{
    return pj_clz32((uint32_t)(x < 0 ? ~x : x)) - 1;
}

PJ_INLINE int32_t pj_div1(const pj_div_q *q, int32_t u, int32_t v)
{
    int32_t v1 = u - q->zp1, v2 = v - q->zp2;
    int32_t lead, recip_shift, shifted, inv, headroom, unscaled, total_shift, res;
    if (v2 < 0) {
        v1 = -v1;
        v2 = -v2;
    }
    /* GetReciprocal(v2, 31): v2 scaled into [1, 2), inverted in Q0.31. */
    lead = pj_clz32((uint32_t)v2);
    recip_shift = 31 - lead;
    shifted = (int32_t)(((uint32_t)v2 << ((uint32_t)lead & 31u)) - 0x80000000u);
    inv = pj_one_over_one_plus_x(shifted);
    headroom = pj_clrsb32(v1);
    unscaled = pj_srdhm((int32_t)((uint32_t)v1 << headroom), inv);
    total_shift = q->out_shift - recip_shift - headroom;
    res = pj_rdbpot_x86(pj_srdhm(unscaled, q->mult), -total_shift);
    return pj_clamp32(res + q->zp_out, q->lo, q->hi);
}

#define PJ_DIV8(u, v) (int8_t)pj_div1(q, (u), (v))

void pj_div_s8(const pj_bcast *p, const pj_div_q *q, const int8_t *a, const int8_t *b,
               int8_t *y)
{
    PJ_BC2(int8_t, PJ_DIV8);
}

/* ---- ADD_N ------------------------------------------------------------------------- */
void pj_add_n_f32(int32_t n, int32_t size, const float *const *in, float *out)
{
    int32_t i, k;
    for (i = 0; i < size; ++i) {
        float acc = 0.0f + in[0][i];
        for (k = 1; k < n; ++k) {
            acc += in[k][i];
        }
        out[i] = acc;
    }
}

void pj_add_n_s8(int32_t n, int32_t size, const pj_add_n_q *q, const int8_t *const *in,
                 int8_t *out)
{
    int32_t i, k;
    for (i = 0; i < size; ++i) {
        uint32_t acc = (uint32_t)q->start;
        for (k = 0; k < n; ++k) {
            acc += (uint32_t)q->table[in[k][i] + 128];
        }
        out[i] = (int8_t)pj_sat8(pj_mbqm((int32_t)acc, q->out_mult, q->out_shift) + q->zp_out);
    }
}

/* ---- ADD / SUB / MUL / DIV beyond 4-D ---------------------------------------------- */
PJ_INLINE float pj_arith1_f(int32_t op, float u, float v, float lo, float hi)
{
    const float r = op == 0 ? u + v : (op == 1 ? u - v : (op == 2 ? u * v : u / v));
    return r < lo ? lo : (r > hi ? hi : r);
}

#define PJ_ARITH_F(u, v) pj_arith1_f(op, (u), (v), lo, hi)

void pj_arith_f32(const pj_bcast *p, int32_t op, float lo, float hi, const float *a,
                  const float *b, float *y)
{
    PJ_BC2(float, PJ_ARITH_F);
}

PJ_INLINE int32_t pj_arith1_i(int32_t op, int32_t u, int32_t v, int32_t lo, int32_t hi)
{
    int32_t r;
    if (op == 0) {
        r = (int32_t)((uint32_t)u + (uint32_t)v);
    } else if (op == 1) {
        r = (int32_t)((uint32_t)u - (uint32_t)v);
    } else if (op == 2) {
        r = (int32_t)((uint32_t)u * (uint32_t)v);
    } else if (v == 0 || (u == INT32_MIN && v == -1)) {
        r = INT32_MIN;
    } else {
        r = u / v;
    }
    return pj_clamp32(r, lo, hi);
}

#define PJ_ARITH_I(u, v) pj_arith1_i(op, (u), (v), lo, hi)

void pj_arith_s32(const pj_bcast *p, int32_t op, int32_t lo, int32_t hi, const int32_t *a,
                  const int32_t *b, int32_t *y)
{
    PJ_BC2(int32_t, PJ_ARITH_I);
}

PJ_INLINE int32_t pj_addsub1(const pj_addsub_q *q, int32_t u, int32_t v)
{
    const int32_t s1 = pj_mbqm((int32_t)((uint32_t)(u - q->zp1) << q->left_shift), q->mult1,
                               q->shift1);
    const int32_t s2 = pj_mbqm((int32_t)((uint32_t)(v - q->zp2) << q->left_shift), q->mult2,
                               q->shift2);
    const int32_t raw = q->sign > 0 ? s1 + s2 : s1 - s2;
    return pj_clamp32(pj_mbqm(raw, q->out_mult, q->out_shift) + q->zp_out, q->lo, q->hi);
}

#define PJ_ADDSUB8(u, v) (int8_t)pj_addsub1(q, (u), (v))
#define PJ_ADDSUB16(u, v) (int16_t)pj_addsub1(q, (u), (v))

void pj_addsub_nd_s8(const pj_bcast *p, const pj_addsub_q *q, const int8_t *a,
                     const int8_t *b, int8_t *y)
{
    PJ_BC2(int8_t, PJ_ADDSUB8);
}

void pj_addsub_nd_s16(const pj_bcast *p, const pj_addsub_q *q, const int16_t *a,
                      const int16_t *b, int16_t *y)
{
    PJ_BC2(int16_t, PJ_ADDSUB16);
}

PJ_INLINE int32_t pj_mul1(const pj_mul_q *q, int32_t u, int32_t v)
{
    const int32_t prod = (u - q->zp1) * (v - q->zp2);
    return pj_clamp32(pj_mbqm(prod, q->mult, q->shift) + q->zp_out, q->lo, q->hi);
}

#define PJ_MUL8(u, v) (int8_t)pj_mul1(q, (u), (v))
#define PJ_MUL16(u, v) (int16_t)pj_mul1(q, (u), (v))

void pj_mul_nd_s8(const pj_bcast *p, const pj_mul_q *q, const int8_t *a, const int8_t *b,
                  int8_t *y)
{
    PJ_BC2(int8_t, PJ_MUL8);
}

void pj_mul_nd_s16(const pj_bcast *p, const pj_mul_q *q, const int16_t *a, const int16_t *b,
                   int16_t *y)
{
    PJ_BC2(int16_t, PJ_MUL16);
}
