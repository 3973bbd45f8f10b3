"""The layout pass (NCHW -> NHWC, transposes removed) and the folding passes on small graphs.

Expected values are computed with numpy from the graph's definition (or ONNX Runtime for
ONNX models), never from picojoule.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
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


# ------------------------------------------------ squeeze-excite, hard-swish, 1-D, upsampling
# PyTorch blocks as torch.onnx.export writes them (opset 17, TorchScript exporter), imported
# with picojoule's default I/O layout (channels last): no TRANSPOSE may be left anywhere, and
# the outputs are ONNX Runtime's.

def _torch():
    return pytest.importorskip("torch", reason="PyTorch exports these blocks")


def _export(module, shape, path, seed: int = 0):
    """Export ``module`` (eval, seeded BatchNorm statistics) and return its ONNX path."""
    torch = _torch()
    torch.manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(module, torch.zeros(shape), str(path), opset_version=17,
                          dynamo=False, input_names=["x"], output_names=["y"])
    return path


def _channels_last(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)) if a.ndim >= 3 else a


def _check_no_transpose(path, shape, seed: int = 0):
    """Import ``path`` channels-last; assert no TRANSPOSE and ONNX Runtime's outputs."""
    xin = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    want = ort.InferenceSession(str(path)).run(None, {"x": xin})[0]
    pj = pj_onnx.load(path, nhwc_inputs=True, nhwc_outputs=True)
    pj.verify()
    assert "TRANSPOSE" not in _ops(pj), _ops(pj)
    got = Interpreter(pj).run([_channels_last(xin)])[0]
    assert_same(got, _channels_last(want) if want.ndim >= 3 else want, str(path))
    return pj


def _se_module(kind: str):
    """Conv + squeeze-excite (mean, reduce, ReLU, expand, hard-sigmoid gate, multiply) +
    pointwise conv, as timm's MobileNetV3 writes it (``mean``: ReduceMean keepdims, 1x1
    convs), with adaptive pooling (``pool``: GlobalAveragePool) or with Linear layers."""
    linear = kind == "linear"
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional

    class SE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, groups=1),
                                      nn.BatchNorm2d(16), nn.Hardswish())
            if linear:
                self.reduce, self.expand = nn.Linear(16, 8), nn.Linear(8, 16)
            else:
                self.reduce, self.expand = nn.Conv2d(16, 8, 1), nn.Conv2d(8, 16, 1)
            self.pw = nn.Conv2d(16, 4, 1)

        def forward(self, x):
            x = self.conv(x)
            if linear:
                s = self.expand(torch.relu(self.reduce(x.mean((2, 3)))))
                s = s.view(s.shape[0], -1, 1, 1)
            else:
                m = F.adaptive_avg_pool2d(x, 1) if kind == "pool" else x.mean((2, 3), True)
                s = self.expand(torch.relu(self.reduce(m)))
            return self.pw(x * F.hardsigmoid(s))

    return SE()


@pytest.mark.parametrize("kind", ["mean", "pool", "linear"])
def test_squeeze_excite_block_leaves_no_transpose(tmp_path, kind):
    """The SE input is read twice (MEAN and the gating MUL) and the gate is (N, C, 1, 1):
    both move to NHWC, the hard-sigmoid folds into the expand layer, ReLU fuses."""
    path = _export(_se_module(kind), (1, 3, 8, 8), tmp_path / "se.onnx")
    pj = _check_no_transpose(path, (1, 3, 8, 8))
    ops = _ops(pj)
    assert "RELU" not in ops and ops.count("MUL") == 1, ops
    # ONNX's own layout at the boundary: the two edge transposes, nothing inside.
    plain = pj_onnx.load(path)
    ts = [n for n in plain.main.nodes if n.op == "TRANSPOSE"]
    assert len(ts) == 2 and ts[0].inputs[0] is plain.main.inputs[0] and \
        ts[1].outputs[0] is plain.main.outputs[0]


def test_hard_swish_blocks_leave_no_transpose(tmp_path):
    """HardSwish between convolutions, and the x * HardSigmoid(x) form older exports write
    (a transposed value with two readers)."""
    torch = _torch()
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Hardswish(),
                        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.BatchNorm2d(8),
                        nn.Hardswish(), nn.Conv2d(8, 4, 1))
    path = _export(net, (1, 3, 6, 6), tmp_path / "hs.onnx")
    assert _ops(_check_no_transpose(path, (1, 3, 6, 6))).count("HARD_SWISH") == 2
    rng = np.random.default_rng(6)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("HardSigmoid", ["c"], ["g"], alpha=1 / 6, beta=0.5),
             helper.make_node("Mul", ["c", "g"], ["h"]),
             helper.make_node("Conv", ["h", "w2"], ["y"], kernel_shape=[1, 1])]
    inits = [numpy_helper.from_array(rng.standard_normal((5, 3, 1, 1)).astype(np.float32),
                                     "w"),
             numpy_helper.from_array(rng.standard_normal((2, 5, 1, 1)).astype(np.float32),
                                     "w2")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "hs13.onnx")
    _check_no_transpose(tmp_path / "hs13.onnx", (1, 3, 4, 4))


def test_conv1d_relu_fuses_and_leaves_no_transpose(tmp_path):
    """Conv1d + BatchNorm1d + ReLU: the (N, C, L) input becomes (N, L, C), every ReLU fuses
    into its CONV_2D (no RESHAPE left between them)."""
    torch = _torch()
    nn = torch.nn
    net = nn.Sequential(nn.Conv1d(6, 8, 3, padding=1), nn.BatchNorm1d(8), nn.ReLU(),
                        nn.Conv1d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv1d(8, 4, 1), nn.ReLU6())
    path = _export(net, (1, 6, 20), tmp_path / "c1d.onnx")
    pj = _check_no_transpose(path, (1, 6, 20))
    assert pj.main.inputs[0].shape == (1, 20, 6) and pj.main.outputs[0].shape == (1, 10, 4)
    assert [n.op for n in pj.main.nodes if n.op not in ("RESHAPE", "PAD")] == ["CONV_2D"] * 3
    assert [n.attrs["fused_activation_function"] for n in pj.main.nodes
            if n.op == "CONV_2D"] == ["RELU", "RELU", "RELU6"]


def test_sequence_input_read_as_it_is_keeps_its_layout(tmp_path):
    """A 3-D input a Linear reads as (N, T, F) is not channels-first: it keeps its shape."""
    torch = _torch()
    path = _export(torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU()), (1, 5, 6),
                   tmp_path / "seq.onnx")
    pj = pj_onnx.load(path, nhwc_inputs=True, nhwc_outputs=True)
    assert pj.main.inputs[0].shape == (1, 5, 6) and pj.main.outputs[0].shape == (1, 5, 4)
    assert "TRANSPOSE" not in _ops(pj)
    xin = np.random.default_rng(0).standard_normal((1, 5, 6)).astype(np.float32)
    assert_same(Interpreter(pj).run([xin])[0],
                ort.InferenceSession(str(path)).run(None, {"x": xin})[0], "sequence")


@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False),
                                        ("bilinear", True)])
def test_upsampling_leaves_no_transpose(tmp_path, mode, align):
    """nn.Upsample / F.interpolate between convolutions (ONNX Resize with scales)."""
    torch = _torch()
    nn = torch.nn

    class Up(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 2, 1)

        def forward(self, x):
            u = nn.functional.interpolate(torch.relu(self.a(x)), scale_factor=2, mode=mode,
                                          align_corners=align)
            return self.b(u)

    path = _export(Up(), (1, 3, 5, 4), tmp_path / "up.onnx")
    op = "RESIZE_NEAREST_NEIGHBOR" if mode == "nearest" else "RESIZE_BILINEAR"
    assert op in _ops(_check_no_transpose(path, (1, 3, 5, 4)))


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_with_sizes_input_leaves_no_transpose(tmp_path, mode):
    """ONNX Resize given output ``sizes`` (not scales), around a transposed convolution."""
    rng = np.random.default_rng(7)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("Resize", ["c", "", "", "sizes"], ["r"], mode=mode,
                              coordinate_transformation_mode="asymmetric"
                              if mode == "nearest" else "half_pixel",
                              nearest_mode="floor"),
             helper.make_node("ConvTranspose", ["r", "wt"], ["y"], kernel_shape=[2, 2],
                              strides=[2, 2])]
    inits = [numpy_helper.from_array(rng.standard_normal((4, 3, 1, 1)).astype(np.float32),
                                     "w"),
             numpy_helper.from_array(np.array([1, 4, 6, 9], np.int64), "sizes"),
             numpy_helper.from_array(rng.standard_normal((4, 2, 2, 2)).astype(np.float32),
                                     "wt")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "rs.onnx")
    ops = _ops(_check_no_transpose(tmp_path / "rs.onnx", (1, 3, 3, 3)))
    assert "TRANSPOSE_CONV" in ops
