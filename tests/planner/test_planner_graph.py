"""Graph -> plan: lifetimes, aliasing, in-place proofs, regions and reordering.

Expected sizes and offsets are derived by hand in the comments; numeric results come
from TFLM (models written with picojoule's writer) or from the op kernels' observed
dependencies, never from the planner itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import const, model_bytes, q, single_op_model, tensor
from oracles import SHARED_MODELS, TflmSession, assert_same
from picojoule.importers import load_model
from picojoule.ir import Graph, Model, Node, Value
from picojoule.ops import lookup
from picojoule.planner import check_plan, plan_memory
from picojoule.planner.inplace import chunks_for
from picojoule.planner.order import OrderProblem, exact_order, greedy_order, peak_of
from picojoule.runtime import random_inputs
from picojoule.runtime.arena import ArenaInterpreter

FC = dict(fused_activation_function="NONE", keep_num_dims=False, weights_format=0,
          asymmetric_quantize_inputs=False)


def _fc(g: Graph, x: Value, n_out: int, name: str, rng) -> Value:
    w = const(f"{name}_w", rng.standard_normal((n_out, x.shape[1])).astype(np.float32))
    b = const(f"{name}_b", rng.standard_normal(n_out).astype(np.float32))
    y = tensor(name, (1, n_out), "float32")
    g.add_node(Node("FULLY_CONNECTED", [x, w, b], [y], dict(FC), name=name))
    return y


def _tflm_outputs(model: Model, inputs):
    return TflmSession(model_bytes(model)).run(inputs)


def test_lifetimes_alias_and_constants():
    # x [1,4,4,2] f32 (128 B) -RELU-> a (128 B) -RESHAPE-> b [1,32] -FC-> y [1,3] (12 -> 16 B).
    # RELU runs in place over x (x dies there; elementwise, same size: same address);
    # RESHAPE is a zero-copy alias (a and b share one buffer, alive steps 0..2);
    # constants (shape, weights, bias) get no RAM. Live: 128, 128, 128 + 16 -> 144.
    rng = np.random.default_rng(0)
    g = Graph()
    x = tensor("x", (1, 4, 4, 2), "float32")
    a = tensor("a", (1, 4, 4, 2), "float32")
    b = tensor("b", (1, 32), "float32")
    g.inputs = [x]
    g.add_node(Node("RELU", [x], [a], {}, name="relu"))
    shape = const("shape", np.array([1, 32], dtype=np.int32))
    g.add_node(Node("RESHAPE", [a, shape], [b], {}, name="reshape"))
    y = _fc(g, b, 3, "y", rng)
    g.outputs = [y]
    model = Model([g])
    plan = plan_memory(model)
    assert check_plan(plan) == []
    assert all(id(v) not in plan.slots for v in g.constants())
    assert plan.slot(a).offset == plan.slot(b).offset and plan.slot(a).buffer == plan.slot(b).buffer
    assert plan.aliases == {1}
    life = {plan.buffers[plan.slot(v).buffer].name: (plan.buffers[plan.slot(v).buffer].first,
                                                      plan.buffers[plan.slot(v).buffer].last)
            for v in (x, a, y)}
    assert life == {"x": (0, 0), "a": (0, 2), "y": (2, 2)}
    assert 0 in plan.inplace and plan.inplace[0].delta == 0
    assert plan.slot(x).offset == plan.slot(a).offset
    assert plan.arena_bytes == plan.lower_bound_bytes == 144
    inputs = random_inputs(g, 0)
    got = ArenaInterpreter(model, plan).run(inputs)
    assert_same(got[0], _tflm_outputs(model, inputs)[0], "output vs TFLM")


def test_state_tensors_live_for_the_whole_run():
    model = load_model(SHARED_MODELS / "tflm/keyword_scrambled_8bit.tflite")
    plan = plan_memory(model)
    n = len(model.main.nodes)
    states = [v for v in model.main.values() if v.variable]
    assert states
    for v in states:
        buf = plan.buffers[plan.slot(v).buffer]
        assert (buf.first, buf.last) == (0, n - 1)
    assert check_plan(plan) == []


def _window_model(rng, op: str):
    h, w = (int(v) for v in rng.integers(3, 10, 2))
    cin = int(rng.integers(1, 5))
    k = int(rng.integers(1, 4))
    s = int(rng.integers(1, 4))
    d = int(rng.integers(1, 3)) if op != "AVERAGE_POOL_2D" and op != "MAX_POOL_2D" else 1
    pad = str(rng.choice(["SAME", "VALID"]))
    eff = (k - 1) * d + 1
    if pad == "VALID" and (eff > h or eff > w):
        pad = "SAME"
    ho = -(-h // s) if pad == "SAME" else (h - eff) // s + 1
    wo = -(-w // s) if pad == "SAME" else (w - eff) // s + 1
    x = tensor("x", (1, h, w, cin), "int8", q(0.05, -3))
    if op == "CONV_2D":
        cout = int(rng.integers(1, 6))
        wt = const("w", rng.integers(-127, 128, (cout, k, k, cin), dtype=np.int8),
                   quant=q(0.02, 0))
        bias = const("b", rng.integers(-200, 200, cout, dtype=np.int32), quant=q(0.001, 0))
        y = tensor("y", (1, ho, wo, cout), "int8", q(0.1, 2))
        attrs = dict(padding=pad, stride_w=s, stride_h=s, dilation_w_factor=d,
                     dilation_h_factor=d, fused_activation_function="NONE")
        return single_op_model(op, [x, wt, bias], [y], attrs)
    if op == "DEPTHWISE_CONV_2D":
        wt = const("w", rng.integers(-127, 128, (1, k, k, cin), dtype=np.int8), quant=q(0.02, 0))
        bias = const("b", rng.integers(-200, 200, cin, dtype=np.int32), quant=q(0.001, 0))
        y = tensor("y", (1, ho, wo, cin), "int8", q(0.1, 2))
        attrs = dict(padding=pad, stride_w=s, stride_h=s, dilation_w_factor=d,
                     dilation_h_factor=d, depth_multiplier=1, fused_activation_function="NONE")
        return single_op_model(op, [x, wt, bias], [y], attrs)
    y = tensor("y", (1, ho, wo, cin), "int8", q(0.05, -3))
    attrs = dict(padding=pad, stride_w=s, stride_h=s, filter_width=k, filter_height=k,
                 fused_activation_function="NONE")
    return single_op_model(op, [x], [y], attrs)


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D",
                                "MAX_POOL_2D"])
def test_dependency_model_covers_what_kernels_read(op):
    """Perturb one input pixel at a time: only output pixels in [first_need, last_need]
    may change, and pixels the model says are never read must change nothing."""
    rng = np.random.default_rng(11)
    changed_any = 0
    for _ in range(6):
        model = _window_model(rng, op)
        node = model.main.nodes[0]
        ch = chunks_for(node, 0)
        kernel = lookup(node).prepare(node)
        x0 = random_inputs(model.main, 0)[0]
        y0 = kernel([x0, *[v.data if v is not None else None for v in node.inputs[1:]]])[0]
        consts = [v.data if v is not None else None for v in node.inputs[1:]]
        n, h, w, c = x0.shape
        for pix in range(h * w):
            x1 = x0.copy().reshape(-1, c)
            x1[pix] = x1[pix] ^ np.int8(0x55)
            y1 = kernel([x1.reshape(x0.shape), *consts])[0]
            diff = np.flatnonzero((y1 != y0).reshape(-1, ch.co).any(axis=1))
            if ch.last_need[pix] < 0:
                assert diff.size == 0, (op, pix)
            elif diff.size:
                changed_any += 1
                assert ch.first_need[pix] <= diff.min() and diff.max() <= ch.last_need[pix], \
                    (op, pix, diff, ch.first_need[pix], ch.last_need[pix])
    assert changed_any > 10


@pytest.mark.parametrize("op", ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D",
                                "MAX_POOL_2D"])
def test_in_place_single_ops_match_tflm(op):
    """Random windowed ops planned in place (input and output overlapping), run from the
    arena and compared with TFLM."""
    rng = np.random.default_rng(5)
    overlapped = 0
    for _ in range(5):
        model = _window_model(rng, op)
        plan = plan_memory(model)
        assert check_plan(plan) == []
        x, y = model.main.inputs[0], model.main.outputs[0]
        if plan.inplace:
            overlapped += 1
            assert plan.arena_bytes < plan.buffers[plan.slot(x).buffer].size + \
                plan.buffers[plan.slot(y).buffer].size
        ours = ArenaInterpreter(model, plan)
        oracle = TflmSession(model_bytes(model))
        for seed in (0, 1):
            inputs = random_inputs(model.main, seed)
            assert_same(ours.run(inputs)[0], oracle.run(inputs)[0], f"{op} seed {seed}")
    assert overlapped >= 2


def test_elementwise_in_place_over_a_wider_dtype():
    # int8 [1,64] -> DEQUANTIZE -> float32 [1,64]: each output element (4 B) is larger than
    # its input (1 B). Streaming forwards, element k is written at [4k - s, 4k - s + 4),
    # which must stay below input element k + 1 (k itself is already in a register):
    # 4k + 4 - s <= k + 1 for k <= 63 gives s >= 192, so the pair spans 256 B instead of
    # 64 + 256 (streaming backwards from a common start would span 256 B too).
    x = tensor("x", (1, 64), "int8", q(0.1, 3))
    y = tensor("y", (1, 64), "float32")
    model = single_op_model("DEQUANTIZE", [x], [y])
    plan = plan_memory(model)
    geo = plan.inplace[0]
    assert (geo.order, geo.delta, geo.footprint) == ("forward", -192, 256)
    assert plan.arena_bytes == 256
    inputs = random_inputs(model.main, 0)
    assert_same(ArenaInterpreter(model, plan).run(inputs)[0],
                TflmSession(model_bytes(model)).run(inputs)[0], "dequantize")


def test_regions_spill_from_fast_to_slow():
    model = load_model(SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite")
    plan = plan_memory(model, regions=[("dtcm", 4096), ("sram", 1 << 20)])
    assert check_plan(plan) == []
    dtcm, sram = plan.regions
    assert 0 < dtcm.used <= 4096 and sram.used > 0 and plan.fits
    inputs = random_inputs(model.main, 0)
    got = ArenaInterpreter(model, plan).run(inputs)
    want = TflmSession(SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite").run(inputs)
    assert_same(got[0], want[0], "kws over two regions")


def test_overflow_names_the_region():
    model = load_model(SHARED_MODELS / "mlperf_tiny/vww_mobilenetv1_96_int8.tflite")
    one = plan_memory(model)
    plan = plan_memory(model, regions=[("sram", 32768)])
    assert not plan.fits
    assert plan.overflow == {"sram": one.arena_bytes - 32768}
    two = plan_memory(model, regions=[("sram", 32768), ("psram", 1 << 22)])
    assert two.fits and two.regions[0].used <= 32768
    assert check_plan(two) == []


def _branches() -> OrderProblem:
    # x (10 B) feeds two branches: n0: x -> a1 (100 B), n1: a1 -> a2 (1 B);
    # n2: x -> b1 (100 B), n3: b1 -> b2 (1 B); n4: (a2, b2) -> out (1 B).
    # Buffers: 0 x, 1 a1, 2 a2, 3 b1, 4 b2, 5 out.
    return OrderProblem(
        n_nodes=5, preds=[set(), {0}, set(), {2}, {1, 3}],
        reads=[{0}, {1}, {0}, {3}, {2, 4}], writes=[{1}, {2}, {3}, {4}, {5}],
        sizes=[10, 100, 1, 100, 1, 1], readers=[{0, 2}, {1}, {4}, {3}, {4}, set()],
        keep={5}, start={0}, scratch=[0] * 5, credit=[{} for _ in range(5)])


def test_exact_reordering_on_branches():
    p = _branches()
    # [n0, n2, ...]: 10 + 100 + 100 = 210 at n2. [n0, n1, n2, n3, n4]: 110, 111, then x
    # dies at n2: 11 + 100 = 111, 102, 3 -> 111, and no order can do better (the first
    # node already needs 110 and the second 111 at least).
    assert peak_of(p, [0, 2, 1, 3, 4]) == 210
    order = exact_order(p)
    assert peak_of(p, order) == 111
    assert peak_of(p, greedy_order(p)) == 111
    pos = {n: i for i, n in enumerate(order)}
    assert all(pos[q] < pos[n] for n in range(5) for q in p.preds[n])


def test_plan_memory_reorders_a_real_graph():
    # The same shape with float FULLY_CONNECTED layers, written in the bad order.
    rng = np.random.default_rng(2)
    g = Graph()
    x = tensor("x", (1, 10), "float32")
    g.inputs = [x]
    a1 = _fc(g, x, 100, "a1", rng)
    b1 = _fc(g, x, 100, "b1", rng)
    a2 = _fc(g, a1, 1, "a2", rng)
    b2 = _fc(g, b1, 1, "b2", rng)
    out = tensor("out", (1, 1), "float32")
    g.add_node(Node("ADD", [a2, b2], [out], dict(fused_activation_function="NONE"),
                    name="add"))
    g.outputs = [out]
    model = Model([g])
    fixed = plan_memory(model, reorder_ops=False)
    plan = plan_memory(model)
    # In the file's order a1 and b1 (400 B each) and x (48 B) coexist: 848 B. Reordered:
    # x + a1 + a2 = 48 + 400 + 16 = 464 B at most.
    assert fixed.arena_bytes == fixed.lower_bound_bytes == 848
    assert plan.order_method == "exact" and plan.order != list(range(5))
    assert plan.arena_bytes == plan.lower_bound_bytes == 464
    inputs = random_inputs(g, 0)
    assert_same(ArenaInterpreter(model, plan).run(inputs)[0], _tflm_outputs(model, inputs)[0],
                "reordered vs TFLM", rtol=1e-5)


def test_data_movement_ops_run_in_place():
    # STRIDED_SLICE int8 [1,32] -> elements 2, 5, ..., 29 ([1,10]): out[k] = in[2 + 3k] and
    # in[2 + 3k] >= k, so writing forwards from the input's own address only overwrites
    # elements already read: same address, the pair spans the input's 32 B.
    x = tensor("x", (1, 32), "int8", q(0.1, 0))
    y = tensor("y", (1, 10), "int8", q(0.1, 0))
    ss = single_op_model("STRIDED_SLICE", [
        x, const("b", np.array([0, 2], np.int32)), const("e", np.array([1, 32], np.int32)),
        const("s", np.array([1, 3], np.int32))], [y], attrs=dict(
            begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0,
            offset=False))
    # PAD int8 [1,32] by 8 on each side -> [1,48]: out[k] = in[k - 8], last read of in[q] at
    # chunk q + 8. Forwards, chunk k writes [k - s, k + 1 - s), which must stay below the
    # lowest element still to be read later, max(k - 7, 0): s >= 8, 16 after alignment:
    # the pair spans max(32 + 16, 48) = 48 B instead of 32 + 48.
    x2 = tensor("x", (1, 32), "int8", q(0.1, 0))
    y2 = tensor("y", (1, 48), "int8", q(0.1, 0))
    pad = single_op_model("PAD", [x2, const("p", np.array([[0, 0], [8, 8]], np.int32))], [y2])
    for model, want in ((ss, ("forward", 0, 32)), (pad, ("forward", -16, 48))):
        plan = plan_memory(model)
        geo = plan.inplace[0]
        assert (geo.order, geo.delta, geo.footprint) == want
        assert plan.arena_bytes == plan.lower_bound_bytes == want[2]
        oracle = TflmSession(model_bytes(model))
        ours = ArenaInterpreter(model, plan)
        for seed in (0, 1):
            inputs = random_inputs(model.main, seed)
            assert_same(ours.run(inputs)[0], oracle.run(inputs)[0], model.main.nodes[0].op)


def test_exact_search_gives_up_past_its_budget():
    p = _branches()
    assert exact_order(p, max_states=1) is None
    from picojoule.planner.order import reorder
    assert reorder(p, exact_limit=2)[1] == "greedy"
    assert reorder(p)[1] == "exact"
