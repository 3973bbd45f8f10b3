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
