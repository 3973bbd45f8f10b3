"""Property tests of the reductions (picojoule.ops.reduce) against TFLM.

Random shapes, axis sets (negative and repeated axes included), keep_dims, and input/output
quantization from fixed seeds; one-op models compared with TFLM's reference kernels, or
LiteRT's reference kernels where TFLM has no kernel (REDUCE_PROD, int64 ARG_MAX/ARG_MIN
outputs, integer CUMSUM).
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import check_op, const, q, single_op_model, tensor

SEEDS = range(8)


def _quant(rng: np.random.Generator, dtype: str, lo: float = 0.01, hi: float = 0.2):
    if dtype == "int8":
        return q(rng.uniform(lo, hi), int(rng.integers(-30, 31)))
    if dtype == "int16":
        return q(rng.uniform(lo, hi) / 100, 0)
    return None


def _reduce_case(rng: np.random.Generator, max_rank: int = 4):
    """(input shape, axis tensor values, output shape with and without keep_dims)."""
    rank = int(rng.integers(1, max_rank + 1))
    shape = tuple(int(d) for d in rng.integers(1, 6, rank))
    k = int(rng.integers(1, rank + 1))
    axes = [int(a) for a in rng.choice(rank, k, replace=False)]
    spec = [a - rank if rng.random() < 0.3 else a for a in axes]
    if rng.random() < 0.2:
        spec.append(spec[0])  # duplicates are ignored
    keep = tuple(1 if i in axes else d for i, d in enumerate(shape))
    drop = tuple(d for i, d in enumerate(shape) if i not in axes)
    return shape, spec, keep, drop


def _model(op, shape, spec, out_shape, dtype, qin, qout, keep_dims, out_dtype=None):
    x = tensor("x", shape, dtype, qin)
    y = tensor("y", out_shape, out_dtype or dtype, qout)
    return single_op_model(op, [x, const("a", np.asarray(spec, np.int32))], [y],
                           attrs=dict(keep_dims=keep_dims))


@pytest.mark.parametrize("op", ["MEAN", "SUM"])
@pytest.mark.parametrize("seed", SEEDS)
def test_mean_sum(op, seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "int16", "float32", "int8")[seed % 4]
    shape, spec, keep, drop = _reduce_case(rng)
    keep_dims = bool(seed % 2)
    qin = _quant(rng, dtype)
    # SUM's output needs room for n * input; MEAN's about the input's range.
    grow = float(np.prod([shape[a] for a in set(s % len(shape) for s in spec)])) ** 0.5
    qout = None if qin is None else q(qin.scale0 * rng.uniform(0.5, 2.0) * (grow if op == "SUM"
                                                                            else 1.0),
                                      int(rng.integers(-30, 31)) if dtype == "int8" else 0)
    check_op(_model(op, shape, spec, keep if keep_dims else drop, dtype, qin, qout, keep_dims))


@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
@pytest.mark.parametrize("keep_dims", [True, False])
def test_mean_over_height_width(dtype, keep_dims):
    """The common global-average-pool form: 4-D input, axes (1, 2)."""
    rng = np.random.default_rng(7)
    shape = (2, 7, 5, 3)
    qin = _quant(rng, dtype)
    qout = None if qin is None else q(qin.scale0 * 0.7, 4 if dtype == "int8" else 0)
    out = (2, 1, 1, 3) if keep_dims else (2, 3)
    check_op(_model("MEAN", shape, [2, 1], out, dtype, qin, qout, keep_dims))


def test_mean_hand_derived():
    """int8 mean of [1, 2, 4] with equal scales and zero points 0: 7/3 -> 2."""
    m = _model("MEAN", (1, 3), [1], (1, 1), "int8", q(0.5, 0), q(0.5, 0), True)
    got = check_op(m, feeds=[[np.array([[1, 2, 4]], np.int8)]])
    assert got[0][0].tolist() == [[2]]


@pytest.mark.parametrize("op", ["REDUCE_MAX", "REDUCE_MIN"])
@pytest.mark.parametrize("seed", range(6))
def test_reduce_max_min(op, seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "float32")[seed % 2]
    shape, spec, keep, drop = _reduce_case(rng)
    keep_dims = seed % 3 != 0
    qin = _quant(rng, dtype)
    qout = None if qin is None else q(qin.scale, qin.zero_point)
    check_op(_model(op, shape, spec, keep if keep_dims else drop, dtype, qin, qout, keep_dims))


@pytest.mark.parametrize("seed", SEEDS)
def test_reduce_prod(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "int16", "float32", "int32")[seed % 4]
    shape, spec, keep, drop = _reduce_case(rng, 3)
    keep_dims = bool(seed % 2)
    qin = _quant(rng, dtype, 0.005, 0.02)
    qout = None if qin is None else q(rng.uniform(0.002, 0.02) / (100 if dtype == "int16" else 1),
                                      int(rng.integers(-30, 31)) if dtype == "int8" else 0)
    m = _model("REDUCE_PROD", shape, spec, keep if keep_dims else drop, dtype, qin, qout,
               keep_dims)
    # Factors of magnitude ~1 (real values) so products neither vanish nor saturate.
    mag = rng.integers(1, 4, (3, *shape)) * rng.choice([-1, 1], (3, *shape))
    if qin is None:
        feeds = [[a.astype(np.int32 if dtype == "int32" else np.float32)] for a in mag]
    else:
        lim = min(int(1.3 / qin.scale0), 127 if dtype == "int8" else 32767)
        raw = rng.integers(-lim, lim + 1, (3, *shape)) + qin.zp0
        info = np.iinfo(np.int8 if dtype == "int8" else np.int16)
        feeds = [[np.clip(a, info.min, info.max).astype(info.dtype)] for a in raw]
    check_op(m, oracle="litert_ref", feeds=feeds)


@pytest.mark.parametrize("op", ["ARG_MAX", "ARG_MIN"])
@pytest.mark.parametrize("seed", range(6))
def test_arg_max_min(op, seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "float32")[seed % 2]
    rank = int(rng.integers(1, 5))
    shape = tuple(int(d) for d in rng.integers(1, 6, rank))
    axis = int(rng.integers(-rank, rank))
    out = tuple(d for i, d in enumerate(shape) if i != axis % rank)
    out_type = "int64" if seed >= 4 else "int32"
    x = tensor("x", shape, dtype, _quant(rng, dtype))
    y = tensor("y", out, out_type)
    m = single_op_model(op, [x, const("a", np.asarray([axis], np.int32))], [y],
                        attrs=dict(output_type=out_type))
    feeds = None
    if dtype == "int8":  # a narrow range makes ties, which must resolve to the first index
        feeds = [[rng.integers(-2, 3, shape).astype(np.int8)] for _ in range(3)]
    # TFLM's ARG_MAX/ARG_MIN write int32 only: int64 outputs against LiteRT's reference.
    check_op(m, oracle="litert_ref" if out_type == "int64" else "tflm", feeds=feeds)


@pytest.mark.parametrize("op", ["ARG_MAX", "ARG_MIN"])
def test_arg_max_min_with_nans(op):
    """TFLM keeps index 0 when the first element is NaN and never moves to a NaN."""
    x = tensor("x", (4, 5), "float32")
    y = tensor("y", (4,), "int32")
    m = single_op_model(op, [x, const("a", np.asarray([1], np.int32))], [y],
                        attrs=dict(output_type="int32"))
    nan = np.nan
    feeds = [[np.array([[nan, 1, 2, 0, 3], [1, nan, 2, 0, 3], [0, 1, 2, 3, nan],
                        [nan, nan, nan, nan, nan]], np.float32)]]
    check_op(m, feeds=feeds)


@pytest.mark.parametrize("dtype", ["int8", "float32", "int32"])
@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum(dtype, exclusive, reverse):
    rng = np.random.default_rng(len(dtype) + 2 * exclusive + reverse)
    rank = int(rng.integers(1, 5))
    shape = tuple(int(d) for d in rng.integers(1, 6, rank))
    shape = shape[:-1] + (max(shape[-1], 3),)
    axis = int(rng.integers(-rank, rank))
    qin = _quant(rng, dtype)
    qout = None if qin is None else q(qin.scale0 * rng.uniform(1.0, 4.0),
                                      int(rng.integers(-30, 31)))
    x = tensor("x", shape, dtype, qin)
    y = tensor("y", shape, dtype, qout)
    m = single_op_model("CUMSUM", [x, const("a", np.asarray([axis], np.int32))], [y],
                        attrs=dict(exclusive=exclusive, reverse=reverse))
    # TFLM's CUMSUM handles float32 and int8; int32 against LiteRT's reference kernel.
    check_op(m, oracle="litert_ref" if dtype == "int32" else "tflm")


@pytest.mark.parametrize("op", ["MEAN", "SUM"])
@pytest.mark.parametrize("axes,shape,keep_dims", [([1, 2], (2, 30, 40, 8), True),
                                                  ([0, 2], (30, 7, 50), False),
                                                  ([1], (4, 1000), False)])
def test_float_mean_sum_bit_exact(op, axes, shape, keep_dims):
    """Float reductions accumulate in TFLM's order, so even float32 results are identical."""
    out = tuple(1 if i in axes else d for i, d in enumerate(shape)) if keep_dims else \
        tuple(d for i, d in enumerate(shape) if i not in axes)
    check_op(_model(op, shape, axes, out, "float32", None, None, keep_dims), rtol=0.0)
