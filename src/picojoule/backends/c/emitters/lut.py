"""Elementwise int8 -> int8 activations as one 256-entry table each.

For an int8 input every one of these ops is a pure function of the input byte, so the
generator evaluates picojoule's own reference kernel (bit-exact with TFLM) on all 256
values and the C code is a table lookup (``pj_lut_s8``). The evaluation checks that equal
inputs gave equal outputs, i.e. that the kernel really is elementwise.
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.errors import PicojouleError
from picojoule.ir import Node
from picojoule.ops.registry import REGISTRY, CONVERT, ELEMENTWISE, UNARY, lookup, ops_with

#: Ops whose int8 kernels are elementwise functions of one input: the op table's built-in
#: elementwise unary ops, except type conversions (QUANTIZE has its own kernels). Custom
#: ops run their author's C kernel.
LUT_OPS = sorted(op for op in ops_with(ELEMENTWISE, UNARY) - ops_with(CONVERT)
                 if not REGISTRY[op].origin)


def _int8_unary(node: Node) -> bool:
    x = node.input(0)
    return (x is not None and x.dtype == "int8" and len(node.outputs) == 1
            and node.outputs[0].dtype == "int8"
            and all(v is None or v.is_const for v in node.inputs[1:]))


def int8_table(node: Node) -> np.ndarray:
    """out[b] for every input byte b (uint8 view), from the reference kernel."""
    x = node.inputs[0]
    try:
        kernel = lookup(node).prepare(node)
    except PicojouleError as e:
        raise unsupported(node, str(e)) from None
    values = np.arange(256, dtype=np.uint8).view(np.int8)
    size = max(int(x.size), 1)
    reps = -(-256 // size) if size < 256 else 1
    table = np.zeros(256, np.int64)
    seen = np.zeros(256, bool)
    for r in range(reps):
        flat = np.resize(np.roll(values, -r * size), size).astype(np.int8)
        consts = [None if v is None else v.data for v in node.inputs[1:]]
        out = kernel([flat.reshape(x.shape), *consts])[0].reshape(-1).astype(np.int64)
        idx = flat.view(np.uint8).astype(np.int64)
        if np.any(seen[idx] & (table[idx] != out)) or len(np.unique(idx)) != len(
                {(i, o) for i, o in zip(idx.tolist(), out.tolist())}):
            raise unsupported(node, "a kernel that is not elementwise")
        table[idx], seen[idx] = out, True
    if not seen.all():
        raise unsupported(node, "an input too small to tabulate")
    return table


@emitter(*LUT_OPS, when=_int8_unary, dtypes=("int8",))
def emit_int8_lut(ctx: Context, node: Node) -> Emitted:
    table = ctx.array("lut", "int8_t", int8_table(node))
    return Emitted(f"pj_lut_s8({node.inputs[0].size}, {table}, {{in0}}, {{out0}});",
                   sources=("pj_elementwise2.c",))
