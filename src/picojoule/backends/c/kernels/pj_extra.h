/* picojoule kernels: integer FLOOR_DIV / FLOOR_MOD (LiteRT's reference kernels; TFLM's are
 * float32 only, see pj_compare.h), over the broadcast plans of pj_compare.h.
 *
 * SELECT runs on pj_compare.c's pj_select and REVERSE_V2 on pj_copy (negative strides).
 */
#ifndef PJ_EXTRA_H
#define PJ_EXTRA_H

#include <stdint.h>

#include "pj_compare.h"

/* y = floor(a / b) (is_mod 0) or a - floor(a / b) * b, the remainder with the divisor's
 * sign (is_mod 1), of raw integers over the broadcast p (operands 0 and 1).  The one
 * quotient outside the type (the minimum over -1) wraps to the minimum; a zero divisor
 * gives 0 (LiteRT refuses it). */
void pj_floor_s8(const pj_bcast *p, int32_t is_mod, const int8_t *a, const int8_t *b,
                 int8_t *y);
void pj_floor_s16(const pj_bcast *p, int32_t is_mod, const int16_t *a, const int16_t *b,
                  int16_t *y);
void pj_floor_s32(const pj_bcast *p, int32_t is_mod, const int32_t *a, const int32_t *b,
                  int32_t *y);
void pj_floor_s64(const pj_bcast *p, int32_t is_mod, const int64_t *a, const int64_t *b,
                  int64_t *y);

#endif /* PJ_EXTRA_H */
