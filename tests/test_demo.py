"""The bundled demo model: picojoule's own file, run identically by TFLM and LiteRT."""

from __future__ import annotations

import numpy as np

from oracles import LiteRtSession, TflmSession, assert_same
from picojoule.cli import main
from picojoule.demo import DEMO_PATH, build_demo_model
from picojoule.importers import load_model
from picojoule.runtime import Interpreter, random_inputs


def test_bundled_demo_matches_tflm_and_litert_reference():
    model = load_model(DEMO_PATH)
    ours = Interpreter(model)
    tflm = TflmSession(DEMO_PATH)
    litert = LiteRtSession(DEMO_PATH, reference=True)
    for seed in range(3):
        x = random_inputs(model.main, seed)
        got = ours.run(x)[0]
        assert_same(got, tflm.run(x)[0], f"demo vs TFLM, seed {seed}")
        assert_same(got, litert.run(x)[0], f"demo vs LiteRT reference, seed {seed}")


def test_demo_is_not_degenerate():
    # Seeded weights, calibrated ranges: outputs must vary with the input.
    model = load_model(DEMO_PATH)
    ours = Interpreter(model)
    outs = {tuple(ours.run(random_inputs(model.main, s))[0].ravel()) for s in range(8)}
    assert len(outs) > 1


def test_generator_builds_the_same_structure():
    built = build_demo_model()
    bundled = load_model(DEMO_PATH)
    assert [n.op for n in built.main.nodes] == [n.op for n in bundled.main.nodes]
    for a, b in zip(built.main.values(), bundled.main.values()):
        assert (a.shape, a.dtype) == (b.shape, b.dtype)
        if a.is_const and a.dtype == "int8":
            np.testing.assert_array_equal(a.data, b.data)


def test_demo_command(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "MACs: 162,384" in out and "median" in out
    assert "verdict: fits" in out and "battery life" in out
