"""Elementwise binary ops, bit-exact with TFLM's reference kernels.

ADD, SUB, MUL, DIV, SQUARED_DIFFERENCE, FLOOR_DIV, FLOOR_MOD, MAXIMUM, MINIMUM, the six
comparisons, LOGICAL_AND/OR/NOT, SELECT_V2 and ADD_N; and, after LiteRT's reference kernels
where TFLM lacks them, SELECT (v1) and integer FLOOR_DIV / FLOOR_MOD.

Broadcasting: TFLM's ``BroadcastBinaryOpSimple`` walks numpy-style broadcast
shapes (right-aligned, size-1 dims stretched), so numpy broadcasting is used as is.

Quantized kernels (int8 / int16) follow TFLM's reference kernels step by step:

* ADD / SUB: both inputs are shifted left (20 bits for int8, 15 for int16), scaled
  by ``s_i / (2 max(s1, s2))`` and summed; the sum is scaled by
  ``2 max(s1, s2) / (2^left_shift s_out)`` (multipliers computed in double). TFLM
  always uses this general scheme for int16: it ignores ``pot_scale_int16``.
* MUL: ``(x1 - zp1)(x2 - zp2)`` requantized by ``s1 s2 / s_out``.
* SQUARED_DIFFERENCE: like SUB with a 7-bit (int8) / 0-bit (int16) left shift,
  then the squared difference is requantized.
* DIV (int8): Newton-Raphson reciprocal of the divisor (gemmlowp), then two
  requantizations.
* Comparisons on int8 rescale both sides (left shift 8, multiplier = input scale).

Where the installed TFLM build (the oracle) differs from the mirrored sources, the build
is followed and the spot says so: SUB's and DIV's multipliers are computed in double, and
int8 DIV's out-of-range shift counts behave as x86 executes them.

For int8 inputs every one of these ops is a pure function of the two input
bytes, so ``prepare`` evaluates the exact integer pipeline on all 65536 pairs
once and the kernel is a single table lookup. For int16 the per-input stage is a
65536-entry table and only the combining stage runs per element.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.common import (
    activation_range, broadcast_shape, dtype_range, litert_uint8, require_quant, same_shape,
)
from picojoule.ops.registry import (
    BINARY, ELEMENTWISE, FUSES_ACTIVATION, Kernel, QuantRule, UNARY, register, unsupported,
)
from picojoule.quant.fixedpoint import (
    multiply_by_quantized_multiplier_fast,
    INT32_MAX,
    INT32_MIN,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    wrap_int32,
)

IntFn = Callable[[np.ndarray], np.ndarray]
CombineFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- shapes


def _operands(node: Node, count: int = 2) -> list[Value]:
    ins = [node.input(i) for i in range(count)]
    if any(v is None for v in ins) or not node.outputs:
        raise unsupported(node, f"a node without {count} inputs and an output")
    return ins  # type: ignore[return-value]


def _shape_fix(node: Node, inputs: Sequence[Value]) -> Callable[[np.ndarray], np.ndarray]:
    """Check the inputs broadcast to the output; return a (usually identity) reshaper."""
    out = node.outputs[0].shape
    try:
        got = np.broadcast_shapes(*(v.shape for v in inputs))
    except ValueError:
        raise unsupported(node, "input shapes that do not broadcast "
                          f"({', '.join(str(v.shape) for v in inputs)})") from None
    if out == ():  # numpy hands back scalars for 0-d operands
        return lambda r: np.asarray(r).reshape(())
    if got == out:
        return lambda r: r
    if int(np.prod(got)) != int(np.prod(out)):
        raise unsupported(node, f"output shape {out} for broadcast shape {got}")
    return lambda r: r.reshape(out)


def _same_dtypes(node: Node, values: Sequence[Value], allowed: Sequence[str]) -> str:
    dt = values[0].dtype
    if any(v.dtype != dt for v in values) or dt not in allowed:
        raise unsupported(node, "dtypes " + "/".join(v.dtype for v in values))
    return dt


def _const(v: Value) -> np.ndarray | None:
    return np.asarray(v.data) if v.is_const else None


# --------------------------------------------------------------------------- fixed point


def _mul_lt1(x: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplierSmallerThanOneExp`` (shift <= 0)."""
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, mult), -shift)


def _quantize_lt1(node: Node, real: float, what: str) -> tuple[int, int]:
    """TFLM ``QuantizeMultiplierSmallerThanOneExp``, which aborts outside (0, 1)."""
    if not 0.0 < real < 1.0:
        raise unsupported(node, f"{what} multiplier {real:.6g} outside (0, 1)")
    return quantize_multiplier(real)


def _clz32(x: np.ndarray) -> np.ndarray:
    """Leading zeros of non-negative 32-bit values (32 for zero)."""
    _, exp = np.frexp(np.asarray(x, np.float64))  # exact: |x| < 2^53
    return 32 - exp.astype(np.int64)


def _clrsb32(x: np.ndarray) -> np.ndarray:
    """GCC ``__builtin_clrsb`` on int32 (redundant sign bits; 31 for 0 and -1)."""
    return _clz32(np.where(x < 0, ~x, x)) - 1


def _sat_shl(x: np.ndarray, e: int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingMultiplyByPOT<e>`` for e > 0 on int32 values."""
    thr = (1 << (31 - e)) - 1
    return np.where(x > thr, INT32_MAX, np.where(x < -thr, INT32_MIN, x << e))


def _rdbpot_x86(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT`` including exponents >= 32 as compiled for x86-64.

    Out of its documented range, ``(1ll << e) - 1`` is computed in 64 bits and truncated to
    int32 (all ones for 32 <= e < 64) and the arithmetic shift count is taken mod 32, so e.g.
    e = 32 returns ``x + (x > -1 + (x < 0))``. TFLM's int8 DIV reaches this for tiny dividends.
    """
    e = np.asarray(exponent, np.int64)
    mask = wrap_int32((np.int64(1) << (e & 63)) - 1)
    threshold = (mask >> 1) + (x < 0)
    return (x >> (e & 31)) + ((x & mask) > threshold)


def _one_over_one_plus_x(a: np.ndarray) -> np.ndarray:
    """gemmlowp ``one_over_one_plus_x_for_x_in_0_1`` on raw Q0.31 values (Newton-Raphson)."""
    srdhm = saturating_rounding_doubling_high_mul
    s = a + INT32_MAX  # RoundingHalfSum(a, F0::One()), halves away from zero
    s = s + np.where(s >= 0, 1, -1)
    half_den = np.where(s >= 0, s >> 1, -((-s) >> 1))
    x = wrap_int32(1515870810 + srdhm(half_den, -1010580540))  # Q2.29: 48/17 - 32/17 d
    for _ in range(3):
        one_minus = wrap_int32((1 << 29) - srdhm(half_den, x))
        x = wrap_int32(x + _sat_shl(srdhm(x, one_minus), 2))
    return _sat_shl(x, 1)


# --------------------------------------------------------------------------- kernels


#: int8 binary ops with at most this many outputs compute from 256-entry stage tables
#: instead of one 65,536-entry table (whose construction dominates for small tensors).
_SMALL_INT8 = 4096


def _int8_pairs() -> tuple[np.ndarray, np.ndarray]:
    """All (a, b) int8 pairs as int64 grids, ordered by the bytes' uint8 view."""
    v = np.arange(256, dtype=np.uint8).view(np.int8).astype(np.int64)
    return v[:, None], v[None, :]


def _int16_values() -> np.ndarray:
    """All int16 values as int64, ordered by their uint16 view."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int64)


def _lut_kernel(node: Node, ins: Sequence[Value], table: np.ndarray) -> Kernel:
    """Kernel for an int8 x int8 op given its 256x256 table (row: input 1 byte)."""
    table = np.ascontiguousarray(table.reshape(-1))
    fix = _shape_fix(node, ins)
    in_place = ins[0].shape == np.broadcast_shapes(ins[0].shape, ins[1].shape)

    def run(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        idx = np.left_shift(inputs[0].view(np.uint8), 8, dtype=np.uint16)
        if in_place:
            idx |= inputs[1].view(np.uint8)
        else:
            idx = idx | inputs[1].view(np.uint8)
        return [fix(table.take(idx))]

    return run


def _staged_kernel(node: Node, ins: Sequence[Value], pre: Sequence[IntFn | None],
                   combine: CombineFn, out_np: np.dtype) -> Kernel:
    """Kernel: per-input stage ``pre[i]`` then elementwise ``combine``.

    int8: the whole pipeline becomes one 64K table when the tensors are large; for small
    ones (building that table would cost more than all the runs) each ``pre`` stage is a
    256-entry table and ``combine`` runs on the data, the same integer arithmetic.
    int16: each ``pre`` stage becomes a 64K table indexed by the raw bits (or is applied
    once to a constant input).
    """
    if ins[0].dtype == "int8":
        a, b = _int8_pairs()
        s1 = pre[0](a) if pre[0] else a
        s2 = pre[1](b) if pre[1] else b
        if node.outputs[0].size > _SMALL_INT8:
            table = np.broadcast_to(combine(s1, s2), (256, 256)).astype(out_np)
            return _lut_kernel(node, ins, table)
        t1, t2 = np.ascontiguousarray(s1.reshape(-1)), np.ascontiguousarray(s2.reshape(-1))
        fix8 = _shape_fix(node, ins)

        def run_small(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            x1 = t1.take(inputs[0].view(np.uint8))
            x2 = t2.take(inputs[1].view(np.uint8))
            return [fix8(combine(x1, x2).astype(out_np))]

        return run_small

    fix = _shape_fix(node, ins)
    allv = _int16_values()
    stages: list[Callable[[np.ndarray], np.ndarray]] = []
    for v, f in zip(ins, pre):
        c = _const(v)
        if c is not None:  # constant operand: its stage runs once, here
            val = c.astype(np.int64)
            val = f(val) if f else val
            stages.append(lambda x, val=val: val)
        elif f is not None:
            tab = np.ascontiguousarray(f(allv))
            stages.append(lambda x, tab=tab: tab.take(x.view(np.uint16)))
        else:
            stages.append(lambda x: x.astype(np.int64))
    st1, st2 = stages

    def run(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [fix(combine(st1(inputs[0]), st2(inputs[1])).astype(out_np))]

    return run


def _plain_kernel(node: Node, ins: Sequence[Value], fn: Callable[..., np.ndarray]) -> Kernel:
    """Kernel applying a numpy function to the raw input arrays."""
    fix = _shape_fix(node, ins)
    if node.outputs[0].dtype.startswith("float"):
        def run_float(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return [fix(fn(*inputs))]
        return run_float

    def run(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [fix(fn(*inputs))]

    return run


def _float_bounds(act: str, np_dtype: np.dtype) -> tuple[object, object] | None:
    """TFLite ``CalculateActivationRange<T>``; None when it is the type's full range.

    For float the full range is [lowest, max], so TFLM turns +-inf into +-FLT_MAX:
    float kernels clamp even without an activation.
    """
    t = np.dtype(np_dtype).type
    if act == "RELU":
        lo, hi = t(0), None
    elif act == "RELU6":
        lo, hi = t(0), t(6)
    elif act == "RELU_N1_TO_1":
        lo, hi = t(-1), t(1)
    else:  # NONE, and TANH / SIGN_BIT, which these kernels ignore
        lo, hi = None, None
    if np.issubdtype(np_dtype, np.floating):
        info = np.finfo(np_dtype)
        return (lo if lo is not None else t(info.min), hi if hi is not None else t(info.max))
    if lo is None and hi is None:
        return None
    info = np.iinfo(np_dtype)
    return (lo if lo is not None else t(info.min), hi if hi is not None else t(info.max))


def _with_activation(fn: Callable[..., np.ndarray], bounds: tuple | None) -> Callable:
    if bounds is None:
        return fn
    lo, hi = bounds

    def clamped(*args: np.ndarray) -> np.ndarray:
        r = fn(*args)
        return np.clip(r, lo, hi, out=r) if isinstance(r, np.ndarray) else np.clip(r, lo, hi)

    return clamped


def _act(node: Node) -> str:
    return node.attrs.get("fused_activation_function", "NONE")


def _quant_params(node: Node, ins: Sequence[Value], out: Value) -> tuple:
    for i, v in enumerate(ins):
        require_quant(node, v, f"input {i}")
    require_quant(node, out, "output")
    return (*(float(v.quant.scale0) for v in ins), *(int(v.quant.zp0) for v in ins),
            float(out.quant.scale0), int(out.quant.zp0))


# --------------------------------------------------------------------------- ADD / SUB


def _add_sub_quantized(node: Node, ins: Sequence[Value], out: Value, sign: int) -> Kernel:
    """TFLM's int8/int16 ADD (sign=+1) and SUB (sign=-1)."""
    s1, s2, zp1, zp2, so, zpo = _quant_params(node, ins, out)
    left_shift = 15 if out.dtype == "int16" else 20
    # Multipliers in double. The mirrored sub_common.cc computes SUB's in float, but the
    # TFLM build used as the oracle (disassembled: divsd) does SUB in double like ADD.
    twice_max = 2.0 * max(s1, s2)
    r1, r2 = s1 / twice_max, s2 / twice_max
    ro = twice_max / ((1 << left_shift) * so)
    m1, sh1 = _quantize_lt1(node, r1, "input 1")
    m2, sh2 = _quantize_lt1(node, r2, "input 2")
    mo, sho = _quantize_lt1(node, ro, "output")
    lo, hi = activation_range(node, out)

    def pre1(x: np.ndarray) -> np.ndarray:
        return _mul_lt1(wrap_int32((x - zp1) << left_shift), m1, sh1)

    def pre2(x: np.ndarray) -> np.ndarray:
        return _mul_lt1(wrap_int32((x - zp2) << left_shift), m2, sh2)

    def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raw = a + b if sign > 0 else a - b  # |a|, |b| < 2^30: no int32 overflow
        return np.clip(multiply_by_quantized_multiplier_fast(raw, mo, sho) + zpo, lo, hi)

    return _staged_kernel(node, ins, (pre1, pre2), combine, to_numpy(out.dtype))


def add_input_table(zp: int, mult: int, shift: int, left_shift: int = 20) -> np.ndarray:
    """The rescaled int8 input of TFLM's ADD/SUB for every value -128..127 (the ``pre``
    stage of :func:`_add_sub_quantized`): int32, index ``v + 128``. The C backend stores it
    as a lookup table for large additions."""
    x = np.arange(-128, 128, dtype=np.int64)
    return _mul_lt1(wrap_int32((x - zp) << left_shift), mult, shift).astype(np.int32)


def _add_sub(node: Node, sign: int) -> Kernel:
    ins = _operands(node)
    out = node.outputs[0]
    dt = _same_dtypes(node, [*ins, out], ("float32", "int32", "int8", "int16"))
    if dt in ("int8", "int16"):
        return _add_sub_quantized(node, ins, out, sign)
    if dt == "int32" and sign > 0:
        bounds = None  # TFLM's int32 ADD ignores the fused activation
    else:
        bounds = _float_bounds(_act(node), to_numpy(dt))
    base = np.add if sign > 0 else np.subtract
    return _plain_kernel(node, ins, _with_activation(base, bounds))


@register("ADD", operands="a, b -> y", shape=broadcast_shape, traits=(ELEMENTWISE, BINARY, FUSES_ACTIVATION),
          quant=QuantRule(versions={"int8": 2, "int16x8": 3}), oracle="TFLM",
          dtypes=("float32", "int8", "int16", "int32"))
def prepare_add(node: Node) -> Kernel:
    """Elementwise sum with broadcasting and fused activation."""
    return _add_sub(node, +1)


@register("SUB", operands="a, b -> y", shape=broadcast_shape, traits=(ELEMENTWISE, BINARY, FUSES_ACTIVATION),
          quant=QuantRule(versions={"int8": 2, "int16x8": 3}), oracle="TFLM",
          dtypes=("float32", "int8", "int16", "int32"))
def prepare_sub(node: Node) -> Kernel:
    """Elementwise difference with broadcasting and fused activation."""
    return _add_sub(node, -1)


# --------------------------------------------------------------------------- MUL


def mul_multiplier(node: Node, s1: float, s2: float, so: float) -> tuple[int, int]:
    """MUL's output multiplier: ``s1 * s2 / so`` in double, as TFLM's mul_common.cc.

    A legacy uint8 MUL (``litert_uint8``, see :mod:`picojoule.passes.uint8`) follows
    LiteRT's mul.cc instead: product and quotient in float32. A left shift of 32 bits or
    more (an output scale of ~1e-35: a dead layer) is undefined in C; the shift count is
    taken modulo 32, as x86 executes LiteRT's ``x * (1 << left_shift)``.
    """
    if not litert_uint8(node):
        return quantize_multiplier(s1 * s2 / so)
    f32 = np.float32
    mult, shift = quantize_multiplier(float(f32(f32(s1) * f32(s2)) / f32(so)))
    return mult, (shift & 31 if shift > 31 else shift)


@register("MUL", operands="a, b -> y", shape=broadcast_shape, traits=(ELEMENTWISE, BINARY, FUSES_ACTIVATION),
          quant=QuantRule(versions={"int8": 2, "int16x8": 4}), oracle="TFLM",
          dtypes=("float32", "int8", "int16", "int32"))
def prepare_mul(node: Node) -> Kernel:
    """Elementwise product with broadcasting and fused activation."""
    ins = _operands(node)
    out = node.outputs[0]
    dt = _same_dtypes(node, [*ins, out], ("float32", "int32", "int8", "int16"))
    if dt not in ("int8", "int16"):
        return _plain_kernel(node, ins, _with_activation(np.multiply,
                                                          _float_bounds(_act(node), to_numpy(dt))))
    s1, s2, zp1, zp2, so, zpo = _quant_params(node, ins, out)
    if dt == "int16" and (zp1 or zp2 or zpo):
        raise unsupported(node, "int16 with non-zero zero points")
    mult, shift = mul_multiplier(node, s1, s2, so)
    lo, hi = activation_range(node, out)

    def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        prod = (a - zp1) * (b - zp2)  # int8/int16 (zero points 0): fits int32
        return np.clip(multiply_by_quantized_multiplier_fast(prod, mult, shift) + zpo, lo, hi)

    return _staged_kernel(node, ins, (None, None), combine, to_numpy(dt))


# --------------------------------------------------------------------------- DIV


def _c_int_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C ``a / b`` on int32: truncates toward zero (x / 0 and INT_MIN / -1 are UB in C).

    Exact through float64: a non-integer quotient of int32 values is at least 1/|b| from
    the nearest integer, i.e. at least 1/|a| > 2^-31 relative to itself, while the float64
    quotient is within 2^-53 relative, so truncating it gives C's result.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.trunc(np.divide(a, b, dtype=np.float64)).astype(np.int32)


def _div_int8_table(node: Node, ins: Sequence[Value], out: Value) -> np.ndarray:
    """reference_ops::DivElementwise for every int8 pair."""
    s1, s2, zp1, zp2, so, zpo = _quant_params(node, ins, out)
    # double (the mirrored div.cc divides in float; the TFLM build used does mulsd/divsd)
    mult, out_shift = quantize_multiplier(s1 / (s2 * so))
    lo, hi = activation_range(node, out)
    a, b = _int8_pairs()
    v1, v2 = np.broadcast_arrays(a - zp1, b - zp2)
    neg = v2 < 0
    v1 = np.where(neg, -v1, v1)
    v2 = np.where(neg, -v2, v2)
    # GetReciprocal(v2, 31): scale v2 into [1, 2) and invert it in Q0.31.
    lead = _clz32(v2)
    recip_shift = 31 - lead
    shifted = wrap_int32(((v2 << (lead & 31)) & 0xFFFFFFFF) - (1 << 31))
    inv = _one_over_one_plus_x(shifted)
    headroom = _clrsb32(v1)
    unscaled = saturating_rounding_doubling_high_mul(wrap_int32(v1 << headroom), inv)
    total_shift = out_shift - recip_shift - headroom
    res = _rdbpot_x86(saturating_rounding_doubling_high_mul(unscaled, mult), -total_shift)
    return np.clip(res + zpo, lo, hi)


@register("DIV", operands="a, b -> y", shape=broadcast_shape,
          traits=(ELEMENTWISE, BINARY, FUSES_ACTIVATION), oracle="TFLM",
          dtypes=("float32", "int8", "int32"))
def prepare_div(node: Node) -> Kernel:
    """Elementwise quotient (C truncation for int32) with broadcasting and activation."""
    ins = _operands(node)
    out = node.outputs[0]
    dt = _same_dtypes(node, [*ins, out], ("float32", "int32", "int8"))
    if dt == "int8":
        return _lut_kernel(node, ins, _div_int8_table(node, ins, out).astype(np.int8))
    bounds = _float_bounds(_act(node), to_numpy(dt))
    if dt == "int32":
        return _plain_kernel(node, ins, _with_activation(_c_int_div, bounds))

    return _plain_kernel(node, ins, _with_activation(np.divide, bounds))


# --------------------------------------------------------------------------- SQUARED_DIFFERENCE


@register("SQUARED_DIFFERENCE", operands="a, b -> y", shape=broadcast_shape, traits=(ELEMENTWISE, BINARY), oracle="TFLM",
          dtypes=("float32", "int8", "int16", "int32"))
def prepare_squared_difference(node: Node) -> Kernel:
    """(x1 - x2)^2 elementwise, with broadcasting; quantized via rescaled inputs."""
    ins = _operands(node)
    out = node.outputs[0]
    dt = _same_dtypes(node, [*ins, out], ("float32", "int32", "int8", "int16"))
    if dt == "float32":
        def sqdiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            d = np.subtract(a, b)
            return d * d
        return _plain_kernel(node, ins, sqdiff)
    if dt == "int32":
        def sqdiff_i32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            d = wrap_int32(np.subtract(a, b, dtype=np.int64))
            return wrap_int32(d * d).astype(np.int32)
        return _plain_kernel(node, ins, sqdiff_i32)
    s1, s2, zp1, zp2, so, zpo = _quant_params(node, ins, out)
    if dt == "int16" and (zp1 or zp2 or zpo):
        raise unsupported(node, "int16 with non-zero zero points")
    left_shift = 7 if dt == "int8" else 0
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = _quantize_lt1(node, s1 / twice_max, "input 1")
    m2, sh2 = _quantize_lt1(node, s2 / twice_max, "input 2")
    # (1 << 2 left_shift) * scale is a float product, as squared_difference.cc
    denom = float(np.float32(1 << (2 * left_shift)) * np.float32(so))
    mo, sho = quantize_multiplier(twice_max * twice_max / denom)
    lo, hi = dtype_range(dt)

    def pre1(x: np.ndarray) -> np.ndarray:
        return _mul_lt1(wrap_int32((x - zp1) << left_shift), m1, sh1)

    def pre2(x: np.ndarray) -> np.ndarray:
        return _mul_lt1(wrap_int32((x - zp2) << left_shift), m2, sh2)

    def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = a - b
        sq = wrap_int32(d * d)
        return np.clip(multiply_by_quantized_multiplier_fast(sq, mo, sho) + zpo, lo, hi)

    return _staged_kernel(node, ins, (pre1, pre2), combine, to_numpy(dt))


# --------------------------------------------------------------------------- FLOOR_DIV / FLOOR_MOD

#: Integer types LiteRT's FLOOR_DIV / FLOOR_MOD take (TFLM's kernels are float32 only).
FLOOR_INT_DTYPES = {"FLOOR_DIV": ("int8", "int16", "int32"),
                    "FLOOR_MOD": ("int8", "int16", "int32", "int64")}


def floor_int(op: str, a: np.ndarray, b: np.ndarray, np_dtype: np.dtype) -> np.ndarray:
    """LiteRT's integer FLOOR_DIV / FLOOR_MOD of raw values (quantization is ignored).

    FLOOR_DIV is ``floor(double(a) / double(b))`` converted back to the type; that quotient
    is exact for these types. The one result outside the type (the minimum over -1) is an
    undefined conversion in C++: it wraps to the minimum here, as in LiteRT's scalar loop
    (its vectorised loop, over same-shape int8/int16 blocks of 8, saturates instead).
    FLOOR_MOD is C's ``a % b`` moved to the divisor's sign (the minimum % -1 is 0, which C
    leaves undefined). LiteRT refuses a zero divisor ("Division by 0"); here, and in the C
    kernels, x / 0 and x % 0 are 0.
    """
    a64, b64 = np.asarray(a).astype(np.int64), np.asarray(b).astype(np.int64)
    zero = b64 == 0
    d = np.where(zero, 1, b64)
    if op == "FLOOR_DIV":
        r = np.floor_divide(a64, d)       # exact, then wrapped below (int64 never overflows)
    else:
        r = np.fmod(a64, d)               # C's truncated remainder (numpy: MIN % -1 is 0)
        r = np.where((r != 0) & ((d < 0) != (r < 0)), r + d, r)
    return np.where(zero, 0, r).astype(np_dtype)


def _floor_int(node: Node) -> Kernel:
    ins = _operands(node)
    dt = _same_dtypes(node, [*ins, node.outputs[0]], FLOOR_INT_DTYPES[node.op])
    np_dtype, op = to_numpy(dt), node.op
    return _plain_kernel(node, ins, lambda a, b: floor_int(op, a, b, np_dtype))



@register("FLOOR_DIV", operands="a, b -> y", shape=broadcast_shape,
          traits=(ELEMENTWISE, BINARY), oracle="TFLM; LiteRT reference for integers",
          dtypes=("float32",) + FLOOR_INT_DTYPES["FLOOR_DIV"])
def prepare_floor_div(node: Node) -> Kernel:
    """floor(double(x1) / double(x2)) as float32, with broadcasting (integers: LiteRT)."""
    ins = _operands(node)
    if ins[0].dtype in FLOOR_INT_DTYPES["FLOOR_DIV"]:
        return _floor_int(node)
    _same_dtypes(node, [*ins, node.outputs[0]], ("float32",))

    def floor_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.floor(np.divide(a, b, dtype=np.float64)).astype(np.float32)

    return _plain_kernel(node, ins, floor_div)


@register("FLOOR_MOD", operands="a, b -> y", shape=broadcast_shape,
          traits=(ELEMENTWISE, BINARY), oracle="TFLM; LiteRT reference for integers",
          dtypes=("float32",) + FLOOR_INT_DTYPES["FLOOR_MOD"])
def prepare_floor_mod(node: Node) -> Kernel:
    """fmodf(x1, x2) moved to the divisor's sign (Python-style modulo), with broadcasting."""
    ins = _operands(node)
    if ins[0].dtype in FLOOR_INT_DTYPES["FLOOR_MOD"]:
        return _floor_int(node)
    _same_dtypes(node, [*ins, node.outputs[0]], ("float32",))

    def floor_mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        r = np.fmod(a, b)
        return np.where((r != 0) & ((b < 0) != (r < 0)), r + b, r)

    return _plain_kernel(node, ins, floor_mod)


# --------------------------------------------------------------------------- ADD_N


def _add_n_shape(node: Node, shapes, consts) -> list:
    """ADD_N: every input has the output's shape (TFLite checks they are all equal)."""
    if any(tuple(s) != tuple(shapes[0]) for s in shapes):
        raise unsupported(node, "inputs of different shapes "
                          f"({', '.join(str(tuple(s)) for s in shapes)})")
    return [tuple(shapes[0])]


@register("ADD_N", operands="x... -> y", shape=_add_n_shape,
          traits=(ELEMENTWISE, BINARY), oracle="TFLM", dtypes=("float32", "int8"))
def prepare_add_n(node: Node) -> Kernel:
    """Sum of N same-shape tensors (float32 in input order; int8 via ADD's scheme).

    TFLM's int8 AddN starts its accumulator from the scaled input offset (-zp), as if
    one more input held raw 0; that term is reproduced.
    """
    ins = [v for v in node.inputs if v is not None]
    out = node.outputs[0]
    if len(ins) < 2 or any(v.shape != out.shape for v in ins):
        raise unsupported(node, "fewer than 2 inputs or inputs shaped unlike the output")
    dt = _same_dtypes(node, [*ins, out], ("float32", "int8"))
    if dt == "float32":
        def add_n(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            acc = inputs[0] + np.float32(0)  # T x = 0; x += ... (and 0 + -0.0 is +0.0)
            for x in inputs[1:]:
                acc += x
            return [acc]
        return add_n
    for i, v in enumerate(ins):
        require_quant(node, v, f"input {i}")
    require_quant(node, out, "output")
    s, zp = float(ins[0].quant.scale0), int(ins[0].quant.zp0)
    if any(float(v.quant.scale0) != s or int(v.quant.zp0) != zp for v in ins):
        raise unsupported(node, "inputs with different quantization")
    so, zpo = float(out.quant.scale0), int(out.quant.zp0)
    twice = 2.0 * s
    mi, shi = _quantize_lt1(node, s / twice, "input")
    mo, sho = _quantize_lt1(node, twice / ((1 << 20) * so), "output")
    lo, hi = dtype_range("int8")
    a, _ = _int8_pairs()
    table = _mul_lt1(wrap_int32((a[:, 0] - zp) << 20), mi, shi)  # by uint8 view
    start = int(_mul_lt1(np.int64(-zp) << 20, mi, shi))

    def run(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        acc = table.take(inputs[0].view(np.uint8)) + start
        for x in inputs[1:]:
            acc = wrap_int32(acc + table.take(x.view(np.uint8)))  # TFLM's int32 sum wraps
        y = multiply_by_quantized_multiplier_fast(acc, mo, sho) + zpo
        return [np.clip(y, lo, hi).astype(np.int8)]

    return run


# --------------------------------------------------------------------------- MAXIMUM / MINIMUM


def _max_min(node: Node, is_max: bool) -> Kernel:
    ins = _operands(node)
    out = node.outputs[0]
    dt = _same_dtypes(node, [*ins, out], ("float32", "int8", "int16", "int32", "int64"))
    if dt == "float32":  # el1 > el2 ? el1 : el2 (a NaN in el1 loses, in el2 wins)
        if is_max:
            return _plain_kernel(node, ins, lambda a, b: np.where(a > b, a, b))
        return _plain_kernel(node, ins, lambda a, b: np.where(a < b, a, b))
    return _plain_kernel(node, ins, np.maximum if is_max else np.minimum)


@register("MAXIMUM", operands="a, b -> y", shape=broadcast_shape,
          traits=(ELEMENTWISE, BINARY), quant=QuantRule(same=True, versions={"int8": 2}),
          oracle="TFLM", dtypes=("float32", "int8", "int16", "int32", "int64"))
def prepare_maximum(node: Node) -> Kernel:
    """Elementwise maximum of the raw values (no rescaling), with broadcasting."""
    return _max_min(node, True)


@register("MINIMUM", operands="a, b -> y", shape=broadcast_shape,
          traits=(ELEMENTWISE, BINARY), quant=QuantRule(same=True, versions={"int8": 2}),
          oracle="TFLM", dtypes=("float32", "int8", "int16", "int32", "int64"))
def prepare_minimum(node: Node) -> Kernel:
    """Elementwise minimum of the raw values (no rescaling), with broadcasting."""
    return _max_min(node, False)


# --------------------------------------------------------------------------- comparisons

_CMP_SYMBOL = {"EQUAL": "==", "NOT_EQUAL": "!=", "LESS": "<", "LESS_EQUAL": "<=",
               "GREATER": ">", "GREATER_EQUAL": ">="}
_CMP = {"EQUAL": np.equal, "NOT_EQUAL": np.not_equal, "LESS": np.less,
        "LESS_EQUAL": np.less_equal, "GREATER": np.greater, "GREATER_EQUAL": np.greater_equal}


def _comparison(node: Node) -> Kernel:
    ins = _operands(node)
    out = node.outputs[0]
    fn = _CMP[node.op]
    if out.dtype != "bool":
        raise unsupported(node, f"{out.dtype} output")
    allowed = ["float32", "int32", "int64", "int8"]
    if node.op in ("EQUAL", "NOT_EQUAL"):
        allowed.append("bool")
    if ins[0].dtype == "int16":
        raise unsupported(node, "int16 inputs (TFLM rejects them, except GREATER, whose int16 "
                          "path runs without its rescaling parameters)")
    dt = _same_dtypes(node, ins, allowed)
    if dt != "int8":
        return _plain_kernel(node, ins, fn)
    # comparisons.cc: left shift 8, each side scaled by its own scale (< 1).
    for i, v in enumerate(ins):
        require_quant(node, v, f"input {i}")
    params = [(int(v.quant.zp0),
               *_quantize_lt1(node, float(v.quant.scale0), f"input {i} scale as"))
              for i, v in enumerate(ins)]

    def stage(zp: int, m: int, sh: int) -> IntFn:
        return lambda x: _mul_lt1(wrap_int32((x - zp) << 8), m, sh)

    pre = [stage(*p) for p in params]
    return _staged_kernel(node, ins, pre, fn, np.dtype(np.bool_))


def _register_comparison(op: str) -> None:
    def prepare(node: Node) -> Kernel:
        return _comparison(node)

    prepare.__doc__ = (f"Elementwise x1 {_CMP_SYMBOL[op]} x2 to bool, with broadcasting; "
                       "int8 sides are rescaled first.")
    register(op, operands="a, b -> y", shape=broadcast_shape, oracle="TFLM", dtypes=("float32", "int8", "int32", "int64")
             + (("bool",) if op in ("EQUAL", "NOT_EQUAL") else ()))(prepare)


for _op in _CMP:
    _register_comparison(_op)


# --------------------------------------------------------------------------- logical / select


@register("LOGICAL_AND", operands="a, b -> y", shape=broadcast_shape,
          traits=(ELEMENTWISE, BINARY), oracle="TFLM", dtypes=("bool",))
def prepare_logical_and(node: Node) -> Kernel:
    """Elementwise AND of bool tensors, with broadcasting."""
    ins = _operands(node)
    _same_dtypes(node, [*ins, node.outputs[0]], ("bool",))
    return _plain_kernel(node, ins, np.logical_and)


@register("LOGICAL_OR", operands="a, b -> y", shape=broadcast_shape,
          traits=(ELEMENTWISE, BINARY), oracle="TFLM", dtypes=("bool",))
def prepare_logical_or(node: Node) -> Kernel:
    """Elementwise OR of bool tensors, with broadcasting."""
    ins = _operands(node)
    _same_dtypes(node, [*ins, node.outputs[0]], ("bool",))
    return _plain_kernel(node, ins, np.logical_or)


@register("LOGICAL_NOT", operands="x -> y", shape=same_shape,
          traits=(ELEMENTWISE, UNARY), oracle="TFLM", dtypes=("bool",))
def prepare_logical_not(node: Node) -> Kernel:
    """Elementwise NOT of a bool tensor."""
    ins = _operands(node, 1)
    _same_dtypes(node, [*ins, node.outputs[0]], ("bool",))
    return _plain_kernel(node, ins, np.logical_not)


@register("SELECT_V2", operands="condition, a, b -> y", shape=broadcast_shape, traits=(ELEMENTWISE, BINARY), oracle="TFLM",
          dtypes=("float32", "int8", "int16"))
def prepare_select_v2(node: Node) -> Kernel:
    """cond ? x : y elementwise with three-way broadcasting (raw values, no rescaling).

    TFLM takes float32/int8/int16; the other numeric types LiteRT accepts work the same way.
    """
    cond, x, y = _operands(node, 3)
    out = node.outputs[0]
    if cond.dtype != "bool":
        raise unsupported(node, f"{cond.dtype} condition")
    _same_dtypes(node, [x, y, out], ("float32", "int8", "int16", "int32", "int64", "uint8",
                                     "bool"))
    return _plain_kernel(node, [cond, x, y], np.where)


def _select_condition_shape(node: Node, cond: Sequence[int], x: Sequence[int],
                            y: Sequence[int]) -> tuple[int, ...]:
    """SELECT (v1): x and y of one shape; the condition of that shape too, a scalar, or 1-D
    over x's first dimension (LiteRT's RankOneSelect). The condition's shape as it
    broadcasts against x numpy-style (a 1-D one gets trailing unit dimensions)."""
    cond, x, y = tuple(cond), tuple(x), tuple(y)
    if x != y:
        raise unsupported(node, f"x {x} and y {y} of different shapes (SELECT_V2 broadcasts)")
    if cond == x or cond == ():
        return cond
    if len(cond) == 1 and len(x) >= 1 and cond[0] == x[0]:
        return cond + (1,) * (len(x) - 1)
    raise unsupported(node, f"a condition of shape {cond} for x of shape {x} (SELECT takes the "
                      "same shape, a scalar or x's first dimension)")


def _select_shape(node: Node, shapes, consts) -> list:
    """SELECT: the output has x's shape (see :func:`_select_condition_shape`)."""
    _select_condition_shape(node, shapes[0], shapes[1], shapes[2])
    return [tuple(shapes[1])]


#: Element types LiteRT's SELECT / SELECT_V2 kernels take.
SELECT_DTYPES = ("float32", "int8", "uint8", "int16", "int32", "int64", "bool")


@register("SELECT", operands="condition, a, b -> y", shape=_select_shape, quant=QuantRule(same=True),
          oracle="LiteRT reference", dtypes=SELECT_DTYPES)
def prepare_select(node: Node) -> Kernel:
    """cond ? x : y (raw values); the condition x-shaped, a scalar or 1-D over x's rows.

    TFLite's first SELECT (LiteRT; TFLM has only SELECT_V2): x and y must have one shape;
    a 1-D condition picks whole slices along the first dimension. Not elementwise in
    numpy's sense (a 1-D condition is aligned left), so no layout or in-place rules apply.
    """
    cond, x, y = _operands(node, 3)
    out = node.outputs[0]
    if cond.dtype != "bool":
        raise unsupported(node, f"{cond.dtype} condition")
    _same_dtypes(node, [x, y, out], SELECT_DTYPES)
    view = _select_condition_shape(node, cond.shape, x.shape, y.shape)
    if out.shape != x.shape:
        raise unsupported(node, f"output shape {out.shape} for x of shape {x.shape}")

    def run(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        c = np.asarray(inputs[0]).reshape(view)
        return [np.where(c, inputs[1], inputs[2]).astype(inputs[1].dtype, copy=False)
                .reshape(out.shape)]

    return run
