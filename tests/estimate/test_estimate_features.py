"""Per-kernel work counts of the latency model, checked against counts derived by hand from
the loops of the C kernels (backends/c/kernels/pj_conv.c, pj_dwconv.c, pj_common.h)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_estimate import fc_model
from picojoule.estimate import fit as F
from picojoule.estimate.features import _chunked, _conv_w16, _dw_strip_kernel, features
from picojoule.ir import Node, Quant, Value

FULL = {"rq": True, "act_min": -128, "act_max": 127}


def _q(scale, zp=0) -> Quant:
    return Quant(np.atleast_1d(np.float32(scale)), np.atleast_1d(np.int64(zp)), 0)


def _conv(h, w, cin, cout, k, pad="SAME", s=1, op="CONV_2D") -> Node:
    x = Value("x", (1, h, w, cin), "int8", quant=_q(0.05, 1))
    if op == "CONV_2D":
        wt = Value("w", (cout, k, k, cin), "int8", quant=_q(0.01),
                   data=np.ones((cout, k, k, cin), np.int8))
    else:
        wt = Value("w", (1, k, k, cout), "int8", quant=_q(0.01),
                   data=np.ones((1, k, k, cout), np.int8))
    b = Value("b", (cout,), "int32", quant=_q(0.0005), data=np.zeros(cout, np.int32))
    oh, ow = (-(-h // s), -(-w // s)) if pad == "SAME" else ((h - k) // s + 1, (w - k) // s + 1)
    y = Value("y", (1, oh, ow, cout), "int8", quant=_q(0.1, -128))
    return Node(op, [x, wt, b], [y], {"padding": pad, "stride_h": s, "stride_w": s,
                                      "dilation_h_factor": 1, "dilation_w_factor": 1,
                                      "depth_multiplier": 1, "fused_activation_function": "NONE"})


def test_conv_w16_direct_1x1_blocks() -> None:
    # 4x4 pixels -> 8 pairs; 6 channels -> 1 full quad (assembly) + 1 tail quad (C);
    # k = 8 -> 2 groups of 4 taps per block; the 1x1 column copy: 8 / 4 steps per pair.
    f = _conv_w16(_conv(4, 4, 8, 6, 1), FULL)
    assert f["pairs"] == 8 and f["groups"] == 8 * 2 * 2
    assert f["blocks_asm"] == 8 and f["blocks_c"] == 8 and f["blocks_tail"] == 8
    assert f["col_direct"] == 16 and f["fold_px"] == 0 and f["blocks_general"] == 0
    # A narrower activation range: every block takes the C epilogue.
    g = _conv_w16(_conv(4, 4, 8, 6, 1), {"rq": True, "act_min": -100, "act_max": 127})
    assert g["blocks_asm"] == 0 and g["blocks_c"] == 16
    # No requantization constants: TFLM's general formula for every block.
    h = _conv_w16(_conv(4, 4, 8, 6, 1), {"rq": False})
    assert h["blocks_general"] == 16 and h["blocks_asm"] == h["blocks_c"] == 0


def test_conv_w16_gather_builds_a_lone_pixel_twice() -> None:
    # 3x3 VALID on a 3x3x3 input: one interior output pixel, gathered through the table;
    # pj_conv_s8_w16 builds both column slots of the pair (the lone pixel twice).
    f = _conv_w16(_conv(3, 3, 3, 4, 3, pad="VALID"), FULL)
    assert f["pairs"] == 1 and f["gather_px"] == 2 and f["gather_groups"] == 2 * 28 // 4


def test_conv_w16_fold_counts_at_a_border() -> None:
    # 1x1 image, 3x3 SAME, 4 channels: rows 0 and 2 out of the image (one zero put of 12
    # each: 3 steps), row 1: left zero put (4: 1 step), the input (4: 1 step), right zero
    # put (1 step) -> 5 puts, 3 + 2 + 3 zero steps, 1 input step, no scalar writes (k = 36 = kpad).
    f = _conv_w16(_conv(1, 1, 4, 4, 3), FULL)
    assert f["fold_px"] == 2  # the lone pixel twice
    assert f["fold_puts"] == 2 * 5
    assert f["fold_steps_zero"] == 2 * 8 and f["fold_steps_src"] == 2 * 1
    assert f["fold_scalar"] == 0


def test_dw_strip_counts() -> None:
    # 4x4x4, 3x3 SAME: strip width 6 pixels (1 padded each side). Output rows 0 and 3 read
    # 2 image rows + 1 zero row, rows 1 and 2 read 3 image rows: 10 image rows copy 16
    # bytes and fill 8 (3 calls each), 2 zero rows fill 24 (1 call).
    f = _dw_strip_kernel(_conv(4, 4, 4, 4, 3, op="DEPTHWISE_CONV_2D"), FULL, 4, True)
    assert f["strip_copy"] == 160 and f["strip_fill"] == 10 * 8 + 2 * 24
    assert f["strip_calls"] == 10 * 3 + 2 and f["rows"] == 4
    assert f["groups9_asm"] == 16 and f["groups9_c"] == 0 and f["tap_groups"] == 0
    g = _dw_strip_kernel(_conv(4, 4, 4, 4, 3, op="DEPTHWISE_CONV_2D"), {"rq": False}, 4, True)
    assert g["groups9_c"] == 16 and g["groups_general"] == 16


def test_in_place_chunks_pay_the_call_overhead_per_call() -> None:
    # 5 pixels run as pairs, last chunk first: 2 calls of 2 pixels + 1 call of 1 pixel.
    f = _chunked(_conv_w16, _conv(1, 5, 8, 4, 1), dict(FULL, chunks=2))
    assert f["one"] == 3 and f["pairs"] == 3 and f["blocks_asm"] == 3


def test_bank_first_node_is_left_out() -> None:
    bank = F._Bank(1)
    bank.fc(16, 4)
    bank.fc(32, 8)
    m = bank.model("two")
    kernels = {1: ("pj_fc_s8", {}), 0: ("pj_fc_s8", {})}  # the generated code's order
    assert F.first_node_with_input_copies(m, kernels) == 1
    assert F.first_node_with_input_copies(fc_model(), {0: ("pj_fc_s8", {})}) is None


def test_legacy_kernel_tuple_still_accepted() -> None:
    m = fc_model()
    variant, f = features(m.main.nodes[0], ("pj_fc_s8_dsp", True))
    assert variant == "pj_fc_s8_dsp" and f["outputs_fast_rq"] == 10
    with pytest.raises(KeyError):
        f["outputs"]  # split by requantization path
