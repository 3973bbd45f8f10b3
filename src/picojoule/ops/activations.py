"""Activation functions: SOFTMAX, LOG_SOFTMAX, LOGISTIC, TANH, the RELU family, LEAKY_RELU,
PRELU, HARD_SWISH, ELU, GELU and L2_NORMALIZATION.

Reference semantics are TFLM's reference kernels (LiteRT's reference kernels for
RELU_N1_TO_1 and GELU, which TFLM lacks, and for the LOGISTIC, TANH and RELU6 nodes of
legacy uint8 models, marked ``litert_uint8`` by :mod:`picojoule.passes.uint8`: float32
lookup tables and a requantizing clamp). Most quantized activations here are
functions of one int8/int16 input value, so ``prepare`` evaluates TFLM's integer
arithmetic once over the whole input domain (256 or 65536 values) and the kernel is a
single table lookup. Row-wise ops (SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION) precompute
per-difference tables and work on whole rows at once.

The gemmlowp fixed-point helpers below (``exp_on_negative_values``, ``logistic``,
``tanh``, ``one_over_one_plus_x_for_x_in_0_1`` ...) operate on int64 numpy arrays
holding int32 values and reproduce the C integer semantics bit for bit; they are
private to this module (see the report for moving them to ``quant/fixedpoint.py``).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.common import (
    broadcast_shape, dtype_range, litert_uint8, require_quant, same_shape,
)
from picojoule.ops.registry import (
    BINARY, ELEMENTWISE, UNARY, Layout, QuantRule, register, unsupported,
)
from picojoule.quant.fixedpoint import (
    sigmoid_table_uint16,
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    tflite_round,
    wrap_int32,
)

_srdhm = saturating_rounding_doubling_high_mul
_rdbpot = rounding_divide_by_pot
_mbqm = multiply_by_quantized_multiplier
F32 = np.float32


# ---------------------------------------------------------------------------------------------
# gemmlowp fixed point (int32 raw values in int64 arrays)
# ---------------------------------------------------------------------------------------------

def _sat_shl(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT<+e>``: x * 2**e saturated to int32."""
    if exponent == 0:
        return x
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX,
                    np.where(x < -threshold, INT32_MIN, x << exponent))


def _rescale(x: np.ndarray, src_bits: int, dst_bits: int) -> np.ndarray:
    """gemmlowp ``Rescale<dst>`` of a FixedPoint with ``src_bits`` integer bits."""
    e = src_bits - dst_bits
    if e > 0:
        return _sat_shl(x, e)
    if e < 0:
        return _rdbpot(x, -e)
    return x


def _exp_on_interval(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``exp_on_interval_between_negative_one_quarter_and_0_excl`` (Q0.31)."""
    constant_term = 1895147668  # exp(-1/8)
    one_third = 715827883
    x = wrap_int32(a + (1 << 28))
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _rdbpot(x4, 2)
    poly = _rdbpot(wrap_int32(_srdhm(wrap_int32(x4_over_4 + x3), one_third) + x2), 1)
    return wrap_int32(constant_term + _srdhm(constant_term, wrap_int32(x + poly)))


# exp(-2**k) in Q0.31 for the barrel shifter, k = -2 .. 4
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def _exp_on_negative_values(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``exp_on_negative_values`` of a Q(integer_bits) value; result in Q0.31."""
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    a_mod = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval(_rescale(a_mod, integer_bits, 0))
    remainder = wrap_int32(a_mod - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = (remainder & (1 << (frac_bits + exponent))) != 0
            result = np.where(bit, _srdhm(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _rounding_half_sum(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``RoundingHalfSum`` for int32: (a + b + sign) / 2 with C truncation."""
    t = np.asarray(a, np.int64) + b
    t = t + np.where(t >= 0, 1, -1)
    return np.where(t >= 0, t >> 1, -((-t) >> 1))


def _newton_reciprocal_f2(a: np.ndarray) -> np.ndarray:
    """The shared Newton-Raphson core of gemmlowp's 1/(1+x) helpers; returns x in Q2.29."""
    half_denominator = _rounding_half_sum(a, INT32_MAX)
    x = wrap_int32(1515870810 + _srdhm(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = wrap_int32((1 << 29) - _srdhm(half_denominator, x))
        x = wrap_int32(x + _sat_shl(_srdhm(x, one_minus), 2))
    return x


def _srdhm_int(a: int, b: int) -> int:
    """:func:`saturating_rounding_doubling_high_mul` on Python ints (for per-row scalars)."""
    if a == b == INT32_MIN:
        return INT32_MAX
    v = a * b + ((1 << 30) if a * b >= 0 else 1 - (1 << 30))
    return v >> 31 if v >= 0 else -((-v) >> 31)


def _wrap_int(x: int) -> int:
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _one_over_one_plus_x_int(a: int) -> int:
    """:func:`_one_over_one_plus_x` for one Python int (a softmax row's reciprocal)."""
    t = a + INT32_MAX
    t += 1 if t >= 0 else -1
    half_den = t >> 1 if t >= 0 else -((-t) >> 1)
    x = _wrap_int(1515870810 + _srdhm_int(half_den, -1010580540))
    for _ in range(3):
        one_minus = _wrap_int((1 << 29) - _srdhm_int(half_den, x))
        p = _srdhm_int(x, one_minus)
        p = INT32_MAX if p > (1 << 29) - 1 else INT32_MIN if p < 1 - (1 << 29) else p << 2
        x = _wrap_int(x + p)
    return INT32_MAX if x > (1 << 30) - 1 else INT32_MIN if x < 1 - (1 << 30) else x << 1


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``one_over_one_plus_x_for_x_in_0_1`` (Q0.31 in and out)."""
    return _sat_shl(_newton_reciprocal_f2(a), 1)


def _one_minus_x_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``one_minus_x_over_one_plus_x_for_x_in_0_1`` (Q0.31 in and out)."""
    return _sat_shl(wrap_int32(_newton_reciprocal_f2(a) - (1 << 29)), 2)


def _fp_logistic(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``logistic`` of a Q(integer_bits) int32 value; result Q0.31."""
    positive = a > 0
    abs_input = np.where(positive, a, wrap_int32(-a))
    r_pos = _one_over_one_plus_x(_exp_on_negative_values(wrap_int32(-abs_input), integer_bits))
    r_neg = wrap_int32(INT32_MAX - r_pos)
    return np.where(a == 0, 1 << 30, np.where(positive, r_pos, r_neg))


def _fp_tanh(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """gemmlowp ``tanh`` of a Q(integer_bits) int32 value; result Q0.31."""
    negative = a < 0
    n = np.where(negative, a, wrap_int32(-a))
    t = _one_minus_x_over_one_plus_x(_exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap_int32(-t), t))


def _clz32(x: np.ndarray) -> np.ndarray:
    """Count leading zeros of the uint32 bit pattern of int32 values (32 for zero)."""
    u = np.asarray(x, np.int64) & 0xFFFFFFFF
    _, e = np.frexp(u.astype(np.float64))  # exact: u < 2**53
    return np.where(u == 0, 32, 32 - e).astype(np.int64)


def _sat_mul_pot_param(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """TFLite ``SaturatingRoundingMultiplyByPOTParam`` (exponent >= 0, may vary per element)."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    threshold = (np.int64(1) << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def _log_x_ge_1(x: np.ndarray, input_bits: int, output_bits: int) -> np.ndarray:
    """TFLite ``log_x_for_x_greater_than_or_equal_to_1_impl`` (Q(input_bits) -> Q(output_bits))."""
    accum_bits = output_bits + 1
    log_2, sqrt_sqrt_half, sqrt_half, one_quarter = 1488522236, 1805811301, 1518500250, 536870912
    alpha_n, alpha_d, alpha_i, alpha_f = 117049297, 127690142, 1057819769, 638450708
    shifted_quarter = _rescale(np.int64(one_quarter), 0, accum_bits)

    z_a = np.asarray(x, np.int64)
    z_a_headroom_plus_1 = _clz32(z_a)
    r_a_tmp = _sat_mul_pot_param(z_a, z_a_headroom_plus_1 - 1)
    r_a_raw = _sat_mul_pot_param(_srdhm(r_a_tmp, sqrt_half), 1)
    z_a_pow_2_adj = np.clip(
        _sat_mul_pot_param(input_bits - z_a_headroom_plus_1, 31 - accum_bits) + shifted_quarter,
        INT32_MIN, INT32_MAX)

    z_b = _srdhm(z_a, sqrt_half)
    z_b_headroom = _clz32(z_b) - 1
    r_b_raw = _sat_mul_pot_param(z_a, z_b_headroom)
    z_b_pow_2_adj = np.clip(
        _sat_mul_pot_param(input_bits - z_b_headroom, 31 - accum_bits) - shifted_quarter,
        INT32_MIN, INT32_MAX)

    r = np.minimum(r_a_raw, r_b_raw)
    z_pow_2_adj = np.maximum(z_a_pow_2_adj, z_b_pow_2_adj)

    p = _rounding_half_sum(r, sqrt_sqrt_half)
    q = wrap_int32(r - sqrt_sqrt_half)
    q = wrap_int32(q + q)
    common_sq = _srdhm(q, q)
    num = wrap_int32(_srdhm(q, r) + _srdhm(_srdhm(q, common_sq), alpha_n))
    denom_minus_one = wrap_int32(
        _srdhm(p, wrap_int32(wrap_int32(alpha_i + q) + _srdhm(alpha_d, common_sq)))
        + _srdhm(alpha_f, q))
    recip_denom = _one_over_one_plus_x(denom_minus_one)
    num_scaled = _rescale(num, 0, accum_bits)
    total = wrap_int32(_srdhm(z_pow_2_adj, log_2) + _srdhm(num_scaled, recip_denom))
    return _rescale(total, accum_bits, output_bits)


def inv_sqrt_multiplier_exp(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TFLite ``GetInvSqrtQuantizedMultiplierExp(x, kReverseShift)``, vectorised.

    Returns (multiplier, shift) with TFLM's sign convention (shift > 0: left shift).
    """
    x = np.asarray(x, np.int64)
    small = x <= 1
    shift = np.full(x.shape, 11, np.int64)
    big = x >= (1 << 29)
    x = np.where(big, x // 4, x)
    shift = shift + big
    x = np.where(small, 1 << 28, x)  # placeholder, masked out below
    pairs = ((_clz32(x) - 1) // 2) - 1
    shift = shift - pairs
    x = x << (2 * pairs)
    fp_input = x >> 1
    half_input = _rdbpot(fp_input, 1)
    half_three = (1 << 28) + (1 << 27)
    y = np.full(x.shape, 1 << 28, np.int64)
    for _ in range(5):
        y3 = _sat_shl(_srdhm(_srdhm(y, y), y), 6)
        y = _sat_shl(wrap_int32(_srdhm(half_three, y) - _srdhm(half_input, y3)), 3)
    y = _srdhm(y, 1518500250)
    y = np.where(shift < 0, wrap_int32(y << np.maximum(-shift, 0)), y)
    shift = np.maximum(shift, 0)
    return np.where(small, INT32_MAX, y), np.where(small, 0, -shift)


# ---------------------------------------------------------------------------------------------
# float32 helpers mirroring C's float arithmetic (libm results rounded from double precision)
# ---------------------------------------------------------------------------------------------

def _expf(x: np.ndarray) -> np.ndarray:
    return np.exp(np.asarray(x, np.float64)).astype(F32)


def _roundf(x: np.ndarray) -> np.ndarray:
    """``roundf``: halves away from zero, staying in float32."""
    x = np.asarray(x, F32)
    return (np.sign(x) * np.floor(np.abs(x) + F32(0.5))).astype(F32)


def lut_populate_int8(fn: Callable[[np.ndarray], np.ndarray], in_scale: float, in_zp: int,
                      out_scale: float, out_zp: int, dtype: str) -> np.ndarray:
    """TFLite ``LUTPopulateInt8`` (float32 arithmetic), returned in input-value order."""
    lo, hi = dtype_range(dtype)
    vals = np.arange(lo, hi + 1, dtype=np.int64)
    deq = F32(in_scale) * (vals - in_zp).astype(F32)
    transformed = np.asarray(fn(deq), F32)
    rescaled = _roundf(transformed * (F32(1) / F32(out_scale)))
    quantized = (rescaled + F32(out_zp)).astype(np.int64)
    return np.clip(quantized, lo, hi)


def lut_populate_int16(fn: Callable[[np.ndarray], np.ndarray], in_scale: float, in_zp: int,
                       out_scale: float, out_zp: int) -> np.ndarray:
    """TFLite ``LUTPopulateInt16<float>``: 513 interpolation points, float32 arithmetic."""
    in_min = F32(in_scale) * F32(-32768 - in_zp)
    in_max = F32(in_scale) * F32(32767 - in_zp)
    out_min = F32(out_scale) * F32(-32768 - out_zp)
    out_max = F32(out_scale) * F32(32767 - out_zp)
    step = (in_max - in_min) / F32(512)
    half_step = step / F32(2)
    inv = F32(65536) / (out_max - out_min)
    i = np.arange(512, dtype=np.int64).astype(F32)
    x0 = in_min + i * step
    val = np.asarray(fn(x0), F32)
    val_mid = np.asarray(fn(x0 + half_step), F32)
    val_next = np.asarray(fn(in_min + (i + F32(1)) * step), F32)
    sample = _roundf(val * inv)
    mid_interp = _roundf((val_next * inv + _roundf(val * inv)) / F32(2))
    mid_val = _roundf(val_mid * inv)
    bias = _roundf((mid_interp - mid_val) / F32(2))
    lut = np.empty(513, np.int64)
    lut[:512] = np.clip(sample - bias, -32768, 32767).astype(np.int64)
    last = _roundf(np.asarray(fn(np.array([in_max], F32)), F32) * inv)
    lut[512] = int(np.clip(last, -32768, 32767)[0])
    return lut


def lut_lookup_int16(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """TFLite ``LUTLookup(int16, lut)``: linear interpolation between 513 points."""
    x = np.asarray(x, np.int64)
    index = 256 + (x >> 7)
    offset = x & 0x7F
    base = lut[index]
    slope = lut[index + 1] - base
    return wrap_int16(base + ((slope * offset + 64) >> 7))


def wrap_int16(x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, np.int64) + (1 << 15)) & 0xFFFF) - (1 << 15)


# ---------------------------------------------------------------------------------------------
# helpers for elementwise kernels
# ---------------------------------------------------------------------------------------------

_LUT_DTYPES = ("int8", "int16")


def _domain(dtype: str) -> np.ndarray:
    lo, hi = dtype_range(dtype)
    return np.arange(lo, hi + 1, dtype=np.int64)


def _table_kernel(table: np.ndarray, in_dtype: str, out_dtype: str):
    """A kernel mapping every input value through ``table`` (indexed by value - min)."""
    out_np = to_numpy(out_dtype)
    lo, hi = dtype_range(in_dtype)
    # Reorder so the unsigned bit pattern of the input indexes it directly.
    vals = np.arange(lo, hi + 1, dtype=np.int64)
    by_bits = np.empty(hi - lo + 1, out_np)
    by_bits[vals & (hi - lo)] = np.asarray(table).astype(out_np)
    view = np.uint8 if in_dtype == "int8" else np.uint16

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [by_bits[inputs[0].view(view)]]

    return run


def _float_kernel(fn: Callable[[np.ndarray], np.ndarray]):
    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        return [np.asarray(fn(inputs[0]), np.float32)]

    return run


def _io(node: Node) -> tuple[Value, Value]:
    x, y = node.inputs[0], node.outputs[0]
    if x is None:
        raise unsupported(node, "a missing input")
    return x, y


def _check_types(node: Node, x: Value, y: Value, allowed: Sequence[str]) -> None:
    if x.dtype not in allowed:
        raise unsupported(node, f"{x.dtype} input")
    if y.dtype != x.dtype:
        raise unsupported(node, f"{x.dtype} input with {y.dtype} output")
    if x.dtype in _LUT_DTYPES:
        require_quant(node, x, "input")
        require_quant(node, y, "output")


# ---------------------------------------------------------------------------------------------
# SOFTMAX
# ---------------------------------------------------------------------------------------------

def _softmax_float(beta: float):
    b = F32(beta)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        x = inputs[0]
        e = np.exp((x - x.max(axis=-1, keepdims=True)) * b)
        return [(e / e.sum(axis=-1, keepdims=True, dtype=np.float32)).astype(np.float32)]

    return run


def _softmax_int8(node: Node, x: Value, y: Value, beta: float):
    """TFLM ``Softmax<int8, int8|int16>``: gemmlowp exp of Q5.26 diffs, Q12.19 sum."""
    in_scale = float(x.quant.scale0)
    if y.dtype == "int8":
        if y.quant.zp0 != -128 or float(y.quant.scale0) != 1.0 / 256:
            raise unsupported(node, "int8 output quantization other than (1/256, -128)")
    elif y.dtype == "int16":
        if y.quant.zp0 != -32768 or abs(float(y.quant.scale0) - 1 / 65536) > 0.001 / 65536:
            raise unsupported(node, "int16 output quantization other than (1/65536, -32768)")
    else:
        raise unsupported(node, f"int8 input with {y.dtype} output")
    real = min(float(beta) * in_scale * (1 << 26), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier(real)
    radius = math.floor(31.0 * (1 << 26) / (1 << left_shift))
    diff_min = -radius
    diffs = np.arange(-255, 1, dtype=np.int64)
    rescaled = _srdhm(wrap_int32(diffs << left_shift), multiplier)
    exp_q0 = np.where(diffs >= diff_min, _exp_on_negative_values(rescaled, 5), 0)
    exp_q12 = _rescale(exp_q0, 0, 12)
    out_bits = 8 if y.dtype == "int8" else 16
    out_min, out_max = dtype_range(y.dtype)
    out_np = to_numpy(y.dtype)
    depth = x.shape[-1] if x.shape else 1
    may_wrap = depth * (1 << 19) > INT32_MAX

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        v = inputs[0].reshape(-1, depth).astype(np.int64)
        idx = v - v.max(axis=1, keepdims=True) + 255
        e = exp_q0[idx]
        total = exp_q12[idx].sum(axis=1)
        if may_wrap:  # each exp is at most 2**19 in Q12.19
            total = wrap_int32(total)
        hpo = _clz32(total)
        shifted = (((total & 0xFFFFFFFF) << hpo) & 0xFFFFFFFF) - (1 << 31)
        if len(shifted) <= 8:  # few rows: scalar Python ints beat ~30 numpy calls
            scale = np.array([_one_over_one_plus_x_int(int(t)) for t in shifted], np.int64)
        else:
            scale = _one_over_one_plus_x(shifted)
        exponent = ((12 - hpo) + 31 - out_bits)[:, None]
        # srdhm and rounding_divide_by_pot, specialised to nonnegative operands
        prod = (scale[:, None] * e + (1 << 30)) >> 31
        out = ((prod + ((np.int64(1) << exponent) >> 1)) >> exponent) + out_min
        return [np.minimum(out, out_max).astype(out_np).reshape(inputs[0].shape)]  # out >= min

    return run


def softmax_int16_constants(node: Node, x: Value, y: Value, beta: float
                            ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(exp table, 1/(1+x) table, input multiplier, shift) of TFLM's ``SoftmaxInt16``
    (the tables: 513 int16 interpolation points each)."""
    if x.quant.zp0 != 0 or y.quant.zp0 != 0:
        raise unsupported(node, "int16 softmax with nonzero zero points")
    if abs(float(y.quant.scale0) - 1 / 32768) > 0.001 / 32768:
        raise unsupported(node, "int16 softmax output scale other than 1/32768")
    rng = 65535
    exp_lut = lut_populate_int16(_expf, float(F32(10.0) / F32(rng)), 32767,
                                 float(F32(2.0) / F32(rng)), 0)
    recip_lut = lut_populate_int16(lambda v: F32(1) / (F32(1) + v),
                                   float(F32(1.0) / F32(rng)), -32768,
                                   float(F32(2.0) / F32(rng)), 0)
    multiplier, shift = quantize_multiplier(
        float(x.quant.scale0) * float(F32(beta)) / (10.0 / 65535.0))
    return exp_lut, recip_lut, int(multiplier), int(shift)


def _softmax_int16(node: Node, x: Value, y: Value, beta: float):
    """TFLM ``SoftmaxInt16``: exp and 1/(1+x) interpolation tables over int16."""
    exp_lut, recip_lut, multiplier, shift = softmax_int16_constants(node, x, y, beta)
    depth = x.shape[-1] if x.shape else 1

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        v = inputs[0].reshape(-1, depth).astype(np.int64)
        diff = v - v.max(axis=1, keepdims=True)
        scaled = _mbqm(diff, multiplier, shift)
        e = lut_lookup_int16(np.clip(scaled + 32767, -32768, 32767), exp_lut)
        total = e.sum(axis=1)
        hpo = _clz32(total)
        shifted_sum = ((total << (hpo - 1)) + (1 << 13)) >> 14
        sym = np.clip(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767)
        recip = lut_lookup_int16(sym, recip_lut)
        right = (31 - hpo)[:, None]
        out = (e * recip[:, None] + (np.int64(1) << (right - 1))) >> right
        return [np.clip(out, 0, 32767).astype(np.int16).reshape(inputs[0].shape)]

    return run


def _last_axis_layout(node: Node, perm, inv, const):
    """Softmax over the last axis commutes with transposes that keep that axis last."""
    return (perm, {}, {}) if perm[-1] == len(perm) - 1 else None


_LAST_AXIS = Layout((0,), _last_axis_layout)


@register("SOFTMAX", operands="x -> y", shape=same_shape, layout=_LAST_AXIS,
          quant=QuantRule(fixed={"int8": (1 / 256, -128), "int16": (1 / 32768, 0)},
                          versions={"int8": 2, "int16x8": 3}),
          oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_softmax(node: Node):
    """Softmax over the last axis (int8 -> int8/int16, int16 -> int16, float32)."""
    x, y = _io(node)
    beta = float(node.attrs.get("beta", 0.0))
    if x.dtype == "float32" and y.dtype == "float32":
        return _softmax_float(beta)
    if x.dtype in _LUT_DTYPES:
        require_quant(node, x, "input")
        require_quant(node, y, "output")
        if x.dtype == "int8":
            return _softmax_int8(node, x, y, beta)
        if y.dtype == "int16":
            return _softmax_int16(node, x, y, beta)
    raise unsupported(node, f"{x.dtype} input with {y.dtype} output")


# ---------------------------------------------------------------------------------------------
# LOG_SOFTMAX
# ---------------------------------------------------------------------------------------------

@register("LOG_SOFTMAX", operands="x -> y", shape=same_shape,
          layout=_LAST_AXIS, quant=QuantRule(fixed={"int8": (16 / 256, 127)}),
          oracle="TFLM",
          dtypes=("float32", "int8"))
def prepare_log_softmax(node: Node):
    """Log-softmax over the last axis (float32; int8 with output (16/256, 127))."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8"))
    if x.dtype == "float32":
        def run_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            v = inputs[0]
            d = v - v.max(axis=-1, keepdims=True)
            log_sum = np.log(np.exp(d).sum(axis=-1, keepdims=True, dtype=np.float32))
            return [(d - log_sum).astype(np.float32)]
        return run_float
    if float(y.quant.scale0) != 16.0 / 256 or y.quant.zp0 != 127:
        raise unsupported(node, "int8 output quantization other than (16/256, 127)")
    real = min(1.0 * float(x.quant.scale0) * (1 << 26), float((1 << 31) - 1))
    multiplier, left_shift = quantize_multiplier(real)
    reverse_mult, reverse_shift = quantize_multiplier((1 << (31 - left_shift)) / multiplier)
    diff_min = -math.floor(31.0 * (1 << 26) / (1 << left_shift))
    diffs = np.arange(-255, 1, dtype=np.int64)
    diff_q5 = _mbqm(diffs, multiplier, left_shift)
    exp_q12 = np.where(diffs >= diff_min, _rescale(_exp_on_negative_values(diff_q5, 5), 0, 12), 0)
    depth = x.shape[-1] if x.shape else 1

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        v = inputs[0].reshape(-1, depth).astype(np.int64)
        idx = v - v.max(axis=1, keepdims=True) + 255
        total = wrap_int32(exp_q12[idx].sum(axis=1))
        log_sum = _log_x_ge_1(total, 12, 5)
        adjusted_min = np.maximum(diff_min - 1,
                                  _mbqm(wrap_int32(log_sum + INT32_MIN), reverse_mult,
                                        reverse_shift))
        out = _rdbpot(wrap_int32(diff_q5[idx] - log_sum[:, None]), 31 - 5 - 4) + 127
        out = np.where(idx - 255 > adjusted_min[:, None], np.clip(out, -128, 127), -128)
        return [out.astype(np.int8).reshape(inputs[0].shape)]

    return run


# ---------------------------------------------------------------------------------------------
# LOGISTIC and TANH
# ---------------------------------------------------------------------------------------------

def _frexp_multiplier(real: float) -> tuple[int, int]:
    """``q = frexp(real, &shift); mult = round(q * 2**31)`` without QuantizeMultiplier's fix-up."""
    mant, shift = math.frexp(real)
    return int(tflite_round(mant * (1 << 31))), shift


def _checked_log2(x: float) -> tuple[bool, int]:
    """TFLite ``CheckedLog2`` in float32."""
    x_log2 = F32(math.log(F32(x))) * (F32(1.0) / F32(math.log(F32(2.0))))
    rounded = _roundf(x_log2)
    return bool(abs(F32(x_log2 - rounded)) < F32(1e-3)), int(rounded)


def _int16_sigmoid_params(node: Node, x: Value, y: Value, pot_shifts: tuple[int, ...]):
    """Prepare of TFLM's int16 LOGISTIC/TANH: (input multiplier, left shift)."""
    if x.quant.zp0 != 0 or y.quant.zp0 != 0:
        raise unsupported(node, "int16 input/output with nonzero zero points")
    ok, log2_out = _checked_log2(float(y.quant.scale0))
    if not ok or log2_out != -15:
        raise unsupported(node, "int16 output scale other than 2**-15")
    pot, log2_in = _checked_log2(float(x.quant.scale0))
    left_shift = (15 - 3) + log2_in
    if pot and left_shift in pot_shifts:
        return 3 << left_shift, 0
    multiplier = float(x.quant.scale0) * 4096.0 * 3.0
    left_shift = 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    return int(multiplier), left_shift


def _int16_rescaled(v: np.ndarray, multiplier: int, left_shift: int) -> np.ndarray:
    rnd = (1 << (left_shift - 1)) if left_shift > 0 else 0
    return wrap_int32(v * multiplier + rnd) >> left_shift


def _litert_uint8_lut(node: Node, x: Value, y: Value, fn: Callable[[np.ndarray], np.ndarray]):
    """LiteRT's uint8 LOGISTIC / TANH (``litert_uint8`` nodes, see
    :mod:`picojoule.passes.uint8`): ``LUTPopulate<uint8_t>`` in float32. Values enter as
    (q - zero point), so the int8 re-encoding gets the same table shifted by 128."""
    table = lut_populate_int8(fn, float(x.quant.scale0), x.quant.zp0, float(y.quant.scale0),
                              y.quant.zp0, "int8")
    return _table_kernel(table, x.dtype, y.dtype)


def _sigmoid_f32(v: np.ndarray) -> np.ndarray:
    """``1.0f / (1.0f + std::exp(-value))``."""
    return (F32(1) / (F32(1) + _expf(-np.asarray(v, F32)))).astype(F32)


@register("LOGISTIC", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY),
          quant=QuantRule(fixed={"int8": (1 / 256, -128), "int16": (1 / 32768, 0)},
                          versions={"int8": 2, "int16x8": 3}),
          oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_logistic(node: Node):
    """Sigmoid: int8 via gemmlowp fixed point, int16 via TFLite's 256-entry sigmoid table."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8", "int16"))
    if x.dtype == "float32":
        def logistic_f(v: np.ndarray) -> np.ndarray:
            v64 = v.astype(np.float64)
            out = np.where(v > F32(16.619047164916992188), 1.0,
                           np.where(v < F32(-9.0), np.exp(v64), 1.0 / (1.0 + np.exp(-v64))))
            return out.astype(np.float32)
        return _float_kernel(logistic_f)
    if x.dtype == "int8" and litert_uint8(node):
        if float(y.quant.scale0) != 1 / 256:
            raise unsupported(node, "uint8 output scale other than 1/256")
        return _litert_uint8_lut(node, x, y, _sigmoid_f32)
    v = _domain(x.dtype)
    if x.dtype == "int8":
        if y.quant.zp0 != -128:
            raise unsupported(node, "int8 output zero point other than -128")
        multiplier, shift = _frexp_multiplier(float(x.quant.scale0) * float(1 << 27))
        radius = math.floor(15.0 * (1 << 27) / (2.0 ** shift))
        d = v - x.quant.zp0
        q4 = _mbqm(d, multiplier, shift)
        out = np.clip(_rdbpot(_fp_logistic(q4, 4), 23) - 128, -128, 127)
        out = np.where(d <= -radius, -128, np.where(d >= radius, 127, out))
        return _table_kernel(out, x.dtype, y.dtype)
    multiplier, left_shift = _int16_sigmoid_params(node, x, y, (0,))
    inp = _int16_rescaled(v, multiplier, left_shift)
    table = sigmoid_table_uint16()
    a = np.abs(inp)
    uh = a >> 9
    ua = table[np.minimum(uh, 254)]
    ub = table[np.minimum(uh + 1, 255)]
    res = np.where(uh >= 255, 0x7FFF << 10, (ua << 9) + (a & 0x1FF) * (ub - ua))
    res = np.where(inp >= 0, res + (1 << 9), (1 << 25) - res + (1 << 9) - 1) >> 10
    return _table_kernel(wrap_int16(res), x.dtype, y.dtype)


@register("TANH", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY),
          quant=QuantRule(fixed={"int8": (1 / 128, 0), "int16": (1 / 32768, 0)},
                          versions={"int8": 2, "int16x8": 3}),
          oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_tanh(node: Node):
    """tanh: int8 via gemmlowp fixed point, int16 via TFLite's sigmoid table."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8", "int16"))
    if x.dtype == "float32":
        return _float_kernel(lambda a: np.tanh(a.astype(np.float64)))
    if x.dtype == "int8" and litert_uint8(node):
        return _litert_uint8_lut(node, x, y,
                                 lambda a: np.tanh(np.asarray(a, np.float64)).astype(F32))
    v = _domain(x.dtype)
    if x.dtype == "int8":
        multiplier, shift = _frexp_multiplier(float(x.quant.scale0) * float(1 << 27))
        radius = math.floor(15.0 * (1 << 27) / (2.0 ** shift))
        d = v - x.quant.zp0
        q4 = _mbqm(d, multiplier, shift)
        out = np.clip(_rdbpot(_fp_tanh(q4, 4), 24), -128, 127)
        out = np.where(d <= -radius, -128, np.where(d >= radius, 127, out))
        return _table_kernel(out, x.dtype, y.dtype)
    multiplier, left_shift = _int16_sigmoid_params(node, x, y, (0, 1))
    inp = _int16_rescaled(v, multiplier, left_shift)
    table = sigmoid_table_uint16()
    a = np.abs(inp)
    uh = a >> 8
    ua = table[np.minimum(uh, 254)]
    ub = table[np.minimum(uh + 1, 255)]
    res = np.where(uh >= 255, 0xFFFF << 8, (ua << 8) + (a & 0xFF) * (ub - ua))
    res = np.where(inp >= 0, res - (1 << 23) + (1 << 7), -res + (1 << 23) + (1 << 7) - 1) >> 8
    return _table_kernel(wrap_int16(res), x.dtype, y.dtype)


# ---------------------------------------------------------------------------------------------
# RELU family
# ---------------------------------------------------------------------------------------------

def _relu_quantized(node: Node, x: Value, y: Value, act_min: float, act_max: float):
    """TFLM ``ReluQuantized`` / LiteRT ``QuantizedReluX``: requantize, then clamp."""
    if x.dtype == "int16" and (x.quant.zp0 != 0 or y.quant.zp0 != 0):
        raise unsupported(node, "int16 input/output with nonzero zero points")
    # double division (see LEAKY_RELU: the oracle's build casts to double first)
    multiplier, shift = quantize_multiplier(float(x.quant.scale0) / float(y.quant.scale0))
    qmin, qmax = dtype_range(y.dtype)
    out_scale, zp = F32(y.quant.scale0), y.quant.zp0
    lo = max(qmin, zp + int(_roundf(F32(act_min) / out_scale)))
    hi = qmax if math.isinf(act_max) else min(qmax, zp + int(_roundf(F32(act_max) / out_scale)))
    v = _domain(x.dtype)
    out = np.clip(zp + _mbqm(v - x.quant.zp0, multiplier, shift), lo, hi)
    return _table_kernel(out, x.dtype, y.dtype)


@register("RELU", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), quant=QuantRule(versions={"int8": 2}), oracle="TFLM",
          dtypes=("float32", "int8", "int16"))
def prepare_relu(node: Node):
    """max(x, 0); quantized: requantize to the output scale, clamp at the output zero point."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8", "int16"))
    if x.dtype == "float32":
        return _float_kernel(lambda a: np.maximum(a, F32(0)))
    return _relu_quantized(node, x, y, 0.0, math.inf)


@register("RELU6", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), quant=QuantRule(versions={"int8": 2}),
          oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_relu6(node: Node):
    """min(max(x, 0), 6); TFLM clamps the raw input values (output quantization is ignored)."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8", "int16"))
    if x.dtype == "float32":
        return _float_kernel(lambda a: np.minimum(np.maximum(a, F32(0)), F32(6)))
    if litert_uint8(node):  # LiteRT's QuantizedReluX: requantize, then clamp
        return _relu_quantized(node, x, y, 0.0, 6.0)
    qmin, qmax = dtype_range(x.dtype)
    zero = x.quant.zp0
    six = int(np.clip(int(tflite_round(float(F32(6.0) / F32(x.quant.scale0)))) + zero,
                      qmin, qmax))
    v = _domain(x.dtype)
    return _table_kernel(np.where(v > six, six, np.where(v < zero, zero, v)), x.dtype, y.dtype)


@register("RELU_N1_TO_1", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY), oracle="LiteRT reference",
          dtypes=("float32", "int8"))
def prepare_relu_n1_to_1(node: Node):
    """min(max(x, -1), 1) (LiteRT's kernel; TFLM has none)."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8"))
    if x.dtype == "float32":
        return _float_kernel(lambda a: np.minimum(np.maximum(a, F32(-1)), F32(1)))
    return _relu_quantized(node, x, y, -1.0, 1.0)


@register("LEAKY_RELU", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), quant=QuantRule(versions={"int8": 2}),
          oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_leaky_relu(node: Node):
    """x > 0 ? x : alpha * x, with separate identity and alpha requantization multipliers."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8", "int16"))
    alpha = F32(node.attrs.get("alpha", 0.0))
    if x.dtype == "float32":
        return _float_kernel(lambda a: np.where(a > 0, a, a * alpha))
    # The multipliers are computed in double precision: the TFLM build the oracle comes from
    # casts each float to double first (the mirrored source divides in float; measured on the
    # 23 int16 LEAKY_RELU corpus models, only the double version matches).
    in_scale, out_scale = float(x.quant.scale0), float(y.quant.scale0)
    m_alpha, s_alpha = quantize_multiplier(in_scale * float(alpha) / out_scale)
    m_id, s_id = quantize_multiplier(in_scale / out_scale)
    v = _domain(x.dtype) - x.quant.zp0
    scaled_alpha = _mbqm(v, abs(m_alpha), s_alpha)
    if m_alpha < 0:
        scaled_alpha = -scaled_alpha
    out = y.quant.zp0 + np.where(v >= 0, _mbqm(v, m_id, s_id), scaled_alpha)
    qmin, qmax = dtype_range(y.dtype)
    return _table_kernel(np.clip(out, qmin, qmax), x.dtype, y.dtype)


@register("PRELU", operands="x, alpha -> y", shape=broadcast_shape,
          traits=(ELEMENTWISE, BINARY), quant=QuantRule(versions={"int8": 1}),
          oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_prelu(node: Node):
    """x >= 0 ? x : alpha * x with a broadcast alpha tensor (int16 input takes int8 alpha)."""
    x, y = _io(node)
    alpha = node.input(1)
    if alpha is None:
        raise unsupported(node, "a missing alpha input")
    if x.dtype == "float32" and y.dtype == "float32" and alpha.dtype == "float32":
        def run_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            a, w = inputs[0], inputs[1]
            return [np.broadcast_to(np.where(a >= 0, a, a * w), y.shape).astype(np.float32)]
        return run_float
    if x.dtype not in _LUT_DTYPES or y.dtype != x.dtype or alpha.dtype != "int8":
        raise unsupported(node, f"{x.dtype} input with {alpha.dtype} alpha and {y.dtype} output")
    for v, what in ((x, "input"), (alpha, "alpha"), (y, "output")):
        require_quant(node, v, what)
    in_s, a_s, out_s = (float(v.quant.scale0) for v in (x, alpha, y))
    m1, s1 = quantize_multiplier(in_s / out_s)
    m2, s2 = quantize_multiplier(in_s * a_s / out_s)
    in_zp, a_zp, out_zp = x.quant.zp0, alpha.quant.zp0, y.quant.zp0
    qmin, qmax = dtype_range(y.dtype)
    out_np = to_numpy(y.dtype)

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        v = inputs[0].astype(np.int64) - in_zp
        w = inputs[1].astype(np.int64) - a_zp
        v, w = np.broadcast_arrays(v, w)
        out = np.where(v >= 0, _mbqm(v, m1, s1), _mbqm(wrap_int32(v * w), m2, s2)) + out_zp
        return [np.broadcast_to(np.clip(out, qmin, qmax), y.shape).astype(out_np)]

    return run


# ---------------------------------------------------------------------------------------------
# HARD_SWISH, ELU, GELU
# ---------------------------------------------------------------------------------------------

def _srdhm16(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` on int16 values."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    s = ab + nudge
    high = wrap_int16(np.where(s >= 0, s >> 15, -((-s) >> 15)))
    return np.where((a == b) & (a == -32768), 32767, high)


def _rdbpot16(x: np.ndarray, exponent: int) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT`` on int16 values (the mask is an int16 too)."""
    mask = int(wrap_int16((1 << exponent) - 1))
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return wrap_int16((x >> exponent) + (remainder > threshold))


def _sat_shl16(x: np.ndarray, amount: int) -> np.ndarray:
    return np.clip(x * (1 << amount), -32768, 32767)


def _down_scale_int16(m: int) -> int:
    """TFLite ``DownScaleInt32ToInt16Multiplier``."""
    return 32767 if m >= INT32_MAX - (1 << 15) else (m + (1 << 15)) >> 16


@register("HARD_SWISH", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), quant=QuantRule(versions={"int8": 1}),
          oracle="TFLM", dtypes=("float32", "int8"))
def prepare_hard_swish(node: Node):
    """x * relu6(x + 3) / 6; int8 uses TFLite's int16 fixed-point scheme."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8"))
    if x.dtype == "float32":
        return _float_kernel(
            lambda a: a * np.minimum(F32(6), np.maximum(F32(0), a + F32(3))) / F32(6))
    hires_scale = F32(1.0 / 128.0) * F32(x.quant.scale0)
    m_out, e_out = quantize_multiplier(float(hires_scale / F32(y.quant.scale0)))
    m_relu, e_relu = quantize_multiplier(float(hires_scale / F32(3.0 / 32768.0)))
    if e_out > 0:
        raise unsupported(node, "an output multiplier exponent > 0")
    m_out16, m_relu16 = _down_scale_int16(m_out), _down_scale_int16(m_relu)
    v = wrap_int16(_domain("int8") - x.quant.zp0)
    hires = wrap_int16(v * 128)
    preshift = _srdhm16(hires, m_out16)
    reluish = hires
    if e_relu > 0:
        reluish = _sat_shl16(reluish, e_relu - 1)
    reluish = _srdhm16(reluish, m_relu16)
    if e_relu > 0:
        reluish = _sat_shl16(reluish, 1)
    if e_relu < 0:
        reluish = _rdbpot16(reluish, -e_relu)
    reluish = wrap_int16((reluish + (1 << 15)) >> 1)
    prod = reluish * preshift
    pre_out = np.where(prod >= 0, prod >> 15, -((-prod) >> 15))  # C division by 2**15
    pre_out = wrap_int16(np.where((reluish == preshift) & (reluish == -32768), 32767, pre_out))
    out = wrap_int16(_rdbpot16(pre_out, -e_out) + y.quant.zp0)
    return _table_kernel(np.clip(out, -128, 127), x.dtype, y.dtype)


@register("ELU", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("float32", "int8"))
def prepare_elu(node: Node):
    """x < 0 ? exp(x) - 1 : x; int8 through a float32 lookup table like TFLM's."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8"))
    if x.dtype == "float32":
        return _float_kernel(lambda a: np.where(a < 0, np.expm1(a.astype(np.float64)), a))

    def elu(v: np.ndarray) -> np.ndarray:
        return np.where(v < 0, _expf(v) - F32(1), v).astype(F32)

    table = lut_populate_int8(elu, x.quant.scale0, x.quant.zp0, y.quant.scale0, y.quant.zp0,
                              "int8")
    return _table_kernel(table, x.dtype, y.dtype)


_SQRT_2_OVER_PI = F32(2.0 / math.sqrt(math.pi) * math.sqrt(0.5))


#: float64 erfc elementwise (rounded to float32 below, like C's erfcf); numpy has no erf.
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _gelu_exact(v: np.ndarray) -> np.ndarray:
    erfc = _erfc
    arg = (v * F32(-math.sqrt(0.5))).astype(F32)
    return (F32(0.5) * v * erfc(arg.astype(np.float64)).astype(F32)).astype(F32)


def _gelu_tanh(v: np.ndarray) -> np.ndarray:
    inner = _SQRT_2_OVER_PI * (v + F32(0.044715) * v * v * v)
    return (F32(0.5) * v * (F32(1) + np.tanh(inner.astype(np.float64)).astype(F32))).astype(F32)


@register("GELU", operands="x -> y", shape=same_shape, traits=(ELEMENTWISE, UNARY), oracle="LiteRT reference",
          dtypes=("float32", "int8", "int16"))
def prepare_gelu(node: Node):
    """x * Phi(x) (erfc form, or the tanh approximation) via LiteRT's float32 lookup tables."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8", "int16"))
    fn = _gelu_tanh if node.attrs.get("approximate", False) else _gelu_exact
    if x.dtype == "float32":
        return _float_kernel(fn)
    if x.dtype == "int16":
        lut = lut_populate_int16(fn, float(x.quant.scale0), x.quant.zp0, float(y.quant.scale0),
                                 y.quant.zp0)
        return _table_kernel(lut_lookup_int16(_domain("int16"), lut), x.dtype, y.dtype)
    table = lut_populate_int8(fn, x.quant.scale0, x.quant.zp0, y.quant.scale0, y.quant.zp0,
                              "int8")
    return _table_kernel(table, x.dtype, y.dtype)


# ---------------------------------------------------------------------------------------------
# L2_NORMALIZATION
# ---------------------------------------------------------------------------------------------

@register("L2_NORMALIZATION", operands="x -> y", shape=same_shape, oracle="TFLM", dtypes=("float32", "int8"))
def prepare_l2_normalization(node: Node):
    """x / ||x|| over the last axis; int8 output is in units of 1/128 (its quant is unused)."""
    x, y = _io(node)
    _check_types(node, x, y, ("float32", "int8"))
    act = node.attrs.get("fused_activation_function", "NONE")
    if act != "NONE":
        raise unsupported(node, f"fused activation {act}")
    depth = x.shape[-1] if x.shape else 1
    if x.dtype == "float32":
        def run_float(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
            v = inputs[0]
            norm = np.sqrt(np.sum(v * v, axis=-1, keepdims=True, dtype=np.float32))
            return [(v / np.maximum(norm, F32(1e-6))).astype(np.float32)]
        return run_float
    zp = x.quant.zp0

    def run(inputs: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        v = inputs[0].reshape(-1, depth).astype(np.int64) - zp
        acc = wrap_int32((v * v).sum(axis=1))
        mult, shift = inv_sqrt_multiplier_exp(acc)
        out = _mbqm(v, mult[:, None], shift[:, None] + 7)
        return [np.clip(out, -128, 127).astype(np.int8).reshape(inputs[0].shape)]

    return run
