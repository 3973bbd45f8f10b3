"""Property tests of the elementwise binary ops against TFLM (expected values from the oracle).

* int8 arithmetic and comparisons run on all 65536 input pairs at once, with random scales,
  zero points and fused activations drawn from fixed seeds.
* Every op / dtype also runs on random broadcasting shapes (rank 0-5), with constant and
  non-constant operands.
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import OracleRefused, check_op, const, q, run_oracle, single_op_model, tensor
from picojoule.errors import UnsupportedOpError
from picojoule.runtime import Interpreter

ACTS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
WITH_ACT = ("ADD", "SUB", "MUL", "DIV")
CMP = ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")
NP = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
      "float32": np.float32, "bool": np.bool_}


def _attrs(op: str, act: str = "NONE") -> dict:
    return {"fused_activation_function": act} if op in WITH_ACT else {}


def _scale(rng: np.random.Generator, lo: float = 1e-3, hi: float = 0.5) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _quants(rng: np.random.Generator, op: str, dt: str) -> tuple:
    """(q1, q2, q_out) for a quantized op, within what TFLM accepts."""
    if dt == "int16":
        zps = (0, 0, 0)  # TFLM's int16 MUL / SQUARED_DIFFERENCE require it; ADD/SUB use it
    else:
        zps = tuple(int(z) for z in rng.integers(-128, 128, 3))
    s1, s2 = _scale(rng), _scale(rng)
    if op == "DIV":
        so = _scale(rng, 1e-2, 4.0)
    elif op == "MUL":
        so = s1 * s2 * float(np.exp(rng.uniform(-3, 3)))
    elif op == "SQUARED_DIFFERENCE":
        so = max(s1, s2) ** 2 * float(np.exp(rng.uniform(-1, 5)))
    else:
        so = max(s1, s2) * float(np.exp(rng.uniform(-1, 1.5)))
    return q(s1, zps[0]), q(s2, zps[1]), q(so, zps[2])


def _binary_model(op: str, dt: str, shp1, shp2, quants=(None, None, None), act="NONE",
                  const2: np.ndarray | None = None, out_dt: str | None = None):
    a = tensor("a", shp1, dt, quants[0])
    b = (const("b", const2, dt, quants[1]) if const2 is not None
         else tensor("b", shp2, dt, quants[1]))
    y = tensor("y", np.broadcast_shapes(tuple(shp1), tuple(shp2)), out_dt or dt, quants[2])
    return single_op_model(op, [a, b], [y], _attrs(op, act))


def _all_pairs() -> list[np.ndarray]:
    v = np.arange(-128, 128, dtype=np.int8)
    return [np.repeat(v[:, None], 256, 1), np.repeat(v[None, :], 256, 0)]


# --------------------------------------------------------------------------- int8, every pair


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "SQUARED_DIFFERENCE", "DIV"])
@pytest.mark.parametrize("seed", range(4))
def test_int8_arithmetic_all_pairs(op: str, seed: int) -> None:
    rng = np.random.default_rng(100 * seed + len(op))
    act = ACTS[seed] if op in WITH_ACT else "NONE"
    m = _binary_model(op, "int8", (256, 256), (256, 256), _quants(rng, op, "int8"), act)
    # DIV includes the divisor == zero point column: TFLM's result there is defined by its
    # x86 build (UB in C), and picojoule reproduces it.
    check_op(m, feeds=[_all_pairs()])


@pytest.mark.parametrize("op", CMP)
@pytest.mark.parametrize("seed", range(2))
def test_int8_comparison_all_pairs(op: str, seed: int) -> None:
    rng = np.random.default_rng(7 + seed)
    q1, q2, _ = _quants(rng, op, "int8")
    if seed == 1:  # same scale and zero point: comparisons must match the raw values
        q2 = q(q1.scale0, q1.zp0)
    m = _binary_model(op, "int8", (256, 256), (256, 256), (q1, q2, None), out_dt="bool")
    out = check_op(m, feeds=[_all_pairs()])[0][0]
    if seed == 1:  # hand-derived: with identical quantization, compare the integers
        a, b = _all_pairs()
        ref = {"EQUAL": a == b, "NOT_EQUAL": a != b, "LESS": a < b, "LESS_EQUAL": a <= b,
               "GREATER": a > b, "GREATER_EQUAL": a >= b}[op]
        assert np.array_equal(out, ref)


# --------------------------------------------------------------------------- random broadcasting


def _broadcast_shapes(rng: np.random.Generator) -> tuple[tuple, tuple]:
    """Two shapes that broadcast against each other (ranks 0-5, size-1 dims, rank gaps)."""
    rank = int(rng.integers(0, 6))
    out = [int(d) for d in rng.integers(1, 5, rank)]
    shapes = []
    for _ in range(2):
        r = int(rng.integers(0, rank + 1)) if rank else 0
        s = [d if rng.random() < 0.6 else 1 for d in out[rank - r:]]
        shapes.append(tuple(s))
    return shapes[0], shapes[1]


def _feeds(rng: np.random.Generator, dt: str, shapes, n: int = 2, nonzero: bool = False):
    feeds = []
    for _ in range(n):
        xs = []
        for shp in shapes:
            if dt == "float32":
                x = rng.standard_normal(shp).astype(np.float32) * 3
            elif dt == "bool":
                x = rng.integers(0, 2, shp).astype(bool)
            else:
                info = np.iinfo(NP[dt])
                x = rng.integers(info.min, info.max, shp, dtype=NP[dt], endpoint=True)
            xs.append(np.asarray(x))
        if nonzero:  # divisor: avoid x / 0 (and INT_MIN / -1), UB in C
            xs[1] = np.where((xs[1] == 0) | (xs[1] == -1), 7, xs[1]).astype(xs[1].dtype)
        feeds.append(xs)
    return feeds


CASES = (
    [(op, dt) for op in ("ADD", "SUB") for dt in ("int8", "int16", "int32", "float32")]
    + [("MUL", dt) for dt in ("int8", "int16", "int32", "float32")]
    + [("DIV", dt) for dt in ("int8", "int32", "float32")]
    + [("SQUARED_DIFFERENCE", dt) for dt in ("int8", "int16", "int32", "float32")]
    + [(op, dt) for op in ("MAXIMUM", "MINIMUM")
       for dt in ("int8", "int16", "int32", "int64", "float32")]
    + [(op, dt) for op in CMP for dt in ("int8", "int32", "int64", "float32")]
    + [(op, "bool") for op in ("EQUAL", "NOT_EQUAL", "LOGICAL_AND", "LOGICAL_OR")]
)


@pytest.mark.parametrize("op,dt", CASES)
def test_random_broadcast(op: str, dt: str) -> None:
    rng = np.random.default_rng(sum(map(ord, op + dt)))
    quantized = dt in ("int8", "int16") and op not in ("MAXIMUM", "MINIMUM")
    for k in range(6):
        shp1, shp2 = _broadcast_shapes(rng)
        quants = _quants(rng, op, dt) if quantized else (None, None, None)
        if op in CMP:
            quants = (quants[0], quants[1], None)
        act = ACTS[k % 4] if op in WITH_ACT else "NONE"  # (TFLM's int32 ADD ignores it)
        if op in ("MAXIMUM", "MINIMUM") and dt in ("int8", "int16") and k % 2:
            quants = (q(0.1, 1), q(0.1, 1), q(0.1, 1))  # raw max/min, no rescaling
        out_dt = "bool" if op in CMP else None
        feeds = _feeds(rng, dt, (shp1, shp2), nonzero=op == "DIV")
        const2 = None
        if k == 5:  # constant second operand (the corpus's int16 SUB has one)
            const2 = feeds[0][1]
            feeds = [[f[0]] for f in feeds]
        m = _binary_model(op, dt, shp1, shp2, quants, act, const2, out_dt)
        check_op(m, feeds=feeds)


def test_float_overflow_clamps_to_flt_max() -> None:
    """TFLM clamps float results to [lowest, max] even without an activation."""
    m = _binary_model("ADD", "float32", (4,), (4,))
    big = np.float32(3e38)
    x = [np.array([big, -big, 1, np.inf], np.float32), np.array([big, -big, 2, 1], np.float32)]
    out = check_op(m, feeds=[x])[0][0]
    fmax = np.finfo(np.float32).max
    assert np.array_equal(out, [fmax, -fmax, 3, fmax])  # hand-derived


@pytest.mark.parametrize("op,dt,scales", [
    ("DIV", "int8", (0.015428346581757069, 0.5052149295806885, 0.0011121233692392707)),
    ("SUB", "int16", (0.0012579173, 9.196187e-06, 0.0009364741)),  # ops/sub1.tflite
])
def test_multipliers_computed_in_double(op: str, dt: str, scales: tuple) -> None:
    """Scales for which float and double multipliers differ: this TFLM build uses double
    for SUB and DIV (the mirrored sources compute them in float)."""
    zps = (3, -5, 1) if dt == "int8" else (0, 0, 0)
    quants = tuple(q(s, z) for s, z in zip(scales, zps))
    if dt == "int8":
        feeds = [_all_pairs()]
    else:
        x = np.arange(-32768, 32768, dtype=np.int16)
        feeds = [[x, np.random.default_rng(0).permutation(x)]]
    check_op(_binary_model(op, dt, feeds[0][0].shape, feeds[0][1].shape, quants), feeds=feeds)


def test_float_nan_and_signed_zero() -> None:
    """MAXIMUM is ``a > b ? a : b`` (NaN in a loses, in b wins); comparisons are IEEE."""
    a = np.array([np.nan, 1, np.nan, -np.inf, 0.0, -0.0], np.float32)
    b = np.array([1, np.nan, np.nan, np.nan, -0.0, 0.0], np.float32)
    for op in ("MAXIMUM", "MINIMUM", *CMP):
        od = "float32" if op in ("MAXIMUM", "MINIMUM") else "bool"
        m = _binary_model(op, "float32", (6,), (6,), out_dt=od)
        want = run_oracle(m, [[a, b]])[0][0]
        got = Interpreter(m).run([a, b])[0]
        assert got.dtype == want.dtype
        assert np.array_equal(got, want, equal_nan=od == "float32"), op
        assert np.array_equal(np.signbit(got), np.signbit(want)), op
    # hand-derived: MAXIMUM(-0.0, 0.0) keeps the first operand when they compare equal
    assert np.signbit(Interpreter(_binary_model("MAXIMUM", "float32", (6,), (6,))).run(
        [a, b])[0][4])


def test_rank6_broadcast_and_int16_zero_points() -> None:
    rng = np.random.default_rng(8)
    quants = (q(0.1, 1), q(0.2, -1), q(0.3, 0))
    check_op(_binary_model("ADD", "int8", (2, 1, 3, 1, 2, 2), (1, 2, 1, 2, 1, 2), quants),
             feeds=_feeds(rng, "int8", [(2, 1, 3, 1, 2, 2), (1, 2, 1, 2, 1, 2)]))
    # TFLM's general int16 ADD/SUB scheme takes non-zero zero points too
    for op in ("ADD", "SUB"):
        quants = (q(0.01, 300), q(0.02, -1000), q(0.03, 17))
        check_op(_binary_model(op, "int16", (3, 5), (5,), quants, "RELU"),
                 feeds=_feeds(rng, "int16", [(3, 5), (5,)]))


def test_quantized_add_rejects_what_tflm_aborts_on() -> None:
    """TFLM's QuantizeMultiplierSmallerThanOneExp aborts the process for an output
    multiplier >= 1 (here 2 * 0.5 / (2^20 * 1e-7) ~ 9.5), so no oracle run: hand-derived."""
    m = _binary_model("ADD", "int8", (4,), (4,), (q(0.5), q(0.5), q(1e-7)))
    with pytest.raises(UnsupportedOpError, match="multiplier"):
        Interpreter(m)


# --------------------------------------------------------------------------- NOT / SELECT_V2


def test_logical_not() -> None:
    rng = np.random.default_rng(3)
    for shp in [(), (5,), (2, 3, 4)]:
        x = tensor("x", shp, "bool")
        y = tensor("y", shp, "bool")
        feeds = _feeds(rng, "bool", [shp], n=3)
        out = check_op(single_op_model("LOGICAL_NOT", [x], [y]), feeds=feeds)
        assert np.array_equal(out[0][0], ~feeds[0][0])  # hand-derived


@pytest.mark.parametrize("dt", ["int8", "int16", "float32"])
def test_select_v2(dt: str) -> None:
    rng = np.random.default_rng(11)
    for k in range(6):
        s1, s2 = _broadcast_shapes(rng)
        sc = tuple(d if rng.random() < 0.5 else 1 for d in np.broadcast_shapes(s1, s2))
        sc = sc[int(rng.integers(0, len(sc) + 1)):]
        quant = q(0.05, 3) if dt != "float32" else None
        c = tensor("c", sc, "bool")
        x = tensor("x", s1, dt, quant)
        yv = tensor("yv", s2, dt, quant)
        out = tensor("out", np.broadcast_shapes(sc, s1, s2), dt, quant)
        cond = _feeds(rng, "bool", [sc])
        vals = _feeds(rng, dt, [s1, s2])
        feeds = [[c0[0], *v] for c0, v in zip(cond, vals)]
        check_op(single_op_model("SELECT_V2", [c, x, yv], [out]), feeds=feeds)


# --------------------------------------------------------------------------- corner cases


def test_int16_add_ignores_pot_scale_flag() -> None:
    """TFLM runs int16 ADD/SUB through the general scheme whatever pot_scale_int16 says."""
    rng = np.random.default_rng(5)
    for op in ("ADD", "SUB"):
        a = tensor("a", (3, 7), "int16", q(2.0 ** -12))
        b = tensor("b", (3, 7), "int16", q(2.0 ** -10))
        y = tensor("y", (3, 7), "int16", q(2.0 ** -9))
        m = single_op_model(op, [a, b], [y], {"fused_activation_function": "NONE",
                                              "pot_scale_int16": True})
        check_op(m, feeds=_feeds(rng, "int16", [(3, 7), (3, 7)]))


def test_unsupported_configurations_are_rejected() -> None:
    """int16 comparisons: TFLM refuses most and its GREATER has no rescaling data."""
    a = tensor("a", (4,), "int16", q(0.1))
    b = tensor("b", (4,), "int16", q(0.1))
    y = tensor("y", (4,), "bool")
    m = single_op_model("LESS", [a, b], [y])
    with pytest.raises(OracleRefused):
        run_oracle(m, [[np.zeros(4, np.int16)] * 2])
    with pytest.raises(UnsupportedOpError, match="int16"):
        Interpreter(m)
    # mixed input dtypes
    a = tensor("a", (4,), "float32")
    b = tensor("b", (4,), "int32")
    y = tensor("y", (4,), "float32")
    with pytest.raises(UnsupportedOpError, match="dtypes"):
        Interpreter(single_op_model("ADD", [a, b], [y], _attrs("ADD")))


# --------------------------------------------------------------------------- FLOOR_DIV / MOD, ADD_N


@pytest.mark.parametrize("op", ["FLOOR_DIV", "FLOOR_MOD"])
def test_floor_div_mod(op: str) -> None:
    rng = np.random.default_rng(21)
    for _ in range(4):
        s1, s2 = _broadcast_shapes(rng)
        check_op(_binary_model(op, "float32", s1, s2), feeds=_feeds(rng, "float32", [s1, s2]))
    a = np.array([7, -7, 7, -7, 0, 5.5], np.float32)
    b = np.array([2, 2, -2, -2, 3, 2], np.float32)
    out = check_op(_binary_model(op, "float32", (6,), (6,)), feeds=[[a, b]])[0][0]
    want = [3, -4, -4, 3, 0, 2] if op == "FLOOR_DIV" else [1, 1, -1, -1, 0, 1.5]
    assert out.tolist() == want  # hand-derived: Python's // and %


@pytest.mark.parametrize("dt", ["float32", "int8"])
def test_add_n(dt: str) -> None:
    rng = np.random.default_rng(22)
    for n in (2, 3, 5):
        shp = tuple(int(d) for d in rng.integers(1, 5, int(rng.integers(1, 4))))
        quant = (q(_scale(rng), int(rng.integers(-128, 128))) if dt == "int8" else None)
        out_q = q(_scale(rng, 0.01, 2.0), int(rng.integers(-128, 128))) if dt == "int8" else None
        xs = [tensor(f"x{i}", shp, dt, quant) for i in range(n)]
        m = single_op_model("ADD_N", xs, [tensor("y", shp, dt, out_q)])
        check_op(m, feeds=_feeds(rng, dt, [shp] * n, n=2))


def test_add_n_int8_many_inputs_wrap_like_tflm():
    """TFLM sums AddN's rescaled int8 inputs in int32, which wraps with many extreme inputs."""
    n = 20
    xs = [tensor(f"x{i}", (1, 6), "int8", q(0.1, 127)) for i in range(n)]
    y = tensor("y", (1, 6), "int8", q(0.5, 0))
    m = single_op_model("ADD_N", xs, [y])
    feeds = [[np.full((1, 6), -128, np.int8) for _ in range(n)],
             [np.full((1, 6), 127, np.int8) if i % 2 else np.full((1, 6), -128, np.int8)
              for i in range(n)]]
    check_op(m, feeds=feeds)
