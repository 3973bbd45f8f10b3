"""Generated C for activations, elementwise math and normalisation against TFLM (LiteRT's
reference kernels where TFLM lacks the op or configuration: RELU_N1_TO_1, GELU, quantized
EXP / LOG / NEG, integer NEG).

float32: every op on large random values (normals times 20, 100 and 400), unit normals and
IEEE edge values (+-0, subnormals, +-FLT_MAX, +-inf, NaN, exp's overflow and underflow
limits, exact halves for ROUND); non-finite outputs must match exactly, finite ones within
1e-5 of the largest magnitude (oracles.assert_same) and, for the elementwise math, within
1e-5 relative element by element. int16 elementwise ops see every int16 value.
Expected values come from the oracles only. Every configuration runs on the host; the
emulated Cortex-M4 runs multi-op models (one firmware each) covering every kernel.
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import const, q, run_oracle, single_op_model, tensor
from oracles import assert_same

from picojoule.backends import host, qemu
from picojoule.backends.c.generator import generate
from picojoule.errors import UnsupportedOpError
from picojoule.ir import Graph, Model, Node

_QEMU = qemu.toolchain_missing() is None
needs_qemu = pytest.mark.skipif(not _QEMU, reason="arm-none-eabi-gcc / qemu-system-arm missing")

EDGES = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, -7.5,
                  2.4999998, 1e-45, -1e-45, 1e-40, -3e-39, 1.2e-38, -1.2e-38, 3.4e38, -3.4e38,
                  np.inf, -np.inf, np.nan, 88.72283, 88.72284, -87.33, -87.34, -103.9,
                  -103.98, -104.5, 1e-8, -1e-8, 16777216.0, 8388608.5, -8388607.5, 9.0, -9.0,
                  9.01, 16.619047, 16.62, -16.62, 20.0, -20.0, 0.3466, -0.3466, 0.5493, 0.5494,
                  4.2, -4.2, 10.1, -14.2, 127.5, -0.49999997], np.float32)


def float_feeds(rng: np.random.Generator, shape, edges: bool = True) -> list[list[np.ndarray]]:
    size = int(np.prod(shape))
    feeds = [[(rng.standard_normal(size) * rng.choice([1.0, 5.0, 20.0], size) * 20)
              .astype(np.float32).reshape(shape)],
             [rng.standard_normal(size).astype(np.float32).reshape(shape)]]
    if edges:
        feeds.append([np.resize(EDGES, size).reshape(shape)])
    return feeds


def same(got: np.ndarray, want: np.ndarray, what: str, atol=None) -> None:
    """Integers identical; floats: NaN / inf exactly where the oracle has them, the rest
    within 1e-5 of the largest finite expected magnitude (oracles.assert_same) and, given
    ``atol``, also element by element within 1e-5 relative plus ``atol``."""
    if not np.issubdtype(want.dtype, np.floating):
        assert_same(got, want, what)
        return
    assert got.shape == want.shape and got.dtype == want.dtype, what
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{what}: NaN positions differ"
    inf = np.isinf(want) | np.isinf(got)
    assert np.array_equal(got[inf], want[inf]), f"{what}: infinities differ"
    fin = ~(np.isnan(want) | inf)
    assert_same(got[fin], want[fin], what)
    if atol is not None:
        g, w = got.astype(np.float64)[fin], want.astype(np.float64)[fin]
        tol = 1e-5 * np.abs(w) + np.broadcast_to(atol, got.shape)[fin]
        bad = np.flatnonzero(np.abs(g - w) > tol)
        assert bad.size == 0, (f"{what}: {bad.size} elements off by more than 1e-5 relative; "
                               f"first {g[bad[0]]!r} != {w[bad[0]]!r}")


def check(model: Model, feeds, oracle: str = "tflm", m4: bool = False,
          dsp: bool | None = None, atol=None) -> None:
    """Host C (and the M4 firmware, one start for all feeds) give the oracle's outputs.

    Multi-node models use the plain memory plan: the planner's exact reordering search is
    exponential in the number of independent nodes (tens of seconds for 17)."""
    want = run_oracle(model, feeds, oracle)
    plain = dict(inplace=False) if len(model.main.nodes) > 1 else {}
    lib = host.build(generate(model, name="op", target="host", dsp=dsp, **plain))
    results = [("host", [lib.run(x) for x in feeds])]
    if m4 and _QEMU:
        fw = qemu.build(generate(model, name="op", target="cortex-m4", **plain), "mps2-an386")
        results.append(("m4", [outs for outs, _ in fw.run_many(feeds, timeout=120)]))
    for where, got in results:
        for k, (g, w) in enumerate(zip(got, want)):
            assert len(g) == len(w)
            for i, (a, b) in enumerate(zip(g, w)):
                tol = None if atol is None else atol(feeds[k][0], model.main.nodes[i])
                same(a, b, f"{where} feed {k} output {i} ({model.main.nodes[i].op})"
                     if len(model.main.nodes) == len(g) else f"{where} feed {k} output {i}", tol)


def multi_op_model(specs) -> Model:
    """One node per spec (op, inputs, output, attrs, version), all in one graph: the
    non-constant inputs become graph inputs (each once), every output a graph output."""
    g = Graph("main")
    seen: set[int] = set()
    for k, (op, ins, out, attrs, version) in enumerate(specs):
        for v in ins:
            if v is not None and v.data is None and id(v) not in seen:
                seen.add(id(v))
                g.inputs.append(v)
        g.add_node(Node(op, ins, [out], attrs, name=f"{op.lower()}_{k}", version=version))
        g.outputs.append(out)
    model = Model([g], source="opkit:multi")
    model.verify()
    return model


# --------------------------------------------------------------------------- float32
FLOAT_OPS = [("EXP", {}), ("LOG", {}), ("SQRT", {}), ("RSQRT", {}), ("ABS", {}), ("NEG", {}),
             ("FLOOR", {}), ("CEIL", {}), ("ROUND", {}), ("LOGISTIC", {}), ("TANH", {}),
             ("ELU", {}), ("HARD_SWISH", {}), ("RELU", {}), ("RELU6", {}),
             ("RELU_N1_TO_1", {}), ("LEAKY_RELU", {"alpha": 0.3}),
             ("LEAKY_RELU", {"alpha": -1.7}), ("GELU", {"approximate": False}),
             ("GELU", {"approximate": True})]
LITERT_ONLY = {"RELU_N1_TO_1", "GELU"}


def elementwise_atol(x: np.ndarray, node: Node) -> np.ndarray:
    """Absolute slack per element on top of 1e-5 relative: subnormal results (1e-38), and
    for GELU's tanh form the cancellation in 1 + tanh(.) near -1, where one ulp of tanh
    (6e-8) times x / 2 is the limit any float32 tanh gets (LiteRT's saturates early)."""
    if node.op == "GELU" and node.attrs.get("approximate"):
        return 1e-38 + 2e-7 * np.abs(x.astype(np.float64))
    return np.full(x.shape, 1e-38)


@pytest.mark.parametrize("op,attrs", FLOAT_OPS, ids=[f"{o}-{a}" if a else o for o, a in FLOAT_OPS])
def test_float_unary(op: str, attrs: dict) -> None:
    rng = np.random.default_rng(len(op) + 7 * len(attrs))
    shape = (3, 137)
    x, y = tensor("x", shape, "float32"), tensor("y", shape, "float32")
    check(single_op_model(op, [x], [y], attrs=attrs), float_feeds(rng, shape),
          "litert_ref" if op in LITERT_ONLY else "tflm", atol=elementwise_atol)


@needs_qemu
@pytest.mark.parametrize("oracle", ["tflm", "litert_ref"])
def test_float_unary_m4(oracle: str) -> None:
    """Every float32 elementwise kernel in one firmware (VSQRT, the M4's FPU)."""
    ops = [(o, a) for o, a in FLOAT_OPS if (o in LITERT_ONLY) == (oracle == "litert_ref")]
    shape = (2, 96)
    x = tensor("x", shape, "float32")
    specs = [(op, [x], tensor(f"y{k}", shape, "float32"), attrs, 1)
             for k, (op, attrs) in enumerate(ops)]
    check(multi_op_model(specs), float_feeds(np.random.default_rng(5), shape), oracle, m4=True,
          atol=elementwise_atol)


@pytest.mark.parametrize("op,shape", [("L2_NORMALIZATION", (4, 19)),
                                      ("L2_NORMALIZATION", (2, 3, 1)),
                                      ("LOG_SOFTMAX", (5, 23)), ("LOG_SOFTMAX", (2, 2, 64)),
                                      ("SOFTMAX", (6, 31))])
def test_float_rows(op: str, shape: tuple) -> None:
    rng = np.random.default_rng(sum(shape))
    x, y = tensor("x", shape, "float32"), tensor("y", shape, "float32")
    attrs = {"L2_NORMALIZATION": dict(fused_activation_function="NONE"),
             "SOFTMAX": dict(beta=0.7)}.get(op, {})
    feeds = float_feeds(rng, shape, edges=False)
    # L2: norms below the 1e-6 epsilon (and zero rows); softmax: uniform rows
    tiny = (rng.standard_normal(shape) * 1e-8).astype(np.float32)
    tiny.reshape(-1, shape[-1])[0] = 0.0
    feeds.append([tiny])
    check(single_op_model(op, [x], [y], attrs=attrs), feeds, m4=len(shape) == 3)


# --------------------------------------------------------------------------- PRELU
PRELU_CASES = [("float32", (1, 3, 4, 8), (8,), True), ("float32", (2, 5, 6), (5, 1), False),
               ("int8", (1, 4, 3, 16), (1, 1, 16), True), ("int8", (2, 3, 7), (3, 7), True),
               ("int8", (3, 10), (10,), False), ("int16", (1, 2, 5, 9), (9,), True),
               ("int16", (4, 33), (1, 33), False), ("int8", (2, 3, 4, 5, 6), (4, 1, 6), True)]


@pytest.mark.parametrize("dtype,shape,ashape,const_alpha", PRELU_CASES)
def test_prelu(dtype: str, shape: tuple, ashape: tuple, const_alpha: bool) -> None:
    _prelu(dtype, shape, ashape, shape, const_alpha)


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_prelu_broadcast_input(dtype: str) -> None:
    """The input broadcasts too: x (2, 1, 4, 1) and alpha (3, 1, 5) give (2, 3, 4, 5)."""
    _prelu(dtype, (2, 1, 4, 1), (3, 1, 5), (2, 3, 4, 5), True)


def _prelu(dtype: str, shape: tuple, ashape: tuple, oshape: tuple, const_alpha: bool) -> None:
    rng = np.random.default_rng(len(shape) * 10 + len(ashape))
    size = int(np.prod(shape))
    if dtype == "float32":
        a_vals = rng.uniform(-1.5, 1.5, ashape).astype(np.float32)
        qx = qa = qy = None
        feeds_x = [x[0] for x in float_feeds(rng, shape)]
    else:
        a_vals = rng.integers(-128, 128, ashape).astype(np.int8)
        qa = q(0.004 + 0.01 * rng.random(), int(rng.integers(-20, 20)))
        zp = (lambda: int(rng.integers(-40, 40))) if dtype == "int8" else (lambda: 0)
        s = 0.05 if dtype == "int8" else 2e-4
        qx, qy = q(s * (0.5 + rng.random()), zp()), q(s * (0.5 + rng.random()), zp())
        lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
        feeds_x = [rng.integers(lo, hi + 1, size).astype(dtype).reshape(shape)
                   for _ in range(2)]
        feeds_x.append(np.resize(np.array([lo, hi, 0, -1, 1], dtype), size).reshape(shape))
    x, y = tensor("x", shape, dtype, qx), tensor("y", oshape, dtype, qy)
    if const_alpha:
        alpha = const("alpha", a_vals, quant=qa)
        feeds = [[f] for f in feeds_x]
    else:
        alpha = tensor("alpha", ashape, a_vals.dtype.name, qa)
        feeds = [[f, a_vals] for f in feeds_x]
    check(single_op_model("PRELU", [x, alpha], [y]), feeds, m4=const_alpha)


# --------------------------------------------------------------------------- int8 rows
@pytest.mark.parametrize("seed", range(4))
def test_l2_normalization_int8(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    shape = [(64, 5), (3, 4, 17), (1, 200), (9, 1)][seed]
    zp = int(rng.integers(-128, 128))
    x = tensor("x", shape, "int8", q(0.01 + 0.1 * rng.random(), zp))
    y = tensor("y", shape, "int8", q(1 / 128, 0))
    size = int(np.prod(shape))
    feeds = [[rng.integers(-128, 128, size).astype(np.int8).reshape(shape)],
             # rows near the zero point: tiny and zero sums of squares
             [np.clip(zp + rng.integers(-2, 3, size), -128, 127).astype(np.int8).reshape(shape)],
             [np.full(shape, zp, np.int8)]]
    check(single_op_model("L2_NORMALIZATION", [x], [y],
                          attrs=dict(fused_activation_function="NONE")), feeds, m4=seed == 1)


@pytest.mark.parametrize("seed", range(4))
def test_log_softmax_int8(seed: int) -> None:
    rng = np.random.default_rng(400 + seed)
    shape = [(64, 10), (2, 3, 33), (8, 255), (16, 1)][seed]
    scale = [0.05, 0.3, 0.01, 1.0][seed]
    x = tensor("x", shape, "int8", q(scale, int(rng.integers(-50, 50))))
    y = tensor("y", shape, "int8", q(16 / 256, 127))
    size = int(np.prod(shape))
    # rows of one maximum and values 45..127 below it: a log-sum close to zero, so the
    # kernel's lower cut-off diff_min (-62 at scale 0.3) decides which elements are -128
    low = np.resize(np.concatenate([[127], 127 - rng.permutation(np.arange(45, 128))]),
                    size).astype(np.int8)
    feeds = [[rng.integers(-128, 128, size).astype(np.int8).reshape(shape)],
             [rng.integers(-5, 5, size).astype(np.int8).reshape(shape)],
             [np.resize(np.array([127, -128, -128, 0], np.int8), size).reshape(shape)],
             [low.reshape(shape)]]
    check(single_op_model("LOG_SOFTMAX", [x], [y]), feeds, m4=seed == 1)


# --------------------------------------------------------------------------- int16
INT16_DOMAIN = np.arange(-32768, 32768, dtype=np.int64).astype(np.int16)

# (op, input quant, output quant, attrs, oracle)
INT16_CASES = [
    ("LOGISTIC", q(2 ** -12), q(2 ** -15), {}, "tflm"),        # power-of-two fast path
    ("LOGISTIC", q(3.1e-4), q(2 ** -15), {}, "tflm"),
    ("LOGISTIC", q(2 ** -8), q(2 ** -15), {}, "tflm"),
    ("LOGISTIC", q(16.0), q(2 ** -15), {}, "tflm"),            # rescaled input wraps int32
    ("TANH", q(2 ** -12), q(2 ** -15), {}, "tflm"),
    ("TANH", q(2 ** -11), q(2 ** -15), {}, "tflm"),
    ("TANH", q(7.7e-5), q(2 ** -15), {}, "tflm"),
    ("TANH", q(100.0), q(2 ** -15), {}, "tflm"),
    ("EXP", q(1e-4), q(8.5e-4), {}, "litert_ref"),
    ("EXP", q(3e-4), q(1e-3), {}, "litert_ref"),               # saturates above ~3.5
    ("LOG", q(1e-3), q(1.1e-4), {}, "litert_ref"),
    ("GELU", q(2e-4), q(1.5e-4), {"approximate": False}, "litert_ref"),
    ("GELU", q(5e-4), q(4e-4), {"approximate": True}, "litert_ref"),
    ("ABS", q(3e-4), q(3e-4), {}, "tflm"),
    ("ABS", q(3e-4), q(1.1e-4), {}, "tflm"),
    ("NEG", q(3e-4), q(3e-4), {}, "litert_ref"),
    ("RELU", q(3e-4), q(2e-4), {}, "tflm"),
    ("RELU6", q(3e-4), q(3e-4), {}, "tflm"),
]


@pytest.mark.parametrize("op,qin,qout,attrs,oracle", INT16_CASES,
                         ids=[f"{c[0]}-{k}" for k, c in enumerate(INT16_CASES)])
def test_int16_unary(op: str, qin, qout, attrs: dict, oracle: str) -> None:
    """Every int16 input value in one feed."""
    x = tensor("x", (256, 256), "int16", qin)
    y = tensor("y", (256, 256), "int16", qout)
    check(single_op_model(op, [x], [y], attrs=attrs), [[INT16_DOMAIN.reshape(256, 256)]],
          oracle)


@needs_qemu
@pytest.mark.parametrize("oracle", ["tflm", "litert_ref"])
def test_int16_unary_m4(oracle: str) -> None:
    """Every int16 configuration on the M4: one firmware per oracle, sampled inputs."""
    rng = np.random.default_rng(16)
    shape = (2, 300)
    specs, xs = [], []
    for k, (op, qin, qout, attrs, orc) in enumerate(INT16_CASES):
        if orc != oracle:
            continue
        x = tensor(f"x{k}", shape, "int16", qin)
        xs.append(x)
        specs.append((op, [x], tensor(f"y{k}", shape, "int16", qout), attrs, 1))
    pool = np.concatenate([[-32768, 32767, 0, 1, -1, 32640, 32641, -32641],
                           rng.integers(-400, 400, 64), rng.integers(-32768, 32768, 900)])
    feeds = [[rng.choice(pool, shape).astype(np.int16) for _ in xs] for _ in range(2)]
    check(multi_op_model(specs), feeds, oracle, m4=True)


def test_int16_abs_unquantized() -> None:
    """Unquantized int16 ABS: |-32768| wraps to -32768 (std::abs, then a cast back)."""
    x, y = tensor("x", (256, 256), "int16"), tensor("y", (256, 256), "int16")
    check(single_op_model("ABS", [x], [y]), [[INT16_DOMAIN.reshape(256, 256)]], "litert_ref")


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_neg_int(dtype: str) -> None:
    info = np.iinfo(dtype)
    x, y = tensor("x", (2, 40), dtype), tensor("y", (2, 40), dtype)
    rng = np.random.default_rng(3)
    vals = np.concatenate([[info.min, info.max, 0, -1, 1],
                           rng.integers(info.min, info.max, 75, dtype=dtype)])
    check(single_op_model("NEG", [x], [y]), [[vals.astype(dtype).reshape(2, 40)]],
          "litert_ref", m4=dtype == "int64")


# --------------------------------------------------------------------------- refusals
def test_refusals_are_one_line() -> None:
    """Configurations the reference kernel refuses stop generation with one clear line."""
    cases = [
        single_op_model("LOGISTIC", [tensor("x", (4,), "int16", q(1e-3))],
                        [tensor("y", (4,), "int16", q(1e-3))]),          # output scale
        single_op_model("LOG_SOFTMAX", [tensor("x", (4,), "int8", q(0.1))],
                        [tensor("y", (4,), "int8", q(0.1))]),            # output quant
        single_op_model("RELU", [tensor("x", (4,), "int16", q(1e-3, 5))],
                        [tensor("y", (4,), "int16", q(1e-3, 5))]),       # int16 zero point
    ]
    for m in cases:
        with pytest.raises(UnsupportedOpError) as err:
            generate(m)
        msg = str(err.value)
        assert msg.startswith("C backend: ") and "\n" not in msg, msg
