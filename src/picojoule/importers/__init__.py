"""Importers: model files in, IR out."""

from __future__ import annotations

from pathlib import Path

from picojoule.errors import ModelFormatError
from picojoule.importers._files import read_model_file
from picojoule.ir import Model


def load_model(path: str | Path, *, nhwc: bool = False) -> Model:
    """Load a model file, choosing the importer from its contents.

    ``nhwc``: an ONNX model's NCHW inputs and outputs become NHWC, so no TRANSPOSE is left
    at the edges (what a microcontroller's camera or feature buffer holds anyway).
    """
    data = read_model_file(path)
    if str(path).lower().endswith(".onnx"):
        from picojoule.importers import onnx as onnx_importer

        return onnx_importer.loads(data, source=str(path), base_dir=Path(path).parent,
                                   nhwc_inputs=nhwc, nhwc_outputs=nhwc)
    if data[4:8] == b"TFL3":
        from picojoule.importers import tflite

        return tflite.loads(data, source=str(path))
    raise ModelFormatError(f"{path}: not a model picojoule can read (expected a .tflite flatbuffer or an .onnx file)")
