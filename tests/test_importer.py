"""The .tflite importer: format mapped 1:1, bad files rejected with one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from oracles import SHARED_MODELS, TflmSession
from picojoule.errors import ModelFormatError
from picojoule.importers import load_model
from picojoule.importers.tflite import loads

KWS = SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"


def test_kws_structure_matches_tflm():
    model = load_model(KWS)
    g = model.main
    tflm = TflmSession(KWS, preserve_all=False)
    d = tflm.interp.get_input_details(0)
    assert list(g.inputs[0].shape) == d["shape"].tolist()
    assert g.inputs[0].dtype == "int8"
    assert g.inputs[0].quant.scale0 == pytest.approx(float(d["quantization_parameters"]["scales"][0]))
    assert g.inputs[0].quant.zp0 == int(d["quantization_parameters"]["zero_points"][0])
    ops = [n.op for n in g.nodes]
    assert ops.count("CONV_2D") == 5 and ops.count("DEPTHWISE_CONV_2D") == 4
    conv = g.nodes[0]
    assert conv.attrs["padding"] in ("SAME", "VALID")
    assert conv.inputs[1].quant.per_channel and conv.inputs[1].quant.axis == 0
    assert conv.inputs[1].data.dtype == np.int8


def test_every_corpus_model_imports():
    for path in sorted(SHARED_MODELS.rglob("*.tflite")):
        model = load_model(path)
        model.verify()
        assert model.main.nodes, path


def test_person_detect_quirk_accepted():
    # Its conv biases say quantized_dimension 3 on 1-D tensors: TFLM accepts it, so do we.
    model = load_model(SHARED_MODELS / "tflm/person_detect.tflite")
    bias = model.main.nodes[0].inputs[2]
    assert bias.quant.per_channel and bias.quant.axis == 0


def test_custom_ops_keep_name_and_options():
    model = load_model(SHARED_MODELS / "tflm/audio_preprocessor_int8.tflite")
    customs = [n for n in model.main.nodes if n.op.startswith("CUSTOM:")]
    assert {n.op for n in customs} >= {"CUSTOM:SignalWindow", "CUSTOM:SignalRfft"}
    assert all(isinstance(n.attrs["custom_options"], bytes) for n in customs)


def test_offline_memory_plan_decoded():
    model = load_model(SHARED_MODELS / "tflm/person_detect_vela.tflite")
    plan = model.meta["offline_memory_plan"]
    assert plan["offsets"] and plan["offsets"] == [0, -1, -1, 0, 0, 0]


def test_variable_tensors_marked():
    model = load_model(SHARED_MODELS / "tflm/keyword_scrambled.tflite")
    assert any(v.variable for v in model.main.values())


@pytest.mark.parametrize("cut", [0, 7, 100, 3000, -100])
def test_truncated_files_rejected(tmp_path, cut):
    data = KWS.read_bytes()
    data = data[:cut] if cut >= 0 else data[:cut]
    with pytest.raises(ModelFormatError):
        model = loads(data, "cut")
        model.verify()


def test_random_corruption_never_crashes():
    data = KWS.read_bytes()
    rng = np.random.default_rng(1)
    for _ in range(200):
        b = bytearray(data)
        for _ in range(6):
            b[rng.integers(0, 4000)] = rng.integers(0, 256)
        try:
            loads(bytes(b), "fuzz").verify()
        except ModelFormatError:
            pass  # the only acceptable failure


def test_not_a_model(tmp_path):
    p = tmp_path / "x.tflite"
    p.write_text("hello, world")
    with pytest.raises(ModelFormatError, match="not a model"):
        load_model(p)
    with pytest.raises(ModelFormatError, match="no such file"):
        load_model(tmp_path / "missing.tflite")
