"""CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV against TFLM (LiteRT reference for hybrid).

Configurations come from fixed seeds: batch, spatial size, channels, groups, kernel size,
stride, dilation, SAME/VALID padding, depth multiplier, per-channel or per-tensor weight
scales, input/output zero points, fused activations, bias or none; int8, int16x8 (int64
and int32 bias), float32 and hybrid float32 x int8. A few fixed cases aim at the kernels'
internal branches: float64 and int64 accumulation, a bias large enough that the int32
accumulator needs the careful requantization path, tiny weight scales (right shifts up
to 31), large outputs (tap loop) and many-tap depthwise filters (batched matmul).
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import check_op, const, q, single_op_model, tensor
from picojoule.ops import node_macs

ACTS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def _out_size(padding: str, size: int, k: int, stride: int, dil: int) -> int:
    eff = (k - 1) * dil + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size - eff) // stride + 1


def _activation_io(rng: np.random.Generator, dtype: str, n: int, h: int, w: int, c: int):
    """Input tensor plus its quantization (None for float)."""
    if dtype == "int8":
        qx = q(rng.uniform(0.01, 0.1), int(rng.integers(-128, 128)))
    elif dtype == "int16":
        qx = q(rng.uniform(1e-4, 1e-3), 0)
    else:
        qx = None
    return tensor("x", (n, h, w, c), dtype, qx), qx


def _weights(rng: np.random.Generator, dtype: str, shape: tuple[int, ...], cout: int,
             axis: int, per_channel: bool):
    """Weights in [-127, 127] with per-channel or per-tensor scales; float: N(0, 1)."""
    if dtype == "float32":
        return const("w", rng.standard_normal(shape).astype(np.float32)), None
    ws = rng.uniform(0.002, 0.02, cout if per_channel else 1).astype(np.float32)
    data = rng.integers(-127, 128, shape).astype(np.int8)
    return const("w", data, quant=q(ws, np.zeros(ws.size, np.int64), axis=axis)), ws


def _bias(rng: np.random.Generator, dtype: str, cout: int, in_scale, ws, bias_dtype=None):
    if dtype == "float32":
        return const("b", rng.standard_normal(cout).astype(np.float32))
    bs = (np.float32(in_scale) * np.broadcast_to(ws, (cout,))).astype(np.float32)
    bias_dtype = bias_dtype or ("int32" if dtype == "int8" else "int64")
    span = {"int16": 3000, "int32": 20000, "int64": 2_000_000}[bias_dtype]
    data = rng.integers(-span, span, cout).astype(bias_dtype)
    return const("b", data, quant=q(bs, np.zeros(cout, np.int64)))


def _output(rng: np.random.Generator, dtype: str, shape, scale_hint: float, name="y"):
    """Output tensor; the scale puts typical results over a good part of the range."""
    if dtype == "float32":
        return tensor(name, shape, dtype)
    if dtype == "int8":
        return tensor(name, shape, dtype, q(scale_hint * rng.uniform(0.5, 2.0),
                                            int(rng.integers(-30, 30))))
    return tensor(name, shape, dtype, q(scale_hint * rng.uniform(0.5, 2.0), 0))


def _out_scale(dtype: str, in_scale: float, ws, taps: int) -> float:
    """Scale that maps a typical accumulator (random full-range data) to ~half the range."""
    if dtype == "float32":
        return 1.0
    x_std = 74.0 if dtype == "int8" else 18900.0
    q_std = 40.0 if dtype == "int8" else 10000.0
    return float(in_scale) * float(np.mean(ws)) * x_std * 73.0 * np.sqrt(taps) / q_std


# ---------------------------------------------------------------------------------------
# CONV_2D
# ---------------------------------------------------------------------------------------
def _conv_model(seed: int, dtype: str):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 1, 2]))
    groups = int(rng.choice([1, 1, 1, 2]))
    cg = int(rng.integers(1, 5))
    cout = groups * int(rng.integers(1, 4))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    dh, dw = (int(v) for v in rng.choice([1, 1, 2], 2))
    padding = str(rng.choice(["SAME", "VALID"]))
    h = int(rng.integers((kh - 1) * dh + 1, 10))
    w = int(rng.integers((kw - 1) * dw + 1, 10))
    act = str(rng.choice(ACTS))
    x, qx = _activation_io(rng, dtype, n, h, w, groups * cg)
    wv, ws = _weights(rng, dtype, (cout, kh, kw, cg), cout, 0, bool(rng.integers(0, 2)))
    bias_dtype = "int32" if dtype == "int16" and rng.integers(0, 3) == 0 else None
    b = _bias(rng, dtype, cout, qx.scale0 if qx else 1.0, ws, bias_dtype) \
        if rng.integers(0, 4) else None
    oh, ow = _out_size(padding, h, kh, sh, dh), _out_size(padding, w, kw, sw, dw)
    hint = _out_scale(dtype, qx.scale0 if qx else 1.0, ws if ws is not None else 1, kh * kw * cg)
    y = _output(rng, dtype, (n, oh, ow, cout), hint)
    attrs = dict(padding=padding, stride_h=sh, stride_w=sw, dilation_h_factor=dh,
                 dilation_w_factor=dw, fused_activation_function=act)
    if b is None and dtype == "int16":
        attrs["quantized_bias_type"] = str(rng.choice(["int32", "int64"]))
    return single_op_model("CONV_2D", [x, wv, b], [y], attrs)


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_conv_2d_random(dtype: str, seed: int) -> None:
    check_op(_conv_model(1000 * seed + 7, dtype), seeds=(seed, seed + 1))


def test_conv_2d_macs() -> None:
    m = _conv_model(3, "int8")
    node = m.main.nodes[0]
    w, out = node.inputs[1], node.outputs[0]
    assert node_macs(node) == out.size * w.shape[1] * w.shape[2] * w.shape[3]


def _fixed_conv(dtype: str, cin: int, hw: int, k: int, cout: int, *, bias_span: int,
                ws: np.ndarray, stride: int = 1, seed: int = 0, wmax: int = 127):
    rng = np.random.default_rng(seed)
    x, qx = _activation_io(rng, dtype, 1, hw, hw, cin)
    w = const("w", rng.integers(-wmax, wmax + 1, (cout, k, k, cin)).astype(np.int8),
              quant=q(ws, np.zeros(ws.size, np.int64)))
    bdt = "int32" if dtype == "int8" else "int64"
    b = const("b", rng.integers(-bias_span, bias_span, cout).astype(bdt),
              quant=q(np.float32(qx.scale0) * np.broadcast_to(ws, (cout,)), 0))
    oh = (hw + stride - 1) // stride
    y = _output(rng, dtype, (1, oh, oh, cout), _out_scale(dtype, qx.scale0, ws, k * k * cin))
    return single_op_model("CONV_2D", [x, w, b], [y], dict(
        padding="SAME", stride_h=stride, stride_w=stride, dilation_h_factor=1,
        dilation_w_factor=1, fused_activation_function="NONE"))


def test_conv_2d_deep_int8_needs_float64() -> None:
    """128 * sum|w| > 2**24: partial sums leave float32's exact range."""
    ws = np.full(3, 0.003, np.float32)
    check_op(_fixed_conv("int8", 1200, 2, 1, 3, bias_span=1000, ws=ws), seeds=(0,))


def test_conv_2d_huge_bias_and_tiny_scales() -> None:
    """Weight scales so small the requantization shifts right by 31 bits (or the
    multiplier underflows to 0), and biases near +-2**31, where the int32 accumulator
    may wrap (both leave the kernel's folded fast path)."""
    ws = np.array([0.01, 4.4e-9, 1e-9, 0.02], np.float32)
    check_op(_fixed_conv("int8", 3, 5, 3, 4, bias_span=1 << 30, ws=ws, seed=3), seeds=(0, 1))
    m = _fixed_conv("int8", 3, 5, 3, 4, bias_span=10, ws=ws[[0, 3, 0, 3]], seed=4)
    m.main.nodes[0].inputs[2].data[:] = [(1 << 31) - 5000, -(1 << 31) + 3000, 12, -40]
    check_op(m, seeds=(2, 3))


def test_conv_2d_int16_large_accumulators() -> None:
    ws = np.linspace(0.001, 0.02, 6).astype(np.float32)
    check_op(_fixed_conv("int16", 40, 6, 3, 6, bias_span=1 << 40, ws=ws, stride=2, seed=5),
             seeds=(0, 1))


def test_conv_2d_int4_weights() -> None:
    rng = np.random.default_rng(11)
    x = tensor("x", (1, 6, 5, 3), "int8", q(0.05, 3))
    ws = rng.uniform(0.05, 0.2, 4).astype(np.float32)
    w = const("w", rng.integers(-8, 8, (4, 3, 3, 3)).astype(np.int8), "int4",
              q(ws, np.zeros(4, np.int64)))
    b = const("b", rng.integers(-300, 300, 4).astype(np.int32), quant=q(ws * 0.05, 0))
    y = tensor("y", (1, 3, 3, 4), "int8", q(0.3, -5))
    check_op(single_op_model("CONV_2D", [x, w, b], [y], dict(
        padding="SAME", stride_h=2, stride_w=2, dilation_h_factor=1, dilation_w_factor=1,
        fused_activation_function="RELU")), seeds=(0, 1))


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D"])
def test_weights_as_graph_inputs(op: str, dtype: str) -> None:
    """Non-constant weights and bias (prepared on every run)."""
    rng = np.random.default_rng(21)
    qx = q(0.05, 4) if dtype == "int8" else None
    x = tensor("x", (1, 5, 6, 3), dtype, qx)
    wshape = (2, 3, 3, 3) if op == "CONV_2D" else (1, 3, 3, 3)
    ws = np.full(1, 0.01, np.float32)
    w = tensor("w", wshape, dtype, q(ws, 0) if qx else None)
    bdt = "int32" if dtype == "int8" else "float32"
    b = tensor("b", (wshape[0] if op == "CONV_2D" else 3,), bdt,
               q(ws * 0.05, 0) if qx else None)
    yq = q(rng.uniform(1.0, 3.0), -3) if qx else None
    y = tensor("y", (1, 5, 6, b.shape[0]), dtype, yq)
    attrs = dict(padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1,
                 dilation_w_factor=1, fused_activation_function="NONE")
    if op == "DEPTHWISE_CONV_2D":
        attrs["depth_multiplier"] = 1
    check_op(single_op_model(op, [x, w, b], [y], attrs), seeds=(0, 1))


def _hybrid_conv(seed: int, per_channel: bool):
    rng = np.random.default_rng(seed)
    n, h, w, cin, cout, k = 2, 7, 6, 3, 4, 3
    x = tensor("x", (n, h, w, cin), "float32")
    ws = (rng.uniform(0.01, 0.03, cout) if per_channel else np.full(1, 0.02)).astype(np.float32)
    wv = const("w", rng.integers(-127, 128, (cout, k, k, cin)).astype(np.int8),
               quant=q(ws, np.zeros(ws.size, np.int64)))
    b = const("b", rng.standard_normal(cout).astype(np.float32))
    stride, dil = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    padding = str(rng.choice(["SAME", "VALID"]))
    oh, ow = (_out_size(padding, s, k, stride, dil) for s in (h, w))
    y = tensor("y", (n, oh, ow, cout), "float32")
    return single_op_model("CONV_2D", [x, wv, b], [y], dict(
        padding=padding, stride_h=stride, stride_w=stride, dilation_h_factor=dil,
        dilation_w_factor=dil, fused_activation_function=str(rng.choice(ACTS[:3]))),
        version=2)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_conv_2d_hybrid_vs_litert_reference(seed: int, per_channel: bool) -> None:
    check_op(_hybrid_conv(seed, per_channel), oracle="litert_ref", seeds=(seed,))


# ---------------------------------------------------------------------------------------
# DEPTHWISE_CONV_2D
# ---------------------------------------------------------------------------------------
def _depthwise_model(seed: int, dtype: str, big: bool = False, taps: int | None = None):
    rng = np.random.default_rng(seed)
    n = 1 if big else int(rng.choice([1, 1, 2]))
    c = int(rng.integers(1, 5)) if not big else int(rng.choice([8, 16]))
    dm = int(rng.choice([1, 1, 2, 3]))
    kh, kw = (int(v) for v in rng.integers(1, 5, 2)) if taps is None else (taps, 5)
    sh, sw = (int(v) for v in rng.integers(1, 3, 2)) if not big else (1, int(rng.integers(1, 3)))
    dh, dw = (int(v) for v in rng.choice([1, 1, 2], 2))
    padding = str(rng.choice(["SAME", "VALID"]))
    lo_h, lo_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    h = int(rng.integers(lo_h, lo_h + 8)) if not big else 40
    w = int(rng.integers(lo_w, lo_w + 8)) if not big else 42
    act = str(rng.choice(ACTS))
    cout = c * dm
    x, qx = _activation_io(rng, dtype, n, h, w, c)
    wv, ws = _weights(rng, dtype, (1, kh, kw, cout), cout, 3, bool(rng.integers(0, 2)))
    b = _bias(rng, dtype, cout, qx.scale0 if qx else 1.0, ws) if rng.integers(0, 4) else None
    oh, ow = _out_size(padding, h, kh, sh, dh), _out_size(padding, w, kw, sw, dw)
    hint = _out_scale(dtype, qx.scale0 if qx else 1.0, ws if ws is not None else 1, kh * kw)
    y = _output(rng, dtype, (n, oh, ow, cout), hint)
    # No bias: two inputs. (TFLM's depthwise Prepare crashes on an explicit -1 bias.)
    ins = [x, wv] if b is None else [x, wv, b]
    return single_op_model("DEPTHWISE_CONV_2D", ins, [y], dict(
        padding=padding, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw,
        depth_multiplier=dm, fused_activation_function=act))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_depthwise_conv_2d_random(dtype: str, seed: int) -> None:
    check_op(_depthwise_model(1000 * seed + 11, dtype), seeds=(seed,))


@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
@pytest.mark.parametrize("seed", range(2))
def test_depthwise_conv_2d_large_output(dtype: str, seed: int) -> None:
    """Outputs above the einsum size threshold take the per-tap multiply-add path."""
    check_op(_depthwise_model(77 + seed, dtype, big=True), seeds=(seed,))


@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_depthwise_conv_2d_many_taps(dtype: str) -> None:
    """More than 16 taps: batched matmul over input channels."""
    check_op(_depthwise_model(5, dtype, taps=4), seeds=(0, 1))


def test_depthwise_macs() -> None:
    node = _depthwise_model(2, "int8").main.nodes[0]
    w = node.inputs[1]
    assert node_macs(node) == node.outputs[0].size * w.shape[1] * w.shape[2]


@pytest.mark.parametrize("seed", range(2))
def test_depthwise_hybrid_vs_litert_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c, dm, k = 3, 2, 3
    x = tensor("x", (2, 6, 7, c), "float32")
    ws = rng.uniform(0.01, 0.03, c * dm).astype(np.float32)
    wv = const("w", rng.integers(-127, 128, (1, k, k, c * dm)).astype(np.int8),
               quant=q(ws, np.zeros(c * dm, np.int64), axis=3))
    b = const("b", rng.standard_normal(c * dm).astype(np.float32))
    y = tensor("y", (2, 6, 7, c * dm), "float32")
    m = single_op_model("DEPTHWISE_CONV_2D", [x, wv, b], [y], dict(
        padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1,
        depth_multiplier=dm, fused_activation_function="RELU"), version=4)
    check_op(m, oracle="litert_ref", seeds=(seed,))


# ---------------------------------------------------------------------------------------
# TRANSPOSE_CONV
# ---------------------------------------------------------------------------------------
def _transpose_model(seed: int, dtype: str):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 1, 2]))
    h, w = (int(v) for v in rng.integers(1, 6, 2))
    cin, cout = (int(v) for v in rng.integers(1, 5, 2))
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    padding = str(rng.choice(["SAME", "VALID"]))
    if padding == "SAME":
        oh, ow = h * sh, w * sw
    else:
        oh, ow = (h - 1) * sh + kh, (w - 1) * sw + kw
    act = str(rng.choice(ACTS))
    x, qx = _activation_io(rng, dtype, n, h, w, cin)
    wv, ws = _weights(rng, dtype, (cout, kh, kw, cin), cout, 0, bool(rng.integers(0, 2)))
    bias_dtype = "int16" if dtype == "int16" and rng.integers(0, 3) == 0 else None
    b = _bias(rng, dtype, cout, qx.scale0 if qx else 1.0, ws, bias_dtype) \
        if rng.integers(0, 4) else None
    taps = max(1, (kh * kw) // (sh * sw)) * cin
    hint = _out_scale(dtype, qx.scale0 if qx else 1.0, ws if ws is not None else 1, taps)
    y = _output(rng, dtype, (n, oh, ow, cout), hint)
    shape = const("shape", np.array([n, oh, ow, cout], np.int32))
    return single_op_model("TRANSPOSE_CONV", [shape, wv, x, b], [y], dict(
        padding=padding, stride_h=sh, stride_w=sw, fused_activation_function=act))


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_transpose_conv_random(dtype: str, seed: int) -> None:
    check_op(_transpose_model(1000 * seed + 13, dtype), seeds=(seed,))


def test_transpose_conv_macs() -> None:
    node = _transpose_model(4, "int8").main.nodes[0]
    w, x = node.inputs[1], node.inputs[2]
    assert node_macs(node) == x.size * w.shape[1] * w.shape[2] * w.shape[0]
