"""Activations, elementwise math and normalisation: the float32, int16 and remaining int8
configurations (kernels in pj_activation.c; int8 elementwise ops are lut.py's tables).

- float32: LOGISTIC, TANH, EXP, LOG, SQRT, RSQRT, ABS, NEG, FLOOR, CEIL, ROUND, RELU,
  RELU6, RELU_N1_TO_1, LEAKY_RELU, HARD_SWISH, ELU, GELU (both forms), PRELU,
  L2_NORMALIZATION, LOG_SOFTMAX (float32 SOFTMAX is float.py's). The C has its own
  float32 exp/log/tanh/erfc/sqrt (no libm, no double): within a few ulps of float32 libm
  (see pj_activation.c).
- int16: LOGISTIC and TANH (TFLM's sigmoid-table algorithm), EXP / LOG / GELU (LiteRT's
  513-point interpolated tables), ABS / NEG / RELU / RELU6 (requantize and clamp), PRELU.
  Every int16 elementwise kernel is checked at generation time over the whole int16 input
  domain against the reference interpreter's own kernel: the C parameters reproduce its
  65,536 outputs exactly, or the node is refused.
- int8: PRELU (broadcast alpha), L2_NORMALIZATION, LOG_SOFTMAX. int32 / int64: NEG.

Every node is first prepared by the reference kernel, so the C backend refuses exactly the
configurations the reference refuses (one-line ``unsupported`` errors).
"""

from __future__ import annotations

import math

import numpy as np

from picojoule.backends.c.emitters.int16 import operand
from picojoule.backends.c.generator import (
    Context,
    Emitted,
    _c_float,
    emitter,
    unsupported,
)
from picojoule.errors import PicojouleError
from picojoule.ir import Node, Value
from picojoule.ops import activations as ref
from picojoule.ops.common import dtype_range
from picojoule.ops.registry import lookup
from picojoule.quant.fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    sigmoid_table_uint16,
    wrap_int32,
)

SOURCES = ("pj_activation.c",)
_mbqm = multiply_by_quantized_multiplier


def _dt(node: Node, i: int = 0) -> str:
    v = node.input(i)
    return v.dtype if v is not None else ""


def _out_dt(node: Node) -> str:
    return node.outputs[0].dtype if node.outputs else ""


def _prepare(node: Node):
    """The reference kernel for ``node`` (its refusals become the C backend's)."""
    try:
        return lookup(node).prepare(node)
    except PicojouleError as e:
        raise unsupported(node, str(e).split(": ", 1)[-1]) from None


def _check_shift(node: Node, mult: int, shift: int, what: str) -> None:
    if mult < 0 or not -31 <= shift <= 30:
        raise unsupported(node, f"{what} multiplier {mult} with shift {shift}")


# --------------------------------------------------------------------------- float32
_FLOAT_MAP = {"EXP": "pj_exp_f32", "LOG": "pj_log_f32", "SQRT": "pj_sqrt_f32",
              "RSQRT": "pj_rsqrt_f32", "ABS": "pj_abs_f32", "NEG": "pj_neg_f32",
              "FLOOR": "pj_floor_f32", "CEIL": "pj_ceil_f32", "ROUND": "pj_round_f32",
              "LOGISTIC": "pj_logistic_f32", "TANH": "pj_tanh_f32", "ELU": "pj_elu_f32",
              "HARD_SWISH": "pj_hard_swish_f32"}
_RELU_BOUNDS = {"RELU": (0.0, 0.0, 0), "RELU6": (0.0, 6.0, 1), "RELU_N1_TO_1": (-1.0, 1.0, 1)}
_FLOAT_UNARY = (*_FLOAT_MAP, *_RELU_BOUNDS, "GELU", "LEAKY_RELU")


def _is_f32(node: Node) -> bool:
    return _dt(node) == "float32" and _out_dt(node) == "float32"


@emitter(*_FLOAT_UNARY, when=_is_f32, dtypes=("float32",))
def emit_unary_f32(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    _prepare(node)
    if x.size != y.size:
        raise unsupported(node, f"input {list(x.shape)} with output {list(y.shape)}")
    n = x.size
    if node.op in _FLOAT_MAP:
        call = f"{_FLOAT_MAP[node.op]}({n}, {{in0}}, {{out0}});"
    elif node.op in _RELU_BOUNDS:
        lo, hi, has_hi = _RELU_BOUNDS[node.op]
        call = f"pj_relu_f32({n}, {_c_float(lo)}, {_c_float(hi)}, {has_hi}, {{in0}}, {{out0}});"
    elif node.op == "GELU":
        approx = int(bool(node.attrs.get("approximate", False)))
        call = f"pj_gelu_f32({n}, {approx}, {{in0}}, {{out0}});"
    else:  # LEAKY_RELU
        alpha = float(np.float32(node.attrs.get("alpha", 0.0)))
        if not math.isfinite(alpha):
            raise unsupported(node, f"alpha {alpha}")
        call = f"pj_leaky_relu_f32({n}, {_c_float(alpha)}, {{in0}}, {{out0}});"
    return Emitted(call, sources=SOURCES)


def _rows(node: Node, x: Value) -> tuple[int, int]:
    depth = x.shape[-1] if x.shape else 1
    if depth == 0 or x.size % depth:
        raise unsupported(node, f"input shape {list(x.shape)}")
    return x.size // depth, depth


@emitter("L2_NORMALIZATION", "LOG_SOFTMAX", when=_is_f32, dtypes=("float32",))
def emit_rows_f32(ctx: Context, node: Node) -> Emitted:
    x = node.inputs[0]
    _prepare(node)
    rows, depth = _rows(node, x)
    fn = "pj_l2norm_f32" if node.op == "L2_NORMALIZATION" else "pj_log_softmax_f32"
    return Emitted(f"{fn}({rows}, {depth}, {{in0}}, {{out0}});", sources=SOURCES)


# --------------------------------------------------------------------------- int8 rows
def _is_s8(node: Node) -> bool:
    return _dt(node) == "int8" and _out_dt(node) == "int8"


@emitter("L2_NORMALIZATION", when=_is_s8, dtypes=("int8",))
def emit_l2norm_s8(ctx: Context, node: Node) -> Emitted:
    x = node.inputs[0]
    _prepare(node)
    rows, depth = _rows(node, x)
    if depth > 32768:  # the int32 sum of squares could wrap
        raise unsupported(node, f"a row of {depth} values")
    return Emitted(f"pj_l2norm_s8({rows}, {depth}, {int(x.quant.zp0)}, {{in0}}, {{out0}});",
                   sources=SOURCES)


def log_softmax_tables(in_scale: float) -> dict:
    """TFLM's int8 LOG_SOFTMAX constants, as the reference kernel computes them."""
    real = min(1.0 * in_scale * (1 << 26), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier(real)
    reverse_mult, reverse_shift = quantize_multiplier((1 << (31 - left_shift)) / multiplier)
    diff_min = -math.floor(31.0 * (1 << 26) / (1 << left_shift))
    diffs = np.arange(-255, 1, dtype=np.int64)
    diff_q5 = _mbqm(diffs, multiplier, left_shift)
    exp_q12 = np.where(diffs >= diff_min,
                       ref._rescale(ref._exp_on_negative_values(diff_q5, 5), 0, 12), 0)
    return dict(diff_min=diff_min, reverse_mult=reverse_mult, reverse_shift=reverse_shift,
                diff_q5=diff_q5, exp_q12=exp_q12)


@emitter("LOG_SOFTMAX", when=_is_s8, dtypes=("int8",))
def emit_log_softmax_s8(ctx: Context, node: Node) -> Emitted:
    x = node.inputs[0]
    _prepare(node)
    rows, depth = _rows(node, x)
    if depth > 4096:  # each exponential is at most 2^19 in Q12.19: the sum could wrap
        raise unsupported(node, f"a row of {depth} values (the Q12.19 sum could wrap)")
    t = log_softmax_tables(float(x.quant.scale0))
    if not -31 <= t["reverse_shift"] <= 30:
        raise unsupported(node, f"input scale {float(x.quant.scale0):g}")
    p = ctx.params("pj_log_softmax_params", dict(
        rows=rows, depth=depth, diff_min=t["diff_min"], reverse_mult=t["reverse_mult"],
        reverse_shift=t["reverse_shift"], diff_q5=ctx.array("dq5", "int32_t", t["diff_q5"]),
        exp_q12=ctx.array("eq12", "int32_t", t["exp_q12"])))
    return Emitted(f"pj_log_softmax_s8(&{p}, {{in0}}, {{out0}});", sources=SOURCES)


# --------------------------------------------------------------------------- PRELU
_PRELU_RANK = 6


def broadcast_strides(shape: tuple[int, ...], out: tuple[int, ...]) -> list[int]:
    """Element strides of ``shape`` broadcast (right-aligned) to ``out`` (0 where
    broadcast); ValueError when it does not broadcast."""
    if len(shape) > len(out):
        raise ValueError("operand of higher rank than the output")
    full = (1,) * (len(out) - len(shape)) + tuple(shape)
    strides, acc = [0] * len(out), 1
    for i in range(len(out) - 1, -1, -1):
        if full[i] not in (1, out[i]):
            raise ValueError("shapes do not broadcast")
        strides[i] = acc if full[i] != 1 else 0
        acc *= full[i]
    return strides


def collapse(dims: list[int], *strides: list[int]) -> tuple[list[int], list[list[int]]]:
    """Merge neighbouring dimensions every operand walks contiguously; drop size-1 ones."""
    keep = [i for i, d in enumerate(dims) if d != 1]
    d_out = [dims[i] for i in keep] or [1]
    s_out = [[s[i] for i in keep] or [0] for s in strides]
    i = len(d_out) - 2
    while i >= 0:
        if all(s[i] == s[i + 1] * d_out[i + 1] for s in s_out):
            d_out[i] *= d_out[i + 1]
            del d_out[i + 1]
            for s in s_out:
                s[i] = s[i + 1]
                del s[i + 1]
        i -= 1
    return d_out, s_out


def _pad(values: list[int], fill: int) -> list[int]:
    return [fill] * (_PRELU_RANK - len(values)) + list(values)


@emitter("PRELU", when=lambda n: _dt(n) in ("float32", "int8", "int16"),
         dtypes=("float32", "int8", "int16"))
def emit_prelu(ctx: Context, node: Node) -> Emitted:
    x, alpha, y = node.input(0), node.input(1), node.outputs[0]
    _prepare(node)
    try:
        xs = broadcast_strides(x.shape, y.shape)
        as_ = broadcast_strides(alpha.shape, y.shape)
    except ValueError:
        raise unsupported(node, f"broadcasting {list(x.shape)} and {list(alpha.shape)} to "
                                f"{list(y.shape)}") from None
    dims, (xs, as_) = collapse(list(y.shape), xs, as_)
    if len(dims) > _PRELU_RANK:
        raise unsupported(node, f"a {len(dims)}-D broadcast")
    fields = dict(dims=_pad(dims, 1), x_strides=_pad(xs, 0), a_strides=_pad(as_, 0))
    if x.dtype == "float32":
        fields.update(in_zp=0, alpha_zp=0, out_zp=0, id_mult=0, id_shift=0, alpha_mult=0,
                      alpha_shift=0, q_min=0, q_max=0)
        fn = "pj_prelu_f32"
    else:
        in_s, a_s, out_s = (float(v.quant.scale0) for v in (x, alpha, y))
        m1, s1 = quantize_multiplier(in_s / out_s)
        m2, s2 = quantize_multiplier(in_s * a_s / out_s)
        _check_shift(node, m1, s1, "identity")
        _check_shift(node, m2, s2, "alpha")
        lo, hi = dtype_range(y.dtype)
        fields.update(in_zp=int(x.quant.zp0), alpha_zp=int(alpha.quant.zp0),
                      out_zp=int(y.quant.zp0), id_mult=m1, id_shift=s1, alpha_mult=m2,
                      alpha_shift=s2, q_min=lo, q_max=hi)
        fn = "pj_prelu_s8" if x.dtype == "int8" else "pj_prelu_s16"
    p = ctx.params("pj_prelu_params", fields)
    return Emitted(f"{fn}(&{p}, {operand(ctx, node, 0)}, {operand(ctx, node, 1)}, {{out0}});",
                   sources=SOURCES)


# --------------------------------------------------------------------------- int16
_S16 = np.arange(-32768, 32768, dtype=np.int64)


def reference_domain(node: Node) -> np.ndarray:
    """The reference kernel's output for every int16 input value (-32768 .. 32767)."""
    kernel = _prepare(node)
    x = node.inputs[0]
    consts = [None if v is None else v.data for v in node.inputs[1:]]
    vals = _S16.astype(np.int16)
    try:
        out = np.asarray(kernel([vals, *consts])[0]).reshape(-1)
        if out.size == vals.size:
            return out.astype(np.int64)
    except (ValueError, IndexError):
        pass
    size = max(int(x.size), 1)  # kernels that need the tensor's own shape
    parts = []
    for start in range(0, vals.size, size):
        chunk = np.resize(vals[start:start + size], size).reshape(x.shape)
        parts.append(np.asarray(kernel([chunk, *consts])[0]).reshape(-1)[:vals.size - start])
    return np.concatenate(parts).astype(np.int64)


def _wrap16(v: np.ndarray) -> np.ndarray:
    return ((np.asarray(v, np.int64) + 32768) & 0xFFFF) - 32768


def emulate_requant_s16(p: dict) -> np.ndarray:
    """pj_requant_s16 over the int16 domain."""
    v = _S16 - p["in_zp"]
    if p["op"] == 1:
        v = np.abs(v)
    elif p["op"] == 2:
        v = -v
    if p["mult"]:
        v = _mbqm(v, p["mult"], p["shift"])
    return _wrap16(np.clip(v + p["out_zp"], p["q_min"], p["q_max"]))


def emulate_sigmoid_s16(is_tanh: bool, multiplier: int, left_shift: int,
                        table: np.ndarray) -> np.ndarray:
    """pj_sigmoid_s16 over the int16 domain."""
    rnd = (1 << (left_shift - 1)) if left_shift > 0 else 0
    v = wrap_int32(_S16 * multiplier + rnd) >> left_shift
    a = np.abs(v)
    seg = 8 if is_tanh else 9
    uh = a >> seg
    ua = table[np.minimum(uh, 254)]
    ub = table[np.minimum(uh + 1, 255)]
    sat = (0xFFFF << 8) if is_tanh else (0x7FFF << 10)
    res = np.where(uh >= 255, sat, (ua << seg) + (a & ((1 << seg) - 1)) * (ub - ua))
    if is_tanh:
        res = np.where(v >= 0, res - (1 << 23) + (1 << 7), (1 << 23) + (1 << 7) - 1 - res) >> 8
    else:
        res = np.where(v >= 0, res + (1 << 9), (1 << 25) - res + (1 << 9) - 1) >> 10
    return _wrap16(res)


def emulate_lut513(lut: np.ndarray, x: np.ndarray = _S16) -> np.ndarray:
    """pj_lut513_s16 (TFLite's LUTLookup) on int16 values."""
    index = 256 + (x >> 7)
    base = lut[index]
    return _wrap16(base + (((lut[index + 1] - base) * (x & 0x7F) + 64) >> 7))


def lut513_from_domain(table: np.ndarray) -> np.ndarray | None:
    """The 513-point table whose interpolation gives ``table`` (the 65,536 outputs), or
    None when no such table exists. Points 0..511 are the outputs at multiples of 128; the
    last is the value that interpolates the top segment."""
    lut = np.zeros(513, np.int64)
    lut[:512] = table[::128]
    top = np.arange(32640, 32768, dtype=np.int64)
    cand = np.arange(-32768, 32768, dtype=np.int64)
    base = lut[511]
    for off in range(127, 0, -1):
        want = table[top[off] + 32768]
        cand = cand[_wrap16(base + (((cand - base) * off + 64) >> 7)) == want]
        if cand.size == 0:
            return None
    lut[512] = cand[0]
    return lut if np.array_equal(emulate_lut513(lut), table) else None


def _is_s16_unary(node: Node) -> bool:
    return (_dt(node) == "int16" and _out_dt(node) == "int16"
            and all(v is None or v.is_const for v in node.inputs[1:]))


def _require_match(node: Node, got: np.ndarray, want: np.ndarray) -> None:
    if not np.array_equal(got, want):
        bad = int(np.flatnonzero(got != want)[0]) - 32768
        raise unsupported(node, f"a configuration the C kernel does not reproduce (input {bad})")


@emitter("LOGISTIC", "TANH", when=_is_s16_unary, dtypes=("int16",))
def emit_sigmoid_s16(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    want = reference_domain(node)
    is_tanh = node.op == "TANH"
    mult, left = ref._int16_sigmoid_params(node, x, y, (0, 1) if is_tanh else (0,))
    table = sigmoid_table_uint16().astype(np.int64)
    _require_match(node, emulate_sigmoid_s16(is_tanh, int(mult), int(left), table), want)
    p = ctx.params("pj_sigmoid16_params", dict(
        size=x.size, is_tanh=int(is_tanh), multiplier=int(mult), left_shift=int(left),
        table=ctx.array("sig", "uint16_t", table)))
    return Emitted(f"pj_sigmoid_s16(&{p}, {{in0}}, {{out0}});", sources=SOURCES)


@emitter("EXP", "LOG", "GELU", when=_is_s16_unary, dtypes=("int16",))
def emit_lut513_s16(ctx: Context, node: Node) -> Emitted:
    x = node.inputs[0]
    lut = lut513_from_domain(reference_domain(node))
    if lut is None:
        raise unsupported(node, "an int16 function that is not a 513-point interpolation")
    return Emitted(f"pj_lut513_s16({x.size}, {ctx.array('lut', 'int16_t', lut)}, {{in0}}, "
                   "{out0});", sources=SOURCES)


def _rq16_candidates(node: Node, want: np.ndarray) -> list[dict]:
    """Parameter sets for pj_requant_s16 that the reference kernel's algorithm implies."""
    x, y = node.inputs[0], node.outputs[0]
    qx, qy = x.quant is not None and x.quant.scale.size, y.quant is not None and y.quant.scale.size
    lo, hi = int(want.min()), int(want.max())
    base = dict(size=x.size, op=0, in_zp=0, out_zp=0, mult=0, shift=0, q_min=lo, q_max=hi)
    wrap = dict(base, q_min=-32768, q_max=32768)
    out = []
    if node.op == "NEG":
        out.append(dict(wrap, op=2))
    elif node.op == "RELU6":
        out.append(base)
    elif qx and qy and node.op in ("RELU", "ABS"):
        zps = dict(in_zp=int(x.quant.zp0), out_zp=int(y.quant.zp0))
        m, s = quantize_multiplier(float(x.quant.scale0) / float(y.quant.scale0))
        op = 1 if node.op == "ABS" else 0
        if node.op == "ABS" and np.float32(x.quant.scale0) == np.float32(y.quant.scale0):
            out.append(dict(base, op=op, **zps))
        if m >= 0 and -31 <= s <= 30:
            out.append(dict(base, op=op, mult=m, shift=s, **zps))
    elif node.op == "ABS":
        out.append(dict(wrap, op=1))
    return out


@emitter("ABS", "NEG", "RELU", "RELU6", when=_is_s16_unary, dtypes=("int16",))
def emit_requant_s16(ctx: Context, node: Node) -> Emitted:
    want = reference_domain(node)
    for cand in _rq16_candidates(node, want):
        if np.array_equal(emulate_requant_s16(cand), want):
            p = ctx.params("pj_rq16_params", cand)
            return Emitted(f"pj_requant_s16(&{p}, {{in0}}, {{out0}});", sources=SOURCES)
    raise unsupported(node, "a configuration the C kernel does not reproduce")


# --------------------------------------------------------------------------- NEG int32/64
@emitter("NEG", when=lambda n: _dt(n) in ("int32", "int64"), dtypes=("int32", "int64"))
def emit_neg_int(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    _prepare(node)
    if y.dtype != x.dtype or y.size != x.size:
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    fn = "pj_neg_s32" if x.dtype == "int32" else "pj_neg_s64"
    return Emitted(f"{fn}({x.size}, {{in0}}, {{out0}});", sources=SOURCES)


# BATCH_MATMUL lives in its own module (one import line registers both).
from picojoule.backends.c.emitters import matmul  # noqa: E402,F401
