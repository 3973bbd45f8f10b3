"""The IR keeps producer/user links consistent and verify() catches broken graphs."""

from __future__ import annotations

import numpy as np
import pytest

from oracles import SHARED_MODELS
from picojoule.errors import PicojouleError
from picojoule.importers import load_model
from picojoule.ir import Graph, Node, Value


def _chain() -> tuple[Graph, Value, Value, Value, Node, Node]:
    g = Graph()
    x = Value("x", [1, 4], "int8")
    y = Value("y", [1, 4], "int8")
    z = Value("z", [1, 4], "int8")
    g.inputs = [x]
    a = g.add_node(Node("RELU", [x], [y]))
    b = g.add_node(Node("RELU", [y], [z]))
    g.outputs = [z]
    return g, x, y, z, a, b


def test_links_are_tracked():
    g, x, y, z, a, b = _chain()
    g.verify()
    assert y.producer is a and y.users == [b] and x.users == [a] and z.users == []
    assert y.uses() == [(b, 0)]


def test_replace_input_and_remove_node_keep_links():
    g, x, y, z, a, b = _chain()
    g.replace_input(b, 0, x)
    assert y.users == [] and x.users == [a, b]
    g.remove_node(a)
    assert y.producer is None and x.users == [b]
    g.outputs = [z]
    g.verify()


def test_verify_rejects_use_before_production():
    g, x, y, z, a, b = _chain()
    g.nodes.reverse()
    with pytest.raises(PicojouleError, match="used before it is produced"):
        g.verify()


def test_verify_rejects_stale_links_and_double_production():
    g, x, y, z, a, b = _chain()
    b.inputs[0] = x  # edited behind the graph's back
    with pytest.raises(PicojouleError, match="does not list it as a user"):
        g.verify()
    g, x, y, z, a, b = _chain()
    with pytest.raises(PicojouleError, match="already produced"):
        g.add_node(Node("RELU", [x], [y]))


def test_verify_checks_constant_data():
    g = Graph()
    c = Value("c", [2, 2], "int8", data=np.zeros((2, 3), np.int8))
    out = Value("o", [2, 2], "int8")
    g.add_node(Node("RELU", [c], [out]))
    g.outputs = [out]
    with pytest.raises(PicojouleError, match="data is int8"):
        g.verify()


def test_imported_models_verify_and_link():
    model = load_model(SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite")
    model.verify()
    g = model.main
    for node in g.nodes:
        for v in node.outputs:
            assert v.producer is node
        for v in node.inputs:
            if v is not None:
                assert node in v.users
