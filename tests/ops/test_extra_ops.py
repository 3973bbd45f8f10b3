"""Reference kernels of SELECT (v1), REVERSE_V2 and integer FLOOR_DIV / FLOOR_MOD against their
oracles: LiteRT's reference kernels for SELECT (TFLM has only SELECT_V2) and the integer
FLOOR ops (TFLM's are float32 only), TFLM for REVERSE_V2. Configurations come from fixed
seeds; a few results are also checked against values derived by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import OracleRefused, check_op, const, run_oracle, single_op_model, tensor

from picojoule.errors import UnsupportedOpError
from picojoule.exporters.tflite import dumps
from picojoule.importers.tflite import loads
from picojoule.ops import REGISTRY
from picojoule.runtime import Interpreter

LITERT = "litert_ref"
NP = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
      "int64": np.int64, "float32": np.float32, "bool": np.bool_}


def _data(rng: np.random.Generator, dt: str, shape) -> np.ndarray:
    if dt == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    if dt == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(NP[dt])
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=NP[dt])


def _refused_by_both(model, oracle: str, feeds) -> None:
    """The oracle refuses the configuration and so does picojoule (one clear error)."""
    with pytest.raises(OracleRefused):
        run_oracle(model, feeds, oracle)
    with pytest.raises(UnsupportedOpError, match=model.main.nodes[0].op):
        Interpreter(loads(dumps(model)))


# --------------------------------------------------------------------------- SELECT
#: (condition shape, x shape): same shape, scalar condition, 1-D condition over dimension 0.
SELECT_SHAPES = [((2, 3, 4), (2, 3, 4)), ((), (5, 2)), ((), ()), ((4,), (4, 3, 2)),
                 ((3,), (3,)), ((1,), (1, 5)), ((2,), (2, 1, 3, 1, 2)), ((5,), (5, 7))]


@pytest.mark.parametrize("dt", REGISTRY["SELECT"].dtypes)
def test_select(dt: str) -> None:
    rng = np.random.default_rng(len(dt))
    for cs, xs in SELECT_SHAPES:
        c, x, y = tensor("c", cs, "bool"), tensor("x", xs, dt), tensor("y", xs, dt)
        m = single_op_model("SELECT", [c, x, y], [tensor("out", xs, dt)])
        feeds = [[_data(rng, "bool", cs), _data(rng, dt, xs), _data(rng, dt, xs)]
                 for _ in range(2)]
        out = check_op(m, LITERT, feeds=feeds)
        cond, a, b = feeds[0]
        view = cond.reshape(cond.shape + (1,) * (len(xs) - cond.ndim)) if cs else cond
        assert np.array_equal(out[0][0], np.where(view, a, b))  # hand-derived


def test_select_constant_operands() -> None:
    rng = np.random.default_rng(3)
    cond = const("c", np.array([True, False, True]))
    y = const("y", rng.standard_normal((3, 2)).astype(np.float32))
    m = single_op_model("SELECT", [cond, tensor("x", (3, 2), "float32"), y],
                        [tensor("out", (3, 2), "float32")])
    check_op(m, LITERT)


@pytest.mark.parametrize("cs,xs,ys", [((3, 1), (3, 4), (3, 4)), ((4,), (3, 4), (3, 4)),
                                       ((3,), (3, 4), (1, 4)), ((2, 3), (3,), (3,))])
def test_select_refuses_what_litert_refuses(cs, xs, ys) -> None:
    """SELECT does not broadcast like SELECT_V2: LiteRT refuses these at prepare."""
    m = single_op_model("SELECT", [tensor("c", cs, "bool"), tensor("x", xs, "float32"),
                                   tensor("y", ys, "float32")], [tensor("o", xs, "float32")])
    feeds = [[np.ones(cs, bool), np.ones(xs, np.float32), np.ones(ys, np.float32)]]
    _refused_by_both(m, LITERT, feeds)


def _rule_and_litert_shapes(op: str, inputs, out_dtype: str) -> tuple[list, list]:
    """(the op table's rule, LiteRT's Prepare) output shapes from a (1,) placeholder output."""
    m = single_op_model(op, inputs, [tensor("o", (1,), out_dtype)])
    node = loads(dumps(m)).main.nodes[0]
    shapes = [v.shape for v in node.inputs]
    consts = [v.data if v.is_const else None for v in node.inputs]
    rule = [tuple(s) for s in REGISTRY[op].shape(node, shapes, consts)]
    feeds = [[np.ones(v.shape, NP[v.dtype]) for v in m.main.inputs]]
    litert = [tuple(o.shape) for o in run_oracle(m, feeds, "litert")[0]]
    return rule, litert


def test_shape_rules_give_litert_shapes() -> None:
    cases = [("SELECT", [tensor("c", (4,), "bool"), tensor("x", (4, 3), "int8"),
                         tensor("y", (4, 3), "int8")], "int8"),
             ("SELECT", [tensor("c", (), "bool"), tensor("x", (2, 5), "float32"),
                         tensor("y", (2, 5), "float32")], "float32"),
             ("REVERSE_V2", [tensor("x", (2, 3, 4), "int16"), const("a", np.array([-1], np.int32))],
              "int16"),
             ("FLOOR_DIV", [tensor("a", (2, 1, 4), "int32"), tensor("b", (3, 1), "int32")],
              "int32"),
             ("FLOOR_MOD", [tensor("a", (5,), "int64"), tensor("b", (2, 1), "int64")], "int64")]
    for op, inputs, out_dtype in cases:
        rule, litert = _rule_and_litert_shapes(op, inputs, out_dtype)
        assert rule == litert, f"{op}: rule {rule}, LiteRT {litert}"


# --------------------------------------------------------------------------- REVERSE_V2
#: (shape, axes): single axes (negative too), runs of adjacent axes in any order.
REVERSE_CASES = [((7,), [0]), ((3, 4), [1]), ((3, 4), [0]), ((2, 3, 4), [-1]),
                 ((2, 3, 4), [0, 1]), ((2, 3, 4), [2, 1]), ((2, 3, 4), [0, 1, 2]),
                 ((1, 5, 3, 2), [1]), ((2, 1, 3, 2, 3), [2, 3]), ((4, 2, 3), [-3])]


@pytest.mark.parametrize("dt", REGISTRY["REVERSE_V2"].dtypes)
def test_reverse_v2(dt: str) -> None:
    rng = np.random.default_rng(7 + len(dt))
    for shape, axes in REVERSE_CASES:
        m = single_op_model("REVERSE_V2", [tensor("x", shape, dt),
                                           const("axis", np.array(axes, np.int32))],
                            [tensor("y", shape, dt)])
        feeds = [[_data(rng, dt, shape)] for _ in range(2)]
        out = check_op(m, feeds=feeds)
        assert np.array_equal(out[0][0], np.flip(feeds[0][0], axes))  # hand-derived


def test_reverse_v2_by_hand() -> None:
    m = single_op_model("REVERSE_V2", [tensor("x", (2, 3), "int32"),
                                       const("axis", np.array([1], np.int32))],
                        [tensor("y", (2, 3), "int32")])
    out = check_op(m, feeds=[[np.array([[1, 2, 3], [4, 5, 6]], np.int32)]])
    assert out[0][0].tolist() == [[3, 2, 1], [6, 5, 4]]


@pytest.mark.parametrize("axes", [[0, 2], [1, 1], [1, -2]])
def test_reverse_v2_refuses_what_tflm_refuses(axes) -> None:
    """TFLM reverses one run of adjacent axes, each named once."""
    m = single_op_model("REVERSE_V2", [tensor("x", (2, 3, 4), "float32"),
                                       const("axis", np.array(axes, np.int32))],
                        [tensor("y", (2, 3, 4), "float32")])
    _refused_by_both(m, "tflm", [[np.ones((2, 3, 4), np.float32)]])


# --------------------------------------------------------------------------- FLOOR_DIV / MOD
def _divisors(rng: np.random.Generator, dt: str, shape) -> np.ndarray:
    """Random non-zero divisors of both signs, mostly small (so quotients vary)."""
    info = np.iinfo(NP[dt])
    small = rng.integers(1, 12, shape) * np.where(rng.random(shape) < 0.5, -1, 1)
    big = rng.integers(info.min, int(info.max) + 1, shape, dtype=NP[dt]).astype(np.int64)
    d = np.where(rng.random(shape) < 0.7, small, big)
    return np.where(d == 0, 1, d).astype(NP[dt])


def _dividends(rng: np.random.Generator, dt: str, shape, avoid_min: bool) -> np.ndarray:
    x = _data(rng, dt, shape)
    if avoid_min:  # see test_int_floor_div_of_the_minimum_by_minus_one
        x = np.where(x == np.iinfo(NP[dt]).min, 0, x).astype(NP[dt])
    return x


SHAPE_PAIRS = [((17,), (17,)), ((3, 4), (4,)), ((2, 1, 5), (3, 1)), ((), (6,)),
               ((2, 3, 1, 2, 2), (3, 2, 1)), ((1, 64), (64,))]


@pytest.mark.parametrize("op,dt", [(op, dt) for op in ("FLOOR_DIV", "FLOOR_MOD")
                                   for dt in REGISTRY[op].dtypes if dt != "float32"])
def test_int_floor_div_mod(op: str, dt: str) -> None:
    rng = np.random.default_rng(31 + len(op) + len(dt))
    for s1, s2 in SHAPE_PAIRS:
        m = single_op_model(op, [tensor("a", s1, dt), tensor("b", s2, dt)],
                            [tensor("y", np.broadcast_shapes(s1, s2), dt)])
        # LiteRT's int32 / int64 FLOOR_MOD computes MIN % -1 with a trapping idiv (SIGFPE).
        feeds = [[_dividends(rng, dt, s1, True), _divisors(rng, dt, s2)] for _ in range(2)]
        check_op(m, LITERT, feeds=feeds)


@pytest.mark.parametrize("op", ["FLOOR_DIV", "FLOOR_MOD"])
def test_int_floor_by_hand(op: str) -> None:
    """Python's // and % (floor division, remainder with the divisor's sign)."""
    a = np.array([7, -7, 7, -7, 0, 6, -6, 1], np.int32)
    b = np.array([2, 2, -2, -2, 3, 3, -3, -5], np.int32)
    m = single_op_model(op, [tensor("a", (8,), "int32"), tensor("b", (8,), "int32")],
                        [tensor("y", (8,), "int32")])
    out = check_op(m, LITERT, feeds=[[a, b]])[0][0]
    want = a // b if op == "FLOOR_DIV" else a % b
    assert out.tolist() == want.tolist()


def test_int_floor_with_constant_divisor() -> None:
    m = single_op_model("FLOOR_DIV", [tensor("a", (2, 6), "int32"),
                                      const("b", np.array([3, -4, 5, 7, -2, 9], np.int32))],
                        [tensor("y", (2, 6), "int32")])
    check_op(m, LITERT)


@pytest.mark.parametrize("dt", ["int8", "int16", "int32"])
def test_int_floor_div_of_the_minimum_by_minus_one(dt: str) -> None:
    """MIN / -1 is outside the type: LiteRT converts the double 2^(bits-1) back, which C++
    leaves undefined. Its scalar loop wraps (to MIN) and picojoule does the same; LiteRT's
    vectorised loop (blocks of 8 same-shape int8/int16 elements) saturates instead."""
    mn = np.iinfo(NP[dt]).min
    a, b = np.array([mn, mn, 5], NP[dt]), np.array([-1, 1, -1], NP[dt])
    m = single_op_model("FLOOR_DIV", [tensor("a", (3,), dt), tensor("b", (3,), dt)],
                        [tensor("y", (3,), dt)])
    out = check_op(m, LITERT, feeds=[[a, b]])[0][0]
    assert out.tolist() == [mn, mn, -5]
    m = single_op_model("FLOOR_MOD", [tensor("a", (3,), dt), tensor("b", (3,), dt)],
                        [tensor("y", (3,), dt)])
    ours = Interpreter(loads(dumps(m))).run([a, b])[0]
    assert ours.tolist() == [0, 0, 0]  # C leaves MIN % -1 undefined; mathematically 0


def test_int_floor_by_zero_is_zero() -> None:
    """LiteRT refuses a zero divisor at run time ("Division by 0"); picojoule (reference and
    C alike) gives 0 there rather than trapping on a microcontroller."""
    for op in ("FLOOR_DIV", "FLOOR_MOD"):
        m = single_op_model(op, [tensor("a", (3,), "int32"), tensor("b", (3,), "int32")],
                            [tensor("y", (3,), "int32")])
        feeds = [[np.array([5, -5, 7], np.int32), np.array([0, 0, 2], np.int32)]]
        with pytest.raises(OracleRefused, match="Division by 0"):
            run_oracle(m, feeds, LITERT)
        got = Interpreter(loads(dumps(m))).run(feeds[0])[0]
        assert got.tolist() == [0, 0, 3 if op == "FLOOR_DIV" else 1]


@pytest.mark.parametrize("op,dt", [("FLOOR_DIV", "int64"), ("FLOOR_DIV", "uint8"),
                                   ("FLOOR_MOD", "uint8")])
def test_int_floor_refuses_what_litert_refuses(op: str, dt: str) -> None:
    m = single_op_model(op, [tensor("a", (3,), dt), tensor("b", (3,), dt)],
                        [tensor("y", (3,), dt)])
    _refused_by_both(m, LITERT, [[np.ones(3, NP[dt]), np.ones(3, NP[dt])]])
