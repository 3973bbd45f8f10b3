"""Data-movement emitters: PAD / PADV2, STRIDED_SLICE, SLICE, CONCATENATION, TRANSPOSE.

Each becomes fills and N-D strided copies (``pj_copy``) whose offsets and strides are worked
out here from the same index logic the reference kernels use, so the C code only moves
bytes (no requantization: TFLM's versions of these ops copy raw integers too). Every
element type moves the same way (only its size matters): int8/16/32/64, uint8/16/32,
float32 and bool (one byte, 0 or 1). A runtime PADV2 pad value and a runtime SLICE begin
use pj_splat / pj_copy_at (pj_movement.c); the other ops' runtime parameters are not
supported (TFLM requires them constant).
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.generator import CTYPES, Context, Emitted, emitter, unsupported
from picojoule.errors import PicojouleError
from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.registry import lookup
from picojoule.ops.shape import _paddings, _strided_slice_plan

SOURCES = ("pj_copy.c",)
#: pj_movement.c's kernels (pj_copy_at calls pj_copy).
MOVE_SOURCES = ("pj_movement.c", "pj_copy.c")
MAX_RANK = 6
#: Element types the copies handle (the C backend's tensor types plus bool, one byte).
DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "bool")
_INDEX_TYPES = {"int32": 0, "int64": 1, "int16": 2}


def reference_check(node: Node) -> None:
    """Prepare ``node`` with its reference kernel: a configuration the reference refuses,
    the C refuses too (in one line, naming the node)."""
    try:
        lookup(node).prepare(node)
    except PicojouleError as e:
        msg = str(e)
        head, tail = f"{node.op} (node {node.name!r}): ", " is not supported"
        msg = msg[len(head):] if msg.startswith(head) else msg
        msg = msg[:-len(tail)] if msg.endswith(tail) else msg
        raise unsupported(node, msg or "this configuration") from None


def ctype(v: Value) -> str:
    """The C element type of ``v`` (bool: uint8_t holding 0 or 1)."""
    return "uint8_t" if v.dtype == "bool" else CTYPES[v.dtype]


def _elem(v: Value) -> int:
    return int(np.dtype(to_numpy(v.dtype)).itemsize)


def check_dtype(node: Node, *values: Value | None) -> None:
    """Each value has a fixed-size element type the copies can move."""
    for v in values:
        if v is not None and v.dtype not in DTYPES:
            raise unsupported(node, f"{v.dtype} tensor {v.name!r}")


def operand(ctx: Context, node: Node, i: int) -> str:
    """C expression for input ``i``: its arena placeholder, or a flash array if constant."""
    v = node.inputs[i]
    check_dtype(node, v)
    if v.is_const:
        data = np.asarray(v.data)
        return ctx.array("k", ctype(v), data.astype(np.uint8) if v.dtype == "bool" else data)
    return "{in%d}" % i


def index_type(node: Node, v: Value) -> int:
    """pj_movement.h's PJ_INDEX_* code of an index tensor."""
    if v.dtype not in _INDEX_TYPES:
        raise unsupported(node, f"{v.dtype} indices")
    return _INDEX_TYPES[v.dtype]


def fill_bits(v: Value, value) -> int:
    """The raw bits of ``value`` as an element of ``v`` (for pj_fill)."""
    if v.dtype == "float32":
        return int(np.array([value], np.float32).view(np.int32)[0])
    if v.dtype == "bool":
        return int(bool(value))
    bits = int(np.array([value]).astype(to_numpy(v.dtype))[0])
    return bits - (1 << 64) if bits >= 1 << 63 else bits  # uint64: as int64's bits


def fill_call(v: Value, value, dst: str = "{out0}", memset: bool = True) -> str:
    """A pj_fill of all of ``v`` with ``value`` (``memset``: a memset when every byte is
    equal; PAD keeps pj_fill, whose work the latency estimator counts)."""
    bits = fill_bits(v, value)
    elem = _elem(v)
    raw = (bits & ((1 << (8 * elem)) - 1)).to_bytes(elem, "little")
    if v.size == 0:
        return "/* empty fill */"
    if memset and len(set(raw)) == 1:
        return f"memset({dst}, {raw[0]}, {v.nbytes});"
    lit = "(-9223372036854775807LL - 1)" if bits == -(1 << 63) else f"{bits}LL"
    return f"pj_fill({dst}, {v.size}, {elem}, (int64_t){lit});"


def _contig(shape) -> list[int]:
    strides, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = acc
        acc *= int(shape[i])
    return strides


def copy_call(ctx: Context, node: Node, src: str, dst: str, elem: int, count, src_stride,
              dst_stride, src_off: int = 0, dst_off: int = 0) -> str:
    """A ``pj_copy`` statement; axes of extent 1 are dropped and contiguous axes merged."""
    p = copy_params(ctx, node, elem, count, src_stride, dst_stride, src_off, dst_off)
    return "/* empty copy */" if p is None else f"pj_copy(&{p}, {src}, {dst});"


def copy_params(ctx: Context, node: Node, elem: int, count, src_stride, dst_stride,
                src_off: int = 0, dst_off: int = 0) -> str | None:
    """The ``pj_copy_params`` block of a copy (None: nothing to copy)."""
    axes = [(int(c), int(s), int(d)) for c, s, d in zip(count, src_stride, dst_stride)]
    if any(c == 0 for c, _, _ in axes):
        return None
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
    return p


def _same_type(node: Node, x: Value, y: Value) -> None:
    check_dtype(node, x, y)
    if x.dtype != y.dtype:
        raise unsupported(node, f"{x.dtype} input with {y.dtype} output")


# --------------------------------------------------------------------------- PAD
def _emit_pad(ctx: Context, node: Node, value: int | float | None) -> Emitted:
    """Fill with ``value`` (None: PADV2's runtime scalar input 2), then copy the input in."""
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same_type(node, x, y)
    pads = _paddings(node)
    elem = _elem(y)
    sources = SOURCES
    if value is None:
        cv = node.inputs[2]
        if cv.dtype != y.dtype or cv.size < 1:
            raise unsupported(node, f"a {cv.dtype}{list(cv.shape)} pad value")
        fill = f"pj_splat({{out0}}, {y.size}, {elem}, {{in2}});" if y.size else ""
        sources = MOVE_SOURCES
    else:
        fill = fill_call(y, value, memset=False)
    ds = _contig(y.shape)
    off = sum(lo * s for (lo, _), s in zip(pads, ds))
    cp = copy_call(ctx, node, operand(ctx, node, 0), "{out0}", elem, x.shape, _contig(x.shape),
                   ds, 0, off)
    return Emitted(f"{fill}\n    {cp}", sources=sources)


@emitter("PAD", dtypes=DTYPES)
def emit_pad(ctx: Context, node: Node) -> Emitted:
    y = node.outputs[0]
    value = y.quant.zp0 if (y.dtype == "int8" and y.quant is not None) else 0
    return _emit_pad(ctx, node, value)


@emitter("PADV2", dtypes=DTYPES)
def emit_padv2(ctx: Context, node: Node) -> Emitted:
    cv = node.input(2)
    if cv is None:
        return emit_pad(ctx, node)
    if not cv.is_const:
        return _emit_pad(ctx, node, None)
    return _emit_pad(ctx, node, cv.data.reshape(-1)[0].item())


# --------------------------------------------------------------------------- slices
@emitter("STRIDED_SLICE", dtypes=DTYPES)
def emit_strided_slice(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
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
    cp = copy_call(ctx, node, operand(ctx, node, 0), "{out0}", _elem(y), count, sstride,
                   _contig(count), off)
    return Emitted(cp, sources=SOURCES)


@emitter("SLICE", dtypes=DTYPES)
def emit_slice(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same_type(node, x, y)
    b = node.input(1)
    if b is None or len(y.shape) != len(x.shape):
        raise unsupported(node, "a missing begin or a rank change")
    st = _contig(x.shape)
    if not b.is_const:
        # Runtime begin: the offset is computed in C, each begin clamped to [0, d - size]
        # (the reference's slices of an in-range begin; out of range is undefined there).
        if b.size != len(x.shape) or any(n > d for n, d in zip(y.shape, x.shape)):
            raise unsupported(node, f"a begin of {b.size} for a rank-{len(x.shape)} input")
        p = copy_params(ctx, node, _elem(y), y.shape, st, _contig(y.shape))
        if p is None:
            return Emitted("/* empty slice */")
        o = ctx.params("pj_offset_params", dict(
            n=len(st), index_type=index_type(node, b),
            lo=[0] * MAX_RANK, hi=[d - n for d, n in zip(x.shape, y.shape)]
            + [0] * (MAX_RANK - len(st)), stride=st + [0] * (MAX_RANK - len(st))))
        return Emitted(f"pj_copy_at(&{p}, &{o}, {{in1}}, {operand(ctx, node, 0)}, {{out0}});",
                       sources=MOVE_SOURCES)
    begin = [int(v) for v in np.asarray(b.data).reshape(-1)]
    for s, n, d in zip(begin, y.shape, x.shape):
        if s < 0 or s + n > d:
            raise unsupported(node, f"begin {begin} outside the input")
    off = sum(s * k for s, k in zip(begin, st))
    return Emitted(copy_call(ctx, node, operand(ctx, node, 0), "{out0}", _elem(y), y.shape, st,
                             _contig(y.shape), off), sources=SOURCES)


# --------------------------------------------------------------------------- joins
@emitter("CONCATENATION", dtypes=DTYPES)
def emit_concatenation(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    y = node.outputs[0]
    if node.attrs.get("fused_activation_function", "NONE") != "NONE":
        raise unsupported(node, "a fused activation")
    rank = len(y.shape)
    axis = int(node.attrs.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise unsupported(node, f"axis {axis} for rank {rank}")
    check_dtype(node, y)
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


@emitter("TRANSPOSE", dtypes=DTYPES)
def emit_transpose(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same_type(node, x, y)
    pv = node.input(1)
    if pv is None or not pv.is_const:
        raise unsupported(node, "a non-constant perm")
    perm = [int(p) for p in np.asarray(pv.data).reshape(-1)]
    if sorted(perm) != list(range(len(x.shape))):
        raise unsupported(node, f"perm {perm}")
    st = _contig(x.shape)
    return Emitted(copy_call(ctx, node, operand(ctx, node, 0), "{out0}", _elem(y),
                             [x.shape[p] for p in perm], [st[p] for p in perm],
                             _contig(y.shape)), sources=SOURCES)
