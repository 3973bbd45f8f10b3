"""Compiler-free size prediction of the generated library's model part
(``picojoule.analysis.codegen_size``) against what ``arm-none-eabi-size`` measures on the
QEMU backend's objects (``qemu.build(...).model_sizes``), within 5% (issue 4, item 6).

The size table ``kernel_sizes.json`` must match the current kernel sources: when a kernel
changes, re-run ``python scripts/measure_kernel_sizes.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picojoule.analysis import codegen_size
from picojoule.backends import qemu
from picojoule.backends.c.generator import KERNEL_DIR
from picojoule.errors import PicojouleError
from picojoule.importers import load_model

MODELS = Path("/work/shared/models")
DEMO = Path(codegen_size.__file__).resolve().parents[1] / "data" / "demo.tflite"
CHECKED = [
    MODELS / "mlperf_tiny" / "kws_dscnn_int8.tflite",
    MODELS / "mlperf_tiny" / "vww_mobilenetv1_96_int8.tflite",
    MODELS / "mlperf_tiny" / "ic_resnet8_int8.tflite",
    MODELS / "mlperf_tiny" / "ad_toycar_fcae_int8.tflite",
    MODELS / "tflm" / "person_detect.tflite",
    MODELS / "tflm" / "micro_speech_quantized.tflite",
    DEMO,
]
MACHINES = {"cortex-m4": "mps2-an386", "cortex-m7": "mps2-an500", "cortex-m55": "mps3-an547"}
TOLERANCE = 0.05
_MISSING = qemu.toolchain_missing()
if _MISSING:
    print(f"test_codegen_size (measured part) skipped: {_MISSING}")


def test_table_matches_kernel_sources() -> None:
    table = json.loads(codegen_size.TABLE_PATH.read_text())
    stale = codegen_size.stale_files(table)
    assert not stale, (f"{codegen_size.TABLE_PATH.name} is stale for {', '.join(stale)}: "
                       "re-run `python scripts/measure_kernel_sizes.py`")
    assert table["toolchain"].startswith("arm-none-eabi-gcc") and table["date"]
    kernels = {p.name for p in KERNEL_DIR.glob("*.c")}
    for core in MACHINES:
        entry = table["cores"][core]
        assert set(entry["kernels"]) == kernels, f"{core}: kernel list differs from kernels/"


def test_stale_table_is_refused(monkeypatch, tmp_path) -> None:
    table = json.loads(codegen_size.TABLE_PATH.read_text())
    table["kernel_hashes"]["pj_conv.c"] = "0" * 64
    path = tmp_path / "kernel_sizes.json"
    path.write_text(json.dumps(table))
    monkeypatch.setattr(codegen_size, "TABLE_PATH", path)
    monkeypatch.setattr(codegen_size, "_TABLE", None)
    with pytest.raises(codegen_size.CodegenSizeError, match="pj_conv.c.*measure_kernel_sizes"):
        codegen_size.predict_model_part(load_model(DEMO), "cortex-m4")


def test_host_core_is_refused() -> None:
    with pytest.raises(PicojouleError, match="Cortex-M"):
        codegen_size.predict_model_part(load_model(DEMO), "host")


def _within(pred: int, meas: int, slack: int = 0) -> bool:
    return abs(pred - meas) <= max(TOLERANCE * meas, slack)


@pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))
@pytest.mark.parametrize("core", list(MACHINES))
@pytest.mark.parametrize("path", CHECKED, ids=[p.stem for p in CHECKED])
def test_prediction_matches_arm_none_eabi_size(path: Path, core: str) -> None:
    model = load_model(path)
    pred = codegen_size.predict_model_part(model, core)
    meas = qemu.build(model, MACHINES[core]).model_sizes
    row = (f"{path.stem} {core}: measured text/data/bss {meas['text']}/{meas['data']}/"
           f"{meas['bss']}, predicted {pred['text']}/{pred['data']}/{pred['bss']}")
    print(row)
    assert _within(pred["text"], meas["text"]), row
    assert _within(pred["bss"], meas["bss"]), row
    assert _within(pred["data"], meas["data"], slack=64), row
