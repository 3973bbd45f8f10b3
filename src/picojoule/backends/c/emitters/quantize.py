"""QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32) emitters."""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node


@emitter("QUANTIZE", dtypes=("float32",))
def emit_quantize(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype != "float32" or y.dtype != "int8":
        raise unsupported(node, f"{x.dtype} -> {y.dtype} (float32 -> int8 only)")
    if y.quant is None or y.quant.scale.size != 1:
        raise unsupported(node, "an output without per-tensor quantization")
    p = ctx.params("pj_quantize_params", dict(
        size=x.size, scale=float(np.float32(y.quant.scale0)), zero_point=y.quant.zp0,
        q_min=-128, q_max=127))
    return Emitted(f"pj_quantize_f32_s8(&{p}, {{in0}}, {{out0}});",
                   sources=("pj_quantize.c",))


@emitter("DEQUANTIZE", dtypes=("int8",))
def emit_dequantize(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype != "int8" or y.dtype != "float32":
        raise unsupported(node, f"{x.dtype} -> {y.dtype} (int8 -> float32 only)")
    if x.quant is None:
        raise unsupported(node, "an unquantized input")
    scale, zp = float(x.quant.scale0), int(x.quant.zp0)
    q = np.arange(256, dtype=np.int64).astype(np.uint8).view(np.int8).astype(np.int64)
    table = (np.float64(scale) * (q - zp)).astype(np.float32)
    p = ctx.params("pj_dequantize_params", dict(
        size=x.size, table=ctx.array("deq", "float", table)))
    return Emitted(f"pj_dequantize_s8_f32(&{p}, {{in0}}, {{out0}});",
                   sources=("pj_quantize.c",))
