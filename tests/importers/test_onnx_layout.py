"""The layout pass (NCHW -> NHWC, transposes removed) and the folding passes on small graphs.

Expected values are computed with numpy from the graph's definition (or ONNX Runtime for
ONNX models), never from picojoule.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from oracles import assert_same
from picojoule.importers import onnx as pj_onnx
from picojoule.ir import Graph, Model, Node, Value
from picojoule.passes.fold import FoldBatchNorm, FuseActivations
from picojoule.passes.layout import LayoutToNHWC
from picojoule.runtime.reference import Interpreter


def _t(g: Graph, x: Value, perm, name: str) -> Value:
    y = Value(name, tuple(x.shape[p] for p in perm), x.dtype)
    p = Value(f"{name}/perm", (len(perm),), "int32", data=np.array(perm, np.int32))
    g.add_node(Node("TRANSPOSE", [x, p], [y], name=name))
    return y


def _c(name: str, arr) -> Value:
    arr = np.asarray(arr, np.float32)
    return Value(name, arr.shape, "float32", data=arr)


def _ops(m: Model) -> list[str]:
    return [n.op for n in m.main.nodes]


def test_pair_cancels_through_elementwise_and_constant_operand():
    rng = np.random.default_rng(0)
    g = Graph()
    x = Value("x", (1, 4, 5, 3), "float32")       # NHWC
    g.inputs = [x]
    a = _t(g, x, (0, 3, 1, 2), "to_nchw")         # (1, 3, 4, 5)
    c = rng.standard_normal((3, 1, 1)).astype(np.float32)
    s = Value("s", a.shape, "float32")
    g.add_node(Node("ADD", [a, _c("c", c)], [s], {"fused_activation_function": "NONE"}))
    r = Value("r", a.shape, "float32")
    g.add_node(Node("RELU", [s], [r]))
    y = _t(g, r, (0, 2, 3, 1), "to_nhwc")
    g.outputs = [y]
    m = LayoutToNHWC()(Model([g])).model
    assert "TRANSPOSE" not in _ops(m)
    xin = rng.standard_normal((1, 4, 5, 3)).astype(np.float32)
    want = np.maximum(xin + c.reshape(1, 1, 1, 3), 0)
    assert_same(Interpreter(m).run([xin])[0], want, "ADD+RELU")


def test_transposed_constant_is_folded_and_output_transpose_kept():
    g = Graph()
    x = Value("x", (2, 3), "float32")
    g.inputs = [x]
    k = np.arange(6, dtype=np.float32).reshape(3, 2)
    kt = _t(g, _c("k", k), (1, 0), "kt")
    s = Value("s", (2, 3), "float32")
    g.add_node(Node("MUL", [x, kt], [s], {"fused_activation_function": "NONE"}))
    y = _t(g, s, (1, 0), "y")
    g.outputs = [y]
    m = LayoutToNHWC()(Model([g])).model
    assert _ops(m).count("TRANSPOSE") == 1     # the graph output's own layout is kept
    xin = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    assert_same(Interpreter(m).run([xin])[0], (xin * k.T).T, "MUL")


def test_flatten_transpose_folded_into_fully_connected_weights():
    rng = np.random.default_rng(2)
    g = Graph()
    x = Value("x", (1, 2, 3, 4), "float32")      # NHWC
    g.inputs = [x]
    a = _t(g, x, (0, 3, 1, 2), "nchw")
    flat = Value("flat", (1, 24), "float32")
    g.add_node(Node("RESHAPE", [a, Value("sh", (2,), "int32", data=np.array([1, 24], np.int32))],
                    [flat], {"new_shape": [1, 24]}))
    w = rng.standard_normal((5, 24)).astype(np.float32)
    y = Value("y", (1, 5), "float32")
    g.add_node(Node("FULLY_CONNECTED", [flat, _c("w", w), None], [y],
                    {"fused_activation_function": "NONE"}))
    g.outputs = [y]
    m = LayoutToNHWC()(Model([g])).model
    assert _ops(m) == ["RESHAPE", "FULLY_CONNECTED"]
    xin = rng.standard_normal((1, 2, 3, 4)).astype(np.float32)
    want = xin.transpose(0, 3, 1, 2).reshape(1, -1) @ w.T
    assert_same(Interpreter(m).run([xin])[0], want, "FC")


def test_converter_left_transposes_in_onnx_are_removed(tmp_path):
    """A model that transposes to NHWC and back around its ops (as converters write)."""
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Transpose", ["x"], ["a"], perm=[0, 2, 3, 1]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("Mul", ["b", "k"], ["c"]),
        helper.make_node("Transpose", ["c"], ["d"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["d", "w"], ["e"], kernel_shape=[1, 1]),
        helper.make_node("Transpose", ["e"], ["f"], perm=[0, 2, 3, 1]),
        helper.make_node("Transpose", ["f"], ["g"], perm=[0, 3, 1, 2]),
        helper.make_node("Concat", ["g", "d"], ["h"], axis=1),
        helper.make_node("Pad", ["h", "pads"], ["i"]),
        helper.make_node("ReduceMean", ["i"], ["y"], axes=[2, 3], keepdims=0),
    ]
    inits = [numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "k"),
             numpy_helper.from_array(rng.standard_normal((2, 3, 1, 1)).astype(np.float32),
                                     "w"),
             numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64), "pads")]
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             [1, 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "t.onnx"
    onnx.save(model, path)
    xin = rng.standard_normal((1, 3, 4, 5)).astype(np.float32)
    want = ort.InferenceSession(str(path)).run(None, {"x": xin})[0]
    pj = pj_onnx.load(path, nhwc_inputs=True)
    pj.verify()
    assert "TRANSPOSE" not in _ops(pj)
    got = Interpreter(pj).run([np.ascontiguousarray(xin.transpose(0, 2, 3, 1))])[0]
    assert_same(got, want, "converter transposes")


def test_fold_batchnorm_and_fuse_relu():
    rng = np.random.default_rng(4)
    g = Graph()
    x = Value("x", (1, 5, 5, 2), "float32")
    g.inputs = [x]
    w = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    c = Value("c", (1, 5, 5, 3), "float32")
    g.add_node(Node("CONV_2D", [x, _c("w", w), _c("b", b)], [c],
                    {"padding": "SAME", "stride_h": 1, "stride_w": 1,
                     "fused_activation_function": "NONE"}))
    mul, add = rng.uniform(0.5, 2, 3).astype(np.float32), rng.standard_normal(3).astype(
        np.float32)
    m1 = Value("m1", c.shape, "float32")
    g.add_node(Node("MUL", [c, _c("mul", mul.reshape(1, 1, 1, 3))], [m1],
                    {"fused_activation_function": "NONE"}))
    a1 = Value("a1", c.shape, "float32")
    g.add_node(Node("ADD", [m1, _c("add", add)], [a1], {"fused_activation_function": "NONE"}))
    y = Value("y", c.shape, "float32")
    g.add_node(Node("RELU", [a1], [y]))
    g.outputs = [y]
    model = FuseActivations()(FoldBatchNorm()(Model([g])).model).model
    assert _ops(model) == ["CONV_2D"]
    assert model.main.nodes[0].attrs["fused_activation_function"] == "RELU"
    xin = rng.standard_normal((1, 5, 5, 2)).astype(np.float32)
    xp = np.pad(xin.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = np.zeros((1, 5, 5, 3))
    for i in range(5):
        for j in range(5):
            conv[0, i, j] = np.einsum("hwc,ohwc->o", xp[0, i:i + 3, j:j + 3], w) + b
    want = np.maximum(conv * mul + add, 0).astype(np.float32)
    assert_same(Interpreter(model).run([xin])[0], want, "folded conv")


def test_nhwc_inputs_and_outputs_leave_no_transpose(tmp_path):
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"]),
             helper.make_node("MaxPool", ["y"], ["p"], kernel_shape=[2, 2], strides=[2, 2])]
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
                                     "w"),
             numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 6])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y", "p")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "c.onnx"
    onnx.save(model, path)
    xin = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    want = ort.InferenceSession(str(path)).run(None, {"x": xin})
    pj = pj_onnx.load(path, nhwc_inputs=True, nhwc_outputs=True, batch_size=2)
    pj.verify()
    assert "TRANSPOSE" not in _ops(pj)
    assert [v.shape for v in pj.main.outputs] == [(2, 6, 6, 4), (2, 3, 3, 4)]
    assert [v.name for v in pj.main.outputs] == ["y", "p"]
    got = Interpreter(pj).run([np.ascontiguousarray(xin.transpose(0, 2, 3, 1))])
    for g, w in zip(got, want):
        assert_same(g, np.ascontiguousarray(w.transpose(0, 2, 3, 1)), "NHWC output")
    plain = pj_onnx.load(path, batch_size=2)        # default: ONNX layout at the boundary
    assert [v.shape for v in plain.main.outputs] == [(2, 4, 6, 6), (2, 4, 3, 3)]
    for g, w in zip(Interpreter(plain).run([xin]), want):
        assert_same(g, w, "NCHW output")
