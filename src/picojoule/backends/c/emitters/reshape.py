"""RESHAPE / SQUEEZE / EXPAND_DIMS: no code, the output aliases the input's bytes."""

from __future__ import annotations

from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node


@emitter("RESHAPE", "SQUEEZE", "EXPAND_DIMS",
         dtypes=("int8", "int16", "int32", "int64", "float32", "bool"))
def emit_reshape(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype != y.dtype or x.nbytes != y.nbytes:
        raise unsupported(node, f"{x.dtype}{list(x.shape)} -> {y.dtype}{list(y.shape)}")
    if x.is_const:
        raise unsupported(node, "a constant input")
    return Emitted("", alias=True)
