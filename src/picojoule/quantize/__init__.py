"""Post-training quantization: float IR model + calibration data -> TFLite-convention int model.

    from picojoule.quantize import load_calibration, quantize_model
    samples = load_calibration("calib.npy", model)
    qmodel, report = quantize_model(model, samples, scheme="int8", method="mse")
    print(report.format_table())

See :mod:`picojoule.quantize.quantizer` for the conventions followed (TFLM / LiteRT run
the result, and picojoule's reference interpreter runs it bit-exactly like TFLM).
"""

from picojoule.quantize.calibration import CalibrationError, load_calibration
from picojoule.quantize.observers import METHODS
from picojoule.quantize.quantizer import QuantizeError, quantize_model
from picojoule.quantize.report import LayerReport, QuantReport
from picojoule.quantize.schemes import SCHEMES

__all__ = ["quantize_model", "load_calibration", "QuantReport", "LayerReport",
           "QuantizeError", "CalibrationError", "SCHEMES", "METHODS"]
