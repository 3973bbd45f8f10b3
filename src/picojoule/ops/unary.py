"""Elementwise math: EXP, LOG, SQRT, RSQRT, ABS, NEG, FLOOR, CEIL, ROUND, SQUARE.

float32 follows TFLM's reference kernels (libm in float32; matched to 1e-5 relative).
Quantized variants: ABS (int8, int16) and RSQRT (int8) follow TFLM; TFLM has no
quantized EXP, LOG or NEG, so those follow LiteRT's reference kernels (EXP int8/int16 and
LOG int8/int16 through LiteRT's float32 lookup tables, NEG negates raw int8/int16/int32
values). Every quantized kernel here is a function of one int8/int16 input value, so
``prepare`` tabulates it over the whole input domain and the kernel is one lookup.

ROUND is round-half-to-even (TFLite's ``RoundToNearest``), unlike the half-away-from-zero
rounding TFLite uses for quantization.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from picojoule.ir import Node
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.activations import (
    F32,
    _domain,
    _expf,
    _float_kernel,
    _io,
    _table_kernel,
    inv_sqrt_multiplier_exp,
    lut_lookup_int16,
    lut_populate_int16,
    lut_populate_int8,
)
from picojoule.ops.common import dtype_range, require_quant, same_shape
from picojoule.ops.registry import (ELEMENTWISE, UNARY, register, unsupported)
from picojoule.quant.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier

_mbqm = multiply_by_quantized_multiplier


def _float_only(node: Node, fn: Callable[[np.ndarray], np.ndarray]):
    x, y = _io(node)
    if x.dtype != "float32" or y.dtype != "float32":
        raise unsupported(node, f"{x.dtype} input with {y.dtype} output")
    return _float_kernel(fn)


def _quantized_io(node: Node, dtypes: Sequence[str]):
    x, y = _io(node)
    if x.dtype not in dtypes or y.dtype != x.dtype:
        raise unsupported(node, f"{x.dtype} input with {y.dtype} output")
    require_quant(node, x, "input")
    require_quant(node, y, "output")
    if x.dtype == "int16" and (x.quant.zp0 != 0 or y.quant.zp0 != 0):
        raise unsupported(node, "int16 input/output with nonzero zero points")
    return x, y


def _lut_op(node: Node, fn: Callable[[np.ndarray], np.ndarray]):
    """LiteRT's LUTPopulate-based quantized kernel (int8 table, int16 interpolation)."""
    x, y = _quantized_io(node, ("int8", "int16"))
    args = (float(x.quant.scale0), x.quant.zp0, float(y.quant.scale0), y.quant.zp0)
    if x.dtype == "int8":
        return _table_kernel(lut_populate_int8(fn, *args, "int8"), "int8", "int8")
    table = lut_lookup_int16(_domain("int16"), lut_populate_int16(fn, *args))
    return _table_kernel(table, "int16", "int16")


def _logf(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(v, np.float64)).astype(F32)


@register("EXP", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_exp(node: Node):
    """e**x; int8/int16 through LiteRT reference's lookup tables (TFLM: float32 only)."""
    x, _ = _io(node)
    if x.dtype == "float32":
        return _float_only(node, np.exp)
    return _lut_op(node, _expf)


@register("LOG", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_log(node: Node):
    """Natural log; int8/int16 through LiteRT reference's tables (log(x <= 0) -> output min)."""
    x, y = _io(node)
    if x.dtype == "float32":
        return _float_only(node, lambda a: np.log(a))
    _quantized_io(node, ("int8", "int16"))
    lo, _ = dtype_range(y.dtype)
    out_min = F32(lo - y.quant.zp0) * F32(y.quant.scale0)
    return _lut_op(node, lambda v: np.where(v <= 0, out_min, _logf(v)).astype(F32))


@register("SQRT", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("float32",))
def prepare_sqrt(node: Node):
    """Square root (float32)."""
    return _float_only(node, np.sqrt)


@register("RSQRT", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("float32", "int8"))
def prepare_rsqrt(node: Node):
    """1/sqrt(x); int8 via TFLM's fixed-point inverse square root (x must be >= zero point)."""
    x, y = _io(node)
    if x.dtype == "float32":
        return _float_only(node, lambda a: F32(1) / np.sqrt(a))
    _quantized_io(node, ("int8",))
    # 1 / double(sqrtf(in_scale) * out_scale): the product is a float32 one.
    scale = 1.0 / float(np.sqrt(F32(x.quant.scale0)) * F32(y.quant.scale0))
    multiplier, shift = quantize_multiplier(scale)
    value = _domain("int8") - x.quant.zp0
    inv_mult, inv_shift = inv_sqrt_multiplier_exp(np.maximum(value, 0))
    data = _mbqm(np.ones_like(value), inv_mult, inv_shift + 20)
    out = _mbqm(data, multiplier, shift - 20) + y.quant.zp0
    # TFLM refuses to run on values below the zero point; those table entries are never
    # compared (picojoule gives the int8 maximum, as for zero).
    out = np.where(value <= 0, 127, np.clip(out, -128, 127))
    return _table_kernel(out, "int8", "int8")


@register("ABS", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_abs(node: Node):
    """|x|; quantized: |x - zp_in| requantized when the scales differ."""
    x, y = _io(node)
    if x.dtype == "float32":
        return _float_only(node, np.abs)
    if x.dtype == "int16" and y.dtype == "int16" and (x.quant is None or y.quant is None):
        # Unquantized int16: std::abs then a cast back (abs(-32768) wraps to -32768).
        return _table_kernel(np.abs(_domain("int16")), "int16", "int16")
    x, y = _quantized_io(node, ("int8", "int16"))
    lo, hi = dtype_range(x.dtype)
    value = np.abs(_domain(x.dtype) - x.quant.zp0)
    if F32(x.quant.scale0) == F32(y.quant.scale0):
        out = value + y.quant.zp0
    else:
        multiplier, shift = quantize_multiplier(float(x.quant.scale0) / float(y.quant.scale0))
        out = _mbqm(value, multiplier, shift) + y.quant.zp0
    return _table_kernel(np.clip(out, lo, hi), x.dtype, y.dtype)


@register("NEG", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY), oracle="TFLM",
          dtypes=("float32", "int8", "int16", "int32"))
def prepare_neg(node: Node):
    """-x; integer types negate raw values with wrap-around (LiteRT reference; TFLM: float32)."""
    x, y = _io(node)
    if x.dtype != y.dtype or x.dtype not in ("float32", "int8", "int16", "int32", "int64"):
        raise unsupported(node, f"{x.dtype} input with {y.dtype} output")
    np_dtype = to_numpy(x.dtype)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.negative(inputs[0]).astype(np_dtype, copy=False)]

    return run


@register("FLOOR", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("float32",))
def prepare_floor(node: Node):
    """Round toward -inf (float32)."""
    return _float_only(node, np.floor)


@register("CEIL", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("float32",))
def prepare_ceil(node: Node):
    """Round toward +inf (float32)."""
    return _float_only(node, np.ceil)


@register("SQUARE", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY), oracle="TFLM",
          dtypes=("float32",), c_kernels={"float32": ("pj_square.c", "pj_square_f32")})
def prepare_square(node: Node):
    """x * x (float32)."""
    return _float_only(node, np.square)


@register("ROUND", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("float32",))
def prepare_round(node: Node):
    """Round half to even (float32), as TFLite's ``RoundToNearest``."""
    return _float_only(node, np.rint)
