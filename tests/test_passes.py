"""The pass manager: contracts checked, graphs verified, fixpoints reached."""

from __future__ import annotations

import pytest

from picojoule.ir import Graph, Model, Node, Value
from picojoule.passes import Pass, PassContractError, PassManager, PassResult


def _model(n_relu: int) -> Model:
    g = Graph()
    x = Value("x", [4], "float32")
    g.inputs = [x]
    for i in range(n_relu):
        y = Value(f"y{i}", [4], "float32")
        g.add_node(Node("RELU", [x], [y]))
        x = y
    g.outputs = [x]
    return Model([g])


class DropOneRelu(Pass):
    """Removes the first of two consecutive RELUs (RELU is idempotent)."""

    def call(self, model):
        g = model.main
        for node in g.nodes:
            src = node.inputs[0]
            if node.op == "RELU" and src.producer is not None and src.producer.op == "RELU":
                out = node.outputs[0]
                for user, i in out.uses():
                    g.replace_input(user, i, src)
                g.outputs = [src if v is out else v for v in g.outputs]
                g.remove_node(node)
                return PassResult(model, True)
        return PassResult(model, False)


def test_fixpoint_removes_all_but_one():
    m = _model(4)
    result = PassManager([DropOneRelu()], fixpoint=True)(m)
    assert result.modified and [n.op for n in m.main.nodes] == ["RELU"]
    assert PassManager([DropOneRelu()], fixpoint=True)(m).modified is False


def test_broken_graph_is_caught():
    class Breaks(Pass):
        def call(self, model):
            model.main.nodes.reverse()
            return PassResult(model, True)

    with pytest.raises(PassContractError, match="Breaks left a broken graph"):
        Breaks()(_model(2))


def test_requires_checked_before_running():
    def no_relu(model):
        if any(n.op == "RELU" for n in model.main.nodes):
            raise PassContractError("expects no RELU")

    class Needs(Pass):
        requires = (no_relu,)

        def call(self, model):  # pragma: no cover - never reached
            raise AssertionError

    with pytest.raises(PassContractError, match="expects no RELU"):
        Needs()(_model(1))


# ------------------------------------------------------- layout and fusion rules on IR graphs
# Expected values from numpy on the graph's definition, never from picojoule's interpreter
# alone: the rewritten graph must compute what the original one means.

def _v(name: str, shape, data=None) -> Value:
    import numpy as np

    if data is not None:
        data = np.asarray(data, np.float32)
        return Value(name, data.shape, "float32", data=data)
    return Value(name, tuple(shape), "float32")


def _const_i32(name: str, data) -> Value:
    import numpy as np

    arr = np.asarray(data, np.int32)
    return Value(name, arr.shape, "int32", data=arr)


def _conv_1x1(g: Graph, x: Value, w, name: str) -> Value:
    """A 1x1 CONV_2D (NHWC, weights (cout, 1, 1, cin)), no bias, no activation."""
    y = Value(name, x.shape[:-1] + (w.shape[0],), "float32")
    g.add_node(Node("CONV_2D", [x, _v(f"{name}/w", None, w), None], [y],
                    {"padding": "VALID", "stride_h": 1, "stride_w": 1,
                     "dilation_h_factor": 1, "dilation_w_factor": 1,
                     "fused_activation_function": "NONE"}, name=name))
    return y


def test_activation_after_a_reshape_of_a_conv_fuses():
    """CONV_2D -> RESHAPE -> RELU (a 1-D convolution's lowering, in a .tflite file too):
    FuseActivations fuses the RELU into the conv through the reshape."""
    import numpy as np

    from picojoule.passes.fold import FuseActivations
    from picojoule.runtime.reference import Interpreter

    rng = np.random.default_rng(0)
    g = Graph()
    x = Value("x", (1, 1, 7, 3), "float32")
    g.inputs = [x]
    w = rng.standard_normal((4, 1, 1, 3)).astype(np.float32)
    c = _conv_1x1(g, x, w, "conv")
    r = Value("r", (1, 7, 4), "float32")
    g.add_node(Node("RESHAPE", [c, _const_i32("shape", [1, 7, 4])], [r],
                    {"new_shape": [1, 7, 4]}))
    y = Value("y", (1, 7, 4), "float32")
    g.add_node(Node("RELU", [r], [y]))
    g.outputs = [y]
    m = FuseActivations()(Model([g])).model
    assert [n.op for n in m.main.nodes] == ["CONV_2D", "RESHAPE"]
    assert m.main.nodes[0].attrs["fused_activation_function"] == "RELU"
    assert m.main.outputs[0].name == "y"
    xin = rng.standard_normal((1, 1, 7, 3)).astype(np.float32)
    want = np.maximum(np.einsum("abwi,oi->awo", xin, w[:, 0, 0]), 0)
    np.testing.assert_allclose(Interpreter(m).run([xin])[0], want, rtol=1e-5, atol=1e-6)


def test_reshape_sinks_below_elementwise_ops_and_cancels():
    """RESHAPE(1,1,1,C -> 1,C,1,1) -> MUL(c) -> ADD(per-channel) -> MINIMUM -> RESHAPE back
    (a squeeze-excite gate as the NCHW import leaves it): the reshapes sink below the
    elementwise ops, meet and vanish; per-channel constants follow the new shape."""
    import numpy as np

    from picojoule.passes.layout import LayoutToNHWC
    from picojoule.runtime.reference import Interpreter

    rng = np.random.default_rng(1)
    g = Graph()
    x = Value("x", (1, 1, 1, 5), "float32")
    g.inputs = [x]
    a = Value("a", (1, 5, 1, 1), "float32")
    g.add_node(Node("RESHAPE", [x, _const_i32("s1", [1, 5, 1, 1])], [a],
                    {"new_shape": [1, 5, 1, 1]}))
    bias = rng.standard_normal((5, 1, 1)).astype(np.float32)
    m1, a1, mn = (Value(n, (1, 5, 1, 1), "float32") for n in ("m1", "a1", "mn"))
    none = {"fused_activation_function": "NONE"}
    g.add_node(Node("MUL", [a, _v("k", None, 1 / 6)], [m1], none))
    g.add_node(Node("ADD", [m1, _v("bias", None, bias)], [a1], none))
    g.add_node(Node("MINIMUM", [a1, _v("one", None, 1.0)], [mn]))
    y = Value("y", (1, 1, 1, 5), "float32")
    g.add_node(Node("RESHAPE", [mn, _const_i32("s2", [1, 1, 1, 5])], [y],
                    {"new_shape": [1, 1, 1, 5]}))
    g.outputs = [y]
    m = LayoutToNHWC()(Model([g])).model
    assert [n.op for n in m.main.nodes] == ["MUL", "ADD", "MINIMUM"]
    assert m.main.nodes[1].inputs[1].shape == (1, 1, 1, 5)
    xin = rng.standard_normal((1, 1, 1, 5)).astype(np.float32)
    want = np.minimum(xin / 6 + bias.reshape(1, 1, 1, 5), 1)
    np.testing.assert_allclose(Interpreter(m).run([xin])[0], want, rtol=1e-5, atol=1e-6)


def test_transpose_read_twice_sinks_only_when_every_reader_can_take_it():
    """TRANSPOSE -> {RELU, MEAN(keep_dims)} -> MUL (squeeze-excite-like): both readers
    take it and nothing is left; with a reader that cannot (ARG_MAX), the transpose stays
    and no copy of it is added."""
    import numpy as np

    from picojoule.passes.layout import LayoutToNHWC
    from picojoule.runtime.reference import Interpreter

    def build(blocked: bool) -> Model:
        g = Graph()
        x = Value("x", (1, 4, 5, 3), "float32")                 # NHWC
        g.inputs = [x]
        t = Value("t", (1, 3, 4, 5), "float32")
        g.add_node(Node("TRANSPOSE", [x, _const_i32("p", [0, 3, 1, 2])], [t]))
        mean = Value("mean", (1, 3, 1, 1), "float32")
        g.add_node(Node("MEAN", [t, _const_i32("ax", [2, 3])], [mean], {"keep_dims": True}))
        y = Value("y", (1, 3, 4, 5), "float32")
        g.add_node(Node("MUL", [t, mean], [y], {"fused_activation_function": "NONE"}))
        back = Value("back", (1, 4, 5, 3), "float32")
        g.add_node(Node("TRANSPOSE", [y, _const_i32("q", [0, 2, 3, 1])], [back]))
        g.outputs = [back]
        if blocked:
            am = Value("am", (1, 3, 4), "int32")
            g.add_node(Node("ARG_MAX", [t, _const_i32("axis", 3)], [am],
                            {"output_type": "int32"}))
            g.outputs.append(am)
        return Model([g])

    rng = np.random.default_rng(2)
    xin = rng.standard_normal((1, 4, 5, 3)).astype(np.float32)
    want = xin * xin.mean(axis=(1, 2), keepdims=True)
    m = LayoutToNHWC()(build(False)).model
    assert "TRANSPOSE" not in [n.op for n in m.main.nodes]
    np.testing.assert_allclose(Interpreter(m).run([xin])[0], want, rtol=1e-5, atol=1e-6)
    m = LayoutToNHWC()(build(True)).model
    assert [n.op for n in m.main.nodes].count("TRANSPOSE") <= 2
    got = Interpreter(m).run([xin])
    np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1], xin.transpose(0, 3, 1, 2).argmax(axis=3))
