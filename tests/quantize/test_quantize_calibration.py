"""load_calibration: .npy / .npz / folders, with or without the batch dimension, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from picojoule.errors import PicojouleError
from picojoule.ir import Graph, Model, Node, Value
from picojoule.quantize import CalibrationError, load_calibration, quantize_model


def _model(shapes=((1, 4, 4, 2),)) -> Model:
    """RELU on each input (enough for calibration shapes)."""
    g = Graph()
    for k, s in enumerate(shapes):
        x = Value(f"in{k}", s, "float32")
        y = Value(f"out{k}", s, "float32")
        g.inputs.append(x)
        g.add_node(Node("RELU", [x], [y]))
        g.outputs.append(y)
    return Model([g])


def test_npy_with_and_without_batch_dimension(tmp_path):
    m = _model()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 4, 4, 2))
    np.save(tmp_path / "nobatch.npy", a)
    np.save(tmp_path / "batch.npy", a[:, None].astype(np.float32))
    for name in ("nobatch.npy", "batch.npy"):
        got = load_calibration(tmp_path / name, m)
        assert len(got) == 5
        assert all(s.shape == (1, 4, 4, 2) and s.dtype == np.float32 for s in got)
        np.testing.assert_array_equal(got[3][0], a[3].astype(np.float32))


def test_folder_of_npy_and_npz(tmp_path):
    m = _model()
    np.save(tmp_path / "a.npy", np.ones((2, 4, 4, 2), np.float32))
    np.savez(tmp_path / "b.npz", x=np.zeros((3, 1, 4, 4, 2)), y=np.full((1, 4, 4, 2), 2.0))
    (tmp_path / "notes.txt").write_text("ignored")
    got = load_calibration(tmp_path, m)
    assert len(got) == 6
    assert [float(s.max()) for s in got] == [1, 1, 0, 0, 0, 2]


def test_several_inputs_by_name(tmp_path):
    m = _model(((1, 3), (1, 2)))
    np.savez(tmp_path / "c.npz", in1=np.zeros((4, 2)), in0=np.ones((4, 3)))
    got = load_calibration(tmp_path / "c.npz", m)
    assert len(got) == 4 and [a.shape for a in got[0]] == [(1, 3), (1, 2)]
    assert float(got[0][0].max()) == 1.0 and float(got[0][1].max()) == 0.0


@pytest.mark.parametrize("make,needle", [
    (lambda p: np.save(p / "d.npy", np.zeros((3, 4, 4, 3), np.float32)), "does not hold samples"),
    (lambda p: np.save(p / "d.npy", np.zeros((3, 4, 4, 2), np.uint8)), "uint8 data"),
    (lambda p: np.save(p / "d.npy", np.zeros((0, 4, 4, 2), np.float32)), "no samples"),
    (lambda p: np.save(p / "d.npy", np.full((2, 4, 4, 2), np.nan, np.float32)), "NaN"),
    (lambda p: (p / "d.npy").write_bytes(b"not numpy"), "not a readable"),
    (lambda p: None, "holds no .npy or .npz"),
])
def test_errors_are_one_line(tmp_path, make, needle):
    make(tmp_path)
    with pytest.raises(CalibrationError) as err:
        load_calibration(tmp_path, _model())
    msg = str(err.value)
    assert needle in msg and "\n" not in msg
    assert isinstance(err.value, PicojouleError)


def test_missing_path_and_wrong_suffix(tmp_path):
    with pytest.raises(CalibrationError, match="no such file"):
        load_calibration(tmp_path / "nope.npy", _model())
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(CalibrationError, match=r"must be \.npy"):
        load_calibration(tmp_path / "x.csv", _model())


def test_quantize_model_rejects_bad_samples_and_options():
    m = _model()
    with pytest.raises(CalibrationError, match="does not hold samples"):
        quantize_model(m, [np.zeros((4, 4, 3), np.float32)])
    with pytest.raises(CalibrationError, match="no calibration samples"):
        quantize_model(m, [])
    with pytest.raises(PicojouleError, match="unknown quantization scheme"):
        quantize_model(m, [np.zeros((4, 4, 2), np.float32)], scheme="int2")
    with pytest.raises(PicojouleError, match="unknown calibration method"):
        quantize_model(m, [np.zeros((4, 4, 2), np.float32)], method="kl")


def test_resnet_stem_max_pool_padding_does_not_reach_the_scales(tmp_path):
    """A torch ResNet stem (conv 7x7 s2, ReLU, MaxPool 3x3 s2 pad 1) exported to ONNX: the
    pool's padding becomes a PADV2 with -3.4e38, which calibration must ignore. The
    quantized model gets the pool input's scale everywhere in the pool group, TFLM runs it
    with picojoule's integers, and it tracks the float model (onnxruntime) closely."""
    import warnings

    import onnxruntime as ort
    import torch
    from torch import nn

    from oracles import TflmSession
    from picojoule.exporters.tflite import dumps
    from picojoule.importers import load_model
    from picojoule.importers.tflite import loads
    from picojoule.quantize import quantize_model
    from picojoule.runtime.reference import Interpreter

    torch.manual_seed(0)
    stem = nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                         nn.Conv2d(8, 8, 3, 1, 1)).eval()
    path = tmp_path / "stem.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(stem, (torch.randn(1, 3, 32, 32),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"])
    model = load_model(path, nhwc=True)
    assert any(n.op == "PADV2" for n in model.main.nodes)
    rng = np.random.default_rng(0)
    samples = [rng.standard_normal((1, 32, 32, 3)).astype(np.float32) for _ in range(8)]
    qm, _ = quantize_model(model, samples, progress=False)
    pad = next(n for n in qm.main.nodes if n.op == "PADV2")
    pool = pad.outputs[0].users[0]
    assert pool.op == "MAX_POOL_2D"
    # The pool group keeps the ReLU output's scale: a few hundredths, not 1e36.
    s_in = float(pad.inputs[0].quant.scale0)
    assert 1e-4 < s_in < 1.0
    assert float(pad.outputs[0].quant.scale0) == s_in == float(pool.outputs[0].quant.scale0)
    assert int(pad.inputs[2].data.reshape(-1)[0]) == -128
    data = dumps(qm)
    tflm = TflmSession(data, preserve_all=False)
    ours = Interpreter(loads(data))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = rng.standard_normal((1, 32, 32, 3)).astype(np.float32)
    got = ours.run([x])[0]
    assert np.array_equal(got, tflm.run([x])[0])
    want = sess.run(None, {"x": np.transpose(x, (0, 3, 1, 2))})[0].transpose(0, 2, 3, 1)
    sqnr = 10 * np.log10(np.sum(want.astype(np.float64) ** 2) / np.sum((want - got) ** 2))
    assert sqnr > 25, sqnr
