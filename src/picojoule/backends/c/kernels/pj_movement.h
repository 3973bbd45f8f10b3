/* Data-movement kernels beyond pj_copy / pj_fill (pj_copy.c): gathers with runtime
 * indices, resizes, runtime fills, copies at a runtime offset and the int64 casts.
 *
 * Every parameter block is const data the generator fills at generation time (index
 * tables, interpolation weights, strides); the kernels only move bytes or, for the
 * bilinear resizes, evaluate TFLM's interpolation in the reference's operation order.
 * Sizes are in bytes unless a name says elements.
 */
#ifndef PJ_MOVEMENT_H
#define PJ_MOVEMENT_H

#include <stdint.h>

#include "pj_ops2.h"

/* Index tensor element types. */
#define PJ_INDEX_I32 0
#define PJ_INDEX_I64 1
#define PJ_INDEX_I16 2

/* GATHER: params viewed as [batch, outer, axis_size, run_bytes], indices as
 * [batch, count]; out[b, o, n] = params[b, o, indices[b, n]].  An index outside
 * [0, axis_size) (TFLM returns an error) gives a run of zero bytes. */
typedef struct {
    int32_t batch;
    int32_t outer;
    int32_t axis_size;
    int32_t count;
    int32_t run_bytes;
    int32_t index_type;
} pj_gather_params;

void pj_gather(const pj_gather_params *p, const void *params, const void *indices, void *out);

#define PJ_GATHER_ND_MAX 8

/* GATHER_ND: params viewed as [lead..., run_bytes] (depth leading dims), indices as
 * [count, depth]; out[n] = params[indices[n]].  A tuple with any index outside its
 * dimension gives a run of zero bytes. */
typedef struct {
    int32_t count;
    int32_t depth;
    int32_t run_bytes;
    int32_t index_type;
    int32_t dim[PJ_GATHER_ND_MAX];
    int32_t stride[PJ_GATHER_ND_MAX]; /* rows of run_bytes */
} pj_gather_nd_params;

void pj_gather_nd(const pj_gather_nd_params *p, const void *params, const void *indices,
                  void *out);

/* NHWC resizes; ys/xs (and the weights) are per output row / column tables. */
typedef struct {
    int32_t batch;
    int32_t in_h;
    int32_t in_w;
    int32_t out_h;
    int32_t out_w;
    int32_t channels;   /* elements per pixel */
    int32_t elem;       /* bytes per element (nearest neighbour) */
} pj_resize_params;

void pj_resize_nearest(const pj_resize_params *p, const int32_t *ys, const int32_t *xs,
                       const void *in, void *out);

/* Bilinear, int8: TFLM's 10-bit fixed point; y0/y1/x0/x1 source indices, wy/wx the
 * upper weights (the lower ones are 1024 - w). */
void pj_resize_bilinear_s8(const pj_resize_params *p, const int32_t *y0, const int32_t *y1,
                           const int32_t *wy, const int32_t *x0, const int32_t *x1,
                           const int32_t *wx, const int8_t *in, int8_t *out);

/* Bilinear, float32: wy0/wy1/wx0/wx1 are the float32 lower and upper weights. */
void pj_resize_bilinear_f32(const pj_resize_params *p, const int32_t *y0, const int32_t *y1,
                            const float *wy0, const float *wy1, const int32_t *x0,
                            const int32_t *x1, const float *wx0, const float *wx1,
                            const float *in, float *out);

/* n elements of elem bytes, each a copy of the element at value (a runtime scalar). */
void pj_splat(void *out, int32_t n, int32_t elem, const void *value);

/* pj_copy with a source offset read at run time: offset = sum over k < n of
 * clamp(index[k], lo[k], hi[k]) * stride[k] elements, added to p->src_offset. */
typedef struct {
    int32_t n;
    int32_t index_type;
    int32_t lo[PJ_COPY_MAX_RANK];
    int32_t hi[PJ_COPY_MAX_RANK];
    int32_t stride[PJ_COPY_MAX_RANK];
} pj_offset_params;

void pj_copy_at(const pj_copy_params *p, const pj_offset_params *o, const void *index,
                const void *in, void *out);

/* CAST where one side is int64 (or float32 -> uint8), as LiteRT: integers wrap, floats
 * truncate toward zero and saturate (NaN -> the type's maximum), != 0 gives bool.
 * Type codes: 0 int8, 1 int16, 2 int32, 3 uint32, 4 float32, 5 uint8, 6 bool, 7 int64. */
void pj_cast_wide(int32_t n, int32_t src_type, int32_t dst_type, const void *in, void *out);

#endif /* PJ_MOVEMENT_H */
