"""ONNX LayerNormalization (opset 17) and its decomposed form, oracle ONNX Runtime.

Both forms must import to the same TFLite lowering (MEAN, SUB, MUL, MEAN, ADD epsilon,
RSQRT, MUL [, MUL gamma] [, ADD beta]) and compute what ONNX Runtime computes; a chain
that only looks like a layer norm (its centred value read elsewhere too) imports op by op.
A small attention block exported from PyTorch (LayerNorm, q k^T of two activations,
softmax, GELU) covers the rest of what transformers need.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from oracles import assert_same
from picojoule.errors import UnsupportedOpError
from picojoule.importers import onnx as pj_onnx
from picojoule.runtime.reference import Interpreter

F = TensorProto.FLOAT
LN_OPS = {"MEAN": 2, "SUB": 1, "RSQRT": 1}


def make(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, F, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, F, None) for n in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def check(model, tmp_path, seed=0, rtol=1e-5, scale=1.0, offset=0.0):
    """ONNX Runtime against picojoule (with and without the passes); the optimized model."""
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds = [(rng.standard_normal(i.shape) * scale + offset).astype(np.float32)
             for i in sess.get_inputs()]
    want = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), feeds)})
    for optimize in (False, True):
        pj = pj_onnx.load(path, optimize=optimize)
        pj.verify()
        got = Interpreter(pj).run(feeds)
        for k, (a, b) in enumerate(zip(got, want)):
            assert_same(a, b, f"output {k} (optimize={optimize})", rtol=rtol)
    return pj


def ops(model) -> dict[str, int]:
    out: dict[str, int] = {}
    for n in model.main.nodes:
        out[n.op] = out.get(n.op, 0) + 1
    return out


# ----------------------------------------------------------------------------- opset 17
@pytest.mark.parametrize("shape,axis,affine,eps", [
    ((1, 9, 16), -1, "both", 1e-5),
    ((2, 5, 8), 2, "scale", 1e-6),
    ((1, 4, 3, 6), -2, "both", 1e-3),    # normalised over the last two axes
    ((3, 7), 1, "none", 1e-5),
    ((1, 6, 10), -1, "bias", 1e-5),
])
def test_layer_normalization_opset17(tmp_path, shape, axis, affine, eps):
    rng = np.random.default_rng(len(shape) * 10 + abs(axis))
    width = shape[axis:]
    gamma = (rng.uniform(0.5, 1.5, width) if affine in ("both", "scale")
             else np.ones(width)).astype(np.float32)
    beta = (rng.uniform(-0.5, 0.5, width) if affine in ("both", "bias")
            else np.zeros(width)).astype(np.float32)
    node = helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=axis,
                            epsilon=eps)
    # Offset and scaled inputs: the mean and variance really matter.
    m = check(make([node], [("x", list(shape))], ["y"], [("g", gamma), ("b", beta)]),
              tmp_path, scale=3.0, offset=1.5)
    got = ops(m)
    assert all(got.get(op, 0) == k for op, k in LN_OPS.items()), got
    assert got.get("MUL", 0) == 2 + (affine in ("both", "scale"))
    assert got.get("ADD", 0) == 1 + (affine in ("both", "bias"))
    assert all(n.meta.get("layer_norm") for n in m.main.nodes if n.op in LN_OPS)


def test_layer_normalization_small_variance_rows(tmp_path):
    """Rows whose variance is near epsilon (a constant token) still match: epsilon is an
    ADD before the RSQRT, not dropped."""
    x = np.zeros((1, 4, 8), np.float32)
    x[0, 1] = 1e-3 * np.arange(8)
    x[0, 2] = 5.0
    x[0, 3] = np.linspace(-2, 2, 8)
    node = helper.make_node("LayerNormalization", ["x", "g"], ["y"], epsilon=1e-5)
    model = make([node], [("x", [1, 4, 8])], ["y"], [("g", np.ones(8, np.float32))])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    got = Interpreter(pj_onnx.load(path)).run([x])[0]
    assert_same(got, want, "constant rows", rtol=1e-5)


def test_layer_normalization_training_outputs_refused(tmp_path):
    node = helper.make_node("LayerNormalization", ["x", "g"], ["y", "mean"])
    model = make([node], [("x", [1, 4, 8])], ["y", "mean"], [("g", np.ones(8, np.float32))])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with pytest.raises(UnsupportedOpError, match="LayerNormalization.*Mean / InvStdDev"):
        pj_onnx.load(path)


# ----------------------------------------------------------------------------- decomposed
def _decomposed(square: str, opset: int, affine: bool, eps: float = 1e-5):
    """LayerNorm written out as older exporters do; ReduceMean axes as an attribute before
    opset 18 and an input from 18 on."""
    nodes, inits = [], [("eps", np.array(eps, np.float32)),
                        ("two", np.array(2.0, np.float32))]

    def reduce(x, y):
        if opset >= 18:
            return helper.make_node("ReduceMean", [x, "axes"], [y], keepdims=1)
        return helper.make_node("ReduceMean", [x], [y], axes=[-1], keepdims=1)

    if opset >= 18:
        inits.append(("axes", np.array([-1], np.int64)))
    nodes.append(reduce("x", "mean"))
    nodes.append(helper.make_node("Sub", ["x", "mean"], ["d"]))
    if square == "pow":
        nodes.append(helper.make_node("Pow", ["d", "two"], ["d2"]))
    else:
        nodes.append(helper.make_node("Mul", ["d", "d"], ["d2"]))
    nodes.append(reduce("d2", "var"))
    nodes.append(helper.make_node("Add", ["var", "eps"], ["ve"]))
    nodes.append(helper.make_node("Sqrt", ["ve"], ["std"]))
    nodes.append(helper.make_node("Div", ["d", "std"], ["n" if affine else "y"]))
    if affine:
        rng = np.random.default_rng(3)
        inits += [("g", rng.uniform(0.5, 1.5, 12).astype(np.float32)),
                  ("b", rng.uniform(-0.5, 0.5, 12).astype(np.float32))]
        nodes.append(helper.make_node("Mul", ["n", "g"], ["ng"]))
        nodes.append(helper.make_node("Add", ["ng", "b"], ["y"]))
    return make(nodes, [("x", [1, 5, 12])], ["y"], inits, opset=opset)


@pytest.mark.parametrize("square,opset,affine", [
    ("pow", 13, True), ("mul", 16, True), ("pow", 18, False), ("mul", 14, False),
])
def test_decomposed_layer_norm_is_fused(tmp_path, square, opset, affine):
    m = check(_decomposed(square, opset, affine), tmp_path, scale=2.0, offset=-1.0)
    got = ops(m)
    assert "SQRT" not in got and "DIV" not in got, got
    assert all(got.get(op, 0) == k for op, k in LN_OPS.items()), got
    # The same ops as the opset-17 node imports to.
    ln = helper.make_node("LayerNormalization", ["x", "g", "b"] if affine else ["x", "g"],
                          ["y"], epsilon=1e-5)
    rng = np.random.default_rng(3)
    inits = [("g", rng.uniform(0.5, 1.5, 12).astype(np.float32))]
    if affine:
        inits.append(("b", rng.uniform(-0.5, 0.5, 12).astype(np.float32)))
    else:
        inits[0] = ("g", np.ones(12, np.float32))
    ref = make([ln], [("x", [1, 5, 12])], ["y"], inits)
    path = tmp_path / "ref.onnx"
    onnx.save(ref, path)
    assert ops(pj_onnx.load(path)) == got


def test_look_alike_chain_is_not_fused(tmp_path):
    """The centred value also feeds an output: not a layer norm, imported op by op."""
    model = _decomposed("pow", 17, False)
    model.graph.output.append(helper.make_tensor_value_info("d", F, None))
    m = check(model, tmp_path)
    got = ops(m)
    assert "SQRT" in got and "DIV" in got and "RSQRT" not in got, got


# ----------------------------------------------------------------------------- tanh GELU
@pytest.mark.parametrize("cube", ["pow", "mul"])
def test_written_out_tanh_gelu_is_fused(tmp_path, cube):
    """``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (PyTorch before opset 20)."""
    inits = [("k3", np.array(3.0, np.float32)), ("c", np.array(0.044715, np.float32)),
             ("s", np.array(np.sqrt(2 / np.pi), np.float32)), ("one", np.array(1, np.float32)),
             ("half", np.array(0.5, np.float32))]
    nodes = ([helper.make_node("Pow", ["x", "k3"], ["x3"])] if cube == "pow" else
             [helper.make_node("Mul", ["x", "x"], ["x2"]),
              helper.make_node("Mul", ["x", "x2"], ["x3"])])
    nodes += [helper.make_node("Mul", ["c", "x3"], ["cx3"]),
              helper.make_node("Add", ["x", "cx3"], ["inner"]),
              helper.make_node("Mul", ["s", "inner"], ["z"]),
              helper.make_node("Tanh", ["z"], ["t"]),
              helper.make_node("Add", ["one", "t"], ["t1"]),
              helper.make_node("Mul", ["x", "t1"], ["xt"]),
              helper.make_node("Mul", ["half", "xt"], ["y"])]
    m = check(make(nodes, [("x", [2, 9])], ["y"], inits), tmp_path, scale=3.0)
    assert ops(m) == {"GELU": 1}
    assert m.main.nodes[0].attrs["approximate"] is True


# ----------------------------------------------------------------------------- attention
torch = pytest.importorskip("torch")


class _Block(torch.nn.Module):
    """Pre-LN attention block with a class token: LayerNorm, q k^T of two activations,
    softmax over keys (and one over queries: a non-last axis), GELU (erf and tanh)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.norm = torch.nn.LayerNorm(16, eps=1e-6)
        self.qkv = torch.nn.Linear(16, 48)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(16, 24), torch.nn.GELU(),
                                       torch.nn.Linear(24, 16), torch.nn.GELU("tanh"))
        self.cls = torch.nn.Parameter(torch.randn(1, 1, 16))

    def forward(self, x):
        x = torch.cat([self.cls, x], 1)
        q, k, v = self.qkv(self.norm(x)).reshape(1, 7, 3, 2, 8).permute(2, 0, 3, 1, 4)
        s = (q @ k.transpose(-2, -1)) * 8 ** -0.5
        a = s.softmax(-1) @ v + s.softmax(-2) @ v
        x = x + a.transpose(1, 2).reshape(1, 7, 16)
        return self.mlp(x)[:, 0]


def test_attention_block_from_torch(tmp_path):
    path = tmp_path / "block.onnx"
    x = torch.randn(1, 6, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Block().eval(), (x,), str(path), dynamo=False, opset_version=17)
    feeds = [np.random.default_rng(1).standard_normal((1, 6, 16)).astype(np.float32)]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: feeds[0]})[0]
    m = pj_onnx.load(path)
    assert_same(Interpreter(m).run(feeds)[0], want, "attention block", rtol=1e-5)
    got = ops(m)
    assert got.get("BATCH_MATMUL") == 3 and got.get("SOFTMAX") == 2, got
    assert got.get("GELU") == 2 and got.get("RSQRT") == 1, got
