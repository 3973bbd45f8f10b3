/* Activations, elementwise math and normalisation (see pj_activation.h).
 *
 * float32 math without libm.  TFLM's reference kernels call float32 libm; the functions
 * below are written for float32 arithmetic (single-precision FPUs: no double anywhere) and
 * stay within a few ulps of the correctly rounded results over the whole float range,
 * with IEEE special values (NaN in -> NaN out; exp overflow -> +inf; log(0) = -inf;
 * log(x < 0) and sqrt(x < 0) = NaN; rsqrt(+-0) = +-inf):
 *   - exp: x = k ln2 + r (Cody-Waite, ln2_hi exact in 15 bits, so k * ln2_hi is exact for
 *     |k| <= 150), |r| <= ln2 / 2, degree-7 Taylor polynomial (truncation < 6e-9),
 *     2^k through the exponent field in two steps (overflow and subnormal results);
 *   - expm1: the degree-8 Taylor polynomial for |x| < ln2 / 2 (keeps relative accuracy
 *     near 0), exp(x) - 1 elsewhere;
 *   - log: x = 2^e m with m in [sqrt(1/2), sqrt 2), log m = 2 atanh(f / (2 + f)) with
 *     f = m - 1 (odd series to s^11, truncation < 1e-10);
 *   - tanh: expm1(2|x|) / (expm1(2|x|) + 2) below ln(3)/2, 1 - 2 / (exp(2|x|) + 1) above;
 *   - erfc (GELU): erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2), P of degree 9 fitted
 *     to the exact function on [0, 10.1] (error 8e-8); z^2 is split so that exp(-zh^2)
 *     is exact in its argument (zh: z with 12 significant bits); erfc(-z) = 2 - erfc(z);
 *   - sqrt: correctly rounded (VSQRT on FPUs; else an integer square root of the
 *     mantissa), so SQRT, RSQRT and the L2 norm round exactly as libm's.
 * FLOOR, CEIL, ROUND, ABS and NEG are exact bit manipulations.
 *
 * Integer kernels reproduce the reference interpreter's (TFLM's) integer arithmetic.
 */
#include "pj_common.h"
#include "pj_activation.h"

/* ============================================================== float32 math helpers */
PJ_INLINE uint32_t pj_fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

PJ_INLINE float pj_bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

#define PJ_F_INF 0x7F800000u
#define PJ_F_NAN 0x7FC00000u
#define PJ_LN2_HI 0x1.62e4p-1f       /* 0.693145751953125: 15 significant bits */
#define PJ_LN2_LO 0x1.7f7d1cp-20f    /* ln 2 - PJ_LN2_HI */
#define PJ_LOG2E 0x1.715476p+0f

/* p * 2^k for p in [1/2, 2] and k in [-152, 128]: one rounding. */
static float pj_scale2f(float p, int32_t k)
{
    if (k > 127) {
        p *= 0x1p127f;
        k -= 127;
    } else if (k < -126) {
        p *= pj_bitsf((uint32_t)(k + 126 + 127) << 23); /* 2^(k+126), normal */
        return p * 0x1p-126f;                           /* one rounding (subnormal) */
    }
    return p * pj_bitsf((uint32_t)(k + 127) << 23);
}

static float pj_expf(float x)
{
    int32_t k;
    float r, p;
    if (x != x) {
        return x;
    }
    if (x > 0x1.62e42ep+6f) { /* above ln(FLT_MAX) */
        return pj_bitsf(PJ_F_INF);
    }
    if (x < -104.0f) {
        return 0.0f;
    }
    r = x * PJ_LOG2E;
    k = (int32_t)(r + (r < 0.0f ? -0.5f : 0.5f));
    r = (x - (float)k * PJ_LN2_HI) - (float)k * PJ_LN2_LO;
    p = 0x1.a01a02p-13f + r * 0x1.a01a02p-16f;
    p = 0x1.6c16c2p-10f + r * p;
    p = 0x1.111112p-7f + r * p;
    p = 0x1.555556p-5f + r * p;
    p = 0x1.555556p-3f + r * p;
    p = 0.5f + r * p;
    p = 1.0f + r * (1.0f + r * p);
    return pj_scale2f(p, k);
}

static float pj_expm1f(float x)
{
    const float a = x < 0.0f ? -x : x;
    float p;
    if (a < 0.34657359f) {
        p = 0x1.a01a02p-13f + x * 0x1.a01a02p-16f;
        p = 0x1.6c16c2p-10f + x * p;
        p = 0x1.111112p-7f + x * p;
        p = 0x1.555556p-5f + x * p;
        p = 0x1.555556p-3f + x * p;
        p = 0.5f + x * p;
        return x + (x * x) * p;
    }
    return pj_expf(x) - 1.0f;
}

static float pj_logf(float x)
{
    uint32_t u = pj_fbits(x);
    int32_t e = 0;
    float m, f, s, z, r;
    if (x != x) {
        return x;
    }
    if (u & 0x80000000u) {
        return (u & 0x7FFFFFFFu) == 0u ? pj_bitsf(0xFF800000u) : pj_bitsf(PJ_F_NAN);
    }
    if (u == 0u) {
        return pj_bitsf(0xFF800000u);
    }
    if (u >= PJ_F_INF) {
        return x;
    }
    if (u < 0x00800000u) { /* subnormal: scale into the normal range */
        u = pj_fbits(x * 0x1p25f);
        e = -25;
    }
    e += (int32_t)(u >> 23) - 127;
    u = (u & 0x007FFFFFu) | 0x3F800000u; /* m in [1, 2) */
    if (u > 0x3FB504F3u) {               /* m > sqrt 2: use m / 2 */
        u -= 0x00800000u;
        ++e;
    }
    m = pj_bitsf(u);
    f = m - 1.0f;
    s = f / (2.0f + f);
    z = s * s;
    r = 0x1.3b13b2p-3f;
    r = 0x1.745d18p-3f + z * r;
    r = 0x1.c71c72p-3f + z * r;
    r = 0x1.24924ap-2f + z * r;
    r = 0x1.99999ap-2f + z * r;
    r = 0x1.555556p-1f + z * r;
    r = 2.0f * s + s * (z * r);
    return (float)e * PJ_LN2_HI + (r + (float)e * PJ_LN2_LO);
}

static float pj_tanhf(float x)
{
    const uint32_t sign = pj_fbits(x) & 0x80000000u;
    const float a = pj_bitsf(pj_fbits(x) & 0x7FFFFFFFu);
    float t;
    if (x != x) {
        return x;
    }
    if (a < 0.54930614f) {
        t = pj_expm1f(2.0f * a);
        t = t / (t + 2.0f);
    } else if (a < 9.5f) {
        t = 1.0f - 2.0f / (pj_expf(2.0f * a) + 1.0f);
    } else {
        t = 1.0f;
    }
    return pj_bitsf(pj_fbits(t) | sign);
}

/* erfc(z) for z >= 0 (see the file comment). */
static float pj_erfc_pos(float z)
{
    float t, p, zh;
    if (z > 10.1f) {
        return 0.0f;
    }
    t = 1.0f / (1.0f + 0.5f * z);
    p = 0x1.24dbc0p-3f;
    p = -0x1.5742b6p-1f + t * p;
    p = 0x1.21f6dcp+0f + t * p;
    p = -0x1.5470a0p-1f + t * p;
    p = -0x1.affed0p-4f + t * p;
    p = 0x1.d0574ap-7f + t * p;
    p = 0x1.f2468cp-6f + t * p;
    p = 0x1.8cc46ap-2f + t * p;
    p = 0x1.ff4108p-1f + t * p;
    p = -0x1.43f422p+0f + t * p;
    zh = pj_bitsf(pj_fbits(z) & 0xFFFFF000u);
    return t * pj_expf(-(zh * zh)) * pj_expf((zh - z) * (zh + z) + p);
}

static float pj_erfcf(float z)
{
    if (z != z) {
        return z;
    }
    return z < 0.0f ? 2.0f - pj_erfc_pos(-z) : pj_erfc_pos(z);
}

/* Correctly rounded square root. */
#if defined(__GNUC__) && defined(__ARM_FP) && (__ARM_FP & 4)
PJ_INLINE float pj_sqrtf(float x)
{
    float r;
    __asm__("vsqrt.f32 %0, %1" : "=t"(r) : "t"(x));
    return r;
}
#else
static float pj_sqrtf(float x)
{
    uint32_t u = pj_fbits(x);
    int32_t e;
    uint64_t m, bit, res = 0;
    if (x != x || u == 0u || u == 0x80000000u || u == PJ_F_INF) {
        return x; /* NaN, +-0, +inf */
    }
    if (u & 0x80000000u) {
        return pj_bitsf(PJ_F_NAN);
    }
    e = (int32_t)(u >> 23);
    m = u & 0x007FFFFFu;
    if (e == 0) { /* subnormal: normalise the mantissa */
        e = 1;
        while (m < 0x00800000u) {
            m <<= 1;
            --e;
        }
    } else {
        m |= 0x00800000u;
    }
    /* x = m 2^E, E = e - 150; sqrt(x) = sqrt(m 2^s) 2^((E - s) / 2) with E - s even and
     * m 2^s in [2^46, 2^48): its integer square root has exactly 24 bits. */
    e -= 150;
    if (e & 1) {
        m <<= 23;
        e -= 23;
    } else {
        m <<= 24;
        e -= 24;
    }
    for (bit = (uint64_t)1 << 46; bit != 0u; bit >>= 2) {
        if (m >= res + bit) {
            m -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
    }
    /* m is now the remainder; (res + 1/2)^2 is never an integer: round up iff m > res.
     * A carry out of the mantissa moves into the exponent field, as it should. */
    return pj_bitsf((((uint32_t)(e / 2 + 23 + 127) << 23) + (uint32_t)res - 0x00800000u)
                    + (m > res ? 1u : 0u));
}
#endif

static float pj_floorf(float x)
{
    uint32_t u = pj_fbits(x);
    const int32_t e = (int32_t)((u >> 23) & 0xFFu) - 127;
    uint32_t mask;
    if (e >= 23) {
        return x; /* integral, inf or NaN */
    }
    if (e < 0) { /* |x| < 1 */
        return (u & 0x80000000u) && (u & 0x7FFFFFFFu) ? -1.0f : pj_bitsf(u & 0x80000000u);
    }
    mask = 0x007FFFFFu >> e;
    if ((u & mask) == 0u) {
        return x;
    }
    if (u & 0x80000000u) {
        u += 0x00800000u >> e;
    }
    return pj_bitsf(u & ~mask);
}

static float pj_ceilf(float x)
{
    uint32_t u = pj_fbits(x);
    const int32_t e = (int32_t)((u >> 23) & 0xFFu) - 127;
    uint32_t mask;
    if (e >= 23) {
        return x;
    }
    if (e < 0) {
        return !(u & 0x80000000u) && u ? 1.0f : pj_bitsf(u & 0x80000000u);
    }
    mask = 0x007FFFFFu >> e;
    if ((u & mask) == 0u) {
        return x;
    }
    if (!(u & 0x80000000u)) {
        u += 0x00800000u >> e;
    }
    return pj_bitsf(u & ~mask);
}

/* TFLite's RoundToNearest: floor, then up unless the fraction is below one half (or
 * exactly one half with an even floor). */
static float pj_roundf_even(float x)
{
    const float f = pj_floorf(x);
    const float d = x - f;
    int even;
    if (d < 0.5f) {
        return f;
    }
    even = !(f < 16777216.0f && f > -16777216.0f) || (((int32_t)f & 1) == 0);
    return d == 0.5f && even ? f : f + 1.0f;
}

/* ============================================================== float32 elementwise */
#define PJ_MAP_F32(name, expr)                                   \
    void name(int32_t n, const float *in, float *out)            \
    {                                                            \
        int32_t i;                                               \
        for (i = 0; i < n; ++i) {                                \
            const float v = in[i];                               \
            out[i] = (expr);                                     \
        }                                                        \
    }

PJ_MAP_F32(pj_exp_f32, pj_expf(v))
PJ_MAP_F32(pj_log_f32, pj_logf(v))
PJ_MAP_F32(pj_sqrt_f32, pj_sqrtf(v))
PJ_MAP_F32(pj_rsqrt_f32, 1.0f / pj_sqrtf(v))
PJ_MAP_F32(pj_abs_f32, pj_bitsf(pj_fbits(v) & 0x7FFFFFFFu))
PJ_MAP_F32(pj_neg_f32, pj_bitsf(pj_fbits(v) ^ 0x80000000u))
PJ_MAP_F32(pj_floor_f32, pj_floorf(v))
PJ_MAP_F32(pj_ceil_f32, pj_ceilf(v))
PJ_MAP_F32(pj_round_f32, pj_roundf_even(v))
PJ_MAP_F32(pj_tanh_f32, pj_tanhf(v))
PJ_MAP_F32(pj_elu_f32, v < 0.0f ? pj_expm1f(v) : v)

/* TFLM: 1 above 16.619..., exp(v) below -9, else 1 / (1 + exp(-v)). */
PJ_MAP_F32(pj_logistic_f32, v > 0x1.09e79ep+4f ? 1.0f
           : (v < -9.0f ? pj_expf(v) : 1.0f / (1.0f + pj_expf(-v))))

/* in * min(6, max(0, in + 3)) / 6 with std::min/max's NaN behaviour (NaN + 3 -> 0). */
PJ_INLINE float pj_hard_swish1(float v)
{
    float t = v + 3.0f;
    t = 0.0f < t ? t : 0.0f;
    t = t < 6.0f ? t : 6.0f;
    return v * t / 6.0f;
}
PJ_MAP_F32(pj_hard_swish_f32, pj_hard_swish1(v))

void pj_gelu_f32(int32_t n, int32_t approximate, const float *in, float *out)
{
    int32_t i;
    if (approximate) {
        for (i = 0; i < n; ++i) {
            const float v = in[i];
            const float inner = 0x1.988454p-1f * (v + 0.044715f * v * v * v);
            out[i] = 0.5f * v * (1.0f + pj_tanhf(inner));
        }
    } else {
        for (i = 0; i < n; ++i) {
            const float v = in[i];
            out[i] = 0.5f * v * pj_erfcf(v * -0x1.6a09e6p-1f);
        }
    }
}

void pj_relu_f32(int32_t n, float lo, float hi, int32_t has_hi, const float *in, float *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const float v = in[i];
        out[i] = has_hi && v > hi ? hi : (v < lo ? lo : v);
    }
}

void pj_leaky_relu_f32(int32_t n, float alpha, const float *in, float *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const float v = in[i];
        out[i] = v > 0.0f ? v : v * alpha;
    }
}

/* ============================================================== rows */
void pj_l2norm_f32(int32_t rows, int32_t depth, const float *in, float *out)
{
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        const float *x = in + r * depth;
        float *y = out + r * depth;
        float s = 0.0f, norm;
        for (i = 0; i < depth; ++i) {
            s += x[i] * x[i];
        }
        norm = pj_sqrtf(s);
        norm = norm < 1e-6f ? 1e-6f : norm;
        for (i = 0; i < depth; ++i) {
            y[i] = x[i] / norm;
        }
    }
}

void pj_log_softmax_f32(int32_t rows, int32_t depth, const float *in, float *out)
{
    int32_t r, i;
    for (r = 0; r < rows; ++r) {
        const float *x = in + r * depth;
        float *y = out + r * depth;
        float mx = x[0], s = 0.0f, log_sum;
        for (i = 1; i < depth; ++i) {
            mx = x[i] > mx ? x[i] : mx;
        }
        for (i = 0; i < depth; ++i) {
            s += pj_expf(x[i] - mx);
        }
        log_sum = pj_logf(s);
        for (i = 0; i < depth; ++i) {
            y[i] = (x[i] - mx) - log_sum;
        }
    }
}

/* ============================================================== fixed point helpers */
/* TFLM MultiplyByQuantizedMultiplier for any multiplier sign (saturating high multiply,
 * then the rounding right shift). */
PJ_INLINE int32_t pj_mbqm_any(int32_t x, int32_t m, int32_t shift)
{
    const int32_t xs = shift > 0 ? (int32_t)((uint32_t)x << shift) : x;
    const int32_t h = pj_srdhm(xs, m);
    return shift < 0 ? pj_rdbpot(h, -shift) : h;
}

/* TFLite SaturatingRoundingMultiplyByPOTParam for exponent in [0, 31]. */
PJ_INLINE int32_t pj_sat_pot(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

PJ_INLINE int32_t pj_add_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

PJ_INLINE int32_t pj_sub_wrap(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* gemmlowp RoundingHalfSum. */
PJ_INLINE int32_t pj_rounding_half_sum(int32_t a, int32_t b)
{
    int64_t t = (int64_t)a + b;
    t += t >= 0 ? 1 : -1;
    return (int32_t)(t >= 0 ? t / 2 : -((-t) / 2));
}

/* TFLite log_x_for_x_greater_than_or_equal_to_1_impl<12, 5>: log of a Q12.19 value >= 1,
 * as Q5.26 (accumulated in Q6.25). */
static int32_t pj_log_q12_to_q5(int32_t x)
{
    const int32_t log_2 = 1488522236, sqrt_sqrt_half = 1805811301, sqrt_half = 1518500250;
    const int32_t alpha_n = 117049297, alpha_d = 127690142, alpha_i = 1057819769;
    const int32_t alpha_f = 638450708, shifted_quarter = 1 << 23;
    const int32_t za_hr = pj_clz32((uint32_t)x);
    const int32_t ra_raw = pj_sat_pot(pj_srdhm(pj_sat_pot(x, za_hr - 1), sqrt_half), 1);
    const int32_t za_adj = pj_sat_pot(12 - za_hr, 25) + shifted_quarter;
    const int32_t zb_hr = pj_clz32((uint32_t)pj_srdhm(x, sqrt_half)) - 1;
    const int32_t rb_raw = pj_sat_pot(x, zb_hr);
    const int32_t zb_adj = pj_sat_pot(12 - zb_hr, 25) - shifted_quarter;
    const int32_t r = ra_raw < rb_raw ? ra_raw : rb_raw;
    const int32_t z_adj = za_adj > zb_adj ? za_adj : zb_adj;
    const int32_t p = pj_rounding_half_sum(r, sqrt_sqrt_half);
    int32_t q = pj_sub_wrap(r, sqrt_sqrt_half);
    int32_t sq, num, den, total;
    q = pj_add_wrap(q, q);
    sq = pj_srdhm(q, q);
    num = pj_add_wrap(pj_srdhm(q, r), pj_srdhm(pj_srdhm(q, sq), alpha_n));
    den = pj_add_wrap(pj_srdhm(p, pj_add_wrap(pj_add_wrap(alpha_i, q), pj_srdhm(alpha_d, sq))),
                      pj_srdhm(alpha_f, q));
    total = pj_add_wrap(pj_srdhm(z_adj, log_2),
                        pj_srdhm(pj_rdbpot(num, 6), pj_one_over_one_plus_x(den)));
    return pj_sat_shl(total, 1);
}

/* ============================================================== int8 rows */
/* TFLite GetInvSqrtQuantizedMultiplierExp (reverse shift): 1/sqrt(x) as m 2^shift. */
static void pj_inv_sqrt(int32_t x, int32_t *mult, int32_t *shift)
{
    const int32_t half_three = (1 << 28) + (1 << 27);
    int32_t s = 11, pairs, half_input, y, i;
    if (x <= 1) {
        *mult = INT32_MAX;
        *shift = 0;
        return;
    }
    if (x >= (1 << 29)) {
        x /= 4;
        ++s;
    }
    pairs = (pj_clz32((uint32_t)x) - 1) / 2 - 1;
    s -= pairs;
    x <<= 2 * pairs;
    half_input = pj_rdbpot(x >> 1, 1);
    y = 1 << 28;
    for (i = 0; i < 5; ++i) {
        const int32_t y3 = pj_sat_shl(pj_srdhm(pj_srdhm(y, y), y), 6);
        y = pj_sat_shl(pj_sub_wrap(pj_srdhm(half_three, y), pj_srdhm(half_input, y3)), 3);
    }
    y = pj_srdhm(y, 1518500250);
    if (s < 0) {
        y = (int32_t)((uint32_t)y << -s);
        s = 0;
    }
    *mult = y;
    *shift = -s;
}

void pj_l2norm_s8(int32_t rows, int32_t depth, int32_t in_zp, const int8_t *in, int8_t *out)
{
    int32_t r, i, mult, shift;
    for (r = 0; r < rows; ++r) {
        const int8_t *x = in + r * depth;
        int8_t *y = out + r * depth;
        uint32_t acc = 0;
        for (i = 0; i < depth; ++i) {
            const int32_t d = x[i] - in_zp;
            acc += (uint32_t)(d * d);
        }
        pj_inv_sqrt((int32_t)acc, &mult, &shift);
        for (i = 0; i < depth; ++i) {
            y[i] = (int8_t)pj_sat8(pj_mbqm_any(x[i] - in_zp, mult, shift + 7));
        }
    }
}

void pj_log_softmax_s8(const pj_log_softmax_params *p, const int8_t *in, int8_t *out)
{
    const int32_t depth = p->depth;
    int32_t r, i;
    for (r = 0; r < p->rows; ++r) {
        const int8_t *x = in + r * depth;
        int8_t *y = out + r * depth;
        int32_t mx = -128, log_sum, adj_min;
        uint32_t sum = 0;
        for (i = 0; i < depth; ++i) {
            mx = x[i] > mx ? x[i] : mx;
        }
        for (i = 0; i < depth; ++i) {
            sum += (uint32_t)p->exp_q12[x[i] - mx + 255];
        }
        log_sum = pj_log_q12_to_q5((int32_t)sum);
        adj_min = pj_mbqm_any(pj_add_wrap(log_sum, INT32_MIN), p->reverse_mult,
                              p->reverse_shift);
        adj_min = adj_min > p->diff_min - 1 ? adj_min : p->diff_min - 1;
        for (i = 0; i < depth; ++i) {
            const int32_t d = x[i] - mx;
            int32_t v = -128;
            if (d > adj_min) {
                v = pj_sat8(pj_rdbpot(pj_sub_wrap(p->diff_q5[d + 255], log_sum), 22) + 127);
            }
            y[i] = (int8_t)v;
        }
    }
}

/* ============================================================== PRELU */
/* Walks the output rows (all dimensions but the last) keeping the operands' offsets. */
typedef struct {
    int32_t idx[PJ_PRELU_RANK - 1];
    int32_t xo, ao;
} pj_prelu_iter;

static void pj_prelu_next(const pj_prelu_params *p, pj_prelu_iter *it)
{
    int32_t d;
    for (d = PJ_PRELU_RANK - 2; d >= 0; --d) {
        it->xo += p->x_strides[d];
        it->ao += p->a_strides[d];
        if (++it->idx[d] < p->dims[d]) {
            return;
        }
        it->xo -= p->x_strides[d] * p->dims[d];
        it->ao -= p->a_strides[d] * p->dims[d];
        it->idx[d] = 0;
    }
}

PJ_INLINE int32_t pj_prelu_rows(const pj_prelu_params *p)
{
    int32_t d, rows = 1;
    for (d = 0; d < PJ_PRELU_RANK - 1; ++d) {
        rows *= p->dims[d];
    }
    return rows;
}

void pj_prelu_f32(const pj_prelu_params *p, const float *in, const float *alpha, float *out)
{
    const int32_t rows = pj_prelu_rows(p), n = p->dims[PJ_PRELU_RANK - 1];
    const int32_t xs = p->x_strides[PJ_PRELU_RANK - 1], as = p->a_strides[PJ_PRELU_RANK - 1];
    pj_prelu_iter it;
    int32_t r, i;
    memset(&it, 0, sizeof it);
    for (r = 0; r < rows; ++r, pj_prelu_next(p, &it)) {
        const float *x = in + it.xo;
        const float *a = alpha + it.ao;
        for (i = 0; i < n; ++i) {
            const float v = x[i * xs];
            *out++ = v >= 0.0f ? v : v * a[i * as];
        }
    }
}

#define PJ_PRELU_Q(name, T, lo, hi)                                                        \
    void name(const pj_prelu_params *p, const T *in, const int8_t *alpha, T *out)         \
    {                                                                                      \
        const int32_t rows = pj_prelu_rows(p), n = p->dims[PJ_PRELU_RANK - 1];            \
        const int32_t xs = p->x_strides[PJ_PRELU_RANK - 1];                                \
        const int32_t as = p->a_strides[PJ_PRELU_RANK - 1];                                \
        pj_prelu_iter it;                                                                  \
        int32_t r, i;                                                                      \
        memset(&it, 0, sizeof it);                                                         \
        for (r = 0; r < rows; ++r, pj_prelu_next(p, &it)) {                                \
            const T *x = in + it.xo;                                                       \
            const int8_t *a = alpha + it.ao;                                               \
            for (i = 0; i < n; ++i) {                                                      \
                const int32_t v = x[i * xs] - p->in_zp;                                    \
                const int32_t o = v >= 0                                                   \
                    ? pj_mbqm(v, p->id_mult, p->id_shift)                                  \
                    : pj_mbqm(v * (a[i * as] - p->alpha_zp), p->alpha_mult, p->alpha_shift); \
                *out++ = (T)pj_clamp32(o + p->out_zp, lo, hi);                             \
            }                                                                              \
        }                                                                                  \
    }

PJ_PRELU_Q(pj_prelu_s8, int8_t, p->q_min, p->q_max)
PJ_PRELU_Q(pj_prelu_s16, int16_t, p->q_min, p->q_max)

/* ============================================================== int16 elementwise */
PJ_INLINE int16_t pj_wrap16(int32_t v)
{
    return (int16_t)(((v + 32768) & 0xFFFF) - 32768);
}

void pj_requant_s16(const pj_rq16_params *p, const int16_t *in, int16_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        int32_t v = in[i] - p->in_zp;
        if (p->op == 1) {
            v = v < 0 ? -v : v;
        } else if (p->op == 2) {
            v = -v;
        }
        if (p->mult != 0) {
            v = pj_mbqm(v, p->mult, p->shift);
        }
        out[i] = pj_wrap16(pj_clamp32(v + p->out_zp, p->q_min, p->q_max));
    }
}

void pj_sigmoid_s16(const pj_sigmoid16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t ls = p->left_shift;
    const uint32_t rnd = ls > 0 ? 1u << (ls - 1) : 0u;
    const int32_t seg = p->is_tanh ? 8 : 9; /* input bits per table segment */
    const int32_t frac = (1 << seg) - 1;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v =
            (int32_t)((uint32_t)(int32_t)in[i] * (uint32_t)p->multiplier + rnd) >> ls;
        const uint32_t a = v < 0 ? 0u - (uint32_t)v : (uint32_t)v; /* |INT32_MIN| = 2^31 */
        const uint32_t uh = a >> seg;
        int32_t res;
        if (uh >= 255u) {
            res = p->is_tanh ? 0xFFFF << 8 : 0x7FFF << 10;
        } else {
            const int32_t ua = p->table[uh], ub = p->table[uh + 1];
            res = (ua << seg) + (int32_t)(a & (uint32_t)frac) * (ub - ua);
        }
        if (p->is_tanh) {
            res = v >= 0 ? res - (1 << 23) + (1 << 7) : (1 << 23) + (1 << 7) - 1 - res;
            res >>= 8;
        } else {
            res = v >= 0 ? res + (1 << 9) : (1 << 25) - res + (1 << 9) - 1;
            res >>= 10;
        }
        out[i] = pj_wrap16(res);
    }
}

void pj_lut513_s16(int32_t n, const int16_t *lut, const int16_t *in, int16_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t x = in[i];
        const int32_t index = 256 + (x >> 7);
        const int32_t base = lut[index];
        out[i] = pj_wrap16(base + (((lut[index + 1] - base) * (x & 0x7F) + 64) >> 7));
    }
}

/* ============================================================== integer NEG */
void pj_neg_s32(int32_t n, const int32_t *in, int32_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = (int32_t)(0u - (uint32_t)in[i]);
    }
}

void pj_neg_s64(int32_t n, const int64_t *in, int64_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        out[i] = (int64_t)(0u - (uint64_t)in[i]);
    }
}
