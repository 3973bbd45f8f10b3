"""Emitters for SELECT (v1), REVERSE_V2 and integer FLOOR_DIV / FLOOR_MOD.

- SELECT runs on SELECT_V2's kernel (``pj_select``, pj_compare.c): its 1-D condition over
  the first dimension is a numpy broadcast of the condition viewed as ``(n, 1, ..., 1)``,
  and a scalar or x-shaped condition broadcasts as it is.
- REVERSE_V2 is one ``pj_copy`` whose source strides are negative along the reversed axes,
  starting from the last element of each (the output is written in order).
- Integer FLOOR_DIV / FLOOR_MOD (LiteRT's kernels; the float32 ones are in compare.py) are
  ``pj_floor_s8/s16/s32/s64`` (pj_extra.c) over the broadcast plans of compare.py.

Every node is first prepared by its reference kernel, so the C refuses what the reference
refuses.
"""

from __future__ import annotations

from types import SimpleNamespace

from picojoule.backends.c.emitters.compare import SOURCES as COMPARE_SOURCES
from picojoule.backends.c.emitters.compare import bcast_plan
from picojoule.backends.c.emitters.reduce import check_reference
from picojoule.backends.c.emitters.shape import SOURCES as COPY_SOURCES
from picojoule.backends.c.emitters.shape import _contig, _elem, copy_call, operand
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops.binary import FLOOR_INT_DTYPES, SELECT_DTYPES, _select_condition_shape
from picojoule.ops.shape import reverse_axes

#: pj_extra.c's kernels use pj_compare.h's broadcast plan (the header comes along).
EXTRA_SOURCES = ("pj_extra.c",)
_SUFFIX = {"int8": "s8", "int16": "s16", "int32": "s32", "int64": "s64"}


# --------------------------------------------------------------------------- SELECT
@emitter("SELECT", dtypes=SELECT_DTYPES)
def emit_select_v1(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    c, x, z = node.inputs[0], node.inputs[1], node.inputs[2]
    view = _select_condition_shape(node, c.shape, x.shape, z.shape)
    elem = _elem(node.outputs[0])
    if elem not in (1, 2, 4, 8):
        raise unsupported(node, f"{node.outputs[0].dtype} data")
    plan = bcast_plan(ctx, node, [SimpleNamespace(shape=view), x, z])
    args = ", ".join(operand(ctx, node, i) for i in range(3))
    return Emitted(f"pj_select(&{plan}, {elem}, {args}, {{out0}});", sources=COMPARE_SOURCES)


# --------------------------------------------------------------------------- REVERSE_V2
@emitter("REVERSE_V2", dtypes=("int8", "uint8", "int16", "int32", "int64", "float32", "bool"))
def emit_reverse_v2(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    x, y = node.inputs[0], node.outputs[0]
    axes = set(reverse_axes(node))
    strides = _contig(x.shape)
    start = sum((int(x.shape[a]) - 1) * strides[a] for a in axes if x.shape[a] > 0)
    src = [-s if a in axes else s for a, s in enumerate(strides)]
    return Emitted(copy_call(ctx, node, operand(ctx, node, 0), "{out0}", _elem(y), x.shape,
                             src, _contig(y.shape), start, 0), sources=COPY_SOURCES)


# --------------------------------------------------------------------------- FLOOR_DIV / MOD
def _int_floor(node: Node) -> bool:
    v = node.input(0)
    return v is not None and v.dtype in _SUFFIX


@emitter("FLOOR_DIV", when=_int_floor, dtypes=FLOOR_INT_DTYPES["FLOOR_DIV"])
@emitter("FLOOR_MOD", when=_int_floor, dtypes=FLOOR_INT_DTYPES["FLOOR_MOD"])
def emit_floor_int(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    a, b = node.inputs[0], node.inputs[1]
    plan = bcast_plan(ctx, node, [a, b])
    fn = f"pj_floor_{_SUFFIX[a.dtype]}"
    is_mod = int(node.op == "FLOOR_MOD")
    return Emitted(f"{fn}(&{plan}, {is_mod}, {operand(ctx, node, 0)}, {operand(ctx, node, 1)}, "
                   "{out0});", sources=EXTRA_SOURCES)
