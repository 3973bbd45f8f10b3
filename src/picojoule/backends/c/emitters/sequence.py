"""Stateful sequence emitters: SVDF (int8, int8/int16 state).

The activation state is a variable tensor: the generator keeps it in a static buffer outside
the arena (persisting across invokes, reset by ``<name>_reset()``) and passes its pointer as
the node's input 4. Constants follow ``picojoule.ops.sequence`` (TFLM's float32 effective
scales widened to double).
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.generator import CTYPES, Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops.common import dtype_range
from picojoule.ops.sequence import svdf_geometry
from picojoule.quant.fixedpoint import quantize_multiplier

F32 = np.float32


@emitter("SVDF", when=lambda n: n.input(0) is not None and n.input(0).dtype == "int8",
         dtypes=("int8",))
def emit_svdf(ctx: Context, node: Node) -> Emitted:
    x, wf, wt, bias, st = (node.input(i) for i in range(5))
    out = node.outputs[0]
    batch, n_in, filters, memory, rank, units = svdf_geometry(node)
    if wf.dtype != "int8" or out.dtype != "int8" or wt.dtype not in ("int8", "int16") \
            or st.dtype != wt.dtype:
        raise unsupported(node, f"{wf.dtype}/{wt.dtype} weights, {st.dtype} state")
    if bias is None or bias.dtype != "int32" or not (wf.is_const and wt.is_const
                                                     and bias.is_const):
        raise unsupported(node, "a missing int32 bias or non-constant weights")
    for v in (x, wf, wt, st, out):
        if v.quant is None or v.quant.scale.size != 1:
            raise unsupported(node, f"tensor {v.name!r} without per-tensor quantization")
    s_in, s_wf, s_wt, s_st, s_out = (F32(v.quant.scale0) for v in (x, wf, wt, st, out))
    # TFLM computes both effective scales in float32, then widens to double.
    m1, sh1 = quantize_multiplier(float(F32(F32(s_in * s_wf) / s_st)))
    m2, sh2 = quantize_multiplier(float(F32(F32(s_st * s_wt) / s_out)))
    if m1 < 0 or m2 < 0:
        raise unsupported(node, "a negative scale")
    lo, hi = dtype_range(st.dtype)
    p = ctx.params("pj_svdf_params", dict(
        batches=batch, inputs=n_in, filters=filters, memory=memory, rank=rank, units=units,
        in_offset=-x.quant.zp0, state_zp=st.quant.zp0, out_zp=out.quant.zp0,
        state_is_16=int(st.dtype == "int16"), m1=m1, s1=sh1, m2=m2, s2=sh2,
        state_min=lo, state_max=hi,
        weights_feature=ctx.array("wf", "int8_t", wf.data),
        weights_time="(const void *)" + ctx.array("wt", CTYPES[wt.dtype], wt.data),
        bias=ctx.array("b", "int32_t", bias.data)))
    return Emitted(f"pj_svdf_s8(&{p}, {{in0}}, {{in4}}, {{out0}});",
                   sources=("pj_sequence.c",))


_GATES = ("input", "forget", "cell", "output")   # the C kernel's gate order
_IN_W = {"input": 1, "forget": 2, "cell": 3, "output": 4}
_REC_W = {"input": 5, "forget": 6, "cell": 7, "output": 8}
_BIAS = {"input": 12, "forget": 13, "cell": 14, "output": 15}


@emitter("UNIDIRECTIONAL_SEQUENCE_LSTM",
         when=lambda n: n.input(0) is not None and n.input(0).dtype in ("int8", "int16"),
         dtypes=("int8", "int16"))
def emit_lstm(ctx: Context, node: Node) -> Emitted:
    """int8 (pj_lstm_s8) and int16x8 (pj_lstm_s16: int64 biases, 64-bit requantization)
    LSTMs with int8 weights and an int16 cell state."""
    from picojoule.ops import sequence as ref
    from picojoule.quant.fixedpoint import sigmoid_table_uint16

    x, out = node.input(0), node.outputs[0]
    for i, what in ref._OPTIONAL_VARIANTS.items():
        if node.input(i) is not None:
            raise unsupported(node, f"an LSTM with {what} tensors")
    if any(node.input(i) is None for i in [*range(1, 9), 12, 13, 14, 15, 18, 19]):
        raise unsupported(node, "an LSTM without all four gates (CIFG)")
    h_v, c_v = node.input(18), node.input(19)
    if not (h_v.variable and c_v.variable):
        raise unsupported(node, "non-variable hidden/cell state tensors")
    if len(x.shape) != 3 or len(out.shape) != 3 or node.attrs.get("diagonal_recurrent_tensors"):
        raise unsupported(node, "a non-3-D input/output or diagonal recurrent weights")
    time_major = bool(node.attrs.get("time_major", False))
    steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    n_in = x.shape[2]
    S = h_v.size // batch
    if node.attrs.get("fused_activation_function", "TANH") != "TANH":
        raise unsupported(node, "a cell activation other than TANH")
    wide = x.dtype == "int16"
    if h_v.dtype != x.dtype or out.dtype != x.dtype or c_v.dtype != "int16":
        raise unsupported(node, f"{h_v.dtype} hidden / {c_v.dtype} cell state")
    if out.shape[2] != S or c_v.size != batch * S:
        raise unsupported(node, "state/output shapes that do not match the input")
    s_x, zp_x = ref._quant(node, x, "input")
    s_h, zp_h = ref._quant(node, h_v, "hidden state")
    s_c, _ = ref._quant(node, c_v, "cell state")
    h_lo, h_hi = dtype_range(h_v.dtype)
    fields: dict = dict(time_major=int(time_major), steps=steps, batches=batch, inputs=n_in,
                        units=S, in_offset=-zp_x, h_zp=zp_h, h_min=h_lo, h_max=h_hi)
    w_in, w_rec, biases, im, ish, rm, rsh = [], [], [], [], [], [], []
    for g in _GATES:
        wi, wr, b = node.input(_IN_W[g]), node.input(_REC_W[g]), node.input(_BIAS[g])
        if wi.shape != (S, n_in) or wr.shape != (S, S) or b.shape != (S,):
            raise unsupported(node, f"{g} gate weights/bias of unexpected shape")
        bias_type = "int64" if wide else "int32"
        if wi.dtype != "int8" or wr.dtype != "int8" or b.dtype != bias_type or not (
                wi.is_const and wr.is_const and b.is_const):
            raise unsupported(node, f"non-constant or non-int8 weights, non-{bias_type} biases")
        s_wi, zp_wi = ref._quant(node, wi, f"input-to-{g} weights")
        s_wr, zp_wr = ref._quant(node, wr, f"recurrent-to-{g} weights")
        if zp_wi or zp_wr:
            raise unsupported(node, "weights with a nonzero zero point")
        m_i, s_i = quantize_multiplier(float(F32(F32(s_x) * F32(s_wi))) / 2.0 ** -12)
        m_r, s_r = quantize_multiplier(float(F32(F32(s_h) * F32(s_wr))) / 2.0 ** -12)
        if wide:  # TFLM's 64-bit requantizer: 16-bit multiplier, one rounding shift
            (m_i, s_i), (m_r, s_r) = _reduce64(node, m_i, s_i), _reduce64(node, m_r, s_r)
        w_in.append(ctx.array("wi", "int8_t", wi.data))
        w_rec.append(ctx.array("wr", "int8_t", wr.data))
        biases.append(ctx.array("b", "int64_t" if wide else "int32_t", b.data))
        im, ish, rm, rsh = im + [m_i], ish + [s_i], rm + [m_r], rsh + [s_r]
    tanh_mult, tanh_shift = ref._lstm_tanh_params(ref._checked_log2(s_c))
    m_fc, s_fc = ref._mul_params(2.0 ** -15, s_c, s_c)
    m_ic, s_ic = ref._mul_params(2.0 ** -15, 2.0 ** -15, s_c)
    m_oh, s_oh = ref._mul_params(2.0 ** -15, 2.0 ** -15, s_h)
    cell_clip = float(F32(node.attrs.get("cell_clip", 0.0)))
    qclip = int(min(max(cell_clip / float(s_c), -32768.0), 32767.0)) if cell_clip > 0 else 0
    if min(m_fc, m_ic, m_oh, *im, *rm) < 0:
        raise unsupported(node, "a negative scale")
    fields.update(w_in=w_in, w_rec=w_rec, bias=biases, in_mult=im, in_shift=ish, rec_mult=rm,
                  rec_shift=rsh, fc_mult=m_fc, fc_shift=s_fc, ic_mult=m_ic, ic_shift=s_ic,
                  oh_mult=m_oh, oh_shift=s_oh, tanh_mult=tanh_mult, tanh_shift=tanh_shift,
                  cell_clip=qclip,
                  sigmoid_lut=ctx.array("sig", "int32_t", sigmoid_table_uint16()))
    if wide:
        p = ctx.params("pj_lstm16_params", fields)
        return Emitted(f"pj_lstm_s16(&{p}, {{in0}}, {{in18}}, {{in19}}, {{out0}}, "
                       "(int32_t *){scratch});", scratch=16 * S, sources=("pj_recurrent.c",))
    p = ctx.params("pj_lstm_params", fields)
    return Emitted(f"pj_lstm_s8(&{p}, {{in0}}, {{in18}}, {{in19}}, {{out0}}, "
                   "(int32_t *){scratch});", scratch=16 * S, sources=("pj_sequence.c",))


def _reduce64(node: Node, mult: int, shift: int) -> tuple[int, int]:
    """(16-bit reduced multiplier, total right shift) of TFLM's int64-input
    MultiplyByQuantizedMultiplier (quant.fixedpoint.multiply_by_quantized_multiplier_int64)."""
    reduced = (mult + (1 << 15)) >> 16 if mult < 0x7FFF0000 else 0x7FFF
    total = 15 - shift
    if not 1 <= total <= 62:
        raise unsupported(node, f"a 64-bit requantization shift of {total}")
    return reduced, total


_SVDF_ACTS = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "SIGN_BIT": 4, "TANH": 0}


@emitter("SVDF", when=lambda n: n.input(0) is not None and n.input(0).dtype == "float32",
         dtypes=("float32",))
def emit_svdf_f32(ctx: Context, node: Node) -> Emitted:
    """float32 SVDF (pj_svdf_f32): sums in double, as the reference; a TANH activation runs
    pj_tanh_f32 over the output afterwards."""
    x, wf, wt, bias, st = (node.input(i) for i in range(5))
    out = node.outputs[0]
    batch, n_in, filters, memory, rank, units = svdf_geometry(node)
    if {wf.dtype, wt.dtype, st.dtype, out.dtype} != {"float32"} or (
            bias is not None and bias.dtype != "float32"):
        raise unsupported(node, "a float32 SVDF with non-float32 tensors (hybrid)")
    if not (wf.is_const and wt.is_const and (bias is None or bias.is_const)):
        raise unsupported(node, "non-constant weights or bias")
    act = node.attrs.get("fused_activation_function", "NONE")
    if act not in _SVDF_ACTS:
        raise unsupported(node, f"fused activation {act}")
    b = bias.data if bias is not None else np.zeros(units, np.float32)
    p = ctx.params("pj_svdf_f32_params", dict(
        batches=batch, inputs=n_in, filters=filters, memory=memory, rank=rank, units=units,
        activation=_SVDF_ACTS[act], weights_feature=ctx.array("wf", "float", wf.data),
        weights_time=ctx.array("wt", "float", wt.data), bias=ctx.array("b", "float", b)))
    call = f"pj_svdf_f32(&{p}, {{in0}}, {{in4}}, {{out0}});"
    sources: tuple[str, ...] = ("pj_recurrent.c",)
    if act == "TANH":
        call += f" pj_tanh_f32({out.size}, {{out0}}, {{out0}});"
        sources += ("pj_activation.c",)
    return Emitted(call, sources=sources)
