"""Data-movement emitters: PAD / PADV2, STRIDED_SLICE, SLICE, CONCATENATION, TRANSPOSE.

Each becomes fills and N-D strided copies (``pj_copy``) whose offsets and strides are worked
out here from the same index logic the reference kernels use, so the C code only moves
bytes (no requantization: TFLM's versions of these ops copy raw integers too).
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.int16 import operand
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.shape import _paddings, _strided_slice_plan

SOURCES = ("pj_copy.c",)
MAX_RANK = 6


def _elem(v: Value) -> int:
    return int(np.dtype(to_numpy(v.dtype)).itemsize)


def _contig(shape) -> list[int]:
    strides, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = acc
        acc *= int(shape[i])
    return strides


def copy_call(ctx: Context, node: Node, src: str, dst: str, elem: int, count, src_stride,
              dst_stride, src_off: int = 0, dst_off: int = 0) -> str:
    """A ``pj_copy`` statement; axes of extent 1 are dropped and contiguous axes merged."""
    axes = [(int(c), int(s), int(d)) for c, s, d in zip(count, src_stride, dst_stride)]
    if any(c == 0 for c, _, _ in axes):
        return "/* empty copy */"
    axes = [a for a in axes if a[0] != 1] or [(1, 1, 1)]
    merged = [axes[0]]
    for c, s, d in axes[1:]:
        pc, ps, pd = merged[-1]
        if ps == s * c and pd == d * c:  # the outer axis steps over exactly this one
            merged[-1] = (pc * c, s, d)
        else:
            merged.append((c, s, d))
    if len(merged) > MAX_RANK:
        raise unsupported(node, f"a {len(merged)}-D strided copy (at most {MAX_RANK})")
    pad = MAX_RANK - len(merged)
    p = ctx.params("pj_copy_params", dict(
        rank=len(merged), elem=elem,
        count=[c for c, _, _ in merged] + [1] * pad,
        src_stride=[s for _, s, _ in merged] + [0] * pad,
        dst_stride=[d for _, _, d in merged] + [0] * pad,
        src_offset=src_off, dst_offset=dst_off))
    return f"pj_copy(&{p}, {src}, {dst});"


def _same_type(node: Node, x: Value, y: Value) -> None:
    if x.dtype != y.dtype:
        raise unsupported(node, f"{x.dtype} input with {y.dtype} output")


# --------------------------------------------------------------------------- PAD
def _emit_pad(ctx: Context, node: Node, value: int | float) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    _same_type(node, x, y)
    pads = _paddings(node)
    elem = _elem(y)
    if y.dtype == "float32":
        bits = int(np.array([value], np.float32).view(np.int32)[0])
    else:
        bits = int(value)
    fill = f"pj_fill({{out0}}, {y.size}, {elem}, (int64_t){bits}LL);"
    ds = _contig(y.shape)
    off = sum(lo * s for (lo, _), s in zip(pads, ds))
    cp = copy_call(ctx, node, "{in0}", "{out0}", elem, x.shape, _contig(x.shape), ds, 0, off)
    return Emitted(f"{fill}\n    {cp}", sources=SOURCES)


@emitter("PAD")
def emit_pad(ctx: Context, node: Node) -> Emitted:
    y = node.outputs[0]
    value = y.quant.zp0 if (y.dtype == "int8" and y.quant is not None) else 0
    return _emit_pad(ctx, node, value)


@emitter("PADV2")
def emit_padv2(ctx: Context, node: Node) -> Emitted:
    cv = node.input(2)
    if cv is None:
        return emit_pad(ctx, node)
    if not cv.is_const:
        raise unsupported(node, "a non-constant pad value")
    return _emit_pad(ctx, node, cv.data.reshape(-1)[0].item())


# --------------------------------------------------------------------------- slices
@emitter("STRIDED_SLICE")
def emit_strided_slice(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    _same_type(node, x, y)
    params = [node.input(i) for i in (1, 2, 3)]
    if any(p is None or not p.is_const for p in params):
        raise unsupported(node, "non-constant begin/end/strides")
    eff, slices = _strided_slice_plan(
        node, *([int(v) for v in np.asarray(p.data).reshape(-1)] for p in params))
    st = _contig(eff)
    count, sstride, off = [], [], 0
    for s, d, stride in zip(slices, eff, st):
        start, stop, step = s.indices(d)
        n = len(range(start, stop, step))
        count.append(n)
        sstride.append(step * stride)
        off += start * stride if n else 0
    if int(np.prod(count)) != y.size:
        raise unsupported(node, f"a slice of {count} for output {list(y.shape)}")
    cp = copy_call(ctx, node, "{in0}", "{out0}", _elem(y), count, sstride, _contig(count), off)
    return Emitted(cp, sources=SOURCES)


@emitter("SLICE")
def emit_slice(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    _same_type(node, x, y)
    b = node.input(1)
    if b is None or not b.is_const or len(y.shape) != len(x.shape):
        raise unsupported(node, "a non-constant begin or a rank change")
    begin = [int(v) for v in np.asarray(b.data).reshape(-1)]
    st = _contig(x.shape)
    for s, n, d in zip(begin, y.shape, x.shape):
        if s < 0 or s + n > d:
            raise unsupported(node, f"begin {begin} outside the input")
    off = sum(s * k for s, k in zip(begin, st))
    return Emitted(copy_call(ctx, node, "{in0}", "{out0}", _elem(y), y.shape, st,
                             _contig(y.shape), off), sources=SOURCES)


# --------------------------------------------------------------------------- joins
@emitter("CONCATENATION")
def emit_concatenation(ctx: Context, node: Node) -> Emitted:
    y = node.outputs[0]
    if node.attrs.get("fused_activation_function", "NONE") != "NONE":
        raise unsupported(node, "a fused activation")
    rank = len(y.shape)
    axis = int(node.attrs.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise unsupported(node, f"axis {axis} for rank {rank}")
    for v in node.inputs:
        if v is None or v.dtype != y.dtype or len(v.shape) != rank:
            raise unsupported(node, "inputs of another type or rank than the output")
        if y.dtype == "int8" and y.quant is not None and (
                v.quant is None or v.quant.scale0 != y.quant.scale0
                or v.quant.zp0 != y.quant.zp0):
            raise unsupported(node, "int8 inputs quantized unlike the output")
    ds = _contig(y.shape)
    calls, pos = [], 0
    for i, v in enumerate(node.inputs):
        calls.append(copy_call(ctx, node, operand(ctx, node, i), "{out0}", _elem(y), v.shape,
                               _contig(v.shape), ds, 0, pos * ds[axis]))
        pos += v.shape[axis]
    if pos != y.shape[axis]:
        raise unsupported(node, "input extents that do not add up to the output's")
    return Emitted("\n    ".join(calls), sources=SOURCES)


@emitter("TRANSPOSE")
def emit_transpose(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    _same_type(node, x, y)
    pv = node.input(1)
    if pv is None or not pv.is_const:
        raise unsupported(node, "a non-constant perm")
    perm = [int(p) for p in np.asarray(pv.data).reshape(-1)]
    if sorted(perm) != list(range(len(x.shape))):
        raise unsupported(node, f"perm {perm}")
    st = _contig(x.shape)
    return Emitted(copy_call(ctx, node, "{in0}", "{out0}", _elem(y),
                             [x.shape[p] for p in perm], [st[p] for p in perm],
                             _contig(y.shape)), sources=SOURCES)
