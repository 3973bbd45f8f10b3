"""ONNX import of older opsets (upgraded with onnx.version_converter), graphs stored out of
order, and the activations lowered in onnx_ops/activations_extra.py (Selu, Celu, Softplus,
Mish, Softsign): models built with onnx.helper, run in ONNX Runtime (the oracle) and in
picojoule's reference interpreter (raw import and with the layout / folding passes), outputs
within 1e-5 of the output's magnitude. One chain of the activations also runs as generated C.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from oracles import assert_same

from picojoule.errors import UnsupportedOpError
from picojoule.importers import load_model
from picojoule.importers import onnx as pj_onnx
from picojoule.runtime import Interpreter

F = TensorProto.FLOAT
FIELD = Path("/work/fieldmodels/zoo/onnx")


def make(nodes, inputs, outputs, inits=(), opset=17, ir_version=7):
    """A model from nodes; inputs/outputs are (name, shape) pairs (outputs' shapes inferred)."""
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, F, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, F, None) for n in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir_version
    return m


def ort_run(path: Path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), feeds)})


def check(model, tmp_path, *feed_sets, name="m", rtol=1e-5):
    """ONNX Runtime and picojoule (raw and optimized import) agree on every set of input
    arrays; returns the optimized import."""
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    for optimize in (False, True):
        pj = pj_onnx.load(path, optimize=optimize)
        for j, feeds in enumerate(feed_sets):
            expected = ort_run(path, feeds)
            got = Interpreter(pj).run(feeds)
            assert len(got) == len(expected)
            for k, (a, b) in enumerate(zip(got, expected)):
                assert_same(a, b, f"{name} feeds {j} output {k} (optimize={optimize})",
                            rtol=rtol)
    return pj


def spread(rng, *shape, scale=4.0, extremes=True) -> np.ndarray:
    """Values of both signs; with ``extremes``, zeros and +-60, +-100 among them (the
    tolerance then scales with 100: compare moderate values as well)."""
    x = rng.standard_normal(shape) * scale
    if extremes:
        flat = x.reshape(-1)
        k = min(6, flat.size)
        flat[:k] = [0.0, -0.0, 60.0, -60.0, 100.0, -100.0][:k]
    return x.astype(np.float32)


# --------------------------------------------------------------------------- activations
ACTIVATIONS = [
    ("Selu", {}, 14), ("Selu", {"alpha": 1.3, "gamma": 0.8}, 13),
    ("Selu", {"alpha": 0.5, "gamma": -1.5}, 13),
    ("Celu", {}, 13), ("Celu", {"alpha": 0.7}, 13), ("Celu", {"alpha": 2.5}, 17),
    ("Softplus", {}, 13), ("Mish", {}, 18), ("Softsign", {}, 13),
]


@pytest.mark.parametrize("op,attrs,opset", ACTIVATIONS,
                         ids=[f"{o}-{i}" for i, (o, _, _) in enumerate(ACTIVATIONS)])
def test_activation(tmp_path, op, attrs, opset):
    rng = np.random.default_rng(len(op) + len(attrs))
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    m = check(make([node], [("x", [2, 3, 5, 4])], ["y"], opset=opset), tmp_path,
              [spread(rng, 2, 3, 5, 4, scale=2.0, extremes=False)], [spread(rng, 2, 3, 5, 4)])
    ops = {n.op for n in m.main.nodes}
    assert ops <= {"MUL", "ADD", "MINIMUM", "ELU", "RELU", "ABS", "NEG", "EXP", "LOG", "TANH",
                   "DIV", "TRANSPOSE"}, ops


def test_selu_by_hand(tmp_path):
    """SELU's defining values (alpha 1.6733, gamma 1.0507) at a few points."""
    node = helper.make_node("Selu", ["x"], ["y"])
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0], np.float32)
    path = tmp_path / "selu.onnx"
    onnx.save(make([node], [("x", [5])], ["y"], opset=13), path)
    got = Interpreter(pj_onnx.load(path)).run([x])[0]
    a, g = 1.6732632423543772, 1.0507009873554805
    want = np.where(x > 0, g * x, g * a * np.expm1(x.astype(np.float64)))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_activations_in_c_match_onnxruntime(tmp_path):
    """A chain of the lowered activations as generated C on the host."""
    from picojoule.backends import host

    nodes = [helper.make_node("Selu", ["x"], ["a"]),
             helper.make_node("Celu", ["a"], ["b"], alpha=0.6),
             helper.make_node("Mish", ["b"], ["c"]),
             helper.make_node("Softsign", ["c"], ["d"]),
             helper.make_node("Softplus", ["d"], ["y"])]
    path = tmp_path / "chain.onnx"
    onnx.save(make(nodes, [("x", [1, 4, 6, 3])], ["y"], opset=18), path)
    rng = np.random.default_rng(9)
    feeds = [[spread(rng, 1, 4, 6, 3, scale=2.0)] for _ in range(2)]
    model = load_model(path, nhwc=False)
    lib = host.build(model, name="chain")
    for x in feeds:
        want = ort_run(path, x)[0]
        assert_same(Interpreter(model).run(x)[0], want, "reference")
        assert_same(lib.run(x)[0], want, "host C")


def test_non_float_activation_is_refused(tmp_path):
    g = helper.make_graph([helper.make_node("Softsign", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [3])],
                          [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [3])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    path = tmp_path / "d.onnx"
    onnx.save(m, path)
    with pytest.raises(UnsupportedOpError, match="Softsign.*float64"):
        pj_onnx.load(path)


# --------------------------------------------------------------------------- old opsets
def _cnn_opset11(rng) -> tuple:
    """Conv, BatchNormalization, Relu, Clip (min/max inputs), MaxPool, Pad, Flatten, Gemm and
    Softmax over a 3-D tensor at axis 1, whose opset-11 meaning (flatten from axis 1, then
    normalise each row) differs from opset 13's (along axis 1 alone)."""
    c = 3
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "o", "mu", "var"], ["bn"],
                         epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("Clip", ["r", "lo", "hi"], ["cl"]),
        helper.make_node("MaxPool", ["cl"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Pad", ["p", "pads"], ["pp"], mode="constant"),
        helper.make_node("Flatten", ["pp"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "g", "gb"], ["z"], transB=1),
        helper.make_node("Reshape", ["z", "shape3"], ["z3"]),
        helper.make_node("Softmax", ["z3"], ["y"], axis=1),
    ]
    inits = [("w", rng.standard_normal((c, 2, 3, 3)).astype(np.float32) * 0.5),
             ("b", rng.standard_normal(c).astype(np.float32)),
             ("s", rng.uniform(0.5, 1.5, c).astype(np.float32)),
             ("o", rng.standard_normal(c).astype(np.float32)),
             ("mu", rng.standard_normal(c).astype(np.float32)),
             ("var", rng.uniform(0.5, 2, c).astype(np.float32)),
             ("lo", np.array(0.1, np.float32)), ("hi", np.array(2.5, np.float32)),
             ("pads", np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64)),
             ("g", rng.standard_normal((12, c * 4 * 3)).astype(np.float32) * 0.3),
             ("gb", rng.standard_normal(12).astype(np.float32)),
             ("shape3", np.array([1, 3, 4], np.int64))]
    return nodes, [("x", [1, 2, 6, 4])], ["y"], inits


def test_opset11_model_is_upgraded(tmp_path):
    rng = np.random.default_rng(1)
    nodes, ins, outs, inits = _cnn_opset11(rng)
    model = make(nodes, ins, outs, inits, opset=11, ir_version=6)
    m = check(model, tmp_path, [rng.standard_normal((1, 2, 6, 4)).astype(np.float32)])
    assert m.meta["onnx_opset_upgraded_from"] == 11
    assert m.meta["onnx_opset"] == 13


def test_opset_below_11_attributes_are_upgraded(tmp_path):
    """Opset 9/10 spellings: Upsample, Clip and Pad with attributes, Squeeze/Unsqueeze axes
    attributes, Split's split attribute, Dropout with a ratio attribute."""
    rng = np.random.default_rng(2)
    nodes = [
        helper.make_node("Upsample", ["x", "scales"], ["u"], mode="nearest"),
        helper.make_node("Clip", ["u"], ["cl"], min=-0.5, max=1.5),
        helper.make_node("Pad", ["cl"], ["p"], pads=[0, 0, 1, 0, 0, 0, 1, 2], value=0.25),
        helper.make_node("Split", ["p"], ["s1", "s2"], axis=3, split=[2, 8]),
        helper.make_node("Unsqueeze", ["s1"], ["us"], axes=[0]),
        helper.make_node("Squeeze", ["us"], ["sq"], axes=[0]),
        helper.make_node("Dropout", ["sq"], ["d"], ratio=0.3),
        helper.make_node("Add", ["d", "d"], ["y"]),
        helper.make_node("Relu", ["s2"], ["y2"]),
    ]
    inits = [("scales", np.array([1, 1, 2, 2], np.float32))]
    model = make(nodes, [("x", [1, 2, 3, 4])], ["y", "y2"], inits, opset=9, ir_version=4)
    m = check(model, tmp_path, [rng.standard_normal((1, 2, 3, 4)).astype(np.float32)])
    assert m.meta["onnx_opset_upgraded_from"] == 9


def test_failed_upgrade_is_one_line(tmp_path):
    node = helper.make_node("NotAnOnnxOp", ["x"], ["y"])
    path = tmp_path / "bad.onnx"
    onnx.save(make([node], [("x", [3])], ["y"], opset=11), path)
    with pytest.raises(UnsupportedOpError) as info:
        pj_onnx.load(path)
    msg = str(info.value)
    assert "opset 11" in msg and "version_converter" in msg and "schema" in msg, msg
    assert "\n" not in msg


def test_current_opsets_are_not_converted(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    path = tmp_path / "m.onnx"
    onnx.save(make([node], [("x", [3])], ["y"], opset=13), path)
    assert "onnx_opset_upgraded_from" not in pj_onnx.load(path).meta


def test_nodes_stored_out_of_order(tmp_path):
    """keras2onnx wrote its graphs backwards; ONNX Runtime sorts them, so does picojoule."""
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Softmax", ["h"], ["y"], axis=-1),
             helper.make_node("Add", ["m", "b"], ["h"]),
             helper.make_node("MatMul", ["r", "w"], ["m"]),
             helper.make_node("Relu", ["x"], ["r"])]
    inits = [("w", rng.standard_normal((6, 4)).astype(np.float32)),
             ("b", rng.standard_normal(4).astype(np.float32))]
    model = make(nodes, [("x", [2, 6])], ["y"], inits, opset=13)
    check(model, tmp_path, [rng.standard_normal((2, 6)).astype(np.float32)])


# --------------------------------------------------------------------------- field models
@pytest.mark.parametrize("name,opset", [("keras2onnx_mnist_sm_opset10.onnx", 10),
                                        ("pytorch_cnn_mnist_opset11.onnx", 11),
                                        ("cifar100edge_selu_opset14.onnx", None)])
def test_field_models_match_onnxruntime(name, opset):
    """Third-party exports (see /work/fieldmodels/MANIFEST.md), when that folder exists."""
    path = FIELD / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    model = load_model(path, nhwc=False)
    assert model.meta.get("onnx_opset_upgraded_from") == opset
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for _ in range(2):
        feeds = [rng.standard_normal([d if isinstance(d, int) and d > 0 else 1
                                      for d in i.shape]).astype(np.float32)
                 for i in sess.get_inputs()]
        want = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), feeds)})
        for k, (a, b) in enumerate(zip(Interpreter(model).run(feeds), want)):
            assert_same(a, b, f"{name} output {k}")
