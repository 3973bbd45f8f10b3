"""Helpers shared by op families: fused activations, quantization parameters, dtype ranges."""

from __future__ import annotations

import numpy as np

from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.registry import unsupported


def dtype_range(dtype: str) -> tuple[int, int]:
    """(min, max) of an integer IR dtype."""
    if dtype == "int4":
        return -8, 7
    info = np.iinfo(to_numpy(dtype))
    return int(info.min), int(info.max)


def quantize_scalar(value: float, scale: float, zero_point: int) -> int:
    """TFLite's ``Quantize(scale, zp, f)``: ``zp + round(f / scale)`` in float32, halves away."""
    tmp = float(np.float32(value) / np.float32(scale))  # the division happens in float32
    return int(zero_point) + int(np.trunc(tmp + np.copysign(0.5, tmp)))  # exact std::round


def activation_range(node: Node, out: Value, act: str | None = None) -> tuple[int, int]:
    """TFLM ``CalculateActivationRangeQuantized`` for ``node``'s fused activation on ``out``."""
    act = act if act is not None else node.attrs.get("fused_activation_function", "NONE")
    qmin, qmax = dtype_range(out.dtype)
    if act == "NONE":
        return qmin, qmax
    if out.quant is None:
        raise unsupported(node, f"fused {act} on an unquantized {out.dtype} output")
    scale, zp = out.quant.scale0, out.quant.zp0
    if act == "RELU":
        return max(qmin, quantize_scalar(0.0, scale, zp)), qmax
    if act == "RELU6":
        return (max(qmin, quantize_scalar(0.0, scale, zp)),
                min(qmax, quantize_scalar(6.0, scale, zp)))
    if act == "RELU_N1_TO_1":
        return (max(qmin, quantize_scalar(-1.0, scale, zp)),
                min(qmax, quantize_scalar(1.0, scale, zp)))
    raise unsupported(node, f"fused activation {act} on a quantized output")


def float_activation_bounds(node: Node, act: str | None = None) -> tuple[float, float]:
    """(min, max) clamp of a fused activation on a float output (TANH/SIGN_BIT rejected)."""
    act = act if act is not None else node.attrs.get("fused_activation_function", "NONE")
    bounds = {"NONE": (-np.inf, np.inf), "RELU": (0.0, np.inf), "RELU6": (0.0, 6.0),
              "RELU_N1_TO_1": (-1.0, 1.0)}
    if act not in bounds:
        raise unsupported(node, f"fused activation {act}")
    return bounds[act]


def apply_float_activation(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Clamp like TFLite's ``ActivationFunctionWithMinMax`` (keeps x's dtype)."""
    if lo == -np.inf and hi == np.inf:
        return x
    return np.minimum(np.maximum(x, x.dtype.type(lo)), x.dtype.type(hi))


def require_quant(node: Node, v: Value | None, what: str) -> None:
    """Raise a clear error when a quantized kernel meets an unquantized tensor."""
    if v is None or v.quant is None:
        raise unsupported(node, f"{what} without quantization parameters")
