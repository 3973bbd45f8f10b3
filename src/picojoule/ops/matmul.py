"""FULLY_CONNECTED and BATCH_MATMUL: TFLM reference semantics, computed fast.

Exactness. Products of int8/int16 integers summed in float64 are exact while the
sums stay below 2**53 (in float32 below 2**24, which prepare checks per layer from
the weights: most int8 layers qualify and then move half the bytes), so one BLAS
matmul yields TFLM's integer accumulator. The input offset is folded into the bias
at prepare time: ``(x + in_off) @ W = x @ W + in_off * colsum(W)``.

Requantization. TFLM's ``MultiplyByQuantizedMultiplier`` followed by ``+ zero_point``
and the activation clamp is a non-decreasing step function of the accumulator as
long as nothing wraps (the accumulator bound is known at prepare time). For narrow
outputs we therefore tabulate, once, the smallest accumulator that reaches each
output level (bisection using :mod:`picojoule.quant.fixedpoint` itself) and
requantize at run time with a single ``searchsorted`` plus a table lookup.
Per-channel tables are made one sorted array by offsetting channel ``c`` by
``c * 2**34``; the offset is folded into the bias. Configurations where that does
not hold (possible int32 wrap-around, huge tables) use the plain fixed-point
functions on int64 arrays.

Oracles: TFLM for float32 / int8 / int16x8 (and int4 weights, unpacked by the
importer); LiteRT's reference kernels for the hybrid case (float32 activations with
int8 weights), which TFLM does not support, and for legacy uint8 layers (re-encoded as
int8 with per-tensor weights and a weight offset by :mod:`picojoule.passes.uint8`,
marked ``litert_uint8``: LiteRT's uint8 kernel scales the accumulator in double and
rounds, instead of the fixed-point requantization).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.common import (
    activation_range,
    apply_float_activation,
    dtype_range,
    float_activation_bounds,
    litert_uint8,
    require_quant,
)
from picojoule.ops.registry import (
    FUSES_ACTIVATION, Kernel, QuantRule, Weights, register, unsupported,
)
from picojoule.quant import fixedpoint as fp

_F64_EXACT = 1 << 53
_F32_EXACT = 1 << 24
#: Per-channel threshold tables: channel c lives around c * _CHANNEL_STRIDE.
_CHANNEL_STRIDE = float(1 << 34)
#: Marker positions inside a channel's slot (accumulators stay within +-2**31).
_ALWAYS = -float(1 << 32)
_NEVER = float(1 << 32)
#: Largest threshold table (channels x levels) worth building.
_MAX_TABLE = 1 << 18

Requant = Callable[[np.ndarray], np.ndarray]


# --------------------------------------------------------------------------------------
# Requantization
# --------------------------------------------------------------------------------------
def _mbqm(acc: np.ndarray, mult: np.ndarray, shift: np.ndarray, wide: bool) -> np.ndarray:
    """TFLM's MultiplyByQuantizedMultiplier: int32 (double rounding) or int64-input form."""
    if wide:
        return fp.multiply_by_quantized_multiplier_int64(acc, mult, shift)
    return fp.multiply_by_quantized_multiplier(acc, mult, shift)


def _no_wrap(bound: int, mult: np.ndarray, shift: np.ndarray, wide: bool) -> bool:
    """True when no accumulator in [-bound, bound] makes TFLM's arithmetic wrap."""
    if bound >= 1 << 31:
        return False
    if not wide:
        return (bound << int(max(int(shift.max()), 0))) < (1 << 31)
    for m, s in zip(mult.tolist(), shift.tolist()):
        reduced = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
        total = 15 - s
        if total < 1 or (bound * reduced + (1 << (total - 1))) >> total >= 1 << 31:
            return False
    return True


def _threshold_requant(mult: np.ndarray, shift: np.ndarray, zp: int, lo: int, hi: int,
                       bound: int, wide: bool, out_dtype: np.dtype, acc_dtype: type = np.float64,
                       ) -> tuple[Requant, np.ndarray]:
    """Tabulated requantization; returns (kernel on float64 acc, per-channel acc offsets).

    ``thresholds[c, j]`` is the smallest accumulator of channel ``c`` whose output is
    at least ``lo + 1 + j``, found by bisection on the exact fixed-point function.
    """
    channels = mult.size
    levels = np.arange(lo + 1, hi + 1, dtype=np.int64)[None, :]
    m = mult.reshape(-1, 1)
    s = shift.reshape(-1, 1)

    def reaches(a: np.ndarray) -> np.ndarray:
        return _mbqm(a, m, s, wide) + zp >= levels

    shape = (channels, levels.size)
    a_lo = np.full(shape, -bound, np.int64)
    a_hi = np.full(shape, bound, np.int64)
    always = reaches(a_lo)
    possible = reaches(a_hi)
    # Invariant where searching: a_lo does not reach the level, a_hi does.
    while True:
        open_ = (a_hi - a_lo > 1) & possible & ~always
        if not open_.any():
            break
        mid = (a_lo + a_hi) >> 1
        ok = reaches(mid)
        a_hi = np.where(open_ & ok, mid, a_hi)
        a_lo = np.where(open_ & ~ok, mid, a_lo)
    thr = np.where(always, _ALWAYS, np.where(possible, a_hi.astype(np.float64), _NEVER))
    if levels.size and np.any(np.diff(thr, axis=1) < 0):  # would mean non-monotonic
        raise AssertionError("requantization is not monotonic")
    offsets = np.arange(channels, dtype=np.float64) * _CHANNEL_STRIDE
    # Each channel's slot: its thresholds, then a separator above any accumulator.
    table = np.concatenate([thr, np.full((channels, 1), _NEVER * 2)], axis=1)
    table = (table + offsets[:, None]).reshape(-1).astype(acc_dtype)
    width = levels.size + 1
    lut = (lo + np.arange(channels * width) % width).astype(out_dtype)

    def run(acc: np.ndarray) -> np.ndarray:
        return lut[table.searchsorted(acc, "right")]

    return run, offsets


def _arith_requant(mult: np.ndarray, shift: np.ndarray, zp: int, lo: int, hi: int,
                   wide: bool, out_dtype: np.dtype) -> Callable[[np.ndarray], np.ndarray]:
    """Requantize an int64 accumulator (channels on the last axis) with the fixed-point helpers.

    The 32-bit form first wraps the accumulator like TFLM's int32 accumulation.
    """
    m = mult if mult.size > 1 else int(mult[0])
    s = shift if shift.size > 1 else int(shift[0])

    def run(acc: np.ndarray) -> np.ndarray:
        if not wide:
            acc = fp.wrap_int32(acc)
        y = _mbqm(acc, m, s, wide) + zp
        return np.clip(y, lo, hi).astype(out_dtype)

    return run


def _make_requant(mult: np.ndarray, shift: np.ndarray, zp: int, lo: int, hi: int, bound: int,
                  wide: bool, out_dtype: np.dtype, acc_dtype: type = np.float64,
                  ) -> tuple[Requant, np.ndarray | None]:
    """Best requantizer for an exact float accumulator, plus offsets to add to it (or None).

    ``acc_dtype`` float32 is only allowed for one channel (per-channel offsets need
    float64) and ``bound < 2**24``.
    """
    if (bound < _F64_EXACT and _no_wrap(bound, mult, shift, wide)
            and mult.size * (hi - lo + 1) <= _MAX_TABLE and mult.size < (1 << 18)):
        return _threshold_requant(mult, shift, zp, lo, hi, bound, wide, out_dtype, acc_dtype)
    arith = _arith_requant(mult, shift, zp, lo, hi, wide, out_dtype)
    return (lambda acc: arith(acc.astype(np.int64))), None


def _multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return fp.quantize_multipliers(np.asarray(reals, np.float64))


def _per_tensor_real_multiplier(in_scale: float, w_scale: float, out_scale: float) -> float:
    """TFLite's GetQuantizedConvolutionMultipler: in_scale * w_scale / out_scale in double.

    The C++ source writes ``static_cast<double>(input_scale * filter_scale)`` (a float32
    product), yet the tflite_micro build used as oracle behaves as if the product were
    taken in double (tests/ops/test_matmul.py::test_fc_scale_product_precision_vs_tflm
    finds scales where the two differ), so we follow the observed behaviour.
    """
    return float(np.float32(in_scale)) * float(np.float32(w_scale)) / float(np.float32(out_scale))


def _input_magnitude(dtype: str, offset: int) -> int:
    """max |x + offset| over the integer dtype's range."""
    qmin, qmax = dtype_range(dtype)
    return max(abs(qmin + offset), abs(qmax + offset))


# --------------------------------------------------------------------------------------
# FULLY_CONNECTED
# --------------------------------------------------------------------------------------
def _fc_macs(node: Node) -> int:
    out, w = node.outputs[0], node.inputs[1]
    return out.size * w.shape[-1]


def _fc_shape(node: Node, shapes, consts) -> list:
    """TFLite: weights [N, K]; ``keep_num_dims`` keeps the input's dims with the last one
    N, otherwise the output is [input elements / K, N]."""
    x, w = tuple(shapes[0]), shapes[1]
    if w is None or len(w) != 2:
        raise unsupported(node, f"weights of shape {w} (TFLite's are [units, depth])")
    n, k = w
    size = int(np.prod(x, dtype=np.int64))
    if k <= 0 or size % k:
        raise unsupported(node, f"an input of {size} elements for rows of {k}")
    if node.attrs.get("keep_num_dims", False):
        if not x or x[-1] != k:
            raise unsupported(node, f"keep_num_dims with input {x} and depth {k}")
        return [x[:-1] + (n,)]
    return [(size // k, n)]


def _fc_geometry(node: Node) -> tuple[int, int, int]:
    """(batches, K, N) from TFLM's view: batches = output size / N, rows of K inputs."""
    x, w = node.inputs[0], node.inputs[1]
    out = node.outputs[0]
    k = w.shape[-1]
    n = int(np.prod(w.shape[:-1]))
    if out.shape[-1] != n:
        raise unsupported(node, f"output depth {out.shape[-1]} != weight rows {n}")
    batches = out.size // n
    if x.size != batches * k:
        raise unsupported(node, f"input of {x.size} elements for {batches} rows of {k}")
    return batches, k, n


@register("FULLY_CONNECTED", operands="x, w:2, bias? -> y", shape=_fc_shape, traits=(FUSES_ACTIVATION,),
          quant=QuantRule(weights=Weights(1, 0, 2, 0),
                          versions={"int8": 4, "int16x8": 7, "int4-weights": 10}),
          macs=_fc_macs, oracle="TFLM",
          dtypes=("float32", "int8", "int16", "float32 x int8 (hybrid, LiteRT reference)"))
def prepare_fully_connected(node: Node) -> Kernel:
    """Fully connected: float32, int8 (int8/int4 weights), int16x8; hybrid per LiteRT ref."""
    x, w = node.inputs[0], node.inputs[1]
    bias = node.input(2)
    if node.attrs.get("weights_format", 0) not in (0, "DEFAULT"):
        raise unsupported(node, f"weights_format {node.attrs['weights_format']}")
    if x.dtype == "float32" and w.dtype == "float32":
        return _prepare_fc_float(node)
    if x.dtype == "float32" and w.dtype in ("int8", "int4"):
        return _prepare_fc_hybrid(node)
    if x.dtype in ("int8", "int16") and w.dtype in ("int8", "int4"):
        return _prepare_fc_quantized(node)
    raise unsupported(node, f"{x.dtype} input with {w.dtype} weights"
                      + (f" and {bias.dtype} bias" if bias is not None else ""))


def _const_or_none(v: Value | None) -> np.ndarray | None:
    return v.data if v is not None and v.is_const else None


def _prepare_fc_float(node: Node) -> Kernel:
    """float32: TFLM sums in float32; we sum in float64 (more exact, within tolerance)."""
    w, bias = node.inputs[1], node.input(2)
    out = node.outputs[0]
    batches, k, n = _fc_geometry(node)
    lo, hi = float_activation_bounds(node)
    shape = out.shape
    wc, bc = _const_or_none(w), _const_or_none(bias)
    wt = np.ascontiguousarray(wc.reshape(n, k).T, np.float64) if wc is not None else None
    b64 = bc.reshape(n).astype(np.float64) if bc is not None else None
    has_bias = bias is not None

    def run(inputs):
        xs = inputs[0].reshape(batches, k).astype(np.float64)
        wm = wt if wt is not None else inputs[1].reshape(n, k).T.astype(np.float64)
        acc = xs @ wm
        if has_bias:
            acc += b64 if b64 is not None else inputs[2].reshape(n).astype(np.float64)
        return [apply_float_activation(acc.astype(np.float32), lo, hi).reshape(shape)]

    return run


def _fc_requant_params(node: Node) -> tuple[np.ndarray, np.ndarray, int]:
    """(multipliers, shifts, weight offset) the way TFLM's Prepare computes them."""
    x, w, out = node.inputs[0], node.inputs[1], node.outputs[0]
    wq = w.quant
    if wq.per_channel:
        if wq.axis != 0:
            raise unsupported(node, f"per-channel weights quantized along axis {wq.axis}")
        reals = (float(np.float32(x.quant.scale0)) * wq.scale.astype(np.float64)
                 / float(np.float32(out.quant.scale0)))
        mult, shift = _multipliers(reals)
        return mult, shift, 0  # per-channel kernels ignore the weight zero point
    real = _per_tensor_real_multiplier(x.quant.scale0, wq.scale0, out.quant.scale0)
    mult, shift = _multipliers(np.array([real]))
    return mult, shift, -wq.zp0


def _prepare_fc_quantized(node: Node) -> Kernel:
    """int8 / int16x8 with TFLM's double-rounding requantization.

    int16 input: an int32 bias (or quantized_bias_type int32 without bias) selects
    int32 accumulation and the 32-bit MultiplyByQuantizedMultiplier, otherwise TFLM
    accumulates in int64 and uses the 64-bit form.
    """
    x, w, bias = node.inputs[0], node.inputs[1], node.input(2)
    out = node.outputs[0]
    for v, what in ((x, "input"), (w, "weights"), (out, "output")):
        require_quant(node, v, what)
    if out.dtype != x.dtype:
        raise unsupported(node, f"{x.dtype} input with {out.dtype} output")
    if bias is not None and bias.dtype not in ("int32", "int64"):
        raise unsupported(node, f"{bias.dtype} bias")
    batches, k, n = _fc_geometry(node)
    if w.quant.per_channel and w.quant.scale.size != n:
        raise unsupported(node, f"{w.quant.scale.size} weight scales for {n} output channels")
    if litert_uint8(node):
        return _prepare_fc_litert_uint8(node, batches, k, n)
    wide = x.dtype == "int16" and not (
        (bias is not None and bias.dtype == "int32")
        or (bias is None and node.attrs.get("quantized_bias_type") == "int32"))
    mult, shift, w_off = _fc_requant_params(node)
    in_off = -x.quant.zp0
    zp = out.quant.zp0
    lo, hi = activation_range(node, out)
    out_dtype = to_numpy(out.dtype)
    shape = out.shape
    xr = _input_magnitude(x.dtype, in_off)
    wc, bc = _const_or_none(w), _const_or_none(bias)

    if wc is not None and (bias is None or bc is not None):
        wi = wc.reshape(n, k).astype(np.int64) + w_off          # (N, K)
        bi = bc.reshape(n).astype(np.int64) if bc is not None else np.zeros(n, np.int64)
        wabs = np.abs(wi).sum(axis=1)
        bound = int(np.max(np.abs(bi) + xr * wabs))
        row_i = bi + in_off * wi.sum(axis=1)
        # float32 is exact when every partial sum stays below 2**24 (it usually does for
        # int8, and halves the memory traffic of the weights); else float64.
        raw = max(abs(v) for v in dtype_range(x.dtype))
        mm_dtype = np.float32 if raw * int(wabs.max()) < _F32_EXACT else np.float64
        single = mult.size == 1
        acc_dtype = (np.float32 if mm_dtype is np.float32 and single and bound < _F32_EXACT
                     and int(np.abs(row_i).max()) < _F32_EXACT else np.float64)
        if bound < _F64_EXACT:
            requant, offsets = _make_requant(mult, shift, zp, lo, hi, bound, wide, out_dtype,
                                             acc_dtype)
            row = row_i.astype(np.float64)
            if offsets is not None:
                row = row + offsets
            row = row.astype(acc_dtype)
            wt = np.ascontiguousarray(wi.T, mm_dtype)           # (K, N)
            in_place = acc_dtype is mm_dtype
            flat = (batches, k)

            def run_fast(inputs):
                acc = np.dot(inputs[0].reshape(flat).astype(mm_dtype), wt)
                if in_place:
                    acc += row
                else:
                    acc = acc + row
                return [requant(acc).reshape(shape)]

            return run_fast

    arith = _arith_requant(mult, shift, zp, lo, hi, wide, out_dtype)
    has_bias = bias is not None

    def run_generic(inputs):
        xi = inputs[0].reshape(batches, k).astype(np.int64) + in_off
        wi_ = inputs[1].reshape(n, k).astype(np.int64) + w_off
        acc = xi @ wi_.T
        if has_bias:
            acc += inputs[2].reshape(n).astype(np.int64)
        return [arith(acc).reshape(shape)]

    return run_generic


def fc_uint8_scale(node: Node) -> float:
    """The output scale LiteRT's uint8 FULLY_CONNECTED reference kernel multiplies its
    accumulator by: ``double(s_in) * double(s_w) / double(s_out)``."""
    x, w, out = node.inputs[0], node.inputs[1], node.outputs[0]
    if w.quant.per_channel:
        raise unsupported(node, "uint8 weights quantized per channel")
    return (float(np.float32(x.quant.scale0)) * float(np.float32(w.quant.scale0))
            / float(np.float32(out.quant.scale0)))


def round_scaled_accumulators(acc: np.ndarray, scale: float) -> np.ndarray:
    """``static_cast<int32_t>(round(double(acc) * scale))``: the product in double, C's
    ``round`` (halves away from zero) exactly, and x86's INT32_MIN for a result outside
    int32 (what the cast does there)."""
    v = np.asarray(acc, np.float64) * scale
    t = np.trunc(v)
    r = t + np.sign(v) * (np.abs(v - t) >= 0.5)
    inside = np.abs(r) < 2.0 ** 31
    return np.where(inside, np.where(inside, r, 0).astype(np.int64), -(1 << 31))


def _prepare_fc_litert_uint8(node: Node, batches: int, k: int, n: int) -> Kernel:
    """LiteRT's uint8 FULLY_CONNECTED reference kernel (``litert_uint8`` nodes, re-encoded
    as int8 by :mod:`picojoule.passes.uint8`): the int32 accumulator
    ``sum (x - x_zp)(w - w_zp) + bias`` scaled in double and rounded
    (:func:`round_scaled_accumulators`), not requantized in fixed point."""
    x, w, bias = node.inputs[0], node.inputs[1], node.input(2)
    out = node.outputs[0]
    if x.dtype != "int8" or w.dtype != "int8" or (bias is not None and bias.dtype != "int32"):
        raise unsupported(node, f"a uint8 layer re-encoded as {x.dtype} x {w.dtype}")
    scale = fc_uint8_scale(node)
    in_off, w_off, zp = -x.quant.zp0, -w.quant.zp0, out.quant.zp0
    lo, hi = activation_range(node, out)
    shape = out.shape
    wc, bc = _const_or_none(w), _const_or_none(bias)
    has_bias = bias is not None

    def run(inputs):
        xs = inputs[0].reshape(batches, k).astype(np.float64) + in_off
        wm = wc if wc is not None else inputs[1]
        # every product and partial sum is an integer below 2**53: exact in float64
        acc = xs @ (wm.reshape(n, k).astype(np.float64) + w_off).T
        acc = acc.astype(np.int64)
        if has_bias:
            acc += (bc if bc is not None else inputs[2]).reshape(n).astype(np.int64)
        y = fp.wrap_int32(round_scaled_accumulators(fp.wrap_int32(acc), scale) + zp)
        return [np.clip(y, lo, hi).astype(np.int8).reshape(shape)]

    return run


def _hybrid_quantize_rows(x: np.ndarray, asymmetric: bool) -> tuple[np.ndarray, np.ndarray,
                                                                     np.ndarray]:
    """LiteRT BatchQuantizeFloats: per row int8 values, float32 scaling factor, offset (the
    NEON quantizers LiteRT runs, see :mod:`picojoule.ops.conv`)."""
    from picojoule.ops.conv import asymmetric_quantize, symmetric_quantize

    q = np.empty(x.shape, np.float64)
    sf = np.empty(x.shape[0], np.float32)
    off = np.zeros(x.shape[0], np.float64)
    for r in range(x.shape[0]):
        if asymmetric:
            q[r], sf[r], off[r] = asymmetric_quantize(x[r])
        else:
            q[r], sf[r] = symmetric_quantize(x[r])
    return q, sf, off


def _prepare_fc_hybrid(node: Node) -> Kernel:
    """float32 activations, int8 weights ("dynamic range"): LiteRT's reference semantics.

    Each input row is quantized to int8 on the fly (symmetric, or asymmetric when
    asymmetric_quantize_inputs), the integer dot product is scaled in float32 by
    row scale x weight scale and added to the float bias. TFLM does not run this.
    """
    w, bias = node.inputs[1], node.input(2)
    out = node.outputs[0]
    require_quant(node, w, "weights")
    if w.data is None:
        raise unsupported(node, "hybrid fully connected with non-constant weights")
    if bias is not None and bias.dtype != "float32":
        raise unsupported(node, f"{bias.dtype} bias in a hybrid layer")
    batches, k, n = _fc_geometry(node)
    lo, hi = float_activation_bounds(node)
    asym = bool(node.attrs.get("asymmetric_quantize_inputs", False))
    wt = np.ascontiguousarray(w.data.reshape(n, k).T, np.float64)
    wsum = wt.sum(axis=0)
    if w.quant.per_channel:
        if w.quant.scale.size != n:
            raise unsupported(node, f"{w.quant.scale.size} weight scales for {n} rows")
        chan = w.quant.scale.astype(np.float32)
    else:
        chan = None
        w_scale = np.float32(w.quant.scale0)
    bc = _const_or_none(bias)
    has_bias = bias is not None
    shape = out.shape

    def run(inputs):
        xs = inputs[0].reshape(batches, k).astype(np.float32)
        q, sf, off = _hybrid_quantize_rows(xs, asym)
        dot = q @ wt - off[:, None] * wsum                       # exact int32 values
        if chan is None:
            scale = (sf * w_scale).astype(np.float32)[:, None]
        else:
            scale = (sf[:, None] * chan[None, :]).astype(np.float32)
        y = dot.astype(np.float32) * scale
        if has_bias:
            b = bc if bc is not None else inputs[2]
            y = b.reshape(n).astype(np.float32) + y
        return [apply_float_activation(y.astype(np.float32), lo, hi).reshape(shape)]

    return run


# --------------------------------------------------------------------------------------
# BATCH_MATMUL
# --------------------------------------------------------------------------------------
def _bmm_operands(node: Node) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """Shapes of lhs (.., M, K) and rhs (.., K, N) after the adj flags, and K."""
    lhs, rhs = node.inputs[0], node.inputs[1]
    ls, rs = list(lhs.shape), list(rhs.shape)
    if node.attrs.get("adj_x", False):
        ls[-1], ls[-2] = ls[-2], ls[-1]
    if node.attrs.get("adj_y", False):
        rs[-1], rs[-2] = rs[-2], rs[-1]
    return tuple(ls), tuple(rs), ls[-1]


def _bmm_shape(node: Node, shapes, consts) -> list:
    """Broadcast batch dims of both operands, then (lhs rows, rhs columns) after adj_x/adj_y."""
    ls, rs = list(shapes[0]), list(shapes[1])
    if len(ls) < 2 or len(rs) < 2:
        raise unsupported(node, f"operands of rank {len(ls)} and {len(rs)}")
    if node.attrs.get("adj_x", False):
        ls[-1], ls[-2] = ls[-2], ls[-1]
    if node.attrs.get("adj_y", False):
        rs[-1], rs[-2] = rs[-2], rs[-1]
    if ls[-1] != rs[-2]:
        raise unsupported(node, f"inner dimensions {ls[-1]} and {rs[-2]}")
    try:
        batch = np.broadcast_shapes(tuple(ls[:-2]), tuple(rs[:-2]))
    except ValueError:
        raise unsupported(node, f"batch dimensions {ls[:-2]} and {rs[:-2]}") from None
    return [tuple(int(d) for d in batch) + (ls[-2], rs[-1])]


def _bmm_macs(node: Node) -> int:
    return node.outputs[0].size * _bmm_operands(node)[2]


@register("BATCH_MATMUL", operands="a, b -> y", shape=_bmm_shape,
          macs=_bmm_macs, oracle="TFLM", dtypes=("float32", "int8", "int16"))
def prepare_batch_matmul(node: Node) -> Kernel:
    """Batched matrix product with adj_x/adj_y and broadcast batch dimensions (ranks 2-5)."""
    lhs, rhs = node.inputs[0], node.inputs[1]
    out = node.outputs[0]
    ls, rs, k = _bmm_operands(node)
    if not (2 <= len(ls) <= 5 and 2 <= len(rs) <= 5):
        raise unsupported(node, f"rank {len(ls)} x rank {len(rs)} operands")
    if rs[-2] != k:
        raise unsupported(node, f"inner dimensions {k} and {rs[-2]}")
    try:
        batch = np.broadcast_shapes(ls[:-2], rs[:-2])
    except ValueError:
        raise unsupported(node, f"batch dimensions {ls[:-2]} and {rs[:-2]}") from None
    if tuple(batch) + (ls[-2], rs[-1]) != out.shape:
        raise unsupported(node, f"output shape {out.shape}")
    if not (lhs.dtype == rhs.dtype == out.dtype):
        raise unsupported(node, f"{lhs.dtype} x {rhs.dtype} -> {out.dtype}")
    adj_x = bool(node.attrs.get("adj_x", False))
    adj_y = bool(node.attrs.get("adj_y", False))

    def orient(a: np.ndarray, adj: bool) -> np.ndarray:
        return np.swapaxes(a, -1, -2) if adj else a

    shape = out.shape
    if lhs.dtype == "float32":
        rc = _const_or_none(rhs)
        r64 = orient(rc, adj_y).astype(np.float64) if rc is not None else None

        def run_float(inputs):
            a = orient(inputs[0], adj_x).astype(np.float64)
            b = r64 if r64 is not None else orient(inputs[1], adj_y).astype(np.float64)
            return [np.matmul(a, b).astype(np.float32).reshape(shape)]

        return run_float

    if lhs.dtype not in ("int8", "int16"):
        raise unsupported(node, f"{lhs.dtype} operands")
    for v, what in ((lhs, "lhs"), (rhs, "rhs"), (out, "output")):
        require_quant(node, v, what)
    if rhs.quant.per_channel:
        raise unsupported(node, "per-channel quantized rhs")
    wide = lhs.dtype == "int16"   # TFLM: int64 accumulator and 64-bit requantization
    real = _per_tensor_real_multiplier(lhs.quant.scale0, rhs.quant.scale0, out.quant.scale0)
    mult, shift = _multipliers(np.array([real]))
    l_off, r_off, zp = -lhs.quant.zp0, -rhs.quant.zp0, out.quant.zp0
    lo, hi = dtype_range(out.dtype)            # no fused activation
    out_dtype = to_numpy(out.dtype)
    lr = _input_magnitude(lhs.dtype, l_off)
    rc = _const_or_none(rhs)
    if rc is not None:
        r_int = orient(rc, adj_y).astype(np.int64) + r_off
        bound = int(lr * np.abs(r_int).sum(axis=-2).max()) if r_int.size else 0
    else:
        bound = lr * _input_magnitude(rhs.dtype, r_off) * k
    if bound < _F64_EXACT:
        requant, _ = _make_requant(mult, shift, zp, lo, hi, bound, wide, out_dtype)
        r64 = r_int.astype(np.float64) if rc is not None else None

        def run_fast(inputs):
            a = orient(inputs[0], adj_x).astype(np.float64)
            if l_off:
                a += l_off
            if r64 is not None:
                b = r64
            else:
                b = orient(inputs[1], adj_y).astype(np.float64)
                if r_off:
                    b += r_off
            return [requant(np.matmul(a, b)).reshape(shape)]

        return run_fast

    arith = _arith_requant(mult, shift, zp, lo, hi, wide, out_dtype)

    def run_generic(inputs):
        a = orient(inputs[0], adj_x).astype(np.int64) + l_off
        b = orient(inputs[1], adj_y).astype(np.int64) + r_off
        return [arith(np.matmul(a, b)).reshape(shape)]

    return run_generic
