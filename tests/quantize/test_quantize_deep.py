"""The quantizer copies and rewrites graphs of any depth (no recursion on long chains).

A float model of 2,000 elementwise ops in one chain is quantized to int8; TFLM runs the
written file with outputs identical to picojoule's reference interpreter.
"""

from __future__ import annotations

import numpy as np

from opkit import const, tensor
from oracles import TflmSession
from picojoule.exporters.tflite import dumps
from picojoule.importers.tflite import loads
from picojoule.ir import Graph, Model, Node, Value
from picojoule.quantize import quantize_model
from picojoule.runtime.reference import Interpreter


def _chain(length: int) -> Model:
    """x -> (MUL by a constant, ADD a constant) x length/2 -> y, all float32 (1, 16)."""
    rng = np.random.default_rng(7)
    g = Graph("main")
    x = tensor("x", (1, 16), "float32")
    g.inputs = [x]
    cur = x
    for k in range(length):
        op = "MUL" if k % 2 == 0 else "ADD"
        c = const(f"c{k}", (rng.uniform(0.9, 1.1, (16,)) if op == "MUL"
                            else rng.uniform(-0.1, 0.1, (16,))).astype(np.float32))
        out = Value(f"t{k}", (1, 16), "float32")
        g.add_node(Node(op, [cur, c], [out], {"fused_activation_function": "NONE"},
                        name=f"n{k}"))
        cur = out
    g.outputs = [cur]
    return Model([g], source="chain")


def test_a_2000_op_chain_quantizes_and_tflm_agrees() -> None:
    model = _chain(2000)
    samples = [np.random.default_rng(s).standard_normal((1, 16)).astype(np.float32)
               for s in range(4)]
    qm, report = quantize_model(model, samples, progress=False)
    assert len(qm.main.nodes) == 2000 + 2  # QUANTIZE in, DEQUANTIZE out
    data = dumps(qm)
    reread = loads(data)
    tflm = TflmSession(data, preserve_all=False, arena_size=4 << 20)
    ours = Interpreter(reread)
    for s in range(3):
        x = np.random.default_rng(100 + s).standard_normal((1, 16)).astype(np.float32)
        assert np.array_equal(ours.run([x])[0], tflm.run([x])[0])
