/* picojoule custom-op ABI: how a generated library calls a user-supplied C kernel.
 *
 * For every node of a custom op the generated code fills one pj_tensor per input and
 * output (data pointer into the arena, or into flash for constant inputs; shape; type;
 * quantization) and calls the op's function:
 *
 *     void my_op(const pj_tensor *in, int32_t n_in, pj_tensor *out, int32_t n_out,
 *                const pj_custom_params *p);
 *
 * p->ints / p->floats are the constants the op's Python file computed for this node
 * (its params() function); p->scratch points to the scratch bytes it asked for. Absent
 * optional inputs have data == 0. The function must not allocate; it returns nothing.
 */
#ifndef PJ_CUSTOM_H
#define PJ_CUSTOM_H

#include <stdint.h>

#define PJ_MAX_DIMS 6

/* Element types: TFLite's TensorType numbers. */
enum {
    PJ_FLOAT32 = 0, PJ_INT32 = 2, PJ_UINT8 = 3, PJ_INT64 = 4, PJ_BOOL = 6,
    PJ_INT16 = 7, PJ_INT8 = 9, PJ_UINT32 = 15, PJ_UINT16 = 16
};

typedef struct {
    void *data;
    int32_t dims[PJ_MAX_DIMS];
    int32_t rank;
    int32_t type;          /* PJ_INT8 ... */
    int32_t size;          /* element count */
    float scale;           /* per-tensor quantization (0 when unquantized) */
    int32_t zero_point;
} pj_tensor;

typedef struct {
    const int32_t *ints;
    int32_t n_ints;
    const float *floats;
    int32_t n_floats;
    void *scratch;
    int32_t scratch_bytes;
} pj_custom_params;

#endif /* PJ_CUSTOM_H */
