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


# ------------------------------------------------------------ one copy of the weights
def _rnn_file(tmp_path, op: str, steps: int, hidden: int, direction: str = "forward",
              lbr: int = 1, seed: int = 0, n_in: int = 3, outputs=("Y", "Y_h")):
    """An ONNX ``op`` over ``steps`` time steps (batch 1), as torch exports it (GRU with
    linear_before_reset=1); returns (path, number of ONNX parameters)."""
    rng = np.random.default_rng(seed)
    gates = 4 if op == "LSTM" else 3
    dirs = 2 if direction == "bidirectional" else 1
    w = rng.uniform(-0.6, 0.6, (dirs, gates * hidden, n_in)).astype(np.float32)
    r = rng.uniform(-0.6, 0.6, (dirs, gates * hidden, hidden)).astype(np.float32)
    b = rng.uniform(-0.3, 0.3, (dirs, 2 * gates * hidden)).astype(np.float32)
    attrs = {"hidden_size": hidden, "direction": direction}
    if op == "GRU":
        attrs["linear_before_reset"] = lbr
    node = helper.make_node(op, ["X", "W", "R", "B"], list(outputs), **attrs)
    g = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", F, [steps, 1, n_in])],
        [helper.make_tensor_value_info(o, F, None) for o in outputs],
        [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (r, "R"), (b, "B"))])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    path = tmp_path / f"{op.lower()}.onnx"
    onnx.save(model, path)
    return path, w.size + r.size + b.size


def _params(model) -> int:
    """Elements of the constants FULLY_CONNECTED / elementwise ops read as data, each
    constant once however many nodes read it."""
    seen = {}
    for n in model.main.nodes:
        if n.op in ("SLICE", "RESHAPE", "CONCATENATION", "GATHER"):
            continue
        for v in n.inputs:
            if v is not None and v.is_const:
                seen[id(v)] = v.size
    return sum(seen.values())


@pytest.mark.parametrize("op,direction,lbr", [
    ("GRU", "forward", 1), ("GRU", "reverse", 0), ("GRU", "bidirectional", 1),
    ("LSTM", "forward", 0), ("LSTM", "bidirectional", 0)])
def test_every_step_reads_the_same_constants(tmp_path, op, direction, lbr):
    """Unrolled, the steps' FULLY_CONNECTED nodes read one weight Value (and one bias Value)
    per direction: the model holds the ONNX parameters once, not once per step."""
    steps, hidden = 12, 5
    path, onnx_params = _rnn_file(tmp_path, op, steps, hidden, direction, lbr)
    model = pj_onnx.load(path)
    fcs = [n for n in model.main.nodes if n.op == "FULLY_CONNECTED"
           and n.inputs[0].shape == (1, hidden)]
    dirs = 2 if direction == "bidirectional" else 1
    per_weight = {}
    for n in fcs:
        per_weight.setdefault(id(n.inputs[1]), set()).add(id(n.input(2)))
    # One recurrent weight tensor (GRU without linear_before_reset: its two row blocks) per
    # direction, each with one bias, read by all steps but the first (folded: zero state).
    assert len(per_weight) == dirs * (2 if op == "GRU" and not lbr else 1)
    assert all(len(biases) == 1 for biases in per_weight.values())
    assert len(fcs) >= dirs * (steps - 1)
    # Step 1's folded projection of the zero state is the only extra constant data.
    assert _params(model) <= onnx_params + dirs * 4 * hidden * 2


def test_steps_are_tagged_as_one_tensor(tmp_path):
    """Each step's values carry ``meta["quant_group"]`` (cell, k): the k-th value of every
    step is one tensor of the cell, which the quantizer gives one quantization."""
    path, _ = _rnn_file(tmp_path, "GRU", 6, 4)
    model = pj_onnx.load(path)
    groups = {}
    for v in model.main.values():
        if "quant_group" in v.meta:
            groups.setdefault(v.meta["quant_group"], []).append(v)
    assert groups and all(len(vs) >= 5 for vs in groups.values())
    assert all(len({v.shape for v in vs}) == 1 for vs in groups.values())


@pytest.mark.parametrize("op,scheme", [("GRU", "int8"), ("LSTM", "int8"), ("GRU", "int16x8"),
                                       ("LSTM", "int16x8")])
def test_quantized_rnn_runs_in_tflm_and_c_bit_exact(tmp_path, op, scheme):
    """Quantized, the unrolled layer keeps one copy of its weights (one .tflite tensor),
    its 15-step output sequence is written as concatenations of at most 10 inputs, TFLM
    runs it, and TFLM, the reference and the host C library give the same integers (the
    int8 GRU also on the emulated Cortex-M4)."""
    from opkit import run_c, run_oracle
    from picojoule.exporters.tflite import dumps
    from picojoule.importers import load_model
    from picojoule.importers.tflite import loads
    from picojoule.quantize import quantize_model

    steps, hidden = 15, 8
    path, onnx_params = _rnn_file(tmp_path, op, steps, hidden, seed=4, outputs=("Y",))
    fm = load_model(path)  # with the import passes: step 1's product with the zero state folded
    rng = np.random.default_rng(9)
    calib = [rng.standard_normal((steps, 1, 3)).astype(np.float32) for _ in range(16)]
    qm, _ = quantize_model(fm, calib, scheme=scheme, progress=False)
    data = dumps(qm)
    written = loads(data)
    assert max(len(n.inputs) for n in written.main.nodes if n.op == "CONCATENATION") <= 10
    assert _params(written) <= onnx_params + 4 * hidden * 2  # (+ step 1's folded constants)
    feeds = [[rng.standard_normal((steps, 1, 3)).astype(np.float32)] for _ in range(3)]
    ref = Interpreter(written)
    ours = [ref.run(f) for f in feeds]
    for a, b in zip(ours, run_oracle(written, feeds, "tflm", data=data)):
        assert np.array_equal(a[0], b[0])
    where = ("host", "m4") if op == "GRU" and scheme == "int8" else ("host",)
    for place, outs in run_c(written, feeds, where, name=f"rnn_{op.lower()}"):
        for k, (a, b) in enumerate(zip(outs, ours)):
            assert np.array_equal(a[0], b[0]), f"{place} feed {k}"
    # And the integers mean what the float layer computes.
    fref = Interpreter(fm)
    want = np.stack([fref.run(f)[0] for f in feeds])
    got = np.stack([o[0] for o in ours])
    err = np.sqrt(np.mean((got - want) ** 2)) / np.sqrt(np.mean(want ** 2))
    assert err < (0.05 if scheme == "int8" else 0.01), err
