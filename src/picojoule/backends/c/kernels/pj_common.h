/* picojoule generated-library support: fixed-point helpers shared by the kernels.
 *
 * The integer arithmetic reproduces TensorFlow Lite Micro's reference kernels bit for
 * bit (gemmlowp-style "saturating rounding doubling high multiply" followed by a
 * rounding right shift: two roundings, as TFLM does).  Only <stdint.h> and <string.h>.
 *
 * Assumes two's-complement integers with arithmetic right shifts of negative values
 * (true of every compiler picojoule targets: gcc, clang, arm-none-eabi-gcc).
 */
#ifndef PJ_COMMON_H
#define PJ_COMMON_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define PJ_INLINE static __inline__ __attribute__((always_inline))
#else
#define PJ_INLINE static
#endif

/* A compiler barrier: memory is reloaded after it.  The DSP kernels use it to make the
 * compiler reload weights instead of keeping them in registers (which would spill the
 * accumulators on a 14-register core). */
#if defined(__GNUC__)
#define PJ_RELOAD_BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#define PJ_RELOAD_BARRIER() ((void)0)
#endif

/* Use the Cortex-M DSP extension (dual 16-bit MACs) when the compiler says it exists. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(PJ_NO_DSP)
#define PJ_HAVE_DSP 1
#include <arm_acle.h>
#else
#define PJ_HAVE_DSP 0
#endif

/* The kernels' inline-assembly loops need GNU C, DSP instructions and an optimizing build:
 * they hold up to 14 register operands, which -O0 (a frame pointer in r7) cannot provide.
 * Otherwise the equivalent C runs. */
#if PJ_HAVE_DSP && defined(__GNUC__) && defined(__OPTIMIZE__) && !defined(PJ_NO_ASM)
#define PJ_DSP_ASM 1
#else
#define PJ_DSP_ASM 0
#endif

PJ_INLINE int32_t pj_min32(int32_t a, int32_t b) { return a < b ? a : b; }
PJ_INLINE int32_t pj_max32(int32_t a, int32_t b) { return a > b ? a : b; }
PJ_INLINE int32_t pj_clamp32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Two's-complement wrap of a 64-bit value into int32 (what TFLM's int32 overflow does). */
PJ_INLINE int32_t pj_wrap32(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }

/* gemmlowp SaturatingRoundingDoublingHighMul: (a*b*2 + 2^31 rounding) >> 32, with the
 * rounding nudge chosen by the product's sign and a truncating division. */
PJ_INLINE int32_t pj_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t v;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    v = ab + (ab >= 0 ? (int64_t)(1 << 30) : (int64_t)(1 - (1 << 30)));
    /* C division by 2^31 truncates toward zero: emulate it with shifts. */
    return (int32_t)(v >= 0 ? (v >> 31) : -((-v) >> 31));
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent, halves away from zero. */
PJ_INLINE int32_t pj_rdbpot(int32_t x, int exponent)
{
    int32_t mask = (int32_t)(((uint32_t)1 << exponent) - 1u);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLM MultiplyByQuantizedMultiplier (int32 version) for a multiplier >= 0 (every
 * multiplier picojoule generates; the generator checks), with the shift split into
 * left = max(shift, 0) and right = max(-shift, 0).
 *
 * TFLM rounds twice: h = SaturatingRoundingDoublingHighMul(x, m), then
 * RoundingDivideByPOT(h, right).  For m >= 0 the first is exactly (x*m + 2^30) >> 31 (an
 * arithmetic shift: the sign-dependent nudge and C's truncating division combine into a
 * floor; no saturation is possible).  The second is (h >> r) plus one when the remainder
 * h & (2^r - 1) exceeds half (ties away from zero), computed without overflow. */
PJ_INLINE int32_t pj_mbqm_lr(int32_t x, int32_t multiplier, int32_t left, int32_t right)
{
    const int32_t xs = (int32_t)((uint32_t)x << left);
    const int32_t h = (int32_t)(((int64_t)xs * multiplier + ((int64_t)1 << 30)) >> 31);
    if (right > 0) {
        const uint32_t rem = (uint32_t)h & ((1u << right) - 1u);
        const uint32_t up = (rem + (1u << (right - 1)) - (h < 0 ? 1u : 0u)) >> right;
        return (h >> right) + (int32_t)up;
    }
    return h;
}

PJ_INLINE int32_t pj_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    return shift > 0 ? pj_mbqm_lr(x, multiplier, shift, 0) : pj_mbqm_lr(x, multiplier, 0, -shift);
}

/* The same requantization plus the output zero point, folded for speed, valid when the
 * shift is a right shift r in [1, 23] (the generator checks).  Per channel the generator
 * stores rq = {multiplier, r - 1, low word, high word of 2^30 + 2^(30+r) + zp * 2^(31+r)}.
 *
 * With u = x*m + 2^30, TFLM's two roundings equal (u + 2^(30+r) - 2^31 [u < 0]) >> (31+r).
 * For r >= 1, [u < 0] may be replaced by [x < 0]: they differ only when 0 <= u <= 2^30,
 * where both choices give 0.  One multiply-accumulate, a sign fix-up and a shift. */
PJ_INLINE int32_t pj_rq(int32_t x, const int32_t *rq)
{
    const int64_t fold = (int64_t)(((uint64_t)(uint32_t)rq[3] << 32) | (uint32_t)rq[2]);
    const int64_t v = (int64_t)x * rq[0] + fold - ((int64_t)((uint32_t)x >> 31) << 31);
    return (int32_t)(v >> 32) >> rq[1];
}

/* pj_rq that also accepts shift 0 (rows with r - 1 == -1 and fold = 2^30 + zp * 2^31):
 * then the result is the high-multiply alone, (x*m + 2^30) >> 31, plus the zero point. */
PJ_INLINE int32_t pj_rq_any(int32_t x, const int32_t *rq)
{
    if (rq[1] < 0) {
        const int64_t fold = (int64_t)(((uint64_t)(uint32_t)rq[3] << 32) | (uint32_t)rq[2]);
        return (int32_t)(((int64_t)x * rq[0] + fold) >> 31);
    }
    return pj_rq(x, rq);
}

/* Saturating x * 2^exponent for exponent in [1, 30] (gemmlowp SaturatingRoundingMultiplyByPOT). */
PJ_INLINE int32_t pj_sat_shl(int32_t x, int exponent)
{
    int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* Saturate to int8: one SSAT on DSP cores. */
PJ_INLINE int32_t pj_sat8(int32_t v)
{
#if PJ_HAVE_DSP
    return __ssat(v, 8);
#else
    return v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
}

/* Count leading zeros of a 32-bit value (32 for 0). */
PJ_INLINE int pj_clz32(uint32_t x)
{
#if defined(__GNUC__)
    return x == 0u ? 32 : __builtin_clz(x);
#else
    int n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/* Unaligned-safe 32-bit load (compiles to one LDR on cores that allow unaligned access). */
PJ_INLINE uint32_t pj_read32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* 32-bit load from a 4-byte aligned address holding int8/int16 data (the arena, weights the
 * generator aligned).  GNU compilers get a may_alias type, so adjacent loads can merge into
 * LDRD without breaking strict aliasing; elsewhere memcpy. */
#if defined(__GNUC__)
typedef uint32_t pj_u32_alias __attribute__((may_alias, aligned(4)));
PJ_INLINE uint32_t pj_load32a(const void *p) { return *(const pj_u32_alias *)p; }
PJ_INLINE void pj_store32a(void *p, uint32_t v) { *(pj_u32_alias *)p = v; }
#else
PJ_INLINE uint32_t pj_load32a(const void *p) { return pj_read32(p); }
PJ_INLINE void pj_store32a(void *p, uint32_t v) { memcpy(p, &v, sizeof v); }
#endif

/* Dual 16-bit MAC helpers.  On DSP cores they are the SMLAD/SXTB16 instructions; elsewhere
 * (the host, M0+) portable C with identical results, so the DSP data layout is testable
 * everywhere.  A "pair" holds two int16 lanes: low halfword first (little endian). */
#if PJ_HAVE_DSP
PJ_INLINE uint32_t pj_sxtb16(uint32_t v) { return (uint32_t)__sxtb16((int32_t)v); }
PJ_INLINE uint32_t pj_sxtb16_ror8(uint32_t v)
{
#if defined(__GNUC__)
    uint32_t r; /* one instruction (compilers do not fold the rotation into SXTB16) */
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
#else
    return (uint32_t)__sxtb16((int32_t)((v >> 8) | (v << 24)));
#endif
}
PJ_INLINE int32_t pj_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlad((int32_t)a, (int32_t)b, acc);
}
PJ_INLINE uint32_t pj_sadd16(uint32_t a, uint32_t b)
{
    return (uint32_t)__sadd16((int32_t)a, (int32_t)b);
}
PJ_INLINE int32_t pj_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlabb((int32_t)a, (int32_t)b, acc);
}
PJ_INLINE int32_t pj_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    return __smlatt((int32_t)a, (int32_t)b, acc);
}
#else
PJ_INLINE uint32_t pj_sadd16(uint32_t a, uint32_t b)
{
    uint32_t lo = (a + b) & 0xFFFFu;
    uint32_t hi = ((a >> 16) + (b >> 16)) & 0xFFFFu;
    return lo | (hi << 16);
}
PJ_INLINE int32_t pj_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    const int32_t x = (int16_t)(uint16_t)(a & 0xFFFFu), y = (int16_t)(uint16_t)(b & 0xFFFFu);
    return (int32_t)((uint32_t)acc + (uint32_t)(x * y));
}
PJ_INLINE int32_t pj_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    const int32_t x = (int16_t)(uint16_t)(a >> 16), y = (int16_t)(uint16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)(x * y));
}
PJ_INLINE uint32_t pj_sxtb16(uint32_t v)
{
    uint32_t lo = (uint32_t)(uint16_t)(int16_t)(int8_t)(uint8_t)(v & 0xFFu);
    uint32_t hi = (uint32_t)(uint16_t)(int16_t)(int8_t)(uint8_t)((v >> 16) & 0xFFu);
    return lo | (hi << 16);
}
PJ_INLINE uint32_t pj_sxtb16_ror8(uint32_t v) { return pj_sxtb16((v >> 8) | (v << 24)); }
PJ_INLINE int32_t pj_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t a0 = (int16_t)(uint16_t)(a & 0xFFFFu);
    int32_t a1 = (int16_t)(uint16_t)(a >> 16);
    int32_t b0 = (int16_t)(uint16_t)(b & 0xFFFFu);
    int32_t b1 = (int16_t)(uint16_t)(b >> 16);
    return (int32_t)((uint32_t)acc + (uint32_t)(a0 * b0) + (uint32_t)(a1 * b1));
}
#endif

/* ---- Fast requantization, 3 constants per channel {m, c, r - 1} --------------------------
 * Valid when the shift is a right shift r in [2, 23], m >= 0 and |zero point| <= 128 (the
 * generator checks; see fast_rq_rows in emitters/common.py).  With c = 2^(r-2) + zp*2^(r-1)
 * the value pj_rq computes is the high word of the 64-bit sum
 *     x*m + (c + [x < 0 ? -1 : 0]) * 2^32 + (2^30 | (x & 2^31))
 * shifted right by r - 1: the two low-word constants 2^30 and 2^30 + 2^31 are exactly
 * 2^30 - 2^31 [x < 0] with its borrow moved into the high word.  One SMLAL on Arm. */
PJ_INLINE int32_t pj_rq3(int32_t x, int32_t m, int32_t c, int32_t sh)
{
#if PJ_HAVE_DSP && defined(__GNUC__)
    /* One asm block: compilers otherwise hoist the constant parts of many of these and
     * spill them. */
    uint32_t lo;
    int32_t hi;
    __asm__("and    %[lo], %[x], #0x80000000\n\t"
            "orr    %[lo], %[lo], #0x40000000\n\t"
            "add    %[hi], %[c], %[x], asr #31\n\t"
            "smlal  %[lo], %[hi], %[x], %[m]\n\t"
            "asr    %[hi], %[hi], %[s]"
            : [lo] "=&r"(lo), [hi] "=&r"(hi)
            : [x] "r"(x), [m] "r"(m), [c] "r"(c), [s] "r"(sh));
    return hi;
#else
    const int64_t base = (int64_t)(c + (x >> 31)) * ((int64_t)1 << 32)
                         + (int64_t)(((uint32_t)x & 0x80000000u) | 0x40000000u);
    const int64_t v = base + (int64_t)x * m;
    return (int32_t)(v >> 32) >> sh;
#endif
}

/* Clamp to [lo, hi] inside int8: SSAT then the activation bounds (rarely needed). */
PJ_INLINE int32_t pj_act8(int32_t v, int32_t lo, int32_t hi)
{
    v = pj_sat8(v);
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

/* Depthwise row strip: the k_h input rows an output row reads (input rows iy0, iy0 + dil_h,
 * ...), each pw pixels of c channels starting at input column -pad_l, pixels outside the
 * image set to the input zero point zp (x + input_offset = 0 there: what TFLM's skipped taps
 * contribute).  Every output pixel of the row is then an interior pixel of the strip. */
PJ_INLINE void pj_dw_strip(int8_t *strip, const int8_t *in, int32_t in_h, int32_t in_w,
                           int32_t c, int32_t iy0, int32_t kh, int32_t dil_h, int32_t pad_l,
                           int32_t pw, int zp)
{
    const int32_t rowb = pw * c;
    const int32_t left = pad_l < pw ? pad_l : pw;
    const int32_t right_edge = pad_l + in_w < pw ? pad_l + in_w : pw;
    const int32_t n = right_edge > left ? right_edge - left : 0;
    int32_t ky;
    for (ky = 0; ky < kh; ++ky, strip += rowb) {
        const int32_t iy = iy0 + ky * dil_h;
        if (iy < 0 || iy >= in_h) {
            memset(strip, zp, (size_t)rowb);
            continue;
        }
        if (left > 0) {
            memset(strip, zp, (size_t)(left * c));
        }
        if (n > 0) {
            memcpy(strip + left * c, in + (iy * in_w + left - pad_l) * c, (size_t)(n * c));
        }
        if (left + n < pw) {
            memset(strip + (left + n) * c, zp, (size_t)((pw - left - n) * c));
        }
    }
}

/* gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 in and out (three Newton-Raphson steps). */
PJ_INLINE int32_t pj_one_over_one_plus_x(int32_t a)
{
    int64_t t = (int64_t)a + INT32_MAX;
    int32_t half_den, x;
    int i;
    t += t >= 0 ? 1 : -1;
    half_den = (int32_t)(t >= 0 ? t / 2 : -((-t) / 2));
    x = pj_wrap32((int64_t)1515870810 + pj_srdhm(half_den, -1010580540));
    for (i = 0; i < 3; ++i) {
        const int32_t one_minus = pj_wrap32((int64_t)(1 << 29) - pj_srdhm(half_den, x));
        x = pj_wrap32((int64_t)x + pj_sat_shl(pj_srdhm(x, one_minus), 2));
    }
    return pj_sat_shl(x, 1);
}

/* The normaliser of one int8 SOFTMAX row, as TFLM: the row's maximum, the sum of the
 * tabulated exponentials exp_table[x - max + 255] (Q0.31) rescaled to Q12.19, and the
 * reciprocal of that sum in Q0.31 (returned).  *shift = 12 - clz(sum) + 31; the caller
 * subtracts its output's bits (8 for int8 outputs, 16 for int16). */
PJ_INLINE int32_t pj_softmax_row(const int32_t *exp_table, const int8_t *x, int32_t depth,
                                 int32_t *max_out, int *shift)
{
    int32_t mx = -128, i;
    uint32_t sum = 0;
    int hpo;
    for (i = 0; i < depth; ++i) {
        mx = pj_max32(mx, x[i]);
    }
    for (i = 0; i < depth; ++i) {
        /* Q0.31 -> Q12.19 (gemmlowp Rescale: a rounding shift right by 12). */
        sum += (uint32_t)pj_rdbpot(exp_table[x[i] - mx + 255], 12);
    }
    hpo = pj_clz32(sum);
    *max_out = mx;
    *shift = 12 - hpo + 31;
    return pj_one_over_one_plus_x((int32_t)((sum << hpo) - 0x80000000u));
}

#endif /* PJ_COMMON_H */
