"""Reduction emitters: MEAN, SUM, REDUCE_MAX/MIN/PROD, ARG_MAX/ARG_MIN, CUMSUM
(kernels/pj_reduce.c).

Each node is first prepared by the reference kernel (so the C backend refuses exactly the
configurations the reference refuses); the constants (TFLM's mean multiplier with 1/n
folded in, REDUCE_PROD's reduced 16-bit multiplier, CUMSUM's rescaled-input table) follow
``picojoule.ops.reduce`` step by step. The input's dimensions are merged into alternating
kept / reduced runs, so the C walks memory in order: MEAN over H,W of an NHWC tensor
(GlobalAveragePooling2D) becomes column sums of an [H*W][C] block, four int8 channels per
load (SXTB16 / SADD16 on DSP cores).
"""

from __future__ import annotations

import math

import numpy as np

from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.errors import PicojouleError
from picojoule.ir import Node, Value
from picojoule.ops.common import dtype_range
from picojoule.ops.reduce import (
    _mbqm_smaller_than_one,
    _quant_pair,
    _reduce_axes,
    _reduced_count,
)
from picojoule.ops.registry import lookup
from picojoule.quant.fixedpoint import quantize_multiplier, wrap_int32

SOURCES = ("pj_reduce.c",)
MAXRANK = 8
_SUFFIX = {"int8": "s8", "uint8": "u8", "int16": "s16", "int32": "s32", "int64": "s64",
           "float32": "f32"}


def check_reference(node: Node) -> None:
    """Prepare the node with the reference kernel: what it refuses, the C refuses."""
    try:
        lookup(node).prepare(node)
    except PicojouleError as e:
        msg, head, tail = str(e), f"{node.op} (node {node.name!r}): ", " is not supported"
        if msg.startswith(head) and msg.endswith(tail):
            msg = msg[len(head):-len(tail)]
        raise unsupported(node, msg or "this configuration") from None


def _pad(values: list[int], fill: int = 0) -> list[int]:
    return list(values) + [fill] * (MAXRANK - len(values))


def scatter_plan(ctx: Context, node: Node, shape: tuple[int, ...], axes) -> str:
    """A pj_red_plan: the input's non-unit dimensions merged into alternating kept /
    reduced runs; output strides 0 on reduced runs."""
    red = set(axes)
    dims: list[list] = []  # [count, reduced]
    for a, n in enumerate(shape):
        if n == 1:
            continue
        if dims and dims[-1][1] == (a in red):
            dims[-1][0] *= int(n)
        else:
            dims.append([int(n), a in red])
    if not dims:
        dims = [[1, False]]
    if len(dims) > MAXRANK:
        raise unsupported(node, f"a reduction pattern of {len(dims)} alternating runs")
    strides, acc = [0] * len(dims), 1
    for i in range(len(dims) - 1, -1, -1):
        if not dims[i][1]:
            strides[i] = acc
            acc *= dims[i][0]
    counts = [c for c, _ in dims]
    total = int(np.prod(counts, dtype=np.int64))
    out_size = acc if total else int(np.prod([n for a, n in enumerate(shape) if a not in red],
                                             dtype=np.int64))
    runs = total // counts[-1] if counts[-1] else 0
    return ctx.params("pj_red_plan", dict(rank=len(dims), runs=runs, out_size=out_size,
                                          count=_pad(counts, 1), out_stride=_pad(strides)))


def _merge(dims: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(count, stride) pairs, outermost first, merged where one steps over the next."""
    out: list[tuple[int, int]] = []
    for c, s in dims:
        if c == 1:
            continue
        if out and out[-1][1] == s * c:
            out[-1] = (out[-1][0] * c, s)
        else:
            out.append((c, s))
    return out


def gather_plan(ctx: Context, node: Node, shape: tuple[int, ...], axes) -> str:
    """A pj_red_gather: kept and reduced dimensions with their input strides."""
    strides, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        strides[i] = acc
        acc *= int(shape[i])
    red = set(axes)
    kept = _merge([(int(shape[a]), strides[a]) for a in range(len(shape)) if a not in red])
    rdims = _merge([(int(shape[a]), strides[a]) for a in sorted(red)])
    if len(kept) > MAXRANK or len(rdims) > MAXRANK:
        raise unsupported(node, "more than 8 merged kept or reduced dimensions")
    out_size = int(np.prod([c for c, _ in kept], dtype=np.int64))
    return ctx.params("pj_red_gather", dict(
        n_kept=len(kept), n_red=len(rdims), out_size=out_size,
        kept_count=_pad([c for c, _ in kept], 1), kept_stride=_pad([s for _, s in kept]),
        red_count=_pad([c for c, _ in rdims], 1), red_stride=_pad([s for _, s in rdims])))


def _io(node: Node) -> tuple[Value, Value]:
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype not in _SUFFIX or y.dtype not in _SUFFIX:
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    return x, y


# --------------------------------------------------------------------------- MEAN / SUM
@emitter("MEAN", "SUM", dtypes=("int8", "int16", "float32", "int32", "int64"),
         isa=("portable", "dsp"))
def emit_mean_sum(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    x, y = _io(node)
    axes = _reduce_axes(node)
    n = _reduced_count(node, axes)
    plan = scatter_plan(ctx, node, x.shape, axes)
    is_mean = node.op == "MEAN"
    if x.dtype in ("int8", "int16") and x.quant is not None:
        if y.dtype != x.dtype:
            raise unsupported(node, f"{x.dtype} -> {y.dtype}")
        # TFLM QuantizedMeanOrSum, as picojoule.ops.reduce._quantized_mean_or_sum.
        s_in, zp_in, s_out, zp_out = _quant_pair(node)
        mult, shift = quantize_multiplier(float(np.float64(s_in) / np.float64(s_out)))
        if is_mean and n > 0:
            s = min(n.bit_length() - 1, 32, 31 + shift)
            mult = (mult << s) // n
            shift -= s
        if mult < 0 or mult >= (1 << 31) or not -31 <= shift <= 30:
            raise unsupported(node, f"a requantization multiplier {mult} shift {shift}")
        lo, hi = dtype_range(y.dtype)
        q = ctx.params("pj_red_q", dict(offset=int(wrap_int32(np.int64(zp_in * n))), mult=mult,
                                        shift=shift, zp_out=zp_out, lo=lo, hi=hi,
                                        empty=int(n == 0)))
        fn = f"pj_reduce_sum_{_SUFFIX[x.dtype]}"
        return Emitted(f"{fn}(&{plan}, &{q}, {{in0}}, {{out0}}, (int32_t *){{scratch}});",
                       scratch=4 * max(y.size, 1), sources=SOURCES)
    if x.dtype == "float32":
        return Emitted(f"pj_reduce_sum_f32(&{plan}, {n if is_mean else 0}, {{in0}}, {{out0}});",
                       sources=SOURCES)
    if x.dtype in ("int32", "int64") and not is_mean:
        return Emitted(f"pj_reduce_sum_{_SUFFIX[x.dtype]}(&{plan}, {{in0}}, {{out0}});",
                       sources=SOURCES)
    raise unsupported(node, f"{x.dtype} input")


# --------------------------------------------------------------------------- MAX / MIN
@emitter("REDUCE_MAX", "REDUCE_MIN", dtypes=("int8", "uint8", "int16", "int32", "int64",
                                             "float32"))
def emit_reduce_minmax(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    x, y = _io(node)
    if x.dtype != y.dtype:
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    plan = scatter_plan(ctx, node, x.shape, _reduce_axes(node))
    fn = f"pj_reduce_minmax_{_SUFFIX[x.dtype]}"
    return Emitted(f"{fn}(&{plan}, {int(node.op == 'REDUCE_MAX')}, {{in0}}, {{out0}});",
                   sources=SOURCES)


# --------------------------------------------------------------------------- PROD
@emitter("REDUCE_PROD", dtypes=("int8", "int16", "int32", "int64", "float32"))
def emit_reduce_prod(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    x, y = _io(node)
    if x.dtype != y.dtype:
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    axes = _reduce_axes(node)
    plan = gather_plan(ctx, node, x.shape, axes)
    sfx = _SUFFIX[x.dtype]
    if x.dtype in ("int8", "int16") and x.quant is not None:
        # LiteRT's quantized ReduceProd, as picojoule.ops.reduce.prepare_reduce_prod.
        s_in, zp_in, s_out, zp_out = _quant_pair(node)
        reduced = x.size // y.size
        mult, shift = quantize_multiplier(float(s_in) / math.pow(float(s_out), 1.0 / reduced))
        red_mult = (mult + (1 << 15)) >> 16 if mult < 0x7FFF0000 else 0x7FFF
        tshift = 15 - shift
        if not 1 <= tshift <= 62:
            raise unsupported(node, f"a requantization shift {shift}")
        lo, hi = dtype_range(y.dtype)
        q = ctx.params("pj_prod_q", dict(zp_in=zp_in, red_mult=red_mult, tshift=tshift,
                                         zp_out=zp_out, lo=lo, hi=hi))
        return Emitted(f"pj_reduce_prod_{sfx}(&{plan}, &{q}, {{in0}}, {{out0}});",
                       sources=SOURCES)
    if x.dtype in ("float32", "int32", "int64"):
        return Emitted(f"pj_reduce_prod_{sfx}(&{plan}, {{in0}}, {{out0}});", sources=SOURCES)
    raise unsupported(node, f"{x.dtype} input")


# --------------------------------------------------------------------------- ARG / CUMSUM
def _axis_split(node: Node) -> tuple[int, int, int]:
    """(outer, axis extent, inner) for the node's constant axis input."""
    x = node.inputs[0]
    rank = len(x.shape)
    axis = int(np.asarray(node.input(1).data).reshape(-1)[0])
    axis = axis + rank if axis < 0 else axis
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    return outer, int(x.shape[axis]), inner


@emitter("ARG_MAX", "ARG_MIN", dtypes=("int8", "uint8", "int16", "int32", "int64", "float32"))
def emit_arg(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    x, y = _io(node)
    if y.dtype not in ("int32", "int64"):
        raise unsupported(node, f"{y.dtype} output")
    outer, axis, inner = _axis_split(node)
    if axis == 0 and x.size:
        raise unsupported(node, "an empty axis")
    p = ctx.params("pj_arg_params", dict(outer=outer, axis=axis, inner=inner,
                                         is_max=int(node.op == "ARG_MAX"),
                                         out64=int(y.dtype == "int64")))
    return Emitted(f"pj_arg_{_SUFFIX[x.dtype]}(&{p}, {{in0}}, {{out0}});", sources=SOURCES)


@emitter("CUMSUM", dtypes=("int8", "int32", "int64", "float32"))
def emit_cumsum(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    x, y = _io(node)
    outer, axis, inner = _axis_split(node)
    p = ctx.params("pj_cumsum_params", dict(
        outer=outer, axis=axis, inner=inner, exclusive=int(bool(node.attrs.get("exclusive"))),
        reverse=int(bool(node.attrs.get("reverse")))))
    if y.dtype == "int8" and y.quant is not None:
        # TFLM's quantized cumsum, as picojoule.ops.reduce.prepare_cumsum.
        s_in, zp_in, s_out, zp_out = _quant_pair(node)
        in_mult, in_shift = quantize_multiplier(0.5)
        out_mult, out_shift = quantize_multiplier(2.0 * float(s_in) / ((1 << 20) * float(s_out)))
        if in_shift > 0 or out_shift > 0 or out_shift < -31:
            raise unsupported(node, "an output scale outside TFLM's cumsum rescaling")
        start = int(_mbqm_smaller_than_one(np.int64(-zp_in) << 20, in_mult, in_shift))
        v = np.arange(-128, 128, dtype=np.int64)
        table = _mbqm_smaller_than_one((v - zp_in) << 20, in_mult, in_shift)
        t = ctx.array("cumsum", "int32_t", table)
        q = ctx.params("pj_cumsum_q", dict(start=start, out_mult=out_mult, out_shift=out_shift,
                                           zp_out=zp_out, table=t))
        return Emitted(f"pj_cumsum_s8(&{p}, &{q}, {{in0}}, {{out0}});", sources=SOURCES)
    if x.dtype != y.dtype or y.dtype not in ("float32", "int32", "int64"):
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    return Emitted(f"pj_cumsum_{_SUFFIX[y.dtype]}(&{p}, {{in0}}, {{out0}});", sources=SOURCES)
