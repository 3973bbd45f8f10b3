"""Importers: model files in, IR out."""

from __future__ import annotations

from pathlib import Path

from picojoule.errors import ModelFormatError
from picojoule.ir import Model


def load_model(path: str | Path) -> Model:
    """Load a model file, choosing the importer from its contents."""
    p = Path(path)
    try:
        head = p.read_bytes()[:8]
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelFormatError(f"{path}: is a directory, not a model file") from None
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read ({exc.strerror})") from None
    if head[4:8] == b"TFL3":
        from picojoule.importers import tflite

        return tflite.load(p)
    raise ModelFormatError(f"{path}: not a model picojoule can read (expected a .tflite flatbuffer)")
