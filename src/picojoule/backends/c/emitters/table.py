"""8-bit type conversions as 256-entry tables: QUANTIZE between int8 and uint8, DEQUANTIZE
from uint8.

The input is one byte, so the generator evaluates picojoule's own reference kernel (bit-exact
with TFLM) on all 256 values and the C code is one lookup per element: ``pj_lut_s8`` for a
byte result, ``pj_dequantize_s8_f32`` for a float32 one (both index by the byte's bits).
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.errors import PicojouleError
from picojoule.ir import Node
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.registry import lookup

_BYTES = ("int8", "uint8")


def byte_table(node: Node) -> np.ndarray:
    """out[b] for every input byte pattern b = 0..255, from the reference kernel."""
    x = node.inputs[0]
    try:
        kernel = lookup(node).prepare(node)
    except PicojouleError as e:
        raise unsupported(node, str(e)) from None
    values = np.arange(256, dtype=np.uint8).view(to_numpy(x.dtype))
    size = max(int(x.size), 1)
    out = []
    for k in range(0, 256, size):  # the node's own shape, a slice of the bytes at a time
        chunk = np.resize(values[k:k + size], size).reshape(x.shape)
        out.append(np.asarray(kernel([chunk])[0]).reshape(-1)[:min(size, 256 - k)])
    out = np.concatenate(out)
    return np.asarray(out)


def _converts_byte(node: Node) -> bool:
    x = node.input(0)
    y = node.outputs[0] if node.outputs else None
    return (x is not None and y is not None and x.dtype in _BYTES and
            (y.dtype == "float32" or y.dtype in _BYTES) and "uint8" in (x.dtype, y.dtype))


@emitter("QUANTIZE", "DEQUANTIZE", when=_converts_byte, dtypes=("uint8",))
def emit_byte_table(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    table = byte_table(node)
    if y.dtype == "float32":
        arr = ctx.array("deq", "float", table.astype(np.float32))
        p = ctx.params("pj_dequantize_params", dict(size=x.size, table=arr))
        return Emitted(f"pj_dequantize_s8_f32(&{p}, (const int8_t *){{in0}}, {{out0}});",
                       sources=("pj_quantize.c",))
    arr = ctx.array("lut", "int8_t", table.astype(to_numpy(y.dtype)).view(np.int8))
    return Emitted(f"pj_lut_s8({x.size}, {arr}, (const int8_t *){{in0}}, (int8_t *){{out0}});",
                   sources=("pj_elementwise2.c",))
