/* Data movement: an N-D strided gather (one kernel serves STRIDED_SLICE, PAD, CONCATENATION
 * and TRANSPOSE; the generator turns each into offsets and strides) and a fill.
 */
#include <stddef.h>
#include <string.h>

#include "pj_common.h"
#include "pj_ops2.h"

/* Copy one element of `elem` bytes. */
PJ_INLINE void pj_copy_elem(uint8_t *dst, const uint8_t *src, int32_t elem)
{
    memcpy(dst, src, (size_t)elem);
}

void pj_copy(const pj_copy_params *p, const void *in, void *out)
{
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    const int32_t rank = p->rank, elem = p->elem;
    const int32_t last = rank - 1;
    const int32_t inner = p->count[last];
    /* Contiguous innermost runs become one memcpy. */
    const int contiguous = p->src_stride[last] == 1 && p->dst_stride[last] == 1;
    int32_t idx[PJ_COPY_MAX_RANK];
    int32_t k;
    for (k = 0; k < rank; ++k) {
        if (p->count[k] <= 0) {
            return;
        }
        idx[k] = 0;
    }
    for (;;) {
        int32_t s = p->src_offset, d = p->dst_offset, i;
        for (k = 0; k < last; ++k) {
            s += idx[k] * p->src_stride[k];
            d += idx[k] * p->dst_stride[k];
        }
        if (contiguous) {
            memcpy(dst + (size_t)d * (size_t)elem, src + (size_t)s * (size_t)elem,
                   (size_t)inner * (size_t)elem);
        } else {
            for (i = 0; i < inner; ++i) {
                pj_copy_elem(dst + (ptrdiff_t)(d + i * p->dst_stride[last]) * elem,
                             src + (ptrdiff_t)(s + i * p->src_stride[last]) * elem, elem);
            }
        }
        /* Advance the outer index (odometer). */
        for (k = last - 1; k >= 0; --k) {
            if (++idx[k] < p->count[k]) {
                break;
            }
            idx[k] = 0;
        }
        if (k < 0) {
            return;
        }
    }
}

void pj_fill(void *out, int32_t n, int32_t elem, int64_t value)
{
    uint8_t *dst = (uint8_t *)out;
    uint8_t bytes[8];
    int32_t i, b;
    for (b = 0; b < 8; ++b) {
        bytes[b] = (uint8_t)((uint64_t)value >> (8 * b));
    }
    if (elem == 1) {
        memset(dst, bytes[0], (size_t)n);
        return;
    }
    for (i = 0; i < n; ++i) {
        memcpy(dst + (size_t)i * (size_t)elem, bytes, (size_t)elem);
    }
}
