"""The fast kernels (int16-weight SMLAD convolutions of the Cortex-M4/M7/M33 targets, Helium
convolutions and fully-connected layers of the Cortex-M55) on random single-op models,
against TFLM.

Configurations come from fixed seeds and are chosen to reach every path: 1x1 convolutions
read directly (channel counts with and without a tail of 16), im2col with gather tables
(fewer than 16 or a non-multiple of 4 input channels), padding, strides, dilation,
depthwise channel counts that are multiples of 16, of 4 only, or neither, and the
requantization special cases (channels with zero weights and a huge bias, shifts beyond
the fast formula's range, activation bounds inside the int8 range).

Each model runs in the M4 and M55 data layouts on the host (the kernels' plain-C fallback)
and, when the ARM toolchain and QEMU are installed, as firmware on mps2-an386 (real SMLAD,
inline assembly) and mps3-an547 (real MVE).
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import const, feeds_for, q, run_oracle, single_op_model, tensor
from picojoule.backends import host, qemu
from picojoule.backends.c import generate

ACTS = ["NONE", "RELU", "RELU6"]
_MISSING = qemu.toolchain_missing()
if _MISSING:
    print(f"test_codegen_fast_kernels (QEMU part) skipped: {_MISSING}")


def _out_size(padding: str, size: int, k: int, stride: int, dil: int) -> int:
    keff = (k - 1) * dil + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size - keff) // stride + 1


def _check(model, qemu_too: bool) -> None:
    feeds = feeds_for(model, (0, 1))
    want = run_oracle(model, feeds, "tflm")
    libs = {t: host.build(generate(model, name="op", target=t))
            for t in ("cortex-m4", "cortex-m55")}
    runs = {f"host {t} layout": [lib.run(x) for x in feeds] for t, lib in libs.items()}
    if qemu_too and _MISSING is None:
        for machine in ("qemu-m4", "qemu-m55"):
            fw = qemu.build(model, machine, name="op")
            runs[machine] = [outs for outs, _ in fw.run_many(feeds, timeout=60)]
    for what, got in runs.items():
        for k, (g_outs, w_outs) in enumerate(zip(got, want)):
            for g, e in zip(g_outs, w_outs):
                assert g.dtype == e.dtype and g.shape == e.shape
                assert np.array_equal(g, e), \
                    f"{what}, feed {k}: {np.count_nonzero(g != e)} of {g.size} differ"


def _weights_and_bias(rng, shape, cout: int, in_s: float, out_s: float, axis: int,
                      special: str):
    """Per-channel weights and bias.  ``special`` "fast": channel 0 all zero with a huge
    bias (a constant output), channel 1 with a tiny scale (a right shift beyond 23), both
    still on the fast requantization; "general": channel 2 with an effective scale of 0.6
    (shift 0), channel 3 of 1.5 (a left shift), so the kernels fall back to TFLM's formula."""
    w = rng.integers(-127, 128, shape, dtype=np.int8)
    ws = (0.002 + 0.01 * rng.random(cout)).astype(np.float32)
    b = rng.integers(-3000, 3000, cout).astype(np.int32)
    if special == "fast" and cout >= 2:
        idx = [slice(None)] * len(shape)
        idx[axis] = 0
        w[tuple(idx)] = 0
        b[0] = -(1 << 30)
        ws[1] = np.float32(3e-9)
    if special == "general" and cout >= 4:
        ws[2] = np.float32(0.6 * out_s / in_s)
        ws[3] = np.float32(1.5 * out_s / in_s)
    wt = const("w", w, quant=q(ws, np.zeros(cout, np.int64), axis=axis))
    bt = const("b", b, quant=q(ws * np.float32(in_s), np.zeros(cout, np.int64)))
    return wt, bt


CONV_CASES = [
    # (h, w, cin, cout, kh, kw, stride, dilation, padding, act, special, qemu)
    (6, 5, 8, 12, 1, 1, 1, 1, "VALID", "NONE", "", True),        # 1x1 direct, tail of 8
    (5, 4, 24, 8, 1, 1, 1, 1, "SAME", "RELU", "fast", True),     # 1x1 direct, 16 + 8
    (9, 8, 3, 8, 3, 3, 2, 1, "SAME", "RELU6", "", True),         # gather table (cin 3)
    (7, 6, 16, 4, 3, 3, 1, 1, "SAME", "NONE", "fast", True),     # im2col rows, padding
    (8, 7, 5, 7, 2, 3, 1, 2, "VALID", "RELU", "", False),        # dilation, odd channels
    (10, 4, 1, 16, 4, 2, 2, 1, "SAME", "NONE", "", False),       # KWS-like first layer
    (6, 6, 20, 8, 1, 1, 1, 1, "VALID", "NONE", "general", True), # general requantization
    (6, 5, 4, 6, 3, 3, 1, 1, "SAME", "RELU", "general", False),  # general, partial quad
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv_fast_paths(case: int) -> None:
    h, w, cin, cout, kh, kw, s, d, padding, act, special, on_qemu = CONV_CASES[case]
    rng = np.random.default_rng(700 + case)
    oh, ow = _out_size(padding, h, kh, s, d), _out_size(padding, w, kw, s, d)
    in_s, out_s = 0.02 + 0.05 * rng.random(), 0.05 + 0.2 * rng.random()
    x = tensor("x", (1, h, w, cin), "int8", q(in_s, int(rng.integers(-20, 20))))
    wt, bt = _weights_and_bias(rng, (cout, kh, kw, cin), cout, in_s, out_s, 0, special)
    y = tensor("y", (1, oh, ow, cout), "int8", q(out_s, int(rng.integers(-10, 10))))
    m = single_op_model("CONV_2D", [x, wt, bt], [y], attrs=dict(
        padding=padding, stride_h=s, stride_w=s, dilation_h_factor=d, dilation_w_factor=d,
        fused_activation_function=act))
    _check(m, on_qemu)


DW_CASES = [
    # (h, w, c, k, stride, dilation, padding, act, special, qemu)
    (6, 7, 32, 3, 1, 1, "SAME", "NONE", "fast", True),   # 16-lane MVE path, interior + border
    (7, 6, 16, 3, 2, 1, "SAME", "RELU6", "", True),      # stride 2, activation bounds
    (5, 6, 12, 3, 1, 1, "VALID", "RELU", "", True),      # multiple of 4 only
    (6, 6, 16, 2, 1, 2, "SAME", "NONE", "", False),      # 2x2 taps, dilation
    (5, 5, 3, 3, 1, 1, "SAME", "NONE", "", False),       # neither: the portable kernel
    (6, 6, 16, 3, 1, 1, "SAME", "NONE", "general", True),  # general requantization
    (6, 5, 8, 3, 1, 1, "SAME", "NONE", "general", False),  # general, 4-lane MVE kernel
    # nine taps that are not 3x3 (a 9x1 temporal kernel: the 3x3 bodies must not take it)
    (20, 1, 16, (9, 1), 2, 1, "SAME", "RELU", "", True),
    (1, 21, 32, (1, 9), 1, 1, "SAME", "NONE", "fast", True),
]


@pytest.mark.parametrize("case", range(len(DW_CASES)))
def test_depthwise_fast_paths(case: int) -> None:
    h, w, c, k, s, d, padding, act, special, on_qemu = DW_CASES[case]
    rng = np.random.default_rng(800 + case)
    kh, kw = k if isinstance(k, tuple) else (k, k)
    oh, ow = _out_size(padding, h, kh, s, d), _out_size(padding, w, kw, s, d)
    in_s, out_s = 0.02 + 0.05 * rng.random(), 0.05 + 0.2 * rng.random()
    x = tensor("x", (1, h, w, c), "int8", q(in_s, int(rng.integers(-20, 20))))
    wt, bt = _weights_and_bias(rng, (1, kh, kw, c), c, in_s, out_s, 3, special)
    y = tensor("y", (1, oh, ow, c), "int8", q(out_s, int(rng.integers(-10, 10))))
    m = single_op_model("DEPTHWISE_CONV_2D", [x, wt, bt], [y], attrs=dict(
        padding=padding, stride_h=s, stride_w=s, dilation_h_factor=d, dilation_w_factor=d,
        depth_multiplier=1, fused_activation_function=act))
    _check(m, on_qemu)


FC_CASES = [
    # (batches, k, n, per_channel, act, qemu)
    (1, 40, 12, True, "NONE", True),     # one row read twice, tail of 8
    (3, 16, 6, False, "RELU", True),     # batch pairs + a last single row, partial block
    (2, 5, 9, True, "RELU6", False),     # tail only
]


@pytest.mark.parametrize("case", range(len(FC_CASES)))
def test_fully_connected_fast_paths(case: int) -> None:
    batches, k, n, per_channel, act, on_qemu = FC_CASES[case]
    rng = np.random.default_rng(900 + case)
    in_s, out_s = 0.02 + 0.05 * rng.random(), 0.1 + 0.5 * rng.random()
    ws = (0.002 + 0.01 * rng.random(n if per_channel else 1)).astype(np.float32)
    x = tensor("x", (batches, k), "int8", q(in_s, int(rng.integers(-30, 30))))
    wt = const("w", rng.integers(-127, 128, (n, k), dtype=np.int8),
               quant=q(ws, np.zeros(ws.size, np.int64)))
    b = const("b", rng.integers(-2000, 2000, n, dtype=np.int32),
              quant=q(np.broadcast_to(ws * np.float32(in_s), (n,)) if per_channel
                      else ws * np.float32(in_s), 0))
    y = tensor("y", (batches, n), "int8", q(out_s, int(rng.integers(-10, 10))))
    m = single_op_model("FULLY_CONNECTED", [x, wt, b], [y], attrs=dict(
        fused_activation_function=act, keep_num_dims=False, weights_format=0,
        asymmetric_quantize_inputs=False))
    _check(m, on_qemu)


ADD_CASES = [
    # (shape, act): same shapes with at least 1,024 elements take pj_add_s8_lut
    ((1, 16, 16, 8), "RELU"),
    ((4, 300), "NONE"),
]


@pytest.mark.parametrize("case", range(len(ADD_CASES)))
def test_large_add_tables(case: int) -> None:
    shape, act = ADD_CASES[case]
    rng = np.random.default_rng(950 + case)
    a = tensor("a", shape, "int8", q(0.03 + 0.1 * rng.random(), int(rng.integers(-20, 20))))
    b = tensor("b", shape, "int8", q(0.03 + 0.1 * rng.random(), int(rng.integers(-20, 20))))
    y = tensor("y", shape, "int8", q(0.1 + 0.1 * rng.random(), int(rng.integers(-5, 5))))
    m = single_op_model("ADD", [a, b], [y], attrs=dict(fused_activation_function=act))
    assert "pj_add_s8_lut(" in generate(m, name="op", target="cortex-m4").files["op.c"]
    _check(m, True)
