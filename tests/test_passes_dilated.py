"""FuseDilatedConv: TensorFlow's SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND lowering of a
dilated convolution becomes one dilated conv, computing the same numbers.

Models are built with picojoule's writer in the converter's exact form (paddings: the SAME
pads plus the extra that makes the size a multiple of the block, cropped again after).
Expected values: LiteRT's reference kernels on the *original* three-op file (TFLM leaves
SPACE_TO_BATCH_ND's pad value uninitialised, so it is no oracle there), and TFLM on the
fused file picojoule writes.
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import const, q, tensor
from oracles import LiteRtSession, TflmSession
from picojoule.exporters.tflite import dumps
from picojoule.importers import load_model
from picojoule.ir import Graph, Model, Node, Value
from picojoule.runtime import Interpreter, random_inputs


def _two_d(dtype: str, op: str, h: int, d: int, k: int, padding: str, seed: int) -> Model:
    """x (1, h, h, 4) -> SPACE_TO_BATCH_ND -> VALID k x k conv -> BATCH_TO_SPACE_ND."""
    rng = np.random.default_rng(seed)
    c, cout = 4, 4 if op == "DEPTHWISE_CONV_2D" else 6
    k_eff = (k - 1) * d + 1
    before, out = ((k_eff - 1) // 2, h) if padding == "SAME" else (0, h - k_eff + 1)
    after = k_eff - 1 - before if padding == "SAME" else 0
    extra = -(h + before + after) % d
    pads = np.array([[before, after + extra]] * 2, np.int32)
    hb = (h + before + after + extra) // d
    ob = hb - k + 1
    crops = np.array([[0, ob * d - out]] * 2, np.int32)
    quant = dtype == "int8"
    qx, qy = (q(0.05, 3), q(0.1, -4)) if quant else (None, None)
    x = tensor("x", (1, h, h, c), dtype, qx)
    s2b_out = Value("s2b", (d * d, hb, hb, c), dtype, quant=qx)
    conv_out = Value("conv", (d * d, ob, ob, cout), dtype, quant=qy)
    y = tensor("y", (1, out, out, cout), dtype, qy)
    wshape = (1, k, k, cout) if op == "DEPTHWISE_CONV_2D" else (cout, k, k, c)
    if quant:
        w = const("w", rng.integers(-127, 128, wshape).astype(np.int8), "int8",
                  q(np.full(cout, 0.02, np.float32), np.zeros(cout, np.int64),
                    3 if op == "DEPTHWISE_CONV_2D" else 0))
        b = const("b", rng.integers(-500, 500, cout).astype(np.int32), "int32",
                  q(np.full(cout, 0.001, np.float32), np.zeros(cout, np.int64)))
    else:
        w = const("w", rng.standard_normal(wshape).astype(np.float32))
        b = const("b", rng.standard_normal(cout).astype(np.float32))
    block = const("block", np.array([d, d], np.int32))
    attrs = dict(padding="VALID", stride_h=1, stride_w=1, dilation_h_factor=1,
                 dilation_w_factor=1, fused_activation_function="RELU")
    if op == "DEPTHWISE_CONV_2D":
        attrs["depth_multiplier"] = 1
    g = Graph("main")
    g.inputs = [x]
    g.add_node(Node("SPACE_TO_BATCH_ND", [x, block, const("pads", pads)], [s2b_out],
                    name="s2b"))
    g.add_node(Node(op, [s2b_out, w, b], [conv_out], attrs, name="conv"))
    g.add_node(Node("BATCH_TO_SPACE_ND", [conv_out, block, const("crops", crops)], [y],
                    name="b2s"))
    g.outputs = [y]
    return Model([g], source="dilated")


def _load(tmp_path, model: Model):
    path = tmp_path / "m.tflite"
    data = dumps(model)
    path.write_bytes(data)
    return data, load_model(path)


@pytest.mark.parametrize("dtype,op,h,d,k,padding", [
    ("int8", "CONV_2D", 9, 2, 3, "SAME"),
    ("int8", "DEPTHWISE_CONV_2D", 10, 2, 3, "SAME"),
    ("int8", "CONV_2D", 12, 3, 3, "VALID"),
    ("float32", "DEPTHWISE_CONV_2D", 11, 4, 3, "SAME"),
])
def test_fused_conv_equals_litert_on_the_original_and_tflm_runs_it(tmp_path, dtype, op, h, d,
                                                                  k, padding):
    data, fused = _load(tmp_path, _two_d(dtype, op, h, d, k, padding, seed=h + d))
    ops = [n.op for n in fused.main.nodes]
    assert ops == [op], ops
    conv = fused.main.nodes[0]
    assert (conv.attrs["padding"], conv.attrs["dilation_h_factor"],
            conv.attrs["dilation_w_factor"]) == (padding, d, d)
    litert = LiteRtSession(data, reference=True)
    tflm = TflmSession(dumps(fused), preserve_all=False)
    ours = Interpreter(fused)
    for s in range(3):
        x = random_inputs(fused.main, s)
        got = ours.run(x)[0]
        for want in (litert.run(x)[0], tflm.run(x)[0]):
            if dtype == "int8":
                assert np.array_equal(got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_conv1d_form_with_expand_dims_and_reshape_is_fused(tmp_path):
    """Keras' causal dilated Conv1D: S2B (N, L, C) -> EXPAND_DIMS -> 1 x k conv -> RESHAPE ->
    B2S, the pattern TF writes; L = 35, d = 2, k = 3, VALID."""
    rng = np.random.default_rng(5)
    d, k, length, c, cout = 2, 3, 35, 8, 8
    out = length - (k - 1) * d
    hb = (length + 1) // d
    ob = hb - k + 1
    qx, qy = q(0.04, -2), q(0.08, 5)
    x = tensor("x", (1, length, c), "int8", qx)
    s2b = Value("s2b", (d, hb, c), "int8", quant=qx)
    e = Value("e", (d, 1, hb, c), "int8", quant=qx)
    co = Value("co", (d, 1, ob, cout), "int8", quant=qy)
    r = Value("r", (d, ob, cout), "int8", quant=qy)
    y = tensor("y", (1, out, cout), "int8", qy)
    w = const("w", rng.integers(-127, 128, (cout, 1, k, c)).astype(np.int8), "int8",
              q(np.full(cout, 0.03, np.float32), np.zeros(cout, np.int64)))
    b = const("b", rng.integers(-300, 300, cout).astype(np.int32), "int32",
              q(np.full(cout, 0.0012, np.float32), np.zeros(cout, np.int64)))
    block = const("block", np.array([d], np.int32))
    g = Graph("main")
    g.inputs = [x]
    g.add_node(Node("SPACE_TO_BATCH_ND", [x, block, const("p", np.array([[0, 1]], np.int32))],
                    [s2b], name="s2b"))
    g.add_node(Node("EXPAND_DIMS", [s2b, const("ax", np.array(-3, np.int32))], [e],
                    name="e"))
    g.add_node(Node("CONV_2D", [e, w, b], [co], dict(
        padding="VALID", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1,
        fused_activation_function="NONE"), name="conv"))
    g.add_node(Node("RESHAPE", [co, const("s", np.array([-1, ob, cout], np.int32))], [r],
                    name="r"))
    g.add_node(Node("BATCH_TO_SPACE_ND", [r, block, const("cr", np.array([[0, 1]], np.int32))],
                    [y], name="b2s"))
    g.outputs = [y]
    data, fused = _load(tmp_path, Model([g], source="conv1d"))
    assert [n.op for n in fused.main.nodes] == ["EXPAND_DIMS", "CONV_2D", "RESHAPE"]
    assert fused.main.nodes[1].attrs["dilation_w_factor"] == d
    litert = LiteRtSession(data, reference=True)
    tflm = TflmSession(dumps(fused), preserve_all=False)
    ours = Interpreter(fused)
    for s in range(3):
        xs = random_inputs(fused.main, s)
        got = ours.run(xs)[0]
        assert np.array_equal(got, litert.run(xs)[0])
        assert np.array_equal(got, tflm.run(xs)[0])


def test_a_pattern_that_is_not_a_plain_dilated_conv_is_left_alone(tmp_path):
    """Crops that shift the output window (not what SAME or VALID would give) keep the
    three ops."""
    m = _two_d("int8", "CONV_2D", 9, 2, 3, "SAME", seed=1)
    b2s = m.main.nodes[2]
    m.main.replace_input(b2s, 2, const("crops2", np.array([[1, 0], [1, 0]], np.int32)))
    _, loaded = _load(tmp_path, m)
    assert [n.op for n in loaded.main.nodes] == ["SPACE_TO_BATCH_ND", "CONV_2D",
                                                 "BATCH_TO_SPACE_ND"]


def test_hybrid_dilated_conv_is_left_alone(tmp_path):
    """Float activations with int8 weights: LiteRT quantizes each space-to-batch batch with
    its own scale, so fusing would change the numbers; the three ops stay."""
    m = _two_d("float32", "CONV_2D", 9, 2, 3, "SAME", seed=3)
    conv = m.main.nodes[1]
    w = conv.inputs[1]
    wq = const("wq", np.clip(np.round(w.data * 40), -127, 127).astype(np.int8), "int8",
               q(np.full(w.shape[0], 0.025, np.float32), np.zeros(w.shape[0], np.int64)))
    m.main.replace_input(conv, 1, wq)
    _, loaded = _load(tmp_path, m)
    assert [n.op for n in loaded.main.nodes] == ["SPACE_TO_BATCH_ND", "CONV_2D",
                                                 "BATCH_TO_SPACE_ND"]
