/* int4 weights (two per byte in flash, low nibble first, as TFLite packs them).
 *
 * Portable kernels read the packed nibbles directly (pj_conv_s4, pj_dwconv_s4,
 * pj_fc_s4: the parameter blocks of pj_kernels.h, `weights` pointing at the packed bytes
 * of the natural weight order).  Fast kernels (SMLAD, Helium) get their weights unpacked
 * at run time, in the layout the generator prepared, into scratch: pj_s4_unpack.
 */
#ifndef PJ_INT4_H
#define PJ_INT4_H

#include <stdint.h>

#include "pj_kernels.h"

/* A packed weight array: `count` int4 values sign-extended by the unpackers into elements
 * of `width` bytes (1, 2 or 4); `tail_bytes` raw bytes (index tables the fast kernels
 * expect right after their weights) are copied after them. */
typedef struct {
    const uint8_t *packed;
    int32_t count, width;
    const void *tail;
    int32_t tail_bytes;
} pj_s4_blob;

/* All of the blob (values, then the tail) into dst; returns dst. */
void *pj_s4_unpack(const pj_s4_blob *b, void *dst);
/* Values first .. first + count - 1 (first even) into dst, no tail; returns dst. */
void *pj_s4_unpack_range(const pj_s4_blob *b, int32_t first, int32_t count, void *dst);

/* scratch: k_h * k_w * in_c int16 (4-byte aligned). */
void pj_conv_s4(const pj_conv_params *p, const int8_t *in, int8_t *out, int16_t *col);
/* scratch: out_c int32, then out_c int8. */
void pj_dwconv_s4(const pj_dwconv_params *p, const int8_t *in, int8_t *out, int32_t *acc);
void pj_fc_s4(const pj_fc_params *p, const int8_t *in, int8_t *out);
/* SMLAD layout (s4_smlad_layout in emitters/fc.py); scratch: accum_depth rounded up to 8
 * int16. */
void pj_fc_s4_dsp(const pj_fc_params *p, const int8_t *in, int8_t *out, int16_t *xs16);

#endif /* PJ_INT4_H */
