"""FULLY_CONNECTED and BATCH_MATMUL against TFLM (LiteRT's reference kernels for hybrid FC).

Configurations are drawn from fixed seeds: batch shapes, K, N, per-tensor / per-channel
weight scales, zero points, fused activations, keep_num_dims, bias or none, int8 / int4
weights, int16x8 (int32 and int64 bias), float32; batch matmul with adj flags, ranks 2-5
and broadcast batch dimensions, constant or variable rhs.
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import check_op, const, q, single_op_model, tensor
from picojoule.errors import UnsupportedOpError
from picojoule.ops import node_macs
from picojoule.ops import matmul as mm
from picojoule.quant import fixedpoint as fp
from picojoule.runtime import Interpreter

ACTS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


# ---------------------------------------------------------------------------------------
# The tabulated requantization equals the fixed-point definition
# ---------------------------------------------------------------------------------------
def _reference_requant(acc, mult, shift, zp, lo, hi, wide):
    f = fp.multiply_by_quantized_multiplier_int64 if wide else fp.multiply_by_quantized_multiplier
    return np.clip(f(acc, mult, shift) + zp, lo, hi)


@pytest.mark.parametrize("wide", [False, True])
def test_threshold_requant_equals_fixedpoint(wide: bool) -> None:
    rng = np.random.default_rng(7)
    for trial in range(12):
        channels = int(rng.choice([1, 1, 5]))
        reals = rng.uniform(2.0 ** -14, 2.0 ** 1.5, channels)
        mult, shift = fp.quantize_multipliers(reals)
        lo, hi = (-128, 127) if trial % 2 else (-32768, 32767)
        if channels > 1 and hi > 127:
            lo, hi = -128, 127
        zp = int(rng.integers(-20, 20)) if hi == 127 else 0
        bound = int(min((1 << 30) >> int(max(shift.max(), 0)), rng.integers(1 << 8, 1 << 24)))
        assert mm._no_wrap(bound, mult, shift, wide)
        run, offsets = mm._threshold_requant(mult, shift, zp, lo, hi, bound, wide,
                                             np.dtype(np.int16))
        acc = rng.integers(-bound, bound + 1, (64, channels))
        # every accumulator near a step of the output, plus the ends of the range
        for c in range(channels):
            y = _reference_requant(np.arange(-bound, bound + 1, max(1, bound // 4096)),
                                   mult[c], shift[c], zp, lo, hi, wide)
            steps = np.flatnonzero(np.diff(y)) * max(1, bound // 4096) - bound
            near = (steps[:, None] + np.arange(-2, 3 + max(1, bound // 4096))).reshape(-1)
            near = np.clip(near, -bound, bound)
            col = np.zeros((near.size, channels), np.int64)
            col[:, c] = near
            acc = np.concatenate([acc, col, np.full((1, channels), bound),
                                  np.full((1, channels), -bound)])
        got = run(acc.astype(np.float64) + offsets)
        want = _reference_requant(acc, mult, shift, zp, lo, hi, wide)
        assert np.array_equal(got, want), f"trial {trial}"


def test_threshold_requant_exhaustive_small_range() -> None:
    """Every accumulator in [-2**16, 2**16] for a few multipliers, per channel."""
    reals = np.array([0.0007, 0.0153, 0.2499, 0.5, 0.00390625])
    mult, shift = fp.quantize_multipliers(reals)
    bound = 1 << 16
    run, offsets = mm._threshold_requant(mult, shift, -3, -128, 127, bound, False,
                                         np.dtype(np.int8))
    acc = np.repeat(np.arange(-bound, bound + 1)[:, None], reals.size, axis=1)
    want = _reference_requant(acc, mult, shift, -3, -128, 127, False)
    assert np.array_equal(run(acc.astype(np.float64) + offsets), want)


def test_requant_hand_values() -> None:
    """MultiplyByQuantizedMultiplier by hand: 0.5 = 2**30 * 2**(0-31); halves go up."""
    run, _ = mm._threshold_requant(np.array([1 << 30]), np.array([0]), 0, -128, 127, 1000,
                                   False, np.dtype(np.int8))
    acc = np.array([-5.0, -3.0, -1.0, 0.0, 1.0, 3.0, 5.0, 400.0, -400.0])
    # (x * 2**30 + 2**30) >> 31 rounds halves up: -2.5 -> -2, -1.5 -> -1, -0.5 -> 0
    assert run(acc).tolist() == [-2, -1, 0, 0, 1, 2, 3, 127, -128]


# ---------------------------------------------------------------------------------------
# FULLY_CONNECTED vs TFLM
# ---------------------------------------------------------------------------------------
def _rms(dtype: str, zero_point: int) -> float:
    """Root mean square of (x - zero_point) for x uniform over the dtype's range."""
    info = np.iinfo(dtype)
    return float(np.sqrt((int(info.max) - int(info.min)) ** 2 / 12 + zero_point ** 2))


def _fc_model(rng: np.random.Generator, *, dtype: str, per_channel: bool, batch: tuple,
              k: int, n: int, keep: bool, with_bias: bool, act: str, wdtype: str = "int8",
              bias_dtype: str | None = None, const_weights: bool = True):
    qmax = 127 if dtype == "int8" else 32767
    if dtype == "int8":
        in_zp = int(rng.integers(-128, 128))
        # bounded activations sit where converters put them: RELU6 from the bottom
        out_zp = int(rng.integers(-128, -118) if act == "RELU6" else
                     rng.integers(-10, 10) if act == "RELU_N1_TO_1" else rng.integers(-100, 100))
    else:
        in_zp = out_zp = 0
    wmax = 7 if wdtype == "int4" else 127
    if per_channel:
        w_scale = rng.uniform(0.002, 0.02, n).astype(np.float32)
    else:
        w_scale = np.float32(rng.uniform(0.002, 0.02))
    w = rng.integers(-wmax, wmax + 1, (n, k)).astype(np.int8)
    # Scales so that outputs use the output's range (or the activation's) without mostly
    # saturating: 3 sigma of the accumulator ~ the range.
    span = {"RELU6": 6.0, "RELU_N1_TO_1": 2.0}.get(act)
    out_scale = (span / (2 * qmax) * rng.uniform(0.9, 1.3) if span
                 else float(rng.uniform(0.01, 0.1)))
    w_rms = float(np.sqrt(np.mean(w.astype(np.float64) ** 2)))
    acc_std = np.sqrt(k) * _rms(dtype, in_zp) * w_rms + 1.0
    in_scale = float(qmax * out_scale * rng.uniform(0.3, 1.5)
                     / (3 * acc_std * float(np.mean(w_scale))))
    x = tensor("x", (*batch, k), dtype, q(in_scale, in_zp))
    wq = q(w_scale, 0, axis=0)
    wv = const("w", w, wdtype, quant=wq) if const_weights else tensor("w", (n, k), "int8", wq)
    ins = [x, wv]
    if with_bias:
        bias_dtype = bias_dtype or ("int32" if dtype == "int8" else "int64")
        bscale = np.float32(in_scale) * np.atleast_1d(w_scale).astype(np.float32)
        span = int(acc_std) + 1
        b = rng.integers(-span, span, n)
        ins.append(const("b", b.astype(bias_dtype), bias_dtype, quant=q(bscale, 0)))
    else:
        ins.append(None)
    oshape = (*batch, n) if keep else (int(np.prod(batch)), n)
    y = tensor("y", oshape, dtype, q(out_scale, out_zp))
    return single_op_model("FULLY_CONNECTED", ins, [y], attrs=dict(
        fused_activation_function=act, keep_num_dims=keep, weights_format=0,
        asymmetric_quantize_inputs=False), version=4 if dtype == "int8" else 7)


def _fc_config(seed: int, i: int) -> tuple[np.random.Generator, dict]:
    """Configuration ``i`` of a family, with its own generator (independent of test order)."""
    rng = np.random.default_rng((seed, i))
    batches = [(1,), (3,), (2, 3), (1, 2, 2)]
    batch = batches[int(rng.integers(len(batches)))]
    keep = bool(rng.integers(2)) and len(batch) > 1
    return rng, dict(batch=batch, k=int(rng.choice([1, 7, 16, 33, 200])),
                     n=int(rng.choice([1, 4, 13, 40])), keep=keep,
                     per_channel=bool(rng.integers(2)), with_bias=bool(rng.integers(3)),
                     act=ACTS[int(rng.integers(len(ACTS)))])


@pytest.mark.parametrize("i", range(14))
def test_fc_int8_vs_tflm(i: int) -> None:
    rng, cfg = _fc_config(100, i)
    check_op(_fc_model(rng, dtype="int8", **cfg), seeds=(i, i + 100))


@pytest.mark.parametrize("i", range(10))
def test_fc_int16x8_vs_tflm(i: int) -> None:
    """int32 bias (or quantized_bias_type int32 without bias): int32 accumulation and the
    32-bit requantization; int64 bias: int64 accumulation and the 64-bit form."""
    rng, cfg = _fc_config(200, i)
    cfg["with_bias"] = i % 4 != 3
    int32_accum = i % 2 == 0
    model = _fc_model(rng, dtype="int16", bias_dtype="int32" if int32_accum else "int64", **cfg)
    if not cfg["with_bias"]:
        model.main.nodes[0].attrs["quantized_bias_type"] = "int32" if int32_accum else "int64"
    check_op(model, seeds=(i,))


@pytest.mark.parametrize("i", range(3))
def test_fc_int4_weights_vs_tflm(i: int) -> None:
    rng, cfg = _fc_config(300, i)
    cfg["per_channel"] = False   # TFLM: int4 fully connected is per-tensor only
    check_op(_fc_model(rng, dtype="int8", wdtype="int4", **cfg), seeds=(i,))


@pytest.mark.parametrize("per_channel", [False, True])
def test_fc_int8_large_k_vs_tflm(per_channel: bool) -> None:
    """K = 3000: float32 sums would no longer be exact, the kernel must use float64."""
    rng = np.random.default_rng(21 + per_channel)
    model = _fc_model(rng, dtype="int8", per_channel=per_channel, batch=(2,), k=3000, n=5,
                      keep=False, with_bias=True, act="NONE")
    check_op(model, seeds=(0, 1))


def test_fc_scale_product_precision_vs_tflm() -> None:
    """Whether TFLM forms input_scale * weight_scale in float32 or double matters.

    Scales are searched so that the float32 and the double product give different
    multipliers, and an accumulator so that they give different outputs; a K=1 layer
    with a bias then sweeps the accumulators around it. Expected values come from TFLM.
    """
    rng = np.random.default_rng(33)
    found = None
    for _ in range(500):
        si, sw, so = (np.float32(v) for v in rng.uniform([0.01, 0.001, 0.01], [0.1, 0.01, 0.1]))
        m32 = fp.quantize_multiplier(float(si * sw) / float(so))
        m64 = fp.quantize_multiplier(float(si) * float(sw) / float(so))
        if m32 == m64:
            continue
        reach = int(127 * float(so) / (float(si) * float(sw)))
        acc = np.arange(-reach, reach + 1)
        y32, y64 = (fp.multiply_by_quantized_multiplier(acc, *m) for m in (m32, m64))
        hits = acc[y32 != y64]
        if hits.size:
            found = int(hits[0])
            break
    assert found is not None, "no discriminating scales found"
    x = tensor("x", (256, 1), "int8", q(float(si), 0))
    w = const("w", np.ones((1, 1), np.int8), quant=q(float(sw), 0))
    b = const("b", np.array([found], np.int32), quant=q(float(si * sw), 0))
    y = tensor("y", (256, 1), "int8", q(float(so), 0))
    model = single_op_model("FULLY_CONNECTED", [x, w, b], [y], attrs=dict(
        fused_activation_function="NONE", keep_num_dims=False, weights_format=0), version=4)
    check_op(model, feeds=[[np.arange(-128, 128, dtype=np.int8).reshape(256, 1)]])


def test_fc_int8_variable_weights_vs_tflm() -> None:
    """Weights as a graph input (generic path, integer matmul at run time)."""
    rng = np.random.default_rng(5)
    model = _fc_model(rng, dtype="int8", per_channel=False, batch=(2,), k=24, n=6, keep=False,
                      with_bias=True, act="RELU", const_weights=False)
    check_op(model, seeds=(0, 1))


def test_fc_int8_weight_zero_point_vs_tflm() -> None:
    """Per-tensor TFLM kernels still subtract a (non-spec) weight zero point."""
    rng = np.random.default_rng(9)
    x = tensor("x", (2, 20), "int8", q(0.02, 5))
    w = const("w", rng.integers(-100, 100, (6, 20)).astype(np.int8), quant=q(0.01, 3))
    y = tensor("y", (2, 6), "int8", q(0.05, -4))
    model = single_op_model("FULLY_CONNECTED", [x, w, None], [y], attrs=dict(
        fused_activation_function="NONE", keep_num_dims=False, weights_format=0,
        asymmetric_quantize_inputs=False), version=4)
    check_op(model, seeds=(0, 1))


def _float_fc(rng, batch, k, n, keep, with_bias, act, weights_dtype="float32", quant=None):
    x = tensor("x", (*batch, k), "float32")
    if weights_dtype == "float32":
        w = const("w", (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32))
    else:
        w = const("w", rng.integers(-127, 128, (n, k)).astype(np.int8), quant=quant)
    b = const("b", rng.standard_normal(n).astype(np.float32)) if with_bias else None
    oshape = (*batch, n) if keep else (int(np.prod(batch)), n)
    return single_op_model("FULLY_CONNECTED", [x, w, b], [tensor("y", oshape, "float32")],
                           attrs=dict(fused_activation_function=act, keep_num_dims=keep,
                                      weights_format=0,
                                      asymmetric_quantize_inputs=False), version=1)


@pytest.mark.parametrize("i", range(6))
def test_fc_float32_vs_tflm(i: int) -> None:
    rng, cfg = _fc_config(400, i)
    cfg.pop("per_channel")
    check_op(_float_fc(rng, **cfg), seeds=(i,))


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("asym", [False, True])
def test_fc_hybrid_vs_litert_reference(per_channel: bool, asym: bool) -> None:
    rng = np.random.default_rng(11 + 2 * per_channel + asym)
    n, k = 9, 37
    scale = rng.uniform(0.002, 0.02, n) if per_channel else rng.uniform(0.002, 0.02)
    model = _float_fc(rng, (3,), k, n, False, True, "RELU" if asym else "NONE",
                      weights_dtype="int8", quant=q(scale, 0))
    model.main.nodes[0].attrs["asymmetric_quantize_inputs"] = asym
    rows = np.stack([rng.standard_normal(k), np.zeros(k), rng.uniform(0.1, 3.0, k)])
    # Rows whose quantization step is exactly 1 (symmetric: max |x| = 127; asymmetric:
    # [-128, 127]) so x * (1 / step) hits halves: LiteRT rounds them away from zero.
    halves = np.arange(-17, 18) + 0.5
    exact = np.stack([np.r_[127.0, -127.0, halves], np.r_[-128.0, 127.0, halves],
                      np.r_[-128.0, 127.0, -halves]])
    feeds = [[rows.astype(np.float32)], [rng.standard_normal((3, k)).astype(np.float32) * 5],
             [exact.astype(np.float32)]]
    check_op(model, oracle="litert_ref", feeds=feeds)


def test_fc_macs_and_unsupported() -> None:
    x = tensor("x", (2, 3, 10), "float32")
    w = const("w", np.ones((4, 10), np.float32))
    y = tensor("y", (2, 3, 4), "float32")
    model = single_op_model("FULLY_CONNECTED", [x, w, None], [y], attrs=dict(
        fused_activation_function="NONE", keep_num_dims=True))
    assert node_macs(model.main.nodes[0]) == 2 * 3 * 4 * 10
    out = Interpreter(model).run([np.arange(60, dtype=np.float32).reshape(2, 3, 10)])[0]
    assert out.shape == (2, 3, 4) and out[1, 2, 0] == sum(range(50, 60))
    xi = tensor("x", (1, 10), "int8", q(0.1, 0))
    bad = single_op_model("FULLY_CONNECTED", [xi, const("w", np.ones((4, 10), np.float32)),
                                              None],
                          [tensor("y", (1, 4), "int8", q(0.1, 0))],
                          attrs=dict(fused_activation_function="NONE"))
    with pytest.raises(UnsupportedOpError, match="FULLY_CONNECTED.*float32 weights"):
        Interpreter(bad)


# ---------------------------------------------------------------------------------------
# BATCH_MATMUL vs TFLM
# ---------------------------------------------------------------------------------------
def _bmm_config(seed: int, i: int) -> tuple[np.random.Generator, dict]:
    rng = np.random.default_rng((seed, i))
    batch_pairs = [((), ()), ((3,), (3,)), ((2, 1), (1, 3)), ((1,), (4,)), ((2, 3), ()),
                   ((2, 1, 2), (3, 1)), ((), (2,))]
    lb, rb = batch_pairs[i % len(batch_pairs)]
    return rng, dict(lb=lb, rb=rb, m=int(rng.integers(1, 6)), k=int(rng.integers(1, 40)),
                     n=int(rng.integers(1, 7)), adj_x=bool(rng.integers(2)),
                     adj_y=bool(rng.integers(2)), rhs_const=bool(rng.integers(2)))


def _bmm_model(rng, dtype, lb, rb, m, k, n, adj_x, adj_y, rhs_const):
    lshape = (*lb, k, m) if adj_x else (*lb, m, k)
    rshape = (*rb, n, k) if adj_y else (*rb, k, n)
    oshape = (*np.broadcast_shapes(lb, rb), m, n)
    if dtype == "float32":
        lq = rq = oq = None
    else:
        zps = (0, 0, 0) if dtype == "int16" else tuple(int(z) for z in rng.integers(-50, 50, 3))
        lq, rq = q(rng.uniform(0.01, 0.05), zps[0]), q(rng.uniform(0.01, 0.05), zps[1])
        acc_std = np.sqrt(k) * _rms(dtype, zps[0]) * _rms(dtype, zps[1])
        oq = q(float(3 * acc_std * lq.scale0 * rq.scale0 / np.iinfo(dtype).max
                     * rng.uniform(0.3, 1.5)), zps[2])
    lhs = tensor("a", lshape, dtype, lq)
    if rhs_const:
        if dtype == "float32":
            data = rng.standard_normal(rshape).astype(np.float32)
        else:
            info = np.iinfo(dtype)
            data = rng.integers(info.min, info.max, rshape, endpoint=True).astype(dtype)
        rhs = const("b", data, dtype, quant=rq)
    else:
        rhs = tensor("b", rshape, dtype, rq)
    return single_op_model("BATCH_MATMUL", [lhs, rhs], [tensor("y", oshape, dtype, oq)],
                           attrs=dict(adj_x=adj_x, adj_y=adj_y,
                                      asymmetric_quantize_inputs=False))


@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_batch_matmul_vs_tflm(dtype: str) -> None:
    for i in range(14):
        rng, cfg = _bmm_config({"int8": 1, "int16": 2, "float32": 3}[dtype], i)
        model = _bmm_model(rng, dtype, **cfg)
        check_op(model, seeds=(i,))


def test_batch_matmul_rank5_and_macs() -> None:
    rng = np.random.default_rng(4)
    model = _bmm_model(rng, "int8", (2, 1, 3), (1, 2, 1), 3, 5, 2, True, False, False)
    check_op(model, seeds=(0,))
    node = model.main.nodes[0]
    assert node_macs(node) == 2 * 2 * 3 * 3 * 2 * 5
