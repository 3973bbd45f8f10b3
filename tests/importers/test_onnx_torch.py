"""Models exported from PyTorch (legacy TorchScript exporter), oracle ONNX Runtime.

Besides matching ONNX Runtime's outputs, the layout pass must leave no TRANSPOSE inside a
CNN's graph (only one at the NCHW input unless NHWC inputs are asked for) and the graph
must still verify.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnxruntime as ort
import pytest

from oracles import assert_same
from picojoule.importers import onnx as pj_onnx
from picojoule.runtime.reference import Interpreter

torch = pytest.importorskip("torch")
nn = torch.nn


def export(module, args, path, **kw):
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=17,
                          do_constant_folding=False, **kw)
    return path


def ort_run(path, feeds):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), feeds)})


def randomize_bn(module, seed):
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) - 0.5)


class SmallCNN(nn.Module):
    """Conv + BN + ReLU, a depthwise-separable block (ReLU6), max pool, flatten, Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.bn2 = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 16, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.c1(x)))
        x = nn.functional.relu6(self.bn2(self.dw(x)))
        x = torch.relu(self.bn3(self.pw(x)))
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(torch.flatten(x, 1))


class ResidualNet(nn.Module):
    """A residual block, a concat, nearest upsampling, global average pooling, sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 6, 3, padding=1)
        self.a = nn.Conv2d(6, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6)
        self.b = nn.Conv2d(6, 4, 1)
        self.down = nn.Conv2d(10, 10, 3, stride=2, padding=1, groups=10)
        self.head = nn.Linear(10, 3)

    def forward(self, x):
        x = torch.relu(self.stem(x))
        y = torch.relu(self.bn(self.a(x)) + x)
        z = torch.cat([y, torch.sigmoid(self.b(y))], dim=1)
        z = nn.functional.hardswish(self.down(z))
        z = nn.functional.interpolate(z, scale_factor=2, mode="nearest")
        z = nn.functional.adaptive_avg_pool2d(z, 1)
        return torch.softmax(self.head(torch.flatten(z, 1)), dim=-1)


def _ops(model):
    return [n.op for n in model.main.nodes]


@pytest.mark.parametrize("net,shape", [(SmallCNN, (2, 3, 8, 8)), (ResidualNet, (1, 1, 8, 8))])
def test_cnn_matches_ort_without_interior_transposes(tmp_path, net, shape):
    torch.manual_seed(0)
    module = net()
    randomize_bn(module, 1)
    x = torch.randn(*shape)
    path = export(module, (x,), tmp_path / "cnn.onnx")
    feeds = [np.random.default_rng(s).standard_normal(shape).astype(np.float32)
             for s in range(2)]
    model = pj_onnx.load(path, batch_size=shape[0])
    model.verify()
    ops = _ops(model)
    # Only the NCHW input's conversion may remain (a reshape when the input has 1 channel).
    assert ops.count("TRANSPOSE") <= 1
    assert all(n.op != "TRANSPOSE" or n.inputs[0] in model.main.inputs
               for n in model.main.nodes)
    assert "MUL" not in ops  # batch norms folded into the convolutions
    interp = Interpreter(model)
    for f in feeds:
        (got,), (want,) = interp.run([f]), ort_run(path, [f])
        assert_same(got, want, f"{net.__name__}")
    # NHWC inputs: no transpose at all.
    nhwc = pj_onnx.load(path, nhwc_inputs=True, batch_size=shape[0])
    nhwc.verify()
    assert "TRANSPOSE" not in _ops(nhwc)
    assert nhwc.main.inputs[0].shape == (shape[0], shape[2], shape[3], shape[1])
    for f in feeds:
        got = Interpreter(nhwc).run([np.ascontiguousarray(f.transpose(0, 2, 3, 1))])[0]
        assert_same(got, ort_run(path, [f])[0], f"{net.__name__} (NHWC input)")


def test_unoptimized_import_keeps_transposes_and_matches(tmp_path):
    torch.manual_seed(0)
    module = SmallCNN()
    randomize_bn(module, 2)
    x = torch.randn(1, 3, 8, 8)
    path = export(module, (x,), tmp_path / "cnn.onnx")
    raw = pj_onnx.load(path, optimize=False)
    assert _ops(raw).count("TRANSPOSE") >= 6
    f = np.random.default_rng(5).standard_normal((1, 3, 8, 8)).astype(np.float32)
    assert_same(Interpreter(raw).run([f])[0], ort_run(path, [f])[0], "raw import")


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_torch_recurrent(tmp_path, kind, bidirectional):
    torch.manual_seed(3)

    class Rec(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = getattr(nn, kind)(5, 7, num_layers=2, batch_first=True,
                                         bidirectional=bidirectional)
            self.fc = nn.Linear(7 * (2 if bidirectional else 1), 3)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y[:, -1])

    module = Rec()
    x = torch.randn(2, 6, 5)
    path = export(module, (x,), tmp_path / "rnn.onnx")
    model = pj_onnx.load(path, batch_size=2)
    model.verify()
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in _ops(model)  # unrolled: stateless
    interp = Interpreter(model)
    for s in range(2):
        f = np.random.default_rng(s).standard_normal((2, 6, 5)).astype(np.float32)
        assert_same(interp.run([f])[0], ort_run(path, [f])[0], f"torch {kind}")


def test_torch_lstm_as_sequence_op(tmp_path):
    """fused_lstm: one UNIDIRECTIONAL_SEQUENCE_LSTM; its state is reset per sequence."""
    torch.manual_seed(4)

    class Rec(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(4, 6, batch_first=True)

        def forward(self, x):
            y, (h, _) = self.rnn(x)
            return y, h

    path = export(Rec(), (torch.randn(3, 5, 4),), tmp_path / "lstm.onnx")
    model = pj_onnx.load(path, fused_lstm=True, batch_size=3)
    model.verify()
    assert _ops(model).count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 1
    assert "LOGISTIC" not in _ops(model)
    interp = Interpreter(model)
    for s in range(2):
        interp.reset()
        f = np.random.default_rng(s).standard_normal((3, 5, 4)).astype(np.float32)
        for got, want in zip(interp.run([f]), ort_run(path, [f])):
            assert_same(got, want, "fused LSTM")


class Conv1dGelu(nn.Module):
    """Conv1d (dilated), PReLU, erf-GELU (opset 17 writes it as Div/Erf/Add/Mul/Mul), SiLU."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(3, 4, 3, padding=2, dilation=2)
        self.pr = nn.PReLU(4)

    def forward(self, x):
        y = self.pr(self.c1(x))
        return nn.functional.gelu(y) * torch.sigmoid(y), nn.functional.gelu(y, approximate="tanh")


class Decoder(nn.Module):
    """ConvTranspose2d with output padding, LeakyReLU, bilinear upsampling, AvgPool with
    ceil_mode and excluded padding, Hardsigmoid, a view(N, -1) through Shape ops."""

    def __init__(self) -> None:
        super().__init__()
        self.t = nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1)
        self.p = nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False)

    def forward(self, x):
        y = nn.functional.leaky_relu(self.t(x), 0.2)
        y = nn.functional.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
        z = nn.functional.hardsigmoid(self.p(y))
        return z.view(z.size(0), -1).mean(dim=1, keepdim=True), nn.functional.silu(z)


@pytest.mark.parametrize("net,shape", [(Conv1dGelu, (2, 3, 10)), (Decoder, (1, 3, 5, 6))])
def test_torch_misc_layers(tmp_path, net, shape):
    torch.manual_seed(6)
    path = export(net(), (torch.randn(*shape),), tmp_path / "m.onnx", input_names=["x"],
                  dynamic_axes={"x": {0: "N"}})
    model = pj_onnx.load(path, batch_size=shape[0])
    model.verify()
    assert "GELU" in _ops(model) or net is Decoder
    f = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for k, (got, want) in enumerate(zip(Interpreter(model).run([f]), ort_run(path, [f]))):
        assert_same(got, want, f"{net.__name__} output {k}")
