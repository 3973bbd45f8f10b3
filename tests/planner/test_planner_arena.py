"""The plan proven by execution: every shared model run from its planned offsets.

:class:`ArenaInterpreter` keeps every RAM tensor at its planned offset in one bytearray
(poisoned before each run; in-place ops replayed chunk by chunk), so a plan that let two
live tensors share bytes would change results. Its outputs and every intermediate must
equal the reference interpreter's and the oracle's (TFLM; LiteRT's reference kernels for
the one model TFLM refuses), over two seeds run in sequence (state carries over).
"""

from __future__ import annotations

import numpy as np
import pytest

from oracles import (SHARED_MODELS, LiteRtSession, TflmSession, assert_same, defined_part,
                     propagate_tflm_undefined)
from picojoule.importers import load_model
from picojoule.planner import check_plan, plan_memory
from picojoule.runtime import Interpreter, random_inputs
from picojoule.runtime.arena import ArenaInterpreter, PlanError

MODELS = sorted(p.relative_to(SHARED_MODELS).as_posix() for p in SHARED_MODELS.rglob("*.tflite"))
LITERT_ORACLE = {"mlperf_tiny/kws_dscnn_float32.tflite"}
NPU_ONLY = {"tflm/person_detect_vela.tflite": "its only op is a compiled Ethos-U command "
                                              "stream, which no CPU interpreter runs"}
SEEDS = (0, 1)


def test_corpus_is_there():
    assert len(MODELS) >= 149, f"expected the shared model corpus at {SHARED_MODELS}"


@pytest.mark.parametrize("name", MODELS)
def test_arena_run_matches_reference_and_oracle(name: str) -> None:
    if name in NPU_ONLY:
        print(f"skipping {name}: {NPU_ONLY[name]}")
        pytest.skip(NPU_ONLY[name])
    path = SHARED_MODELS / name
    model = load_model(path)
    g = model.main
    plan = plan_memory(model)
    assert check_plan(plan) == []
    assert plan.lower_bound_bytes <= plan.arena_bytes <= 1.10 * plan.lower_bound_bytes
    ref = Interpreter(model, preserve_all=True)
    ours = ArenaInterpreter(model, plan, preserve_all=True)
    oracle = LiteRtSession(path) if name in LITERT_ORACLE else TflmSession(path)
    propagate_tflm_undefined(g)
    for seed in SEEDS:
        inputs = random_inputs(g, seed)
        got = ours.run(inputs)
        want_ref = ref.run(inputs)
        want = oracle.run(inputs)
        for node in g.nodes:
            for v in node.outputs:
                what = f"{name} seed {seed}: {node.op} {node.name} output {v.name!r}"
                mine = ours.tensor(v)
                assert_same(mine, ref.tensor(v), what + " vs reference")
                mine, theirs = defined_part(v, mine, oracle.tensor(v.meta["tflite_index"]))
                assert_same(mine, theirs, what + " vs oracle")
        assert len(got) == len(want) == len(want_ref)
        for i, (a, b, c) in enumerate(zip(got, want_ref, want)):
            assert_same(a, b, f"{name} seed {seed}: output {i} vs reference")
            assert_same(a, c, f"{name} seed {seed}: output {i} vs oracle")


# -- the proof has teeth: broken plans must fail ------------------------------------------

def _move(plan, value, offset):
    """Move ``value``'s buffer (and every tensor sharing it) to ``offset``."""
    k = plan.slots[id(value)].buffer
    plan.offsets[k] = offset
    for s in plan.slots.values():
        if s.buffer == k:
            s.offset = offset


def test_overlapping_live_tensors_corrupt_results():
    model = load_model(SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite")
    plan = plan_memory(model)
    g = model.main
    # Put the average pool's output on top of the input it reads.
    i = next(i for i, n in enumerate(g.nodes) if n.op == "AVERAGE_POOL_2D")
    x, y = g.nodes[i].inputs[0], g.nodes[i].outputs[0]
    assert i not in plan.inplace
    _move(plan, y, plan.slots[id(x)].offset)
    assert check_plan(plan)  # the checker sees it ...
    ours = ArenaInterpreter(model, plan, preserve_all=True)
    ref = Interpreter(model, preserve_all=True)
    inputs = random_inputs(g, 0)
    ours.run(inputs)
    ref.run(inputs)
    # ... and so does execution: the pool read its own (poisoned) output bytes.
    assert not np.array_equal(ours.tensor(y), ref.tensor(y))


def _depthwise_model():
    from opkit import const, q, single_op_model, tensor

    rng = np.random.default_rng(3)
    x = tensor("x", (1, 8, 8, 16), "int8", q(0.05, -3))
    w = const("w", rng.integers(-127, 128, (1, 3, 3, 16), dtype=np.int8), quant=q(0.02, 0))
    b = const("b", rng.integers(-500, 500, 16, dtype=np.int32), quant=q(0.001, 0))
    y = tensor("y", (1, 8, 8, 16), "int8", q(0.1, 2))
    return single_op_model("DEPTHWISE_CONV_2D", [x, w, b], [y], attrs=dict(
        padding="SAME", stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1,
        depth_multiplier=1, fused_activation_function="NONE"))


def test_in_place_with_too_small_a_gap_is_caught():
    import dataclasses

    model = _depthwise_model()
    g = model.main
    plan = plan_memory(model)
    geo = plan.inplace[0]
    # 3x3 SAME, 8 pixels a row, 16 B a pixel, trailing the reads: the output must start
    # (8 + 1 + 1) pixels = 160 B below the input (pixel (r, c) still needs (r-1, c-1)).
    assert (geo.order, geo.delta) == ("forward", -160)
    assert plan.arena_bytes == 1024 + 160 == plan.lower_bound_bytes
    ref = Interpreter(model)
    inputs = random_inputs(g, 0)
    assert np.array_equal(ArenaInterpreter(model, plan).run(inputs)[0], ref.run(inputs)[0])
    # One pixel closer than proven: the replay must object, and in lax mode give wrong bytes.
    plan.inplace[0] = dataclasses.replace(geo, delta=geo.delta + 16)
    _move(plan, g.outputs[0], plan.slots[id(g.inputs[0])].offset + geo.delta + 16)
    with pytest.raises(PlanError, match="before its last read"):
        ArenaInterpreter(model, plan).run(inputs)
    lax = ArenaInterpreter(model, plan, strict=False)
    assert not np.array_equal(lax.run(inputs)[0], ref.run(inputs)[0])
