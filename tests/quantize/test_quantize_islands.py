"""int16x8 with ops TFLM runs in int8 only: those ops stay int8 islands.

Graph (NHWC, hand-built): CONV_2D -> HARD_SWISH -> HARD_SWISH -> RESIZE_BILINEAR ->
CONV_2D -> ADD(skip from the first conv, upsampled nearest). Neither TFLM nor LiteRT has
an int16 HARD_SWISH, and TFLM resizes bilinearly in float32 and int8 only, so
``--scheme int16x8`` keeps those three ops int8 between QUANTIZE ops (int16 -> int8 ->
int16) and the rest int16.

Expected values: integer outputs from TFLM on the written ``.tflite``; accuracy is
measured against the float graph, with picojoule's int8 model of it as the bar.
"""

from __future__ import annotations

import numpy as np

from oracles import TflmSession
from picojoule.exporters.tflite import dumps
from picojoule.importers.tflite import loads
from picojoule.ir import Graph, Model, Node, Value
from picojoule.quantize import quantize_model
from picojoule.runtime.reference import Interpreter

CONV = {"padding": "SAME", "stride_w": 1, "stride_h": 1, "dilation_w_factor": 1,
        "dilation_h_factor": 1, "fused_activation_function": "NONE"}
RESIZE = {"align_corners": False, "half_pixel_centers": True}


def build() -> Model:
    rng = np.random.default_rng(11)
    g = Graph()

    def c(name, arr):
        arr = np.asarray(arr)
        arr = arr.astype(np.float32) if arr.dtype.kind == "f" else arr
        return Value(name, arr.shape, str(arr.dtype), data=arr)

    def op(kind, ins, shape, attrs, name):
        out = Value(name, shape, "float32")
        g.add_node(Node(kind, ins, [out], attrs, name=name))
        return out

    x = Value("x", (1, 6, 6, 3), "float32")
    g.inputs = [x]
    a = op("CONV_2D", [x, c("w1", rng.normal(0, 0.5, (8, 3, 3, 3))),
                       c("b1", rng.normal(0, 0.2, 8))], (1, 6, 6, 8), CONV, "conv1")
    h = op("HARD_SWISH", [a], a.shape, {}, "hswish1")
    h = op("HARD_SWISH", [h], a.shape, {}, "hswish2")
    up = op("RESIZE_BILINEAR", [h, c("size", np.array([12, 12], np.int32))], (1, 12, 12, 8),
            RESIZE, "bilinear")
    b = op("CONV_2D", [up, c("w2", rng.normal(0, 0.3, (4, 3, 3, 8))),
                       c("b2", rng.normal(0, 0.1, 4))], (1, 12, 12, 4), CONV, "conv2")
    skip = op("CONV_2D", [a, c("w3", rng.normal(0, 0.3, (4, 1, 1, 8))), None],
              (1, 6, 6, 4), {**CONV, "padding": "VALID"}, "skip")
    near = op("RESIZE_NEAREST_NEIGHBOR", [skip, c("size2", np.array([12, 12], np.int32))],
              (1, 12, 12, 4), {"align_corners": False, "half_pixel_centers": False}, "nearest")
    y = op("ADD", [b, near], b.shape, {"fused_activation_function": "NONE"}, "add")
    g.outputs = [y]
    return Model([g])


def _calibration(n: int = 24) -> list[np.ndarray]:
    rng = np.random.default_rng(12)
    return [rng.normal(0, 1, (1, 6, 6, 3)).astype(np.float32) for _ in range(n)]


def _sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    ref, got = ref.astype(np.float64), got.astype(np.float64)
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - got) ** 2))


def test_int16x8_keeps_int8_only_ops_as_islands_and_tflm_agrees():
    fm = build()
    qm, report = quantize_model(fm, _calibration(), scheme="int16x8", progress=False)
    g = qm.main
    dtype = {n.name: n.outputs[0].dtype for n in g.nodes
             if n.op not in ("QUANTIZE", "DEQUANTIZE")}
    assert dtype["hswish1"] == dtype["hswish2"] == dtype["bilinear"] == "int8"
    assert dtype["conv1"] == dtype["conv2"] == dtype["nearest"] == dtype["add"] == "int16"
    requant = [n for n in g.nodes if n.op == "QUANTIZE" and n.inputs[0].dtype != "float32"]
    # int16 -> int8 before hswish1, int8 -> int16 -> int8 between hswish2 and the bilinear
    # resize (which shares one quantization between its input and output), int8 -> int16
    # after it; the two hard-swishes share their int8 edge.
    assert [(n.inputs[0].dtype, n.outputs[0].dtype) for n in requant] == [
        ("int16", "int8"), ("int8", "int16"), ("int16", "int8"), ("int8", "int16")]
    bil = next(n for n in g.nodes if n.name == "bilinear")
    assert bil.inputs[0].quant.scale0 == bil.outputs[0].quant.scale0
    assert qm.meta["quantization"]["int8_ops"] == ["hswish1", "hswish2", "bilinear"]
    assert any(r.op == "HARD_SWISH" and r.dtype == "int8" for r in report.layers)

    data = dumps(qm)
    back = loads(data)
    ours, tflm = Interpreter(back), TflmSession(data)
    xs = _calibration(3)
    for x in xs:
        np.testing.assert_array_equal(ours.run([x])[0], tflm.run([x])[0])

    # Graceful: better than int8 everywhere, and the float model is the reference.
    q8, _ = quantize_model(fm, _calibration(), scheme="int8", progress=False)
    want = np.concatenate([Interpreter(fm).run([x])[0] for x in xs])
    s16 = _sqnr(want, np.concatenate([Interpreter(qm).run([x])[0] for x in xs]))
    s8 = _sqnr(want, np.concatenate([Interpreter(q8).run([x])[0] for x in xs]))
    assert s16 >= s8


def test_int8_and_all_int16_graphs_are_unchanged():
    """No island where every op has the scheme's type: int8 gets none, and an int16x8
    graph without int8-only ops gets no requantizing QUANTIZE."""
    fm = build()
    q8, _ = quantize_model(fm, _calibration(), scheme="int8", progress=False)
    assert [n.op for n in q8.main.nodes].count("QUANTIZE") == 1
    assert q8.meta["quantization"].get("int8_ops", []) == []
    g = Graph()
    x = Value("x", (1, 4, 4, 2), "float32")
    y = Value("y", (1, 4, 4, 2), "float32")
    g.inputs, g.outputs = [x], [y]
    g.add_node(Node("LOGISTIC", [x], [y], name="sigmoid"))
    q16, _ = quantize_model(Model([g]), [np.linspace(-3, 3, 32, dtype=np.float32).reshape(
        1, 4, 4, 2)], scheme="int16x8", progress=False)
    assert [n.op for n in q16.main.nodes] == ["QUANTIZE", "LOGISTIC", "DEQUANTIZE"]
    assert q16.main.nodes[1].outputs[0].dtype == "int16"
