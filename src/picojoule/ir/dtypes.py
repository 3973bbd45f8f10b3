"""Element types of IR values, independent of any file format.

Names are numpy's (``"int8"``, ``"float32"`` ...) plus ``"int4"``, which the IR
holds unpacked in an ``int8`` array (one value per element).
"""

from __future__ import annotations

import numpy as np

#: IR dtype name -> numpy dtype used to hold the values.
NUMPY_DTYPES: dict[str, np.dtype] = {
    "bool": np.dtype(np.bool_),
    "int4": np.dtype(np.int8),
    "int8": np.dtype(np.int8),
    "uint8": np.dtype(np.uint8),
    "int16": np.dtype(np.int16),
    "uint16": np.dtype(np.uint16),
    "int32": np.dtype(np.int32),
    "uint32": np.dtype(np.uint32),
    "int64": np.dtype(np.int64),
    "uint64": np.dtype(np.uint64),
    "float16": np.dtype(np.float16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "complex64": np.dtype(np.complex64),
    "string": np.dtype(object),
    "resource": np.dtype(np.int32),
    "variant": np.dtype(object),
}

#: Bits per element as stored on a device (int4 packs two per byte).
BITS: dict[str, int] = {
    "bool": 8, "int4": 4, "int8": 8, "uint8": 8, "int16": 16, "uint16": 16,
    "int32": 32, "uint32": 32, "int64": 64, "uint64": 64, "float16": 16,
    "float32": 32, "float64": 64, "complex64": 64, "string": 8, "resource": 32,
    "variant": 8,
}


def to_numpy(dtype: str) -> np.dtype:
    """The numpy dtype that holds values of IR dtype ``dtype``."""
    return NUMPY_DTYPES[dtype]


def nbytes(dtype: str, count: int) -> int:
    """Bytes that ``count`` elements of ``dtype`` occupy on a device."""
    return (BITS[dtype] * count + 7) // 8


def is_integer(dtype: str) -> bool:
    return dtype.startswith(("int", "uint"))


def is_float(dtype: str) -> bool:
    return dtype.startswith("float")
