"""Importers: model files in, IR out."""

from __future__ import annotations

from pathlib import Path

from picojoule.errors import ModelFormatError
from picojoule.importers._files import read_model_file
from picojoule.importers.verify import verify_model, verify_static
from picojoule.ir import Model


def load_model(path: str | Path, *, nhwc: bool = True, input_shapes=None,
               static_shapes: bool = True, max_bytes: int | None = None) -> Model:
    """Load a model file, choosing the importer from its contents, with static shapes.

    ``nhwc`` (default, as every ``picojoule`` command): an ONNX model's 4-D NCHW inputs and
    outputs become NHWC, so no TRANSPOSE is left at the edges (what a microcontroller's
    camera or feature buffer holds anyway); ``nhwc=False`` keeps ONNX's layout (outputs
    compare with ONNX Runtime's directly). ``.tflite`` models are NHWC already.

    ``input_shapes``: sizes for inputs with dynamic dimensions, ``{name: (1, 49, 10, 1)}``
    (or one shape for a single-input model); dynamic sizes not given become 1. An ONNX
    model's shapes are in ONNX layout.

    ``static_shapes`` (default): run the import passes (:func:`picojoule.passes.canonicalize`),
    so every value has its static shape, the shape arithmetic converters leave (SHAPE,
    FILL with computed dims ...) is folded away and TensorFlow's space-to-batch dilated
    convolutions are single convolutions again. Without it a ``.tflite`` model is the file
    as written, placeholder shapes and all.

    Every model is checked by :mod:`picojoule.importers.verify` before any pass runs (and
    again once its shapes are static): a malformed model is one
    :class:`~picojoule.errors.ModelFormatError`. ``max_bytes`` limits the bytes of all its
    tensors (default: ``PICOJOULE_MAX_MODEL_BYTES`` or 256 MiB; 0 for no limit).
    """
    data = read_model_file(path)
    if str(path).lower().endswith(".onnx"):
        from picojoule.importers import onnx as onnx_importer

        model = onnx_importer.loads(data, source=str(path), base_dir=Path(path).parent,
                                    nhwc_inputs=nhwc, nhwc_outputs=nhwc,
                                    input_shapes=input_shapes)
        input_shapes = None  # the importer resolved them (in ONNX layout)
    elif data[4:8] == b"TFL3":
        from picojoule.importers import tflite

        model = tflite.loads(data, source=str(path))
    else:
        raise ModelFormatError(f"{path}: not a model picojoule can read (expected a .tflite "
                               f"flatbuffer or an .onnx file)")
    verify_model(model, max_bytes=max_bytes)
    if static_shapes:
        from picojoule.passes import canonicalize

        try:
            model = canonicalize(model, input_shapes)
        except MemoryError:
            raise ModelFormatError(f"{path}: the model's shapes need more memory than this "
                                   f"machine has (a corrupted dimension?)") from None
        verify_static(model, max_bytes=max_bytes)
    return model
