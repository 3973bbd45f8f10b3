"""TFLite quantization conventions on a hand-built float graph with every op family the
quantizer treats specially, plus batch-norm folding and activation fusion.

Graph: CONV_2D -> MUL/ADD (batch norm) -> RELU -> DEPTHWISE_CONV_2D (x2, RELU6) ->
{MAX_POOL_2D, AVERAGE_POOL_2D} -> CONCATENATION -> RESHAPE -> FULLY_CONNECTED -> SOFTMAX,
and two more heads FULLY_CONNECTED -> TANH / LOGISTIC.

Expected values: the conventions of the TFLite quantization spec (hand-derived), float
outputs from LiteRT, integer outputs from TFLM.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracles import LiteRtSession, TflmSession, assert_same
from picojoule.exporters.tflite import dumps
from picojoule.ir import Graph, Model, Node, Value
from picojoule.quantize import quantize_model
from picojoule.quantize.quantizer import prepare_float
from picojoule.runtime.reference import Interpreter

CONV = {"padding": "SAME", "stride_w": 1, "stride_h": 1, "dilation_w_factor": 1,
        "dilation_h_factor": 1, "fused_activation_function": "NONE"}
POOL = {"padding": "VALID", "stride_w": 2, "stride_h": 2, "filter_width": 2,
        "filter_height": 2, "fused_activation_function": "NONE"}
FC = {"fused_activation_function": "NONE", "keep_num_dims": False, "weights_format": 0,
      "asymmetric_quantize_inputs": False}


def build() -> Model:
    rng = np.random.default_rng(3)
    g = Graph()
    n = 0

    def c(name, arr):
        arr = np.asarray(arr)
        arr = arr.astype(np.float32) if arr.dtype.kind == "f" else arr
        return Value(name, arr.shape, str(arr.dtype), data=arr)

    def op(kind, ins, shape, attrs):
        nonlocal n
        n += 1
        out = Value(f"t{n}_{kind.lower()}", shape, "float32")
        g.add_node(Node(kind, ins, [out], attrs, name=out.name))
        return out

    x = Value("x", (1, 8, 8, 3), "float32")
    g.inputs = [x]
    y = op("CONV_2D", [x, c("w1", rng.normal(0, 0.3, (8, 3, 3, 3))),
                       c("b1", rng.normal(0, 0.1, 8))], (1, 8, 8, 8), CONV)
    y = op("MUL", [y, c("bn_s", rng.uniform(0.5, 2.0, 8))], y.shape,
           {"fused_activation_function": "NONE"})
    y = op("ADD", [y, c("bn_b", rng.normal(0, 0.5, 8))], y.shape,
           {"fused_activation_function": "NONE"})
    y = op("RELU", [y], y.shape, {})
    y = op("DEPTHWISE_CONV_2D", [y, c("w2", rng.normal(0, 0.3, (1, 3, 3, 16))),
                                 c("b2", rng.normal(0, 0.1, 16))], (1, 8, 8, 16),
           {**CONV, "depth_multiplier": 2, "fused_activation_function": "RELU6"})
    p1 = op("MAX_POOL_2D", [y], (1, 4, 4, 16), POOL)
    p2 = op("AVERAGE_POOL_2D", [y], (1, 4, 4, 16), POOL)
    y = op("CONCATENATION", [p1, p2], (1, 4, 4, 32),
           {"axis": 3, "fused_activation_function": "NONE"})
    y = op("RESHAPE", [y, c("shape", np.array([1, 512], np.int32))], (1, 512), {})
    heads = []
    for k, (units, act) in enumerate(((10, "SOFTMAX"), (4, "TANH"), (4, "LOGISTIC"))):
        z = op("FULLY_CONNECTED", [y, c(f"fw{k}", rng.normal(0, 0.05, (units, 512))),
                                   c(f"fb{k}", rng.normal(0, 0.1, units))], (1, units), FC)
        heads.append(op(act, [z], z.shape, {"beta": 1.0} if act == "SOFTMAX" else {}))
    g.outputs = heads
    m = Model([g], source="conventions test graph")
    m.verify()
    return m


def _calib(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (1, 8, 8, 3)).astype(np.float32) for _ in range(n)]


def test_batchnorm_folding_and_fusion_keep_float_outputs():
    m = build()
    fused = prepare_float(m)
    ops = [nd.op for nd in fused.main.nodes]
    assert "MUL" not in ops and "ADD" not in ops and "RELU" not in ops, ops
    conv = fused.main.nodes[0]
    assert conv.op == "CONV_2D" and conv.attrs["fused_activation_function"] == "RELU"
    ref = LiteRtSession(dumps(m), reference=True)  # the unfused graph, run by LiteRT
    ours = Interpreter(fused)
    for x in _calib(3, seed=5):
        for a, e in zip(ours.run([x]), ref.run([x])):
            assert_same(a, e, "fused float output", rtol=1e-5)


def _by_op(model: Model, op: str) -> list[Node]:
    return [nd for nd in model.main.nodes if nd.op == op]


def _check_weighted(nd: Node, axis: int, qmax: int, wdtype: str, bdtype: str,
                    per_channel: bool = True) -> None:
    x, w, b = nd.inputs[0], nd.inputs[1], nd.inputs[2]
    assert w.dtype == wdtype and b.dtype == bdtype
    assert np.all(w.quant.zero_point == 0) and np.all(b.quant.zero_point == 0)
    assert int(np.abs(w.data).max()) <= qmax
    if per_channel:
        assert w.quant.axis == axis and w.quant.scale.size == w.shape[axis]
    else:
        assert w.quant.scale.size == 1
    want = (np.float64(x.quant.scale0) * w.quant.scale.astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(b.quant.scale, np.broadcast_to(want, b.quant.scale.shape),
                               rtol=1e-6)


def _same_quant(a: Value, b: Value) -> bool:
    return a.quant.scale0 == b.quant.scale0 and a.quant.zp0 == b.quant.zp0


@pytest.mark.parametrize("scheme", ["int8", "int16x8", "int4-weights"])
def test_conventions_and_tflm_bit_exact(scheme):
    m = build()
    qm, report = quantize_model(m, _calib(), scheme=scheme, method="minmax")
    act = "int16" if scheme == "int16x8" else "int8"
    wdt = "int4" if scheme == "int4-weights" else "int8"
    qmax = 7 if wdt == "int4" else 127
    bdt = "int64" if act == "int16" else "int32"
    g = qm.main
    # float edges behind QUANTIZE / DEQUANTIZE
    assert g.nodes[0].op == "QUANTIZE" and g.inputs[0].dtype == "float32"
    assert [o.producer.op for o in g.outputs] == ["DEQUANTIZE"] * 3
    assert all(o.dtype == "float32" for o in g.outputs)
    for nd in g.nodes:
        for v in nd.outputs:
            if nd.op != "DEQUANTIZE":
                assert v.dtype == act and v.quant is not None, v
                if act == "int16":
                    assert v.quant.zp0 == 0
    (conv,) = _by_op(qm, "CONV_2D")
    (dw,) = _by_op(qm, "DEPTHWISE_CONV_2D")
    _check_weighted(conv, 0, qmax, wdt, bdt)
    _check_weighted(dw, 3, qmax, wdt, bdt)
    for fc in _by_op(qm, "FULLY_CONNECTED"):
        # TFLM takes int4 fully connected weights per tensor only
        _check_weighted(fc, 0, qmax, wdt, bdt, per_channel=wdt != "int4")
    fixed = ({"SOFTMAX": (1 / 32768, 0), "TANH": (1 / 32768, 0), "LOGISTIC": (1 / 32768, 0)}
             if act == "int16" else
             {"SOFTMAX": (1 / 256, -128), "TANH": (1 / 128, 0), "LOGISTIC": (1 / 256, -128)})
    for op, (scale, zp) in fixed.items():
        (nd,) = _by_op(qm, op)
        assert (nd.outputs[0].quant.scale0, nd.outputs[0].quant.zp0) == (np.float32(scale), zp)
    for op in ("MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE"):
        (nd,) = _by_op(qm, op)
        assert _same_quant(nd.inputs[0], nd.outputs[0]), op
    (cat,) = _by_op(qm, "CONCATENATION")
    assert all(_same_quant(v, cat.outputs[0]) for v in cat.inputs)
    assert len(report.layers) == len(g.nodes) - 3  # every node but the DEQUANTIZEs
    assert all(r.sqnr_db > 15 for r in report.layers), report.format_table()

    data = dumps(qm)
    tflm, ours = TflmSession(data), Interpreter(qm)
    for x in _calib(3, seed=9):
        for a, e in zip(ours.run([x]), tflm.run([x])):
            assert_same(a, e, f"{scheme} output", rtol=0.0)
    lr = LiteRtSession(data, reference=True).run([_calib(1, seed=9)[0]])
    assert [o.shape for o in lr] == [(1, 10), (1, 4), (1, 4)]


def test_int_io_has_no_quantize_nodes():
    qm, _ = quantize_model(build(), _calib(), int_io=True)
    ops = {nd.op for nd in qm.main.nodes}
    assert not ops & {"QUANTIZE", "DEQUANTIZE"}
    assert [v.dtype for v in [*qm.main.inputs, *qm.main.outputs]] == ["int8"] * 4
    x = np.random.default_rng(1).integers(-128, 128, (1, 8, 8, 3), dtype=np.int8)
    for a, e in zip(Interpreter(qm).run([x]), TflmSession(dumps(qm)).run([x])):
        assert_same(a, e, "int8 output", rtol=0.0)


def test_report_json_names_every_layer():
    import json

    _, rep = quantize_model(build(), _calib(), method="mse")
    d = json.loads(rep.to_json())
    assert d["scheme"] == "int8" and d["method"] == "mse" and d["samples"] == 8
    assert {r["op"] for r in d["layers"]} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "SOFTMAX"}
    assert all(isinstance(r["sqnr_db"], (float, type(None))) for r in d["layers"])
    assert len(d["outputs"]) == 3
