"""Calibration data: load ``.npy`` / ``.npz`` files (or a folder of them) as model inputs.

The first axis of every array indexes samples; each sample is shaped like the model's
input with or without its batch dimension (``[N, 32, 32, 3]`` and ``[N, 1, 32, 32, 3]``
both calibrate a ``[1, 32, 32, 3]`` input; an ONNX model's image input, NHWC once imported,
also takes NCHW samples ``[N, 3, 32, 32]``, and a 1-D convolution's (N, L, C) input
(N, C, L) ones). Models with several inputs take an ``.npz``
whose keys are the input names (or, failing that, one array per input in order).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from picojoule.errors import PicojouleError
from picojoule.ir import Model, Value


class CalibrationError(PicojouleError):
    """Calibration data that does not fit the model (shape, dtype, empty, unreadable)."""


Sample = list[np.ndarray]  # one array per model input, each shaped exactly like the input


def _shape(s: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in s) + "]"


def _split(arr: np.ndarray, v: Value, where: str) -> list[np.ndarray]:
    """Split ``arr`` along axis 0 into samples shaped like input ``v``."""
    want = tuple(v.shape)
    if not np.issubdtype(arr.dtype, np.floating):
        if v.dtype == "float32":
            raise CalibrationError(
                f"{where}: {arr.dtype} data for float32 input {v.name!r}; convert it to float "
                f"and normalise it as the model expects")
        if arr.dtype != np.dtype(v.dtype):
            raise CalibrationError(f"{where}: {arr.dtype} data for {v.dtype} input {v.name!r}")
    rest = tuple(arr.shape[1:])
    core = want[1:] if want and want[0] == 1 else want
    if v.meta.get("layout") in ("NHWC", "NLC") and rest not in (want, core):
        # An ONNX input picojoule made channels-last, calibrated with data in ONNX's
        # channels-first layout (what a PyTorch data loader yields): move the channels last.
        first = (want[0], want[-1], *want[1:-1])
        if rest in (first, first[1:]):
            arr = np.moveaxis(arr, 1 - len(want), -1)
            rest = tuple(arr.shape[1:])
    if arr.ndim >= 1 and rest == want:
        samples = [arr[i] for i in range(arr.shape[0])]
    elif arr.ndim >= 1 and rest == core:
        samples = [arr[i].reshape(want) for i in range(arr.shape[0])]
    else:
        raise CalibrationError(
            f"{where}: array {_shape(arr.shape)} does not hold samples of input {v.name!r} "
            f"{_shape(want)} (expected [N, {', '.join(map(str, want))}] or "
            f"[N, {', '.join(map(str, core))}])")
    if not samples:
        raise CalibrationError(f"{where}: no samples (first axis is 0)")
    dt = np.float32 if v.dtype == "float32" else np.dtype(v.dtype)
    out = [np.ascontiguousarray(s, dtype=dt) for s in samples]
    if v.dtype == "float32" and not all(np.all(np.isfinite(s)) for s in out):
        raise CalibrationError(f"{where}: data holds NaN or infinite values")
    return out


def _read(path: Path) -> list[tuple[str | None, np.ndarray]]:
    try:
        if path.suffix == ".npy":
            return [(None, np.load(path, allow_pickle=False))]
        with np.load(path, allow_pickle=False) as z:
            return [(k, z[k]) for k in z.files]
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"{path}: not a readable .npy/.npz file ({exc})") from None


def load_calibration(path: str | Path, model: Model) -> list[Sample] | list[np.ndarray]:
    """Read calibration samples for ``model`` from a file or a folder of ``.npy``/``.npz``.

    Returns a list with one array per sample (single-input models) or one list of arrays
    per sample (several inputs). Raises :class:`CalibrationError` with one line saying
    what does not fit.
    """
    path = Path(path)
    inputs = model.main.inputs
    if not path.exists():
        raise CalibrationError(f"{path}: no such file or folder")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".npy", ".npz"))
        if not files:
            raise CalibrationError(f"{path}: folder holds no .npy or .npz files")
    elif path.suffix in (".npy", ".npz"):
        files = [path]
    else:
        raise CalibrationError(f"{path}: calibration data must be .npy, .npz or a folder of them")
    per_input: list[list[np.ndarray]] = [[] for _ in inputs]
    for f in files:
        arrays = _read(f)
        if not arrays:
            raise CalibrationError(f"{f}: archive holds no arrays")
        if len(inputs) == 1:
            for key, arr in arrays:
                where = f"{f}" + (f"[{key}]" if key else "")
                per_input[0].extend(_split(arr, inputs[0], where))
            continue
        by_name = dict(arrays)
        if all(v.name in by_name for v in inputs):
            chosen = [(v.name, by_name[v.name]) for v in inputs]
        elif len(arrays) == len(inputs):
            chosen = arrays
        else:
            raise CalibrationError(
                f"{f}: model has {len(inputs)} inputs ({', '.join(v.name for v in inputs)}); "
                f"give an .npz with one array per input, keyed by input name")
        for i, (v, (key, arr)) in enumerate(zip(inputs, chosen)):
            per_input[i].extend(_split(arr, v, f"{f}[{key}]"))
    counts = {len(s) for s in per_input}
    if len(counts) != 1:
        raise CalibrationError(f"{path}: inputs have different sample counts {sorted(counts)}")
    if len(inputs) == 1:
        return per_input[0]
    return [list(t) for t in zip(*per_input)]


def normalise_samples(calibration: Iterable, model: Model) -> Iterator[Sample]:
    """Yield samples as lists of input-shaped arrays from user-supplied calibration data.

    Accepts single arrays (one input), lists/tuples of arrays (several inputs), each with
    or without the batch dimension.
    """
    inputs = model.main.inputs
    for k, s in enumerate(calibration):
        arrays = [s] if isinstance(s, np.ndarray) or len(inputs) == 1 and not isinstance(
            s, (list, tuple)) else list(s)
        if len(arrays) != len(inputs):
            raise CalibrationError(
                f"calibration sample {k}: {len(arrays)} arrays for {len(inputs)} model inputs")
        out = []
        for v, a in zip(inputs, arrays):
            a = np.asarray(a)
            got = _split(a[None], v, f"calibration sample {k}")
            out.append(got[0])
        yield out
