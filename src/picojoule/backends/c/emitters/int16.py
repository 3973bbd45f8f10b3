"""int16x8 (and the remaining int8) integer emitters: ADD/SUB, LEAKY_RELU, requantizing
QUANTIZE, 16x8 CONV_2D, TRANSPOSE_CONV (16x8 and int8), SOFTMAX int8 -> int16 and
int16 -> int16.

Every constant follows the numpy reference kernels in ``picojoule.ops`` (themselves
bit-exact with TFLM): multipliers in double, TFLM's 16x8 convolutions without input or
output offsets and with the 64-bit requantization (multiplier reduced to 16 bits).
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.add import _strides
from picojoule.backends.c.emitters.common import channel_multipliers
from picojoule.backends.c.generator import CTYPES, Context, Emitted, emitter, unsupported
from picojoule.ir import Node, Value
from picojoule.ops.common import activation_range, dtype_range
from picojoule.ops.conv import _pad_before, make_window
from picojoule.quant.fixedpoint import quantize_multiplier

SOURCES_EW = ("pj_elementwise2.c",)
SOURCES_CONV = ("pj_conv16.c",)


def _dt(node: Node, i: int = 0) -> str:
    v = node.input(i)
    return v.dtype if v is not None else ""


def operand(ctx: Context, node: Node, i: int) -> str:
    """C expression for input ``i``: its arena pointer, or a const array for a constant."""
    v = node.inputs[i]
    if v.is_const:
        return ctx.array("k", CTYPES[v.dtype], np.asarray(v.data))
    return "{in%d}" % i


def broadcast4(node: Node, a: Value, b: Value, out: Value) -> tuple[list, list, list]:
    """(dims, strides1, strides2) of a right-aligned broadcast to the 4-D output."""
    if len(out.shape) > 4:
        raise unsupported(node, f"{len(out.shape)}-D broadcasting")
    out4 = (1,) * (4 - len(out.shape)) + tuple(out.shape)
    try:
        return list(out4), _strides(a.shape, out4), _strides(b.shape, out4)
    except ValueError:
        raise unsupported(node, f"broadcasting {list(a.shape)} with {list(b.shape)}") from None


def _require_quant(node: Node, *vals: Value) -> None:
    for v in vals:
        if v.quant is None or v.quant.scale.size < 1:
            raise unsupported(node, f"tensor {v.name!r} without quantization parameters")


def _lt1(node: Node, real: float, what: str) -> tuple[int, int]:
    if not 0.0 < real < 1.0:  # TFLM's QuantizeMultiplierSmallerThanOneExp aborts
        raise unsupported(node, f"{what} multiplier {real:.6g} outside (0, 1)")
    return quantize_multiplier(real)


# --------------------------------------------------------------------------- ADD / SUB
def _is_q_addsub(node: Node) -> bool:
    if not node.inputs or node.inputs[0] is None:
        return False
    dt = node.inputs[0].dtype
    if dt == "int16":
        return True
    # int8 SUB, and int8 ADD with a constant operand (the int8 ADD emitter rejects those).
    return dt == "int8" and (node.op == "SUB" or any(v is not None and v.is_const
                                                     for v in node.inputs[:2]))


@emitter("ADD", "SUB", when=_is_q_addsub, dtypes=("int8", "int16"))
def emit_addsub_q(ctx: Context, node: Node) -> Emitted:
    a, b, out = node.inputs[0], node.inputs[1], node.outputs[0]
    if not (a.dtype == b.dtype == out.dtype):
        raise unsupported(node, f"dtypes {a.dtype}/{b.dtype}/{out.dtype}")
    _require_quant(node, a, b, out)
    s1, s2, so = (float(v.quant.scale0) for v in (a, b, out))
    left = 15 if out.dtype == "int16" else 20
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = _lt1(node, s1 / twice_max, "input 1")
    m2, sh2 = _lt1(node, s2 / twice_max, "input 2")
    mo, sho = _lt1(node, twice_max / ((1 << left) * so), "output")
    lo, hi = activation_range(node, out)
    dims, st1, st2 = broadcast4(node, a, b, out)
    p = ctx.params("pj_addsub_params", dict(
        dims=dims, strides1=st1, strides2=st2, sign=1 if node.op == "ADD" else -1,
        in1_offset=-a.quant.zp0, in2_offset=-b.quant.zp0, left_shift=left,
        in1_mult=m1, in1_shift=sh1, in2_mult=m2, in2_shift=sh2, out_mult=mo, out_shift=sho,
        out_offset=out.quant.zp0, act_min=lo, act_max=hi))
    fn = "pj_addsub_s16" if out.dtype == "int16" else "pj_addsub_s8"
    return Emitted(f"{fn}(&{p}, {operand(ctx, node, 0)}, {operand(ctx, node, 1)}, {{out0}});",
                   sources=SOURCES_EW)


@emitter("MUL", when=lambda n: _dt(n) in ("int8", "int16"), dtypes=("int8", "int16"))
def emit_mul_q(ctx: Context, node: Node) -> Emitted:
    a, b, out = node.inputs[0], node.inputs[1], node.outputs[0]
    if not (a.dtype == b.dtype == out.dtype):
        raise unsupported(node, f"dtypes {a.dtype}/{b.dtype}/{out.dtype}")
    _require_quant(node, a, b, out)
    if out.dtype == "int16" and (a.quant.zp0 or b.quant.zp0 or out.quant.zp0):
        raise unsupported(node, "int16 with non-zero zero points")
    mult, shift = quantize_multiplier(float(a.quant.scale0) * float(b.quant.scale0)
                                      / float(out.quant.scale0))  # double, as mul_common.cc
    if mult < 0 or not -31 <= shift <= 30:
        raise unsupported(node, f"multiplier {mult} shift {shift}")
    lo, hi = activation_range(node, out)
    dims, st1, st2 = broadcast4(node, a, b, out)
    p = ctx.params("pj_mul_params", dict(
        dims=dims, strides1=st1, strides2=st2, in1_offset=-a.quant.zp0,
        in2_offset=-b.quant.zp0, mult=mult, shift=shift, out_offset=out.quant.zp0,
        act_min=lo, act_max=hi))
    fn = "pj_mul_s16" if out.dtype == "int16" else "pj_mul_s8"
    return Emitted(f"{fn}(&{p}, {operand(ctx, node, 0)}, {operand(ctx, node, 1)}, {{out0}});",
                   sources=SOURCES_EW)


# --------------------------------------------------------------------------- LEAKY_RELU
@emitter("LEAKY_RELU", when=lambda n: _dt(n) in ("int8", "int16"), dtypes=("int8", "int16"))
def emit_leaky_relu(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype != y.dtype:
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    _require_quant(node, x, y)
    alpha = float(np.float32(node.attrs.get("alpha", 0.0)))
    in_s, out_s = float(x.quant.scale0), float(y.quant.scale0)
    m_a, s_a = quantize_multiplier(in_s * alpha / out_s)  # double, as the TFLM build
    m_i, s_i = quantize_multiplier(in_s / out_s)
    if m_i < 0:
        raise unsupported(node, "a negative scale")
    qmin, qmax = dtype_range(y.dtype)
    p = ctx.params("pj_leaky_params", dict(
        size=x.size, in_zp=x.quant.zp0, out_zp=y.quant.zp0, id_mult=m_i, id_shift=s_i,
        alpha_mult=abs(m_a), alpha_shift=s_a, alpha_negative=int(m_a < 0),
        q_min=qmin, q_max=qmax))
    fn = "pj_leaky_relu_s16" if x.dtype == "int16" else "pj_leaky_relu_s8"
    return Emitted(f"{fn}(&{p}, {{in0}}, {{out0}});", sources=SOURCES_EW)


# --------------------------------------------------------------------------- QUANTIZE
_ELEM = {"int8": 1, "int16": 2, "int32": 4}


@emitter("QUANTIZE", when=lambda n: _dt(n) in _ELEM and n.outputs[0].dtype in _ELEM,
         dtypes=tuple(_ELEM))
def emit_requantize(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    if y.quant is None or y.quant.scale.size != 1:
        raise unsupported(node, "an output without per-tensor quantization")
    in_s, in_zp = (float(x.quant.scale0), int(x.quant.zp0)) if x.quant is not None and \
        x.quant.scale.size else (0.0, 0)
    mult, shift = quantize_multiplier(in_s / float(y.quant.scale0))
    if mult < 0 or shift < -31 or shift > 30:
        raise unsupported(node, f"requantization multiplier {mult} shift {shift}")
    lo, hi = dtype_range(y.dtype)
    p = ctx.params("pj_requant_params", dict(
        size=x.size, in_elem=_ELEM[x.dtype], out_elem=_ELEM[y.dtype], in_zp=in_zp,
        out_zp=int(y.quant.zp0), mult=mult, shift=shift, q_min=lo, q_max=hi))
    return Emitted(f"pj_requantize(&{p}, {{in0}}, {{out0}});", sources=SOURCES_EW)


# --------------------------------------------------------------------------- 16x8 convs
def _conv16_fields(ctx: Context, node: Node, x: Value, w: Value, b: Value | None,
                   out: Value, wide: bool, in_offset: int, out_offset: int,
                   rows: np.ndarray | None = None, layout: np.ndarray | None = None,
                   mult_shift: tuple[np.ndarray, np.ndarray] | None = None) -> dict:
    """Weights, bias and requantization constants of the 16x8 kernels. ``rows``: the
    weights as (out_c, taps) for the overflow bound (default: OHWI flattened); ``layout``:
    the array the kernel reads (default: ``rows``)."""
    if not w.is_const or (b is not None and not b.is_const):
        raise unsupported(node, "non-constant weights or bias")
    rows = w.data.reshape(w.shape[0], -1) if rows is None else rows
    cout = rows.shape[0]
    mult, shift = mult_shift or channel_multipliers(node, x, w, out, cout)
    mult, shift = np.asarray(mult, np.int64), np.asarray(shift, np.int64)
    if mult.size == 1:
        mult, shift = np.repeat(mult, cout), np.repeat(shift, cout)
    if np.any(mult < 0):
        raise unsupported(node, "a negative requantization multiplier")
    bias = (np.zeros(cout, np.int64) if b is None
            else np.asarray(b.data).reshape(-1).astype(np.int64))
    wabs = np.abs(rows.astype(np.int64)).sum(axis=1)
    max_x = 32768 if x.dtype == "int16" else 255
    bound = max_x * wabs + np.abs(bias)
    if wide:
        if int(np.max(shift)) >= 15:
            raise unsupported(node, "a 16x8 effective scale >= 2**14")
        m = np.where(mult < 0x7FFF0000, (mult + (1 << 15)) >> 16, 0x7FFF)
        t = 15 - shift
        if np.any(t > 62) or any(int(bd) * int(mm) + (1 << (int(tt) - 1)) >= (1 << 62)
                                 for bd, mm, tt in zip(bound, m, t)):
            raise unsupported(node, "an int64 accumulator that could overflow")
    else:
        if np.any(shift > 30) or np.any(shift < -31):
            raise unsupported(node, "a requantization shift outside [-31, 30]")
        m, t = mult, shift
    lo, hi = activation_range(node, out)
    data = rows if layout is None else layout
    return dict(in_offset=in_offset, out_offset=out_offset, act_min=lo, act_max=hi,
                wide=int(wide), weights=ctx.array("w", "int8_t", data),
                bias=ctx.array("b", "int64_t", bias) if b is not None else None,
                mult=ctx.array("m", "int32_t", m), shift=ctx.array("s", "int32_t", t))


def _window16(node: Node, x: Value, out: Value, kh: int, kw: int):
    a = node.attrs
    return make_window(node, x.shape[1:3], (kh, kw),
                       (int(a.get("stride_h", 1)), int(a.get("stride_w", 1))),
                       (int(a.get("dilation_h_factor", 1) or 1),
                        int(a.get("dilation_w_factor", 1) or 1)), out.shape[1:3])


@emitter("CONV_2D", when=lambda n: _dt(n) == "int16", dtypes=("int16",))
def emit_conv_s16(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    _require_quant(node, x, w, out)
    if out.dtype != "int16" or w.dtype != "int8":
        raise unsupported(node, f"int16 input with {w.dtype} weights and {out.dtype} output")
    if len(x.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, "non-4-D tensors")
    n, h, wd, c = x.shape
    cout, kh, kw, cg = w.shape
    if cg != c:
        raise unsupported(node, "grouped convolution")
    if b is not None and b.dtype not in ("int32", "int64"):
        raise unsupported(node, f"{b.dtype} bias")
    wide = not ((b is not None and b.dtype == "int32")
                or (b is None and node.attrs.get("quantized_bias_type") == "int32"))
    win = _window16(node, x, out, kh, kw)
    fields = dict(batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=cout,
                  k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw, dil_h=win.dh,
                  dil_w=win.dw, pad_t=win.pad_t, pad_l=win.pad_l)
    fields.update(_conv16_fields(ctx, node, x, w, b, out, wide, 0, 0))
    p = ctx.params("pj_conv16_params", fields)
    return Emitted(f"pj_conv_s16(&{p}, {{in0}}, {{out0}});", sources=SOURCES_CONV)


@emitter("DEPTHWISE_CONV_2D", when=lambda n: _dt(n) == "int16", dtypes=("int16",))
def emit_dwconv_s16(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    _require_quant(node, x, w, out)
    if out.dtype != "int16" or w.dtype != "int8" or len(x.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, f"int16 input with {w.dtype} weights and {out.dtype} output")
    if b is not None and b.dtype != "int64":
        raise unsupported(node, "an int16 depthwise convolution with a non-int64 bias")
    n, h, wd, c = x.shape
    one, kh, kw, cout = w.shape
    if one != 1 or cout % c or out.shape[3] != cout:
        raise unsupported(node, f"depthwise weights {list(w.shape)} for {c} channels")
    win = _window16(node, x, out, kh, kw)
    taps = w.data.reshape(kh * kw, cout)
    fields = dict(batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=cout,
                  k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw, dil_h=win.dh,
                  dil_w=win.dw, pad_t=win.pad_t, pad_l=win.pad_l)
    fields.update(_conv16_fields(ctx, node, x, w, b, out, True, 0, 0, rows=taps.T,
                                 layout=taps))
    p = ctx.params("pj_conv16_params", fields)
    return Emitted(f"pj_dwconv_s16(&{p}, {{in0}}, {{out0}});", sources=SOURCES_CONV)


@emitter("FULLY_CONNECTED", when=lambda n: _dt(n) == "int16", dtypes=("int16",))
def emit_fc_s16(ctx: Context, node: Node) -> Emitted:
    from picojoule.ops import matmul as ref

    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    _require_quant(node, x, w, out)
    if out.dtype != "int16" or w.dtype != "int8":
        raise unsupported(node, f"int16 input with {w.dtype} weights and {out.dtype} output")
    if node.attrs.get("weights_format", 0) not in (0, "DEFAULT"):
        raise unsupported(node, f"weights_format {node.attrs['weights_format']}")
    if b is not None and b.dtype not in ("int32", "int64"):
        raise unsupported(node, f"{b.dtype} bias")
    batches, k, units = ref._fc_geometry(node)
    mult, shift, w_off = ref._fc_requant_params(node)
    if w_off:
        raise unsupported(node, "weights with a nonzero zero point")
    wide = not ((b is not None and b.dtype == "int32")
                or (b is None and node.attrs.get("quantized_bias_type") == "int32"))
    # A fully connected layer is a 1x1 convolution over `batches` pixels.
    fields = dict(batches=batches, in_h=1, in_w=1, in_c=k, out_h=1, out_w=1, out_c=units,
                  k_h=1, k_w=1, stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_t=0, pad_l=0)
    fields.update(_conv16_fields(ctx, node, x, w, b, out, wide, -x.quant.zp0,
                                 out.quant.zp0, rows=w.data.reshape(units, k),
                                 mult_shift=(mult, shift)))
    p = ctx.params("pj_conv16_params", fields)
    return Emitted(f"pj_conv_s16(&{p}, {{in0}}, {{out0}});", sources=SOURCES_CONV)


@emitter("TRANSPOSE_CONV", when=lambda n: _dt(n, 2) in ("int8", "int16"),
         dtypes=("int8", "int16"))
def emit_tconv(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(2), node.input(1), node.input(3), node.outputs[0]
    _require_quant(node, x, w, out)
    if out.dtype != x.dtype or w.dtype != "int8":
        raise unsupported(node, f"{x.dtype} input with {w.dtype} weights, {out.dtype} output")
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, "non-4-D tensors")
    n, h, wd, c = x.shape
    cout, kh, kw, cin = w.shape
    if cin != c or out.shape[3] != cout or out.shape[0] != n:
        raise unsupported(node, f"input {list(x.shape)} with weights {list(w.shape)}")
    ok = ("int32",) if x.dtype == "int8" else ("int16", "int64")
    if b is not None and b.dtype not in ok:
        raise unsupported(node, f"{x.dtype} transpose convolution with a {b.dtype} bias")
    sh, sw = int(node.attrs.get("stride_h", 1)), int(node.attrs.get("stride_w", 1))
    padding = node.attrs.get("padding", "SAME")
    if padding not in ("SAME", "VALID"):
        raise unsupported(node, f"padding {padding}")
    oh, ow = out.shape[1], out.shape[2]
    pt, pl = _pad_before(padding, oh, kh, sh, 1), _pad_before(padding, ow, kw, sw, 1)
    int8 = x.dtype == "int8"
    fields = dict(batches=n, in_h=h, in_w=wd, in_c=c, out_h=oh, out_w=ow, out_c=cout,
                  k_h=kh, k_w=kw, stride_h=sh, stride_w=sw, dil_h=1, dil_w=1,
                  pad_t=pt, pad_l=pl)
    fields.update(_conv16_fields(ctx, node, x, w, b, out, not int8,
                                 -x.quant.zp0 if int8 else 0, out.quant.zp0 if int8 else 0))
    p = ctx.params("pj_conv16_params", fields)
    fn = "pj_tconv_s8" if int8 else "pj_tconv_s16"
    return Emitted(f"{fn}(&{p}, {{in2}}, {{out0}}, (int64_t *){{scratch}});",
                   scratch=8 * oh * ow * cout, sources=SOURCES_CONV)


# --------------------------------------------------------------------------- SOFTMAX
@emitter("SOFTMAX", when=lambda n: _dt(n) == "int8" and n.outputs[0].dtype == "int16",
         dtypes=("int8",))
def emit_softmax_s8_s16(ctx: Context, node: Node) -> Emitted:
    from picojoule.backends.c.emitters.softmax import exp_table

    x, y = node.inputs[0], node.outputs[0]
    _require_quant(node, x, y)
    if y.quant.zp0 != -32768 or abs(float(y.quant.scale0) - 1 / 65536) > 0.001 / 65536:
        raise unsupported(node, "int16 output quantization other than (1/65536, -32768)")
    depth = x.shape[-1] if x.shape else 1
    if depth * (1 << 19) > (1 << 31) - 1:
        raise unsupported(node, f"a softmax over {depth} values (the Q12.19 sum could wrap)")
    table = exp_table(float(node.attrs.get("beta", 1.0)), float(x.quant.scale0))
    p = ctx.params("pj_softmax16_params", dict(
        rows=x.size // depth, depth=depth, exp_table=ctx.array("exp", "int32_t", table)))
    return Emitted(f"pj_softmax_s8_s16(&{p}, {{in0}}, {{out0}});", sources=("pj_softmax16.c",))


@emitter("SOFTMAX", when=lambda n: _dt(n) == "int16", dtypes=("int16",))
def emit_softmax_s16(ctx: Context, node: Node) -> Emitted:
    from picojoule.ops.activations import softmax_int16_constants

    x, y = node.inputs[0], node.outputs[0]
    _require_quant(node, x, y)
    if y.dtype != "int16":
        raise unsupported(node, f"int16 input with {y.dtype} output")
    depth = x.shape[-1] if x.shape else 1
    if depth > 65536:
        raise unsupported(node, f"a softmax over {depth} values (the int32 sum could wrap)")
    exp_lut, recip_lut, mult, shift = softmax_int16_constants(
        node, x, y, float(node.attrs.get("beta", 0.0)))  # the reference kernel's default
    p = ctx.params("pj_softmax_s16_params", dict(
        rows=x.size // depth, depth=depth, multiplier=mult, shift=shift,
        exp_lut=ctx.array("explut", "int16_t", exp_lut),
        recip_lut=ctx.array("reciplut", "int16_t", recip_lut)))
    return Emitted(f"pj_softmax_s16(&{p}, {{in0}}, {{out0}});", sources=("pj_softmax16.c",))


# --------------------------------------------------------------------------- float <-> int16
@emitter("QUANTIZE", when=lambda n: _dt(n) == "float32" and n.outputs[0].dtype == "int16",
         dtypes=("float32",))
def emit_quantize_f32_s16(ctx: Context, node: Node) -> Emitted:
    from picojoule.backends.c.generator import _c_float

    y = node.outputs[0]
    if y.quant is None or y.quant.scale.size != 1:
        raise unsupported(node, "an output without per-tensor quantization")
    scale = _c_float(float(np.float32(y.quant.scale0)))
    return Emitted(f"pj_quantize_f32_s16({y.size}, {scale}, {int(y.quant.zp0)}, {{in0}}, "
                   "{out0});", sources=SOURCES_EW)


@emitter("DEQUANTIZE", when=lambda n: _dt(n) == "int16", dtypes=("int16",))
def emit_dequantize_s16(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    if y.dtype != "float32" or x.quant is None:
        raise unsupported(node, f"int16 -> {y.dtype} without quantization")
    scale = float(np.float32(x.quant.scale0)).hex()  # the float32 scale, widened exactly
    return Emitted(f"pj_dequantize_s16_f32({x.size}, {scale}, {int(x.quant.zp0)}, {{in0}}, "
                   "{out0});", sources=SOURCES_EW)


# --------------------------------------------------------------------------- pooling
@emitter("MAX_POOL_2D", when=lambda n: _dt(n) in ("int8", "int16"), dtypes=("int8", "int16"))
@emitter("AVERAGE_POOL_2D", when=lambda n: _dt(n) == "int16", dtypes=("int16",))
def emit_pool_int(ctx: Context, node: Node) -> Emitted:
    x, out = node.inputs[0], node.outputs[0]
    if x.dtype != out.dtype or len(x.shape) != 4 or len(out.shape) != 4 \
            or out.shape[3] != x.shape[3]:
        raise unsupported(node, f"{x.dtype}{list(x.shape)} -> {out.dtype}{list(out.shape)}")
    _require_quant(node, x, out)
    if abs(float(x.quant.scale0) - float(out.quant.scale0)) > 1e-6 \
            or x.quant.zp0 != out.quant.zp0:
        raise unsupported(node, "different input and output quantization")
    a = node.attrs
    kh, kw = int(a.get("filter_height", 1)), int(a.get("filter_width", 1))
    win = make_window(node, x.shape[1:3], (kh, kw),
                      (int(a.get("stride_h", 1)), int(a.get("stride_w", 1))), (1, 1),
                      out.shape[1:3])
    is_max = node.op == "MAX_POOL_2D"
    n, h, w, c = x.shape
    if not is_max:
        for o, st, pad, k, size in ((win.oh, win.sh, win.pad_t, kh, h),
                                    (win.ow, win.sw, win.pad_l, kw, w)):
            if any(min(size, i * st - pad + k) - max(0, i * st - pad) <= 0 for i in range(o)):
                raise unsupported(node, "a pooling window with no tap inside the input")
    lo, hi = activation_range(node, out)
    p = ctx.params("pj_pooli_params", dict(
        batches=n, in_h=h, in_w=w, channels=c, out_h=win.oh, out_w=win.ow, k_h=kh, k_w=kw,
        stride_h=win.sh, stride_w=win.sw, pad_t=win.pad_t, pad_l=win.pad_l,
        elem=_ELEM[x.dtype], is_max=int(is_max), act_min=lo, act_max=hi))
    return Emitted(f"pj_pool_int(&{p}, {{in0}}, {{out0}});", sources=SOURCES_EW)
