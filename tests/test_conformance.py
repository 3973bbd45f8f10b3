"""Every model in ../shared/models through the reference interpreter against its oracle.

Oracle: TFLM's interpreter (reference kernels) wherever TFLM runs the model; LiteRT's
reference kernels for the one model TFLM refuses (a hybrid float model). Three seeded
random inputs run in sequence through one interpreter on each side (stateful ops keep
their state), and every intermediate tensor is compared, not only the outputs.
"""

from __future__ import annotations

import pytest

from oracles import (SHARED_MODELS, LiteRtSession, TflmSession, assert_same, defined_part,
                     propagate_tflm_undefined)
from picojoule.errors import UnsupportedOpError
from picojoule.importers import load_model
from picojoule.runtime import Interpreter, random_inputs

MODELS = sorted(p.relative_to(SHARED_MODELS).as_posix() for p in SHARED_MODELS.rglob("*.tflite"))
#: Models TFLM cannot run, and the oracle used instead.
LITERT_ORACLE = {"mlperf_tiny/kws_dscnn_float32.tflite": "TFLM rejects hybrid models"}
NPU_ONLY = {"tflm/person_detect_vela.tflite"}
SEEDS = (0, 1, 2)


def test_corpus_is_there():
    assert len(MODELS) >= 149, f"expected the shared model corpus at {SHARED_MODELS}"


@pytest.mark.parametrize("name", MODELS)
def test_model_matches_oracle(name: str) -> None:
    path = SHARED_MODELS / name
    model = load_model(path)
    model.verify()
    if name in NPU_ONLY:
        with pytest.raises(UnsupportedOpError, match="Ethos-U NPU"):
            Interpreter(model)
        return
    ours = Interpreter(model, preserve_all=True)
    if name in LITERT_ORACLE:
        oracle = LiteRtSession(path, reference=True)
    else:
        oracle = TflmSession(path)
    g = model.main
    propagate_tflm_undefined(g)
    for seed in SEEDS:
        inputs = random_inputs(g, seed)
        got = ours.run(inputs)
        want = oracle.run(inputs)
        # Intermediates first, in execution order: the first mismatch names the layer.
        for node in g.nodes:
            for v in node.outputs:
                a, b = defined_part(v, ours.tensor(v), oracle.tensor(v.meta["tflite_index"]))
                assert_same(a, b, f"{name} seed {seed}: {node.op} {node.name} output {v.name!r}")
        assert len(got) == len(want)
        for i, (a, b) in enumerate(zip(got, want)):
            assert_same(a, b, f"{name} seed {seed}: output {i}")
