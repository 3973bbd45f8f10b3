"""Legacy uint8 models (TF1-era quantization) against LiteRT's reference kernels.

picojoule runs them on int8 re-encodings of their tensors (picojoule.passes.uint8): each
single-op uint8 model below is written with picojoule's writer, run by LiteRT's reference
kernels (the oracle: TFLM has no uint8 kernels), read back, canonicalized (the pass runs)
and run by the reference interpreter and by the generated C on the host; the portable
kernels, the DSP layouts (host-dsp) and the size-optimized DSP layout (host-size) each
see the convolutions' filter offsets. A small uint8 network built here runs the same way
on the host and on the emulated Cortex-M4 (and the M55's Helium build), one firmware per
configuration. Expected values never come from picojoule.
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import const, q, run_oracle, single_op_model, tensor
from oracles import assert_same

from picojoule.backends import host, qemu
from picojoule.backends.c.generator import generate
from picojoule.exporters.tflite import dumps
from picojoule.importers.tflite import loads
from picojoule.ir import Graph, Model, Node
from picojoule.ops.common import LITERT_UINT8
from picojoule.passes import canonicalize
from picojoule.passes.uint8 import EncodeUint8
from picojoule.quant.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from picojoule.runtime import Interpreter, random_inputs

_QEMU = qemu.toolchain_missing() is None
_CONV = dict(padding="SAME", stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1,
             fused_activation_function="NONE")
_FC = dict(fused_activation_function="NONE", keep_num_dims=False,
           asymmetric_quantize_inputs=False)
_POOL = dict(padding="VALID", stride_w=2, stride_h=2, filter_width=2, filter_height=2,
             fused_activation_function="NONE")
#: Where the generated C runs: every single-op model on the host's portable kernels, the
#: layers with filter offsets also in the DSP speed and size layouts (see _c_outputs).
_HOST = ("host",)
_LAYOUTS = ("host", "host-dsp", "host-size")


def _u8(name, shape, scale, zp):
    return tensor(name, shape, "uint8", q(scale, zp))


def _weights(rng, name, shape, scale, zp):
    return const(name, rng.integers(0, 256, shape, dtype=np.uint8), quant=q(scale, zp))


def _bias(rng, name, n, scale, lo=-3000, hi=3000):
    return const(name, rng.integers(lo, hi, n, dtype=np.int32), quant=q(scale, 0))


def _feeds(model, seeds=(0, 1, 2)):
    return [random_inputs(model.main, s) for s in seeds]


def _ours(data: bytes) -> Model:
    """The written model as picojoule imports it: read back, then the import passes."""
    return canonicalize(loads(data, source="<uint8 test>"))


def _c_outputs(model: Model, feeds, where) -> list[tuple[str, list]]:
    """Outputs of the generated C per place: "host" (portable kernels), "host-dsp" (the DSP
    speed layouts, emulated), "host-size" (the size-optimized DSP layouts), "m4", "m4-size",
    "m55" (firmware on QEMU, one start for all feeds)."""
    results = []
    for place in where:
        size = place.endswith("-size")
        if place.startswith("host"):
            gen = generate(model, name="u8", target="host", dsp=True if place != "host" else None,
                           optimize="size" if size else "speed")
            lib = host.build(gen)
            results.append((place, [lib.run(list(x)) for x in feeds]))
        elif _QEMU:
            board = {"m4": "mps2-an386", "m55": "mps3-an547"}[place.split("-")[0]]
            target = {"m4": "cortex-m4", "m55": "cortex-m55"}[place.split("-")[0]]
            gen = generate(model, name="u8", target=target, optimize="size" if size else "speed")
            fw = qemu.build(gen, board)
            results.append((place, [outs for outs, _ in fw.run_many(feeds)]))
    return results


def check(model: Model, where=_HOST, seeds=(0, 1, 2), feeds=None) -> Model:
    """LiteRT's reference kernels on the uint8 model = picojoule's reference = the C at every
    place in ``where``; returns picojoule's (re-encoded) model."""
    data = dumps(model)
    ours = _ours(data)
    feeds = _feeds(ours, seeds) if feeds is None else feeds
    want = run_oracle(model, feeds, "litert_ref", data)
    interp = Interpreter(ours)
    got = [("reference", [interp.run(list(x)) for x in feeds])]
    for place, outs in got + _c_outputs(ours, feeds, where):
        for k, (g, w) in enumerate(zip(outs, want)):
            assert len(g) == len(w)
            for i, (a, b) in enumerate(zip(g, w)):
                assert_same(np.asarray(a), b, f"{place} feed {k} output {i}")
    return ours


def _flagged(model: Model) -> list[str]:
    return [n.op for n in model.main.nodes if n.attrs.get(LITERT_UINT8)]


# --------------------------------------------------------------------------- convolutions
@pytest.mark.parametrize("case", range(6))
def test_conv_2d(case: int) -> None:
    rng = np.random.default_rng(10 + case)
    cin = [3, 8, 5, 16, 4, 8][case]
    cout = [8, 6, 7, 16, 4, 12][case]
    k = [3, 1, 3, 3, 5, 2][case]
    stride = [2, 1, 1, 2, 1, 1][case]
    dil = [1, 1, 2, 1, 1, 1][case]
    pad = ["SAME", "VALID", "SAME", "SAME", "SAME", "VALID"][case]
    act = ["RELU6", "NONE", "RELU", "NONE", "RELU6", "NONE"][case]
    h = w = 9
    out = (h + stride - 1) // stride if pad == "SAME" else (h - (k - 1) * dil - 1) // stride + 1
    in_s, w_s = 0.02 + 0.02 * rng.random(), 0.002 + 0.01 * rng.random()
    x = _u8("x", (1, h, w, cin), in_s, int(rng.integers(0, 256)))
    wt = _weights(rng, "w", (cout, k, k, cin), w_s, int(rng.integers(0, 256)))
    b = _bias(rng, "b", cout, np.float32(in_s) * np.float32(w_s))
    y = _u8("y", (1, out, out, cout), 0.05 + 0.1 * rng.random(), int(rng.integers(0, 256)))
    attrs = dict(_CONV, padding=pad, stride_w=stride, stride_h=stride, dilation_w_factor=dil,
                 dilation_h_factor=dil, fused_activation_function=act)
    ours = check(single_op_model("CONV_2D", [x, wt, b], [y], attrs=attrs), where=_LAYOUTS)
    conv = ours.main.nodes[[n.op for n in ours.main.nodes].index("CONV_2D")]
    assert conv.attrs[LITERT_UINT8] and conv.input(1).dtype == "int8"
    assert [v.dtype for v in ours.main.inputs + ours.main.outputs] == ["uint8", "uint8"]


@pytest.mark.parametrize("case", range(5))
def test_depthwise_conv_2d(case: int) -> None:
    rng = np.random.default_rng(20 + case)
    c = [8, 3, 16, 4, 6][case]
    dm = [1, 2, 1, 1, 1][case]
    k = [3, 3, 3, 5, 3][case]
    stride = [1, 2, 2, 1, 1][case]
    h = [7, 8, 9, 6, 5][case]
    out = (h + stride - 1) // stride
    in_s, w_s = 0.02 + 0.02 * rng.random(), 0.005 + 0.02 * rng.random()
    x = _u8("x", (1, h, h, c), in_s, int(rng.integers(0, 256)))
    wt = _weights(rng, "w", (1, k, k, c * dm), w_s, int(rng.integers(0, 256)))
    b = _bias(rng, "b", c * dm, np.float32(in_s) * np.float32(w_s))
    y = _u8("y", (1, out, out, c * dm), 0.05 + 0.1 * rng.random(), int(rng.integers(0, 256)))
    attrs = dict(_CONV, stride_w=stride, stride_h=stride, depth_multiplier=dm,
                 fused_activation_function=["RELU6", "NONE", "RELU", "NONE", "RELU6"][case])
    check(single_op_model("DEPTHWISE_CONV_2D", [x, wt, b], [y], attrs=attrs), where=_LAYOUTS)


@pytest.mark.parametrize("case", range(3))
def test_fully_connected(case: int) -> None:
    rng = np.random.default_rng(30 + case)
    n, k = [(10, 32), (7, 13), (16, 64)][case]
    batch = [1, 2, 1][case]
    in_s, w_s = 0.02 + 0.02 * rng.random(), 0.005 + 0.02 * rng.random()
    x = _u8("x", (batch, k), in_s, int(rng.integers(0, 256)))
    wt = _weights(rng, "w", (n, k), w_s, int(rng.integers(0, 256)))
    b = _bias(rng, "b", n, np.float32(in_s) * np.float32(w_s))
    y = _u8("y", (batch, n), 0.1 + 0.2 * rng.random(), int(rng.integers(0, 256)))
    attrs = dict(_FC, fused_activation_function=["NONE", "RELU6", "RELU"][case])
    check(single_op_model("FULLY_CONNECTED", [x, wt, b], [y], attrs=attrs), where=_LAYOUTS)


def _bias_only(op: str, in_s: float, w_s: float, out_s: float, accs: np.ndarray) -> Model:
    """A layer whose weights all equal their zero point: the accumulator is the bias."""
    c, wzp = accs.size, 77
    b = const("b", accs.astype(np.int32), quant=q(np.float32(in_s) * np.float32(w_s), 0))
    if op == "FULLY_CONNECTED":
        x, y = _u8("x", (1, 4), in_s, 10), _u8("y", (1, c), out_s, 128)
        wt = const("w", np.full((c, 4), wzp, np.uint8), quant=q(w_s, wzp))
        return single_op_model(op, [x, wt, b], [y], attrs=_FC)
    cin = 4 if op == "CONV_2D" else c
    x, y = _u8("x", (1, 1, 1, cin), in_s, 10), _u8("y", (1, 1, 1, c), out_s, 128)
    shape = (c, 1, 1, 4) if op == "CONV_2D" else (1, 1, 1, c)
    wt = const("w", np.full(shape, wzp, np.uint8), quant=q(w_s, wzp))
    attrs = dict(_CONV, padding="VALID")
    if op == "DEPTHWISE_CONV_2D":
        attrs["depth_multiplier"] = 1
    return single_op_model(op, [x, wt, b], [y], attrs=attrs)


def _scales(rng) -> tuple[float, float, float]:
    f32 = np.float32
    return tuple(float(f32(v)) for v in (0.005 + 0.045 * rng.random(),
                                         0.001 + 0.02 * rng.random(), 1 + 4 * rng.random()))


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D"])
def test_multiplier_from_the_float32_scale_product(op: str) -> None:
    """LiteRT's uint8 convolutions quantize s_in * s_w (a float32 product) / s_out: biases
    where that multiplier and TFLM's (the product in double) round apart."""
    rng = np.random.default_rng(len(op))
    f32 = np.float32
    while True:
        in_s, w_s, out_s = _scales(rng)
        m32 = quantize_multiplier(float(f32(f32(in_s) * f32(w_s))) / out_s)
        m64 = quantize_multiplier(in_s * w_s / out_s)
        # accumulators around the rounding thresholds of outputs -60..59
        edges = np.floor((np.arange(-60, 60) + 0.5) / (in_s * w_s / out_s)).astype(np.int64)
        accs = (edges[:, None] + np.arange(-2, 3)).reshape(-1)
        a = multiply_by_quantized_multiplier(accs, *m32)
        d = np.flatnonzero((a != multiply_by_quantized_multiplier(accs, *m64))
                           & (np.abs(a) < 100))
        if d.size >= 3:
            break
    model = _bias_only(op, in_s, w_s, out_s, accs[d])
    check(model, seeds=(0,))
    want = run_oracle(model, [[np.zeros(model.main.inputs[0].shape, np.uint8)]],
                      "litert_ref")[0][0]
    double = np.clip(multiply_by_quantized_multiplier(accs[d], *m64) + 128, 0, 255)
    assert np.all(want.reshape(-1) != double), "the case does not tell the two apart"


def test_fully_connected_scales_in_double() -> None:
    """LiteRT's uint8 FULLY_CONNECTED rounds acc * (s_in * s_w / s_out) in double instead of
    requantizing in fixed point: biases where the two differ."""
    rng = np.random.default_rng(7)
    accs = np.arange(-(1 << 22), 1 << 22, 3, dtype=np.int64)
    while True:
        in_s, w_s, out_s = _scales(rng)
        real = in_s * w_s / out_s
        v = accs.astype(np.float64) * real
        rounded = np.sign(v) * np.floor(np.abs(v) + 0.5)
        fixed = multiply_by_quantized_multiplier(accs, *quantize_multiplier(real))
        d = np.flatnonzero((rounded != fixed) & (np.abs(fixed) < 100))
        if d.size >= 3:
            break
    model = _bias_only("FULLY_CONNECTED", in_s, w_s, out_s, accs[d[:16]])
    check(model, seeds=(0,), where=_LAYOUTS)
    want = run_oracle(model, [[np.zeros((1, 4), np.uint8)]], "litert_ref")[0][0]
    assert np.all(want.reshape(-1) != np.clip(fixed[d[:16]] + 128, 0, 255))
    # power-of-two scales: exact halves, which round away from zero
    ties = np.array([4, 12, 20, -4, -12, -20, 3, -5], np.int64)
    check(_bias_only("FULLY_CONNECTED", 0.5, 0.25, 1.0, ties), seeds=(0,), where=_LAYOUTS)


# --------------------------------------------------------------------------- elementwise
@pytest.mark.parametrize("op,other", [("ADD", None), ("ADD", (1, 1, 1, 6)), ("SUB", None),
                                      ("MUL", None), ("MUL", (6,))])
def test_binary(op: str, other) -> None:
    rng = np.random.default_rng(len(op) + (0 if other is None else len(other)))
    shape = (1, 4, 5, 6)
    a = _u8("a", shape, 0.02 + 0.05 * rng.random(), int(rng.integers(0, 256)))
    b = _u8("b", other or shape, 0.02 + 0.05 * rng.random(), int(rng.integers(0, 256)))
    y = _u8("y", shape, 0.05 + 0.1 * rng.random(), int(rng.integers(0, 256)))
    ours = check(single_op_model(op, [a, b], [y], attrs=dict(fused_activation_function="RELU6"),
                                 version=2 if op == "SUB" else 1))
    assert ("MUL" in _flagged(ours)) == (op == "MUL")


def test_mul_multiplier_in_float32() -> None:
    """LiteRT's MUL takes s1 * s2 / s_out in float32: scales where that multiplier and the
    double one (TFLM's) round apart, and inputs that hit the difference."""
    rng = np.random.default_rng(5)
    f32 = np.float32
    prods = np.arange(-255 * 255, 255 * 255 + 1, dtype=np.int64)
    while True:
        s1, s2, so = (float(f32(v)) for v in 0.01 + 0.05 * rng.random(3))
        m32 = quantize_multiplier(float(f32(f32(s1) * f32(s2)) / f32(so)))
        m64 = quantize_multiplier(s1 * s2 / so)
        if m32 != m64 and np.any(multiply_by_quantized_multiplier(prods, *m32)
                                 != multiply_by_quantized_multiplier(prods, *m64)):
            break
    a = _u8("a", (1, 256, 256), s1, 0)
    b = _u8("b", (1, 256, 256), s2, 0)
    y = _u8("y", (1, 256, 256), so, 128)
    grid = np.arange(256, dtype=np.uint8)
    feeds = [[np.broadcast_to(grid[:, None], (256, 256))[None].copy(),
              np.broadcast_to(grid[None, :], (256, 256))[None].copy()]]
    check(single_op_model("MUL", [a, b], [y], attrs=dict(fused_activation_function="NONE")),
          where=("host",), feeds=feeds)


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH", "RELU6", "RELU", "SOFTMAX"])
def test_unary(op: str) -> None:
    rng = np.random.default_rng(len(op))
    x = _u8("x", (2, 256), 0.02 + 0.1 * rng.random(), int(rng.integers(0, 256)))
    out_q = {"LOGISTIC": (1 / 256, 0), "SOFTMAX": (1 / 256, 0), "TANH": (1 / 128, 128)}.get(
        op, (0.03 + 0.05 * rng.random(), int(rng.integers(0, 60))))
    y = _u8("y", (2, 256), *out_q)
    attrs = dict(beta=1.0) if op == "SOFTMAX" else {}
    feeds = [[np.tile(np.arange(256, dtype=np.uint8), (2, 1))]]  # every input value
    check(single_op_model(op, [x], [y], attrs=attrs), feeds=feeds, where=("host",))


# --------------------------------------------------------------------------- pooling, resize
@pytest.mark.parametrize("op,attrs", [
    ("AVERAGE_POOL_2D", _POOL),
    ("AVERAGE_POOL_2D", dict(_POOL, padding="SAME", filter_width=3, filter_height=3)),
    ("AVERAGE_POOL_2D", dict(_POOL, stride_w=1, stride_h=1, filter_width=4, filter_height=4,
                             fused_activation_function="RELU6")),
    ("MAX_POOL_2D", dict(_POOL, padding="SAME", filter_width=3, filter_height=3)),
])
def test_pool(op: str, attrs: dict) -> None:
    """Even windows give exact halves: LiteRT's uint8 averages round them up, TFLM's int8
    ones away from zero."""
    x = _u8("x", (1, 8, 8, 5), 0.05, 100)
    out = 4 if attrs["padding"] == "SAME" or attrs["filter_width"] == 2 else 5
    ours = check(single_op_model(op, [x], [_u8("y", (1, out, out, 5), 0.05, 100)],
                                 attrs=attrs))
    assert ("AVERAGE_POOL_2D" in _flagged(ours)) == (op == "AVERAGE_POOL_2D")


@pytest.mark.parametrize("align,half,size", [(True, False, (9, 11)), (False, False, (7, 16)),
                                             (False, True, (12, 5)), (True, False, (1, 1))])
def test_resize_bilinear(align: bool, half: bool, size) -> None:
    """LiteRT interpolates uint8 in float32 (TFLM's int8 kernel in 10-bit fixed point)."""
    x = _u8("x", (1, 5, 4, 3), 0.1, 30)
    shape = const("size", np.array(size, np.int32))
    y = _u8("y", (1, *size, 3), 0.1, 30)
    check(single_op_model("RESIZE_BILINEAR", [x, shape], [y],
                          attrs=dict(align_corners=align, half_pixel_centers=half)))


# --------------------------------------------------------------------------- data movement
def test_concatenation_rescales_inputs() -> None:
    """LiteRT rescales uint8 concatenation inputs quantized unlike the output (in float32);
    TFLM's int8 kernel copies: the pass puts a rescaling QUANTIZE in front of them."""
    a = _u8("a", (1, 3, 4, 2), 0.05, 120)
    b = _u8("b", (1, 3, 4, 3), 0.0731, 17)
    c = _u8("c", (1, 3, 4, 1), 0.1, 128)
    y = _u8("y", (1, 3, 4, 6), 0.1, 128)
    feeds = [[np.arange(24, dtype=np.uint8).reshape(1, 3, 4, 2) * 11,
              np.arange(36, dtype=np.uint8).reshape(1, 3, 4, 3) * 7,
              np.arange(12, dtype=np.uint8).reshape(1, 3, 4, 1) * 21]]
    rng = np.random.default_rng(9)
    feeds += [[rng.integers(0, 256, v.shape, dtype=np.uint8) for v in (a, b, c)]
              for _ in range(2)]
    ours = check(single_op_model("CONCATENATION", [a, b, c], [y],
                                 attrs=dict(axis=3, fused_activation_function="NONE")),
                 feeds=feeds)
    assert _flagged(ours) == ["QUANTIZE", "QUANTIZE"]  # c is quantized like the output
    # every uint8 value through both rescalings
    every = np.arange(256, dtype=np.uint8)[None]
    check(single_op_model("CONCATENATION", [_u8("a", (1, 256), 0.05, 120),
                                            _u8("b", (1, 256), 0.0731, 17)],
                          [_u8("y", (1, 512), 0.1, 128)],
                          attrs=dict(axis=1, fused_activation_function="NONE")),
          feeds=[[every, every]])


@pytest.mark.parametrize("op", ["QUANTIZE", "DEQUANTIZE", "ARG_MAX", "RESIZE_NEAREST_NEIGHBOR",
                                "SPLIT"])
def test_other_ops_after_arithmetic(op: str) -> None:
    """Ops the pass re-encodes without a mark, behind an ADD that makes it run."""
    a, b = _u8("a", (1, 4, 6, 8), 0.05, 100), _u8("b", (1, 4, 6, 8), 0.04, 90)
    s = _u8("s", (1, 4, 6, 8), 0.07, 80)
    g = Graph("main")
    g.inputs = [a, b]
    g.add_node(Node("ADD", [a, b], [s], dict(fused_activation_function="NONE"), name="add"))
    if op in ("QUANTIZE", "DEQUANTIZE"):
        outs = [_u8("y", (1, 4, 6, 8), 0.03, 10) if op == "QUANTIZE"
                else tensor("y", (1, 4, 6, 8), "float32")]
        g.add_node(Node(op, [s], outs, name="q"))
    elif op == "ARG_MAX":
        outs = [tensor("y", (1, 4, 6), "int32")]
        g.add_node(Node(op, [s, const("axis", np.array([3], np.int32))], outs,
                        dict(output_type="int32"), name="am", version=2))
    elif op == "RESIZE_NEAREST_NEIGHBOR":
        outs = [_u8("y", (1, 7, 13, 8), 0.07, 80)]
        g.add_node(Node(op, [s, const("size", np.array([7, 13], np.int32))], outs,
                        dict(align_corners=False, half_pixel_centers=False), name="rn"))
    else:
        outs = [_u8(f"y{i}", (1, 4, 6, 2), 0.07, 80) for i in range(4)]
        g.add_node(Node(op, [const("axis", np.array(3, np.int32)), s], outs,
                        dict(num_splits=4), name="split"))
    g.outputs = outs
    check(Model([g], source="opkit:" + op), where=("host",))


# --------------------------------------------------------------------------- the pass
def test_models_without_uint8_arithmetic_are_left_alone() -> None:
    """uint8 data movement, and int8 models with uint8 I/O, keep their graphs."""
    x = _u8("x", (1, 4, 4, 2), 0.05, 100)
    y = _u8("y", (1, 4, 4, 4), 0.05, 100)
    copy = single_op_model("CONCATENATION", [x, const("k", np.zeros((1, 4, 4, 2), np.uint8),
                                                      quant=q(0.05, 100))], [y],
                           attrs=dict(axis=3, fused_activation_function="NONE"))
    xi, yi = tensor("xi", (1, 8), "int8", q(0.05, -28)), _u8("yu", (1, 8), 0.05, 100)
    requant = single_op_model("QUANTIZE", [xi], [yi])
    for model in (copy, requant):
        before = [(n.op, [v.dtype for v in n.inputs if v is not None]) for n in model.main.nodes]
        result = EncodeUint8()(model)
        after = [(n.op, [v.dtype for v in n.inputs if v is not None]) for n in model.main.nodes]
        assert not result.modified and before == after


def test_pass_keeps_uint8_io_and_is_idempotent() -> None:
    rng = np.random.default_rng(3)
    x = _u8("x", (1, 6, 6, 4), 0.03, 117)
    wt = _weights(rng, "w", (4, 3, 3, 4), 0.01, 140)
    y = _u8("y", (1, 6, 6, 4), 0.2, 3)
    model = canonicalize(loads(dumps(single_op_model(
        "CONV_2D", [x, wt, _bias(rng, "b", 4, np.float32(0.03) * np.float32(0.01))], [y],
        attrs=_CONV))))
    g = model.main
    assert [n.op for n in g.nodes] == ["QUANTIZE", "CONV_2D", "QUANTIZE"]
    assert (g.inputs[0].dtype, g.outputs[0].dtype) == ("uint8", "uint8")
    conv = g.nodes[1]
    assert conv.input(1).quant.zp0 == 12 and conv.input(0).quant.zp0 == -11
    assert not EncodeUint8()(model).modified


def test_export_writes_the_uint8_model_again() -> None:
    """picojoule's writer undoes the re-encoding (on a copy): the same ops and uint8 tensors
    as the original, the same LiteRT outputs, and the imported model is left as it was."""
    original = _network()
    data = dumps(original)
    ours = _ours(data)
    nodes = [(n.op, dict(n.attrs)) for n in ours.main.nodes]
    again = dumps(ours)
    assert [(n.op, dict(n.attrs)) for n in ours.main.nodes] == nodes
    back = loads(again)
    assert [n.op for n in back.main.nodes] == [n.op for n in original.main.nodes]
    assert sorted((v.name, v.dtype) for v in back.main.values()) == sorted(
        (v.name, v.dtype) for v in loads(data).main.values())
    feeds = _feeds(ours, (0, 1))
    for a, b in zip(run_oracle(back, feeds, "litert_ref", again),
                    run_oracle(original, feeds, "litert_ref", data)):
        for x, y in zip(a, b):
            assert_same(x, y, "exported vs original")


# --------------------------------------------------------------------------- a whole network
def _network() -> Model:
    """A small uint8 network with every kind of layer legacy models have: convolutions
    (3 input channels, 1x1, strided), depthwise ones with and without a depth multiplier, a
    residual ADD, MUL, LOGISTIC, average pooling, bilinear resizing, a rescaling
    CONCATENATION, FULLY_CONNECTED and SOFTMAX; a second output is an internal tensor."""
    rng = np.random.default_rng(42)
    g = Graph("main")
    x = _u8("image", (1, 12, 12, 3), 0.0078, 128)
    g.inputs = [x]

    def node(op, ins, out, attrs=None, version=1):
        g.add_node(Node(op, ins, [out], attrs or {}, name=f"{op.lower()}_{len(g.nodes)}",
                        version=version))
        return out

    def conv(name, inp, cout, k, stride, act, in_s, out_q, dw=False):
        cin = inp.shape[3]
        w_s = 0.004 + 0.02 * rng.random()
        shape = (1, k, k, cout) if dw else (cout, k, k, cin)
        wt = _weights(rng, name + "_w", shape, w_s, int(rng.integers(60, 200)))
        b = _bias(rng, name + "_b", cout, np.float32(in_s) * np.float32(w_s), -500, 500)
        hw = (inp.shape[1] + stride - 1) // stride
        out = _u8(name, (1, hw, hw, cout), *out_q)
        attrs = dict(_CONV, stride_w=stride, stride_h=stride, fused_activation_function=act)
        if dw:
            attrs["depth_multiplier"] = cout // cin
        return node("DEPTHWISE_CONV_2D" if dw else "CONV_2D", [inp, wt, b], out, attrs)

    c1 = conv("c1", x, 8, 3, 2, "RELU6", 0.0078, (0.0235, 0))                 # 6x6x8
    d1 = conv("d1", c1, 16, 3, 1, "RELU6", 0.0235, (0.0235, 0), dw=True)      # 6x6x16
    d2 = conv("d2", d1, 16, 3, 1, "NONE", 0.0235, (0.04, 120), dw=True)       # 6x6x16
    c2 = conv("c2", d2, 8, 1, 1, "NONE", 0.04, (0.09, 131))                   # 6x6x8
    r = node("ADD", [c2, c1], _u8("res", (1, 6, 6, 8), 0.1, 120),
             dict(fused_activation_function="NONE"))
    s = node("LOGISTIC", [r], _u8("gate", (1, 6, 6, 8), 1 / 256, 0))
    m = node("MUL", [r, s], _u8("gated", (1, 6, 6, 8), 0.06, 110),
             dict(fused_activation_function="NONE"))
    p = node("AVERAGE_POOL_2D", [m], _u8("pool", (1, 3, 3, 8), 0.06, 110), _POOL)
    up = node("RESIZE_BILINEAR", [p, const("size", np.array([6, 6], np.int32))],
              _u8("up", (1, 6, 6, 8), 0.06, 110),
              dict(align_corners=True, half_pixel_centers=False))
    cat = node("CONCATENATION", [up, c1], _u8("cat", (1, 6, 6, 16), 0.05, 100),
               dict(axis=3, fused_activation_function="NONE"))
    c3 = conv("c3", cat, 4, 3, 2, "RELU", 0.05, (0.3, 10))                    # 3x3x4
    flat = node("RESHAPE", [c3, const("shape", np.array([1, 36], np.int32))],
                _u8("flat", (1, 36), 0.3, 10), dict(new_shape=[1, 36]))
    w_s = 0.01
    logits = node("FULLY_CONNECTED",
                  [flat, _weights(rng, "fc_w", (10, 36), w_s, 130),
                   _bias(rng, "fc_b", 10, np.float32(0.3) * np.float32(w_s), -200, 200)],
                  _u8("logits", (1, 10), 0.2, 128), _FC)
    prob = node("SOFTMAX", [logits], _u8("prob", (1, 10), 1 / 256, 0), dict(beta=1.0))
    g.outputs = [prob, cat]
    return Model([g], source="uint8 network")


def test_network_on_host_and_emulated_cores() -> None:
    where = _LAYOUTS + (("m4", "m55") if _QEMU else ())
    ours = check(_network(), where=where, seeds=(0, 1, 2))
    assert sorted(set(_flagged(ours))) == ["AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D",
                                           "FULLY_CONNECTED", "LOGISTIC", "MUL", "QUANTIZE",
                                           "RESIZE_BILINEAR"]
