"""Generated C for reductions, comparisons, logic and the remaining elementwise binary math
(emitters/reduce.py, emitters/compare.py; kernels pj_reduce.c, pj_compare.c) against the
oracles on random single-op models.

MEAN (with TFLM's int8 requantization; over H,W it is GlobalAveragePooling2D), SUM,
REDUCE_MAX/MIN/PROD, ARG_MAX/ARG_MIN, CUMSUM, the six comparisons, LOGICAL_AND/OR/NOT,
SELECT_V2, ADD_N, SQUARED_DIFFERENCE, FLOOR_DIV, FLOOR_MOD, int8 DIV and int8/int16/int64
MAXIMUM/MINIMUM. Expected values come from TFLM, or from LiteRT's reference kernels where
TFLM lacks the op or the dtype (as the op modules' docstrings say), never from picojoule.
Feeds come from small value ranges so comparisons meet ties and reductions meet repeated
extremes. Every model runs on the host; the ``m4`` cases also run on the emulated
Cortex-M4 (one firmware per model, all feeds in one run) when the toolchain is installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import check_c, const, q, single_op_model, tensor

from picojoule.backends import qemu
from picojoule.backends.c.generator import generate
from picojoule.errors import UnsupportedOpError
from picojoule.ir.dtypes import to_numpy

_QEMU = qemu.toolchain_missing() is None
TFLM, LITERT, NUMPY = "tflm", "litert_ref", "numpy"


def _feeds(model, seeds, lo: int, hi: int, fscale: float = 0.5) -> list[list[np.ndarray]]:
    """Random inputs from a small range: integers in [lo, hi] (clipped to the dtype),
    floats = integers in [lo, hi] * fscale plus, on odd seeds, a little noise."""
    out = []
    for s in seeds:
        rng = np.random.default_rng(s)
        feed = []
        for v in model.main.inputs:
            dt = to_numpy(v.dtype)
            if v.dtype == "bool":
                x = rng.integers(0, 2, v.shape).astype(bool)
            elif np.issubdtype(dt, np.floating):
                x = rng.integers(lo, hi + 1, v.shape) * fscale
                if s % 2:
                    x = x + rng.normal(0, 0.01, v.shape)
                x = x.astype(dt)
            else:
                info = np.iinfo(dt)
                x = np.clip(rng.integers(lo, hi + 1, v.shape), info.min, info.max).astype(dt)
            feed.append(np.asarray(x).reshape(v.shape))
        out.append(feed)
    return out


def _check(model, oracle: str = TFLM, seeds=(0, 1, 2), lo: int = -128, hi: int = 127,
           m4: bool = False, fscale: float = 0.5, extremes: bool = False) -> None:
    """Host C (and the M4 firmware) give the oracle's outputs on every feed; ``extremes``
    adds a feed of all-``lo`` and one of all-``hi`` inputs."""
    feeds = _feeds(model, seeds, lo, hi, fscale)
    if extremes:
        for v in (lo, hi):
            feeds.append([np.full(x.shape, v, x.dtype) for x in feeds[0]])
    _run_and_compare(model, feeds, oracle, m4)


def _run_and_compare(model, feeds, oracle: str, m4: bool) -> None:
    want = _numpy_oracle(model, feeds) if oracle == NUMPY else None
    check_c(model, feeds, oracle=oracle, want=want, where=("host", "m4") if m4 else ("host",))


def _numpy_oracle(model, feeds) -> list[list[np.ndarray]]:
    """ARG_MAX / ARG_MIN by numpy (first index of the extreme value)."""
    node = model.main.nodes[0]
    axis = int(np.asarray(node.inputs[1].data).reshape(-1)[0])
    fn = np.argmax if node.op == "ARG_MAX" else np.argmin
    dt = to_numpy(node.outputs[0].dtype)
    return [[fn(f[0], axis=axis).astype(dt)] for f in feeds]


def _qt(dtype: str, scale: float = 0.05, zp: int = 3):
    if dtype == "int8":
        return q(scale, zp)
    if dtype == "int16":
        return q(scale / 50, 0)
    return None


def _reduce_shape(shape, axes, keep: bool):
    rank = len(shape)
    ax = {a % rank for a in axes}
    if keep:
        return tuple(1 if i in ax else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in ax)


def _reduce_model(op, dtype, shape, axes, keep=True, in_q=None, out_q=None):
    x = tensor("x", shape, dtype, in_q if in_q is not None else _qt(dtype))
    y = tensor("y", _reduce_shape(shape, axes, keep), dtype,
               out_q if out_q is not None else _qt(dtype))
    return single_op_model(op, [x, const("axes", np.array(axes, np.int32))], [y],
                           attrs=dict(keep_dims=keep))


# --------------------------------------------------------------------------- MEAN / SUM
MEAN_CASES = [
    # (dtype, shape, axes, keep_dims, m4)
    ("int8", (1, 7, 7, 16), [1, 2], True, True),      # GlobalAveragePooling2D
    ("int8", (2, 5, 3, 10), [1, 2], False, False),    # channels not a multiple of 4
    ("int8", (1, 20, 16, 8), [2, 1], True, True),     # 320 rows: the int16 lanes flush
    ("int8", (2, 3, 4, 5), [0, 2], True, True),       # non-trailing, non-adjacent axes
    ("int8", (3, 4, 6), [-1], False, False),          # innermost axis
    ("int8", (2, 3, 4, 5), [0, 1, 2, 3], False, False),
    ("int8", (4, 1, 6, 2), [1], True, False),         # a unit axis only: n = 1
    ("int16", (1, 6, 5, 7), [1, 2], True, True),
    ("int16", (2, 3, 4, 5), [1, 3], False, False),
    ("float32", (1, 7, 7, 12), [1, 2], True, True),
    ("float32", (2, 3, 4, 5), [0, 3], False, False),
]


@pytest.mark.parametrize("dtype,shape,axes,keep,m4", MEAN_CASES)
def test_mean(dtype, shape, axes, keep, m4) -> None:
    rng = np.random.default_rng(len(shape) * 31 + sum(shape))
    in_q = _qt(dtype, 0.02 + 0.1 * rng.random(), int(rng.integers(-20, 20)))
    out_q = _qt(dtype, 0.02 + 0.1 * rng.random(), int(rng.integers(-20, 20)))
    lim = {"int8": (-128, 127), "int16": (-32768, 32767)}.get(dtype, (-128, 127))
    _check(_reduce_model("MEAN", dtype, shape, axes, keep, in_q, out_q), TFLM, m4=m4,
           lo=lim[0], hi=lim[1], extremes=dtype != "float32")


SUM_CASES = [
    ("int8", (1, 5, 5, 8), [1, 2], True, TFLM, True),
    ("int8", (2, 3, 4, 5), [0, 2], False, TFLM, False),
    ("int16", (2, 3, 4, 5), [3], True, TFLM, False),
    ("float32", (2, 3, 4, 5), [1, 3], True, TFLM, True),
    ("int32", (2, 3, 4, 5), [0, 2], False, LITERT, False),
    ("int64", (2, 3, 4, 5), [1], True, LITERT, False),
]


@pytest.mark.parametrize("dtype,shape,axes,keep,oracle,m4", SUM_CASES)
def test_sum(dtype, shape, axes, keep, oracle, m4) -> None:
    in_q, out_q = _qt(dtype, 0.05, 2), _qt(dtype, 0.5, -4)
    _check(_reduce_model("SUM", dtype, shape, axes, keep, in_q, out_q), oracle, m4=m4,
           lo=-1000 if dtype in ("int32", "int64") else -128,
           hi=1000 if dtype in ("int32", "int64") else 127)


MINMAX_CASES = [
    ("REDUCE_MAX", "int8", (2, 3, 4, 5), [1, 3], True, TFLM, True),
    ("REDUCE_MIN", "int8", (1, 6, 6, 4), [1, 2], False, TFLM, False),
    ("REDUCE_MAX", "float32", (2, 3, 4, 5), [0, 2], False, TFLM, True),
    ("REDUCE_MIN", "float32", (3, 4, 5), [-1], True, TFLM, False),
    ("REDUCE_MAX", "int16", (2, 3, 4), [0, 1, 2], False, LITERT, False),
    ("REDUCE_MIN", "int32", (2, 3, 4), [1], True, LITERT, False),
    ("REDUCE_MAX", "int64", (2, 3, 4), [2, 0], False, LITERT, False),
    ("REDUCE_MIN", "uint8", (2, 3, 4), [1], False, LITERT, False),
]


@pytest.mark.parametrize("op,dtype,shape,axes,keep,oracle,m4", MINMAX_CASES)
def test_reduce_min_max(op, dtype, shape, axes, keep, oracle, m4) -> None:
    qt = _qt(dtype, 0.05, 2)
    _check(_reduce_model(op, dtype, shape, axes, keep, qt, qt), oracle, m4=m4,
           lo=0 if dtype == "uint8" else -20, hi=20)


PROD_CASES = [
    ("int8", (2, 3, 4), [1], True, True),
    ("int8", (2, 3, 4, 2), [0, 2], False, False),
    ("int16", (2, 3, 4), [2], True, False),
    ("float32", (2, 3, 4), [0, 2], False, True),
    ("int32", (2, 3, 4), [1], False, False),
    ("int64", (2, 3, 4), [2], True, False),
]


@pytest.mark.parametrize("dtype,shape,axes,keep,m4", PROD_CASES)
def test_reduce_prod(dtype, shape, axes, keep, m4) -> None:
    in_q, out_q = _qt(dtype, 0.05, 2), _qt(dtype, 0.1, -3)
    _check(_reduce_model("REDUCE_PROD", dtype, shape, axes, keep, in_q, out_q), LITERT,
           m4=m4, lo=-5 if dtype in ("int32", "int64", "float32") else -128,
           hi=5 if dtype in ("int32", "int64", "float32") else 127, fscale=0.7)


# --------------------------------------------------------------------------- ARG_MAX / MIN
ARG_CASES = [
    ("ARG_MAX", "int8", "int32", (2, 3, 10), -1, TFLM, True),
    ("ARG_MIN", "int8", "int64", (2, 5, 4), 1, LITERT, False),
    ("ARG_MAX", "float32", "int64", (3, 4, 5), 0, LITERT, True),
    ("ARG_MIN", "float32", "int32", (1, 3, 3, 6), 3, TFLM, False),
    ("ARG_MAX", "int32", "int32", (4, 6), 1, LITERT, False),
    ("ARG_MIN", "uint8", "int32", (2, 3, 7), 2, LITERT, False),
    # Neither TFLM nor LiteRT take int16 / int64 inputs: numpy's first-index arg is the
    # oracle (the reference accepts them).
    ("ARG_MAX", "int16", "int32", (3, 7), 0, NUMPY, False),
    ("ARG_MIN", "int64", "int64", (3, 7), 1, NUMPY, False),
]


@pytest.mark.parametrize("op,dtype,out_dtype,shape,axis,oracle,m4", ARG_CASES)
def test_arg_min_max(op, dtype, out_dtype, shape, axis, oracle, m4) -> None:
    x = tensor("x", shape, dtype, _qt(dtype))
    out_shape = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    y = tensor("y", out_shape, out_dtype)
    model = single_op_model(op, [x, const("axis", np.array([axis], np.int32))], [y],
                            attrs=dict(output_type=out_dtype))
    _check(model, oracle, m4=m4, lo=0 if dtype == "uint8" else -4, hi=4)


@pytest.mark.parametrize("op", ["ARG_MAX", "ARG_MIN", "REDUCE_MAX", "REDUCE_MIN"])
def test_float_nan(op: str) -> None:
    """NaNs never win a comparison in TFLM: a leading NaN stays the arg result (index 0),
    elsewhere it is passed over; the reductions skip NaNs."""
    x = tensor("x", (5, 6), "float32")
    nan, inf = np.float32(np.nan), np.float32(np.inf)
    feed = np.array([[nan, 1, 2, 0, 3, 3], [1, nan, 5, 5, 0, -1], [-inf, nan, -inf, 1, 1, 0],
                     [2, 2, nan, -2, -2, nan], [nan, -inf, inf, nan, 0, 0]], np.float32)
    if op.startswith("ARG"):
        y = tensor("y", (5,), "int32")
        model = single_op_model(op, [x, const("axis", np.array([1], np.int32))], [y],
                                attrs=dict(output_type="int32"))
    else:
        feed[np.isinf(feed)] = 5.0  # (assert_same measures errors against finite values)
        feed[4, 0] = 7.0
        model = _reduce_model(op, "float32", (5, 6), [1], False)
    _run_and_compare(model, [[feed]], TFLM, m4=op == "ARG_MAX")


# --------------------------------------------------------------------------- CUMSUM
CUMSUM_CASES = [
    ("int8", (2, 5, 3), 1, False, False, True),
    ("int8", (3, 6), -1, True, True, False),
    ("int8", (2, 3, 4), 0, True, False, False),
    ("float32", (2, 5, 3), 1, False, True, True),
    ("float32", (4, 6), 0, True, False, False),
    ("int32", (3, 5), 1, True, True, False),
    ("int64", (3, 5), 0, False, False, False),
]


@pytest.mark.parametrize("dtype,shape,axis,exclusive,reverse,m4", CUMSUM_CASES)
def test_cumsum(dtype, shape, axis, exclusive, reverse, m4) -> None:
    x = tensor("x", shape, dtype, _qt(dtype, 0.05, -7))
    y = tensor("y", shape, dtype, _qt(dtype, 0.3, 5))
    model = single_op_model("CUMSUM", [x, const("axis", np.array(axis, np.int32))], [y],
                            attrs=dict(exclusive=exclusive, reverse=reverse))
    oracle = LITERT if dtype in ("int32", "int64") else TFLM
    _check(model, oracle, m4=m4)


# --------------------------------------------------------------------------- reference limits
def test_refusals_are_clean() -> None:
    """What the reference refuses, the C backend refuses with one clear line."""
    bad = [
        _reduce_model("REDUCE_MAX", "int8", (2, 3), [1], True, q(0.1, 0), q(0.2, 0)),
        single_op_model("ARG_MAX", [tensor("x", (2, 3), "int8", q(0.1, 0)),
                                    tensor("a", (1,), "int32")], [tensor("y", (2,), "int32")],
                        attrs=dict(output_type="int32")),
    ]
    for m in bad:
        with pytest.raises(UnsupportedOpError, match="C backend"):
            generate(m)
