"""Reading model files, with the one-line errors every importer shares."""

from __future__ import annotations

from pathlib import Path

from picojoule.errors import ModelFormatError


def read_model_file(path: str | Path) -> bytes:
    """The bytes of ``path``, or a :class:`ModelFormatError` saying why they cannot be read."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelFormatError(f"{path}: is a directory, not a model file") from None
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read ({exc.strerror})") from None
