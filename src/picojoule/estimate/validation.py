"""The latency fit's validation list: models the fit is checked on and never trained on.

Fixed before any fit: ``benchmarks/bench_estimate.py`` prints, per emulated core, the
instructions ``estimate`` predicts for each model here against the count of one inference of
its firmware, and ``tests/estimate/test_fit_validation.py`` checks that no node of the fit's
banks (:mod:`picojoule.estimate.fit`) has the layer signature of a node of these models, so a
bank row can never be a copy of a layer the fit is judged on.

A layer signature (:func:`signature`) is what decides a kernel's instruction count: the op,
every operand's shape and dtype (constants included), and the window and activation
attributes.
"""

from __future__ import annotations

from pathlib import Path

from picojoule.ir import Model, Node

_ROOT = Path(__file__).resolve().parents[3]
SHARED = _ROOT.parent / "shared" / "models"

#: name -> model file (int8, float32 and hybrid; LSTM ones last).
VALIDATION_FILES: dict[str, Path] = {
    "vww": SHARED / "mlperf_tiny/vww_mobilenetv1_96_int8.tflite",
    "ic": SHARED / "mlperf_tiny/ic_resnet8_int8.tflite",
    "person_detect": SHARED / "tflm/person_detect.tflite",
    "micro_speech": SHARED / "tflm/micro_speech_quantized.tflite",
    "demo": Path(__file__).resolve().parents[1] / "data/demo.tflite",
    "kws_f32": SHARED / "mlperf_tiny/kws_dscnn_float32.tflite",
    "ad_f32": SHARED / "mlperf_tiny/ad_toycar_fcae_float32.tflite",
    "vww_f32": SHARED / "mlperf_tiny/vww_mobilenetv1_96_float32.tflite",
    "ic_f32": SHARED / "mlperf_tiny/ic_resnet8_float32.tflite",
    "hello_f32": SHARED / "tflm/hello_world_float.tflite",
    "speech_lstm": SHARED / "tflm/micro_speech_lstm.tflite",
    "mnist_lstm_f32": SHARED / "tflm/trained_lstm.tflite",
    "mnist_lstm": SHARED / "tflm/trained_lstm_int8.tflite",
}
#: int16x8 validation models: picojoule's quantizer on these float32 ones, 8 seeded N(0, 1)
#: calibration inputs.
VALIDATION_INT16 = ("kws_f32", "ad_f32", "vww_f32", "ic_f32")
#: The models the fit trains on besides its banks (never validated on).
TRAIN_FILES: dict[str, Path] = {
    "kws": SHARED / "mlperf_tiny/kws_dscnn_int8.tflite",
    "ad": SHARED / "mlperf_tiny/ad_toycar_fcae_int8.tflite",
}

_ATTRS = ("stride_h", "stride_w", "padding", "depth_multiplier", "filter_height",
          "filter_width", "dilation_h_factor", "dilation_w_factor",
          "fused_activation_function", "keep_num_dims", "axis", "beta")


def signature(node: Node) -> tuple:
    """(op, operand shapes and dtypes, output shapes and dtypes, window/activation attrs)."""
    ins = tuple(None if v is None else (tuple(v.shape), v.dtype) for v in node.inputs)
    outs = tuple((tuple(v.shape), v.dtype) for v in node.outputs)
    attrs = tuple((k, str(node.attrs[k])) for k in _ATTRS if k in node.attrs)
    return node.op, ins, outs, attrs


def validation_models() -> dict[str, Model]:
    """The validation models by name (int16x8 ones as ``<name>_i16``)."""
    import numpy as np

    from picojoule.importers.tflite import load
    from picojoule.quantize import quantize_model

    out = {name: load(path) for name, path in VALIDATION_FILES.items()}
    for name in VALIDATION_INT16:
        fm = out[name]
        rng = np.random.default_rng(0)
        shape = fm.main.inputs[0].shape
        cal = [rng.standard_normal(shape).astype(np.float32) for _ in range(8)]
        out[name.replace("_f32", "_i16")] = quantize_model(fm, cal, scheme="int16x8",
                                                           int_io=True, progress=False)[0]
    return out


def validation_signatures(models: dict[str, Model] | None = None) -> dict[tuple, str]:
    """Every layer signature of the validation models -> the first model holding it."""
    out: dict[tuple, str] = {}
    for name, m in (models or validation_models()).items():
        for g in m.graphs:
            for n in g.nodes:
                out.setdefault(signature(n), name)
    return out
