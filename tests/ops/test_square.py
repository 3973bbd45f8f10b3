"""SQUARE (float32): the reference interpreter and the generated C against TFLM.

The op is registered in ops/unary.py with its traits and C function name (no emitter of
its own: backends/c/emitters/elementwise.py calls ``pj_square_f32``).
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import check_op, feeds_for, run_oracle, single_op_model, tensor
from oracles import assert_same
from picojoule.backends import host, qemu


def _model(shape):
    return single_op_model("SQUARE", [tensor("x", shape, "float32")],
                           [tensor("y", shape, "float32")])


@pytest.mark.parametrize("shape", [(7,), (2, 3, 5), (1, 4, 4, 3)])
def test_square_reference_matches_tflm(shape):
    check_op(_model(shape))


def test_square_edge_values_match_tflm():
    """Zero signs, underflow to zero, the largest finite squares, halves."""
    edge = np.array([0.0, -0.0, 1e-30, -1.8e19, 1.8446743e19, 1.5, -2.25, 3.4e-20],
                    np.float32).reshape(1, 8)
    check_op(_model((1, 8)), feeds=[[edge]], rtol=0.0)


def test_square_generated_c_matches_tflm_on_host_and_m4():
    model = _model((3, 50))
    feeds = [[x[0] * 10] for x in feeds_for(model, (0, 1))]
    want = run_oracle(model, feeds, "tflm")
    runs = [("host", [host.build(model, name="sq").run(x) for x in feeds])]
    if qemu.toolchain_missing() is None:
        fw = qemu.build(model, "mps2-an386", name="sq")
        runs.append(("m4", [outs for outs, _ in fw.run_many(feeds, timeout=60)]))
    for where, got in runs:
        for k, (g, w) in enumerate(zip(got, want)):
            assert_same(g[0], w[0], f"{where} feed {k}", rtol=0.0)
