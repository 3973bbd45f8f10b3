"""Generated C kernels, op by op, against TFLM on random single-op models.

Configurations (shapes, strides, padding, dilation, depth multipliers, per-channel scales,
zero points, fused activations, broadcasting) come from fixed seeds; every model is built
for the host in the portable layout and, for the ops that have one, the SMLAD layout.
Expected values come from TFLM (tests/opkit.run_oracle), never from picojoule.
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import const, feeds_for, q, run_oracle, single_op_model, tensor
from picojoule.backends import host

ACTS = ["NONE", "RELU", "RELU6"]


def _check(model, layouts=(False, True), seeds=(0, 1)) -> None:
    feeds = feeds_for(model, seeds)
    want = run_oracle(model, feeds, "tflm")
    for dsp in layouts:
        lib = host.build(model, dsp=dsp, name="op")
        for k, (x, w) in enumerate(zip(feeds, want)):
            got = lib.run(x)
            for i, (g, e) in enumerate(zip(got, w)):
                assert g.dtype == e.dtype and g.shape == e.shape
                assert np.array_equal(g, e), (
                    f"feed {k} output {i} ({'smlad' if dsp else 'portable'} layout): "
                    f"{np.count_nonzero(g != e)} of {g.size} differ")


def _out_size(padding: str, size: int, k: int, stride: int, dil: int) -> int:
    keff = (k - 1) * dil + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size - keff) // stride + 1


@pytest.mark.parametrize("seed", range(7))
def test_conv_2d(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = 2 if seed == 3 else 1
    h, w = rng.integers(3, 11, 2)
    cin = int(rng.choice([1, 2, 3, 5, 8, 16]))
    cout = int(rng.choice([1, 3, 4, 7, 16]))
    kh, kw = rng.integers(1, 4, 2)
    sh, sw = rng.integers(1, 3, 2)
    dh, dw = (2, 1) if seed == 5 else (1, 1)
    padding = ["SAME", "VALID"][seed % 2]
    oh, ow = _out_size(padding, h, kh, sh, dh), _out_size(padding, w, kw, sw, dw)
    in_s, out_s = 0.02 + 0.05 * rng.random(), 0.05 + 0.2 * rng.random()
    ws = (0.002 + 0.01 * rng.random(cout)).astype(np.float32)
    x = tensor("x", (n, h, w, cin), "int8", q(in_s, int(rng.integers(-20, 20))))
    wt = const("w", rng.integers(-127, 128, (cout, kh, kw, cin), dtype=np.int8),
               quant=q(ws, np.zeros(cout, np.int64), axis=0))
    b = const("b", rng.integers(-3000, 3000, cout, dtype=np.int32),
              quant=q(ws * np.float32(in_s), np.zeros(cout, np.int64)))
    y = tensor("y", (n, oh, ow, cout), "int8", q(out_s, int(rng.integers(-10, 10))))
    m = single_op_model("CONV_2D", [x, wt, b], [y], attrs=dict(
        padding=padding, stride_h=int(sh), stride_w=int(sw), dilation_h_factor=dh,
        dilation_w_factor=dw, fused_activation_function=ACTS[seed % 3]))
    _check(m)


@pytest.mark.parametrize("seed", range(6))
def test_depthwise_conv_2d(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    h, w = rng.integers(3, 12, 2)
    cin = int(rng.choice([1, 3, 4, 8]))
    dm = 2 if seed in (2, 4) else 1
    cout = cin * dm
    kh, kw = rng.integers(1, 4, 2)
    sh, sw = rng.integers(1, 3, 2)
    dh, dw = (1, 2) if seed == 3 else (1, 1)
    padding = ["SAME", "VALID"][seed % 2]
    oh, ow = _out_size(padding, h, kh, sh, dh), _out_size(padding, w, kw, sw, dw)
    in_s, out_s = 0.02 + 0.05 * rng.random(), 0.05 + 0.2 * rng.random()
    ws = (0.002 + 0.01 * rng.random(cout)).astype(np.float32)
    x = tensor("x", (1, h, w, cin), "int8", q(in_s, int(rng.integers(-20, 20))))
    wt = const("w", rng.integers(-127, 128, (1, kh, kw, cout), dtype=np.int8),
               quant=q(ws, np.zeros(cout, np.int64), axis=3))
    b = const("b", rng.integers(-3000, 3000, cout, dtype=np.int32),
              quant=q(ws * np.float32(in_s), np.zeros(cout, np.int64)))
    y = tensor("y", (1, oh, ow, cout), "int8", q(out_s, int(rng.integers(-10, 10))))
    m = single_op_model("DEPTHWISE_CONV_2D", [x, wt, b], [y], attrs=dict(
        padding=padding, stride_h=int(sh), stride_w=int(sw), dilation_h_factor=dh,
        dilation_w_factor=dw, depth_multiplier=dm, fused_activation_function=ACTS[seed % 3]))
    _check(m)


@pytest.mark.parametrize("seed", range(4))
def test_fully_connected(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    batches = int(rng.choice([1, 3]))
    k = int(rng.choice([5, 16, 33, 64]))
    n = int(rng.choice([1, 6, 9]))
    in_s, out_s = 0.02 + 0.05 * rng.random(), 0.1 + 0.5 * rng.random()
    per_channel = seed % 2 == 1
    ws = (0.002 + 0.01 * rng.random(n if per_channel else 1)).astype(np.float32)
    x = tensor("x", (batches, k), "int8", q(in_s, int(rng.integers(-30, 30))))
    wt = const("w", rng.integers(-127, 128, (n, k), dtype=np.int8),
               quant=q(ws, np.zeros(ws.size, np.int64)))
    b = const("b", rng.integers(-2000, 2000, n, dtype=np.int32),
              quant=q(np.broadcast_to(ws * np.float32(in_s), (n,)) if per_channel
                      else ws * np.float32(in_s), 0))
    y = tensor("y", (batches, n), "int8", q(out_s, int(rng.integers(-10, 10))))
    m = single_op_model("FULLY_CONNECTED", [x, wt, b], [y], attrs=dict(
        fused_activation_function=ACTS[seed % 3], keep_num_dims=False,
        weights_format=0, asymmetric_quantize_inputs=False))
    _check(m)


@pytest.mark.parametrize("seed", range(3))
def test_average_pool_2d(seed: int) -> None:
    rng = np.random.default_rng(400 + seed)
    h, w, c = int(rng.integers(3, 10)), int(rng.integers(3, 10)), int(rng.integers(1, 9))
    kh, kw = rng.integers(1, 4, 2)
    sh, sw = rng.integers(1, 3, 2)
    padding = ["SAME", "VALID", "SAME"][seed]
    oh, ow = _out_size(padding, h, kh, sh, 1), _out_size(padding, w, kw, sw, 1)
    qa = q(0.1, int(rng.integers(-20, 20)))
    x = tensor("x", (1, h, w, c), "int8", qa)
    y = tensor("y", (1, oh, ow, c), "int8", q(0.1, int(qa.zp0)))
    m = single_op_model("AVERAGE_POOL_2D", [x], [y], attrs=dict(
        padding=padding, stride_h=int(sh), stride_w=int(sw), filter_height=int(kh),
        filter_width=int(kw), fused_activation_function=ACTS[seed]))
    _check(m, layouts=(False,))


@pytest.mark.parametrize("shapes", [((2, 3, 5), (2, 3, 5)), ((1, 4, 4, 3), (1, 1, 1, 3)),
                                    ((3, 1, 6), (1, 4, 1))])
def test_add(shapes) -> None:
    rng = np.random.default_rng(500 + len(shapes[1]))
    a_shape, b_shape = shapes
    out_shape = tuple(np.broadcast_shapes(a_shape, b_shape))
    a = tensor("a", a_shape, "int8", q(0.03 + 0.1 * rng.random(), int(rng.integers(-20, 20))))
    b = tensor("b", b_shape, "int8", q(0.03 + 0.1 * rng.random(), int(rng.integers(-20, 20))))
    y = tensor("y", out_shape, "int8", q(0.1 + 0.1 * rng.random(), int(rng.integers(-5, 5))))
    m = single_op_model("ADD", [a, b], [y], attrs=dict(fused_activation_function="RELU"
                                                       if len(a_shape) == 4 else "NONE"))
    _check(m, layouts=(False,))


@pytest.mark.parametrize("beta,scale,depth", [(1.0, 0.1, 10), (1.0, 0.9, 3), (0.5, 0.02, 37)])
def test_softmax(beta: float, scale: float, depth: int) -> None:
    x = tensor("x", (2, depth), "int8", q(scale, 7))
    y = tensor("y", (2, depth), "int8", q(1.0 / 256, -128))
    m = single_op_model("SOFTMAX", [x], [y], attrs=dict(beta=beta))
    _check(m, layouts=(False,), seeds=(0, 1, 2))


def test_quantize_dequantize() -> None:
    x = tensor("x", (1, 40), "float32")
    y = tensor("y", (1, 40), "int8", q(0.037, -3))
    _check(single_op_model("QUANTIZE", [x], [y]), layouts=(False,))
    xi = tensor("xi", (1, 40), "int8", q(0.037, -3))
    yf = tensor("yf", (1, 40), "float32")
    _check(single_op_model("DEQUANTIZE", [xi], [yf]), layouts=(False,))


@pytest.mark.parametrize("cfg", [(8, 1, "SAME", 1), (12, 2, "SAME", 2), (16, 1, "VALID", 1)])
def test_depthwise_smlad_path(cfg) -> None:
    """Channel counts that are multiples of 4 with depth multiplier 1: the DSP kernel."""
    c, stride, padding, zp_sign = cfg
    rng = np.random.default_rng(250 + c)
    h, w, k = 7, 6, 3
    oh, ow = _out_size(padding, h, k, stride, 1), _out_size(padding, w, k, stride, 1)
    ws = (0.002 + 0.01 * rng.random(c)).astype(np.float32)
    x = tensor("x", (1, h, w, c), "int8", q(0.04, 9 * zp_sign))
    wt = const("w", rng.integers(-127, 128, (1, k, k, c), dtype=np.int8),
               quant=q(ws, np.zeros(c, np.int64), axis=3))
    b = const("b", rng.integers(-3000, 3000, c, dtype=np.int32),
              quant=q(ws * np.float32(0.04), np.zeros(c, np.int64)))
    y = tensor("y", (1, oh, ow, c), "int8", q(0.07, -3))
    m = single_op_model("DEPTHWISE_CONV_2D", [x, wt, b], [y], attrs=dict(
        padding=padding, stride_h=stride, stride_w=stride, dilation_h_factor=1,
        dilation_w_factor=1, depth_multiplier=1, fused_activation_function="RELU6"))
    _check(m)


# ---- the C fixed-point helpers against a literal transcription of TFLM's definitions -----
_FIXEDPOINT_C = r"""
#include "pj_common.h"
void mbqm(const int32_t *x, const int32_t *m, const int32_t *s, int32_t *o, int n)
{ int i; for (i = 0; i < n; ++i) o[i] = pj_mbqm(x[i], m[i], s[i]); }
void rq(const int32_t *x, const int32_t *rows, int32_t *o, int n)
{ int i; for (i = 0; i < n; ++i) o[i] = pj_rq_any(x[i], rows + 4 * i); }
"""


def _tflm_mbqm(x: int, m: int, shift: int) -> int:
    """TFLM MultiplyByQuantizedMultiplier, transcribed with Python integers."""
    left, right = max(shift, 0), max(-shift, 0)
    a = ((x * (1 << left)) + (1 << 31)) % (1 << 32) - (1 << 31)  # int32 wrap of x << left
    if a == m == -(1 << 31):
        high = (1 << 31) - 1
    else:
        ab = a * m
        nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
        v = ab + nudge
        high = v // (1 << 31) if v >= 0 else -((-v) // (1 << 31))  # C division truncates
    mask = (1 << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if remainder > threshold else 0)


def test_fixed_point_helpers(tmp_path) -> None:
    import ctypes
    import subprocess

    from picojoule.backends.c.emitters.common import fold_rows
    from picojoule.backends.c.generator import KERNEL_DIR

    src = tmp_path / "fp.c"
    src.write_text(_FIXEDPOINT_C)
    lib_path = tmp_path / "fp.so"
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-std=c99", "-Wall", "-Wextra", "-Werror",
                    "-pedantic", f"-I{KERNEL_DIR}", str(src), "-o", str(lib_path)], check=True)
    lib = ctypes.CDLL(str(lib_path))
    rng = np.random.default_rng(7)
    n = 4000
    x = np.concatenate([rng.integers(-2**31, 2**31, n // 2), rng.integers(-5000, 5000, n // 2)])
    x[:6] = [-2**31, 2**31 - 1, 0, 1, -1, 12345]
    m = rng.integers(2**30, 2**31, n)
    m[:50] = 2**30
    m[50:60] = 0
    s = rng.integers(-23, 3, n)
    x, m, s = (a.astype(np.int32) for a in (x, m, s))
    want = np.array([_tflm_mbqm(int(a), int(b), int(c)) for a, b, c in zip(x, m, s)], np.int64)
    out = np.zeros(n, np.int32)
    ptr = lambda a: a.ctypes.data_as(ctypes.c_void_p)  # noqa: E731
    lib.mbqm(ptr(x), ptr(m), ptr(s), ptr(out), ctypes.c_int(n))
    wrapped = (want + 2**31) % 2**32 - 2**31
    assert np.array_equal(out, wrapped)
    # The folded form (right shifts 0..23 with a zero point), as the generator builds it.
    keep = s <= 0
    zp = rng.integers(-128, 128, n)[keep]
    rows = np.concatenate([fold_rows([mi], [si], [zi], allow_r0=True)
                           for mi, si, zi in zip(m[keep], s[keep], zp)]).astype(np.int32)
    out2 = np.zeros(int(keep.sum()), np.int32)
    xs = np.ascontiguousarray(x[keep])
    lib.rq(ptr(xs), ptr(np.ascontiguousarray(rows)), ptr(out2), ctypes.c_int(out2.size))
    assert np.array_equal(out2.astype(np.int64), want[keep] + zp)


def test_softmax_int8_long_row_of_equal_logits() -> None:
    """1000 equal logits (an ImageNet head before training): every probability is 1/1000,
    0.256 output steps, so every output is the bottom step -128 (hand-derived). TFLM's and
    LiteRT's kernels abort on this row (their reciprocal's exponent passes 31); picojoule's
    reference and C give the arithmetic's answer."""
    from picojoule.runtime import Interpreter

    x = tensor("x", (1, 1000), "int8", q(1e-6, -10))
    y = tensor("y", (1, 1000), "int8", q(1 / 256, -128))
    m = single_op_model("SOFTMAX", [x], [y], attrs=dict(beta=1.0))
    feed = [np.full((1, 1000), 37, np.int8)]
    want = np.full((1, 1000), -128, np.int8)
    assert np.array_equal(Interpreter(m).run(feed)[0], want)
    assert np.array_equal(host.build(m, name="sm").run(feed)[0], want)
