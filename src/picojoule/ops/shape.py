"""Data-movement ops: reshapes, transposes, slices, gathers, pads, resizes, space/depth shuffles.

None of these ops does arithmetic on quantized values (except the int8 bilinear resize,
which interpolates in TFLM's 10-bit fixed point), so each kernel is a numpy view, index
or copy. Wherever the output shape follows from constant parameters, the kernel takes
the shape of ``node.outputs`` as the truth (the importer read it from the file and the
interpreter checks it) and uses the parameters only to decide *which* elements move.

Oracle: TFLM's reference kernels, except TILE, which TFLM does not have (LiteRT's
reference kernel). Where TFLM differs from TensorFlow's semantics, TFLM wins:

- PAD without a constant value pads int8 with the output zero point but int16, int32
  and float32 with 0 (TFLM ignores a non-zero int16 zero point).
- CONCATENATION never requantizes: int8 inputs must share the output's scale and zero
  point (TFLM rejects the model otherwise); int16 inputs are copied as they are even
  when their scales differ (TFLM checks only that zero points are 0).
- SPACE_TO_BATCH_ND pads with the output zero point (int8) or 0, as LiteRT does: TFLM
  never initialises its pad value and pads with whatever byte its arena holds, so only
  unpadded configurations are TFLM-exact (padded ones are checked against LiteRT).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.common import (
    litert_uint8, same_shape, shape_axis, shape_input, shape_ints,
)
from picojoule.ops.registry import (
    ALIAS, MOVEMENT, Kernel, Layout, QuantRule, register, unsupported,
)

_ALL = ("int8", "int16", "int32", "int64", "float32", "bool")


# --------------------------------------------------------------------------- helpers

def _const(node: Node, index: int, what: str) -> np.ndarray:
    """The data of constant input ``index`` (TFLM requires these parameters constant)."""
    v = node.input(index)
    if v is None or v.data is None or v.variable:
        raise unsupported(node, f"a non-constant {what} tensor")
    return np.asarray(v.data)


def _np(v: Value) -> np.dtype:
    return to_numpy(v.dtype)


def _axis(axis: int, rank: int, node: Node) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < max(rank, 1):
        raise unsupported(node, f"axis {axis} for a rank-{rank} tensor")
    return a


def _check_size(node: Node, x_shape: Sequence[int], out: Value) -> None:
    if int(np.prod(x_shape, dtype=np.int64)) != out.size:
        raise unsupported(node, f"input shape {tuple(x_shape)} -> output {out.shape}")


def _reshape_kernel(node: Node) -> Kernel:
    """A zero-copy reshape to the output's shape (RESHAPE, SQUEEZE, EXPAND_DIMS)."""
    inp, out = node.inputs[0], node.outputs[0]
    _check_size(node, inp.shape, out)
    shape = out.shape

    def run(inputs):
        return [inputs[0].reshape(shape)]
    return run


# --------------------------------------------------------------------------- shape rules
# Output shapes from input shapes and constant parameters, as TFLite's Prepare computes
# them (TFLM keeps the shapes the file stores; these rules are what the converter stores).

def _size(shape: Sequence[int]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _resolve_stretch(node: Node, in_shape: Sequence[int], dims: list[int]) -> tuple:
    """``dims`` with its one -1 (if any) inferred so the element count stays the same."""
    size = _size(in_shape)
    stretch = [i for i, d in enumerate(dims) if d == -1]
    if len(stretch) > 1 or any(d < -1 for d in dims):
        raise unsupported(node, f"new shape {dims}")
    if stretch:
        known = _size([d for d in dims if d != -1])
        if known == 0 or size % known:
            raise unsupported(node, f"input shape {tuple(in_shape)} -> new shape {dims}")
        dims = list(dims)
        dims[stretch[0]] = size // known
    if _size(dims) != size:
        raise unsupported(node, f"input shape {tuple(in_shape)} -> output {tuple(dims)}")
    return tuple(dims)


def _reshape_shape(node: Node, shapes, consts) -> list:
    """TFLite: a 1-D shape tensor (input 1) wins, else the ``new_shape`` option ([0] is the
    legacy spelling of a scalar); one -1 is inferred. A RESHAPE with neither keeps the
    shape the file stores (its only record)."""
    if len(shapes) > 1 and shapes[1] is not None and len(shapes[1]) == 1:
        dims = shape_ints(node, consts, 1, "shape tensor")
    elif node.attrs.get("new_shape"):
        dims = [int(d) for d in node.attrs["new_shape"]]
        dims = [] if dims == [0] else dims
    else:
        dims = list(node.outputs[0].shape)
    return [_resolve_stretch(node, shapes[0], dims)]


def _squeeze_shape(node: Node, shapes, consts) -> list:
    """Drop the ``squeeze_dims`` axes (each of size 1), or every size-1 axis if none given."""
    in_shape = tuple(shapes[0])
    dims = node.attrs.get("squeeze_dims") or []
    if not dims:
        return [tuple(d for d in in_shape if d != 1)]
    drop = {shape_axis(node, int(a), len(in_shape)) for a in dims}
    if any(in_shape[a] != 1 for a in drop):
        raise unsupported(node, f"squeezing axes {sorted(drop)} of shape {in_shape}")
    return [tuple(d for i, d in enumerate(in_shape) if i not in drop)]


def _expand_dims_shape(node: Node, shapes, consts) -> list:
    """A size-1 axis at the constant ``axis`` (input 1; negatives count from rank + 1)."""
    in_shape = tuple(shapes[0])
    axis = shape_ints(node, consts, 1, "axis tensor")[0]
    a = shape_axis(node, axis, len(in_shape) + 1)
    return [in_shape[:a] + (1,) + in_shape[a:]]


def _shape_shape(node: Node, shapes, consts) -> list:
    """SHAPE: a vector with one element per input dimension."""
    return [(len(shapes[0]),)]


def _transpose_shape(node: Node, shapes, consts) -> list:
    in_shape = tuple(shapes[0])
    perm = shape_ints(node, consts, 1, "perm tensor")
    if sorted(perm) != list(range(len(in_shape))):
        raise unsupported(node, f"perm {perm} for a rank-{len(in_shape)} input")
    return [tuple(in_shape[p] for p in perm)]


def _concatenation_shape(node: Node, shapes, consts) -> list:
    """Inputs agree on every axis but ``axis``, where their sizes add up."""
    first = tuple(shapes[0])
    axis = shape_axis(node, int(node.attrs.get("axis", 0)), len(first))
    total = 0
    for s in shapes:
        s = tuple(s)
        if len(s) != len(first) or s[:axis] + s[axis + 1:] != first[:axis] + first[axis + 1:]:
            raise unsupported(node, f"joining shapes {[tuple(x) for x in shapes]} on axis {axis}")
        total += s[axis]
    return [first[:axis] + (total,) + first[axis + 1:]]


def _pack_shape(node: Node, shapes, consts) -> list:
    """Equal shapes stacked along a new ``axis`` (negatives count from rank + 1)."""
    first = tuple(shapes[0])
    if any(tuple(s) != first for s in shapes):
        raise unsupported(node, f"packing shapes {[tuple(x) for x in shapes]}")
    a = shape_axis(node, int(node.attrs.get("axis", 0)), len(first) + 1)
    return [first[:a] + (len(shapes),) + first[a:]]


def _unpack_shape(node: Node, shapes, consts) -> list:
    """One output per index along ``axis``, which each drops."""
    in_shape = tuple(shapes[0])
    a = shape_axis(node, int(node.attrs.get("axis", 0)), len(in_shape))
    if in_shape[a] != len(node.outputs):
        raise unsupported(node, f"{len(node.outputs)} outputs for an axis of size {in_shape[a]}")
    return [in_shape[:a] + in_shape[a + 1:]] * len(node.outputs)


def _split_parts(node: Node, in_shape: tuple, axis: int, sizes: list[int]) -> list:
    a = shape_axis(node, axis, len(in_shape))
    stretch = [i for i, n in enumerate(sizes) if n == -1]
    if len(stretch) > 1 or any(n < -1 for n in sizes) or len(sizes) != len(node.outputs):
        raise unsupported(node, f"split sizes {sizes} for {len(node.outputs)} outputs")
    if stretch:
        sizes = list(sizes)
        sizes[stretch[0]] = in_shape[a] - sum(n for n in sizes if n != -1)
    if sum(sizes) != in_shape[a] or min(sizes, default=0) < 0:
        raise unsupported(node, f"split sizes {sizes} along an axis of size {in_shape[a]}")
    return [in_shape[:a] + (n,) + in_shape[a + 1:] for n in sizes]


def _split_shape(node: Node, shapes, consts) -> list:
    """SPLIT (axis, input): ``num_splits`` equal parts along the constant axis."""
    in_shape = tuple(shapes[1])
    axis = shape_ints(node, consts, 0, "axis tensor")[0]
    n = len(node.outputs)
    dim = in_shape[shape_axis(node, axis, len(in_shape))]
    if n == 0 or dim % n:
        raise unsupported(node, f"splitting an axis of size {dim} into {n} equal parts")
    return _split_parts(node, in_shape, axis, [dim // n] * n)


def _split_v_shape(node: Node, shapes, consts) -> list:
    """SPLIT_V (input, size_splits, axis): the given sizes, one of them -1 (the rest)."""
    sizes = shape_ints(node, consts, 1, "size_splits tensor")
    axis = shape_ints(node, consts, 2, "axis tensor")[0]
    return _split_parts(node, tuple(shapes[0]), axis, sizes)


def _slice_shape(node: Node, shapes, consts) -> list:
    """SLICE: the constant ``size`` (input 2); a -1 takes the rest of the axis from ``begin``,
    which must then be constant too."""
    in_shape = tuple(shapes[0])
    size = shape_ints(node, consts, 2, "size tensor")
    if len(size) != len(in_shape):
        raise unsupported(node, f"size {size} for a rank-{len(in_shape)} input")
    begin = None
    if -1 in size or consts[1] is not None:
        begin = shape_ints(node, consts, 1, "begin tensor")
    out = []
    for i, (n, d) in enumerate(zip(size, in_shape)):
        b = begin[i] if begin is not None else 0
        n = d - b if n == -1 else n
        if n < 0 or (begin is not None and not 0 <= b <= b + n <= d):
            raise unsupported(node, f"begin {begin} with size {size} for shape {in_shape}")
        out.append(n)
    return [tuple(out)]


def _strided_slice_shape(node: Node, shapes, consts) -> list:
    """Every kept (non-shrink) effective axis's slice length (new axes: 1)."""
    params = [shape_ints(node, consts, i, what)
              for i, what in ((1, "begin tensor"), (2, "end tensor"), (3, "strides tensor"))]
    eff, slices, kept = _strided_slice_axes(node, *params, in_shape=tuple(shapes[0]))
    return [tuple(len(range(*s.indices(d))) for s, d, k in zip(slices, eff, kept) if k)]


def _gather_shape(node: Node, shapes, consts) -> list:
    """params[:axis] + indices[batch_dims:] + params[axis + 1:]."""
    p, ind = tuple(shapes[0]), tuple(shapes[1])
    axis = shape_axis(node, int(node.attrs.get("axis", 0)), len(p))
    batch_dims = int(node.attrs.get("batch_dims", 0))
    batch_dims = batch_dims + len(ind) if batch_dims < 0 else batch_dims
    if not 0 <= batch_dims <= min(axis, len(ind)) or p[:batch_dims] != ind[:batch_dims]:
        raise unsupported(node, f"batch_dims {batch_dims} with params {p}, indices {ind}")
    return [p[:axis] + ind[batch_dims:] + p[axis + 1:]]


def _gather_nd_shape(node: Node, shapes, consts) -> list:
    """indices[:-1] + params[depth:], depth being the indices' last dimension."""
    p, ind = tuple(shapes[0]), tuple(shapes[1])
    if not ind or ind[-1] > len(p):
        raise unsupported(node, f"indices {ind} for params {p}")
    return [ind[:-1] + p[ind[-1]:]]


def _pad_shape(node: Node, shapes, consts) -> list:
    """Each axis grows by its constant (before, after) paddings."""
    in_shape = tuple(shapes[0])
    pads = shape_input(node, consts, 1, "paddings tensor").astype(np.int64).reshape(-1, 2)
    if pads.shape[0] != len(in_shape) or np.any(pads < 0):
        raise unsupported(node, f"paddings {pads.tolist()} for a rank-{len(in_shape)} input")
    return [tuple(int(d + lo + hi) for d, (lo, hi) in zip(in_shape, pads))]


def _tile_shape(node: Node, shapes, consts) -> list:
    in_shape = tuple(shapes[0])
    reps = shape_ints(node, consts, 1, "multiples tensor")
    if len(reps) != len(in_shape) or min(reps, default=0) < 0:
        raise unsupported(node, f"multiples {reps} for a rank-{len(in_shape)} input")
    return [tuple(d * r for d, r in zip(in_shape, reps))]


def _fill_shape(node: Node, shapes, consts) -> list:
    """FILL: the constant ``dims`` tensor (input 0) is the output shape."""
    dims = shape_ints(node, consts, 0, "dims tensor")
    if min(dims, default=0) < 0:
        raise unsupported(node, f"dims {dims}")
    return [tuple(dims)]


def _broadcast_to_shape(node: Node, shapes, consts) -> list:
    """The constant ``shape`` (input 1), which input 0 must broadcast to."""
    dims = tuple(shape_ints(node, consts, 1, "shape tensor"))
    try:
        ok = np.broadcast_shapes(tuple(shapes[0]), dims) == dims
    except ValueError:
        ok = False
    if not ok:
        raise unsupported(node, f"broadcasting {tuple(shapes[0])} to {dims}")
    return [dims]


def _resize_shape(node: Node, shapes, consts) -> list:
    """[N, new height, new width, C] from the constant ``size`` tensor (input 1)."""
    in_shape = tuple(shapes[0])
    size = shape_ints(node, consts, 1, "size tensor")
    if len(in_shape) != 4 or len(size) != 2 or min(size) < 0:
        raise unsupported(node, f"size {size} for input {in_shape} (NHWC, two sizes)")
    return [(in_shape[0], size[0], size[1], in_shape[3])]


def _block_shape_params(node: Node, shapes, consts, what: str):
    in_shape = tuple(shapes[0])
    block = shape_ints(node, consts, 1, "block_shape tensor")
    pads = shape_input(node, consts, 2, f"{what} tensor").astype(np.int64).reshape(-1, 2)
    if len(in_shape) not in (3, 4) or len(block) != len(in_shape) - 2 \
            or pads.shape[0] != len(block) or min(block) < 1 or np.any(pads < 0):
        raise unsupported(node, f"block shape {block} with {what} {pads.tolist()} for input "
                                f"{in_shape}")
    return in_shape, block, [(int(lo), int(hi)) for lo, hi in pads]


def _space_to_batch_shape(node: Node, shapes, consts) -> list:
    """Batch x prod(block); each padded spatial axis / its block."""
    in_shape, block, pads = _block_shape_params(node, shapes, consts, "paddings")
    spatial = [d + lo + hi for d, (lo, hi) in zip(in_shape[1:-1], pads)]
    if any(s % b for s, b in zip(spatial, block)):
        raise unsupported(node, f"padded spatial size {spatial} not a multiple of {block}")
    return [(in_shape[0] * _size(block),) + tuple(s // b for s, b in zip(spatial, block))
            + (in_shape[-1],)]


def _batch_to_space_shape(node: Node, shapes, consts) -> list:
    """Batch / prod(block); each spatial axis x its block, minus its crops."""
    in_shape, block, crops = _block_shape_params(node, shapes, consts, "crops")
    if in_shape[0] % _size(block):
        raise unsupported(node, f"batch {in_shape[0]} not a multiple of block {block}")
    spatial = [d * b - lo - hi for d, b, (lo, hi) in zip(in_shape[1:-1], block, crops)]
    if min(spatial) < 0:
        raise unsupported(node, f"crops {crops} larger than the spatial size")
    return [(in_shape[0] // _size(block),) + tuple(spatial) + (in_shape[-1],)]


def _space_to_depth_shape(node: Node, shapes, consts) -> list:
    n, h, w, c = _nhwc(node, shapes[0])
    bs = int(node.attrs.get("block_size", 0))
    if bs < 1 or h % bs or w % bs:
        raise unsupported(node, f"block size {bs} for spatial size {h}x{w}")
    return [(n, h // bs, w // bs, c * bs * bs)]


def _depth_to_space_shape(node: Node, shapes, consts) -> list:
    n, h, w, c = _nhwc(node, shapes[0])
    bs = int(node.attrs.get("block_size", 0))
    if bs < 1 or c % (bs * bs):
        raise unsupported(node, f"block size {bs} for {c} channels")
    return [(n, h * bs, w * bs, c // (bs * bs))]


def _nhwc(node: Node, shape) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise unsupported(node, f"a rank-{len(shape)} input (NHWC only)")
    return tuple(shape)  # type: ignore[return-value]


# --------------------------------------------------------------------------- layout rules
# How a TRANSPOSE(perm) feeding each op moves below it (passes/layout.py): the op rewritten
# to read the untransposed input, its parameters permuted by ``inv`` (the inverse of perm).

def _positive_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _concat_layout(node: Node, perm, inv, const):
    return perm, {"axis": perm[_positive_axis(int(node.attrs.get("axis", 0)), len(perm))]}, {}


def _pad_layout(node: Node, perm, inv, const):
    p = node.input(1)
    if p is None or not p.is_const:
        return None
    pads = p.data.reshape(len(perm), 2)
    return perm, {}, {1: const(pads[inv].astype(p.data.dtype), p)}


def _slice_layout(node: Node, perm, inv, const):
    b, s = node.input(1), node.input(2)
    if b is None or s is None or not (b.is_const and s.is_const):
        return None
    bd, sd = b.data.reshape(-1), s.data.reshape(-1)
    return perm, {}, {1: const(bd[inv], b), 2: const(sd[inv], s)}


def _strided_slice_layout(node: Node, perm, inv, const):
    params = [node.input(i) for i in (1, 2, 3)]
    a = node.attrs
    if any(p is None or not p.is_const for p in params) or any(
            int(a.get(k, 0)) for k in ("shrink_axis_mask", "ellipsis_mask", "new_axis_mask",
                                       "begin_mask")) or a.get("offset"):
        return None
    if any(p.data.size != len(perm) for p in params):
        return None
    em = int(a.get("end_mask", 0))
    new_em = sum(1 << perm[k] for k in range(len(perm)) if em >> k & 1)
    return perm, {"end_mask": new_em}, {
        i + 1: const(p.data.reshape(-1)[inv], p) for i, p in enumerate(params)}


def _split_v_layout(node: Node, perm, inv, const):
    ax = node.input(2)
    if ax is None or not ax.is_const:
        return None
    axis = _positive_axis(int(ax.data.reshape(-1)[0]), len(perm))
    return perm, {}, {2: const(np.array(perm[axis], ax.data.dtype).reshape(ax.data.shape), ax)}


def _gather_layout(node: Node, perm, inv, const):
    ind = node.input(1)
    if ind is None or len(ind.shape) != 1:
        return None
    return perm, {"axis": perm[_positive_axis(int(node.attrs.get("axis", 0)), len(perm))]}, {}


_FIRST = (0,)


# --------------------------------------------------------------------------- reshapes

@register("RESHAPE", operands="x, shape?:int -> y", shape=_reshape_shape,
          traits=(ALIAS,), quant=QuantRule(same=True, versions={"int8": 1}),
          oracle="TFLM", dtypes=_ALL)
def prepare_reshape(node: Node) -> Kernel:
    """Reshape to the output value's shape (no copy)."""
    return _reshape_kernel(node)


@register("SQUEEZE", operands="x -> y", shape=_squeeze_shape,
          traits=(ALIAS,), quant=QuantRule(same=True, versions={"int8": 1}),
          oracle="TFLM", dtypes=_ALL)
def prepare_squeeze(node: Node) -> Kernel:
    """Drop size-1 dimensions: a reshape to the output's shape."""
    return _reshape_kernel(node)


@register("EXPAND_DIMS", operands="x, axis:0-1:int -> y", shape=_expand_dims_shape,
          traits=(ALIAS,), quant=QuantRule(same=True, versions={"int8": 1}),
          oracle="TFLM", dtypes=("int8", "int16", "float32"))
def prepare_expand_dims(node: Node) -> Kernel:
    """Insert a size-1 dimension: a reshape to the output's shape."""
    return _reshape_kernel(node)


@register("SHAPE", operands="x -> y:1", shape=_shape_shape, oracle="TFLM", dtypes=("int32",))
def prepare_shape(node: Node) -> Kernel:
    """The input's (static) shape as an int32 (or int64) vector."""
    out = node.outputs[0]
    shape = np.array(node.inputs[0].shape, dtype=_np(out)).reshape(out.shape)

    def run(inputs):
        return [shape.copy()]
    return run


@register("TRANSPOSE", operands="x, perm:1:int -> y", shape=_transpose_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True, versions={"int8": 2}),
          oracle="TFLM", dtypes=("int8", "int16", "float32"))
def prepare_transpose(node: Node) -> Kernel:
    """Permute dimensions by the constant ``perm`` tensor."""
    perm = [int(p) for p in _const(node, 1, "perm").reshape(-1)]
    rank = len(node.inputs[0].shape)
    if sorted(perm) != list(range(rank)):
        raise unsupported(node, f"perm {perm} for a rank-{rank} input")

    def run(inputs):
        return [np.ascontiguousarray(inputs[0].transpose(perm))]
    return run


# --------------------------------------------------------------------------- join / split

@register("CONCATENATION", operands="x... -> y", shape=_concatenation_shape,
          layout=Layout("all", _concat_layout), traits=(MOVEMENT,),
          quant=QuantRule(same=True, versions={"int8": 2, "int16x8": 3}), oracle="TFLM",
          dtypes=_ALL)
def prepare_concatenation(node: Node) -> Kernel:
    """Join inputs along ``axis``; never requantizes (TFLM copies the raw integers)."""
    if node.attrs.get("fused_activation_function", "NONE") != "NONE":
        raise unsupported(node, "a fused activation")
    out = node.outputs[0]
    axis = _axis(int(node.attrs.get("axis", 0)), len(out.shape), node)
    if out.dtype == "int8" and out.quant is not None:
        for v in node.inputs:
            q = v.quant
            if q is None or q.scale0 != out.quant.scale0 or q.zp0 != out.quant.zp0:
                raise unsupported(node, "int8 inputs whose scale or zero point differ from "
                                        "the output's (TFLM does not requantize)")
    dtype = _np(out)

    def run(inputs):
        return [np.concatenate(inputs, axis=axis).astype(dtype, copy=False)]
    return run


@register("PACK", operands="x... -> y", shape=_pack_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True, versions={"int8": 2}),
          oracle="TFLM", dtypes=("int8", "int16", "int32", "int64", "float32"))
def prepare_pack(node: Node) -> Kernel:
    """Stack equally shaped inputs along a new ``axis``."""
    out = node.outputs[0]
    axis = _axis(int(node.attrs.get("axis", 0)), len(out.shape), node)

    def run(inputs):
        return [np.stack(inputs, axis=axis)]
    return run


@register("UNPACK", operands="x -> y...", shape=_unpack_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "int16", "int32", "float32"))
def prepare_unpack(node: Node) -> Kernel:
    """Split along ``axis`` into ``num`` outputs, dropping that axis."""
    rank = len(node.inputs[0].shape)
    axis = _axis(int(node.attrs.get("axis", 0)), rank, node)
    count = node.inputs[0].shape[axis]
    if count != len(node.outputs):
        raise unsupported(node, f"{len(node.outputs)} outputs for an axis of size {count}")
    shapes = [o.shape for o in node.outputs]

    def run(inputs):
        x = inputs[0]
        return [np.ascontiguousarray(np.take(x, i, axis=axis)).reshape(shapes[i])
                for i in range(count)]
    return run


def _split_kernel(node: Node, data_index: int, axis: int) -> Kernel:
    """Cut input ``data_index`` along ``axis`` into the outputs' sizes."""
    rank = len(node.inputs[data_index].shape)
    axis = _axis(axis, rank, node)
    sizes = [o.shape[axis] for o in node.outputs]
    if sum(sizes) != node.inputs[data_index].shape[axis]:
        raise unsupported(node, f"output sizes {sizes} along axis {axis}")
    bounds = np.cumsum(sizes)[:-1].tolist()

    def run(inputs):
        parts = np.split(inputs[data_index], bounds, axis=axis)
        return [np.ascontiguousarray(p) for p in parts]
    return run


@register("SPLIT", operands="axis:0-1:int, x -> y...", shape=_split_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True, versions={"int8": 2}),
          oracle="TFLM", dtypes=("int8", "int16", "int32", "float32"))
def prepare_split(node: Node) -> Kernel:
    """Equal split; inputs are (axis, input)."""
    axis = int(_const(node, 0, "axis").reshape(-1)[0])
    return _split_kernel(node, 1, axis)


@register("SPLIT_V", operands="x, size_splits:1:int, axis:0-1:int -> y...", shape=_split_v_shape,
          layout=Layout(_FIRST, _split_v_layout), traits=(MOVEMENT,),
          quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "int16", "int32", "float32"))
def prepare_split_v(node: Node) -> Kernel:
    """Split into the given sizes; inputs are (input, size_splits, axis)."""
    axis = int(_const(node, 2, "axis").reshape(-1)[0])
    return _split_kernel(node, 0, axis)


# --------------------------------------------------------------------------- slicing

@register("SLICE", operands="x, begin:1:int, size:1:int -> y", shape=_slice_shape, layout=Layout(_FIRST, _slice_layout), traits=(MOVEMENT,),
          quant=QuantRule(same=True, versions={"int8": 2}),
          oracle="TFLM", dtypes=("int8", "int16", "int32", "float32", "bool"))
def prepare_slice(node: Node) -> Kernel:
    """``input[begin : begin + size]``; the extent comes from the output shape."""
    out_shape = node.outputs[0].shape
    in_shape = node.inputs[0].shape
    if len(out_shape) != len(in_shape):
        raise unsupported(node, f"output rank {len(out_shape)} != input rank {len(in_shape)}")

    def slices(begin: np.ndarray) -> tuple:
        b = [int(v) for v in np.asarray(begin).reshape(-1)]
        return tuple(slice(s, s + n) for s, n in zip(b, out_shape))

    b = node.input(1)
    if b is not None and b.is_const:
        fixed = slices(b.data)
        for s, n, d in zip(fixed, out_shape, in_shape):
            if s.start < 0 or s.start + n > d:
                raise unsupported(node, f"begin {b.data.tolist()} outside the input")

        def run(inputs):
            return [np.ascontiguousarray(inputs[0][fixed])]
        return run

    def run_dynamic(inputs):
        return [np.ascontiguousarray(inputs[0][slices(inputs[1])])]
    return run_dynamic


def _strided_slice_plan(node: Node, begin: Sequence[int], end: Sequence[int],
                        strides: Sequence[int],
                        in_shape: Sequence[int] | None = None,
                        ) -> tuple[tuple[int, ...], tuple[slice, ...]]:
    """(effective input shape, per-axis slices) of a STRIDED_SLICE node (see
    :func:`_strided_slice_axes`)."""
    eff_shape, slices, _ = _strided_slice_axes(node, begin, end, strides, in_shape)
    return eff_shape, slices


def _strided_slice_axes(node: Node, begin: Sequence[int], end: Sequence[int],
                        strides: Sequence[int], in_shape: Sequence[int] | None = None,
                        ) -> tuple[tuple[int, ...], tuple[slice, ...], tuple[bool, ...]]:
    """(effective input shape, per-axis slices, which effective axes the output keeps) of
    a STRIDED_SLICE node reading ``in_shape`` (default: its input's shape).

    Follows TFLite's index logic: begin/end/stride masks, negative indices and clamping,
    shrink axes (length-1 slices, then dropped by the final reshape), ``offset`` (end is
    relative to begin), and LiteRT's expansion of ``ellipsis_mask``/``new_axis_mask``
    into full-range and inserted size-1 axes. (TFLM ignores the last three; for the
    models it accepts they have no effect.)
    """
    a = node.attrs
    begin_mask, end_mask = int(a.get("begin_mask", 0)), int(a.get("end_mask", 0))
    shrink_mask = int(a.get("shrink_axis_mask", 0))
    ellipsis_mask, new_axis_mask = int(a.get("ellipsis_mask", 0)), int(a.get("new_axis_mask", 0))
    offset = bool(a.get("offset", False))
    in_shape = tuple(node.inputs[0].shape if in_shape is None else in_shape)
    rank = len(in_shape)
    count = len(begin)
    if any(s == 0 for s in strides):
        raise unsupported(node, "a zero stride")

    def bit(mask: int, i: int) -> bool:
        return bool(mask >> i & 1)

    # Expand the sparse spec (ellipsis, new axes) into one entry per effective axis.
    n_new = sum(1 for i in range(count) if bit(new_axis_mask, i) and not bit(ellipsis_mask, i))
    dims = rank + n_new
    spec: list[tuple[str, int]] = []  # kind "full" | "new" | "spec", spec index
    i = 0
    while len(spec) < dims and i < count:
        if bit(ellipsis_mask, i):
            covered = max(1, min(1 + n_new + rank - count, dims - len(spec)))
            spec += [("full", i)] * covered
        elif bit(new_axis_mask, i):
            spec.append(("new", i))
        else:
            spec.append(("spec", i))
        i += 1
    spec += [("full", -1)] * (dims - len(spec))

    eff_shape, slices, kept, src = [], [], [], 0
    for kind, k in spec:
        if kind == "new":
            eff_shape.append(1)
            slices.append(slice(0, 1))
            kept.append(True)
            continue
        if src >= rank:
            break
        kept.append(kind == "full" or not bit(shrink_mask, k))
        size = in_shape[src]
        src += 1
        eff_shape.append(size)
        if kind == "full":
            slices.append(slice(None))
            continue
        stride = int(strides[k])
        start = int(begin[k])
        start = start + size if start < 0 else start
        start = min(max(start, 0), size) if stride > 0 else min(max(start, -1), size - 1)
        if bit(begin_mask, k):
            start = 0 if stride > 0 else size - 1
        if bit(shrink_mask, k):
            stop = start if start >= size else start + 1
            stride = 1
        else:
            stop = int(end[k]) + start if offset else int(end[k])
            stop = stop + size if stop < 0 else stop
            stop = min(max(stop, 0), size) if stride > 0 else min(max(stop, -1), size - 1)
            if bit(end_mask, k):
                stop = size if stride > 0 else -1
        if start < 0:  # only with negative strides: nothing to take
            slices.append(slice(0, 0))
        else:
            slices.append(slice(start, stop if stop >= 0 else None, stride))
    if src != rank or len(eff_shape) != dims:
        raise unsupported(node, "a slice spec that does not match the input's rank")
    return tuple(eff_shape), tuple(slices), tuple(kept)


@register("STRIDED_SLICE", operands="x, begin:1:int, end:1:int, strides:1:int -> y", shape=_strided_slice_shape,
          layout=Layout(_FIRST, _strided_slice_layout), traits=(MOVEMENT,),
          quant=QuantRule(same=True, versions={"int8": 2}),
          oracle="TFLM", dtypes=("int8", "int16", "int32", "float32", "bool"))
def prepare_strided_slice(node: Node) -> Kernel:
    """TFLite strided slice with every mask; the result is reshaped to the output shape.

    begin/end/strides are read once when constant (as TFLM requires); otherwise (LiteRT's
    dynamic slices, e.g. with ``offset``) the slices are recomputed on every run.
    """
    out = node.outputs[0]
    shape = out.shape
    params = [node.input(i) for i in (1, 2, 3)]
    if any(p is None for p in params):
        raise unsupported(node, "missing begin/end/strides inputs")

    def as_list(a) -> list[int]:
        return [int(v) for v in np.asarray(a).reshape(-1)]

    if all(p.is_const for p in params):
        eff_shape, slices = _strided_slice_plan(node, *(as_list(p.data) for p in params))
        taken = [len(range(*s.indices(d))) for s, d in zip(slices, eff_shape)]
        _check_size(node, taken, out)

        def run(inputs):
            x = inputs[0].reshape(eff_shape)
            return [np.ascontiguousarray(x[slices]).reshape(shape)]
        return run

    def run_dynamic(inputs):
        eff, sl = _strided_slice_plan(node, *(as_list(a) for a in inputs[1:4]))
        return [np.ascontiguousarray(inputs[0].reshape(eff)[sl]).reshape(shape)]
    return run_dynamic


# --------------------------------------------------------------------------- gathers

@register("GATHER", operands="params, indices:int -> y", shape=_gather_shape, layout=Layout(_FIRST, _gather_layout), traits=(MOVEMENT,),
          quant=QuantRule(same=True, versions={"int8": 2}),
          oracle="TFLM", dtypes=("int8", "float32"))
def prepare_gather(node: Node) -> Kernel:
    """Take slices of ``params`` along ``axis`` at ``indices``, per batch (``batch_dims``)."""
    params, indices = node.inputs[0], node.inputs[1]
    p_rank, i_rank = len(params.shape), len(indices.shape)
    axis = _axis(int(node.attrs.get("axis", 0)), p_rank, node)
    batch_dims = int(node.attrs.get("batch_dims", 0))
    if batch_dims < 0:
        batch_dims += i_rank
    if not 0 <= batch_dims <= min(axis, i_rank):
        raise unsupported(node, f"batch_dims {node.attrs.get('batch_dims')} with axis {axis}")
    if params.shape[:batch_dims] != indices.shape[:batch_dims]:
        raise unsupported(node, "batch dimensions that differ between params and indices")
    batch = int(np.prod(params.shape[:batch_dims], dtype=np.int64))
    outer = int(np.prod(params.shape[batch_dims:axis], dtype=np.int64))
    inner = int(np.prod(params.shape[axis + 1:], dtype=np.int64))
    axis_size = params.shape[axis]
    out_shape = node.outputs[0].shape

    def run(inputs):
        p = inputs[0].reshape(batch, outer, axis_size, inner)
        idx = inputs[1].astype(np.int64).reshape(batch, -1)
        if idx.size and (idx.min() < 0 or idx.max() >= axis_size):
            raise IndexError(f"gather index outside [0, {axis_size})")
        rows = np.arange(batch)[:, None]
        # p[b, :, idx[b, n], :] for every (b, n): advanced indices first, then the slices.
        g = p.transpose(0, 2, 1, 3)[rows, idx]          # [batch, n, outer, inner]
        return [np.ascontiguousarray(g.transpose(0, 2, 1, 3)).reshape(out_shape)]
    return run


@register("GATHER_ND", operands="params, indices:int -> y", shape=_gather_nd_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "float32"))
def prepare_gather_nd(node: Node) -> Kernel:
    """Index the leading dims of ``params`` with the last axis of ``indices``."""
    params, indices = node.inputs[0], node.inputs[1]
    nd = indices.shape[-1]
    if nd > len(params.shape):
        raise unsupported(node, f"index depth {nd} for rank-{len(params.shape)} params")
    lead = params.shape[:nd]
    out_shape = node.outputs[0].shape

    def run(inputs):
        p = inputs[0].reshape((-1,) + tuple(params.shape[nd:]))
        idx = inputs[1].astype(np.int64).reshape(-1, nd)
        if idx.size and (np.any(idx < 0) or np.any(idx >= np.array(lead))):
            raise IndexError("gather_nd index outside params")
        flat = np.ravel_multi_index(idx.T, lead) if nd else np.zeros(len(idx), np.int64)
        return [np.ascontiguousarray(p[flat]).reshape(out_shape)]
    return run


# --------------------------------------------------------------------------- padding

def _paddings(node: Node, index: int = 1) -> list[tuple[int, int]]:
    pads = _const(node, index, "paddings").astype(np.int64).reshape(-1, 2)
    rank = len(node.inputs[0].shape)
    if pads.shape[0] != rank or np.any(pads < 0):
        raise unsupported(node, f"paddings {pads.tolist()} for a rank-{rank} input")
    return [(int(lo), int(hi)) for lo, hi in pads]


def _pad_kernel(node: Node, pad_value: int | float | None) -> Kernel:
    """Constant padding; ``pad_value`` None means PADV2's runtime scalar input 2."""
    pads = _paddings(node)
    out = node.outputs[0]
    inner = tuple(slice(lo, lo + d) for (lo, _), d in zip(pads, node.inputs[0].shape))
    dtype = _np(out)
    shape = out.shape

    def run(inputs):
        value = inputs[2].reshape(-1)[0] if pad_value is None else pad_value
        y = np.full(shape, value, dtype=dtype)
        y[inner] = inputs[0]
        return [y]
    return run


@register("PAD", operands="x, paddings:2:int -> y", shape=_pad_shape, layout=Layout(_FIRST, _pad_layout), traits=(MOVEMENT,),
          quant=QuantRule(same=True, versions={"int8": 2}),
          oracle="TFLM", dtypes=("int8", "int16", "int32", "float32"))
def prepare_pad(node: Node) -> Kernel:
    """Constant pad: int8 pads with the output zero point, other types with 0 (as TFLM)."""
    out = node.outputs[0]
    value = 0
    if out.dtype == "int8" and out.quant is not None:
        value = out.quant.zp0
    return _pad_kernel(node, value)


@register("PADV2", operands="x, paddings:2:int, value?:0-1 -> y", shape=_pad_shape, layout=Layout(_FIRST, _pad_layout), traits=(MOVEMENT,),
          quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "int16", "int32", "float32"))
def prepare_padv2(node: Node) -> Kernel:
    """Constant pad with the value of scalar input 2 (raw, same type as the input)."""
    if node.input(2) is None:
        return prepare_pad(node)
    cv = node.input(2)
    if cv.is_const:
        return _pad_kernel(node, cv.data.reshape(-1)[0].item())
    return _pad_kernel(node, None)


def _mirror_index(size: int, lo: int, hi: int, offset: int) -> np.ndarray:
    """TFLM's source index of every padded position along one axis (offset 1 = REFLECT)."""
    pos = np.arange(size + lo + hi)
    left = (lo + offset - 1) - np.minimum(pos, lo - 1)
    right_p = pos - lo - size
    right = (size - 1 - offset) - np.minimum(right_p, size - 1 - offset)
    return np.where(pos < lo, left, np.where(right_p >= 0, right, pos - lo))


@register("MIRROR_PAD", operands="x, paddings:2:int -> y", shape=_pad_shape, layout=Layout(_FIRST, _pad_layout), traits=(MOVEMENT,),
          quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "float32"))
def prepare_mirror_pad(node: Node) -> Kernel:
    """Reflect (mode 0, edge excluded) or symmetric (mode 1, edge repeated) padding."""
    pads = _paddings(node)
    mode = node.attrs.get("mode", 0)
    mode = {"REFLECT": 0, "SYMMETRIC": 1}.get(mode, mode)
    offset = 1 if int(mode) == 0 else 0
    shape = node.inputs[0].shape
    for (lo, _), d in zip(pads, shape):
        if lo > d - offset:  # TFLM would read outside the input (right pads are clamped)
            raise unsupported(node, f"left padding {lo} on an axis of size {d} in "
                                    f"{'REFLECT' if offset else 'SYMMETRIC'} mode")
    index = np.ix_(*[_mirror_index(d, lo, hi, offset) for (lo, hi), d in zip(pads, shape)])

    def run(inputs):
        return [inputs[0][index]]
    return run


# --------------------------------------------------------------------------- fills / tiles

@register("TILE", operands="x, multiples:1:int -> y", shape=_tile_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True), oracle="LiteRT reference",
          dtypes=_ALL)
def prepare_tile(node: Node) -> Kernel:
    """Repeat the input ``multiples[i]`` times along each axis (LiteRT; TFLM lacks TILE)."""
    out_shape = node.outputs[0].shape
    in_shape = node.inputs[0].shape
    if len(out_shape) != len(in_shape) or any(
            d and o % d for o, d in zip(out_shape, in_shape)):
        raise unsupported(node, f"tiling {in_shape} into {out_shape}")
    reps = tuple(o // d if d else 0 for o, d in zip(out_shape, in_shape))

    def run(inputs):
        return [np.tile(inputs[0], reps)]
    return run


@register("FILL", operands="dims:1:int, value:0-1 -> y", shape=_fill_shape, oracle="TFLM", dtypes=("int8", "int32", "float32"))
def prepare_fill(node: Node) -> Kernel:
    """An output-shaped tensor filled with the scalar input 1."""
    out = node.outputs[0]
    shape, dtype = out.shape, _np(out)

    def run(inputs):
        return [np.full(shape, inputs[1].reshape(-1)[0], dtype=dtype)]
    return run


@register("ZEROS_LIKE", operands="x -> y", shape=same_shape,
          oracle="TFLM", dtypes=("int8", "int32", "int64", "float32"))
def prepare_zeros_like(node: Node) -> Kernel:
    """Zeros of the input's shape and type (raw 0, not the zero point, as TFLM)."""
    out = node.outputs[0]
    shape, dtype = out.shape, _np(out)

    def run(inputs):
        return [np.zeros(shape, dtype=dtype)]
    return run


@register("BROADCAST_TO", operands="x, shape:1:int -> y", shape=_broadcast_to_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True), oracle="TFLM",
          dtypes=_ALL)
def prepare_broadcast_to(node: Node) -> Kernel:
    """Numpy broadcasting of the input to the output shape."""
    shape = node.outputs[0].shape
    try:
        np.broadcast_shapes(node.inputs[0].shape, shape)
    except ValueError:
        raise unsupported(node, f"broadcasting {node.inputs[0].shape} to {shape}") from None

    def run(inputs):
        return [np.ascontiguousarray(np.broadcast_to(inputs[0], shape))]
    return run


# --------------------------------------------------------------------------- resizes

def _resize_setup(node: Node) -> tuple[int, int, int, int, bool, bool]:
    in_shape, out_shape = node.inputs[0].shape, node.outputs[0].shape
    if len(in_shape) != 4:
        raise unsupported(node, f"a rank-{len(in_shape)} input (TFLM resizes NHWC only)")
    align = bool(node.attrs.get("align_corners", False))
    half = bool(node.attrs.get("half_pixel_centers", False))
    if align and half:
        raise unsupported(node, "align_corners together with half_pixel_centers")
    return in_shape[1], in_shape[2], out_shape[1], out_shape[2], align, half


def _nearest_index(in_size: int, out_size: int, align: bool, half: bool) -> np.ndarray:
    """TFLM ``GetNearestNeighbor`` for every output position, in float32 as TFLM does."""
    f32 = np.float32
    if align and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    pos = (np.arange(out_size, dtype=f32) + f32(0.5 if half else 0.0)) * scale
    if align:
        idx = np.sign(pos) * np.floor(np.abs(pos) + f32(0.5))   # TfLiteRound
    else:
        idx = np.floor(pos)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return np.maximum(idx, 0) if half else idx


@register("RESIZE_NEAREST_NEIGHBOR", operands="x:4, size:1:int -> y:4", shape=_resize_shape, traits=(MOVEMENT,),
          quant=QuantRule(same=True, versions={"int8": 2}), oracle="TFLM",
          dtypes=("int8", "int16", "float32"))
def prepare_resize_nearest_neighbor(node: Node) -> Kernel:
    """Nearest-neighbour resize of NHWC with align_corners / half_pixel_centers."""
    ih, iw, oh, ow, align, half = _resize_setup(node)
    ys = _nearest_index(ih, oh, align, half)
    xs = _nearest_index(iw, ow, align, half)

    def run(inputs):
        return [np.ascontiguousarray(inputs[0][:, ys][:, :, xs])]
    return run


def _bilinear_float_coords(in_size: int, out_size: int, align: bool, half: bool):
    """(lower index, upper index, fraction) per output position, float32 as TFLM."""
    f32 = np.float32
    scale = f32(in_size) / f32(out_size)
    if align and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    v = np.arange(out_size, dtype=f32)
    pos = (v + f32(0.5)) * scale - f32(0.5) if half else v * scale
    lo = np.maximum(np.floor(pos).astype(np.int64), 0)
    hi = np.minimum(np.ceil(pos).astype(np.int64), in_size - 1)
    return lo, hi, (pos - lo.astype(f32)).astype(f32)


def _bilinear_int_coords(in_size: int, out_size: int, align: bool, half: bool):
    """TFLM's 10-bit fixed-point (scaled position, lower, upper) per output position."""
    if align and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = ((1 << 10) * in_size + out_size // 2) // out_size
    v = np.arange(out_size, dtype=np.int64)
    pos = v * scale + scale // 2 - (1 << 9) if half else v * scale
    trunc_div = np.where(pos >= 0, pos // 1024, -((-pos) // 1024))   # C division
    lo = np.maximum(trunc_div, 0)
    up = pos + 1023
    hi = np.minimum(np.where(up >= 0, up // 1024, -((-up) // 1024)), in_size - 1)
    return pos, lo, hi


def _resize_bilinear_litert_uint8(ih: int, iw: int, oh: int, ow: int, align: bool,
                                  half: bool) -> Kernel:
    """LiteRT's uint8 RESIZE_BILINEAR (``litert_uint8`` nodes of a legacy uint8 model run on
    its int8 re-encoding, see :mod:`picojoule.passes.uint8`): the float32 interpolation of
    the uint8 values, products and sums in the C++ order, + 0.5 and truncation."""
    f32 = np.float32
    y0, y1, fy = _bilinear_float_coords(ih, oh, align, half)
    x0, x1, fx = _bilinear_float_coords(iw, ow, align, half)
    one = f32(1)
    wy0, wy1 = (one - fy)[:, None, None], fy[:, None, None]
    wx0, wx1 = (one - fx)[None, :, None], fx[None, :, None]

    def run_u8(inputs):
        u = inputs[0].astype(f32) + f32(128)          # the uint8 values, exactly
        a, b = u[:, y0], u[:, y1]
        v = (a[:, :, x0] * wy0 * wx0 + b[:, :, x0] * wy1 * wx0
             + a[:, :, x1] * wy0 * wx1 + b[:, :, x1] * wy1 * wx1 + f32(0.5))
        return [(v.astype(np.int32) - 128).astype(np.int8)]
    return run_u8


@register("RESIZE_BILINEAR", operands="x:4, size:1:int -> y:4", shape=_resize_shape,
          quant=QuantRule(same=True, versions={"int8": 2}), oracle="TFLM",
          dtypes=("int8", "float32"))
def prepare_resize_bilinear(node: Node) -> Kernel:
    """Bilinear resize; float32 interpolates in float, int8 in TFLM's 10-bit fixed point."""
    ih, iw, oh, ow, align, half = _resize_setup(node)
    dtype = node.outputs[0].dtype
    if dtype == "float32":
        y0, y1, fy = _bilinear_float_coords(ih, oh, align, half)
        x0, x1, fx = _bilinear_float_coords(iw, ow, align, half)
        one = np.float32(1)
        wy0, wy1 = (one - fy)[:, None, None], fy[:, None, None]
        wx0, wx1 = (one - fx)[None, :, None], fx[None, :, None]

        def run_float(inputs):
            x = inputs[0]
            a, b = x[:, y0], x[:, y1]
            y = (a[:, :, x0] * wy0 * wx0 + b[:, :, x0] * wy1 * wx0
                 + a[:, :, x1] * wy0 * wx1 + b[:, :, x1] * wy1 * wx1)
            return [y.astype(np.float32, copy=False)]
        return run_float
    if dtype != "int8":
        raise unsupported(node, f"{dtype} data (TFLM resizes float32 and int8 bilinearly)")
    if litert_uint8(node):
        return _resize_bilinear_litert_uint8(ih, iw, oh, ow, align, half)
    py, y0, y1 = _bilinear_int_coords(ih, oh, align, half)
    px, x0, x1 = _bilinear_int_coords(iw, ow, align, half)
    dy1 = (py - 1024 * y0)[:, None, None]
    dy0 = 1024 - dy1
    dx1 = (px - 1024 * x0)[None, :, None]
    dx0 = 1024 - dx1

    def run_int8(inputs):
        x = inputs[0].astype(np.int64)
        a, b = x[:, y0], x[:, y1]
        acc = (a[:, :, x0] * dy0 * dx0 + b[:, :, x0] * dy1 * dx0
               + a[:, :, x1] * dy0 * dx1 + b[:, :, x1] * dy1 * dx1)
        # TFLM (without TFLITE_SINGLE_ROUNDING): add +-2^19, divide truncating toward 0.
        acc = acc + np.where(acc > 0, 1 << 19, -(1 << 19))
        q = np.where(acc >= 0, acc >> 20, -((-acc) >> 20))
        return [q.astype(np.int8)]
    return run_int8


# --------------------------------------------------------------------------- space <-> batch/depth

def _block_params(node: Node, what: str) -> tuple[list[int], list[tuple[int, int]]]:
    rank = len(node.inputs[0].shape)
    if rank not in (3, 4):
        raise unsupported(node, f"a rank-{rank} input (TFLM handles 3-D and 4-D)")
    block = [int(b) for b in _const(node, 1, "block_shape").reshape(-1)]
    pads = _const(node, 2, what).astype(np.int64).reshape(-1, 2)
    if len(block) != rank - 2 or pads.shape[0] != rank - 2 or min(block) < 1:
        raise unsupported(node, f"block shape {block} with {what} {pads.tolist()}")
    return block, [(int(a), int(b)) for a, b in pads]


@register("SPACE_TO_BATCH_ND", operands="x:3-4, block_shape:1:int, paddings:2:int -> y:3-4", shape=_space_to_batch_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "float32"))
def prepare_space_to_batch_nd(node: Node) -> Kernel:
    """Zero-pad the spatial dims, then move block offsets into the batch dimension."""
    block, pads = _block_params(node, "paddings")
    in_shape, out = node.inputs[0].shape, node.outputs[0]
    rank = len(in_shape)
    padded = [in_shape[1 + i] + lo + hi for i, (lo, hi) in enumerate(pads)]
    if any(p % b for p, b in zip(padded, block)):
        raise unsupported(node, f"padded spatial size {padded} not a multiple of {block}")
    inner = (slice(None),) + tuple(slice(lo, lo + in_shape[1 + i])
                                   for i, (lo, _) in enumerate(pads)) + (slice(None),)
    batch, depth = in_shape[0], in_shape[-1]
    split = [batch]
    for p, b in zip(padded, block):
        split += [p // b, b]
    split.append(depth)
    # [B, H/bh, bh, W/bw, bw, C] -> [bh, bw, B, H/bh, W/bw, C]
    perm = ([2, 4] if rank == 4 else [2]) + [0] + ([1, 3] if rank == 4 else [1]) + [rank + rank - 3]
    dtype, shape = _np(out), out.shape
    full = [batch] + padded + [depth]
    fill = out.quant.zp0 if out.quant is not None and out.dtype == "int8" else 0

    def run(inputs):
        y = np.full(full, fill, dtype=dtype)  # LiteRT's pad value (TFLM's is uninitialised)
        y[inner] = inputs[0]
        return [np.ascontiguousarray(y.reshape(split).transpose(perm)).reshape(shape)]
    return run


@register("BATCH_TO_SPACE_ND", operands="x:3-4, block_shape:1:int, crops:2:int -> y:3-4", shape=_batch_to_space_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "float32"))
def prepare_batch_to_space_nd(node: Node) -> Kernel:
    """Move batch blocks back into the spatial dims, then crop."""
    block, crops = _block_params(node, "crops")
    in_shape, out = node.inputs[0].shape, node.outputs[0]
    rank = len(in_shape)
    nblk = int(np.prod(block))
    if in_shape[0] % nblk:
        raise unsupported(node, f"batch {in_shape[0]} not a multiple of block {block}")
    batch, depth = in_shape[0] // nblk, in_shape[-1]
    spatial = list(in_shape[1:-1])
    # [bh, bw, B, H, W, C] -> [B, H, bh, W, bw, C]
    split = block + [batch] + spatial + [depth]
    perm = [rank - 2, rank - 1, 0, rank, 1, rank + 1] if rank == 4 else [1, 2, 0, 3]
    full = [batch] + [s * b for s, b in zip(spatial, block)] + [depth]
    crop = (slice(None),) + tuple(slice(lo, f - hi) for (lo, hi), f in zip(crops, full[1:-1])) \
        + (slice(None),)
    shape = out.shape

    def run(inputs):
        y = inputs[0].reshape(split).transpose(perm).reshape(full)
        return [np.ascontiguousarray(y[crop]).reshape(shape)]
    return run


@register("SPACE_TO_DEPTH", operands="x:4 -> y:4", shape=_space_to_depth_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "float32"))
def prepare_space_to_depth(node: Node) -> Kernel:
    """NHWC: each block x block patch becomes block*block*C channels."""
    bs = int(node.attrs.get("block_size", 0))
    n, h, w, c = node.inputs[0].shape
    if bs < 1 or h % bs or w % bs:
        raise unsupported(node, f"block size {bs} for spatial size {h}x{w}")
    shape = node.outputs[0].shape

    def run(inputs):
        y = inputs[0].reshape(n, h // bs, bs, w // bs, bs, c).transpose(0, 1, 3, 2, 4, 5)
        return [np.ascontiguousarray(y).reshape(shape)]
    return run


@register("DEPTH_TO_SPACE", operands="x:4 -> y:4", shape=_depth_to_space_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "float32"))
def prepare_depth_to_space(node: Node) -> Kernel:
    """NHWC: block*block*C channels become a block x block spatial patch of C."""
    bs = int(node.attrs.get("block_size", 0))
    n, h, w, c = node.inputs[0].shape
    if bs < 1 or c % (bs * bs):
        raise unsupported(node, f"block size {bs} for {c} channels")
    shape = node.outputs[0].shape

    def run(inputs):
        y = inputs[0].reshape(n, h, w, bs, bs, c // (bs * bs)).transpose(0, 1, 3, 2, 4, 5)
        return [np.ascontiguousarray(y).reshape(shape)]
    return run


# --------------------------------------------------------------------------- REVERSE_V2

def reverse_axes(node: Node) -> list[int]:
    """REVERSE_V2's axes: the constant int32 input 1, negatives wrapped, sorted. TFLM
    reverses one run of adjacent axes (it refuses others, and reads past an empty list)."""
    rank = len(node.inputs[0].shape)
    v = node.input(1)
    if v is not None and v.dtype != "int32":
        raise unsupported(node, f"a {v.dtype} axis tensor (TFLM takes int32)")
    given = [int(a) for a in _const(node, 1, "axis").reshape(-1)]
    if not given:
        raise unsupported(node, "an empty axis list")
    axes = sorted(_axis(a, rank, node) for a in given)
    if rank == 0 or any(b != a + 1 for a, b in zip(axes, axes[1:])):
        raise unsupported(node, f"axes {given} of a rank-{rank} tensor (TFLM reverses one run "
                          "of adjacent axes, each once)")
    return axes


@register("REVERSE_V2", operands="x, axis:1:int -> y", shape=same_shape,
          traits=(MOVEMENT,), quant=QuantRule(same=True), oracle="TFLM",
          dtypes=("int8", "uint8", "int16", "int32", "int64", "float32", "bool"))
def prepare_reverse_v2(node: Node) -> Kernel:
    """Reverse the element order along the constant ``axis`` input's (adjacent) axes."""
    axes = tuple(reverse_axes(node))
    x, out = node.inputs[0], node.outputs[0]
    if out.shape != x.shape or out.dtype != x.dtype:
        raise unsupported(node, f"{x.dtype}{list(x.shape)} input with a "
                          f"{out.dtype}{list(out.shape)} output")

    def run(inputs):
        return [np.ascontiguousarray(np.flip(inputs[0], axes))]
    return run
