"""Generated C for comparisons, logic, SELECT_V2 and the remaining elementwise binary math
(emitters/compare.py, kernels/pj_compare.c) against the oracles on random single-op models.

The six comparisons (int8 sides rescaled as TFLM), LOGICAL_AND/OR/NOT, SELECT_V2 with
three-way broadcasting, ADD_N, SQUARED_DIFFERENCE, FLOOR_DIV, FLOOR_MOD, int8 DIV and
int8/int16/int64 MAXIMUM/MINIMUM, with numpy-style broadcasting up to 6-D. Expected values
come from TFLM, or LiteRT's reference kernels where TFLM lacks the dtype, never from
picojoule. Feeds come from small integer ranges so comparisons meet equal values.
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import const, q, single_op_model, tensor
from test_codegen_reduce import LITERT, TFLM, _check, _feeds, _run_and_compare

from picojoule.backends.c.generator import generate
from picojoule.errors import UnsupportedOpError

CMP = ["EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL"]
#: (shape of a, shape of b, output shape): same shape, scalar, row, 5-D and 6-D broadcasts.
SHAPES = [
    ((2, 3, 4), (2, 3, 4), (2, 3, 4)),
    ((2, 3, 4), (1,), (2, 3, 4)),
    ((1, 3, 1, 5), (2, 1, 4, 1), (2, 3, 4, 5)),
    ((4,), (3, 1), (3, 4)),
    ((2, 1, 3, 1, 2), (1, 2, 1, 2, 2), (2, 2, 3, 2, 2)),
    ((2, 1, 2, 1, 2, 3), (1, 3, 1, 2, 1, 3), (2, 3, 2, 2, 2, 3)),
]


def _qt(dtype: str, scale: float, zp: int):
    return q(scale, zp) if dtype == "int8" else (q(scale / 50, 0) if dtype == "int16" else None)


# --------------------------------------------------------------------------- comparisons
CMP_CASES = [(op, dt, k) for k, (op, dt) in enumerate(
    [(op, dt) for dt in ("int8", "float32", "int32") for op in CMP]
    + [("EQUAL", "int64"), ("LESS", "int64"), ("GREATER_EQUAL", "int64"),
       ("EQUAL", "bool"), ("NOT_EQUAL", "bool")])]


@pytest.mark.parametrize("op,dtype,k", CMP_CASES)
def test_compare(op: str, dtype: str, k: int) -> None:
    sa, sb, so = SHAPES[k % len(SHAPES)]
    rng = np.random.default_rng(k)
    # int8: equal scales and zero points on some cases (exact ties), different on others
    s1 = 0.05
    s2 = s1 if k % 2 else 0.03 + 0.05 * rng.random()
    z2 = 3 if k % 2 else int(rng.integers(-10, 10))
    a = tensor("a", sa, dtype, _qt(dtype, s1, 3))
    b = tensor("b", sb, dtype, _qt(dtype, s2, z2))
    y = tensor("y", so, "bool")
    oracle = LITERT if dtype == "int64" or (dtype == "int32" and op != "EQUAL") else TFLM
    _check(single_op_model(op, [a, b], [y]), oracle, lo=-6, hi=6, m4=k % 5 == 0)


@pytest.mark.parametrize("op", ["EQUAL", "LESS_EQUAL", "GREATER"])
def test_compare_int8_rescale_precision(op: str) -> None:
    """Every pair of 64 x 64 int8 values on two close scales: the sides' 8-bit rescaling
    decides near-ties (fewer bits would merge or split some)."""
    a = tensor("a", (64, 1), "int8", q(0.05, 1))
    b = tensor("b", (1, 64), "int8", q(0.0503, -1))
    _check(single_op_model(op, [a, b], [tensor("y", (64, 64), "bool")]), TFLM,
           m4=op == "EQUAL")


@pytest.mark.parametrize("op", ["EQUAL", "NOT_EQUAL", "LESS_EQUAL", "GREATER"])
def test_compare_float_nan(op: str) -> None:
    """A NaN on either side makes every comparison false except NOT_EQUAL."""
    a, b = tensor("a", (3, 4), "float32"), tensor("b", (3, 4), "float32")
    nan = np.float32(np.nan)
    fa = np.array([[nan, 1, 2, nan], [0, -1, 3, 3], [nan, 2, -2, 5]], np.float32)
    fb = np.array([[1, nan, 2, nan], [0, -2, 4, nan], [nan, 2, -3, 5]], np.float32)
    model = single_op_model(op, [a, b], [tensor("y", (3, 4), "bool")])
    _run_and_compare(model, [[fa, fb]], TFLM, m4=op == "LESS_EQUAL")


def test_compare_constant_operand() -> None:
    a = tensor("a", (3, 5), "int8", q(0.1, -2))
    b = const("b", np.array([-3, 0, 1, 2, 9], np.int8), quant=q(0.07, 1))
    _check(single_op_model("GREATER", [a, b], [tensor("y", (3, 5), "bool")]), TFLM,
           lo=-12, hi=12, m4=True)


# --------------------------------------------------------------------------- logic / select
@pytest.mark.parametrize("op,k", [("LOGICAL_AND", 2), ("LOGICAL_OR", 4), ("LOGICAL_AND", 5),
                                  ("LOGICAL_NOT", 0)])
def test_logical(op: str, k: int) -> None:
    sa, sb, so = SHAPES[k]
    if op == "LOGICAL_NOT":
        model = single_op_model(op, [tensor("a", sa, "bool")], [tensor("y", sa, "bool")])
    else:
        model = single_op_model(op, [tensor("a", sa, "bool"), tensor("b", sb, "bool")],
                                [tensor("y", so, "bool")])
    _check(model, TFLM, m4=k == 2)


SELECT_CASES = [
    ("float32", (2, 3, 4), (2, 3, 4), (2, 3, 4), TFLM, True),
    ("int8", (1, 3, 1), (2, 1, 4), (3, 4), TFLM, True),
    ("int16", (4,), (2, 3, 4), (1, 1, 4), TFLM, False),
    ("int32", (2, 1, 1, 2, 3), (1, 2, 1, 2, 1), (2, 2, 3, 1, 3), LITERT, False),
    ("int64", (3, 1), (1, 5), (1,), LITERT, False),
    ("uint8", (2, 3), (2, 3), (3,), LITERT, False),
    ("bool", (2, 3), (1, 3), (2, 1), LITERT, False),
]


@pytest.mark.parametrize("dtype,sc,sx,sz,oracle,m4", SELECT_CASES)
def test_select_v2(dtype, sc, sx, sz, oracle, m4) -> None:
    so = tuple(int(d) for d in np.broadcast_shapes(sc, sx, sz))
    qt = _qt(dtype, 0.1, 2)
    model = single_op_model("SELECT_V2", [tensor("c", sc, "bool"), tensor("x", sx, dtype, qt),
                                          tensor("z", sz, dtype, qt)],
                            [tensor("y", so, dtype, qt)])
    _check(model, oracle, lo=0 if dtype == "uint8" else -100, hi=100, m4=m4)


# --------------------------------------------------------------------------- MAXIMUM / MINIMUM
@pytest.mark.parametrize("op,dtype,k", [("MAXIMUM", "int8", 0), ("MINIMUM", "int8", 2),
                                        ("MAXIMUM", "int16", 3), ("MINIMUM", "int16", 1),
                                        ("MAXIMUM", "int64", 4), ("MINIMUM", "int64", 5)])
def test_maximum_minimum(op: str, dtype: str, k: int) -> None:
    sa, sb, so = SHAPES[k]
    qt = _qt(dtype, 0.05, 1)
    model = single_op_model(op, [tensor("a", sa, dtype, qt), tensor("b", sb, dtype, qt)],
                            [tensor("y", so, dtype, qt)])
    oracle = LITERT if dtype == "int64" else TFLM
    _check(model, oracle, lo=-20, hi=20, m4=k in (0, 3))


# --------------------------------------------------------------------------- arithmetic
SQD_CASES = [("int8", 0, True), ("int8", 2, False), ("int16", 3, True), ("int16", 0, False),
             ("float32", 4, True), ("int32", 1, False)]


@pytest.mark.parametrize("dtype,k,m4", SQD_CASES)
def test_squared_difference(dtype: str, k: int, m4: bool) -> None:
    rng = np.random.default_rng(50 + k)
    sa, sb, so = SHAPES[k]
    qa = _qt(dtype, 0.02 + 0.05 * rng.random(), int(rng.integers(-10, 10)))
    qb = _qt(dtype, 0.02 + 0.05 * rng.random(), int(rng.integers(-10, 10)))
    qo = _qt(dtype, 0.5 + rng.random(), int(rng.integers(-100, -50)))
    model = single_op_model("SQUARED_DIFFERENCE", [tensor("a", sa, dtype, qa),
                                                   tensor("b", sb, dtype, qb)],
                            [tensor("y", so, dtype, qo)])
    big = dtype in ("int16", "int32")
    _check(model, TFLM, lo=-30000 if big else -128, hi=30000 if big else 127, m4=m4)


@pytest.mark.parametrize("k,act", [(0, "NONE"), (1, "RELU"), (2, "NONE"), (3, "RELU6")])
def test_div_int8(k: int, act: str) -> None:
    rng = np.random.default_rng(70 + k)
    sa, sb, so = SHAPES[k]
    qa = q(0.02 + 0.1 * rng.random(), int(rng.integers(-10, 10)))
    qb = q(0.02 + 0.1 * rng.random(), int(rng.integers(-10, 10)))
    qo = q(0.05 + 0.2 * rng.random(), int(rng.integers(-10, 10)))
    model = single_op_model("DIV", [tensor("a", sa, "int8", qa), tensor("b", sb, "int8", qb)],
                            [tensor("y", so, "int8", qo)],
                            attrs=dict(fused_activation_function=act))
    _check(model, TFLM, m4=k == 0)


@pytest.mark.parametrize("op,k", [("FLOOR_DIV", 0), ("FLOOR_DIV", 3), ("FLOOR_MOD", 2),
                                  ("FLOOR_MOD", 5)])
def test_floor_div_mod(op: str, k: int) -> None:
    sa, sb, so = SHAPES[k]
    model = single_op_model(op, [tensor("a", sa, "float32"), tensor("b", sb, "float32")],
                            [tensor("y", so, "float32")])
    # Multiples of 0.7 in [-4.2, 4.2] (exact multiples on even seeds, noise on odd ones),
    # divisors near 0 replaced by 1.3; seed 2 scales the dividends to ~1e7 (quotients of
    # millions: fmod's long division runs over many exponent steps).
    feeds = _feeds(model, (0, 1, 2, 3), -6, 6, 0.7)
    for s, f in enumerate(feeds):
        b = f[1]
        f[1] = np.where(np.abs(b) < 0.3, np.float32(1.3), b).astype(np.float32)
        if s == 2:  # large quotients: exact fmod needs the long division
            f[0] = (f[0] * np.float32(3e6)).astype(np.float32)
    _run_and_compare(model, feeds, TFLM, m4=k < 3)


@pytest.mark.parametrize("dtype,n,m4", [("float32", 3, True), ("int8", 2, False),
                                        ("int8", 4, True)])
def test_add_n(dtype: str, n: int, m4: bool) -> None:
    qt = _qt(dtype, 0.05, -4)
    ins = [tensor(f"a{i}", (2, 3, 5), dtype, qt) for i in range(n)]
    y = tensor("y", (2, 3, 5), dtype, _qt(dtype, 0.11, 6))
    _check(single_op_model("ADD_N", ins, [y]), TFLM, m4=m4)


def test_add_n_constant_input() -> None:
    qt = q(0.05, -4)
    ins = [tensor("a0", (2, 4), "int8", qt),
           const("c", np.arange(-4, 4, dtype=np.int8).reshape(2, 4), quant=qt),
           tensor("a2", (2, 4), "int8", qt)]
    _check(single_op_model("ADD_N", ins, [tensor("y", (2, 4), "int8", q(0.1, 0))]), TFLM)


def test_refusals_are_clean() -> None:
    """What the reference refuses, the C backend refuses with one clear line."""
    bad = [
        single_op_model("LESS", [tensor("a", (3,), "int16", q(0.1, 0)),
                                 tensor("b", (3,), "int16", q(0.1, 0))],
                        [tensor("y", (3,), "bool")]),
        single_op_model("FLOOR_DIV", [tensor("a", (3,), "int64"), tensor("b", (3,), "int64")],
                        [tensor("y", (3,), "int64")]),
    ]
    for m in bad:
        with pytest.raises(UnsupportedOpError, match="C backend"):
            generate(m)


# --------------------------------------------------------------------------- beyond 4-D
ND_CASES = [("ADD", "float32", "RELU6"), ("SUB", "float32", "NONE"), ("MUL", "float32", "NONE"),
            ("DIV", "float32", "RELU"), ("MAXIMUM", "float32", "NONE"),
            ("ADD", "int32", "NONE"), ("SUB", "int32", "RELU"), ("MUL", "int32", "NONE"),
            ("DIV", "int32", "NONE"), ("MINIMUM", "int32", "NONE"),
            ("ADD", "int8", "NONE"), ("SUB", "int8", "RELU"), ("MUL", "int8", "NONE"),
            ("DIV", "int8", "NONE"), ("ADD", "int16", "NONE"), ("SUB", "int16", "NONE"),
            ("MUL", "int16", "RELU"), ("MAXIMUM", "int16", "NONE")]


@pytest.mark.parametrize("k", range(len(ND_CASES)))
def test_binary_beyond_4d(k: int) -> None:
    """ADD/SUB/MUL/DIV/MAXIMUM/MINIMUM with 5-D and 6-D broadcasts (the 4-D emitters'
    configurations, one rank up)."""
    op, dtype, act = ND_CASES[k]
    sa, sb, so = SHAPES[4 + k % 2]
    rng = np.random.default_rng(90 + k)
    zp = (lambda: 0) if dtype == "int16" else (lambda: int(rng.integers(-10, 10)))
    qa, qb = _qt(dtype, 0.02 + 0.05 * rng.random(), zp()), _qt(dtype, 0.02 + 0.05 * rng.random(), zp())
    qo = _qt(dtype, 0.05 + 0.1 * rng.random(), zp())
    if op in ("MAXIMUM", "MINIMUM"):
        qb = qo = qa
    attrs = {} if op in ("MAXIMUM", "MINIMUM") else {"fused_activation_function": act}
    model = single_op_model(op, [tensor("a", sa, dtype, qa), tensor("b", sb, dtype, qb)],
                            [tensor("y", so, dtype, qo)], attrs=attrs)
    big = dtype in ("int16", "int32")
    lo, hi = (-3000, 3000) if big else (-128, 127)
    if op == "DIV" and dtype in ("float32", "int32"):
        lo, hi = 1, 60  # no zero divisors
    _check(model, LITERT if dtype == "int32" or op == "DIV" else TFLM, lo=lo, hi=hi,
           m4=k in (0, 10, 14))
