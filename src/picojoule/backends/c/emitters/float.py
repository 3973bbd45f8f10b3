"""float32 emitters: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE/MAX_POOL_2D,
ADD/SUB/MUL/DIV/MINIMUM/MAXIMUM, SOFTMAX, UNIDIRECTIONAL_SEQUENCE_LSTM; and int32 elementwise
arithmetic. (float32 activations with int8 weights, LiteRT's hybrid layers: emitters/hybrid.py.)

The C kernels sum in float32 in TFLM's order (the reference interpreter sums in float64:
results agree within the 1e-5 tolerance float models are held to). exp/tanh are computed in
double precision inside pj_float.c, so float libraries need no libm either.
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.int16 import broadcast4, operand
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node, Value
from picojoule.ops.common import float_activation_bounds
from picojoule.ops.conv import make_window

SOURCES = ("pj_float.c",)
FLT_MAX = float(np.finfo(np.float32).max)


def _is_float(node: Node) -> bool:
    v = node.input(0)
    return v is not None and v.dtype == "float32"


def _bounds(node: Node) -> tuple[float, float]:
    """The fused activation's clamp; no bound means TFLM's +-FLT_MAX."""
    lo, hi = float_activation_bounds(node)
    return max(float(lo), -FLT_MAX), min(float(hi), FLT_MAX)


def _weights(ctx: Context, node: Node, w: Value, b: Value | None, layout) -> tuple[str, str | None]:
    if w.dtype != "float32":
        raise unsupported(node, f"float32 activations with {w.dtype} weights (hybrid)")
    if not w.is_const or (b is not None and not b.is_const):
        raise unsupported(node, "non-constant weights or bias")
    if b is not None and b.dtype != "float32":
        raise unsupported(node, f"{b.dtype} bias")
    wa = ctx.array("w", "float", layout(np.asarray(w.data, np.float32)))
    ba = None if b is None else ctx.array("b", "float", np.asarray(b.data, np.float32))
    return wa, ba


def _window(node: Node, x: Value, out: Value, khw) -> object:
    a = node.attrs
    return make_window(node, x.shape[1:3], khw,
                       (int(a.get("stride_h", 1)), int(a.get("stride_w", 1))),
                       (int(a.get("dilation_h_factor", 1) or 1),
                        int(a.get("dilation_w_factor", 1) or 1)), out.shape[1:3])


@emitter("CONV_2D", "DEPTHWISE_CONV_2D", when=_is_float, dtypes=("float32",))
def emit_conv_f32(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    if out.dtype != "float32" or len(x.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, f"float32 input with {out.dtype}{list(out.shape)} output")
    n, h, wd, c = x.shape
    if node.op == "CONV_2D":
        cout, kh, kw, cg = w.shape
        if cg != c:
            raise unsupported(node, "grouped convolution")
        dm = 1
        wa, ba = _weights(ctx, node, w, b, lambda a: a.reshape(cout, -1))
        fn = "pj_conv_f32"
    else:
        _, kh, kw, cout = w.shape
        if cout % c:
            raise unsupported(node, f"depthwise weights {list(w.shape)} for {c} channels")
        dm = cout // c
        wa, ba = _weights(ctx, node, w, b, lambda a: a.reshape(kh * kw, cout))
        fn = "pj_dwconv_f32"
    win = _window(node, x, out, (kh, kw))
    lo, hi = _bounds(node)
    p = ctx.params("pj_convf_params", dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=cout,
        depth_multiplier=dm, k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw, dil_h=win.dh,
        dil_w=win.dw, pad_t=win.pad_t, pad_l=win.pad_l, act_min=lo, act_max=hi,
        weights=wa, bias=ba))
    return Emitted(f"{fn}(&{p}, {{in0}}, {{out0}});", sources=SOURCES)


@emitter("FULLY_CONNECTED", when=_is_float, dtypes=("float32",))
def emit_fc_f32(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    if out.dtype != "float32" or len(w.shape) != 2:
        raise unsupported(node, f"weights {list(w.shape)} with a {out.dtype} output")
    units, depth = w.shape
    if x.size % depth or out.size != x.size // depth * units:
        raise unsupported(node, f"input {list(x.shape)} with weights {list(w.shape)}")
    wa, ba = _weights(ctx, node, w, b, lambda a: a)
    lo, hi = _bounds(node)
    p = ctx.params("pj_fcf_params", dict(batches=x.size // depth, accum_depth=depth,
                                         out_depth=units, act_min=lo, act_max=hi,
                                         weights=wa, bias=ba))
    return Emitted(f"pj_fc_f32(&{p}, {{in0}}, {{out0}});", sources=SOURCES)


@emitter("AVERAGE_POOL_2D", "MAX_POOL_2D", when=_is_float, dtypes=("float32",))
def emit_pool_f32(ctx: Context, node: Node) -> Emitted:
    x, out = node.inputs[0], node.outputs[0]
    if out.dtype != "float32" or len(x.shape) != 4 or out.shape[3] != x.shape[3]:
        raise unsupported(node, f"input {list(x.shape)} with output {list(out.shape)}")
    a = node.attrs
    kh, kw = int(a.get("filter_height", 1)), int(a.get("filter_width", 1))
    win = make_window(node, x.shape[1:3], (kh, kw),
                      (int(a.get("stride_h", 1)), int(a.get("stride_w", 1))), (1, 1),
                      out.shape[1:3])
    lo, hi = _bounds(node)
    n, h, w, c = x.shape
    p = ctx.params("pj_poolf_params", dict(
        batches=n, in_h=h, in_w=w, channels=c, out_h=win.oh, out_w=win.ow, k_h=kh, k_w=kw,
        stride_h=win.sh, stride_w=win.sw, pad_t=win.pad_t, pad_l=win.pad_l,
        is_max=int(node.op == "MAX_POOL_2D"), act_min=lo, act_max=hi))
    return Emitted(f"pj_pool_f32(&{p}, {{in0}}, {{out0}});", sources=SOURCES)


_BIN_OPS = {"ADD": 0, "SUB": 1, "MUL": 2, "DIV": 3, "MINIMUM": 4, "MAXIMUM": 5}


@emitter(*_BIN_OPS, when=_is_float, dtypes=("float32",))
def emit_binary_f32(ctx: Context, node: Node) -> Emitted:
    a, b, out = node.inputs[0], node.inputs[1], node.outputs[0]
    if not (a.dtype == b.dtype == out.dtype == "float32"):
        raise unsupported(node, f"dtypes {a.dtype}/{b.dtype}/{out.dtype}")
    dims, st1, st2 = broadcast4(node, a, b, out)
    if node.op in ("MINIMUM", "MAXIMUM"):
        lo, hi = -FLT_MAX, FLT_MAX
    else:
        lo, hi = _bounds(node)
    p = ctx.params("pj_binf_params", dict(dims=dims, strides1=st1, strides2=st2,
                                          op=_BIN_OPS[node.op], act_min=lo, act_max=hi))
    return Emitted(f"pj_binary_f32(&{p}, {operand(ctx, node, 0)}, {operand(ctx, node, 1)}, "
                   "{out0});", sources=SOURCES)


@emitter("SOFTMAX", when=_is_float, dtypes=("float32",))
def emit_softmax_f32(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    if y.dtype != "float32":
        raise unsupported(node, f"float32 -> {y.dtype}")
    depth = x.shape[-1] if x.shape else 1
    p = ctx.params("pj_softmaxf_params", dict(rows=x.size // depth, depth=depth,
                                              beta=float(node.attrs.get("beta", 1.0))))
    return Emitted(f"pj_softmax_f32(&{p}, {{in0}}, {{out0}});", sources=SOURCES)


# --------------------------------------------------------------------------- int32
def _is_int32(node: Node) -> bool:
    v = node.input(0)
    return v is not None and v.dtype == "int32"


@emitter(*_BIN_OPS, when=_is_int32, dtypes=("int32",))
def emit_binary_s32(ctx: Context, node: Node) -> Emitted:
    a, b, out = node.inputs[0], node.inputs[1], node.outputs[0]
    if not (a.dtype == b.dtype == out.dtype == "int32"):
        raise unsupported(node, f"dtypes {a.dtype}/{b.dtype}/{out.dtype}")
    act = node.attrs.get("fused_activation_function", "NONE")
    lo, hi = -(1 << 31), (1 << 31) - 1
    if node.op != "ADD" and act in ("RELU", "RELU6", "RELU_N1_TO_1"):
        lo, hi = {"RELU": (0, hi), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}[act]
    dims, st1, st2 = broadcast4(node, a, b, out)
    p = ctx.params("pj_bini_params", dict(dims=dims, strides1=st1, strides2=st2,
                                          op=_BIN_OPS[node.op], act_min=lo, act_max=hi))
    return Emitted(f"pj_binary_s32(&{p}, {operand(ctx, node, 0)}, {operand(ctx, node, 1)}, "
                   "{out0});", sources=("pj_elementwise2.c",))


# --------------------------------------------------------------------------- LSTM
@emitter("UNIDIRECTIONAL_SEQUENCE_LSTM", when=_is_float, dtypes=("float32",))
def emit_lstm_f32(ctx: Context, node: Node) -> Emitted:
    from picojoule.backends.c.emitters.sequence import _BIAS, _GATES, _IN_W, _REC_W
    from picojoule.ops import sequence as ref

    x, out = node.input(0), node.outputs[0]
    for i, what in ref._OPTIONAL_VARIANTS.items():
        if node.input(i) is not None:
            raise unsupported(node, f"an LSTM with {what} tensors")
    if any(node.input(i) is None for i in [*range(1, 9), 12, 13, 14, 15, 18, 19]):
        raise unsupported(node, "an LSTM without all four gates (CIFG)")
    h_v, c_v = node.input(18), node.input(19)
    if not (h_v.variable and c_v.variable) or len(x.shape) != 3 or len(out.shape) != 3:
        raise unsupported(node, "non-variable states or a non-3-D input/output")
    if node.attrs.get("diagonal_recurrent_tensors") or \
            node.attrs.get("fused_activation_function", "TANH") != "TANH":
        raise unsupported(node, "diagonal recurrent weights or a non-TANH cell activation")
    time_major = bool(node.attrs.get("time_major", False))
    steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    n_in, S = x.shape[2], h_v.size // batch
    if out.shape[2] != S or c_v.size != batch * S or {h_v.dtype, c_v.dtype, out.dtype} != {
            "float32"}:
        raise unsupported(node, "state/output shapes or types that do not match the input")
    arrays: dict[str, list[str]] = {"w_in": [], "w_rec": [], "bias": []}
    for g in _GATES:
        for key, idx, shape in (("w_in", _IN_W[g], (S, n_in)), ("w_rec", _REC_W[g], (S, S)),
                                ("bias", _BIAS[g], (S,))):
            v = node.input(idx)
            if v.dtype != "float32" or not v.is_const or v.shape != shape:
                raise unsupported(node, f"{g} gate {key} that is not a float32 constant "
                                        f"{list(shape)} (hybrid?)")
            arrays[key].append(ctx.array(key, "float", v.data))
    clip = float(np.float32(node.attrs.get("cell_clip", 0.0)))
    p = ctx.params("pj_lstmf_params", dict(
        time_major=int(time_major), steps=steps, batches=batch, inputs=n_in, units=S,
        cell_clip=max(clip, 0.0), **arrays))
    return Emitted(f"pj_lstm_f32(&{p}, {{in0}}, {{in18}}, {{in19}}, {{out0}}, "
                   "(float *){scratch});", scratch=16 * S, sources=SOURCES)


# --------------------------------------------------------------------------- TRANSPOSE_CONV
@emitter("TRANSPOSE_CONV", when=lambda n: n.input(2) is not None and n.input(2).dtype == "float32",
         dtypes=("float32",))
def emit_tconv_f32(ctx: Context, node: Node) -> Emitted:
    """pj_tconv_f32 (pj_tconv.c): TFLM's scatter order, so the floats are TFLM's."""
    from picojoule.ops.conv import _pad_before

    x, w, b, out = node.input(2), node.input(1), node.input(3), node.outputs[0]
    if out.dtype != "float32" or len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, f"float32 input with {w.dtype}{list(w.shape)} weights and "
                                f"{out.dtype}{list(out.shape)} output")
    n, h, wd, c = x.shape
    cout, kh, kw, cin = w.shape
    if cin != c or out.shape[3] != cout or out.shape[0] != n:
        raise unsupported(node, f"input {list(x.shape)} with weights {list(w.shape)}")
    padding = node.attrs.get("padding", "SAME")
    if padding not in ("SAME", "VALID"):
        raise unsupported(node, f"padding {padding}")
    sh, sw = int(node.attrs.get("stride_h", 1)), int(node.attrs.get("stride_w", 1))
    oh, ow = out.shape[1], out.shape[2]
    wa, ba = _weights(ctx, node, w, b, lambda a: a)
    lo, hi = _bounds(node)
    p = ctx.params("pj_tconv_f32_params", dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=oh, out_w=ow, out_c=cout, k_h=kh, k_w=kw,
        stride_h=sh, stride_w=sw, pad_t=_pad_before(padding, oh, kh, sh, 1),
        pad_l=_pad_before(padding, ow, kw, sw, 1), act_min=lo, act_max=hi, weights=wa,
        bias=ba))
    return Emitted(f"pj_tconv_f32(&{p}, {{in2}}, {{out0}});", sources=("pj_tconv.c",))
