"""Per-kernel work counts of the latency model, checked against counts derived by hand from
the loops of the C kernels (backends/c/kernels/pj_conv.c, pj_dwconv.c, pj_common.h)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers_estimate import fc_model
from picojoule.estimate import fit as F
from picojoule.estimate.features import (_chunked, _conv_w16, _dw_strip_kernel, _leaky,
                                         features, kernel_names, weight_stream_bytes)
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


def _float_conv(h, w, cin, cout, k, op="CONV_2D", wdtype="float32") -> Node:
    x = Value("x", (1, h, w, cin), "float32")
    shape = (cout, k, k, cin) if op == "CONV_2D" else (1, k, k, cout)
    q = _q(0.01) if wdtype == "int8" else None
    wt = Value("w", shape, wdtype, quant=q, data=np.ones(shape, np.dtype(wdtype)))
    b = Value("b", (cout,), "float32", data=np.zeros(cout, np.float32))
    y = Value("y", (1, h, w, cout), "float32")
    return Node(op, [x, wt, b], [y], {"padding": "SAME", "stride_h": 1, "stride_w": 1,
                                      "dilation_h_factor": 1, "dilation_w_factor": 1,
                                      "depth_multiplier": 1, "fused_activation_function": "NONE"})


def test_float_conv_loop_counts() -> None:
    # pj_conv_f32, 4x4x2 input, 3x3 SAME, 3 output channels: 16 output pixels. In-image
    # taps: 4 corners x 4 + 8 edges x 6 + 4 interior x 9 = 100, per output channel: 300
    # tap bodies, x 2 input channels = 600 multiply-adds. The ky loop runs 3 rows for every
    # output (16 x 3 x 3 = 144); the kx loop 3 columns for each in-image row: output rows
    # 0 and 3 see 2 image rows, rows 1 and 2 see 3: (2 + 3 + 3 + 2) x 4 columns x 3 x 3 = 360.
    variant, f = features(_float_conv(4, 4, 2, 3, 3), ("pj_conv_f32", {}))
    assert variant == "pj_conv_f32"
    assert f == {"macs": 600.0, "tap_calls": 300.0, "ky_iters": 144.0, "kx_iters": 360.0,
                 "outputs": 48.0, "pixels": 16.0, "one": 1.0}
    # The hybrid form (pj_hybrid_conv): the 32-element input plane's min/max and quantize
    # passes, then per output pixel a full 3x3x2 = 18-tap im2col column (border taps filled
    # with the zero point): 16 x 18 = 288 column bytes; portable: one int8 dot product per
    # output channel over the column, 16 x 3 x 18 = 864 multiply-adds; DSP quad layout: the
    # column padded to 20 and widened (16 x 20 = 320), one pass of 5 four-tap groups per
    # block of 4 channels (16 x 1 x 5 = 80).
    node = _float_conv(4, 4, 2, 3, 3, wdtype="int8")
    _, h = features(node, ("pj_hybrid_conv", {"quad": 0}))
    assert h["imacs"] == 864 and h["col"] == 288 and h["plane"] == 32 and h["outputs"] == 48
    assert "macs" not in h and "groups" not in h
    _, hq = features(node, ("pj_hybrid_conv", {"quad": 1}))
    assert hq["col16"] == 320 and hq["groups"] == 80 and "imacs" not in hq
    # Depthwise, 3 channels: one multiply-add per in-image tap and channel (the tap body).
    _, d = features(_float_conv(4, 4, 3, 3, 3, op="DEPTHWISE_CONV_2D"), ("pj_dwconv_f32", {}))
    assert d["tap_calls"] == 300 and d["kx_iters"] == 360 and "macs" not in d


def test_hybrid_depthwise_and_fc_counts() -> None:
    # pj_hybrid_dwconv, 4x4x4 input, 3x3 SAME: 100 in-image taps over the 16 pixels (see
    # above). DSP quad body: 4 channels per tap, one quad: 100 quad taps; portable: one
    # multiply-add per tap and channel, 400. Per batch one 64-element input plane.
    node = _float_conv(4, 4, 4, 4, 3, op="DEPTHWISE_CONV_2D", wdtype="int8")
    _, q = features(node, ("pj_hybrid_dwconv", {"quad": 1}))
    assert q["quad_taps"] == 100 and q["tap_calls"] == 0 and q["plane"] == 64
    _, p = features(node, ("pj_hybrid_dwconv", {"quad": 0}))
    assert p["quad_taps"] == 0 and p["tap_calls"] == 400 and p["outputs"] == 64
    # pj_hybrid_fc, 2 rows of 10 inputs, 6 units: portable 2 x 6 x 10 = 120 multiply-adds;
    # quad: each row padded to 12 and widened (24), 2 blocks of 4 units x 3 groups per row.
    x = Value("x", (2, 10), "float32")
    w = Value("w", (6, 10), "int8", quant=_q(0.01), data=np.ones((6, 10), np.int8))
    fc = Node("FULLY_CONNECTED", [x, w, None], [Value("y", (2, 6), "float32")],
              {"fused_activation_function": "NONE"})
    _, f = features(fc, ("pj_hybrid_fc", {"quad": 0}))
    assert f["imacs"] == 120 and f["plane"] == 20 and f["outputs"] == 12
    _, fq = features(fc, ("pj_hybrid_fc", {"quad": 1}))
    assert fq["col16"] == 24 and fq["groups"] == 12 and "imacs" not in fq


def test_float_fc_and_pool_counts() -> None:
    x = Value("x", (2, 5), "float32")
    wt = Value("w", (3, 5), "float32", data=np.ones((3, 5), np.float32))
    fc = Node("FULLY_CONNECTED", [x, wt, None], [Value("y", (2, 3), "float32")],
              {"fused_activation_function": "NONE"})
    assert features(fc, ("pj_fc_f32", {}))[1] == {"macs": 30.0, "outputs": 6.0, "rows": 2.0,
                                                  "one": 1.0}
    # 2x2 max pool, stride 2, on 4x4x3: 4 output pixels x 4 taps x 3 channels.
    pool = Node("MAX_POOL_2D", [Value("p", (1, 4, 4, 3), "float32")],
                [Value("q", (1, 2, 2, 3), "float32")],
                {"filter_height": 2, "filter_width": 2, "stride_h": 2, "stride_w": 2,
                 "padding": "VALID", "fused_activation_function": "NONE"})
    f = features(pool, ("pj_pool_f32", {}))[1]
    assert f == {"window_max": 48.0, "outputs": 12.0, "pixels": 4.0, "rows": 2.0, "one": 1.0}


def test_op_fit_for_unfitted_kernels_uses_int8_samples_only() -> None:
    # An int8 kernel at 2 instructions per MAC and a float32 one at 6: the per-op model that
    # stands in for an unfitted int8 kernel of the op must be the int8 cost, not a blend.
    samples = [F.Sample("s", i, "CONV_2D", "k8", {"macs": m, "one": 1.0}, int(2 * m))
               for i, m in enumerate((1000.0, 5000.0, 20000.0))]
    samples += [F.Sample("s", 9 + i, "CONV_2D", "kf", {"macs": m, "one": 1.0}, int(6 * m),
                         "float32") for i, m in enumerate((3000.0, 8000.0))]
    c = F.fit(samples)
    assert c["kf"]["macs"] == pytest.approx(6.0, rel=1e-3)
    assert c["CONV_2D"]["macs"] == pytest.approx(2.0, rel=1e-3)


def test_int16_fc_runs_as_a_1x1_convolution() -> None:
    # pj_conv_s16 on a 2-batch 5 -> 3 FULLY_CONNECTED: 6 outputs, each one ky, one kx and one
    # tap iteration over 5 channels (30 multiply-adds); int64 bias: the 64-bit ("wide")
    # requantization, int32 bias (the parameter block's wide = 0): TFLM's 32-bit one.
    x = Value("x", (2, 5), "int16", quant=_q(0.001))
    wt = Value("w", (3, 5), "int8", quant=_q(0.01), data=np.ones((3, 5), np.int8))
    fc = Node("FULLY_CONNECTED", [x, wt, None], [Value("y", (2, 3), "int16", quant=_q(0.1))],
              {"fused_activation_function": "NONE"})
    variant, f = features(fc, ("pj_conv_s16", {"wide": 1}))
    assert variant == "pj_conv_s16"
    assert f == {"ky_iters": 6.0, "kx_iters": 6.0, "tap_calls": 6.0, "macs": 30.0,
                 "outputs_wide": 6.0, "outputs_narrow": 0.0, "pixels": 2.0, "one": 1.0}
    g = features(fc, ("pj_conv_s16", {"wide": 0}))[1]
    assert g["outputs_narrow"] == 6 and g["outputs_wide"] == 0


def test_fc_dsp_counts_padded_blocks_and_groups() -> None:
    # 2 batches of 5 inputs into 9 rows: the inputs pad to 8 (2 groups of 4), the rows to 12
    # (3 blocks of 4); per batch 3 blocks x 2 groups, 8 widened inputs and 9 outputs.
    m = fc_model(k=5, n=9)
    node = m.main.nodes[0]
    node.inputs[0].shape = (2, 5)
    node.outputs[0].shape = (2, 9)
    variant, f = features(node, ("pj_fc_s8_dsp", {"rq": True}))
    assert variant == "pj_fc_s8_dsp"
    assert (f["groups"], f["blocks"], f["inputs"], f["outputs_fast_rq"], f["one"]) == \
        (12, 6, 16, 18, 1)


def test_weight_bytes_follow_the_stored_weights() -> None:
    # 1x1 convolution, 4x4 pixels (8 pairs), 8 -> 6 channels: the filter padded to 8 rows x
    # 8 taps is read once per pair: 64 weights x 8 = 512 reads, 2 bytes each as int16 pairs
    # (pj_conv_s8_w16), 1 byte in the int8 SMLAD layout (pj_conv_s8_dsp).
    conv = _conv(4, 4, 8, 6, 1)
    assert weight_stream_bytes(conv, "pj_conv_s8_w16") == 1024
    assert weight_stream_bytes(conv, "pj_conv_s8_dsp") == 512
    # float32 1x1 2 -> 3 channels: 6 weights x 4 bytes read for each of 16 pixels.
    assert weight_stream_bytes(_float_conv(4, 4, 2, 3, 1), "pj_conv_f32") == 384
    # Depthwise 1x1 over 4 channels: 4 int16 weights (8 bytes) per pixel, 16 pixels.
    dw = _conv(4, 4, 4, 4, 1, op="DEPTHWISE_CONV_2D")
    assert weight_stream_bytes(dw, "pj_dwconv_s8_fast") == 128
    # FC 5 -> 9, 2 batches: the quad layout pads to 12 rows x 8 inputs, read per batch.
    m = fc_model(k=5, n=9)
    node = m.main.nodes[0]
    node.inputs[0].shape = (2, 5)
    node.outputs[0].shape = (2, 9)
    assert weight_stream_bytes(node, "pj_fc_s8_dsp") == 2 * 12 * 8
    assert weight_stream_bytes(node, "pj_fc_s8") == 2 * 9 * 5


def test_copy_counts_from_the_generated_parameter_blocks() -> None:
    # TFLM's SEANet test models. strided_slice0: rows 2..7 of (1, 8, 166, 2) int16 are one
    # contiguous run of 6 * 166 * 2 = 1,992 elements = 3,984 bytes (one memcpy). pad0:
    # (1, 2, 160, 2) -> (1, 2, 166, 2): the whole output (664 int16) filled element by
    # element, then 2 rows of 160 * 2 elements (640 bytes each) copied into it.
    from picojoule.importers.tflite import load

    ops = Path(__file__).resolve().parents[3] / "shared" / "models" / "ops"
    m = load(ops / "strided_slice0.tflite")
    variant, f = features(m.main.nodes[0], kernel_names(m, "cortex-m4")[0])
    assert variant == "pj_copy"
    assert (f["bytes"], f["rows"], f["calls"], f["elements"]) == (3984, 1, 1, 0)
    m = load(ops / "pad0.tflite")
    variant, f = features(m.main.nodes[0], kernel_names(m, "cortex-m4")[0])
    assert variant == "pj_fill"
    assert (f["fill_elems"], f["fill_bytes"], f["bytes"], f["rows"]) == (664, 0, 1280, 2)


def test_io_copies_count_every_graph_input_and_output() -> None:
    # fc_model: a (1, 64) int8 input and a (1, 10) int8 output, copied in and out by the
    # invoke function: 74 bytes in 2 copies. The RESHAPE-only model of 1,000 int16
    # elements: 2,000 bytes in and 2,000 out.
    assert F.io_features(fc_model()) == {"bytes": 74, "copies": 2, "one": 1}
    assert F.io_features(F.io_model(1000, "int16")) == {"bytes": 4000, "copies": 2, "one": 1}


def test_leaky_relu_counts_the_rounding_branches() -> None:
    # A negative shift takes pj_mbqm's rounding step; shift 0 or a left shift does not.
    node = fc_model().main.nodes[0]
    f = _leaky(node, {"id_shift": 1, "alpha_shift": -1})
    assert (f["outputs"], f["id_right"], f["alpha_right"]) == (10, 0, 10)
    g = _leaky(node, {"id_shift": 0, "alpha_shift": 0})
    assert g["id_right"] == g["alpha_right"] == 0


def test_transpose_conv_and_requantize_counts() -> None:
    # SEANet transpose_conv0: 1 x 5 x 64 int16 input, 3 x 4 filter, stride (1, 2), VALID, 64
    # outputs of 3 x 12. Every tap lands inside: 3 kernel rows x (4 columns x 5 pixels) = 60
    # taps, each over 64 output and 64 input channels (245,760 MACs); the plane 3*12*64.
    # quantize0: 640 int32 -> int16 elements (two compares to load, two to store), scale
    # 1.49e-7 -> 9.2e-4: a right shift (the rounding step) for every element.
    from picojoule.importers.tflite import load

    ops = Path(__file__).resolve().parents[3] / "shared" / "models" / "ops"
    m = load(ops / "transpose_conv0.tflite")
    variant, f = features(m.main.nodes[0], kernel_names(m, "cortex-m4")[0])
    assert variant == "pj_tconv_s16"
    assert (f["taps"], f["tap_channels"], f["macs"], f["plane"], f["pixels"], f["rows"]) == \
        (60, 3840, 245760, 2304, 5, 15)
    m = load(ops / "quantize0.tflite")
    variant, f = features(m.main.nodes[0], kernel_names(m, "cortex-m4")[0])
    assert variant == "pj_requantize"
    assert (f["outputs"], f["branches"], f["right"]) == (640, 2560, 640)


def test_svdf_counts() -> None:
    # TFLM's keyword_scrambled, node 1: 96 int8 inputs, 64 filters of rank 1 with a memory
    # of 8 int16 states: 64 * 96 feature MACs, 64 memmoves of 7 * 2 bytes, 64 * 8 time
    # MACs, 64 outputs. The 8-bit variant's int8 state counts its time MACs apart.
    from picojoule.importers.tflite import load

    tflm = Path(__file__).resolve().parents[3] / "shared" / "models" / "tflm"
    m = load(tflm / "keyword_scrambled.tflite")
    variant, f = features(m.main.nodes[1], kernel_names(m, "cortex-m4")[1])
    assert variant == "pj_svdf_s8"
    assert (f["feature_macs"], f["filters"], f["state_bytes"], f["time_macs"], f["units"]) == \
        (6144, 64, 896, 512, 64)
    m = load(tflm / "keyword_scrambled_8bit.tflite")
    _, g = features(m.main.nodes[1], kernel_names(m, "cortex-m4")[1])
    assert (g["time_macs"], g["time_macs8"], g["state_bytes"]) == (0, 512, 448)
