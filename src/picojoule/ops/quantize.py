"""QUANTIZE, DEQUANTIZE and CAST, bit-exact with TFLM's reference kernels.

* QUANTIZE float32 -> int8/int16: ``q = clamp(round(x / scale) + zp)`` with the
  division and rounding in float32 (TFLM ``AffineQuantize``).
* QUANTIZE int -> int (requantize): ``clamp(MultiplyByQuantizedMultiplier(x - zp_in,
  s_in / s_out) + zp_out)`` with the multiplier from double (TFLM ``Requantize``); the
  ones :mod:`picojoule.passes.uint8` puts before a legacy uint8 CONCATENATION's inputs
  (``litert_uint8``) follow LiteRT's float32 rescaling of concatenated uint8 inputs.
* DEQUANTIZE: ``float(double(scale) * (q - zp))``.
* CAST: integers wrap (two's complement), float -> integer truncates toward zero and
  saturates (NaN -> 0 in TFLM), anything -> bool is ``!= 0``. The mirrored cast.cc is a
  bare ``static_cast``, but the TFLM build used as the oracle saturates; QUANTIZE's
  float -> int32 step, in contrast, behaves like x86 ``cvttss2si`` (INT32_MIN when out
  of range or NaN) before the zero point is added and the result clamped.

Everything with an 8- or 16-bit input is a pure function of the input's bit pattern,
so ``prepare`` tabulates it once and the kernel is one table lookup.

Like TFLM, per-tensor parameters are taken from a tensor's first scale / zero point.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.quant.fixedpoint import multiply_by_quantized_multiplier_fast
from picojoule.ops.common import dtype_range, litert_uint8, same_shape
from picojoule.ops.registry import (
    CONVERT, ELEMENTWISE, Kernel, QuantRule, UNARY, register, unsupported,
)
from picojoule.quant.fixedpoint import (
    INT32_MIN,
    quantize_multiplier,
    wrap_int32,
)

Fn = Callable[[np.ndarray], np.ndarray]

#: Unsigned view used to index a table by an 8/16-bit input's raw bits.
_INDEX_VIEW = {"int8": np.uint8, "uint8": np.uint8, "int16": np.uint16, "uint16": np.uint16,
               "bool": np.uint8}


def _io(node: Node) -> tuple[Value, Value]:
    x = node.input(0)
    if x is None or len(node.outputs) != 1:
        raise unsupported(node, "a node without one input and one output")
    return x, node.outputs[0]


def _all_values(dtype: str) -> np.ndarray:
    """Every value of an 8/16-bit dtype, ordered by its unsigned bit pattern."""
    view = _INDEX_VIEW[dtype]
    bits = np.arange(np.iinfo(view).max + 1, dtype=view)
    if dtype == "bool":
        return bits[:2].astype(np.bool_)  # only 0 and 1 are valid bools
    return bits.view(to_numpy(dtype))


def _elementwise_kernel(src: str, dst: str, fn: Fn) -> Kernel:
    """Kernel for ``fn`` (numpy in -> numpy out of dtype ``dst``): tabulated for narrow inputs."""
    out_np = to_numpy(dst)
    if src in _INDEX_VIEW:
        table = np.ascontiguousarray(np.asarray(fn(_all_values(src))).astype(out_np))
        view = _INDEX_VIEW[src]

        def run_table(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            return [table.take(inputs[0].view(view))]

        return run_table

    def run(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.asarray(fn(inputs[0])).astype(out_np, copy=False)]

    return run


def _scale_zp(v: Value) -> tuple[float, int]:
    """A tensor's legacy per-tensor params (0, 0 when unquantized), as TFLM reads them."""
    if v.quant is None or v.quant.scale.size == 0:
        return 0.0, 0
    return float(v.quant.scale0), int(v.quant.zp0)


# --------------------------------------------------------------------------- QUANTIZE

_REQUANT_PAIRS = {("int16", "int8"), ("int8", "int8"), ("int8", "uint8"), ("uint8", "int8"),
                  ("int8", "int16"), ("int8", "int32"), ("int16", "int16"), ("int16", "int32"),
                  ("int32", "int8"), ("int32", "int16")}


@register("QUANTIZE", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY, CONVERT),
          quant=QuantRule(versions={"int8": 1, "int16x8": 4}), oracle="TFLM",
          dtypes=("float32", "int8", "uint8", "int16", "int32"))
def prepare_quantize(node: Node) -> Kernel:
    """Float to int8/int16 quantization, or requantization between integer types."""
    x, y = _io(node)
    if y.quant is None or y.quant.scale.size != 1:
        raise unsupported(node, "an output without per-tensor quantization")
    out_scale, out_zp = float(y.quant.scale0), int(y.quant.zp0)
    lo, hi = dtype_range(y.dtype) if y.dtype != "float32" else (0, 0)

    if x.dtype == "float32":
        if y.dtype not in ("int8", "int16"):
            raise unsupported(node, f"float32 -> {y.dtype}")
        inv = np.float32(out_scale)

        def affine(v: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):
                r = np.divide(v, inv, dtype=np.float32).astype(np.float64)
            # roundf: halves away from zero; exact in float64 since r came from float32
            rounded = np.trunc(r + np.copysign(0.5, r))
            as_int = np.where(np.abs(rounded) < 2.0 ** 31, rounded, INT32_MIN)  # cvttss2si
            return np.clip(wrap_int32(as_int.astype(np.int64) + out_zp), lo, hi)

        return _elementwise_kernel("float32", y.dtype, affine)

    if (x.dtype, y.dtype) not in _REQUANT_PAIRS:
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    if litert_uint8(node):
        return _concat_rescale(node, x, y)
    in_scale, in_zp = _scale_zp(x)
    mult, shift = quantize_multiplier(in_scale / out_scale)  # double, as quantize_common.cc

    def requantize(v: np.ndarray) -> np.ndarray:
        centered = np.asarray(v, np.int64)
        if in_zp:
            centered = wrap_int32(centered - in_zp)
        scaled = multiply_by_quantized_multiplier_fast(centered, mult, shift)
        if out_zp:
            scaled = wrap_int32(scaled + out_zp)
        return np.clip(scaled, lo, hi)

    return _elementwise_kernel(x.dtype, y.dtype, requantize)


def concat_rescale_table(x: Value, y: Value) -> np.ndarray:
    """LiteRT's ``ConcatenationWithScaling`` for one uint8 input, over the 256 int8 codes of
    the input's re-encoding (in int8 order): ``round(u * scale + bias) + zp_out`` in float32
    on the uint8 value u = q + 128, with ``scale = s_in * (1 / s_out)`` and
    ``bias = -zp_in * scale``, clamped to [0, 255], re-encoded (- 128)."""
    f32 = np.float32
    scale = f32(x.quant.scale0) * (f32(1) / f32(y.quant.scale0))
    bias = f32(-(x.quant.zp0 + 128)) * scale
    u = np.arange(256, dtype=np.int64).astype(f32)
    t = (u * scale).astype(f32) + bias
    rounded = np.trunc(t.astype(np.float64) + np.copysign(0.5, t))     # TfLiteRound (roundf)
    out = rounded.astype(np.int64) + y.quant.zp0 + 128
    return np.clip(out, 0, 255) - 128


def _concat_rescale(node: Node, x: Value, y: Value) -> Kernel:
    """A QUANTIZE the uint8 pass (:mod:`picojoule.passes.uint8`, ``litert_uint8``) puts
    before a CONCATENATION input whose quantization differs from the output's: LiteRT
    requantizes such uint8 inputs in float32 (:func:`concat_rescale_table`)."""
    if x.dtype != "int8" or y.dtype != "int8" or x.quant is None:
        raise unsupported(node, f"a uint8 concatenation rescale of {x.dtype} -> {y.dtype}")
    table = concat_rescale_table(x, y)
    return _elementwise_kernel("int8", "int8", lambda v: table[np.asarray(v, np.int64) + 128])


# --------------------------------------------------------------------------- DEQUANTIZE


@register("DEQUANTIZE", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY, CONVERT),
          quant=QuantRule(versions={"int8": 2, "int16x8": 4}), oracle="TFLM",
          dtypes=("int8", "uint8", "int16"))
def prepare_dequantize(node: Node) -> Kernel:
    """int8/uint8/int16 to float32 as float(double(scale) * (q - zp)); float16 widened."""
    x, y = _io(node)
    if y.dtype != "float32":
        raise unsupported(node, f"{y.dtype} output")
    if x.dtype == "float16":  # LiteRT only (TFLM has no float16); exact widening
        return _elementwise_kernel("float16", "float32", lambda v: v.astype(np.float32))
    if x.dtype not in ("int8", "uint8", "int16"):
        raise unsupported(node, f"{x.dtype} input")
    if x.quant is None:
        raise unsupported(node, "an unquantized input")
    scale, zp = _scale_zp(x)

    def dequantize(v: np.ndarray) -> np.ndarray:
        return (np.float64(scale) * (v.astype(np.int64) - zp)).astype(np.float32)

    return _elementwise_kernel(x.dtype, "float32", dequantize)


# --------------------------------------------------------------------------- CAST

#: Types TFLM's CAST converts between (any pair); LiteRT adds uint8 and int64.
_CAST_TFLM = ("bool", "int8", "int16", "int32", "uint32", "float32")
_CAST_TYPES = _CAST_TFLM + ("uint8", "int64")


def _float_to_int_saturating(v: np.ndarray, dst: str, nan_to_max: bool) -> np.ndarray:
    """Truncate toward zero and saturate to ``dst``'s range; NaN -> 0 (TFLM) or max (LiteRT)."""
    info = np.iinfo(to_numpy(dst))
    t = np.trunc(np.asarray(v, np.float64))
    nan = np.isnan(t)
    high = t >= float(info.max)  # float(INT64_MAX) rounds up to 2^63: compare, don't clip
    low = t <= float(info.min)
    mid = np.where(nan | high | low, 0.0, t).astype(np.int64)
    out = np.where(high, info.max, np.where(low, info.min, mid))
    if nan.any():
        out = np.where(nan, info.max if nan_to_max else 0, out)
    return out.astype(to_numpy(dst))


def _cast_fn(src: str, dst: str) -> Fn:
    """The element conversion TFLM's (or, for uint8/int64, LiteRT's) CAST performs."""
    dst_np = to_numpy(dst)
    if dst == "bool":
        return lambda v: v != 0  # NaN -> True
    if src == "float32" and dst != "float32":
        # Both saturate (this TFLM build does, unlike a bare static_cast); NaN differs.
        nan_to_max = dst not in _CAST_TFLM
        return lambda v: _float_to_int_saturating(v, dst, nan_to_max)
    return lambda v: v.astype(dst_np)  # integers wrap; int -> float rounds to nearest


@register("CAST", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY, CONVERT), oracle="TFLM", dtypes=_CAST_TFLM)
def prepare_cast(node: Node) -> Kernel:
    """Type conversion: integers wrap, floats truncate and saturate, != 0 gives bool."""
    x, y = _io(node)
    if x.dtype not in _CAST_TYPES or y.dtype not in _CAST_TYPES:
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    if x.shape != y.shape and int(np.prod(x.shape)) != int(np.prod(y.shape)):
        raise unsupported(node, f"shape {x.shape} -> {y.shape}")
    kernel = _elementwise_kernel(x.dtype, y.dtype, _cast_fn(x.dtype, y.dtype))
    if x.shape == y.shape:
        return kernel
    return lambda inputs: [kernel(inputs)[0].reshape(y.shape)]
