"""Reductions: MEAN, SUM, REDUCE_MAX/MIN/PROD, ARG_MAX/ARG_MIN, CUMSUM.

Oracle: TFLM's reference kernels (``reduce.cc``, ``arg_min_max.cc``, ``cumsum.cc``), except
REDUCE_PROD, which TFLM lacks (LiteRT's reference kernel). Quantized MEAN/SUM follow TFLM's
``QuantizedMeanOrSum``: an int32 (wrapping) sum of the raw integers, minus ``zp * n``,
rescaled by ``in_scale / out_scale`` with one ``MultiplyByQuantizedMultiplier``; MEAN folds
``1/n`` into that multiplier (``(m << s) / n`` with ``s = floor(log2 n)``, capped). TFLM has no
integer fast path for 4-D means over H,W (only float uses one; its result is the same sum).
Quantized CUMSUM keeps TFLM's quirk of starting the accumulator at ``-zp`` rescaled.
"""

from __future__ import annotations

import math

import numpy as np

from picojoule.ir import Node
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.common import (
    dtype_range, reduce_shape, same_shape, shape_axis, shape_ints,
)
from picojoule.ops.registry import (
    REDUCE, Kernel, Layout, QuantRule, register, unsupported,
)
from picojoule.quant.fixedpoint import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_int64,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrap_int32,
)


def _reduce_axes(node: Node) -> tuple[int, ...]:
    """TFLite ``ResolveAxis``: the constant axis tensor, negatives wrapped, duplicates dropped."""
    v = node.input(1)
    if v is None or v.data is None or v.variable:
        raise unsupported(node, "a non-constant axis tensor")
    rank = len(node.inputs[0].shape)
    axes: list[int] = []
    for a in np.asarray(v.data).reshape(-1).tolist():
        r = a + rank if a < 0 else a
        if not 0 <= r < rank:
            raise unsupported(node, f"axis {a} for a rank-{rank} input")
        if r not in axes:
            axes.append(r)
    return tuple(axes)


def _reduced_count(node: Node, axes: tuple[int, ...]) -> int:
    shape = node.inputs[0].shape
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


def _quant_pair(node: Node) -> tuple[float, int, float, int]:
    inp, out = node.inputs[0], node.outputs[0]
    if inp.quant is None or out.quant is None:
        raise unsupported(node, f"{inp.dtype} tensors without quantization parameters")
    return inp.quant.scale0, inp.quant.zp0, out.quant.scale0, out.quant.zp0


# --------------------------------------------------------------------------- MEAN / SUM

def _quantized_mean_or_sum(node: Node, compute_sum: bool) -> Kernel:
    """TFLM ``QuantizedMeanOrSum`` for int8/int16."""
    axes = _reduce_axes(node)
    n = _reduced_count(node, axes)
    s_in, zp_in, s_out, zp_out = _quant_pair(node)
    mult, shift = quantize_multiplier(float(np.float64(s_in) / np.float64(s_out)))
    if not compute_sum and n > 0:
        s = min(n.bit_length() - 1, 32, 31 + shift)
        if s < 0:
            raise unsupported(node, "a scale ratio too small for TFLM's mean rescaling")
        mult = (mult << s) // n
        shift -= s
    out = node.outputs[0]
    lo, hi = dtype_range(out.dtype)
    dtype, shape = to_numpy(out.dtype), out.shape
    offset = zp_in * n

    def run(inputs):
        if n == 0:
            return [np.zeros(shape, dtype)]
        total = wrap_int32(inputs[0].sum(axis=axes, dtype=np.int64))
        shifted = wrap_int32(total - offset)
        y = multiply_by_quantized_multiplier(shifted, mult, shift) + zp_out
        return [np.clip(y, lo, hi).astype(dtype).reshape(shape)]
    return run


def _to_rows(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """[kept elements, reduced elements], the reduced ones in the input's row-major order."""
    kept = [a for a in range(x.ndim) if a not in axes]
    red = sorted(axes)
    n = int(np.prod([x.shape[a] for a in red], dtype=np.int64))
    return x.transpose(kept + red).reshape(-1, n)


def _sequential(x: np.ndarray, axes: tuple[int, ...], ufunc) -> np.ndarray:
    """Reduce in float32, one element after another in row-major order, as TFLite's
    reference loops do (``accumulate`` is a strict left-to-right scan, unlike ``sum``)."""
    rows = _to_rows(x, axes)
    if rows.shape[1] == 0:
        return np.full(rows.shape[0], ufunc.identity, x.dtype)
    return ufunc.accumulate(rows, axis=1, dtype=x.dtype)[:, -1]


def _float_reduce(node: Node, fn) -> Kernel:
    axes = _reduce_axes(node)
    out = node.outputs[0]
    dtype, shape = to_numpy(out.dtype), out.shape

    def run(inputs):
        return [np.asarray(fn(inputs[0], axes)).astype(dtype).reshape(shape)]
    return run


def _reduce_layout(node: Node, perm, inv, const):
    """Reduce the permuted axes; without keep_dims the output permutation is the ranking of
    the kept axes' source positions."""
    ax = node.input(1)
    if ax is None or not ax.is_const:
        return None
    rank = len(perm)
    axes = sorted({(int(a) + rank) % rank for a in ax.data.reshape(-1)})
    new_ax = const(np.array(sorted(perm[a] for a in axes), ax.data.dtype), ax)
    if node.attrs.get("keep_dims", False):
        return perm, {}, {1: new_ax}
    kept_src = [perm[k] for k in range(rank) if k not in axes]
    order = sorted(kept_src)
    return [order.index(s) for s in kept_src], {}, {1: new_ax}


_REDUCE_LAYOUT = Layout((0,), _reduce_layout)


@register("MEAN", operands="x, axes:0-1:int -> y", shape=reduce_shape, layout=_REDUCE_LAYOUT, traits=(REDUCE,),
          quant=QuantRule(versions={"int8": 2, "int16x8": 3}),
          oracle="TFLM", dtypes=("int8", "int16", "float32"))
def prepare_mean(node: Node) -> Kernel:
    """Mean over the constant axes; int8/int16 requantize as TFLM's QuantizedMeanOrSum."""
    dt = node.inputs[0].dtype
    if dt in ("int8", "int16"):
        return _quantized_mean_or_sum(node, compute_sum=False)
    if dt != "float32":
        raise unsupported(node, f"{dt} input (TFLM means float32, int8, int16)")
    n = _reduced_count(node, _reduce_axes(node))
    if n == 0:
        raise unsupported(node, "a mean over an empty axis")
    n32 = np.float32(n)
    return _float_reduce(node, lambda x, ax: _sequential(x, ax, np.add) / n32)


@register("SUM", operands="x, axes:0-1:int -> y", shape=reduce_shape, layout=_REDUCE_LAYOUT, traits=(REDUCE,), oracle="TFLM",
          dtypes=("int8", "int16", "float32"))
def prepare_sum(node: Node) -> Kernel:
    """Sum over the constant axes; int8/int16 requantize (in_scale/out_scale) as TFLM."""
    dt = node.inputs[0].dtype
    if dt in ("int8", "int16") and node.inputs[0].quant is not None:
        return _quantized_mean_or_sum(node, compute_sum=True)
    if dt == "float32":
        return _float_reduce(node, lambda x, ax: _sequential(x, ax, np.add))
    if dt in ("int32", "int64"):  # wrapping integer sum (LiteRT; TFLM has no such kernel)
        return _float_reduce(node, lambda x, ax: x.sum(axis=ax, dtype=x.dtype))
    raise unsupported(node, f"{dt} input")


# --------------------------------------------------------------------------- MAX / MIN / PROD

def _min_max(node: Node, is_max: bool) -> Kernel:
    inp, out = node.inputs[0], node.outputs[0]
    if inp.dtype != out.dtype:
        raise unsupported(node, f"{inp.dtype} input with {out.dtype} output")
    if inp.dtype == "int8" and inp.quant is not None and out.quant is not None:
        if inp.quant.scale0 != out.quant.scale0 or inp.quant.zp0 != out.quant.zp0:
            raise unsupported(node, "differing input/output quantization (TFLM requires equal)")
    dt = to_numpy(inp.dtype)
    if np.issubdtype(dt, np.floating):
        init = np.finfo(dt).min if is_max else np.finfo(dt).max
        ufunc = np.fmax if is_max else np.fmin    # TFLM's compare never picks a NaN
    else:
        init = np.iinfo(dt).min if is_max else np.iinfo(dt).max
        ufunc = np.maximum if is_max else np.minimum
    init = dt.type(init)
    return _float_reduce(node, lambda x, ax: ufunc.reduce(x, axis=ax, initial=init))


@register("REDUCE_MAX", operands="x, axes:0-1:int -> y", shape=reduce_shape,
          layout=_REDUCE_LAYOUT, traits=(REDUCE,), quant=QuantRule(same=True),
          oracle="TFLM",
          dtypes=("int8", "float32"))
def prepare_reduce_max(node: Node) -> Kernel:
    """Maximum over the constant axes (int8 needs equal input/output quantization)."""
    return _min_max(node, True)


@register("REDUCE_MIN", operands="x, axes:0-1:int -> y", shape=reduce_shape,
          layout=_REDUCE_LAYOUT, traits=(REDUCE,), quant=QuantRule(same=True),
          oracle="TFLM",
          dtypes=("int8", "float32"))
def prepare_reduce_min(node: Node) -> Kernel:
    """Minimum over the constant axes (int8 needs equal input/output quantization)."""
    return _min_max(node, False)


@register("REDUCE_PROD", operands="x, axes:0-1:int -> y", shape=reduce_shape,
          layout=_REDUCE_LAYOUT, traits=(REDUCE,), oracle="LiteRT reference",
          dtypes=("int8", "int16", "int32", "float32"))
def prepare_reduce_prod(node: Node) -> Kernel:
    """Product over the constant axes; quantized int8/int16 rescale after every multiply."""
    inp, out = node.inputs[0], node.outputs[0]
    axes = _reduce_axes(node)
    dtype, shape = to_numpy(out.dtype), out.shape
    if inp.quant is None or inp.dtype not in ("int8", "int16"):
        if inp.dtype == "float32":
            return _float_reduce(node, lambda x, ax: _sequential(x, ax, np.multiply))
        if inp.dtype in ("int32", "int64"):
            return _float_reduce(node, lambda x, ax: np.prod(x, axis=ax, dtype=x.dtype))
        raise unsupported(node, f"{inp.dtype} input")
    s_in, zp_in, s_out, zp_out = _quant_pair(node)
    n_in, n_out = inp.size, out.size
    if n_in == 0 or n_out == 0:
        raise unsupported(node, "an empty tensor")
    reduced = n_in // n_out
    scaling = float(s_in) / math.pow(float(s_out), 1.0 / reduced)
    mult, shift = quantize_multiplier(scaling)
    lo, hi = dtype_range(out.dtype)

    def run(inputs):
        rows = _to_rows(inputs[0].astype(np.int64), axes) - zp_in
        acc = rows[:, 0]
        for k in range(1, rows.shape[1]):
            acc = multiply_by_quantized_multiplier_int64(acc * rows[:, k], mult, shift)
        y = multiply_by_quantized_multiplier_int64(acc, mult, shift) + zp_out
        return [np.clip(y, lo, hi).astype(dtype).reshape(shape)]
    return run


# --------------------------------------------------------------------------- ARG_MAX / ARG_MIN

def _arg_min_max(node: Node, is_max: bool) -> Kernel:
    v = node.input(1)
    if v is None or v.data is None:
        raise unsupported(node, "a non-constant axis tensor")
    rank = len(node.inputs[0].shape)
    axis = int(np.asarray(v.data).reshape(-1)[0])
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise unsupported(node, f"axis {axis} for a rank-{rank} input")
    out = node.outputs[0]
    if out.dtype not in ("int32", "int64"):
        raise unsupported(node, f"{out.dtype} output")
    dtype, shape = to_numpy(out.dtype), out.shape
    floating = np.issubdtype(to_numpy(node.inputs[0].dtype), np.floating)
    pick = np.argmax if is_max else np.argmin

    def run(inputs):
        x = inputs[0]
        if floating and np.isnan(x).any():
            # TFLM keeps the first element and moves only to one that compares greater
            # (less): never to a NaN, and never away from a leading NaN.
            lead = np.isnan(np.take(x, [0], axis=axis))
            x = np.where(np.isnan(x), -np.inf if is_max else np.inf, x)
            got = np.where(lead, 0, np.expand_dims(pick(x, axis=axis), axis))
            return [got.astype(dtype).reshape(shape)]
        return [pick(x, axis=axis).astype(dtype).reshape(shape)]  # first index on ties
    return run


def _arg_shape(node: Node, shapes, consts) -> list:
    """ARG_MAX / ARG_MIN: the input's shape without the (constant) axis."""
    in_shape = tuple(shapes[0])
    axis = shape_axis(node, shape_ints(node, consts, 1, "axis tensor")[0], len(in_shape))
    return [in_shape[:axis] + in_shape[axis + 1:]]


@register("ARG_MAX", operands="x, axis:0-1:int -> y", shape=_arg_shape, oracle="TFLM", dtypes=("int8", "float32"))
def prepare_arg_max(node: Node) -> Kernel:
    """Index of the first maximum along the constant axis (int32 or int64 output)."""
    return _arg_min_max(node, True)


@register("ARG_MIN", operands="x, axis:0-1:int -> y", shape=_arg_shape, oracle="TFLM", dtypes=("int8", "float32"))
def prepare_arg_min(node: Node) -> Kernel:
    """Index of the first minimum along the constant axis (int32 or int64 output)."""
    return _arg_min_max(node, False)


# --------------------------------------------------------------------------- CUMSUM

def _mbqm_smaller_than_one(x: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplierSmallerThanOneExp`` (shift <= 0)."""
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, mult), -shift)


@register("CUMSUM", operands="x, axis:0-1:int -> y", shape=same_shape, oracle="TFLM", dtypes=("int8", "float32"))
def prepare_cumsum(node: Node) -> Kernel:
    """Running sum along the constant axis; ``exclusive`` and ``reverse`` options."""
    v = node.input(1)
    if v is None or v.data is None:
        raise unsupported(node, "a non-constant axis tensor")
    rank = len(node.inputs[0].shape)
    axis = int(np.asarray(v.data).reshape(-1)[0])
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise unsupported(node, f"axis {axis} for a rank-{rank} input")
    exclusive = bool(node.attrs.get("exclusive", False))
    reverse = bool(node.attrs.get("reverse", False))
    out = node.outputs[0]
    dtype = to_numpy(out.dtype)

    def scan(x: np.ndarray, start) -> np.ndarray:
        """Inclusive/exclusive, forward/reverse running sum of x (already in acc dtype)."""
        if reverse:
            x = np.flip(x, axis)
        acc = np.cumsum(x, axis=axis, dtype=x.dtype)
        if exclusive:
            acc = np.concatenate([np.zeros_like(np.take(acc, [0], axis=axis)),
                                  np.take(acc, np.arange(acc.shape[axis] - 1), axis=axis)],
                                 axis=axis)
        acc = acc + start
        return np.flip(acc, axis) if reverse else acc

    if out.dtype == "int8" and out.quant is not None:
        s_in, zp_in, s_out, zp_out = _quant_pair(node)
        in_mult, in_shift = quantize_multiplier(0.5)            # s_in / (2 * s_in)
        real_out = 2.0 * float(s_in) / ((1 << 20) * float(s_out))
        out_mult, out_shift = quantize_multiplier(real_out)
        if in_shift > 0 or out_shift > 0:
            raise unsupported(node, "an output scale too small for TFLM's cumsum rescaling")
        start = int(_mbqm_smaller_than_one(np.int64(-zp_in) << 20, in_mult, in_shift))

        def run_int8(inputs):
            y = (inputs[0].astype(np.int64) - zp_in) << 20
            scaled = _mbqm_smaller_than_one(y, in_mult, in_shift)
            acc = wrap_int32(scan(scaled, start))
            q = _mbqm_smaller_than_one(acc, out_mult, out_shift) + zp_out
            return [np.clip(q, -128, 127).astype(np.int8)]
        return run_int8
    if out.dtype not in ("float32", "int32", "int64"):
        raise unsupported(node, f"{out.dtype} data")

    def run(inputs):
        return [scan(inputs[0], dtype.type(0)).astype(dtype, copy=False)]
    return run
