"""Elementwise math ops against their oracles: TFLM for float32, ABS int8/int16 and RSQRT int8;
LiteRT's reference kernels for the quantized EXP/LOG and integer NEG that TFLM lacks.

Quantized inputs cover every int8 value (int16: extremes, small and uniform values).
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import check_op, q, single_op_model, tensor

SEEDS = range(5)


def _scale(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _int_feeds(rng: np.random.Generator, shape, dtype: str, low: int | None = None, n: int = 2):
    size = int(np.prod(shape))
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    lo = lo if low is None else low
    feeds = []
    for _ in range(n):
        if dtype == "int8":
            vals = np.resize(rng.permutation(np.arange(lo, hi + 1)), size)
        else:
            pool = np.concatenate([[lo, hi, 0, 1, -1], rng.integers(-200, 200, 32),
                                   rng.integers(lo, hi + 1, size)])
            vals = rng.choice(pool[pool >= lo], size)
        feeds.append([vals.astype(dtype).reshape(shape)])
    return feeds


def _model(op: str, shape, dtype: str, qin=None, qout=None):
    return single_op_model(op, [tensor("x", shape, dtype, qin)],
                           [tensor("y", shape, dtype, qout)])


@pytest.mark.parametrize("op", ["EXP", "LOG", "SQRT", "RSQRT", "ABS", "NEG", "FLOOR", "CEIL",
                                "ROUND"])
def test_float32(op: str) -> None:
    rng = np.random.default_rng(7)
    shape = (3, 41)
    feeds = []
    for k in range(3):
        x = (rng.standard_normal(shape) * (1 + 4 * k)).astype(np.float32)
        if op in ("LOG", "SQRT", "RSQRT"):
            x = np.abs(x) + np.float32(1e-3)
        if op == "EXP":
            x = np.clip(x, -60, 60)
        if op == "ROUND":  # exact halves: TFLite rounds them to even
            x.reshape(-1)[:8] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, -7.5]
        feeds.append([x])
    check_op(_model(op, shape, "float32"), feeds=feeds)


def test_round_is_half_to_even() -> None:
    """Hand-derived: TFLite ROUND sends exact halves to the even neighbour."""
    x = np.array([[0.5, 1.5, 2.5, -0.5, -2.5, 2.4999998, 2.5000002]], np.float32)
    want = check_op(_model("ROUND", x.shape, "float32"), feeds=[[x]])[0][0]
    np.testing.assert_array_equal(want, [[0, 2, 2, -0, -2, 2, 3]])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_abs_quantized(seed: int, dtype: str) -> None:
    rng = np.random.default_rng(10 + seed)
    shape = (2, 200)
    if dtype == "int8":
        qin = q(_scale(rng, 0.01, 0.1), int(rng.integers(-100, 100)))
        qout = (qin if seed == 0 else
                q(_scale(rng, 0.005, 0.1), int(rng.integers(-128, 0))))
    else:
        qin = q(_scale(rng, 1e-4, 1e-2), 0)
        qout = qin if seed == 0 else q(_scale(rng, 1e-4, 1e-2), 0)
    check_op(_model("ABS", shape, dtype, qin, qout), feeds=_int_feeds(rng, shape, dtype))


def test_abs_int16_unquantized() -> None:
    rng = np.random.default_rng(20)
    check_op(_model("ABS", (1, 300), "int16"), feeds=_int_feeds(rng, (1, 300), "int16"))


@pytest.mark.parametrize("seed", SEEDS)
def test_rsqrt_int8(seed: int) -> None:
    rng = np.random.default_rng(30 + seed)
    zp = int(rng.integers(-128, 60))
    qin = q(_scale(rng, 0.005, 0.5), zp)
    qout = q(_scale(rng, 0.005, 0.5), int(rng.integers(-128, 128)))
    # TFLM refuses inputs below the input zero point, so feed only values >= zp.
    check_op(_model("RSQRT", (1, 256), "int8", qin, qout),
             feeds=_int_feeds(rng, (1, 256), "int8", low=zp))


@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("op", ["EXP", "LOG"])
def test_exp_log_quantized(seed: int, dtype: str, op: str) -> None:
    rng = np.random.default_rng(40 + seed)
    shape = (2, 160)
    if dtype == "int8":
        qin = q(_scale(rng, 0.005, 0.05), int(rng.integers(-128, 128)))
        qout = q(_scale(rng, 0.01, 0.1), int(rng.integers(-128, 128)))
    else:
        qin = q(_scale(rng, 1e-4, 1e-3), 0)
        qout = q(_scale(rng, 5e-4, 5e-3), 0)
    check_op(_model(op, shape, dtype, qin, qout), oracle="litert_ref",
             feeds=_int_feeds(rng, shape, dtype))


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
def test_neg_integer(dtype: str) -> None:
    rng = np.random.default_rng(50)
    shape = (4, 70)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    x.reshape(-1)[:2] = [info.min, info.max]
    qv = q(0.1, 0) if dtype != "int32" else None
    check_op(_model("NEG", shape, dtype, qv, qv), oracle="litert_ref", feeds=[[x]])
