"""Helpers shared by op families: fused activations, quantization parameters, dtype ranges,
and the shape rules many ops share (see :data:`~picojoule.ops.registry.OpInfo.shape`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from picojoule.errors import UnsupportedOpError
from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.registry import unsupported


#: Node attribute :mod:`picojoule.passes.uint8` sets on the ops of a legacy uint8 model whose
#: LiteRT uint8 kernels round unlike TFLM's int8 ones: the model runs on int8 re-encodings
#: of its uint8 tensors (q - 128, zero point - 128) and these nodes follow LiteRT's uint8
#: arithmetic (each op module says how; TFLM has no uint8 kernels left to follow).
LITERT_UINT8 = "litert_uint8"


def litert_uint8(node: Node) -> bool:
    """Whether ``node`` follows LiteRT's uint8 kernel (see :data:`LITERT_UINT8`)."""
    return bool(node.attrs.get(LITERT_UINT8, False))


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


# ------------------------------------------------------------------------------ shape rules
# ``rule(node, shapes, consts) -> [output shape, ...]``: ``shapes[i]`` is input i's shape
# (None for an absent optional input), ``consts[i]`` its data when constant, else None.
# Rules follow TFLite's Prepare (ResizeTensor) semantics; they never read the shapes
# stored on ``node.outputs`` except where the format keeps no other record of them.

Shape = tuple[int, ...]


class DataDependentShape(UnsupportedOpError):
    """An output shape depends on the run-time values of a non-constant input (``index``)."""

    def __init__(self, message: str, index: int = -1) -> None:
        super().__init__(message)
        self.index = index


def shape_input(node: Node, consts: Sequence, index: int, what: str) -> np.ndarray:
    """The data of input ``index`` that decides the output shape, which must be constant.

    Raises :class:`DataDependentShape` naming the input when its values are only known at
    run time (computed from the model's inputs)."""
    data = consts[index] if index < len(consts) else None
    if data is None:
        v = node.input(index)
        name = f" {v.name!r}" if v is not None else ""
        raise DataDependentShape(str(unsupported(
            node, f"an output shape that depends on the run-time values of its {what} "
                  f"(input {index}{name})")), index)
    return np.asarray(data)


def shape_ints(node: Node, consts: Sequence, index: int, what: str) -> list[int]:
    """:func:`shape_input` as a flat list of Python ints."""
    return [int(x) for x in shape_input(node, consts, index, what).reshape(-1)]


def shape_axis(node: Node, axis: int, rank: int) -> int:
    """``axis`` in ``[-rank, rank)`` as a non-negative axis, or a clear error."""
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise unsupported(node, f"axis {axis} for a rank-{rank} tensor")
    return a


def same_shape(node: Node, shapes: Sequence, consts: Sequence) -> list[Shape]:
    """Every output has input 0's shape (elementwise unary ops, activations, conversions)."""
    return [tuple(shapes[0])] * len(node.outputs)


def broadcast_shape(node: Node, shapes: Sequence, consts: Sequence) -> list[Shape]:
    """Numpy broadcasting of every present input (TFLite's ``CalculateShapeForBroadcast``)."""
    present = [tuple(s) for s in shapes if s is not None]
    try:
        out = tuple(int(d) for d in np.broadcast_shapes(*present))
    except ValueError:
        raise unsupported(node, "input shapes that do not broadcast ("
                          + ", ".join(str(s) for s in present) + ")") from None
    return [out]


def reduce_shape(node: Node, shapes: Sequence, consts: Sequence) -> list[Shape]:
    """Reduce input 0 over the axes of input 1 (negatives wrapped, repeats ignored); the
    reduced axes stay as size 1 with ``keep_dims``, else they are dropped."""
    in_shape = tuple(shapes[0])
    rank = len(in_shape)
    axes = {shape_axis(node, a, max(rank, 1)) for a in shape_ints(node, consts, 1, "axis tensor")}
    if node.attrs.get("keep_dims", False):
        return [tuple(1 if i in axes else d for i, d in enumerate(in_shape))]
    return [tuple(d for i, d in enumerate(in_shape) if i not in axes)]


def window_out_size(node: Node, size: int, k: int, stride: int, dilation: int = 1) -> int:
    """TFLite ``ComputeOutSize``: a SAME or VALID sliding window's output extent."""
    padding = node.attrs.get("padding", "SAME")
    if stride <= 0 or dilation <= 0 or k <= 0:
        raise unsupported(node, "a non-positive stride, dilation or window size")
    k_eff = (k - 1) * dilation + 1
    if padding == "SAME":
        return (size + stride - 1) // stride
    if padding == "VALID":
        if size < k_eff:
            raise unsupported(node, f"a VALID window {k_eff} wide over an input {size} wide")
        return (size + stride - k_eff) // stride
    raise unsupported(node, f"padding {padding}")
