"""ONNX LSTM and GRU (built with onnx.helper, random configurations), oracle ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from oracles import assert_same
from picojoule.importers import onnx as pj_onnx
from picojoule.runtime.reference import Interpreter

F = TensorProto.FLOAT


def _run(tmp_path, op, seed):
    rng = np.random.default_rng(seed)
    gates = 4 if op == "LSTM" else 3
    T, B, I, H = (int(rng.integers(1, 5)), int(rng.integers(1, 3)), int(rng.integers(1, 5)),
                  int(rng.integers(1, 6)))
    direction = ["forward", "reverse", "bidirectional"][seed % 3]
    D = 2 if direction == "bidirectional" else 1
    layout = int(seed % 4 == 3)
    w = rng.uniform(-0.7, 0.7, (D, gates * H, I)).astype(np.float32)
    r = rng.uniform(-0.7, 0.7, (D, gates * H, H)).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, (D, 2 * gates * H)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"),
             numpy_helper.from_array(b, "B")]
    x_shape = [B, T, I] if layout else [T, B, I]
    s_shape = [B, D, H] if layout else [D, B, H]
    inputs = [helper.make_tensor_value_info("X", F, x_shape)]
    names = ["X", "W", "R", "B", ""]
    with_state = seed % 2 == 0
    if with_state:
        names.append("h0")
        inputs.append(helper.make_tensor_value_info("h0", F, s_shape))
        if op == "LSTM":
            names.append("c0")
            inputs.append(helper.make_tensor_value_info("c0", F, s_shape))
    attrs = {"hidden_size": H, "direction": direction, "layout": layout}
    if op == "LSTM" and seed % 5 in (1, 4):
        while len(names) < 7:
            names.append("")
        if len(names) == 7 and not with_state:
            names[5:7] = ["", ""]
        names.append("P")
        inits.append(numpy_helper.from_array(
            rng.uniform(-0.5, 0.5, (D, 3 * H)).astype(np.float32), "P"))
    if op == "GRU":
        attrs["linear_before_reset"] = seed % 2
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    node = helper.make_node(op, names, outs, **attrs)
    g = helper.make_graph([node], "g", inputs,
                          [helper.make_tensor_value_info(o, F, None) for o in outs], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    path = tmp_path / "rnn.onnx"
    onnx.save(model, path)
    feeds = [rng.standard_normal(i.type.tensor_type.shape.dim and
                                 [d.dim_value for d in i.type.tensor_type.shape.dim]
                                 ).astype(np.float32) for i in inputs]
    if layout:  # ONNX Runtime rejects batch-first RNNs: ONNX's reference implementation
        from onnx.reference import ReferenceEvaluator

        want = ReferenceEvaluator(model).run(None, {i.name: f for i, f in zip(inputs, feeds)})
    else:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        want = sess.run(None, {i.name: f for i, f in zip(inputs, feeds)})
    pj = pj_onnx.load(path)
    pj.verify()
    interp = Interpreter(pj)
    for _ in range(2):  # stateless: a second run gives the same results
        got = interp.run(feeds)
        for k, (a, e) in enumerate(zip(got, want)):
            assert_same(a, e, f"{op} seed {seed} output {outs[k]}")


@pytest.mark.parametrize("seed", range(8))
def test_lstm_random(tmp_path, seed):
    _run(tmp_path, "LSTM", seed)


@pytest.mark.parametrize("seed", range(6))
def test_gru_random(tmp_path, seed):
    _run(tmp_path, "GRU", seed)
