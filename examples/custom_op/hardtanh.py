"""A user-side custom op for picojoule: ``CUSTOM:Hardtanh``, min(max(x, lo), hi).

Load it with ``picojoule --custom-ops examples/custom_op/hardtanh.py run model.tflite``.
The op's options (a FlexBuffer map, as TFLite stores custom options) give the clamp in
real units: ``{"min_val": -1.0, "max_val": 1.0}`` (defaults). int8 (input and output with
the same quantization) and float32.
"""

import numpy as np

from picojoule.custom import custom_op, options
from picojoule.ops.registry import ELEMENTWISE, UNARY, unsupported


def _bounds(node):
    opts = options(node)
    return float(opts.get("min_val", -1.0)), float(opts.get("max_val", 1.0))


def _int_bounds(node):
    """The clamp in int8 steps of the (shared) input/output quantization."""
    x, y = node.inputs[0], node.outputs[0]
    if x.quant is None or y.quant is None or x.quant.scale0 != y.quant.scale0 \
            or x.quant.zp0 != y.quant.zp0:
        raise unsupported(node, "int8 input and output with different quantization")
    lo, hi = _bounds(node)
    s, zp = x.quant.scale0, x.quant.zp0
    qlo = int(np.clip(zp + np.round(lo / s), -128, 127))
    qhi = int(np.clip(zp + np.round(hi / s), -128, 127))
    return qlo, qhi


def params(node):
    if node.inputs[0].dtype == "int8":
        return {"ints": list(_int_bounds(node))}
    return {"floats": list(_bounds(node))}


def shape(node, shapes, consts):
    return [shapes[0]]


@custom_op("Hardtanh", shape=shape, c_source="hardtanh.c", c_function="hardtanh",
           params=params, dtypes=("int8", "float32"), traits=(ELEMENTWISE, UNARY),
           cost=lambda node: 4 * node.outputs[0].size + 20)
def prepare(node):
    """min(max(x, lo), hi) elementwise (options min_val / max_val, real units)."""
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype != y.dtype or x.dtype not in ("int8", "float32"):
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    if x.dtype == "int8":
        lo, hi = _int_bounds(node)
    else:
        lo, hi = (np.float32(b) for b in _bounds(node))

    def run(inputs):
        return [np.minimum(np.maximum(inputs[0], lo), hi).astype(inputs[0].dtype)]

    return run
