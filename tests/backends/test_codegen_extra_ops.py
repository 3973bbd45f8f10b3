"""Generated C for SELECT (v1), REVERSE_V2 and integer FLOOR_DIV / FLOOR_MOD
(emitters/extra_ops.py) against their oracles: LiteRT's reference kernels for SELECT and the
integer FLOOR ops, TFLM for REVERSE_V2 -- never picojoule itself.

Every configuration runs on the host; one model per op family (with all its feeds, one
firmware start) also runs on the emulated Cortex-M4, and one on the Cortex-M55 (portable
code: these ops have no MVE bodies).
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import check_c, const, single_op_model, tensor

from picojoule.backends import qemu
from picojoule.backends.c.generator import generate
from picojoule.errors import UnsupportedOpError
from picojoule.ops import REGISTRY

LITERT = "litert_ref"
NP = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
      "int64": np.int64, "float32": np.float32, "bool": np.bool_}
_QEMU = qemu.toolchain_missing() is None


def _where(m4: bool = False, m55: bool = False) -> tuple[str, ...]:
    return ("host", *(("m4",) if m4 and _QEMU else ()), *(("m55",) if m55 and _QEMU else ()))


def _data(rng: np.random.Generator, dt: str, shape) -> np.ndarray:
    if dt == "float32":
        return rng.standard_normal(shape).astype(np.float32)
    if dt == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(NP[dt])
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=NP[dt])


# --------------------------------------------------------------------------- SELECT
SELECT_SHAPES = [((2, 3, 4), (2, 3, 4)), ((), (5, 2)), ((4,), (4, 3, 2)), ((1,), (1, 5)),
                 ((2,), (2, 1, 3, 1, 2)), ((3,), (3,))]


@pytest.mark.parametrize("dt", REGISTRY["SELECT"].dtypes)
def test_select(dt: str) -> None:
    rng = np.random.default_rng(40 + len(dt))
    for k, (cs, xs) in enumerate(SELECT_SHAPES):
        m = single_op_model("SELECT", [tensor("c", cs, "bool"), tensor("x", xs, dt),
                                       tensor("y", xs, dt)], [tensor("o", xs, dt)])
        feeds = [[_data(rng, "bool", cs), _data(rng, dt, xs), _data(rng, dt, xs)]
                 for _ in range(3)]
        check_c(m, feeds, oracle=LITERT, rtol=0.0, exact_dtypes=True,
                where=_where(m4=dt == "float32" and k == 2, m55=dt == "int16" and k == 2))


def test_select_constant_operands() -> None:
    """A constant condition and operand live in flash."""
    rng = np.random.default_rng(5)
    m = single_op_model("SELECT", [const("c", np.array([True, False, True, False])),
                                   tensor("x", (4, 3), "int8"),
                                   const("y", _data(rng, "int8", (4, 3)))],
                        [tensor("o", (4, 3), "int8")])
    check_c(m, oracle=LITERT, exact_dtypes=True)


# --------------------------------------------------------------------------- REVERSE_V2
REVERSE_CASES = [((7,), [0]), ((3, 4), [1]), ((3, 4), [0]), ((2, 3, 4), [-1]),
                 ((2, 3, 4), [0, 1]), ((2, 3, 4), [2, 1]), ((2, 3, 4), [0, 1, 2]),
                 ((1, 5, 3, 2), [1]), ((2, 1, 3, 2, 3), [2, 3]), ((3, 2, 2, 2, 2, 3), [4])]


@pytest.mark.parametrize("dt", REGISTRY["REVERSE_V2"].dtypes)
def test_reverse_v2(dt: str) -> None:
    rng = np.random.default_rng(50 + len(dt))
    for k, (shape, axes) in enumerate(REVERSE_CASES):
        m = single_op_model("REVERSE_V2", [tensor("x", shape, dt),
                                           const("axis", np.array(axes, np.int32))],
                            [tensor("y", shape, dt)])
        feeds = [[_data(rng, dt, shape)] for _ in range(2)]
        check_c(m, feeds, oracle="tflm", rtol=0.0, exact_dtypes=True,
                where=_where(m4=dt == "int8" and k == 5))


def test_reverse_v2_of_an_intermediate() -> None:
    """A reversal whose input is another node's output (the in-place planner may not let
    the copy overwrite what it still has to read)."""
    x = tensor("x", (4, 6), "float32")
    a = tensor("a", (4, 6), "float32")
    y = tensor("y", (4, 6), "float32")
    from picojoule.ir import Graph, Model, Node

    g = Graph("main")
    g.inputs.append(x)
    g.add_node(Node("ABS", [x], [a], {}, name="abs"))
    g.add_node(Node("REVERSE_V2", [a, const("axis", np.array([0, 1], np.int32))], [y], {},
                    name="rev"))
    g.outputs = [y]
    m = Model([g], source="test")
    m.verify()
    rng = np.random.default_rng(2)
    feeds = [[rng.standard_normal((4, 6)).astype(np.float32)]]
    check_c(m, feeds, want=[[np.flip(np.abs(feeds[0][0]))]], rtol=0.0)  # by hand


# --------------------------------------------------------------------------- FLOOR_DIV / MOD
def _divisors(rng: np.random.Generator, dt: str, shape) -> np.ndarray:
    info = np.iinfo(NP[dt])
    small = rng.integers(1, 12, shape) * np.where(rng.random(shape) < 0.5, -1, 1)
    big = rng.integers(info.min, int(info.max) + 1, shape, dtype=NP[dt]).astype(np.int64)
    d = np.where(rng.random(shape) < 0.7, small, big)
    return np.where(d == 0, 1, d).astype(NP[dt])


def _dividends(rng: np.random.Generator, dt: str, shape) -> np.ndarray:
    """Random values without the type's minimum (LiteRT's int32 / int64 FLOOR_MOD traps on
    MIN % -1; MIN / -1 has its own test)."""
    x = _data(rng, dt, shape)
    return np.where(x == np.iinfo(NP[dt]).min, 0, x).astype(NP[dt])


SHAPE_PAIRS = [((17,), (17,)), ((3, 4), (4,)), ((2, 1, 5), (3, 1)), ((), (6,)),
               ((2, 3, 1, 2, 2), (3, 2, 1))]
FLOOR_CASES = [(op, dt) for op in ("FLOOR_DIV", "FLOOR_MOD")
               for dt in REGISTRY[op].dtypes if dt != "float32"]


@pytest.mark.parametrize("op,dt", FLOOR_CASES)
def test_int_floor_div_mod(op: str, dt: str) -> None:
    rng = np.random.default_rng(60 + len(op) + len(dt))
    for k, (s1, s2) in enumerate(SHAPE_PAIRS):
        m = single_op_model(op, [tensor("a", s1, dt), tensor("b", s2, dt)],
                            [tensor("y", np.broadcast_shapes(s1, s2), dt)])
        feeds = [[_dividends(rng, dt, s1), _divisors(rng, dt, s2)] for _ in range(3)]
        m4 = k == 2 and (dt in ("int32", "int64") or (op, dt) == ("FLOOR_DIV", "int8"))
        check_c(m, feeds, oracle=LITERT, exact_dtypes=True, where=_where(m4=m4))


def test_int_floor_constant_divisor_and_edges() -> None:
    """A constant divisor in flash; MIN / -1 (wraps, as LiteRT's scalar loop) and a zero
    divisor (0; LiteRT refuses it) against the values derived by hand."""
    m = single_op_model("FLOOR_DIV", [tensor("a", (2, 6), "int32"),
                                      const("b", np.array([3, -4, 5, 7, -2, 9], np.int32))],
                        [tensor("y", (2, 6), "int32")])
    check_c(m, oracle=LITERT, exact_dtypes=True)
    for op in ("FLOOR_DIV", "FLOOR_MOD"):
        for dt in ("int8", "int16", "int32"):
            mn = int(np.iinfo(NP[dt]).min)
            a = np.array([mn, mn, 7, -7, 5, mn], NP[dt])
            b = np.array([-1, 1, -2, 2, 0, 0], NP[dt])
            want = ([mn, mn, -4, -4, 0, 0] if op == "FLOOR_DIV" else [0, 0, -1, 1, 0, 0])
            m = single_op_model(op, [tensor("a", (6,), dt), tensor("b", (6,), dt)],
                                [tensor("y", (6,), dt)])
            check_c(m, [[a, b]], want=[[np.array(want, NP[dt])]], exact_dtypes=True,
                    where=_where(m4=dt == "int32"))


def test_refusals_are_clean() -> None:
    """What the reference refuses, the C backend refuses with one clear line."""
    bad = [
        single_op_model("FLOOR_DIV", [tensor("a", (3,), "int64"), tensor("b", (3,), "int64")],
                        [tensor("y", (3,), "int64")]),
        single_op_model("REVERSE_V2", [tensor("x", (2, 3, 4), "int8"),
                                       const("axis", np.array([0, 2], np.int32))],
                        [tensor("y", (2, 3, 4), "int8")]),
        single_op_model("REVERSE_V2", [tensor("x", (2, 3), "int8"), tensor("axis", (1,), "int32")],
                        [tensor("y", (2, 3), "int8")]),
        single_op_model("SELECT", [tensor("c", (3, 1), "bool"), tensor("x", (3, 4), "int8"),
                                   tensor("y", (3, 4), "int8")], [tensor("o", (3, 4), "int8")]),
    ]
    for m in bad:
        with pytest.raises(UnsupportedOpError, match="C backend") as info:
            generate(m)
        assert "\n" not in str(info.value)
