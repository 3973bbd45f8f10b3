"""Independent oracles: TFLM's Python interpreter and LiteRT, behind one small interface.

Expected values in picojoule's tests come from here (or from hand-derived arrays),
never from picojoule's own code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

SHARED_MODELS = (Path(__file__).resolve().parents[1] / ".." / "shared" / "models").resolve()
#: The four MLPerf Tiny int8 reference models, by their benchmark's short name.
MLPERF_INT8 = {
    "KWS": "mlperf_tiny/kws_dscnn_int8.tflite",
    "VWW": "mlperf_tiny/vww_mobilenetv1_96_int8.tflite",
    "IC": "mlperf_tiny/ic_resnet8_int8.tflite",
    "AD": "mlperf_tiny/ad_toycar_fcae_int8.tflite",
}


class TflmSession:
    """One TFLM interpreter (reference kernels) that keeps state across runs."""

    def __init__(self, model: str | Path | bytes, preserve_all: bool = True,
                 arena_size: int | None = None) -> None:
        from tflite_micro.python.tflite_micro import runtime

        cfg = (runtime.InterpreterConfig.kPreserveAllTensors if preserve_all
               else runtime.InterpreterConfig.kAllocationRecording)
        data = model if isinstance(model, bytes) else Path(model).read_bytes()
        # The binding's default arena (10x the file) is too small for small files with large
        # activations, and TFLM may then crash the process instead of failing cleanly.
        if arena_size is None:
            arena_size = max(len(data) * 10, 16 << 20)
        self.interp = runtime.Interpreter.from_bytes(data, arena_size=arena_size,
                                                     intrepreter_config=cfg)
        import tflite  # the schema bindings, to count outputs without asking TFLM to fail

        self.num_outputs = tflite.Model.GetRootAs(data, 0).Subgraphs(0).OutputsLength()

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        for i, x in enumerate(inputs):
            self.interp.set_input(x, i)
        self.interp.invoke()
        return [np.array(self.interp.get_output(i), copy=True) for i in range(self.num_outputs)]

    def tensor(self, index: int, subgraph: int = 0) -> np.ndarray:
        return np.array(self.interp.GetTensor(index, subgraph)["tensor_data"], copy=True)


class LiteRtSession:
    """One LiteRT interpreter; ``reference=True`` selects its reference kernels (BUILTIN_REF)."""

    def __init__(self, model: str | Path | bytes, reference: bool = True,
                 preserve_all: bool = True) -> None:
        from ai_edge_litert import interpreter as litert

        kind = litert.OpResolverType.BUILTIN_REF if reference else litert.OpResolverType.AUTO
        kwargs = dict(experimental_op_resolver_type=kind,
                      experimental_preserve_all_tensors=preserve_all)
        if isinstance(model, bytes):
            self.interp = litert.Interpreter(model_content=model, **kwargs)
        else:
            self.interp = litert.Interpreter(model_path=str(model), **kwargs)
        self.interp.allocate_tensors()

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        for d, x in zip(self.interp.get_input_details(), inputs):
            self.interp.set_tensor(d["index"], x)
        self.interp.invoke()
        return [np.array(self.interp.get_tensor(d["index"]), copy=True)
                for d in self.interp.get_output_details()]

    def tensor(self, index: int, subgraph: int = 0) -> np.ndarray:
        return np.array(self.interp.get_tensor(index, subgraph), copy=True)


def assert_same(actual: np.ndarray, expected: np.ndarray, what: str, rtol: float = 1e-5) -> None:
    """Integers identical; floats within ``rtol`` of the expected tensor's largest magnitude."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype} != {expected.dtype}"
    if np.issubdtype(expected.dtype, np.floating):
        scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1e-30)
        err = float(np.max(np.abs(actual.astype(np.float64) - expected))) if expected.size else 0.0
        assert err <= rtol * scale, f"{what}: max abs error {err:.3g} > {rtol} x {scale:.3g}"
    else:
        diff = np.flatnonzero(actual.reshape(-1) != expected.reshape(-1))
        assert diff.size == 0, (
            f"{what}: {diff.size}/{expected.size} elements differ; first at flat index "
            f"{diff[0]}: {actual.reshape(-1)[diff[0]]} != {expected.reshape(-1)[diff[0]]} "
            f"(max |diff| {np.max(np.abs(actual.astype(np.int64) - expected.astype(np.int64)))})")


def write_temp(data: bytes, suffix: str = ".tflite") -> str:
    fd, path = tempfile.mkstemp(suffix=suffix)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def propagate_tflm_undefined(graph) -> None:
    """Mark the elements TFLM never writes downstream of where they arise.

    SignalEnergy fills only its band; TFLM leaves the rest of its output as leftover arena
    memory and a following CAST copies it on. Kernels record such elements as a boolean
    mask in ``value.meta["tflm_undefined"]``; they are not part of any op's result.
    """
    for node in graph.nodes:
        if node.op == "CAST" and "tflm_undefined" in node.inputs[0].meta:
            node.outputs[0].meta["tflm_undefined"] = node.inputs[0].meta["tflm_undefined"]


def defined_part(value, *arrays):
    """``arrays`` restricted to the elements of ``value`` that TFLM defines."""
    mask = value.meta.get("tflm_undefined")
    return arrays if mask is None else tuple(a[~mask] for a in arrays)
