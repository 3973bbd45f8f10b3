"""The op table's shape rules (``OpInfo.shape``), checked against shapes picojoule did not make.

- every registered op has a rule;
- every node of every model in ../shared/models (the MLPerf Tiny models, TFLM's example
  models and TFLM's 127 single-op test models; the Ethos-U command stream excepted): the
  rule, given the stored input shapes and constants, gives exactly the output shapes the
  TF converter stored; a rule may refuse only when the input it needs is not constant;
- single-op models whose output shapes are deliberately wrong placeholders: LiteRT's
  builtin kernels compute every output shape in Prepare (or Eval), and the rule must give
  the shapes LiteRT computed (where LiteRT checks instead, it must refuse the placeholder
  and accept the rule's shape) -- this covers every builtin op, with the configurations the
  corpus lacks (-1 inference, masks, padding modes, batch dims, adj flags, keep_num_dims);
- the signal ops the corpus lacks (framer, stacker, overlap-add, irfft, delay), against the
  shapes TF's documented shape functions give, in models TFLM runs.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from opkit import const, run_oracle, single_op_model, tensor
from oracles import SHARED_MODELS
from picojoule.exporters.tflite import dumps
from picojoule.importers.tflite import load, loads
from picojoule.ops import REGISTRY
from picojoule.ops.common import DataDependentShape
from picojoule.runtime import random_inputs

MODELS = sorted(p.relative_to(SHARED_MODELS).as_posix() for p in SHARED_MODELS.rglob("*.tflite"))
#: A compiled NPU command stream: its shapes are whatever Vela fixed, not a rule's.
OPAQUE = {"CUSTOM:ethos-u"}


def _rule_shapes(node) -> list[tuple]:
    shapes = [None if v is None else v.shape for v in node.inputs]
    consts = [v.data if v is not None and v.is_const else None for v in node.inputs]
    return [tuple(s) for s in REGISTRY[node.op].shape(node, shapes, consts)]


# ------------------------------------------------------------------------------ coverage
def test_every_registered_op_has_a_shape_rule():
    missing = sorted(name for name, info in REGISTRY.items() if not callable(info.shape))
    assert not missing, f"ops without a shape rule: {missing}"


# ------------------------------------------------------------------------------ the corpus
def _check_model(rel: str) -> tuple[Counter, int]:
    """(ops checked, data-dependent refusals) for one corpus model; asserts every rule."""
    m = load(SHARED_MODELS / rel)
    checked, refused = Counter(), 0
    for g in m.graphs:
        for node in g.nodes:
            if node.op in OPAQUE:
                continue
            assert node.op in REGISTRY, f"{rel}: {node.op} is not registered"
            try:
                got = _rule_shapes(node)
            except DataDependentShape as exc:
                # Allowed only where the input it names really is computed at run time.
                v = node.inputs[exc.index]
                assert v is not None and not v.is_const, f"{rel}: {node.name} refused {exc}"
                refused += 1
                continue
            want = [o.shape for o in node.outputs]
            assert got == want, f"{rel}: {node.op} {node.name!r}: rule {got}, file {want}"
            checked[node.op] += 1
    return checked, refused


@pytest.mark.parametrize("rel", MODELS)
def test_rule_gives_the_converters_shapes(rel: str):
    _check_model(rel)


def test_corpus_coverage():
    """The corpus check above is not vacuous: how much it covers."""
    ops, nodes, refused = Counter(), 0, 0
    for rel in MODELS:
        c, r = _check_model(rel)
        ops.update(c)
        nodes += sum(c.values())
        refused += r
    assert len(MODELS) >= 149 and nodes >= 390 and len(ops) >= 30, (len(MODELS), nodes, ops)
    # TFLM's TRANSPOSE_CONV test models feed output_shape as a graph input (5 of them).
    assert refused == 5


# ------------------------------------------------------------------------------ LiteRT
def _litert_shapes(model) -> list[tuple]:
    """Output shapes LiteRT's builtin kernels compute for ``model`` (inputs all ones)."""
    from ai_edge_litert import interpreter as litert

    kind = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES  # has CEIL, ELU, ROUND
    it = litert.Interpreter(model_content=dumps(model), experimental_op_resolver_type=kind)
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.ones(d["shape"], d["dtype"]))
    it.invoke()
    return [tuple(int(x) for x in it.get_tensor(d["index"]).shape)
            for d in it.get_output_details()]


def _i32(*a) -> np.ndarray:
    return np.array(a, np.int32)


F = "float32"
_CONV = dict(fused_activation_function="NONE")
_POOL = dict(fused_activation_function="NONE")
_SS = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0,
           offset=False)


def _cases():
    """(id, op, input builders, number of outputs, output dtypes, attrs). Builders make fresh
    Values per model (a Value belongs to one model)."""
    rng = np.random.default_rng(0)

    def x(*shape):
        return lambda: tensor("x", shape, F)

    def c(array):
        return lambda: const("c", array)

    def w(*shape):
        return lambda: const("w", rng.standard_normal(shape).astype(np.float32))

    yield "reshape-tensor-stretch", "RESHAPE", [x(2, 3, 4), c(_i32(-1, 4))], 1, F, dict(
        new_shape=[-1, 4])
    yield "reshape-new-shape-attr", "RESHAPE", [x(2, 3, 4)], 1, F, dict(new_shape=[4, -1, 2])
    yield "squeeze-all", "SQUEEZE", [x(1, 3, 1, 2)], 1, F, dict(squeeze_dims=[])
    yield "squeeze-neg", "SQUEEZE", [x(1, 3, 1, 2)], 1, F, dict(squeeze_dims=[-2])
    yield "expand-dims-neg", "EXPAND_DIMS", [x(2, 3), c(np.int32(-1))], 1, F, {}
    yield "expand-dims-0", "EXPAND_DIMS", [x(2, 3), c(_i32(0))], 1, F, {}
    yield "shape", "SHAPE", [x(2, 3, 4)], 1, "int32", dict(out_type="int32")
    yield "transpose", "TRANSPOSE", [x(2, 3, 4), c(_i32(2, 0, 1))], 1, F, {}
    yield "concat", "CONCATENATION", [x(2, 3), lambda: tensor("z", (2, 5), F)], 1, F, dict(
        axis=-1, fused_activation_function="NONE")
    yield "pack", "PACK", [x(2, 3), lambda: tensor("z", (2, 3), F)], 1, F, dict(
        values_count=2, axis=-1)
    yield "unpack", "UNPACK", [x(3, 4)], 4, F, dict(num=4, axis=1)
    yield "split", "SPLIT", [c(_i32(1)), x(2, 6)], 3, F, dict(num_splits=3)
    yield "split-v", "SPLIT_V", [x(2, 7), c(_i32(2, -1, 1)), c(_i32(1))], 3, F, dict(
        num_splits=3)
    yield "slice", "SLICE", [x(4, 5), c(_i32(1, 2)), c(_i32(-1, 2))], 1, F, {}
    yield "strided-shrink", "STRIDED_SLICE", [x(5, 6, 7), c(_i32(1, -2, 0)),
                                              c(_i32(4, 0, 7)), c(_i32(2, 1, 3))], 1, F, {
        **_SS, "shrink_axis_mask": 2, "end_mask": 2}
    yield "strided-negative", "STRIDED_SLICE", [x(5, 6), c(_i32(-1, 5)), c(_i32(0, -7)),
                                                c(_i32(-2, -1))], 1, F, {**_SS, "begin_mask": 1}
    yield "strided-offset", "STRIDED_SLICE", [x(5, 6), c(_i32(1, 2)), c(_i32(3, 2)),
                                              c(_i32(1, 1))], 1, F, {**_SS, "offset": True}
    yield "strided-ellipsis-newaxis", "STRIDED_SLICE", [x(4, 5, 6), c(_i32(0, 1, 0)),
                                                        c(_i32(0, 3, 0)), c(_i32(1, 1, 1))], \
        1, F, {**_SS, "ellipsis_mask": 1, "new_axis_mask": 4}
    yield "gather", "GATHER", [x(3, 4, 5), c(_i32([0, 1], [3, 2]))], 1, F, dict(
        axis=1, batch_dims=0)
    yield "gather-batch-dims", "GATHER", [x(3, 4, 5), c(np.zeros((3, 2), np.int32))], 1, F, \
        dict(axis=1, batch_dims=1)
    yield "gather-scalar", "GATHER", [x(3, 4), c(np.int32(2))], 1, F, dict(axis=1, batch_dims=0)
    yield "gather-nd", "GATHER_ND", [x(3, 4, 5), c(_i32([0, 1], [2, 3]))], 1, F, {}
    yield "pad", "PAD", [x(2, 3), c(_i32([1, 0], [2, 3]))], 1, F, {}
    yield "padv2", "PADV2", [x(2, 3), c(_i32([0, 2], [1, 1])), c(np.float32(0.5))], 1, F, {}
    yield "mirror-pad", "MIRROR_PAD", [x(3, 4), c(_i32([1, 2], [0, 3]))], 1, F, dict(mode=0)
    yield "tile", "TILE", [x(2, 3), c(_i32(2, 3))], 1, F, {}
    yield "fill", "FILL", [c(_i32(2, 3)), c(np.float32(1.5))], 1, F, {}
    yield "zeros-like", "ZEROS_LIKE", [x(2, 3)], 1, F, {}
    yield "broadcast-to", "BROADCAST_TO", [x(3, 1), c(_i32(2, 3, 4))], 1, F, {}
    yield "resize-bilinear", "RESIZE_BILINEAR", [x(1, 4, 4, 2), c(_i32(6, 8))], 1, F, dict(
        align_corners=False, half_pixel_centers=True)
    yield "resize-nearest", "RESIZE_NEAREST_NEIGHBOR", [x(1, 4, 4, 2), c(_i32(3, 9))], 1, F, \
        dict(align_corners=False, half_pixel_centers=False)
    yield "space-to-batch", "SPACE_TO_BATCH_ND", [x(1, 5, 6, 2), c(_i32(2, 3)),
                                                  c(_i32([1, 0], [0, 0]))], 1, F, {}
    yield "batch-to-space", "BATCH_TO_SPACE_ND", [x(6, 3, 2, 2), c(_i32(2, 3)),
                                                  c(_i32([1, 0], [0, 1]))], 1, F, {}
    yield "space-to-depth", "SPACE_TO_DEPTH", [x(1, 4, 6, 3)], 1, F, dict(block_size=2)
    yield "depth-to-space", "DEPTH_TO_SPACE", [x(1, 2, 3, 8)], 1, F, dict(block_size=2)
    yield "conv-same-stride", "CONV_2D", [x(1, 9, 10, 3), w(4, 3, 3, 3), w(4)], 1, F, dict(
        padding="SAME", stride_h=2, stride_w=3, dilation_h_factor=1, dilation_w_factor=1,
        **_CONV)
    yield "conv-valid-dilated", "CONV_2D", [x(1, 12, 11, 2), w(5, 3, 2, 2), w(5)], 1, F, dict(
        padding="VALID", stride_h=1, stride_w=2, dilation_h_factor=2, dilation_w_factor=3,
        **_CONV)
    yield "depthwise", "DEPTHWISE_CONV_2D", [x(1, 8, 7, 2), w(1, 3, 3, 4), w(4)], 1, F, dict(
        padding="VALID", stride_h=2, stride_w=2, depth_multiplier=2, dilation_h_factor=1,
        dilation_w_factor=1, **_CONV)
    yield "transpose-conv", "TRANSPOSE_CONV", [c(_i32(1, 8, 10, 4)), w(4, 3, 3, 2),
                                               x(1, 4, 5, 2)], 1, F, dict(
        padding="SAME", stride_h=2, stride_w=2, **_CONV)
    yield "avg-pool-same", "AVERAGE_POOL_2D", [x(1, 7, 9, 3)], 1, F, dict(
        padding="SAME", stride_h=2, stride_w=2, filter_height=3, filter_width=2, **_POOL)
    yield "max-pool-valid", "MAX_POOL_2D", [x(1, 7, 9, 3)], 1, F, dict(
        padding="VALID", stride_h=2, stride_w=3, filter_height=3, filter_width=2, **_POOL)
    for keep in (True, False):
        yield f"fc-keep-{keep}", "FULLY_CONNECTED", [x(2, 3, 8), w(5, 8), None], 1, F, dict(
            fused_activation_function="NONE", weights_format=0, keep_num_dims=keep,
            asymmetric_quantize_inputs=False)
    yield "bmm-broadcast", "BATCH_MATMUL", [x(2, 1, 3, 4), lambda: tensor("z", (5, 4, 6), F)], \
        1, F, dict(adj_x=False, adj_y=False, asymmetric_quantize_inputs=False)
    yield "bmm-adj", "BATCH_MATMUL", [x(2, 4, 3), lambda: tensor("z", (6, 4), F)], 1, F, dict(
        adj_x=True, adj_y=True, asymmetric_quantize_inputs=False)
    yield "arg-max", "ARG_MAX", [x(3, 4, 5), c(_i32(-2))], 1, "int32", dict(output_type="int32")
    yield "mean-keep", "MEAN", [x(2, 3, 4), c(_i32(1, -1))], 1, F, dict(keep_dims=True)
    yield "sum-drop", "SUM", [x(2, 3, 4), c(_i32(0, 2, 0))], 1, F, dict(keep_dims=False)
    yield "reduce-prod", "REDUCE_PROD", [x(2, 3, 4), c(_i32(1))], 1, F, dict(keep_dims=False)
    yield "reduce-max", "REDUCE_MAX", [x(2, 3, 4), c(_i32(-1))], 1, F, dict(keep_dims=True)
    yield "add-broadcast", "ADD", [x(2, 1, 4), lambda: tensor("z", (3, 1), F)], 1, F, dict(
        fused_activation_function="NONE")
    yield "select-v2", "SELECT_V2", [lambda: tensor("cond", (1, 3), "bool"), x(2, 1),
                                     lambda: tensor("z", (3,), F)], 1, F, {}
    yield "prelu", "PRELU", [x(1, 4, 4, 3), c(np.ones(3, np.float32))], 1, F, {}
    yield "cumsum", "CUMSUM", [x(2, 5), c(_i32(1))], 1, F, dict(exclusive=False, reverse=True)
    yield "less", "LESS", [x(4, 1), lambda: tensor("z", (3,), F)], 1, "bool", {}
    # The shared rules (same shape, broadcasting, reductions) on the rest of the table.
    for op, attrs in (("ABS", {}), ("CEIL", {}), ("ELU", {}), ("EXP", {}), ("FLOOR", {}),
                      ("GELU", dict(approximate=False)), ("HARD_SWISH", {}),
                      ("L2_NORMALIZATION", dict(fused_activation_function="NONE")),
                      ("LOG", {}), ("LOGISTIC", {}), ("LOG_SOFTMAX", {}), ("NEG", {}),
                      ("RELU", {}), ("RELU6", {}), ("RELU_N1_TO_1", {}), ("ROUND", {}),
                      ("RSQRT", {}), ("SQRT", {}), ("TANH", {})):
        yield op.lower(), op, [x(2, 3, 4)], 1, F, attrs
    for op in ("FLOOR_DIV", "FLOOR_MOD", "SQUARED_DIFFERENCE"):
        yield op.lower(), op, [x(2, 1, 4), lambda: tensor("z", (3, 1), F)], 1, F, {}
    for op in ("EQUAL", "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS_EQUAL"):
        yield op.lower(), op, [x(2, 1, 4), lambda: tensor("z", (3, 1), F)], 1, "bool", {}
    for op in ("LOGICAL_AND", "LOGICAL_OR"):
        yield op.lower(), op, [lambda: tensor("a", (2, 1), "bool"),
                               lambda: tensor("b", (3,), "bool")], 1, "bool", {}
    yield "logical-not", "LOGICAL_NOT", [lambda: tensor("a", (2, 3), "bool")], 1, "bool", {}
    yield "add-n", "ADD_N", [x(2, 3), lambda: tensor("z", (2, 3), F)], 1, F, {}
    yield "arg-min", "ARG_MIN", [x(3, 4, 5), c(_i32(2))], 1, "int32", dict(output_type="int32")
    yield "reduce-min", "REDUCE_MIN", [x(2, 3, 4), c(_i32(0, 1))], 1, F, dict(keep_dims=False)


CASES = list(_cases())
#: Op versions LiteRT's resolver wants (BROADCAST_TO starts at 2).
_VERSION = {"BROADCAST_TO": 2}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule_gives_litert_shapes(case):
    """LiteRT resizes the outputs from placeholder shapes; where it checks the stored shape
    instead (SLICE), it must refuse the placeholder and accept the rule's shape."""
    _, op, builders, n_out, out_dtype, attrs = case

    def model(out_shapes):
        inputs = [None if b is None else b() for b in builders]
        outputs = [tensor(f"y{i}", s, out_dtype) for i, s in enumerate(out_shapes)]
        return single_op_model(op, inputs, outputs, attrs=attrs, version=_VERSION.get(op, 1))

    placeholder = [(1,)] * n_out  # what dynamic exports store
    m = model(placeholder)
    rule = _rule_shapes(loads(dumps(m)).main.nodes[0])
    try:
        want = _litert_shapes(m)
    except RuntimeError as exc:
        assert "failed to prepare" in str(exc), exc
        want = _litert_shapes(model(rule))  # accepted (and run) with the rule's shapes
    assert rule == want, f"{op}: rule {rule}, LiteRT {want}"
    assert want != placeholder  # the placeholder really was wrong


def test_data_dependent_rule_names_the_input():
    """A RESHAPE whose shape tensor is a graph input: the rule says which input decides."""
    m = single_op_model("RESHAPE", [tensor("x", (2, 6), F), tensor("s", (2,), "int32")],
                        [tensor("y", (1,), F)], attrs=dict(new_shape=[]))
    node = loads(dumps(m)).main.nodes[0]
    with pytest.raises(DataDependentShape, match=r"RESHAPE \(node 'reshape_0'\).*input 1 's'"):
        _rule_shapes(node)


# ------------------------------------------------------------------------------ signal ops
def _opts(**kw) -> dict:
    from flatbuffers import flexbuffers

    return {"custom_options": bytes(flexbuffers.Dumps(kw))}


@pytest.mark.parametrize("in_shape,size,step,want", [
    ((12,), 8, 4, (3, 8)), ((2, 6), 10, 3, (2, 2, 10)), ((3, 1, 10), 4, 5, (3, 1, 2, 4))])
def test_framer_rule(in_shape, size, step, want):
    """TF's SignalFramer shape function: [..., inner / frame_step, frame_size] and a scalar
    valid flag; TFLM runs the model with those shapes."""
    m = single_op_model("CUSTOM:SignalFramer", [tensor("x", in_shape, "int16")],
                        [tensor("y", want, "int16"), tensor("v", (), "bool")],
                        _opts(frame_size=size, frame_step=step, prefill=False))
    node = m.main.nodes[0]
    assert _rule_shapes(node) == [want, ()]
    out = run_oracle(m, [random_inputs(m.main, 0)])[0]
    assert out[0].shape == want and out[1].shape == ()


@pytest.mark.parametrize("nch,left,right", [(4, 2, 1), (3, 0, 2)])
def test_stacker_rule(nch, left, right):
    """TF's SignalStacker: [num_channels * (left + 1 + right)] and a scalar valid flag."""
    want = (nch * (left + right + 1),)
    m = single_op_model("CUSTOM:SignalStacker", [tensor("x", (nch,), "int16")],
                        [tensor("y", want, "int16"), tensor("v", (), "bool")],
                        _opts(num_channels=nch, stacker_left_context=left,
                              stacker_right_context=right, stacker_step=1))
    assert _rule_shapes(m.main.nodes[0]) == [want, ()]
    run_oracle(m, [random_inputs(m.main, 0)])


@pytest.mark.parametrize("n", [8, 16])
def test_irfft_rule(n):
    """TF's SignalIrfft: innermost axis -> fft_length real samples (TFLM runs it)."""
    m = single_op_model("CUSTOM:SignalIrfft", [tensor("x", (2, n + 2), "int32")],
                        [tensor("y", (2, n), "int32")], _opts(T=2, fft_length=n))
    assert _rule_shapes(m.main.nodes[0]) == [(2, n)]
    run_oracle(m, [random_inputs(m.main, 0)])


def test_delay_rule():
    """SignalDelay keeps its input's shape."""
    m = single_op_model("CUSTOM:SignalDelay", [tensor("x", (3, 10), "int16")],
                        [tensor("y", (3, 10), "int16")], _opts(delay_length=4))
    assert _rule_shapes(m.main.nodes[0]) == [(3, 10)]
    run_oracle(m, [random_inputs(m.main, 0)])


def test_overlap_add_rule():
    """TF's SignalOverlapAdd: [..., frames, frame_size] -> [..., frames * frame_step]."""
    m = single_op_model("CUSTOM:SignalOverlapAdd", [tensor("x", (2, 3, 8), "int16")],
                        [tensor("y", (2, 12), "int16")], _opts(T=7, frame_step=4))
    assert _rule_shapes(m.main.nodes[0]) == [(2, 12)]
    run_oracle(m, [random_inputs(m.main, 0)])
