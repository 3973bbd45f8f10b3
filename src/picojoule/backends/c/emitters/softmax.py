"""SOFTMAX (int8 -> int8) emitter: TFLM's fixed-point exponentials tabulated here."""

from __future__ import annotations

import math

import numpy as np

from picojoule.backends.c.emitters.common import require_int8
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops.activations import _exp_on_negative_values, _srdhm
from picojoule.quant.fixedpoint import quantize_multiplier, wrap_int32


def exp_table(beta: float, in_scale: float) -> np.ndarray:
    """exp(beta * in_scale * d) in Q0.31 for d = -255..0, as TFLM's int8 softmax computes it
    (input multiplier and left shift from double; diffs below diff_min give 0)."""
    real = min(float(beta) * in_scale * (1 << 26), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier(real)
    diff_min = -math.floor(31.0 * (1 << 26) / (1 << left_shift))
    diffs = np.arange(-255, 1, dtype=np.int64)
    rescaled = _srdhm(wrap_int32(diffs << left_shift), multiplier)
    return np.where(diffs >= diff_min, _exp_on_negative_values(rescaled, 5), 0)


@emitter("SOFTMAX", dtypes=("int8",))
def emit_softmax(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    require_int8(node, x, y)
    if y.quant.zp0 != -128 or float(y.quant.scale0) != 1.0 / 256:
        raise unsupported(node, "int8 output quantization other than (1/256, -128)")
    depth = x.shape[-1] if x.shape else 1
    table = exp_table(float(node.attrs.get("beta", 1.0)), float(x.quant.scale0))
    p = ctx.params("pj_softmax_params", dict(
        rows=x.size // depth, depth=depth, exp_table=ctx.array("exp", "int32_t", table)))
    return Emitted(f"pj_softmax_s8(&{p}, {{in0}}, {{out0}});", sources=("pj_softmax.c",))
