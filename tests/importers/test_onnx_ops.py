"""ONNX importer, op by op: single-op models built with onnx.helper, oracle ONNX Runtime.

Each test builds small models (random shapes and attributes from fixed seeds), runs them in
ONNX Runtime and in picojoule's reference interpreter (after import with and without the
layout/folding passes) and compares every output within 1e-5 of the output's magnitude.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from oracles import assert_same
from picojoule.errors import ModelFormatError, UnsupportedOpError
from picojoule.importers import onnx as pj_onnx
from picojoule.runtime.reference import Interpreter

F = TensorProto.FLOAT


def make(nodes, inputs, outputs, inits=(), opset=17):
    """A model from nodes; inputs/outputs are (name, shape) pairs (outputs' shapes inferred)."""
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, F, s) for n, s in inputs],
        [helper.make_tensor_value_info(n, F, None) for n in outputs],
        [numpy_helper.from_array(np.asarray(a), n) for n, a in inits])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def check(model, tmp_path, feeds=None, seed=0, rtol=1e-5, name="m"):
    """Run ``model`` in ONNX Runtime and picojoule (raw and optimized); compare outputs."""
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    if feeds is None:
        feeds = [rng.standard_normal([d if isinstance(d, int) and d > 0 else 1
                                      for d in i.shape]).astype(np.float32)
                 for i in sess.get_inputs()]
    expected = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), feeds)})
    for optimize in (False, True):
        pj = pj_onnx.load(path, optimize=optimize)
        pj.verify()
        got = Interpreter(pj).run(feeds)
        assert len(got) == len(expected)
        for k, (a, b) in enumerate(zip(got, expected)):
            assert_same(a, b, f"{name} output {k} (optimize={optimize})", rtol=rtol)
    return pj


def rand(rng, *shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


# --------------------------------------------------------------------------- convolution
@pytest.mark.parametrize("seed", range(12))
def test_conv_random(tmp_path, seed):
    rng = np.random.default_rng(seed)
    kind = ["plain", "depthwise", "grouped", "conv1d"][seed % 4]
    c = int(rng.integers(1, 5)) * (2 if kind == "grouped" else 1)
    group = {"plain": 1, "depthwise": c, "grouped": 2, "conv1d": 1}[kind]
    mult = int(rng.integers(1, 3))
    m = group * mult if kind != "plain" else int(rng.integers(1, 6))
    if kind == "conv1d":
        m = int(rng.integers(1, 6))
    ks = [int(rng.integers(1, 4)) for _ in range(2)]
    spatial = [int(rng.integers(5, 10)) for _ in range(2)]
    if kind == "conv1d":
        ks, spatial = ks[:1], spatial[:1]
    n = len(ks)
    attrs = {"group": group, "strides": [int(rng.integers(1, 3)) for _ in range(n)],
             "dilations": [int(rng.integers(1, 3)) for _ in range(n)], "kernel_shape": ks}
    style = seed % 3
    if style == 0:
        attrs["pads"] = [int(rng.integers(0, 3)) for _ in range(2 * n)]   # asymmetric too
    elif style == 1:
        attrs["auto_pad"] = "SAME_UPPER" if seed % 2 else "SAME_LOWER"
        attrs["dilations"] = [1] * n  # ONNX Runtime rejects dilated SAME convolutions
    w = rand(rng, m, c // group, *ks)
    ins = ["x", "w"]
    inits = [("w", w)]
    if seed % 2 == 0:
        ins.append("b")
        inits.append(("b", rand(rng, m)))
    node = helper.make_node("Conv", ins, ["y"], **attrs)
    check(make([node], [("x", [1, c, *spatial])], ["y"], inits), tmp_path, seed=seed)


def test_conv_same_padding_maps_to_tflite_same(tmp_path):
    rng = np.random.default_rng(0)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3],
                            pads=[1, 1, 1, 1])
    m = check(make([node], [("x", [1, 2, 6, 6])], ["y"],
                   [("w", rand(rng, 4, 2, 3, 3)), ("b", rand(rng, 4))]), tmp_path)
    conv = [n for n in m.main.nodes if n.op == "CONV_2D"]
    assert len(conv) == 1 and conv[0].attrs["padding"] == "SAME"
    assert "PAD" not in [n.op for n in m.main.nodes]


@pytest.mark.parametrize("seed", range(6))
def test_conv_transpose_random(tmp_path, seed):
    rng = np.random.default_rng(100 + seed)
    c, m = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    k = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    s = [int(rng.integers(1, 3)), int(rng.integers(1, 3))]
    attrs = {"kernel_shape": k, "strides": s}
    if seed % 3 == 0:
        attrs["pads"] = [int(rng.integers(0, k[0])), int(rng.integers(0, k[1])),
                         int(rng.integers(0, k[0])), int(rng.integers(0, k[1]))]
    elif seed % 3 == 1:
        attrs["output_padding"] = [int(rng.integers(0, s[0])), int(rng.integers(0, s[1]))]
    else:
        attrs["output_shape"] = [5 * s[0], 4 * s[1]]
        attrs["auto_pad"] = "SAME_UPPER"
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)
    check(make([node], [("x", [1, c, 5, 4])], ["y"],
               [("w", rand(rng, c, m, *k)), ("b", rand(rng, m))]), tmp_path, seed=seed)


# --------------------------------------------------------------------------- dense
@pytest.mark.parametrize("seed", range(6))
def test_gemm_random(tmp_path, seed):
    rng = np.random.default_rng(200 + seed)
    mm, k, n = int(rng.integers(1, 4)), int(rng.integers(2, 7)), int(rng.integers(1, 6))
    ta, tb = seed % 2, (seed // 2) % 2
    attrs = {"transA": ta, "transB": tb, "alpha": float(rng.uniform(0.5, 2)),
             "beta": float(rng.uniform(0.5, 2))}
    a_shape = [k, mm] if ta else [mm, k]
    b = rand(rng, *([n, k] if tb else [k, n]))
    c_shape = [[n], [1, n], [mm, n]][seed % 3]
    inits = [("b", b), ("c", rand(rng, *c_shape))]
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], **attrs)
    check(make([node], [("a", a_shape)], ["y"], inits), tmp_path, seed=seed)


def test_gemm_and_matmul_with_runtime_operands(tmp_path):
    nodes = [helper.make_node("Gemm", ["a", "b"], ["y"], transB=1),
             helper.make_node("MatMul", ["p", "q"], ["z"])]
    check(make(nodes, [("a", [2, 3]), ("b", [4, 3]), ("p", [2, 3, 4]), ("q", [2, 4, 5])],
               ["y", "z"]), tmp_path)


@pytest.mark.parametrize("shape", [[5], [3, 5], [2, 3, 5]])
def test_matmul_constant_weights(tmp_path, shape):
    rng = np.random.default_rng(1)
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    check(make([node], [("x", shape)], ["y"], [("w", rand(rng, 5, 4))]), tmp_path)


# --------------------------------------------------------------------------- activations
@pytest.mark.parametrize("op,attrs", [
    ("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("HardSwish", {}),
    ("LeakyRelu", {"alpha": 0.13}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("Elu", {}), ("Exp", {}), ("Abs", {}), ("Neg", {}),
    ("Softmax", {"axis": -1}), ("Softmax", {"axis": 1}), ("LogSoftmax", {"axis": -1}),
])
def test_unary(tmp_path, op, attrs):
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    check(make([node], [("x", [2, 3, 4, 5])], ["y"]), tmp_path, seed=3,
          feeds=[np.random.default_rng(3).uniform(-5, 5, (2, 3, 4, 5)).astype(np.float32)])


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_opset20(tmp_path, approximate):
    node = helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)
    check(make([node], [("x", [2, 7])], ["y"], opset=20), tmp_path)


@pytest.mark.parametrize("lo,hi,op", [(0.0, 6.0, "RELU6"), (-1.0, 1.0, "RELU_N1_TO_1"),
                                      (0.0, None, "RELU"), (-0.5, 2.0, "MINIMUM"),
                                      (None, 0.25, "MINIMUM")])
def test_clip(tmp_path, lo, hi, op):
    inits, names = [], ["x"]
    names.append("lo" if lo is not None else "")
    if lo is not None:
        inits.append(("lo", np.array(lo, np.float32)))
    if hi is not None:
        names.append("hi")
        inits.append(("hi", np.array(hi, np.float32)))
    node = helper.make_node("Clip", names, ["y"])
    m = check(make([node], [("x", [3, 8])], ["y"], inits), tmp_path,
              feeds=[np.linspace(-8, 8, 24, dtype=np.float32).reshape(3, 8)])
    assert op in [n.op for n in m.main.nodes]


def test_prelu(tmp_path):
    rng = np.random.default_rng(4)
    node = helper.make_node("PRelu", ["x", "s"], ["y"])
    check(make([node], [("x", [1, 3, 4, 4])], ["y"], [("s", rand(rng, 3, 1, 1))]), tmp_path)


# --------------------------------------------------------------------------- elementwise
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
def test_binary_broadcast(tmp_path, op):
    rng = np.random.default_rng(5)
    nodes = [helper.make_node(op, ["x", "c"], ["t"]), helper.make_node(op, ["t", "z"], ["y"])]
    check(make(nodes, [("x", [2, 3, 4, 5]), ("z", [4, 1])], ["y"],
               [("c", rand(rng, 3, 1, 1, lo=0.5, hi=2.0))]), tmp_path,
          feeds=[rand(rng, 2, 3, 4, 5), rand(rng, 4, 1, lo=0.5, hi=2.0)])


def test_batchnorm_standalone(tmp_path):
    rng = np.random.default_rng(6)
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)
    inits = [("s", rand(rng, 4)), ("b", rand(rng, 4)), ("m", rand(rng, 4)),
             ("v", rand(rng, 4, lo=0.1, hi=2))]
    check(make([node], [("x", [2, 4, 3, 3])], ["y"], inits), tmp_path)


# --------------------------------------------------------------------------- shapes
def test_shape_ops(tmp_path):
    rng = np.random.default_rng(7)
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["t", "shape"], ["r"]),
        helper.make_node("Flatten", ["x"], ["f"], axis=2),
        helper.make_node("Unsqueeze", ["f", "ax"], ["u"]),
        helper.make_node("Squeeze", ["u", "ax"], ["s"]),
        helper.make_node("Concat", ["x", "x2"], ["c"], axis=1),
    ]
    check(make(nodes, [("x", [2, 3, 4, 5]), ("x2", [2, 2, 4, 5])], ["r", "s", "c"],
               [("shape", np.array([0, -1, 3], np.int64)), ("ax", np.array([1], np.int64))]),
          tmp_path, seed=7)
    del rng


def test_shape_chain_is_folded(tmp_path):
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as exporters write a flatten."""
    nodes = [
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
        helper.make_node("Relu", ["y"], ["z"]),
    ]
    inits = [("zero", np.array(0, np.int64)), ("ax0", np.array([0], np.int64)),
             ("minus1", np.array([-1], np.int64))]
    m = check(make(nodes, [("x", [2, 3, 4])], ["z"], inits), tmp_path)
    # (the layout pass runs the elementwise RELU before the reshape: either order is right)
    assert sorted(n.op for n in m.main.nodes) == ["RELU", "RESHAPE"]


@pytest.mark.parametrize("seed", range(6))
def test_slice_random(tmp_path, seed):
    rng = np.random.default_rng(300 + seed)
    shape = [int(rng.integers(3, 7)) for _ in range(3)]
    axes = sorted(rng.choice(3, size=int(rng.integers(1, 4)), replace=False).tolist())
    starts, ends, steps = [], [], []
    for a in axes:
        step = int(rng.choice([1, 1, 2, -1, -2])) if seed >= 2 else 1
        s = int(rng.integers(-shape[a], shape[a]))
        e = int(rng.choice([int(rng.integers(-shape[a], shape[a] + 1)), 2**62, -2**62]))
        if step > 0 and e == -2**62:
            e = 2**62
        starts.append(s)
        ends.append(e)
        steps.append(step)
    node = helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["y"])
    inits = [(n, np.array(v, np.int64)) for n, v in (("s", starts), ("e", ends), ("a", axes),
                                                     ("st", steps))]
    model = make([node], [("x", shape)], ["y"], inits)
    check(model, tmp_path, seed=seed)


def test_split_and_gather(tmp_path):
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1),
        helper.make_node("Gather", ["x", "idx"], ["g"], axis=2),
        helper.make_node("Gather", ["x", "one"], ["h"], axis=-1),
    ]
    inits = [("sizes", np.array([1, 2], np.int64)), ("idx", np.array([3, -1, 0], np.int64)),
             ("one", np.array(1, np.int64))]
    check(make(nodes, [("x", [2, 3, 4, 5])], ["a", "b", "g", "h"], inits), tmp_path)


def test_split_num_outputs_opset18(tmp_path):
    node = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=-1, num_outputs=3)
    check(make([node], [("x", [2, 7])], ["a", "b", "c"], opset=18), tmp_path)


@pytest.mark.parametrize("mode,value", [("constant", 0.0), ("constant", 1.5), ("reflect", 0.0)])
def test_pad(tmp_path, mode, value):
    node = helper.make_node("Pad", ["x", "p", "v"], ["y"], mode=mode)
    inits = [("p", np.array([0, 0, 1, 2, 0, 1, 2, 0], np.int64)),
             ("v", np.array(value, np.float32))]
    check(make([node], [("x", [1, 2, 4, 5])], ["y"], inits), tmp_path)


# --------------------------------------------------------------------------- pools / reductions
@pytest.mark.parametrize("seed", range(10))
def test_pool_random(tmp_path, seed):
    rng = np.random.default_rng(400 + seed)
    op = "MaxPool" if seed % 2 else "AveragePool"
    k = [int(rng.integers(1, 4)), int(rng.integers(1, 4))]
    attrs = {"kernel_shape": k, "strides": [int(rng.integers(1, 3)), int(rng.integers(1, 3))],
             "ceil_mode": int(seed % 4 >= 2)}
    if seed % 3 == 0:
        attrs["auto_pad"] = "SAME_UPPER"
        attrs["strides"] = [min(s, kk) for s, kk in zip(attrs["strides"], k)]  # ORT limit
    else:
        attrs["pads"] = [int(rng.integers(0, k[0])), int(rng.integers(0, k[1])),
                         int(rng.integers(0, k[0])), int(rng.integers(0, k[1]))]
    if op == "AveragePool":
        attrs["count_include_pad"] = int(seed % 5 == 0)
    if attrs.get("auto_pad") and attrs["ceil_mode"]:
        attrs["ceil_mode"] = 0
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    check(make([node], [("x", [1, 3, 7, 6])], ["y"]), tmp_path, seed=seed)


def test_global_pools_and_reductions(tmp_path):
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["gap"]),
             helper.make_node("GlobalMaxPool", ["x"], ["gmp"]),
             helper.make_node("ReduceMean", ["x"], ["rm"], axes=[1, 3], keepdims=0),
             helper.make_node("ReduceMax", ["x"], ["rx"], axes=[-1], keepdims=1)]
    check(make(nodes, [("x", [2, 3, 4, 5])], ["gap", "gmp", "rm", "rx"], opset=13), tmp_path)


def test_reductions_axes_input_opset18(tmp_path):
    nodes = [helper.make_node("ReduceMean", ["x", "ax"], ["rm"], keepdims=1),
             helper.make_node("ReduceMax", ["x", "ax"], ["rx"], keepdims=0)]
    check(make(nodes, [("x", [2, 3, 4])], ["rm", "rx"], [("ax", np.array([0, 2], np.int64))],
               opset=18), tmp_path)


# --------------------------------------------------------------------------- resize
@pytest.mark.parametrize("mode,ctm,nmode,scales", [
    ("nearest", "asymmetric", "floor", [1, 1, 2, 2]),
    ("nearest", "half_pixel", "round_prefer_ceil", [1, 1, 2, 3]),
    ("nearest", "half_pixel", "round_prefer_floor", [1, 1, 2, 2]),
    ("linear", "half_pixel", "round_prefer_floor", [1, 1, 2, 2]),
    ("linear", "pytorch_half_pixel", "round_prefer_floor", [1, 1, 3, 2]),
    ("linear", "align_corners", "round_prefer_floor", [1, 1, 2, 2]),
    ("linear", "asymmetric", "round_prefer_floor", [1, 1, 2, 2]),
])
def test_resize(tmp_path, mode, ctm, nmode, scales):
    node = helper.make_node("Resize", ["x", "", "sc"], ["y"], mode=mode,
                            coordinate_transformation_mode=ctm, nearest_mode=nmode)
    check(make([node], [("x", [1, 2, 3, 4])], ["y"],
               [("sc", np.array(scales, np.float32))], opset=13), tmp_path)


def test_resize_sizes(tmp_path):
    node = helper.make_node("Resize", ["x", "", "", "sz"], ["y"], mode="linear")
    check(make([node], [("x", [1, 2, 4, 4])], ["y"],
               [("sz", np.array([1, 2, 6, 10], np.int64))], opset=18), tmp_path)


# --------------------------------------------------------------------------- errors
def test_unsupported_op_names_op_and_node(tmp_path):
    node = helper.make_node("Det", ["x"], ["y"], name="my_det")
    path = tmp_path / "det.onnx"
    onnx.save(make([node], [("x", [3, 3])], ["y"]), path)
    with pytest.raises(UnsupportedOpError, match=r"Det.*my_det"):
        pj_onnx.load(path)


def test_malformed_file(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07\x12\xff\xff\xff\xffgarbage" * 3)
    with pytest.raises(ModelFormatError) as info:
        pj_onnx.load(path)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelFormatError):
        pj_onnx.load(tmp_path / "missing.onnx")


def test_old_opset_upgraded(tmp_path):
    """Below opset 13, onnx.version_converter upgrades the model (tests/importers/
    test_onnx_extra.py has the details, and what a failed upgrade says)."""
    node = helper.make_node("Relu", ["x"], ["y"])
    path = tmp_path / "old.onnx"
    onnx.save(make([node], [("x", [3])], ["y"], opset=11), path)
    assert pj_onnx.load(path).meta["onnx_opset_upgraded_from"] == 11


@pytest.mark.parametrize("opset", [13, 21])
def test_opset_range_ends(tmp_path, opset):
    rng = np.random.default_rng(8)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 0, 0, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "g"], ["y"], transB=1)]
    model = make(nodes, [("x", [1, 2, 4, 4])], ["y"],
                 [("w", rand(rng, 3, 2, 3, 3)), ("g", rand(rng, 5, 27))], opset=opset)
    model.ir_version = 10
    m = check(model, tmp_path)
    assert sorted(n.op for n in m.main.nodes) == ["CONV_2D", "FULLY_CONNECTED", "PAD",
                                                  "RESHAPE", "TRANSPOSE"]
