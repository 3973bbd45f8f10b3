"""Layout-free ONNX ops: elementwise arithmetic, activations, shape ops, reductions, gathers."""

from __future__ import annotations

from typing import Any

import numpy as np

from picojoule.importers.onnx_ops import handles

_F32 = np.float32


def _out(node: Any) -> str:
    return node.output[0]


def _norm_axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


# --------------------------------------------------------------------------- aliases
@handles("Identity", "Dropout")
def identity(imp, node, a) -> None:
    """No computation: the output is the input (Dropout at inference; its mask is unused)."""
    if node.op_type == "Dropout" and len(node.output) > 1 and node.output[1]:
        raise imp.unsupported("Dropout's mask output")
    imp.bind(_out(node), imp.value(node.input[0]))


@handles("Cast")
def cast(imp, node, a) -> None:
    """Cast: a no-op between equal types, else CAST."""
    x = imp.value(node.input[0])
    to = imp._dtype(_out(node))
    if to == x.dtype:
        imp.bind(_out(node), x)
        return
    imp.emit("CAST", [x], imp._shape(_out(node)), to,
             {"in_data_type": x.dtype, "out_data_type": to}, out=_out(node))


# --------------------------------------------------------------------------- elementwise
_BINARY = {"Add": "ADD", "Sub": "SUB", "Mul": "MUL", "Div": "DIV", "Max": "MAXIMUM",
           "Min": "MINIMUM"}


def _float_operand(imp, name: str, dtype: str):
    """An operand; constants are cast to the other operand's type (ONNX requires equal)."""
    if imp.is_const(name):
        return imp.const(imp.consts[name].astype(np.float32 if dtype == "float32"
                                                 else imp.consts[name].dtype), "operand",
                         dtype if dtype == "float32" else None)
    return imp.value(name)


@handles("Add", "Sub", "Mul", "Div", "Max", "Min")
def binary(imp, node, a) -> None:
    """Broadcasting binary arithmetic (numpy broadcasting, as TFLite's kernels)."""
    op = _BINARY[node.op_type]
    names = [n for n in node.input if n]
    dtype = imp._dtype(_out(node))
    if len(names) == 1:
        imp.bind(_out(node), imp.value(names[0]))
        return
    acc = _float_operand(imp, names[0], dtype)
    for k, name in enumerate(names[1:]):
        other = _float_operand(imp, name, dtype)
        shape = tuple(np.broadcast_shapes(acc.shape, other.shape))
        last = k == len(names) - 2
        acc = imp.emit(op, [acc, other], shape, dtype,
                       {"fused_activation_function": "NONE"} if op in
                       ("ADD", "SUB", "MUL", "DIV") else {},
                       out=_out(node) if last else None)
    if acc.shape != imp._shape(_out(node)):
        raise imp.unsupported(f"broadcast to {imp._shape(_out(node))}")


@handles("Sum")
def sum_(imp, node, a) -> None:
    """Variadic sum: a chain of ADDs."""
    names = [n for n in node.input if n]
    dtype = imp._dtype(_out(node))
    acc = _float_operand(imp, names[0], dtype)
    if len(names) == 1:
        imp.bind(_out(node), acc)
    for k, name in enumerate(names[1:]):
        other = _float_operand(imp, name, dtype)
        acc = imp.emit("ADD", [acc, other], np.broadcast_shapes(acc.shape, other.shape), dtype,
                       {"fused_activation_function": "NONE"},
                       out=_out(node) if k == len(names) - 2 else None)


@handles("Pow")
def pow_(imp, node, a) -> None:
    """x ** 2 -> MUL(x, x); x ** 0.5 -> SQRT; x ** 1 -> x; other exponents unsupported."""
    e = imp.cdata(node.input[1], "exponent").reshape(-1)
    if e.size != 1:
        raise imp.unsupported("a non-scalar exponent")
    x = imp.value(node.input[0])
    e = float(e[0])
    if e == 1.0:
        imp.bind(_out(node), x)
    elif e == 2.0:
        imp.emit("MUL", [x, x], x.shape, x.dtype, {"fused_activation_function": "NONE"},
                 out=_out(node))
    elif e == 0.5:
        imp.emit("SQRT", [x], x.shape, x.dtype, out=_out(node))
    else:
        raise imp.unsupported(f"exponent {e}")


_UNARY = {"Relu": "RELU", "Sigmoid": "LOGISTIC", "Tanh": "TANH", "HardSwish": "HARD_SWISH",
          "Exp": "EXP", "Log": "LOG", "Sqrt": "SQRT", "Abs": "ABS", "Neg": "NEG",
          "Floor": "FLOOR", "Ceil": "CEIL", "Elu": "ELU"}


@handles(*_UNARY)
def unary(imp, node, a) -> None:
    """One-to-one elementwise ops."""
    if node.op_type == "Elu" and float(a.get("alpha", 1.0)) != 1.0:
        raise imp.unsupported(f"Elu alpha {a['alpha']} (TFLite's ELU has alpha 1)")
    x = imp.value(node.input[0])
    imp.emit(_UNARY[node.op_type], [x], x.shape, x.dtype, out=_out(node))


@handles("Reciprocal")
def reciprocal(imp, node, a) -> None:
    x = imp.value(node.input[0])
    imp.emit("DIV", [imp.const(np.ones((), _F32), "one"), x], x.shape, x.dtype,
             {"fused_activation_function": "NONE"}, out=_out(node))


@handles("LeakyRelu")
def leaky_relu(imp, node, a) -> None:
    x = imp.value(node.input[0])
    imp.emit("LEAKY_RELU", [x], x.shape, x.dtype, {"alpha": float(a.get("alpha", 0.01))},
             out=_out(node))


@handles("PRelu")
def prelu(imp, node, a) -> None:
    """PRELU with the slope constant broadcast as ONNX does (unidirectional)."""
    x = imp.value(node.input[0])
    slope = imp.value(node.input[1])
    if slope.is_const and slope.dtype != "float32" and x.dtype == "float32":
        slope = imp.const(slope.data.astype(_F32), "slope")
    imp.emit("PRELU", [x, slope], imp._shape(_out(node)), x.dtype, out=_out(node))


@handles("Clip")
def clip(imp, node, a) -> None:
    """Clip -> RELU / RELU6 / RELU_N1_TO_1 when the bounds match, else MAXIMUM + MINIMUM."""
    x = imp.value(node.input[0])
    lo_name = node.input[1] if len(node.input) > 1 else ""
    hi_name = node.input[2] if len(node.input) > 2 else ""
    lo = hi = None
    if lo_name:
        lo = float(imp.cdata(lo_name, "min").reshape(-1)[0])
    if hi_name:
        hi = float(imp.cdata(hi_name, "max").reshape(-1)[0])
    named = {(0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1", (0.0, None): "RELU"}
    if (lo, hi) in named:
        imp.emit(named[(lo, hi)], [x], x.shape, x.dtype, out=_out(node))
        return
    if lo is None and hi is None:
        imp.bind(_out(node), x)
        return
    v = x
    if lo is not None:
        v = imp.emit("MAXIMUM", [v, imp.const(np.array(lo, _F32), "clip_min")], x.shape,
                     x.dtype, out=_out(node) if hi is None else None)
    if hi is not None:
        imp.emit("MINIMUM", [v, imp.const(np.array(hi, _F32), "clip_max")], x.shape, x.dtype,
                 out=_out(node))


@handles("HardSigmoid")
def hard_sigmoid(imp, node, a) -> None:
    """max(0, min(1, alpha * x + beta)) as MUL, ADD, RELU, MINIMUM."""
    x = imp.value(node.input[0])
    alpha, beta = float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    none = {"fused_activation_function": "NONE"}
    v = imp.emit("MUL", [x, imp.const(np.array(alpha, _F32), "alpha")], x.shape, x.dtype, none)
    v = imp.emit("ADD", [v, imp.const(np.array(beta, _F32), "beta")], x.shape, x.dtype, none)
    v = imp.emit("RELU", [v], x.shape, x.dtype)
    imp.emit("MINIMUM", [v, imp.const(np.array(1.0, _F32), "one")], x.shape, x.dtype,
             out=_out(node))


@handles("Gelu")
def gelu(imp, node, a) -> None:
    x = imp.value(node.input[0])
    approx = a.get("approximate", "none")
    approx = approx.decode() if isinstance(approx, bytes) else approx
    imp.emit("GELU", [x], x.shape, x.dtype, {"approximate": approx == "tanh"}, out=_out(node))


@handles("Softmax", "LogSoftmax")
def softmax(imp, node, a) -> None:
    """SOFTMAX over the last axis; another axis is moved last with transposes."""
    x = imp.value(node.input[0])
    rank = len(x.shape)
    axis = _norm_axis(int(a.get("axis", -1)), rank)
    op = "SOFTMAX" if node.op_type == "Softmax" else "LOG_SOFTMAX"
    attrs = {"beta": 1.0} if op == "SOFTMAX" else {}
    if axis == rank - 1:
        imp.emit(op, [x], x.shape, x.dtype, attrs, out=_out(node))
        return
    perm = [d for d in range(rank) if d != axis] + [axis]
    inv = list(np.argsort(perm))
    t = imp.transpose(x, perm)
    s = imp.emit(op, [t], t.shape, x.dtype, attrs)
    imp.transpose(s, inv, out=_out(node))


# --------------------------------------------------------------------------- shape ops
@handles("Reshape", "Flatten", "Squeeze", "Unsqueeze")
def reshape(imp, node, a) -> None:
    """All four are a RESHAPE to the statically inferred output shape."""
    x = imp.value(node.input[0])
    shape = imp._shape(_out(node))
    if int(np.prod(shape)) != x.size:
        raise imp.unsupported(f"reshaping {x.shape} to {shape}")
    imp.reshape(x, shape, out=_out(node))


@handles("Transpose")
def transpose(imp, node, a) -> None:
    x = imp.value(node.input[0])
    perm = a.get("perm", list(range(len(x.shape)))[::-1])
    imp.transpose(x, perm, out=_out(node))


@handles("Concat")
def concat(imp, node, a) -> None:
    names = [n for n in node.input if n]
    shape = imp._shape(_out(node))
    axis = _norm_axis(int(a["axis"]), len(shape))
    ins = [imp.value(n) for n in names if imp._shape(n)[axis] > 0] if len(shape) else []
    dtype = imp._dtype(_out(node))
    ins = [imp.const(v.data.astype(_F32), "concat_in") if v.is_const and v.dtype != dtype
           and dtype == "float32" else v for v in ins]
    if len(ins) == 1:
        imp.reshape(ins[0], shape, out=_out(node))
        return
    imp.emit("CONCATENATION", ins, shape, dtype,
             {"axis": axis, "fused_activation_function": "NONE"}, out=_out(node))


@handles("Split")
def split(imp, node, a) -> None:
    """SPLIT_V with the inferred output sizes."""
    x = imp.value(node.input[0])
    axis = _norm_axis(int(a.get("axis", 0)), len(x.shape))
    outs = [(o, imp._shape(o)) for o in node.output]
    sizes = np.array([s[axis] for _, s in outs], np.int32)
    imp.emit_multi("SPLIT_V", [x, imp.const(sizes, "size_splits"),
                               imp.const(np.array(axis, np.int32), "axis")],
                   outs, x.dtype, {"num_splits": len(outs)})


@handles("Slice")
def slice_(imp, node, a) -> None:
    """SLICE (unit steps) or STRIDED_SLICE, with ONNX's clamping done here."""
    x = imp.value(node.input[0])
    rank = len(x.shape)
    starts = imp.cdata(node.input[1], "starts").reshape(-1)
    ends = imp.cdata(node.input[2], "ends").reshape(-1)
    axes = (imp.cdata(node.input[3], "axes").reshape(-1) if len(node.input) > 3
            and node.input[3] else np.arange(len(starts)))
    steps = (imp.cdata(node.input[4], "steps").reshape(-1) if len(node.input) > 4
             and node.input[4] else np.ones(len(starts), np.int64))
    begin, end, stride = [0] * rank, list(x.shape), [1] * rank
    end_mask = 0
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax = _norm_axis(int(ax), rank)
        dim = x.shape[ax]
        st = int(st)
        if st == 0:
            raise imp.unsupported("a zero step")
        start, stop, _ = slice(int(max(min(s, 2**62), -2**62)), int(max(min(e, 2**62), -2**62)),
                               st).indices(dim)
        begin[ax], end[ax], stride[ax] = start, stop, st
        if st < 0 and stop < 0:
            end_mask |= 1 << ax
    shape = imp._shape(_out(node))
    if all(s == 1 for s in stride):
        size = [max(0, e - b) for b, e in zip(begin, end)]
        if tuple(size) != tuple(shape):
            raise imp.unsupported(f"slice to {shape}")
        imp.emit("SLICE", [x, imp.const(np.array(begin, np.int32), "begin"),
                           imp.const(np.array(size, np.int32), "size")],
                 shape, x.dtype, out=_out(node), quant=x.quant)
        return
    imp.emit("STRIDED_SLICE", [x, imp.const(np.array(begin, np.int32), "begin"),
                               imp.const(np.array(end, np.int32), "end"),
                               imp.const(np.array(stride, np.int32), "strides")],
             shape, x.dtype, {"begin_mask": 0, "end_mask": end_mask, "shrink_axis_mask": 0,
                              "ellipsis_mask": 0, "new_axis_mask": 0, "offset": False},
             out=_out(node), quant=x.quant)


@handles("Gather")
def gather(imp, node, a) -> None:
    """GATHER with constant indices (negatives wrapped here); runtime indices also run."""
    data = imp.value(node.input[0])
    axis = _norm_axis(int(a.get("axis", 0)), len(data.shape))
    if imp.is_const(node.input[1]):
        idx = imp.consts[node.input[1]].astype(np.int64)
        idx = np.where(idx < 0, idx + data.shape[axis], idx)
        indices = imp.const(idx.astype(np.int32), "indices")
        if idx.ndim == 0:  # a scalar index drops the axis: keep it 0-D (imp.const makes 1-D)
            indices.shape, indices.data = (), indices.data.reshape(())
    else:
        indices = imp.value(node.input[1])
    imp.emit("GATHER", [data, indices], imp._shape(_out(node)), data.dtype,
             {"axis": axis, "batch_dims": 0}, out=_out(node), quant=data.quant)


@handles("Pad")
def pad(imp, node, a) -> None:
    """constant -> PAD / PADV2; reflect -> MIRROR_PAD; edge and wrap unsupported."""
    x = imp.value(node.input[0])
    rank = len(x.shape)
    mode = a.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    pads = imp.cdata(node.input[1], "pads").reshape(-1).astype(np.int64)
    axes = (imp.cdata(node.input[3], "axes").reshape(-1) if len(node.input) > 3
            and node.input[3] else np.arange(rank))
    paddings = np.zeros((rank, 2), np.int32)
    n = len(axes)
    for k, ax in enumerate(axes):
        ax = _norm_axis(int(ax), rank)
        paddings[ax] = (pads[k], pads[k + n])
    if np.any(paddings < 0):
        raise imp.unsupported("negative pads")
    shape = imp._shape(_out(node))
    pv = imp.const(paddings, "paddings")
    if mode == "constant":
        value = 0.0
        if len(node.input) > 2 and node.input[2]:
            value = float(imp.cdata(node.input[2], "constant_value").reshape(-1)[0])
        if value == 0.0:
            imp.emit("PAD", [x, pv], shape, x.dtype, out=_out(node), quant=x.quant)
        else:
            imp.emit("PADV2", [x, pv, imp.const(np.array([value], np.float32), "pad_value",
                                                x.dtype)],
                     shape, x.dtype, out=_out(node))
    elif mode == "reflect":
        imp.emit("MIRROR_PAD", [x, pv], shape, x.dtype, {"mode": "REFLECT"}, out=_out(node))
    else:
        raise imp.unsupported(f"Pad mode {mode!r}")


@handles("Expand")
def expand(imp, node, a) -> None:
    x = imp.value(node.input[0])
    shape = imp._shape(_out(node))
    if shape == x.shape:
        imp.bind(_out(node), x)
        return
    imp.emit("BROADCAST_TO", [x, imp.const(np.array(shape, np.int32), "shape")], shape,
             x.dtype, out=_out(node))


# --------------------------------------------------------------------------- reductions
_REDUCE = {"ReduceMean": "MEAN", "ReduceMax": "REDUCE_MAX", "ReduceMin": "REDUCE_MIN",
           "ReduceSum": "SUM", "ReduceProd": "REDUCE_PROD"}


@handles(*_REDUCE)
def reduce(imp, node, a) -> None:
    """Reductions over constant axes (attribute before opset 18, input from 18; Sum from 13)."""
    x = imp.value(node.input[0])
    rank = len(x.shape)
    if len(node.input) > 1 and node.input[1]:
        axes = imp.cdata(node.input[1], "axes").reshape(-1).tolist()
    else:
        axes = a.get("axes")
    if not axes:
        if int(a.get("noop_with_empty_axes", 0)):
            imp.bind(_out(node), x)
            return
        axes = list(range(rank))
    axes = sorted({_norm_axis(int(ax), rank) for ax in axes})
    keep = bool(int(a.get("keepdims", 1)))
    imp.emit(_REDUCE[node.op_type], [x, imp.const(np.array(axes, np.int32), "axes")],
             imp._shape(_out(node)), x.dtype, {"keep_dims": keep}, out=_out(node))


@handles("GlobalAveragePool", "GlobalMaxPool")
def global_pool(imp, node, a) -> None:
    """MEAN / REDUCE_MAX over the spatial axes, keeping them (ONNX's (N, C, 1, 1))."""
    x = imp.value(node.input[0])
    axes = list(range(2, len(x.shape)))
    op = "MEAN" if node.op_type == "GlobalAveragePool" else "REDUCE_MAX"
    imp.emit(op, [x, imp.const(np.array(axes, np.int32), "axes")],
             imp._shape(_out(node)), x.dtype, {"keep_dims": True}, out=_out(node))


# --------------------------------------------------------------------------- normalisation
@handles("BatchNormalization")
def batch_norm(imp, node, a) -> None:
    """Inference batch norm as MUL + ADD with per-channel constants (folded later)."""
    if int(a.get("training_mode", 0)):
        raise imp.unsupported("training_mode=1")
    x = imp.value(node.input[0])
    scale, bias, mean, var = (imp.cdata(n, what).astype(np.float64) for n, what in
                              zip(node.input[1:5], ("scale", "B", "mean", "var")))
    eps = float(a.get("epsilon", 1e-5))
    mul = scale / np.sqrt(var + np.float64(np.float32(eps)))
    add = bias - mean * mul
    cshape = (x.shape[1],) + (1,) * (len(x.shape) - 2)
    none = {"fused_activation_function": "NONE"}
    v = imp.emit("MUL", [x, imp.const(mul.astype(_F32).reshape(cshape), "bn_mul")], x.shape,
                 x.dtype, none)
    imp.emit("ADD", [v, imp.const(add.astype(_F32).reshape(cshape), "bn_add")], x.shape,
             x.dtype, none, out=_out(node))
