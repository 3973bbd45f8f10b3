/* Integer FLOOR_DIV / FLOOR_MOD over a broadcast (see pj_extra.h).
 *
 * C's division truncates toward zero; the floor quotient is one less when the remainder
 * is non-zero and its sign differs from the divisor's (the remainder then gains the
 * divisor).  A divisor of -1 is handled apart: INT_MIN / -1 and INT_MIN % -1 are
 * undefined in C (and trap on x86).
 */
#include <stdint.h>

#include "pj_common.h"
#include "pj_extra.h"

PJ_INLINE int32_t pj_floor_div32(int32_t u, int32_t v)
{
    int32_t q;
    if (v == 0) {
        return 0;
    }
    if (v == -1) {
        return (int32_t)(0u - (uint32_t)u); /* wraps: INT32_MIN stays INT32_MIN */
    }
    q = u / v;
    if (u % v != 0 && ((u < 0) != (v < 0))) {
        --q;
    }
    return q;
}

PJ_INLINE int32_t pj_floor_mod32(int32_t u, int32_t v)
{
    int32_t r;
    if (v == 0 || v == -1) {
        return 0;
    }
    r = u % v;
    return (r != 0 && ((r < 0) != (v < 0))) ? r + v : r;
}

PJ_INLINE int64_t pj_floor_div64(int64_t u, int64_t v)
{
    int64_t q;
    if (v == 0) {
        return 0;
    }
    if (v == -1) {
        return (int64_t)(0u - (uint64_t)u);
    }
    q = u / v;
    if (u % v != 0 && ((u < 0) != (v < 0))) {
        --q;
    }
    return q;
}

PJ_INLINE int64_t pj_floor_mod64(int64_t u, int64_t v)
{
    int64_t r;
    if (v == 0 || v == -1) {
        return 0;
    }
    r = u % v;
    return (r != 0 && ((r < 0) != (v < 0))) ? r + v : r;
}

/* y[k] = (T)F(a[.], b[.]) over the plan: the innermost merged dimension as a run, an
 * odometer over the outer ones moving each operand by its strides. */
#define PJ_FLOOR_LOOP(T, F)                                                           \
    do {                                                                              \
        int32_t idx_[PJ_BC_MAXRANK];                                                  \
        const int32_t last_ = p->rank - 1, n_ = p->count[p->rank - 1];                \
        const int32_t sa_ = p->stride[0][last_], sb_ = p->stride[1][last_];           \
        int32_t oa_ = 0, ob_ = 0, r_, k_, d_;                                         \
        for (d_ = 0; d_ < PJ_BC_MAXRANK; ++d_) {                                      \
            idx_[d_] = 0;                                                             \
        }                                                                             \
        for (r_ = 0; r_ < p->runs; ++r_, y += n_) {                                   \
            for (k_ = 0; k_ < n_; ++k_) {                                             \
                y[k_] = (T)F(a[oa_ + k_ * sa_], b[ob_ + k_ * sb_]);                   \
            }                                                                         \
            for (d_ = last_ - 1; d_ >= 0; --d_) {                                     \
                oa_ += p->stride[0][d_];                                              \
                ob_ += p->stride[1][d_];                                              \
                if (++idx_[d_] < p->count[d_]) {                                      \
                    break;                                                            \
                }                                                                     \
                oa_ -= p->stride[0][d_] * p->count[d_];                               \
                ob_ -= p->stride[1][d_] * p->count[d_];                               \
                idx_[d_] = 0;                                                         \
            }                                                                         \
        }                                                                             \
    } while (0)

#define PJ_DEFINE_FLOOR(NAME, T, DIV, MOD)                                            \
    void NAME(const pj_bcast *p, int32_t is_mod, const T *a, const T *b, T *y)        \
    {                                                                                 \
        if (is_mod) {                                                                 \
            PJ_FLOOR_LOOP(T, MOD);                                                    \
        } else {                                                                      \
            PJ_FLOOR_LOOP(T, DIV);                                                    \
        }                                                                             \
    }

PJ_DEFINE_FLOOR(pj_floor_s8, int8_t, pj_floor_div32, pj_floor_mod32)
PJ_DEFINE_FLOOR(pj_floor_s16, int16_t, pj_floor_div32, pj_floor_mod32)
PJ_DEFINE_FLOOR(pj_floor_s32, int32_t, pj_floor_div32, pj_floor_mod32)
PJ_DEFINE_FLOOR(pj_floor_s64, int64_t, pj_floor_div64, pj_floor_mod64)
