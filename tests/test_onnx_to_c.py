"""From PyTorch to C: an ONNX export whose NCHW layout needs transposes compiles without one."""

from __future__ import annotations

import numpy as np
import pytest

from oracles import TflmSession
from picojoule.cli import main
from picojoule.importers import load_model
from picojoule.runtime import Interpreter

torch = pytest.importorskip("torch", reason="PyTorch exports the ONNX model of this test")


def _export(path) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 1), torch.nn.ReLU(),
        torch.nn.AvgPool2d(16), torch.nn.Flatten(), torch.nn.Linear(16, 4))
    net.eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    torch.onnx.export(net, torch.zeros(1, 3, 16, 16), str(path), opset_version=17,
                      dynamo=False)


def test_pytorch_cnn_quantizes_and_compiles_without_transpose(tmp_path, capsys):
    onnx_path = tmp_path / "net.onnx"
    _export(onnx_path)
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).standard_normal((32, 16, 16, 3)).astype(np.float32))
    q = tmp_path / "net_int8.tflite"
    assert main(["quantize", str(onnx_path), "-c", str(calib), "-o", str(q), "-q", "--nhwc",
                 "--int-io"]) == 0
    model = load_model(q)
    ops = [n.op for n in model.main.nodes]
    assert "TRANSPOSE" not in ops and "CONV_2D" in ops and "DEPTHWISE_CONV_2D" in ops
    out = tmp_path / "c"
    assert main(["compile", str(q), "--target", "cortex-m4", "-o", str(out)]) == 0
    assert (out / "net_int8.h").exists()
    # The compiled library computes what TFLM computes.
    from picojoule.backends import host

    x = [np.random.default_rng(1).integers(-128, 128, (1, 16, 16, 3), dtype=np.int8)]
    np.testing.assert_array_equal(host.run(model, x)[0], TflmSession(q).run(x)[0])
    np.testing.assert_array_equal(Interpreter(model).run(x)[0], TflmSession(q).run(x)[0])
