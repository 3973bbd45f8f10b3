"""Sequence ops with state: SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM (TFLM reference kernels).

Both ops own VARIABLE tensors (SVDF's activation state, the LSTM's hidden and cell
state): the interpreter hands them to the kernel as arrays that are updated in
place, so state carries over from one run to the next exactly as in TFLM.

Integer paths reproduce TFLM bit for bit:

- SVDF (``micro/kernels/svdf_common.cc``): int8 input and weights_feature, with the
  activation state and weights_time both int8 or both int16. The fused activation
  is NOT applied by TFLM's integer kernel (only the output's int8 clamp); float32
  applies it.
- LSTM (``micro/kernels/lstm_eval.h``): the "standard" LSTM only (no CIFG, peephole,
  projection or layer norm; TFLM rejects those). int8 or int16 activations, int8
  weights, int16 cell state. Every gate is ``act(FC(x) + FC(h))`` with both FCs
  requantized to Q3.12, sigmoid/tanh by TFLM's 256-entry LUT interpolation, and the
  element-wise products requantized by precomputed multipliers.

Speed: the input-to-gate products of all time steps are one float64 matmul
(integer products summed in float64 are exact while |sum| < 2**53); each time step
is then a few vectorised numpy calls over all batches and all four gates.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.common import dtype_range, require_quant
from picojoule.ops.registry import (Kernel, STATEFUL, register, unsupported)
from picojoule.quant.fixedpoint import (
    sigmoid_table_uint16,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_int64,
    quantize_multiplier,
    saturate,
    wrap_int32,
)

F32 = np.float32

# ------------------------------------------------------------------------------------------
# Shared integer helpers
# ------------------------------------------------------------------------------------------

#: sigmoid(i / 24) in unsigned 0.16 fixed point, i = 0..255, as TFLM's LSTM gates use it.
_SIGMOID_LUT = sigmoid_table_uint16()
# Entry 255 is never interpolated from (indices >= 255 saturate), so idx + 1 <= 255.


def _lut_interp(a: np.ndarray, frac_bits: int) -> np.ndarray:
    """``(lut[h] << frac_bits) + frac * (lut[h+1] - lut[h])`` with h = a >> frac_bits (< 255)."""
    h = np.minimum(a >> frac_bits, 254)
    lo = _SIGMOID_LUT[h]
    return (lo << frac_bits) + (a & ((1 << frac_bits) - 1)) * (_SIGMOID_LUT[h + 1] - lo)


def sigmoid_int16(x: np.ndarray) -> np.ndarray:
    """TFLM ``reference_integer_ops::Logistic`` (int16) as the LSTM calls it: Q3.12 -> Q0.15.

    The LSTM passes multiplier 0 / shift 0, i.e. the power-of-two case whose input
    multiplier is 3 (the LUT spans [-10.7, 10.7] in steps of 1/24).
    """
    v = x.astype(np.int64) * 3
    a = np.abs(v)
    r = np.where((a >> 9) >= 255, 0x7FFF << 10, _lut_interp(a, 9))
    r = np.where(v >= 0, r + (1 << 9), (1 << 25) - r + (1 << 9) - 1)
    return r >> 10


def tanh_int16(x: np.ndarray, multiplier: int, left_shift: int) -> np.ndarray:
    """TFLM ``reference_integer_ops::Tanh`` (int16): LUT of sigmoid, tanh(x) = 2 sig(2x) - 1."""
    if multiplier == 0:  # power-of-two input scale
        multiplier, left_shift = 3 << left_shift, 0
    rnd = (1 << (left_shift - 1)) if left_shift > 0 else 0
    v = (x.astype(np.int64) * multiplier + rnd) >> left_shift
    a = np.abs(v)
    r = np.where((a >> 8) >= 255, 0xFFFF << 8, _lut_interp(a, 8))
    r = np.where(v >= 0, r - (1 << 23) + (1 << 7), -r + (1 << 23) + (1 << 7) - 1)
    return r >> 8


def _lstm_tanh_params(scale_power: int) -> tuple[int, int]:
    """(input_multiplier, input_left_shift) of TFLM ``lstm_internal::Tanh`` for 2^power input."""
    shift = 15 + scale_power - 3
    if shift < 0:
        return 3, -shift
    return 0, shift


def _checked_log2(x: float) -> int:
    """TFLM ``CheckedLog2``: round(log(x) / log(2)) in float32 (the check result is ignored)."""
    v = F32(math.log(F32(x))) * F32(1.0 / F32(math.log(2.0)))
    return int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))


def _mul_params(s1: float, s2: float, s_out: float) -> tuple[int, int]:
    """TFLM ``CreateInterGateMulParams``: double(s1) * double(s2) / double(s_out)."""
    return quantize_multiplier(float(s1) * float(s2) / float(s_out))


def _mul_requant(a: np.ndarray, b: np.ndarray, mult: int, shift: int, offset: int,
                 lo: int, hi: int) -> np.ndarray:
    """``reference_integer_ops::MulElementwise`` with zero input offsets (symmetric gates)."""
    return saturate(multiply_by_quantized_multiplier(a * b, mult, shift) + offset, lo, hi)


def _quant(node: Node, v: Value | None, what: str) -> tuple[float, int]:
    require_quant(node, v, what)
    assert v is not None and v.quant is not None
    if v.quant.per_channel:
        raise unsupported(node, f"per-channel quantized {what}")
    return v.quant.scale0, v.quant.zp0


# ------------------------------------------------------------------------------------------
# SVDF
# ------------------------------------------------------------------------------------------

def _svdf_macs(node: Node) -> int:
    x, wf, wt = node.inputs[0], node.inputs[1], node.inputs[2]
    batch = x.shape[0]
    filters, inp = wf.shape
    memory = wt.shape[1]
    return batch * (filters * inp + filters * memory)


def _write_back(state: np.ndarray, view: np.ndarray) -> None:
    """Persist the updated state if reshaping it had to copy (non-contiguous array)."""
    if not np.shares_memory(state, view):
        state[...] = view.reshape(state.shape)


def _float_activation(node: Node, act: str) -> Callable[[np.ndarray], np.ndarray]:
    """TFLM ``ActivationValFloat`` for SVDF's float path."""
    fns: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "NONE": lambda v: v,
        "RELU": lambda v: np.maximum(v, F32(0)),
        "RELU_N1_TO_1": lambda v: np.clip(v, F32(-1), F32(1)),
        "RELU6": lambda v: np.clip(v, F32(0), F32(6)),
        "TANH": lambda v: np.tanh(v).astype(F32),
        "SIGN_BIT": lambda v: np.signbit(v).astype(F32),
    }
    if act not in fns:
        raise unsupported(node, f"fused activation {act}")
    return fns[act]


def svdf_geometry(node: Node) -> tuple[int, int, int, int, int, int]:
    """SVDF's shape rule: (batch, input size, filters, memory, rank, units), or a clear error.

    Inputs: input [batch, n_in], feature weights [filters, n_in], time weights
    [filters, memory], optional bias, variable state [batch, filters * memory]; output
    [batch, filters / rank]. The C emitter checks the same rule.
    """
    x, wf, wt, state_v = node.input(0), node.input(1), node.input(2), node.input(4)
    out = node.outputs[0]
    if x is None or wf is None or wt is None or state_v is None:
        raise unsupported(node, "a missing input, weights or state tensor")
    if not state_v.variable:
        raise unsupported(node, "a non-variable activation state")
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2:
        raise unsupported(node, "input/weights that are not 2-D")
    rank = int(node.attrs.get("rank", 0))
    batch, n_in = x.shape
    filters, memory = wt.shape
    if rank <= 0 or filters % rank or wf.shape != (filters, n_in):
        raise unsupported(node, f"rank {rank} with weights {wf.shape}/{wt.shape}")
    units = filters // rank
    if state_v.size != batch * filters * memory or out.shape != (batch, units):
        raise unsupported(node, "state/output shapes that do not match the weights")
    return batch, n_in, filters, memory, rank, units


def _state_check(node: Node, shapes, index: int, need: int, what: str) -> None:
    """A state tensor (input ``index``) must hold ``need`` values (TFLite checks the count)."""
    shape = shapes[index] if index < len(shapes) else None
    if shape is None:
        raise unsupported(node, f"a missing {what} tensor")
    have = int(np.prod(shape, dtype=np.int64))
    if have != need:
        raise unsupported(node, f"a {what} of shape {tuple(shape)} ({have} values) where the "
                                f"input's batch needs {need}")


def _svdf_shape(node: Node, shapes, consts) -> list:
    """[batch, filters / rank]; the state [batch, filters * memory] must match the batch."""
    x, wf, wt = shapes[0], shapes[1], shapes[2]
    if x is None or wf is None or wt is None or len(x) != 2 or len(wf) != 2 or len(wt) != 2:
        raise unsupported(node, "an input or weights that are not 2-D")
    rank = int(node.attrs.get("rank", 0))
    filters, memory = wt
    if rank <= 0 or filters % rank or tuple(wf) != (filters, x[1]):
        raise unsupported(node, f"rank {rank} with weights {tuple(wf)}/{tuple(wt)}")
    _state_check(node, shapes, 4, x[0] * filters * memory, "activation state")
    return [(x[0], filters // rank)]


@register("SVDF", operands="x:2, w_feature:2, w_time:2, bias?:1, state:2 -> y:2", shape=_svdf_shape,
          traits=(STATEFUL,), macs=_svdf_macs, oracle="TFLM", dtypes=("float32", "int8"))
def prepare_svdf(node: Node) -> Kernel:
    """Singular value decomposition filter: feature matmul into a shifting memory, time dot."""
    x, wf, wt = node.inputs[0], node.inputs[1], node.inputs[2]
    bias, state_v = node.input(3), node.input(4)
    out = node.outputs[0]
    batch, n_in, filters, memory, rank, units = svdf_geometry(node)
    if not wf.is_const or not wt.is_const or (bias is not None and not bias.is_const):
        raise unsupported(node, "non-constant weights or bias")
    act = node.attrs.get("fused_activation_function", "NONE")

    if x.dtype == "float32":
        if {wf.dtype, wt.dtype, state_v.dtype, out.dtype} != {"float32"} or (
                bias is not None and bias.dtype != "float32"):
            raise unsupported(node, "a float32 SVDF with non-float32 tensors")
        return _svdf_float(node, wf, wt, bias, batch, filters, memory, rank, units, act)

    if x.dtype != "int8" or wf.dtype != "int8" or out.dtype != "int8":
        raise unsupported(node, f"{x.dtype} input with {wf.dtype} weights -> {out.dtype}")
    if wt.dtype not in ("int8", "int16") or state_v.dtype != wt.dtype:
        # TFLM picks the state type from weights_time; a mismatched state would be misread.
        raise unsupported(node, f"{wt.dtype} weights_time with a {state_v.dtype} state")
    if bias is None or bias.dtype != "int32":
        # TFLM's Prepare dereferences the bias (a bias-less SVDF crashes it).
        raise unsupported(node, "an integer SVDF without an int32 bias")
    s_in, zp_in = _quant(node, x, "input")
    s_wf, _ = _quant(node, wf, "weights_feature")
    s_wt, _ = _quant(node, wt, "weights_time")
    s_st, zp_st = _quant(node, state_v, "activation state")
    s_out, zp_out = _quant(node, out, "output")
    # TFLM computes both effective scales in float32, then widens to double.
    m1, sh1 = quantize_multiplier(float(F32(F32(F32(s_in) * F32(s_wf)) / F32(s_st))))
    m2, sh2 = quantize_multiplier(float(F32(F32(F32(s_st) * F32(s_wt)) / F32(s_out))))
    st_lo, st_hi = dtype_range(state_v.dtype)
    st_np = to_numpy(state_v.dtype)
    w_feat = wf.data.astype(np.int64)
    w_time = wt.data.astype(np.int64)
    b = bias.data.astype(np.int64)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        xin, state = inputs[0], inputs[4]
        s3 = state.reshape(batch, filters, memory)
        s3[:, :, :-1] = s3[:, :, 1:]  # shift the memory left by one (numpy handles overlap)
        acc = (xin.astype(np.int64) - zp_in) @ w_feat.T                      # (B, F)
        act_new = saturate(multiply_by_quantized_multiplier(acc, m1, sh1), st_lo, st_hi)
        # TFLM stores zp + clamped value into the state type without re-clamping (C cast).
        s3[:, :, -1] = (act_new + zp_st).astype(st_np)
        # Time: int32 dot over the memory, reduce over rank, add bias (all int32 wrap).
        tdot = np.einsum("bfm,fm->bf", s3.astype(np.int64) - zp_st, w_time)
        red = tdot.reshape(batch, units, rank).sum(axis=2) + b
        y = multiply_by_quantized_multiplier(wrap_int32(red), m2, sh2) + zp_out
        _write_back(state, s3)
        return [saturate(y, -128, 127).astype(np.int8)]

    return run


def _svdf_float(node: Node, wf: Value, wt: Value, bias: Value | None, batch: int,
                filters: int, memory: int, rank: int, units: int, act: str) -> Kernel:
    activation = _float_activation(node, act)
    # A missing bias adds zero (LiteRT's reading; TFLM's Prepare crashes without one).
    w_feat = wf.data.astype(np.float64)
    w_time = wt.data.astype(np.float64)
    b = bias.data.astype(F32) if bias is not None else np.zeros(units, F32)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        xin, state = inputs[0], inputs[4]
        s3 = state.reshape(batch, filters, memory)
        s3[:, :, :-1] = s3[:, :, 1:]
        s3[:, :, -1] = (xin.astype(np.float64) @ w_feat.T).astype(F32)
        tdot = np.einsum("bfm,fm->bf", s3.astype(np.float64), w_time)
        red = b + tdot.reshape(batch, units, rank).sum(axis=2).astype(F32)
        _write_back(state, s3)
        return [activation(red.astype(F32)).astype(F32)]

    return run


# ------------------------------------------------------------------------------------------
# UNIDIRECTIONAL_SEQUENCE_LSTM
# ------------------------------------------------------------------------------------------

# TFLite's input order: weights 1-4 (input -> i, f, c, o), 5-8 (recurrent -> i, f, c, o),
# biases 12-15 (i, f, c, o). The kernels stack the gates as [i, f, o | c] so the three
# sigmoid gates form one contiguous slice.
_GATES = ("input", "forget", "output", "cell")
_IN_W = {"input": 1, "forget": 2, "cell": 3, "output": 4}
_REC_W = {"input": 5, "forget": 6, "cell": 7, "output": 8}
_BIAS = {"input": 12, "forget": 13, "cell": 14, "output": 15}
_OPTIONAL_VARIANTS = {9: "peephole", 10: "peephole", 11: "peephole", 16: "projection",
                      17: "projection", 20: "layer norm", 21: "layer norm",
                      22: "layer norm", 23: "layer norm"}


def _lstm_macs(node: Node) -> int:
    x = node.inputs[0]
    steps = x.shape[0] * x.shape[1] if len(x.shape) == 3 else 1
    weights = sum(node.input(i).size for i in (1, 2, 3, 4, 5, 6, 7, 8, 16)
                  if node.input(i) is not None)
    return steps * weights


def _sigmoid_float(v: np.ndarray) -> np.ndarray:
    """TFLM float ``Logistic``: exp(v) below -9, 1 above 16.619..., else 1/(1+exp(-v))."""
    with np.errstate(over="ignore"):
        mid = F32(1) / (F32(1) + np.exp(-v))
    return np.where(v > F32(16.619047164916992188), F32(1),
                    np.where(v < F32(-9), np.exp(v), mid)).astype(F32)


def _lstm_shape(node: Node, shapes, consts) -> list:
    """[time, batch, n_output] or [batch, time, n_output] like the input (n_output: the
    recurrent-to-output weights' columns); both state tensors must match the batch."""
    x, w_out, r_out = (shapes[i] if i < len(shapes) else None for i in (0, 4, 8))
    if x is None or w_out is None or r_out is None or len(x) != 3 or len(w_out) != 2 \
            or len(r_out) != 2:
        raise unsupported(node, "an input that is not 3-D or missing output-gate weights")
    batch = x[1] if node.attrs.get("time_major", False) else x[0]
    n_cell, n_output = w_out[0], r_out[1]
    _state_check(node, shapes, 18, batch * n_output, "output state")
    _state_check(node, shapes, 19, batch * n_cell, "cell state")
    return [(x[0], x[1], n_output)]


#: TFLite's 24 LSTM operands: input-to-gate and recurrent weights, peepholes, gate biases,
#: projection, the two state tensors, layer-norm coefficients (``?``: may be -1 or absent).
_LSTM_OPERANDS = ("x:3, w_i?:2, w_f:2, w_c:2, w_o:2, r_i?:2, r_f:2, r_c:2, r_o:2, p_i?:1, p_f?:1, "
                  "p_o?:1, b_i?:1, b_f:1, b_c:1, b_o:1, proj?:2, proj_b?:1, h:1-2, c:1-2, "
                  "ln_i?:1, ln_f?:1, ln_c?:1, ln_o?:1 -> y:3")


@register("UNIDIRECTIONAL_SEQUENCE_LSTM", operands=_LSTM_OPERANDS, shape=_lstm_shape,
          traits=(STATEFUL,), macs=_lstm_macs, oracle="TFLM",
          dtypes=("float32", "int8", "int16"))
def prepare_unidirectional_sequence_lstm(node: Node) -> Kernel:
    """LSTM over a sequence (standard Keras cell: no CIFG/peephole/projection/layer norm)."""
    x = node.input(0)
    out = node.outputs[0]
    for i, what in _OPTIONAL_VARIANTS.items():
        if node.input(i) is not None:
            raise unsupported(node, f"an LSTM with {what} tensors (TFLM rejects them)")
    needed = [1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15, 18, 19]
    if x is None or any(node.input(i) is None for i in needed):
        raise unsupported(node, "an LSTM without all four gates (CIFG)")
    h_v, c_v = node.input(18), node.input(19)
    if not (h_v.variable and c_v.variable):
        raise unsupported(node, "non-variable hidden/cell state tensors")
    if len(x.shape) != 3 or len(out.shape) != 3:
        raise unsupported(node, "an input/output that is not 3-D")
    time_major = bool(node.attrs.get("time_major", False))
    if node.attrs.get("diagonal_recurrent_tensors", False):
        raise unsupported(node, "diagonal recurrent weights")
    steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    n_in = x.shape[2]
    n_state = h_v.size // batch if batch else 0
    w_in = {g: node.input(_IN_W[g]) for g in _GATES}
    w_rec = {g: node.input(_REC_W[g]) for g in _GATES}
    biases = {g: node.input(_BIAS[g]) for g in _GATES}
    for g in _GATES:
        if w_in[g].shape != (n_state, n_in) or w_rec[g].shape != (n_state, n_state) \
                or biases[g].shape != (n_state,):
            raise unsupported(node, f"{g} gate weights/bias of unexpected shape")
        if not (w_in[g].is_const and w_rec[g].is_const and biases[g].is_const):
            raise unsupported(node, "non-constant weights or biases")
    if h_v.size != batch * n_state or c_v.size != batch * n_state \
            or out.shape[:2] != x.shape[:2] or out.shape[2] != n_state:
        raise unsupported(node, "state/output shapes that do not match the input")
    act = node.attrs.get("fused_activation_function", "TANH")
    if act != "TANH":
        raise unsupported(node, f"cell activation {act} (TFLM only evaluates TANH)")
    cell_clip = float(F32(node.attrs.get("cell_clip", 0.0)))
    wtype = w_in["forget"].dtype
    if any(w.dtype != wtype for w in [*w_in.values(), *w_rec.values()]):
        raise unsupported(node, "gate weights of different types")

    geom = (time_major, steps, batch, n_in, n_state)
    if x.dtype == "float32":
        if wtype != "float32" or c_v.dtype != "float32" or h_v.dtype != "float32" \
                or out.dtype != "float32" or any(b.dtype != "float32" for b in biases.values()):
            raise unsupported(node, "a float32 LSTM with non-float32 weights/state (hybrid)")
        return _lstm_float(w_in, w_rec, biases, cell_clip, geom)
    if x.dtype not in ("int8", "int16") or wtype != "int8":
        raise unsupported(node, f"{x.dtype} activations with {wtype} weights")
    if h_v.dtype != x.dtype or out.dtype != x.dtype or c_v.dtype != "int16":
        raise unsupported(node, f"{x.dtype} input with {h_v.dtype} hidden / {c_v.dtype} cell")
    bias_type = "int32" if x.dtype == "int8" else "int64"
    if any(b.dtype != bias_type for b in biases.values()):
        raise unsupported(node, f"{x.dtype} activations without {bias_type} biases")
    return _lstm_integer(node, x, h_v, c_v, w_in, w_rec, biases, cell_clip, geom)


def _to_time_major(a: np.ndarray, time_major: bool) -> np.ndarray:
    """(T, B, ...) view of a sequence tensor (its own inverse: swaps T and B back)."""
    return a if time_major else np.swapaxes(a, 0, 1)


def _lstm_integer(node: Node, x: Value, h_v: Value, c_v: Value, w_in: dict, w_rec: dict,
                  biases: dict, cell_clip: float, geom: tuple) -> Kernel:
    time_major, steps, batch, n_in, n_state = geom
    S = n_state
    s_x, zp_x = _quant(node, x, "input")
    s_h, zp_h = _quant(node, h_v, "hidden state")
    s_c, _ = _quant(node, c_v, "cell state")
    gate_scale = 2.0 ** -12  # FC outputs (gate pre-activations) are Q3.12
    in_mult, in_shift, rec_mult, rec_shift = [], [], [], []
    w_in_cols, w_rec_cols, bias_cols = [], [], []
    for g in _GATES:
        s_wi, zp_wi = _quant(node, w_in[g], f"input-to-{g} weights")
        s_wr, zp_wr = _quant(node, w_rec[g], f"recurrent-to-{g} weights")
        # GetQuantizedConvolutionMultipler: float32 product, widened, / output scale.
        mi, si = quantize_multiplier(float(F32(F32(s_x) * F32(s_wi))) / gate_scale)
        mr, sr = quantize_multiplier(float(F32(F32(s_h) * F32(s_wr))) / gate_scale)
        in_mult += [mi] * S
        in_shift += [si] * S
        rec_mult += [mr] * S
        rec_shift += [sr] * S
        w_in_cols.append((w_in[g].data.astype(np.int64) - zp_wi).T)
        w_rec_cols.append((w_rec[g].data.astype(np.int64) - zp_wr).T)
        bias_cols.append(biases[g].data.astype(np.int64))
    in_mult_a, in_shift_a = np.array(in_mult, np.int64), np.array(in_shift, np.int64)
    rec_mult_a, rec_shift_a = np.array(rec_mult, np.int64), np.array(rec_shift, np.int64)
    W_in = np.concatenate(w_in_cols, axis=1).astype(np.float64)     # (I, 4S)
    W_rec = np.concatenate(w_rec_cols, axis=1).astype(np.float64)   # (S, 4S)
    bias_all = np.concatenate(bias_cols)                             # (4S,)
    wide = x.dtype == "int16"  # 16x8: int64 accumulators and the 64-bit requantizer

    def fc_requant(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray) -> np.ndarray:
        if wide:
            y = multiply_by_quantized_multiplier_int64(acc, mult, shift)
        else:
            y = multiply_by_quantized_multiplier(wrap_int32(acc), mult, shift)
        return saturate(y, -32768, 32767)

    power = _checked_log2(s_c)
    tanh_mult, tanh_shift = _lstm_tanh_params(power)
    m_fc, s_fc = _mul_params(2.0 ** -15, s_c, s_c)           # forget x cell -> cell
    m_ic, s_ic = _mul_params(2.0 ** -15, 2.0 ** -15, s_c)    # input x cell gate -> cell
    m_oh, s_oh = _mul_params(2.0 ** -15, 2.0 ** -15, s_h)    # tanh(cell) x output -> hidden
    h_lo, h_hi = dtype_range(h_v.dtype)
    h_np = to_numpy(h_v.dtype)
    qclip = int(min(max(cell_clip / float(s_c), -32768.0), 32767.0)) if cell_clip > 0 else 0
    out_np = to_numpy(x.dtype)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        xs = _to_time_major(inputs[0], time_major).astype(np.float64) - zp_x  # (T, B, I)
        acc_in = (xs.reshape(-1, n_in) @ W_in).astype(np.int64) + bias_all  # exact ints
        gx = fc_requant(acc_in, in_mult_a, in_shift_a).reshape(steps, batch, 4 * S)
        h_arr, c_arr = inputs[18], inputs[19]
        h = h_arr.reshape(batch, S).astype(np.int64)
        c = c_arr.reshape(batch, S).astype(np.int64)
        ys = np.empty((steps, batch, S), out_np)
        for t in range(steps):
            acc_rec = ((h - zp_h).astype(np.float64) @ W_rec).astype(np.int64)
            pre = saturate(gx[t] + fc_requant(acc_rec, rec_mult_a, rec_shift_a),
                           -32768, 32767)
            sig = sigmoid_int16(pre[:, :3 * S])
            ig, fg, og = sig[:, :S], sig[:, S:2 * S], sig[:, 2 * S:]
            cg = tanh_int16(pre[:, 3 * S:], 3, 0)  # Q3.12 in: power -12 -> multiplier 3
            c = _mul_requant(fg, c, m_fc, s_fc, 0, -32768, 32767)
            c = saturate(c + _mul_requant(ig, cg, m_ic, s_ic, 0, -32768, 32767),
                         -32768, 32767)
            if cell_clip > 0:
                c = saturate(c, -qclip, qclip)
            h = _mul_requant(tanh_int16(c, tanh_mult, tanh_shift), og, m_oh, s_oh, zp_h,
                             h_lo, h_hi)
            ys[t] = h
        h_arr[...] = h.reshape(h_arr.shape).astype(h_np)
        c_arr[...] = c.reshape(c_arr.shape).astype(np.int16)
        return [np.ascontiguousarray(_to_time_major(ys, time_major))]

    return run


def _lstm_float(w_in: dict, w_rec: dict, biases: dict, cell_clip: float,
                geom: tuple) -> Kernel:
    time_major, steps, batch, n_in, n_state = geom
    S = n_state
    W_in = np.concatenate([w_in[g].data.T for g in _GATES], axis=1).astype(np.float64)
    W_rec = np.concatenate([w_rec[g].data.T for g in _GATES], axis=1).astype(np.float64)
    bias_all = np.concatenate([biases[g].data for g in _GATES]).astype(F32)
    clip = F32(cell_clip)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        xs = _to_time_major(inputs[0], time_major).astype(np.float64).reshape(-1, n_in)
        gx = ((xs @ W_in).astype(F32) + bias_all).reshape(steps, batch, 4 * S)
        h_arr, c_arr = inputs[18], inputs[19]
        h = h_arr.reshape(batch, S).astype(F32)
        c = c_arr.reshape(batch, S).astype(F32)
        ys = np.empty((steps, batch, S), F32)
        for t in range(steps):
            pre = gx[t] + (h.astype(np.float64) @ W_rec).astype(F32)
            sig = _sigmoid_float(pre[:, :3 * S])
            ig, fg, og = sig[:, :S], sig[:, S:2 * S], sig[:, 2 * S:]
            cg = np.tanh(pre[:, 3 * S:])
            c = fg * c + ig * cg
            if cell_clip > 0:
                c = np.clip(c, -clip, clip)
            h = (np.tanh(c) * og).astype(F32)
            ys[t] = h
        h_arr[...] = h.reshape(h_arr.shape)
        c_arr[...] = c.reshape(c_arr.shape)
        return [np.ascontiguousarray(_to_time_major(ys, time_major))]

    return run
