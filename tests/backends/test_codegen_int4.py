"""int4 weights in the generated C: CONV_2D and DEPTHWISE_CONV_2D (per-channel) and
FULLY_CONNECTED (per-tensor) with int4 filters, against TFLM (which unpacks int4 filters).

The weights sit in flash packed two per byte; portable cores read the nibbles, DSP cores
unpack them into the fast kernels' layouts (whole filters, or blocks of fully connected
rows). Every model runs on the host in both layouts (portable and dsp=True, the SMLAD
layout in portable C) and a sample on the emulated Cortex-M4 (one firmware per model).
A whole model quantized with ``--scheme int4-weights`` runs too, and its firmware is
checked to take less flash than the int8 one.
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import check_c, const, feeds_for, q, run_oracle, single_op_model, tensor
from oracles import SHARED_MODELS, assert_same

from picojoule.backends import host, qemu
from picojoule.backends.c.generator import generate

_QEMU = qemu.toolchain_missing() is None
ACTS = ["NONE", "RELU", "RELU6"]


def _check(model, seeds=(0, 1), m4: bool = False, m55: bool = False) -> None:
    where = ("host", "host-dsp", *(("m4",) if m4 else ()), *(("m55",) if m55 else ()))
    check_c(model, seeds=seeds, where=where)


def _out(padding: str, size: int, k: int, stride: int, dil: int) -> int:
    keff = (k - 1) * dil + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size - keff) // stride + 1


def _w4(rng, shape) -> np.ndarray:
    return rng.integers(-8, 8, shape).astype(np.int8)


CONV = [  # h, w, cin, cout, k, stride, dilation, padding
    (6, 5, 3, 5, (3, 3), 1, 1, "SAME"), (7, 7, 4, 8, (1, 1), 1, 1, "VALID"),
    (8, 6, 8, 6, (3, 2), 2, 1, "SAME"), (9, 8, 2, 3, (2, 3), 1, 2, "VALID"),
    (5, 5, 16, 16, (1, 1), 1, 1, "SAME"), (5, 4, 5, 7, (3, 3), 2, 1, "VALID"),
]


@pytest.mark.parametrize("seed", range(len(CONV)))
def test_conv_int4(seed: int) -> None:
    h, w, cin, cout, (kh, kw), s, d, pad = CONV[seed]
    rng = np.random.default_rng(4000 + seed)
    ws = (0.02 + 0.05 * rng.random(cout)).astype(np.float32)
    in_s = 0.05 * (0.5 + rng.random())
    x = tensor("x", (1, h, w, cin), "int8", q(in_s, int(rng.integers(-20, 20))))
    wt = const("w", _w4(rng, (cout, kh, kw, cin)), "int4", q(ws, np.zeros(cout, np.int64)))
    b = const("b", rng.integers(-3000, 3000, cout).astype(np.int32),
              quant=q(ws * np.float32(in_s), np.zeros(cout, np.int64)))
    oh, ow = _out(pad, h, kh, s, d), _out(pad, w, kw, s, d)
    y = tensor("y", (1, oh, ow, cout), "int8", q(0.2 * (0.5 + rng.random()),
                                                 int(rng.integers(-10, 10))))
    m = single_op_model("CONV_2D", [x, wt, b], [y], attrs=dict(
        padding=pad, stride_h=s, stride_w=s, dilation_h_factor=d, dilation_w_factor=d,
        fused_activation_function=ACTS[seed % 3]), version=7)
    _check(m, m4=seed in (0, 3), m55=seed == 4)


DW = [  # h, w, cin, dm, k, stride, padding
    (6, 6, 4, 1, (3, 3), 1, "SAME"), (7, 5, 3, 2, (3, 3), 2, "VALID"),
    (5, 5, 16, 1, (3, 3), 1, "SAME"), (6, 7, 8, 1, (2, 3), 2, "SAME"),
]


@pytest.mark.parametrize("seed", range(len(DW)))
def test_depthwise_int4(seed: int) -> None:
    h, w, cin, dm, (kh, kw), s, pad = DW[seed]
    cout = cin * dm
    rng = np.random.default_rng(4100 + seed)
    ws = (0.02 + 0.05 * rng.random(cout)).astype(np.float32)
    in_s = 0.05 * (0.5 + rng.random())
    x = tensor("x", (1, h, w, cin), "int8", q(in_s, int(rng.integers(-20, 20))))
    wt = const("w", _w4(rng, (1, kh, kw, cout)), "int4",
               q(ws, np.zeros(cout, np.int64), axis=3))
    b = const("b", rng.integers(-3000, 3000, cout).astype(np.int32),
              quant=q(ws * np.float32(in_s), np.zeros(cout, np.int64)))
    oh, ow = _out(pad, h, kh, s, 1), _out(pad, w, kw, s, 1)
    y = tensor("y", (1, oh, ow, cout), "int8", q(0.1 * (0.5 + rng.random()),
                                                 int(rng.integers(-10, 10))))
    m = single_op_model("DEPTHWISE_CONV_2D", [x, wt, b], [y], attrs=dict(
        padding=pad, stride_h=s, stride_w=s, dilation_h_factor=1, dilation_w_factor=1,
        depth_multiplier=dm, fused_activation_function=ACTS[seed % 3]), version=6)
    _check(m, m4=seed in (0, 2), m55=seed == 2)


FC = [(1, 7, 5), (2, 33, 9), (1, 640, 128), (3, 16, 4), (1, 45, 13)]  # batches, k, n (odd k)


@pytest.mark.parametrize("seed", range(len(FC)))
def test_fully_connected_int4(seed: int) -> None:
    batches, k, n = FC[seed]
    rng = np.random.default_rng(4200 + seed)
    ws = np.float32(0.02 + 0.05 * rng.random())
    in_s = 0.05 * (0.5 + rng.random())
    x = tensor("x", (batches, k), "int8", q(in_s, int(rng.integers(-20, 20))))
    wt = const("w", _w4(rng, (n, k)), "int4", q(ws, 0))
    b = const("b", rng.integers(-3000, 3000, n).astype(np.int32), quant=q(ws * np.float32(in_s), 0))
    y = tensor("y", (batches, n), "int8", q(float(np.sqrt(k)) * 0.05 * (0.5 + rng.random()),
                                            int(rng.integers(-10, 10))))
    m = single_op_model("FULLY_CONNECTED", [x, wt, b], [y], attrs=dict(
        fused_activation_function=ACTS[seed % 3], keep_num_dims=False), version=10)
    _check(m, m4=seed in (1, 2), m55=seed == 2)


def test_large_filters_fall_back_to_the_portable_kernel(monkeypatch) -> None:
    """A filter too big to unpack into scratch runs pj_conv_s4 / pj_dwconv_s4 on DSP cores."""
    from picojoule.backends.c.emitters import conv

    monkeypatch.setattr(conv, "S4_UNPACK_LIMIT", 0)
    h, w, cin, cout, (kh, kw), s, d, pad = CONV[0]
    rng = np.random.default_rng(4300)
    ws = (0.02 + 0.05 * rng.random(cout)).astype(np.float32)
    x = tensor("x", (1, h, w, cin), "int8", q(0.05, 3))
    wt = const("w", _w4(rng, (cout, kh, kw, cin)), "int4", q(ws, np.zeros(cout, np.int64)))
    b = const("b", rng.integers(-3000, 3000, cout).astype(np.int32),
              quant=q(ws * np.float32(0.05), np.zeros(cout, np.int64)))
    y = tensor("y", (1, h, w, cout), "int8", q(0.2, -3))
    m = single_op_model("CONV_2D", [x, wt, b], [y], attrs=dict(
        padding=pad, stride_h=s, stride_w=s, dilation_h_factor=d, dilation_w_factor=d,
        fused_activation_function="RELU"), version=7)
    assert "pj_conv_s4(" in generate(m, target="cortex-m4").files["model.c"]
    _check(m, m4=True)


def _quantized(name: str, scheme: str):
    from picojoule.importers import load_model
    from picojoule.quantize import quantize_model

    fm = load_model(SHARED_MODELS / "mlperf_tiny" / name)
    x = fm.main.inputs[0]
    rng = np.random.default_rng(0)
    cal = [[rng.standard_normal(x.shape).astype(np.float32)] for _ in range(4)]
    qm, _ = quantize_model(fm, cal, scheme=scheme, method="minmax")
    return qm


def test_whole_model_int4_weights() -> None:
    """KWS DS-CNN quantized with int4 weights: host C and the M4 firmware give TFLM's
    outputs, the weights are packed (the constants half of the int8 model's), and the
    firmware's flash (text + data) is smaller than the int8 firmware's."""
    from opkit import model_bytes

    from picojoule.importers.tflite import loads

    m4 = loads(model_bytes(_quantized("kws_dscnn_float32.tflite", "int4-weights")))
    m8 = loads(model_bytes(_quantized("kws_dscnn_float32.tflite", "int8")))
    assert {v.dtype for v in m4.main.values() if v.is_const} >= {"int4"}
    feeds = feeds_for(m4, (0, 1))
    want = run_oracle(m4, feeds, "tflm")
    lib = host.build(m4, name="kws4")
    for x, w in zip(feeds, want):
        assert_same(lib.run(x)[0], w[0], "host int4 KWS")
    w4 = sum(v.nbytes for v in m4.main.values() if v.is_const and v.dtype == "int4")
    assert generate(m4, target="cortex-m4").const_bytes < generate(m8, target="cortex-m4") \
        .const_bytes - w4 // 2
    if _QEMU:
        fw4 = qemu.build(m4, "mps2-an386", name="kws4")
        for (got, _), w in zip(fw4.run_many(feeds, timeout=120), want):
            assert_same(got[0], w[0], "M4 int4 KWS")
        fw8 = qemu.build(m8, "mps2-an386", name="kws8")
        flash4 = fw4.sizes["text"] + fw4.sizes["data"]
        flash8 = fw8.sizes["text"] + fw8.sizes["data"]
        assert flash4 < 0.7 * flash8, (flash4, flash8)
