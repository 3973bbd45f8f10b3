"""picojoule's ``.tflite`` writer: the exact inverse of the importer, and files TFLM runs.

- every corpus model: load -> dumps -> loads gives the same IR (structural comparison);
- a selection of corpus models: TFLM on the rewritten bytes gives the same outputs and
  intermediates as TFLM on the original file (the oracle on both sides);
- a synthetic model with every feature the writer handles (dtypes incl. packed int4,
  per-channel quantization, variables, absent inputs, intermediates, custom ops, several
  subgraphs, metadata) round-trips, and its constant data is 16-byte aligned;
- opkit's single-op path against hand-derived expectations.
"""

from __future__ import annotations

import inspect
import math
import re

import numpy as np
import pytest

import opkit
from opkit import (check_op, const, q, run_oracle, single_op_model, tensor, tflm_session,
                   variable)
from oracles import SHARED_MODELS, assert_same
from picojoule.errors import PicojouleError
from picojoule.exporters.tflite import OPTIONS_CLASSES, ExportError, _field_writers, dumps, save
from picojoule.importers.tflite import _TYPE_FIELDS, _option_fields, load, loads
from picojoule.ir import Graph, Model, Node, Value
from picojoule.ops import REGISTRY
from picojoule.runtime import random_inputs

MODELS = sorted(p.relative_to(SHARED_MODELS).as_posix() for p in SHARED_MODELS.rglob("*.tflite"))


# -- structural comparison -------------------------------------------------------------------
def _same_attr(a: object, b: object) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_attr(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return np.float32(a) == np.float32(b)
    return type(a) is type(b) and a == b


def _describe_value(v: Value | None, pos: dict[int, int]) -> tuple:
    """Position in graph.values(), name, shape, dtype, variable flag, has data (not quant)."""
    if v is None:
        return ("absent",)
    return (pos[id(v)], v.name, v.shape, v.dtype, v.variable, v.data is not None)


def _assert_same_value(x: Value, y: Value, w: str) -> None:
    w = f"{w}: value {x.name!r}"
    assert (x.name, x.shape, x.dtype, x.variable) == (y.name, y.shape, y.dtype, y.variable), w
    assert (x.quant is None) == (y.quant is None), f"{w}: quant presence"
    if x.quant is not None:
        assert np.array_equal(x.quant.scale, y.quant.scale), f"{w}: scales"
        assert np.array_equal(x.quant.zero_point, y.quant.zero_point), f"{w}: zero points"
        assert x.quant.axis == y.quant.axis, f"{w}: axis {x.quant.axis} != {y.quant.axis}"
    assert (x.data is None) == (y.data is None), f"{w}: data presence"
    if x.data is not None:
        assert x.data.dtype == y.data.dtype and np.array_equal(x.data, y.data), f"{w}: data"
    assert x.meta.get("shape_signature") == y.meta.get("shape_signature"), f"{w}: signature"


def assert_same_model(a: Model, b: Model, what: str) -> None:
    """Graphs, nodes, attrs, versions, values (incl. data) and metadata are identical."""
    assert len(a.graphs) == len(b.graphs), what
    assert a.description == b.description, f"{what}: description"
    assert a.metadata == b.metadata, f"{what}: metadata"
    for ga, gb in zip(a.graphs, b.graphs):
        w = f"{what} graph {ga.name!r}"
        assert ga.name == gb.name, w
        va, vb = ga.values(), gb.values()
        pa = {id(v): i for i, v in enumerate(va)}
        pb = {id(v): i for i, v in enumerate(vb)}
        assert len(va) == len(vb), f"{w}: {len(va)} values != {len(vb)}"
        for x, y in zip(va, vb):
            _assert_same_value(x, y, w)
        assert [pa[id(v)] for v in ga.inputs] == [pb[id(v)] for v in gb.inputs], f"{w}: inputs"
        assert [pa[id(v)] for v in ga.outputs] == [pb[id(v)] for v in gb.outputs], f"{w}: outputs"
        assert len(ga.nodes) == len(gb.nodes), w
        for k, (na, nb) in enumerate(zip(ga.nodes, gb.nodes)):
            wn = f"{w} node {k} {na.op}"
            assert (na.op, na.version) == (nb.op, nb.version), wn
            assert sorted(na.attrs) == sorted(nb.attrs), f"{wn}: attr keys"
            for key in na.attrs:
                assert _same_attr(na.attrs[key], nb.attrs[key]), (
                    f"{wn}: attr {key}: {na.attrs[key]!r} != {nb.attrs[key]!r}")
            assert ([_describe_value(v, pa) for v in na.inputs]
                    == [_describe_value(v, pb) for v in nb.inputs]), f"{wn}: inputs"
            assert ([_describe_value(v, pa) for v in na.outputs]
                    == [_describe_value(v, pb) for v in nb.outputs]), f"{wn}: outputs"
            assert ([pa[id(v)] for v in na.intermediates]
                    == [pb[id(v)] for v in nb.intermediates]), f"{wn}: intermediates"


def test_corpus_present() -> None:
    assert len(MODELS) >= 149, f"expected the shared model corpus at {SHARED_MODELS}"


def test_every_corpus_model_round_trips() -> None:
    """One test for all ~150 models keeps the file fast; the message names the model."""
    for name in MODELS:
        original = load(SHARED_MODELS / name)
        data = dumps(original)
        assert data[4:8] == b"TFL3", name
        again = loads(data, source=name)
        assert_same_model(original, again, name)
        # Writing is deterministic and idempotent.
        assert dumps(again) == data, f"{name}: second write differs"


#: TFLM cannot run these (an Ethos-U command stream; a hybrid float model).
NOT_TFLM = {"tflm/person_detect_vela.tflite", "mlperf_tiny/kws_dscnn_float32.tflite"}
#: Every application model TFLM runs, plus the first ops/ model of each op kind.
TFLM_MODELS = [n for n in MODELS if not n.startswith("ops/") and n not in NOT_TFLM] + sorted(
    {re.sub(r"\d+\.tflite$", "", n): n for n in reversed(MODELS) if n.startswith("ops/")}.values())


@pytest.mark.parametrize("name", TFLM_MODELS)
def test_tflm_runs_rewritten_model_identically(name: str) -> None:
    path = SHARED_MODELS / name
    model = load(path)
    data = dumps(model)
    reread = loads(data)
    # The same (ample) arena on every side: TFLM's default (10x the file size) differs
    # between the files and is too small for some of them.
    arena = opkit._arena_size(model, data) + 4 * path.stat().st_size
    original = path.read_bytes()
    before = tflm_session(original, arena_size=arena)
    control = tflm_session(original, arena_size=arena)  # a second run of the original file
    after = tflm_session(data, arena_size=arena)
    for seed in (0, 1):
        x = random_inputs(model.main, seed)
        want, got = before.run(x), after.run(x)
        control.run(x)  # its intermediates tell arena garbage from a difference
        assert len(want) == len(got) == len(model.main.outputs)
        for i, (a, b) in enumerate(zip(got, want)):
            assert_same(a, b, f"{name} seed {seed} output {i}", rtol=0)
        # Same tensor indices, so intermediates line up too. Some ops leave part of their
        # output unwritten (SignalEnergy fills [start_index, end_index) only); that arena
        # garbage differs even between two runs of the original file, and is skipped.
        garbage = 0
        for node in reread.main.nodes:
            for v in node.outputs:
                idx = v.meta["tflite_index"]
                ref = before.tensor(idx)
                if not np.array_equal(ref, control.tensor(idx)):
                    garbage += 1
                    continue
                assert_same(after.tensor(idx), ref,
                            f"{name} seed {seed}: {node.op} output {v.name!r}", rtol=0)
        assert garbage <= 3, f"{name}: {garbage} intermediates not reproducible in TFLM"


# -- the writer's features on a synthetic model --------------------------------------------------
def _feature_model() -> Model:
    rng = np.random.default_rng(7)
    main = Graph("main")
    x = Value("x", (1, 4, 4, 3), "int8", quant=opkit.q(0.05, -3))
    w4 = Value("w_int4", (5, 3, 3, 3), "int4", quant=opkit.q(rng.uniform(0.01, 0.1, 5), 0, 0),
               data=rng.integers(-8, 8, (5, 3, 3, 3)).astype(np.int8))  # odd count: 135
    bias = Value("bias", (5,), "int32", quant=opkit.q(rng.uniform(1e-4, 1e-3, 5), 0),
                 data=rng.integers(-1000, 1000, 5).astype(np.int32))
    y = Value("y", (1, 4, 4, 5), "int8", quant=opkit.q(0.1, 4))
    main.add_node(Node("CONV_2D", [x, w4, bias], [y], dict(
        padding="SAME", stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1,
        fused_activation_function="RELU6", quantized_bias_type="int32"), version=7))
    consts = {
        "c_bool": np.array([True, False, True]), "c_i16": np.array([-32768, 7, 32767], np.int16),
        "c_i64": np.array([-(2 ** 40), 3], np.int64), "c_u8": np.arange(250, 256, dtype=np.uint8),
        "c_f32": np.array([[1.5, -2.25]], np.float32), "c_f16": np.array([0.5], np.float16),
    }
    cvals = [Value(k, a.shape, str(a.dtype), data=a) for k, a in consts.items()]
    state = Value("state", (1, 8), "int16", quant=opkit.q(2 ** -10, 0), variable=True)
    inter = Value("inter", (1,), "int16", quant=opkit.q(0.007, 0))
    z = Value("z", (1, 4, 4, 5), "int8", quant=opkit.q(0.1, 4))
    main.add_node(Node("CUSTOM:MyOp", [y, None, *cvals, state], [z],
                       {"custom_options": b"\x01\x02\x03flex"}, version=2))
    gelu_out = Value("g", (1, 4, 4, 5), "int8", quant=opkit.q(0.1, 4))
    node = Node("GELU", [z], [gelu_out], {"approximate": True}, version=2)  # code 150 > 127
    node.intermediates = [inter]
    main.add_node(node)
    r = Value("r", (16, 5), "int8", quant=opkit.q(0.1, 4))
    main.add_node(Node("RESHAPE", [gelu_out], [r], {}))  # empty attrs: no options table
    main.inputs, main.outputs = [x], [r, z]
    body = Graph("body")
    a = Value("a", (2,), "float32")
    b = Value("b", (2,), "float32")
    body.add_node(Node("MEAN", [a, Value("axes", (1,), "int32", data=np.array([0], np.int32))],
                       [b], {"keep_dims": True}))
    body.inputs, body.outputs = [a], [b]
    model = Model([main, body], description="picojoule writer test",
                  metadata={"min_runtime_version": b"1.5.0\0\0", "empty": b""})
    model.verify()
    return model


def test_feature_model_round_trips() -> None:
    model = _feature_model()
    data = dumps(model)
    again = loads(data)
    assert_same_model(model, again, "feature model")
    main = again.main
    assert main.nodes[1].inputs[1] is None
    assert main.nodes[2].attrs == {"approximate": True}
    assert main.nodes[3].attrs == {}
    state = main.nodes[1].inputs[-1]
    assert state.variable and state.data is None and state.dtype == "int16"
    w4 = main.nodes[0].inputs[1]
    assert w4.quant.per_channel and w4.quant.axis == 0 and w4.dtype == "int4"


def test_int4_packing_is_low_nibble_first_and_data_aligned() -> None:
    vals = np.array([1, -2, 7, -8, 3], np.int8)  # odd count: last byte half used
    x = tensor("x", (5,), "int8")
    c = Value("c", (5,), "int4", data=vals)
    y = tensor("y", (5,), "int8")
    data = dumps(single_op_model("ADD", [x, c], [y], {"fused_activation_function": "NONE"}))
    packed = bytes([0x1 | (0xE << 4), 0x7 | (0x8 << 4), 0x3])  # hand-packed
    assert data.count(packed) == 1
    # A distinctive 64-byte constant must start on a 16-byte boundary of the file.
    marker = np.frombuffer(b"picojoule-alignment-marker-0123456789abcdefghijklmnopqrstuvwxyz!"[:64],
                           np.uint8).copy()
    for pad in range(5):  # shift the layout a little each time
        xs = tensor("x" * (pad + 1), (64,), "uint8")
        cm = const("m", marker)
        ys = tensor("y", (64,), "uint8")
        d = dumps(single_op_model("ADD", [xs, cm], [ys], {"fused_activation_function": "NONE"}))
        off = d.find(marker.tobytes())
        assert off > 0 and off % 16 == 0, f"constant at offset {off}"


def test_offline_plan_dropped_when_tensor_order_changes() -> None:
    model = load(SHARED_MODELS / "tflm/hello_world_int8.tflite")
    model.metadata["OfflineMemoryAllocation"] = np.array([1, 0, 0], "<i4").tobytes()
    assert "OfflineMemoryAllocation" in loads(dumps(model)).metadata
    g = model.main
    g.nodes[0].outputs[0].meta.pop("tflite_index")  # as if a pass made a new value
    assert "OfflineMemoryAllocation" not in loads(dumps(model)).metadata


# -- clear errors ---------------------------------------------------------------------------------
def test_unknown_attr_is_a_clear_error() -> None:
    x, y = tensor("x", (4,), "float32"), tensor("y", (4,), "float32")
    m = single_op_model("ADD", [x, tensor("x2", (4,), "float32")], [y],
                        {"fused_activation_function": "NONE", "stride_w": 2})
    with pytest.raises(ExportError, match=r"AddOptions has no field\(s\) \['stride_w'\]"):
        dumps(m)


def test_bad_enum_string_and_unknown_op_are_clear_errors() -> None:
    x, y = tensor("x", (4,), "float32"), tensor("y", (4,), "float32")
    m = single_op_model("ADD", [x, tensor("x2", (4,), "float32")], [y],
                        {"fused_activation_function": "RELU7"})
    with pytest.raises(ExportError, match="fused_activation_function='RELU7'.*RELU6"):
        dumps(m)
    m = single_op_model("NOT_AN_OP", [tensor("a", (4,), "float32")], [tensor("b", (4,), "float32")])
    with pytest.raises(PicojouleError, match="'NOT_AN_OP' is not a TFLite builtin op"):
        dumps(m)
    m = single_op_model("RELU", [tensor("a", (4,), "float32")], [tensor("b", (4,), "float32")],
                        {"alpha": 0.5})
    with pytest.raises(ExportError, match="RELU has no builtin options"):
        dumps(m)
    m = single_op_model("RESHAPE", [tensor("a", (4,), "float32")], [tensor("b", (4,), "float32")],
                        {"new_shape": 4})
    with pytest.raises(ExportError, match="new_shape=4 is not a list of int32"):
        dumps(m)
    m = single_op_model("SOFTMAX", [tensor("a", (4,), "float32")], [tensor("b", (4,), "float32")],
                        {"beta": "one"})
    with pytest.raises(ExportError, match="beta='one': a string for a numeric field"):
        dumps(m)
    m = single_op_model("SOFTMAX", [tensor("a", (4,), "float32")], [tensor("b", (4,), "float32")],
                        {"beta": [1.0]})
    with pytest.raises(ExportError, match=r"beta=\[1.0\] cannot be written"):
        dumps(m)
    bad = const("c", np.array([1, 2], np.int8))
    m = single_op_model("ADD", [tensor("a", (2,), "int8"), bad], [tensor("b", (2,), "int8")],
                        {"fused_activation_function": "NONE"})
    bad.data = np.array([1.5, 2.5], np.float32)  # as a buggy pass might leave it
    with pytest.raises(ExportError, match="data is float32, declared int8"):
        dumps(m)


def _non_default_attrs(op: str) -> dict[str, object]:
    """Every field of ``op``'s options table set to a non-default value of the right kind."""
    cls_name = OPTIONS_CLASSES[op][0]
    cls, _ = _option_fields(cls_name)
    attrs: dict[str, object] = {}
    for key, (getter, kind, vdtype) in _field_writers(cls_name).items():
        if kind == "vector":
            attrs[key] = [True, False, True] if vdtype == "<?" else (
                [0.5, -1.25] if vdtype.startswith("<f") else [1, 2, 3])
        elif kind == "string":
            attrs[key] = b"abc"
        elif key == "padding":
            attrs[key] = "VALID"
        elif key == "fused_activation_function":
            attrs[key] = "RELU6"
        elif key in _TYPE_FIELDS:
            attrs[key] = "int16"
        else:
            src = inspect.getsource(getattr(cls, getter))
            attrs[key] = (True if "BoolFlags" in src else
                          0.75 if "Float32Flags" in src or "Float64Flags" in src else 3)
    return attrs


def test_every_options_table_round_trips() -> None:
    """All ~190 ops with builtin options: every field written and read back unchanged."""
    graph = Graph("main")
    x = Value("x", (2,), "float32")
    graph.inputs = [x]
    prev = x
    for k, op in enumerate(sorted(OPTIONS_CLASSES)):
        out = Value(f"v{k}", (2,), "float32")
        graph.add_node(Node(op, [prev], [out], _non_default_attrs(op), version=k % 4 + 1))
        prev = out
    graph.outputs = [prev]
    model = Model([graph])
    again = loads(dumps(model))
    assert_same_model(model, again, "options model")
    ops = {n.op for n in again.main.nodes}
    assert {"CONV_2D", "SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "GELU"} <= ops


ISSUE_OPS_WITH_OPTIONS = """ADD SUB MUL DIV SQUARED_DIFFERENCE MAXIMUM MINIMUM CONV_2D
DEPTHWISE_CONV_2D FULLY_CONNECTED BATCH_MATMUL AVERAGE_POOL_2D MAX_POOL_2D MEAN SUM REDUCE_MAX
REDUCE_MIN SOFTMAX LOG_SOFTMAX LEAKY_RELU HARD_SWISH GELU ABS NEG CAST QUANTIZE DEQUANTIZE RESHAPE
SQUEEZE EXPAND_DIMS SHAPE TRANSPOSE CONCATENATION PACK UNPACK SPLIT SPLIT_V SLICE STRIDED_SLICE
GATHER GATHER_ND PAD PADV2 MIRROR_PAD TILE FILL ZEROS_LIKE BROADCAST_TO RESIZE_NEAREST_NEIGHBOR
RESIZE_BILINEAR SPACE_TO_BATCH_ND BATCH_TO_SPACE_ND SPACE_TO_DEPTH DEPTH_TO_SPACE ARG_MAX ARG_MIN
L2_NORMALIZATION EQUAL NOT_EQUAL LESS LESS_EQUAL GREATER GREATER_EQUAL LOGICAL_AND LOGICAL_OR
LOGICAL_NOT SELECT_V2 CUMSUM REDUCE_PROD SVDF UNIDIRECTIONAL_SEQUENCE_LSTM TRANSPOSE_CONV EXP
""".split()


def test_options_table_covers_issue_ops() -> None:
    """Ops with options get the right table (spot checks of the schema's shared tables)."""
    assert OPTIONS_CLASSES["CONV_2D"][0] == "Conv2DOptions"
    assert OPTIONS_CLASSES["MAX_POOL_2D"][0] == "Pool2DOptions"
    assert OPTIONS_CLASSES["REDUCE_PROD"][0] == "ReducerOptions"
    assert OPTIONS_CLASSES["MINIMUM"][0] == "MaximumMinimumOptions"
    assert OPTIONS_CLASSES["L2_NORMALIZATION"][0] == "L2NormOptions"
    assert OPTIONS_CLASSES["UNIDIRECTIONAL_SEQUENCE_LSTM"][0] == "UnidirectionalSequenceLSTMOptions"
    assert OPTIONS_CLASSES["SPACE_TO_BATCH_ND"][0] == "SpaceToBatchNDOptions"
    for op in ISSUE_OPS_WITH_OPTIONS:
        assert op in OPTIONS_CLASSES, op
    for op in ("RELU", "LOGISTIC", "TANH", "FLOOR", "CEIL", "ELU", "PRELU", "SQRT", "RSQRT"):
        assert op not in OPTIONS_CLASSES, op


def test_save_writes_the_same_bytes(tmp_path) -> None:
    model = load(SHARED_MODELS / "tflm/hello_world_float.tflite")
    save(model, tmp_path / "m.tflite")
    assert (tmp_path / "m.tflite").read_bytes() == dumps(model)
    with pytest.raises(ExportError, match="cannot write"):
        save(model, tmp_path / "no" / "such" / "dir.tflite")


# -- opkit self-test -------------------------------------------------------------------------------
def test_opkit_int8_add_hand_computed_in_tflm() -> None:
    """Equal scales, zero points 0: out = round_half_away((a + b) * 0.5 / 1.0)."""
    a = tensor("a", (1, 4), "int8", q(0.5, 0))
    b = tensor("b", (1, 4), "int8", q(0.5, 0))
    c = tensor("c", (1, 4), "int8", q(1.0, 0))
    m = single_op_model("ADD", [a, b], [c], {"fused_activation_function": "NONE"})
    xa = np.array([[2, 4, -6, 100]], np.int8)
    xb = np.array([[2, 1, -5, 100]], np.int8)
    (out,), = run_oracle(m, [[xa, xb]])
    np.testing.assert_array_equal(out, np.array([[2, 3, -6, 100]], np.int8))


def test_opkit_float_gelu_in_litert() -> None:
    """GELU's builtin code (150) only fits builtin_code: LiteRT must still find the op."""
    x = tensor("x", (7,), "float32")
    y = tensor("y", (7,), "float32")
    m = single_op_model("GELU", [x], [y], {"approximate": False})
    xs = np.array([-3, -1, -0.5, 0, 0.5, 1, 3], np.float32)
    (out,), = run_oracle(m, [[xs]], oracle="litert_ref")
    want = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in xs], np.float32)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_opkit_check_op_reshape_and_refusal_message() -> None:
    if "RESHAPE" not in REGISTRY:
        pytest.skip("RESHAPE is not registered yet")
    x = tensor("x", (2, 3, 4), "int8", q(0.1, 3))
    y = tensor("y", (6, 4), "int8", q(0.1, 3))
    shape = const("shape", np.array([6, 4], np.int32))
    assert shape.dtype == "int32"
    m = single_op_model("RESHAPE", [x, shape], [y], {"new_shape": [6, 4]})
    outs = check_op(m, seeds=(0, 1))
    assert len(outs) == 2 and outs[0][0].shape == (6, 4)
    # The oracle's own words come through when it refuses a model.
    x = tensor("x", (2, 3, 4), "int8", q(0.1, 3))
    bad = tensor("y", (7, 4), "int8", q(0.1, 3))
    m = single_op_model("RESHAPE", [x, const("s", np.array([7, 4], np.int32))], [bad])
    with pytest.raises(AssertionError, match=r"tflm refused.*24 != 28"):
        check_op(m, seeds=(0,))


def test_opkit_variable_and_errors() -> None:
    v = variable("state", (2, 3), "int16", q(1.0, 0))
    assert v.variable and v.data is None
    x = tensor("x", (3,), "float32")
    single_op_model("RELU", [x], [tensor("y", (3,), "float32")])
    with pytest.raises(ValueError, match="already belongs to another model"):
        single_op_model("RELU", [x], [tensor("y2", (3,), "float32")])
    with pytest.raises(TypeError, match="no IR dtype"):
        const("s", np.array(["a"]))
