"""LegalizeForTFLM: a CONCATENATION of more than 10 inputs (TFLM's kMaxInputNum) becomes a
tree of concatenations that TFLM prepares, with the same outputs.

Structure first (fan-in, order, the fused activation on the last node only), then numbers:
picojoule's reference before and after the pass, TFLM on the written file.
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import OracleRefused, q, run_oracle, tensor
from picojoule.exporters.tflite import dumps
from picojoule.importers.tflite import loads
from picojoule.ir import Graph, Model, Node
from picojoule.passes.legalize import LegalizeForTFLM, tflm_violations
from picojoule.runtime.reference import Interpreter


def _concat_model(n: int, dtype: str = "int8", axis: int = -1, act: str = "NONE") -> Model:
    """``n`` inputs of shape (1, 2, k) with k = 1, 2, 3, 1, 2, 3 ... concatenated on the
    last axis (different widths, so a reordering would show)."""
    quant = q(0.05, 3) if dtype == "int8" else None
    widths = [1 + k % 3 for k in range(n)]
    g = Graph("main")
    g.inputs = [tensor(f"x{k}", (1, 2, w), dtype, quant) for k, w in enumerate(widths)]
    y = tensor("y", (1, 2, sum(widths)), dtype, quant)
    g.add_node(Node("CONCATENATION", list(g.inputs), [y],
                    {"axis": axis, "fused_activation_function": act}, name="concat"))
    g.outputs = [y]
    return Model([g], source=f"concat{n}")


def _feeds(model: Model, seeds=(0, 1)) -> list[list[np.ndarray]]:
    out = []
    for s in seeds:
        rng = np.random.default_rng(s)
        out.append([rng.integers(-128, 128, v.shape).astype(np.int8) if v.dtype == "int8"
                    else rng.standard_normal(v.shape).astype(np.float32)
                    for v in model.main.inputs])
    return out


@pytest.mark.parametrize("n", [11, 49, 123])
def test_split_into_a_tree_of_at_most_10(n: int) -> None:
    model = _concat_model(n)
    feeds = _feeds(model)
    before = [Interpreter(model).run(f) for f in feeds]
    assert tflm_violations(model)
    result = LegalizeForTFLM()(model)
    assert result.modified and not tflm_violations(model)
    concats = [nd for nd in model.main.nodes if nd.op == "CONCATENATION"]
    assert all(2 <= len(nd.inputs) <= 10 for nd in concats)
    # Every input is read exactly once, by a partial concatenation, in the original order.
    leaves = [v for nd in concats for v in nd.inputs if v.producer is None]
    assert leaves == model.main.inputs
    assert concats[-1].outputs[0] is model.main.outputs[0]
    after = [Interpreter(model).run(f) for f in feeds]
    for a, b in zip(before, after):
        assert np.array_equal(a[0], b[0])
    assert not LegalizeForTFLM()(model).modified  # a fixpoint


def test_fused_activation_stays_on_the_last_node_only() -> None:
    """(Elementwise, so applying it once after joining is the same; picojoule's kernels,
    like TFLM's, do not apply one to CONCATENATION at all.)"""
    model = _concat_model(14, "float32", axis=2, act="RELU")
    LegalizeForTFLM()(model)
    concats = [nd for nd in model.main.nodes if nd.op == "CONCATENATION"]
    assert [nd.attrs["fused_activation_function"] for nd in concats] == \
        ["NONE"] * (len(concats) - 1) + ["RELU"]
    assert [nd.attrs["axis"] for nd in concats[:-1]] == [2] * (len(concats) - 1)


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_tflm_refuses_the_wide_concatenation_and_runs_the_written_tree(dtype: str) -> None:
    model = _concat_model(23, dtype)
    feeds = _feeds(model, (0, 1, 2))
    want = [Interpreter(model).run(f) for f in feeds]
    # The writer legalizes a copy: the model given to it keeps its 23-input node.
    data = dumps(model)
    assert len(model.main.nodes) == 1 and len(model.main.nodes[0].inputs) == 23
    written = loads(data)
    assert not tflm_violations(written)
    got = run_oracle(written, feeds, "tflm", data=data)
    for g, w in zip(got, want):
        assert np.array_equal(g[0], w[0])
    # Without the pass, TFLM refuses it (the limit this pass exists for).
    from picojoule.exporters.tflite import _Writer

    with pytest.raises(OracleRefused, match="kMaxInputNum"):
        run_oracle(model, feeds[:1], "tflm", data=_Writer(model).model_bytes())
