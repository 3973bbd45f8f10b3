"""A float constant read by several ops (the weights of every step of an unrolled RNN) is
quantized once and stays one tensor; values tagged as one tensor share one quantization.

The model: x -> FC(W, b) -> a1 -> FC(W, b) -> a2 -> LOGISTIC -> s -> FC(W, b) -> a3, and
C - a1, C - a3. W, b and C are one float Value each. The first two FCs read inputs the
quantizer can unify (x, a1): they share the int8 weights and the int32 bias. The third
reads a LOGISTIC output, whose scale TFLM fixes: same weights, its own bias.
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import const, run_oracle, tensor
from picojoule.exporters.tflite import dumps
from picojoule.importers.tflite import loads
from picojoule.ir import Graph, Model, Node, Value
from picojoule.quantize import quantize_model
from picojoule.runtime.reference import Interpreter

_FC = {"fused_activation_function": "NONE", "keep_num_dims": False, "weights_format": 0}
_SUB = {"fused_activation_function": "NONE"}


def _model(tag_a1_a3: bool = False) -> Model:
    rng = np.random.default_rng(3)
    w = const("W", rng.uniform(-0.5, 0.5, (8, 8)).astype(np.float32))
    b = const("b", rng.uniform(-0.2, 0.2, (8,)).astype(np.float32))
    c = const("C", rng.uniform(-1, 1, (1, 8)).astype(np.float32))
    g = Graph("main")
    x = tensor("x", (1, 8), "float32")
    g.inputs = [x]

    def node(op, ins, name, attrs):
        out = Value(name, (1, 8), "float32")
        g.add_node(Node(op, ins, [out], attrs, name=name))
        return out

    a1 = node("FULLY_CONNECTED", [x, w, b], "a1", _FC)
    a2 = node("FULLY_CONNECTED", [a1, w, b], "a2", _FC)
    s = node("LOGISTIC", [a2], "s", {})
    a3 = node("FULLY_CONNECTED", [s, w, b], "a3", _FC)
    y1 = node("SUB", [c, a1], "y1", _SUB)  # (C - a: not folded into the FC's bias)
    y3 = node("SUB", [c, a3], "y3", _SUB)
    if tag_a1_a3:
        a1.meta["quant_group"] = a3.meta["quant_group"] = ("cell", 0)
    g.outputs = [y1, y3]
    return Model([g], source="shared")


def _samples(n: int = 8) -> list[np.ndarray]:
    return [np.random.default_rng(s).standard_normal((1, 8)).astype(np.float32) * 2
            for s in range(n)]


def _fcs(model: Model) -> list[Node]:
    return [n for n in model.main.nodes if n.op == "FULLY_CONNECTED"]


@pytest.mark.parametrize("scheme", ["int8", "int16x8"])
def test_shared_weights_are_quantized_once_and_written_once(scheme: str) -> None:
    qm, _ = quantize_model(_model(), _samples(), scheme=scheme, progress=False)
    f1, f2, f3 = _fcs(qm)
    assert f1.inputs[1] is f2.inputs[1] is f3.inputs[1]
    assert f1.inputs[1].dtype == "int8"
    # x and a1 share one scale, so FC 1 and 2 share their int32/int64 bias too ...
    assert f1.inputs[0].quant.scale0 == f2.inputs[0].quant.scale0
    assert f1.inputs[2] is f2.inputs[2]
    # ... while FC 3 reads TFLM's fixed LOGISTIC scale: a bias of its own, correctly scaled.
    assert f3.inputs[2] is not f1.inputs[2]
    np.testing.assert_allclose(f3.inputs[2].quant.scale,
                               f3.inputs[0].quant.scale0 * f3.inputs[1].quant.scale,
                               rtol=1e-6)
    subs = [n for n in qm.main.nodes if n.op == "SUB"]
    assert subs[0].inputs[0] is subs[1].inputs[0]  # C: one quantization fits both readers
    # The .tflite holds one tensor (one buffer) per shared constant.
    data = dumps(qm)
    reread = loads(data)
    r1, r2, r3 = _fcs(reread)
    assert r1.inputs[1] is r2.inputs[1] is r3.inputs[1] and r1.inputs[2] is r2.inputs[2]
    consts = [v for v in reread.main.values() if v.is_const]
    assert sum(v.name == "W" for v in consts) == 1
    # TFLM reads the shared tensors and agrees with picojoule's reference.
    feeds = [[x] for x in _samples(3)]
    ours = Interpreter(reread)
    for want, theirs in zip((ours.run(f) for f in feeds), run_oracle(reread, feeds, "tflm",
                                                                      data=data)):
        for a, b in zip(want, theirs):
            assert np.array_equal(a, b)


def test_tagged_values_share_one_quantization() -> None:
    """``meta["quant_group"]``: the same tensor of a recurrent cell at every step."""
    plain, _ = quantize_model(_model(), _samples(), progress=False)
    tagged, _ = quantize_model(_model(tag_a1_a3=True), _samples(), progress=False)

    def quant(m: Model, name: str):
        v = next(v for v in m.main.values() if v.name == name)
        return v.quant.scale0, v.quant.zp0

    assert quant(plain, "a1") != quant(plain, "a3")
    assert quant(tagged, "a1") == quant(tagged, "a3")
