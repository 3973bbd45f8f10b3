"""Static shapes at import (picojoule.passes.shapes, run by load_model) and --input-shape.

The models here are what the TF converter writes for a Keras model exported with a dynamic
batch: ``-1`` in the tensors' shape_signature, placeholder sizes in their shapes, and the
shape arithmetic of an unrolled LSTM (``SHAPE -> STRIDED_SLICE -> PACK`` feeding a ``FILL``
of the initial state and a ``RESHAPE``), built with picojoule's own writer. TFLM refuses
them (a FILL with non-constant dims); after load (resolve + fold) and export TFLM runs
them, and its outputs are the expected values picojoule's reference must match. LiteRT,
which runs dynamic shapes itself, checks the original file at batch 2.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from opkit import OracleRefused, const, q, run_oracle, tensor, variable
from oracles import assert_same
from picojoule.cli import main
from picojoule.errors import UnsupportedOpError
from picojoule.exporters.tflite import dumps
from picojoule.importers import load_model
from picojoule.importers.tflite import loads
from picojoule.ir import Graph, Model, Node, Value
from picojoule.passes.shapes import InputShapeError, StaticShapes
from picojoule.runtime import Interpreter, random_inputs

T, FEAT, UNITS = 5, 4, 8
SS = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=1,
          offset=False)
FC = dict(fused_activation_function="NONE", weights_format=0, keep_num_dims=False,
          asymmetric_quantize_inputs=False)


def _dyn(v: Value, sig) -> Value:
    v.meta["shape_signature"] = list(sig)
    return v


def _i32(*a) -> np.ndarray:
    return np.array(a, np.int32)


def _model(nodes: list[Node], inputs: list[Value], outputs: list[Value]) -> Model:
    g = Graph("main")
    g.inputs = inputs
    for n in nodes:
        g.add_node(n)
    g.outputs = outputs
    m = Model([g], source="test_shapes")
    m.verify()
    return m


def unrolled_lstm_start(dtype: str = "int8") -> Model:
    """The first steps of a converted unrolled LSTM with a dynamic batch:

    batch = STRIDED_SLICE(SHAPE(x))[0]; h0 = FILL(PACK(batch, UNITS), 0);
    flat = RESHAPE(x, PACK(batch, T*FEAT)); out = FULLY_CONNECTED(flat, W) + h0.
    Stored shapes are the converter's placeholders (batch 1, and [1, 1] for ``flat``)."""
    rng = np.random.default_rng(7)
    qi = dtype == "int8"
    qx, qh, qy, qo = ((q(0.05, 3), q(0.1, 0), q(0.2, -5), q(0.25, 1)) if qi
                      else (None,) * 4)
    x = _dyn(tensor("x", (1, T, FEAT), dtype, qx), (-1, T, FEAT))
    s = tensor("shape", (3,), "int32")
    b = tensor("batch", (), "int32")
    dims = tensor("dims", (2,), "int32")
    h0 = _dyn(tensor("h0", (1, UNITS), dtype, qh), (-1, UNITS))
    shp = tensor("flat_shape", (2,), "int32")
    flat = _dyn(tensor("flat", (1, 1), dtype, qx), (-1, -1))
    y1 = _dyn(tensor("y1", (1, UNITS), dtype, qy), (-1, UNITS))
    out = _dyn(tensor("out", (1, UNITS), dtype, qo), (-1, UNITS))
    if qi:
        w = const("w", rng.integers(-127, 128, (UNITS, T * FEAT), dtype=np.int8), quant=q(0.02))
        bias = const("bias", rng.integers(-300, 300, UNITS).astype(np.int32),
                     quant=q(0.05 * 0.02))
        zero = const("zero", np.int8(0), quant=q(0.1, 0))
    else:
        w = const("w", rng.standard_normal((UNITS, T * FEAT)).astype(np.float32))
        bias = const("bias", rng.standard_normal(UNITS).astype(np.float32))
        zero = const("zero", np.float32(0))
    nodes = [
        Node("SHAPE", [x], [s], dict(out_type="int32"), name="shape_0"),
        Node("STRIDED_SLICE", [s, const("b0", _i32(0)), const("e0", _i32(1)),
                               const("s0", _i32(1))], [b], SS, name="strided_slice_1"),
        Node("PACK", [b, const("units", np.int32(UNITS))], [dims],
             dict(values_count=2, axis=0), name="pack_2"),
        Node("FILL", [dims, zero], [h0], {}, name="fill_3"),
        Node("PACK", [b, const("feat", np.int32(T * FEAT))], [shp],
             dict(values_count=2, axis=0), name="pack_4"),
        Node("RESHAPE", [x, shp], [flat], {}, name="reshape_5"),
        Node("FULLY_CONNECTED", [flat, w, bias], [y1], FC, name="fully_connected_6"),
        Node("ADD", [y1, h0], [out], dict(fused_activation_function="NONE"), name="add_7"),
    ]
    return _model(nodes, [x], [out])


def _write(tmp_path, model: Model, name: str = "dyn.tflite"):
    path = tmp_path / name
    path.write_bytes(dumps(model))
    return path


def _tflm_agrees(model: Model, seeds=(0, 1, 2), rtol: float = 0.0) -> list:
    """TFLM on picojoule's export of ``model`` vs picojoule's reference, same inputs."""
    data = dumps(model)
    reread = loads(data)
    feeds = [random_inputs(reread.main, s) for s in seeds]
    want = run_oracle(reread, feeds, "tflm", data)
    ours = Interpreter(model)
    for k, (x, w) in enumerate(zip(feeds, want)):
        for i, (a, b) in enumerate(zip(ours.run(x), w)):
            assert_same(a, b, f"feed {k} output {i}", rtol=rtol or 1e-5)
    return want


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, want_code: int, *needles: str) -> str:
    assert code == want_code, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------ the writer
def test_writer_keeps_the_dynamic_signature():
    m = loads(dumps(unrolled_lstm_start()))
    by_name = {v.name: v for v in m.main.values()}
    assert by_name["x"].meta["shape_signature"] == [-1, T, FEAT]
    assert by_name["flat"].meta["shape_signature"] == [-1, -1]
    assert by_name["flat"].shape == (1, 1)  # the placeholder, as the converter writes it


# ------------------------------------------------------------------------------ TFLM
@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_tflm_refuses_the_dynamic_export(dtype):
    data = dumps(unrolled_lstm_start(dtype))
    m = loads(data)
    with pytest.raises(OracleRefused, match="FILL"):
        run_oracle(m, [random_inputs(m.main, 0)], "tflm", data)


def test_resolved_model_runs_in_tflm_bit_for_bit(tmp_path):
    m = load_model(_write(tmp_path, unrolled_lstm_start("int8")))
    g = m.main
    assert [n.op for n in g.nodes] == ["RESHAPE", "FULLY_CONNECTED", "ADD"]
    by_name = {v.name: v for v in g.values()}
    assert by_name["flat"].shape == (1, T * FEAT) and by_name["h0"].is_const
    report = m.meta["shapes"]
    assert report["nodes_before"] == 8 and report["nodes_after"] == 3
    assert report["folded"] == {"SHAPE": 1, "STRIDED_SLICE": 1, "PACK": 2, "FILL": 1}
    assert report["inputs"] == [{"name": "x", "signature": [-1, T, FEAT],
                                 "shape": [1, T, FEAT], "dynamic_axes": [0],
                                 "source": "default"}]
    _tflm_agrees(m)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_batch_two_runs_in_tflm(tmp_path, dtype):
    m = load_model(_write(tmp_path, unrolled_lstm_start(dtype)),
                   input_shapes={"x": (2, T, FEAT)})
    assert m.main.outputs[0].shape == (2, UNITS)
    want = _tflm_agrees(m, rtol=1e-5 if dtype == "float32" else 0.0)
    assert want[0][0].shape == (2, UNITS)


def test_batch_two_agrees_with_litert_on_the_original_file(tmp_path):
    """LiteRT resizes the original (dynamic) file itself: picojoule's resolved model at batch
    2 gives LiteRT's outputs (float32, within 1e-5)."""
    from ai_edge_litert import interpreter as litert

    path = _write(tmp_path, unrolled_lstm_start("float32"))
    it = litert.Interpreter(model_path=str(path),
                            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    it.resize_tensor_input(it.get_input_details()[0]["index"], [2, T, FEAT])
    it.allocate_tensors()
    m = load_model(path, input_shapes=(2, T, FEAT))
    x = random_inputs(m.main, 3)
    it.set_tensor(it.get_input_details()[0]["index"], x[0])
    it.invoke()
    want = it.get_tensor(it.get_output_details()[0]["index"])
    assert_same(Interpreter(m).run(x)[0], want, "batch 2 vs LiteRT")


def test_cli_run_with_batch_two_equals_tflm(tmp_path, capsys):
    path = _write(tmp_path, unrolled_lstm_start("int8"))
    out_npz = tmp_path / "out.npz"
    code, out, err = run_cli(capsys, "run", path, "--input-shape", f"x=2,{T},{FEAT}",
                             "--output", out_npz, "--json")
    assert code == 0, err
    assert json.loads(out)["outputs"]["output_0"]["shape"] == [2, UNITS]
    got = np.load(out_npz)["output_0"]
    # The inputs `run` fed (seed 0), into TFLM on the resolved batch-2 export.
    m = load_model(path, input_shapes={"x": (2, T, FEAT)})
    data = dumps(m)
    want = run_oracle(loads(data), [random_inputs(m.main, 0)], "tflm", data)[0][0]
    assert_same(got, want, "picojoule run --input-shape vs TFLM")


def test_cli_export_writes_a_static_model(tmp_path, capsys):
    path = _write(tmp_path, unrolled_lstm_start("int8"))
    out = tmp_path / "static.tflite"
    code, _, err = run_cli(capsys, "export", path, "-o", out, "--input-shape", f"3,{T},{FEAT}")
    assert code == 0, err
    m = loads(out.read_bytes())
    for v in m.main.values():
        sig = v.meta.get("shape_signature")
        assert sig is None or list(sig) == list(v.shape), (v.name, sig, v.shape)
    assert m.main.inputs[0].shape == (3, T, FEAT)
    assert not {"SHAPE", "FILL", "PACK", "STRIDED_SLICE"} & {n.op for n in m.main.nodes}
    _tflm_agrees(m)  # TFLM runs the written file as it is


# ------------------------------------------------------------------------------ errors
def _data_dependent_reshape() -> Model:
    """RESHAPE whose shape is a graph input: no static shape exists."""
    x = _dyn(tensor("x", (1, 6), "float32"), (-1, 6))
    s = tensor("s", (2,), "int32")
    y = _dyn(tensor("y", (1, 6), "float32"), (-1, -1))
    return _model([Node("RESHAPE", [x, s], [y], {}, name="reshape_0")], [x, s], [y])


def test_data_dependent_shape_is_one_error(tmp_path, capsys):
    path = _write(tmp_path, _data_dependent_reshape())
    with pytest.raises(UnsupportedOpError, match=r"RESHAPE \(node 'reshape_0'\).*input 1 's'"):
        load_model(path)
    for cmd in (["run"], ["inspect"], ["analyze", "--target", "stm32l4r5"]):
        code, _, err = run_cli(capsys, cmd[0], path, *cmd[1:])
        one_line_error(code, err, 1, "RESHAPE", "reshape_0", "re-export")


def test_a_static_model_keeps_a_data_dependent_shape(tmp_path):
    """Without -1 anywhere TFLM runs on the stored shapes, and so does picojoule."""
    m = _data_dependent_reshape()
    for v in m.main.values():
        v.meta.pop("shape_signature", None)
    loaded = load_model(_write(tmp_path, m))
    assert loaded.main.outputs[0].shape == (1, 6)
    assert any("reshape_0" in n and "kept" in n for n in loaded.meta["shapes"]["notes"])


@pytest.mark.parametrize("given,needle", [
    (["--input-shape", "nope=1,2,3"], "no input named 'nope'"),
    (["--input-shape", "x=1,two"], "positive sizes"),
    (["--input-shape", "x=0,5,4"], "positive sizes"),
    (["--input-shape", f"x=2,{T}"], "has 3 dimensions"),
    (["--input-shape", f"x=2,{T + 1},{FEAT}"], "dimension 1 is fixed"),
    (["--input-shape", "1,5,4", "--input-shape", "2,5,4"], "only for a model with one input"),
])
def test_bad_input_shape_is_a_usage_error(tmp_path, capsys, given, needle):
    path = _write(tmp_path, unrolled_lstm_start())
    code, _, err = run_cli(capsys, "inspect", path, *given)
    one_line_error(code, err, 2, "--input-shape", needle)


def test_bare_shape_needs_a_single_input_model(tmp_path):
    path = _write(tmp_path, _data_dependent_reshape())  # two inputs
    with pytest.raises(InputShapeError, match="2 inputs"):
        load_model(path, input_shapes=(2, 6))


# ------------------------------------------------------------------------------ inspect
def test_inspect_says_how_dynamic_sizes_were_resolved(tmp_path, capsys):
    path = _write(tmp_path, unrolled_lstm_start())
    code, out, _ = run_cli(capsys, "inspect", path)
    assert code == 0
    flat = " ".join(out.split())
    assert f"[-1, {T}, {FEAT}] resolved to [1, {T}, {FEAT}] (by default" in flat
    assert "8 -> 3 nodes" in flat and "FILL x1" in flat
    code, out, _ = run_cli(capsys, "inspect", path, "--json", "--input-shape", f"x=4,{T},{FEAT}")
    assert code == 0
    info = json.loads(out)
    assert info["inputs"][0]["shape"] == [4, T, FEAT]
    assert info["shapes"]["inputs"][0]["source"] == "given"
    assert info["outputs"][0]["shape"] == [4, UNITS]


def test_stored_shape_that_disagrees_is_noted(tmp_path, capsys):
    """No -1 anywhere, but the file's shape contradicts the op: the rule wins, with a note."""
    x = tensor("x", (2, 6), "float32")
    y = tensor("y", (4, 3), "float32")
    m = _model([Node("RESHAPE", [x, const("s", _i32(3, 4))], [y], {}, name="reshape_0")],
               [x], [y])
    path = _write(tmp_path, m)
    loaded = load_model(path)
    assert loaded.main.outputs[0].shape == (3, 4)
    code, out, _ = run_cli(capsys, "inspect", path)
    assert code == 0
    assert "note:" in out and "gives [4, 3], the op's rule [3, 4]" in " ".join(out.split())


# ------------------------------------------------------------------------------ folding
def test_a_graph_output_that_folds_stays_produced(tmp_path):
    """SHAPE(x) is a graph output and feeds the RESHAPE's shape: the SHAPE node stays for
    the output, the RESHAPE reads a constant, and TFLM agrees on both outputs."""
    x = _dyn(tensor("x", (1, T, FEAT), "float32"), (-1, T, FEAT))
    s = tensor("shape", (3,), "int32")
    b = tensor("batch", (), "int32")
    shp = tensor("flat_shape", (2,), "int32")
    flat = _dyn(tensor("flat", (1, 1), "float32"), (-1, -1))
    nodes = [
        Node("SHAPE", [x], [s], dict(out_type="int32"), name="shape_0"),
        Node("STRIDED_SLICE", [s, const("b0", _i32(0)), const("e0", _i32(1)),
                               const("s0", _i32(1))], [b], SS, name="strided_slice_1"),
        Node("PACK", [b, const("n", np.int32(-1))], [shp], dict(values_count=2, axis=0),
             name="pack_2"),
        Node("RESHAPE", [x, shp], [flat], {}, name="reshape_3"),
    ]
    m = load_model(_write(tmp_path, _model(nodes, [x], [s, flat])),
                   input_shapes={"x": (3, T, FEAT)})
    assert [n.op for n in m.main.nodes] == ["SHAPE", "RESHAPE"]
    assert m.main.nodes[1].inputs[1].is_const
    want = _tflm_agrees(m)
    np.testing.assert_array_equal(want[0][0], [3, T, FEAT])
    assert want[0][1].shape == (3, T * FEAT)


def test_stateful_nodes_are_never_folded(tmp_path):
    """A delay line fed by a constant keeps its state between runs: it must stay a node."""
    from flatbuffers import flexbuffers

    c = const("c", np.arange(6, dtype=np.int16))
    d = tensor("d", (6,), "int16")
    y = tensor("y", (6,), "int32")
    nodes = [Node("CUSTOM:SignalDelay", [c], [d],
                  {"custom_options": bytes(flexbuffers.Dumps({"delay_length": 2}))},
                  name="delay_0"),
             Node("CAST", [d], [y], {}, name="cast_1")]
    m = load_model(_write(tmp_path, _model(nodes, [], [y])))
    assert [n.op for n in m.main.nodes] == ["CUSTOM:SignalDelay", "CAST"]
    interp = Interpreter(m)
    first, second = interp.run([])[0], interp.run([])[0]
    assert not np.array_equal(first, second)  # the state moved on


def test_state_tensors_take_the_batch(tmp_path):
    """SVDF with a dynamic batch: its variable state [-1, F*M] follows the batch given."""
    rng = np.random.default_rng(3)
    n_in, filters, memory, units = 6, 4, 3, 2
    x = _dyn(tensor("x", (1, n_in), "float32"), (-1, n_in))
    st = _dyn(variable("state", (1, filters * memory), "float32"), (-1, filters * memory))
    y = _dyn(tensor("y", (1, units), "float32"), (-1, units))
    svdf = Node("SVDF", [x, const("wf", rng.standard_normal((filters, n_in)).astype(np.float32)),
                         const("wt", rng.standard_normal((filters, memory)).astype(np.float32)),
                         const("b", rng.standard_normal(units).astype(np.float32)), st],
                [y], dict(rank=2, fused_activation_function="NONE",
                          asymmetric_quantize_inputs=False), name="svdf_0")
    m = load_model(_write(tmp_path, _model([svdf], [x], [y])), input_shapes=(3, n_in))
    state = m.main.nodes[0].inputs[4]
    assert state.shape == (3, filters * memory) and state.variable
    want = _tflm_agrees(m, seeds=(0, 1, 2), rtol=1e-5)  # state carried over three runs
    assert want[0][0].shape == (3, units)


# ------------------------------------------------------------------------------ speed
def test_the_pass_is_fast_on_a_large_graph():
    """600 elementwise nodes behind the shape arithmetic: well under a second."""
    m = unrolled_lstm_start("float32")
    g = m.main
    prev = g.outputs[0]
    for k in range(600):
        nxt = _dyn(tensor(f"t{k}", (1, UNITS), "float32"), (-1, UNITS))
        g.add_node(Node("TANH" if k % 2 else "LOGISTIC", [prev], [nxt], {}, name=f"act_{k}"))
        prev = nxt
    g.outputs = [prev]
    t0 = time.perf_counter()
    StaticShapes({"x": (4, T, FEAT)})(m)
    elapsed = time.perf_counter() - t0
    assert g.outputs[0].shape == (4, UNITS) and len(g.nodes) == 603
    assert elapsed < 2.0, f"{elapsed:.2f} s"


# ------------------------------------------------------------------------------ ONNX
def test_onnx_input_shape(tmp_path):
    """An ONNX model with a symbolic batch: --input-shape sizes it; ONNX Runtime agrees."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "w")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(proto, str(path))
    m = load_model(path, input_shapes={"x": (5, 4)})
    assert m.main.inputs[0].shape == (5, 4) and m.main.outputs[0].shape == (5, 3)
    assert m.meta["shapes"]["inputs"][0]["signature"] == [-1, 4]
    x = random_inputs(m.main, 0)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x[0]})[0]
    assert_same(Interpreter(m).run(x)[0], want, "ONNX batch 5")
    assert load_model(path).main.inputs[0].shape == (1, 4)
    with pytest.raises(InputShapeError, match="dimension 1 is fixed"):
        load_model(path, input_shapes={"x": (5, 5)})
