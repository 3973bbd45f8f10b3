"""QDQ models written by ONNX Runtime's static quantizer, mapped onto int8 ops.

Oracle: ONNX Runtime on the same QDQ model. Its integer kernels (QLinearConv ...) and
TFLM's fixed-point requantization round differently, and ONNX Runtime's own optimized and
unoptimized runs of a QDQ model already differ by one step of the output scale; so outputs
are compared within a few steps of the output's quantization scale (not 1e-5), and the
structure is checked exactly: every convolution / dense layer is int8 and the only float
ops left are the input QUANTIZE and the output DEQUANTIZE.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from picojoule.importers import onnx as pj_onnx
from picojoule.runtime.reference import Interpreter

torch = pytest.importorskip("torch")
quantization = pytest.importorskip("onnxruntime.quantization")
nn = torch.nn


class Residual(nn.Module):
    """Conv, residual ADD, concat of differently scaled tensors, sigmoid, hardswish,
    depthwise stride 2, global average pool, Linear, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.a = nn.Conv2d(6, 6, 3, padding=1)
        self.b = nn.Conv2d(6, 4, 1)
        self.down = nn.Conv2d(10, 10, 3, stride=2, padding=1, groups=10)
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = torch.relu(self.a(x) + x)
        z = torch.cat([y, torch.sigmoid(self.b(y))], dim=1)
        z = nn.functional.hardswish(self.down(z))
        z = nn.functional.adaptive_avg_pool2d(z, 1)
        return torch.softmax(self.head(torch.flatten(z, 1)), dim=-1)


class Plain(nn.Module):
    """Conv + BN (folded by the exporter) + ReLU, depthwise + ReLU6, max pool, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.fc = nn.Linear(8 * 4 * 4, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.c1(x)))
        x = nn.functional.relu6(self.dw(x))
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


def _quantized(tmp_path, module, shape, activation_type):
    torch.manual_seed(0)
    module.eval()
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(*shape),), str(src), dynamo=False,
                          opset_version=17, input_names=["x"])
    samples = [np.random.default_rng(100 + i).standard_normal(shape).astype(np.float32)
               for i in range(16)]

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter({"x": s} for s in samples)

        def get_next(self):
            return next(self.it, None)

    quantization.quantize_static(str(src), str(dst), Reader(),
                                 quant_format=quantization.QuantFormat.QDQ, per_channel=True,
                                 activation_type=activation_type,
                                 weight_type=quantization.QuantType.QInt8)
    return dst


def _output_scale(path) -> float:
    m = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    out = m.graph.output[0].name
    for n in m.graph.node:
        if n.op_type == "DequantizeLinear" and n.output[0] == out:
            return float(inits[n.input[1]])
    raise AssertionError("no output DequantizeLinear")


@pytest.mark.parametrize("net,shape", [(Plain, (1, 3, 8, 8)), (Residual, (1, 1, 8, 8))])
@pytest.mark.parametrize("act", ["QInt8", "QUInt8"])
def test_qdq_model_runs_on_int8_ops(tmp_path, net, shape, act):
    torch.manual_seed(0)  # the weights: the same network whatever ran before
    path = _quantized(tmp_path, net(), shape, getattr(quantization.QuantType, act))
    model = pj_onnx.load(path)
    model.verify()
    nodes = model.main.nodes
    float_ops = [n.op for n in nodes if any(v.dtype == "float32" for v in n.outputs)]
    assert float_ops == ["DEQUANTIZE"], float_ops
    assert nodes[0].op == "QUANTIZE" and nodes[0].outputs[0].dtype == "int8"
    for n in nodes:
        if n.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            assert n.inputs[0].dtype == "int8" and n.inputs[1].dtype == "int8"
            assert n.inputs[1].quant.per_channel or n.inputs[1].quant.scale.size == 1
            assert n.inputs[2] is None or n.inputs[2].dtype == "int32"
    scale = _output_scale(path)
    # The QDQ model's meaning: its Quantize/DequantizeLinear ops executed as written (no
    # graph optimization). ONNX Runtime's fused int8 kernels drift from it by up to ~20
    # output steps on such networks (measured with 1.31 and 1.32), so they are no oracle.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    interp = Interpreter(model)
    worst = 0.0
    for s in range(4):
        x = np.random.default_rng(s).standard_normal(shape).astype(np.float32)
        got = interp.run([x])[0]
        want = sess.run(None, {"x": x})[0]
        assert got.shape == want.shape and got.dtype == want.dtype
        worst = max(worst, float(np.max(np.abs(got - want))) / scale)
    # Each requantization may round a value to the other side of a step boundary.
    assert worst <= 2.01, f"max difference {worst:.2f} output steps"


def test_qdq_without_lowering_is_fake_quant_float(tmp_path):
    path = _quantized(tmp_path, Plain(), (1, 3, 8, 8), quantization.QuantType.QInt8)
    model = pj_onnx.load(path, lower_qdq=False)
    ops = [n.op for n in model.main.nodes]
    assert "QUANTIZE" in ops and "DEQUANTIZE" in ops
    conv = next(n for n in model.main.nodes if n.op == "CONV_2D")
    assert conv.inputs[1].dtype == "float32"
    x = np.random.default_rng(9).standard_normal((1, 3, 8, 8)).astype(np.float32)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    want = ort.InferenceSession(str(path), so).run(None, {"x": x})[0]
    got = Interpreter(model).run([x])[0]
    # Same float arithmetic up to summation order; a value on a rounding boundary of a
    # QuantizeLinear may still move by one step.
    assert np.max(np.abs(got - want)) <= 1.01 * _output_scale(path)
