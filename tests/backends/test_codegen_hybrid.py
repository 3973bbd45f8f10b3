"""Generated C for hybrid ("dynamic range") layers -- float32 activations, int8 (or int4)
weights -- against LiteRT's reference kernels (TFLM refuses hybrid models).

CONV_2D (one weight scale: symmetric input quantization; per-channel scales or groups:
asymmetric), DEPTHWISE_CONV_2D (per-channel, asymmetric) and FULLY_CONNECTED (symmetric or
``asymmetric_quantize_inputs``, per-tensor or per-channel scales, ``keep_num_dims``), each
on the portable C and the DSP layout (SMLAD emulated on the host); a bank of them in one
firmware on the emulated Cortex-M4 and M55; a small multi-op hybrid model and MLPerf Tiny's
hybrid KWS model whole. Expected values come from LiteRT (opkit.run_oracle "litert_ref"),
never from picojoule, and must be bit-exact: the kernels repeat LiteRT's float arithmetic.

The crafted feeds aim at the input quantization: steps of exactly 1 (symmetric: max |x| =
127; asymmetric: [-100, 155], zero point -28) with values on halves, where LiteRT adds the
zero point after rounding, and 0.5 - 2^-25, which LiteRT's vectorized rounding sends to 1
in the first n & ~7 elements and std::round to 0 in the rest; all-zero, all-positive and
constant inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from opkit import check_c, const, q, run_c, run_oracle, single_op_model, tensor
from oracles import assert_same

from picojoule.backends import qemu
from picojoule.ir import Graph, Model, Node

SHARED_MODELS = Path(__file__).resolve().parents[3] / "shared" / "models"
_QEMU = qemu.toolchain_missing() is None
F32 = np.float32
#: 0.5 - 2^-25: the largest float below one half.
NEAR_HALF = np.nextafter(F32(0.5), F32(0))
HOST = ("host", "host-dsp")


def _out_size(padding: str, size: int, k: int, stride: int, dil: int) -> int:
    keff = (k - 1) * dil + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size - keff) // stride + 1


def _crafted(shape: tuple[int, ...], rng: np.random.Generator, rows: int) -> list[np.ndarray]:
    """Edge-case inputs of ``shape`` whose quantization LiteRT defines to the last bit;
    ``rows``: how many independently quantized rows (batches) the layout has."""
    n = int(np.prod(shape))
    per = n // rows
    sym = rng.integers(-127, 127, n).astype(F32) + F32(0.5)
    asym = rng.integers(-100, 155, n).astype(F32) + F32(0.5)
    for r in range(rows):
        lo = r * per
        sym[lo] = 127.0
        asym[lo], asym[lo + 1] = -100.0, 155.0
        for pos in (2, 3, per - 1, per - 2):       # vectorized part and tail
            if 3 < per and lo + pos < n:
                sym[lo + pos] = NEAR_HALF if pos % 2 else -NEAR_HALF
                asym[lo + pos] = NEAR_HALF if pos % 2 else F32(2.5)
    positive = np.abs(rng.standard_normal(n)).astype(F32) + F32(0.25)
    return [v.reshape(shape) for v in (sym, asym, np.zeros(n, F32),
                                       positive, np.full(n, F32(-0.75)))]


def _feeds(model: Model, seed: int, rows: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    shapes = [v.shape for v in model.main.inputs]
    normal = [[(rng.standard_normal(s) * 3).astype(F32) for s in shapes] for _ in range(2)]
    crafted = [_crafted(s, rng, rows if k == 0 else 1) for k, s in enumerate(shapes)]
    return normal + [list(c) for c in zip(*crafted)]


def _check(model: Model, seed: int, rows: int, where=HOST) -> None:
    check_c(model, _feeds(model, seed, rows), oracle="litert_ref", where=where, rtol=0.0)


# --------------------------------------------------------------------------- CONV_2D
def _conv(rng, n=1, h=7, w=6, cin=4, cout=6, k=(3, 3), stride=1, dil=1, padding="SAME",
          act="NONE", scales="channel", groups=1, bias="const", wdtype="int8"):
    """scales: "tensor" (one), "equal" (one per channel, all equal), "channel"."""
    x = tensor("x", (n, h, w, cin), "float32")
    if scales == "tensor":
        ws = np.full(1, 0.02, F32)
    elif scales == "equal":
        ws = np.full(cout, 0.015, F32)
    else:
        ws = rng.uniform(0.005, 0.03, cout).astype(F32)
    lim = 7 if wdtype == "int4" else 127
    wv = const("w", rng.integers(-lim, lim + 1, (cout, *k, cin // groups)).astype(np.int8),
               dtype=wdtype, quant=q(ws, np.zeros(ws.size, np.int64)))
    ins = [x, wv]
    if bias == "const":
        ins.append(const("b", rng.standard_normal(cout).astype(F32)))
    elif bias == "input":
        ins.append(tensor("b", (cout,), "float32"))
    oh, ow = (_out_size(padding, s, kk, stride, dil) for s, kk in zip((h, w), k))
    y = tensor("y", (n, oh, ow, cout), "float32")
    return single_op_model("CONV_2D", ins, [y], dict(
        padding=padding, stride_h=stride, stride_w=stride, dilation_h_factor=dil,
        dilation_w_factor=dil, fused_activation_function=act), version=2)


CONV_CASES = {
    "tensor-3x3-same-b2-relu": dict(n=2, act="RELU", scales="tensor"),
    "tensor-s2-valid-dil2": dict(h=9, w=8, stride=2, dil=2, padding="VALID",
                                 scales="tensor"),
    "equal-scales-1x1": dict(k=(1, 1), cin=9, cout=5, scales="equal"),
    "channel-3x3-same-b2-relu6": dict(n=2, act="RELU6"),
    "channel-grouped-s2": dict(cin=6, cout=9, groups=3, stride=2, h=8, w=7),
    "channel-1x1-pointwise": dict(k=(1, 1), cin=16, cout=10, h=5, w=4),
    "channel-2x3-dil2-same": dict(k=(2, 3), dil=2, h=9, w=10, cout=7, act="RELU_N1_TO_1"),
    "channel-1xk-conv1d": dict(k=(1, 5), h=1, w=20, cin=3, cout=8),
    "channel-int4": dict(wdtype="int4", cout=5),
    "tensor-bias-input": dict(scales="tensor", bias="input"),
}


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv_hybrid(case: str) -> None:
    seed = list(CONV_CASES).index(case)
    cfg = CONV_CASES[case]
    _check(_conv(np.random.default_rng(seed), **cfg), seed, cfg.get("n", 1))


# --------------------------------------------------------------------------- DEPTHWISE
def _dw(rng, n=1, h=7, w=6, c=4, dm=1, k=(3, 3), stride=1, dil=1, padding="SAME",
        act="NONE", bias=True):
    x = tensor("x", (n, h, w, c), "float32")
    ws = rng.uniform(0.005, 0.03, c * dm).astype(F32)
    wv = const("w", rng.integers(-127, 128, (1, *k, c * dm)).astype(np.int8),
               quant=q(ws, np.zeros(c * dm, np.int64), axis=3))
    ins = [x, wv] + ([const("b", rng.standard_normal(c * dm).astype(F32))] if bias else [])
    oh, ow = (_out_size(padding, s, kk, stride, dil) for s, kk in zip((h, w), k))
    y = tensor("y", (n, oh, ow, c * dm), "float32")
    return single_op_model("DEPTHWISE_CONV_2D", ins, [y], dict(
        padding=padding, stride_h=stride, stride_w=stride, dilation_h_factor=dil,
        dilation_w_factor=dil, depth_multiplier=dm, fused_activation_function=act),
        version=4)


DW_CASES = {
    "3x3-same-b2-relu": dict(n=2, act="RELU"),
    "dm2-s2-valid-dil2-nobias": dict(dm=2, stride=2, dil=2, padding="VALID", h=9, w=9,
                                     bias=False),
    "1x5-relu6": dict(k=(1, 5), h=3, w=12, c=5, act="RELU6"),
}


@pytest.mark.parametrize("case", list(DW_CASES))
def test_depthwise_hybrid(case: str) -> None:
    seed = 20 + list(DW_CASES).index(case)
    cfg = DW_CASES[case]
    _check(_dw(np.random.default_rng(seed), **cfg), seed, cfg.get("n", 1))


# --------------------------------------------------------------------------- FULLY_CONNECTED
def _fc(rng, batch=(3,), k=37, units=9, asym=False, per_channel=False, act="NONE",
        bias="const", keep=False, wdtype="int8"):
    x = tensor("x", (*batch, k), "float32")
    ws = rng.uniform(0.002, 0.02, units if per_channel else 1).astype(F32)
    lim = 7 if wdtype == "int4" else 127
    wv = const("w", rng.integers(-lim, lim + 1, (units, k)).astype(np.int8), dtype=wdtype,
               quant=q(ws, np.zeros(ws.size, np.int64)))
    b = {"const": lambda: const("b", rng.standard_normal(units).astype(F32)),
         "input": lambda: tensor("b", (units,), "float32"), None: lambda: None}[bias]()
    rows = int(np.prod(batch))
    y = tensor("y", (*batch, units) if keep else (rows, units), "float32")
    return single_op_model("FULLY_CONNECTED", [x, wv, b], [y], dict(
        fused_activation_function=act, keep_num_dims=keep, weights_format=0,
        asymmetric_quantize_inputs=asym), version=9 if asym else 3)


FC_CASES = {
    "sym-tensor": dict(),
    "sym-channel-nobias": dict(per_channel=True, bias=None, units=6),
    "asym-tensor-keepdims": dict(asym=True, batch=(2, 3), k=16, keep=True, act="RELU"),
    "asym-channel-relu6": dict(asym=True, per_channel=True, act="RELU6", units=11),
    "sym-k5-single-row": dict(batch=(1,), k=5, units=4),
    "asym-int4": dict(asym=True, wdtype="int4", per_channel=True),
    "sym-bias-input": dict(bias="input", k=24),
}


@pytest.mark.parametrize("case", list(FC_CASES))
def test_fc_hybrid(case: str) -> None:
    seed = 40 + list(FC_CASES).index(case)
    cfg = FC_CASES[case]
    _check(_fc(np.random.default_rng(seed), **cfg), seed, int(np.prod(cfg.get("batch", (3,)))))


# --------------------------------------------------------------------------- on the cores
def _graph(nodes: list[Node], inputs, outputs, name: str) -> Model:
    g = Graph("main")
    g.inputs = list(inputs)
    for n in nodes:
        g.add_node(n)
    g.outputs = list(outputs)
    m = Model([g], source=name)
    m.verify()
    return m


def _bank(seed: int = 60) -> Model:
    """Every kernel configuration side by side, one firmware: symmetric and per-channel
    (grouped) convolutions, a depthwise layer, FC symmetric and asymmetric."""
    rng = np.random.default_rng(seed)
    parts = [_conv(rng, n=2, scales="tensor", act="RELU"), _conv(rng, cin=6, cout=9, groups=3),
             _conv(rng, k=(1, 1), cin=16, cout=10, h=5, w=4), _dw(rng, dm=2, stride=2),
             _fc(rng), _fc(rng, asym=True, per_channel=True, units=11)]
    nodes, ins, outs = [], [], []
    for i, m in enumerate(parts):
        node = m.main.nodes[0]
        for v in [*node.inputs, *node.outputs]:
            if v is not None:
                v.name = f"{v.name}_{i}"
        node.name = f"{node.op.lower()}_{i}"
        m.main.remove_node(node)
        nodes.append(node)
        ins += m.main.inputs
        outs += node.outputs
    return _graph(nodes, ins, outs, "bank:hybrid")


@pytest.mark.skipif(not _QEMU, reason="ARM toolchain or QEMU missing")
def test_bank_on_cortex_m4_and_m55() -> None:
    model = _bank()
    feeds = _feeds(model, 60, 1)[:3]
    check_c(model, feeds, oracle="litert_ref", where=("m4", "m55"), rtol=0.0)


def _chain(seed: int = 70) -> Model:
    """conv (one scale) -> depthwise -> pointwise conv (per channel) -> FC (asymmetric)
    -> FC (symmetric): a small hybrid network end to end."""
    rng = np.random.default_rng(seed)
    x = tensor("x", (1, 10, 8, 3), "float32")

    def wq(shape, n, axis=0):
        return const(f"w{len(nodes)}", rng.integers(-127, 128, shape).astype(np.int8),
                     quant=q(rng.uniform(0.005, 0.03, n).astype(F32), np.zeros(n, np.int64),
                             axis))

    def bias(n):
        return const(f"b{len(nodes)}", (rng.standard_normal(n) * 0.1).astype(F32))

    conv_attrs = dict(padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1,
                      dilation_w_factor=1)
    nodes: list[Node] = []
    y0 = tensor("y0", (1, 5, 4, 8), "float32")
    nodes.append(Node("CONV_2D", [x, const("w0", rng.integers(-127, 128, (8, 3, 3, 3))
                                           .astype(np.int8), quant=q(0.02, 0)), bias(8)],
                      [y0], dict(conv_attrs, stride_h=2, stride_w=2,
                                 fused_activation_function="RELU"), name="c0", version=2))
    y1 = tensor("y1", (1, 5, 4, 8), "float32")
    nodes.append(Node("DEPTHWISE_CONV_2D", [y0, wq((1, 3, 3, 8), 8, 3), bias(8)], [y1],
                      dict(conv_attrs, depth_multiplier=1, fused_activation_function="RELU6"),
                      name="d1", version=4))
    y2 = tensor("y2", (1, 5, 4, 12), "float32")
    nodes.append(Node("CONV_2D", [y1, wq((12, 1, 1, 8), 12), bias(12)], [y2],
                      dict(conv_attrs, fused_activation_function="RELU"), name="c2",
                      version=2))
    y3 = tensor("y3", (1, 16), "float32")
    nodes.append(Node("FULLY_CONNECTED", [y2, wq((16, 240), 16), bias(16)], [y3], dict(
        fused_activation_function="RELU", keep_num_dims=False, weights_format=0,
        asymmetric_quantize_inputs=True), name="f3", version=9))
    y4 = tensor("y4", (1, 5), "float32")
    nodes.append(Node("FULLY_CONNECTED", [y3, wq((5, 16), 1), None], [y4], dict(
        fused_activation_function="NONE", keep_num_dims=False, weights_format=0,
        asymmetric_quantize_inputs=False), name="f4", version=3))
    return _graph(nodes, [x], [y4], "chain:hybrid")


def test_small_hybrid_network() -> None:
    model = _chain()
    where = HOST + (("m4",) if _QEMU else ())
    check_c(model, _feeds(model, 70, 1)[:4], oracle="litert_ref", where=where, rtol=0.0)


KWS = SHARED_MODELS / "mlperf_tiny" / "kws_dscnn_float32.tflite"


@pytest.mark.skipif(not KWS.is_file(), reason="shared model corpus missing")
def test_mlperf_kws_hybrid_model() -> None:
    """MLPerf Tiny's float KWS model carries hybrid convolutions (one weight scale)."""
    from picojoule.importers import load_model
    from picojoule.passes import canonicalize

    model = canonicalize(load_model(str(KWS)))
    assert any(n.op == "CONV_2D" and n.inputs[1].dtype == "int8" for n in model.main.nodes)
    rng = np.random.default_rng(80)
    feeds = [[(rng.standard_normal(model.main.inputs[0].shape) * 20).astype(F32)]
             for _ in range(2)]
    want = run_oracle(model, feeds, "litert_ref", data=KWS.read_bytes())
    for place, got in run_c(model, feeds, ("host",) + (("m4",) if _QEMU else ())):
        for k, (g, w) in enumerate(zip(got, want)):
            # float32 layers sum in their own order: within the float tolerance
            assert_same(g[0], w[0], f"{place} feed {k}")


def test_non_constant_hybrid_weights_are_one_error_line() -> None:
    """Weights computed at run time (the reference quantizes them per run) have no C kernel:
    generation stops with one line naming the op, the node and the configuration."""
    from picojoule.backends.c.generator import generate
    from picojoule.errors import UnsupportedOpError

    x = tensor("x", (1, 5, 5, 2), "float32")
    w = tensor("w", (3, 3, 3, 2), "int8", q(0.02, 0))
    b = const("b", np.zeros(3, F32))
    y = tensor("y", (1, 5, 5, 3), "float32")
    model = single_op_model("CONV_2D", [x, w, b], [y], dict(
        padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1,
        fused_activation_function="NONE"), version=2)
    with pytest.raises(UnsupportedOpError, match="CONV_2D .*non-constant hybrid weights"):
        generate(model, name="m", target="host")
