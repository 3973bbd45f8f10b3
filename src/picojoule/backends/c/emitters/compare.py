"""Broadcasting elementwise emitters (kernels/pj_compare.c): EQUAL, NOT_EQUAL, LESS,
LESS_EQUAL, GREATER, GREATER_EQUAL, LOGICAL_AND/OR/NOT, SELECT_V2, ADD_N,
SQUARED_DIFFERENCE, FLOOR_DIV, FLOOR_MOD, and the configurations of DIV / MAXIMUM /
MINIMUM no other emitter takes (int8 DIV; int8, int16, int64 MAXIMUM / MINIMUM).

bool tensors are one byte (0 or 1) in C. Broadcasting follows numpy (the reference's rule):
the output's dimensions are merged where every operand steps contiguously and each operand
gets its element strides (0 along broadcast dimensions), up to 8 merged dimensions. Every
node is first prepared by the reference kernel, so the C refuses what the reference
refuses; multipliers and shifts come from the functions ``picojoule.ops.binary`` uses.
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c import generator
from picojoule.backends.c.emitters.int16 import operand
from picojoule.backends.c.emitters.reduce import check_reference
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.binary import _mul_lt1, _quantize_lt1
from picojoule.ops.common import activation_range, dtype_range
from picojoule.quant.fixedpoint import quantize_multiplier, wrap_int32


SOURCES = ("pj_compare.c",)
MAXRANK = 8
_SUFFIX = {"int8": "s8", "uint8": "u8", "bool": "u8", "int16": "s16", "int32": "s32",
           "int64": "s64", "float32": "f32"}
_CMP = {"EQUAL": 0, "NOT_EQUAL": 1, "LESS": 2, "LESS_EQUAL": 3, "GREATER": 4,
        "GREATER_EQUAL": 5}


def bcast_plan(ctx: Context, node: Node, operands: list[Value]) -> str:
    """A pj_bcast for up to three operands broadcast (numpy rules) to the output."""
    try:
        shape = tuple(int(d) for d in np.broadcast_shapes(*(v.shape for v in operands)))
    except ValueError:
        raise unsupported(node, "shapes that do not broadcast") from None
    rank = len(shape)
    per_op = []
    for v in operands:
        vs = (1,) * (rank - len(v.shape)) + tuple(int(d) for d in v.shape)
        st, acc = [0] * rank, 1
        for i in range(rank - 1, -1, -1):
            st[i] = acc if vs[i] != 1 else 0
            acc *= vs[i]
        per_op.append(st)
    while len(per_op) < 3:
        per_op.append([0] * rank)
    dims: list[tuple[int, list[int]]] = []
    for i in range(rank):
        if shape[i] == 1:
            continue
        s = [per_op[j][i] for j in range(3)]
        if dims and all(dims[-1][1][j] == s[j] * shape[i] for j in range(3)):
            dims[-1] = (dims[-1][0] * shape[i], s)
        else:
            dims.append((shape[i], s))
    if not dims:
        dims = [(1, [0, 0, 0])]
    if len(dims) > MAXRANK:
        raise unsupported(node, f"a {len(dims)}-D broadcast (at most {MAXRANK} merged)")
    counts = [c for c, _ in dims]
    total = int(np.prod(counts, dtype=np.int64))
    runs = total // counts[-1] if counts[-1] else 0
    pad = MAXRANK - len(dims)
    strides = [[s[j] for _, s in dims] + [0] * pad for j in range(3)]
    return ctx.params("pj_bcast", dict(rank=len(dims), runs=runs, count=counts + [1] * pad,
                                       stride=strides))


def _dt(node: Node, i: int = 0) -> str:
    v = node.input(i)
    return v.dtype if v is not None else ""


def _ops2(node: Node) -> tuple[Value, Value, Value]:
    if len(node.inputs) < 2 or node.input(0) is None or node.input(1) is None:
        raise unsupported(node, "a node without two inputs")
    return node.inputs[0], node.inputs[1], node.outputs[0]


def _call(fn: str, ctx: Context, node: Node, plan: str, *extra: str) -> str:
    args = ", ".join([f"&{plan}", *extra, operand(ctx, node, 0), operand(ctx, node, 1),
                      "{out0}"])
    return f"{fn}({args});"


# --------------------------------------------------------------------------- comparisons
@emitter(*_CMP, dtypes=("int8", "int32", "int64", "float32", "bool"))
def emit_compare(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    a, b, _ = _ops2(node)
    plan = bcast_plan(ctx, node, [a, b])
    op = str(_CMP[node.op])
    if a.dtype == "int8":
        params = []
        for i, v in enumerate((a, b)):
            m, s = _quantize_lt1(node, float(v.quant.scale0), f"input {i} scale as")
            params += [int(v.quant.zp0), m, s]
        q = ctx.params("pj_cmp_q", dict(zip(("zp1", "mult1", "shift1", "zp2", "mult2",
                                             "shift2"), params)))
        return Emitted(_call("pj_cmp_s8", ctx, node, plan, op, f"&{q}"), sources=SOURCES)
    if a.dtype not in ("float32", "int32", "int64", "bool"):
        raise unsupported(node, f"{a.dtype} inputs")
    return Emitted(_call(f"pj_cmp_{_SUFFIX[a.dtype]}", ctx, node, plan, op), sources=SOURCES)


# --------------------------------------------------------------------------- logic / select
@emitter("LOGICAL_AND", "LOGICAL_OR", dtypes=("bool",))
def emit_logical(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    a, b, _ = _ops2(node)
    plan = bcast_plan(ctx, node, [a, b])
    return Emitted(_call("pj_logical", ctx, node, plan, str(int(node.op == "LOGICAL_OR"))),
                   sources=SOURCES)


@emitter("LOGICAL_NOT", dtypes=("bool",))
def emit_logical_not(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    x, y = node.inputs[0], node.outputs[0]
    if x.size != y.size:
        raise unsupported(node, "an output sized unlike the input")
    return Emitted(f"pj_logical_not({y.size}, {operand(ctx, node, 0)}, {{out0}});",
                   sources=SOURCES)


@emitter("SELECT_V2", dtypes=("int8", "int16", "int32", "int64", "uint8", "float32", "bool"))
def emit_select(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    c, x, z = node.inputs[0], node.inputs[1], node.inputs[2]
    elem = int(np.dtype(to_numpy(node.outputs[0].dtype)).itemsize)
    if elem not in (1, 2, 4, 8):
        raise unsupported(node, f"{node.outputs[0].dtype} data")
    plan = bcast_plan(ctx, node, [c, x, z])
    args = ", ".join(operand(ctx, node, i) for i in range(3))
    return Emitted(f"pj_select(&{plan}, {elem}, {args}, {{out0}});", sources=SOURCES)


# --------------------------------------------------------------------------- MAXIMUM / MINIMUM
@emitter("MAXIMUM", "MINIMUM", when=lambda n: _dt(n) in ("int8", "int16", "int64"),
         dtypes=("int8", "int16", "int64"))
def emit_maxmin(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    a, b, _ = _ops2(node)
    plan = bcast_plan(ctx, node, [a, b])
    return Emitted(_call(f"pj_maxmin_{_SUFFIX[a.dtype]}", ctx, node, plan,
                         str(int(node.op == "MAXIMUM"))), sources=SOURCES)


# --------------------------------------------------------------------------- SQUARED_DIFFERENCE
@emitter("SQUARED_DIFFERENCE", dtypes=("int8", "int16", "int32", "float32"))
def emit_sqdiff(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    a, b, y = _ops2(node)
    plan = bcast_plan(ctx, node, [a, b])
    if a.dtype in ("float32", "int32"):
        return Emitted(_call(f"pj_sqdiff_{_SUFFIX[a.dtype]}", ctx, node, plan),
                       sources=SOURCES)
    # As picojoule.ops.binary.prepare_squared_difference (TFLM squared_difference.cc).
    s1, s2, so = (float(v.quant.scale0) for v in (a, b, y))
    left_shift = 7 if a.dtype == "int8" else 0
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = _quantize_lt1(node, s1 / twice_max, "input 1")
    m2, sh2 = _quantize_lt1(node, s2 / twice_max, "input 2")
    denom = float(np.float32(1 << (2 * left_shift)) * np.float32(so))
    mo, sho = quantize_multiplier(twice_max * twice_max / denom)
    if mo < 0 or not -31 <= sho <= 30:
        raise unsupported(node, f"an output multiplier {mo} shift {sho}")
    lo, hi = dtype_range(y.dtype)
    q = ctx.params("pj_sqdiff_q", dict(
        zp1=a.quant.zp0, mult1=m1, shift1=sh1, zp2=b.quant.zp0, mult2=m2, shift2=sh2,
        left_shift=left_shift, out_mult=mo, out_shift=sho, zp_out=y.quant.zp0, lo=lo, hi=hi))
    return Emitted(_call(f"pj_sqdiff_{_SUFFIX[a.dtype]}", ctx, node, plan, f"&{q}"),
                   sources=SOURCES)


# --------------------------------------------------------------------------- FLOOR_DIV / MOD
@emitter("FLOOR_DIV", "FLOOR_MOD", dtypes=("float32",))
def emit_floor_div_mod(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    a, b, _ = _ops2(node)
    plan = bcast_plan(ctx, node, [a, b])
    fn = "pj_floor_div_f32" if node.op == "FLOOR_DIV" else "pj_floor_mod_f32"
    return Emitted(_call(fn, ctx, node, plan), sources=SOURCES)


# --------------------------------------------------------------------------- int8 DIV
@emitter("DIV", when=lambda n: _dt(n) == "int8", dtypes=("int8",))
def emit_div_s8(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    a, b, y = _ops2(node)
    plan = bcast_plan(ctx, node, [a, b])
    # As picojoule.ops.binary._div_int8_table (TFLM DivElementwise).
    s1, s2, so = (float(v.quant.scale0) for v in (a, b, y))
    mult, out_shift = quantize_multiplier(s1 / (s2 * so))
    if mult < 0:
        raise unsupported(node, "a negative scale")
    lo, hi = activation_range(node, y)
    q = ctx.params("pj_div_q", dict(zp1=a.quant.zp0, zp2=b.quant.zp0, mult=mult,
                                    out_shift=out_shift, zp_out=y.quant.zp0, lo=lo, hi=hi))
    return Emitted(_call("pj_div_s8", ctx, node, plan, f"&{q}"), sources=SOURCES)


# --------------------------------------------------------------------------- ADD_N
@emitter("ADD_N", dtypes=("float32", "int8"))
def emit_add_n(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    ins = [i for i, v in enumerate(node.inputs) if v is not None]
    y = node.outputs[0]
    ptrs = ", ".join(operand(ctx, node, i) for i in ins)
    n = len(ins)
    if y.dtype == "float32":
        return Emitted(_block("float", n, ptrs, f"pj_add_n_f32({n}, {y.size}, pj_in_, {{out0}});"),
                       sources=SOURCES)
    # As picojoule.ops.binary.prepare_add_n (TFLM's int8 AddN, accumulator from -zp).
    x0 = node.inputs[ins[0]]
    s, zp = float(x0.quant.scale0), int(x0.quant.zp0)
    so, zpo = float(y.quant.scale0), int(y.quant.zp0)
    twice = 2.0 * s
    mi, shi = _quantize_lt1(node, s / twice, "input")
    mo, sho = _quantize_lt1(node, twice / ((1 << 20) * so), "output")
    v = np.arange(-128, 128, dtype=np.int64)
    table = _mul_lt1(wrap_int32((v - zp) << 20), mi, shi)
    start = int(_mul_lt1(np.int64(-zp) << 20, mi, shi))
    t = ctx.array("addn", "int32_t", table)
    q = ctx.params("pj_add_n_q", dict(start=start, out_mult=mo, out_shift=sho, zp_out=zpo,
                                      table=t))
    return Emitted(_block("int8_t", n, ptrs,
                          f"pj_add_n_s8({n}, {y.size}, &{q}, pj_in_, {{out0}});"),
                   sources=SOURCES)


def _block(ctype: str, n: int, ptrs: str, call: str) -> str:
    """A C block declaring the input pointer array pj_in_ then making ``call`` (braces
    doubled: the generator formats the statement)."""
    return ("{{ const " + ctype + " *const pj_in_[" + str(n) + "] = {{ " + ptrs + " }};\n"
            "        " + call + " }}")


# --------------------------------------------------------------------------- beyond 4-D
_ARITH = {"ADD": 0, "SUB": 1, "MUL": 2, "DIV": 3}
_HIGH_RANK_OPS = ("ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM")


def _high_rank(node: Node) -> bool:
    """More than 4 dimensions: the other binary emitters broadcast in 4-D only (int8 DIV's
    own emitter takes any rank)."""
    vals = [v for v in [*node.inputs[:2], *node.outputs[:1]] if v is not None]
    return any(len(v.shape) > 4 for v in vals) and _dt(node) in (
        "float32", "int32", "int8", "int16") and not (node.op == "DIV" and _dt(node) == "int8")


# The other modules' ADD/SUB/MUL/DIV/MAXIMUM/MINIMUM predicates accept any rank and then
# refuse more than 4-D: this emitter goes first, for exactly those (higher-rank) nodes.
@emitter(*_HIGH_RANK_OPS, when=_high_rank, dtypes=("float32", "int32", "int8", "int16"),
         first=True)
def emit_binary_nd(ctx: Context, node: Node) -> Emitted:
    check_reference(node)
    a, b, y = _ops2(node)
    plan = bcast_plan(ctx, node, [a, b])
    dt = a.dtype
    if node.op in ("MAXIMUM", "MINIMUM"):
        return Emitted(_call(f"pj_maxmin_{_SUFFIX[dt]}", ctx, node, plan,
                             str(int(node.op == "MAXIMUM"))), sources=SOURCES)
    op = _ARITH[node.op]
    act = node.attrs.get("fused_activation_function", "NONE")
    if dt == "float32":
        from picojoule.backends.c.emitters.float import _bounds

        lo, hi = _bounds(node)
        return Emitted(_call("pj_arith_f32", ctx, node, plan, str(op), generator._c_float(lo),
                             generator._c_float(hi)), sources=SOURCES)
    if dt == "int32":
        lo, hi = -(1 << 31), (1 << 31) - 1
        if node.op != "ADD" and act in ("RELU", "RELU6", "RELU_N1_TO_1"):
            lo, hi = {"RELU": (0, hi), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}[act]
        return Emitted(_call("pj_arith_s32", ctx, node, plan, str(op), generator._c_int32(lo),
                             generator._c_int32(hi)), sources=SOURCES)
    s1, s2, so = (float(v.quant.scale0) for v in (a, b, y))
    lo, hi = activation_range(node, y)
    sfx = _SUFFIX[dt]
    if node.op == "MUL":
        # As picojoule.ops.binary.prepare_mul (double, as mul_common.cc).
        mult, shift = quantize_multiplier(s1 * s2 / so)
        if mult < 0 or not -31 <= shift <= 30:
            raise unsupported(node, f"a multiplier {mult} shift {shift}")
        q = ctx.params("pj_mul_q", dict(zp1=a.quant.zp0, zp2=b.quant.zp0, mult=mult,
                                        shift=shift, zp_out=y.quant.zp0, lo=lo, hi=hi))
        return Emitted(_call(f"pj_mul_nd_{sfx}", ctx, node, plan, f"&{q}"), sources=SOURCES)
    # As picojoule.ops.binary._add_sub_quantized (multipliers in double).
    left = 15 if dt == "int16" else 20
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = _quantize_lt1(node, s1 / twice_max, "input 1")
    m2, sh2 = _quantize_lt1(node, s2 / twice_max, "input 2")
    mo, sho = _quantize_lt1(node, twice_max / ((1 << left) * so), "output")
    q = ctx.params("pj_addsub_q", dict(
        sign=1 if node.op == "ADD" else -1, left_shift=left, zp1=a.quant.zp0, mult1=m1,
        shift1=sh1, zp2=b.quant.zp0, mult2=m2, shift2=sh2, out_mult=mo, out_shift=sho,
        zp_out=y.quant.zp0, lo=lo, hi=hi))
    return Emitted(_call(f"pj_addsub_nd_{sfx}", ctx, node, plan, f"&{q}"), sources=SOURCES)
