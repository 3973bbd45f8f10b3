"""`picojoule validate`: reference, host C and emulated firmware agree, and it says so."""

from __future__ import annotations

import json

import pytest

from oracles import SHARED_MODELS
from picojoule.backends import qemu
from picojoule.cli import main

MISSING = qemu.toolchain_missing()


@pytest.mark.skipif(MISSING is not None, reason=f"needs the Arm toolchain and QEMU: {MISSING}")
def test_validate_kws_on_emulated_m4(capsys):
    code = main(["validate", str(SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"),
                 "--target", "stm32l4r5", "--seeds", "2", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["agree"] and r["backend"] == "qemu-m4"
    assert len(r["comparisons"]) == 4 and all(c["identical"] for c in r["comparisons"])
    # 2,656,768 MACs (MANIFEST.md) need at least 2,656,768 / 2 instructions even with SMLAD.
    assert all(n >= 2_656_768 // 2 for n in r["instructions"])
    assert r["sizes"]["text"] > r["model_part_sizes"]["text"] > 0


def test_validate_refuses_a_core_it_cannot_emulate(capsys):
    code = main(["validate", str(SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"),
                 "--target", "rp2040"])
    err = capsys.readouterr().err
    assert code == 1 and "no emulated board" in err
