"""`run --json` names host time `host_wall_ms` on every backend and, on an emulated core,
puts the device's own figure, `instructions`, first."""

from __future__ import annotations

import json

import pytest
from oracles import SHARED_MODELS

from picojoule.backends import qemu
from picojoule.cli import main

KWS = SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"
MISSING = qemu.toolchain_missing()


@pytest.mark.skipif(MISSING is not None, reason=f"needs the Arm toolchain and QEMU: {MISSING}")
def test_emulated_run_puts_instructions_first_and_host_time_apart(capsys):
    assert main(["run", str(KWS), "--backend", "qemu-m4", "--json", "--repeat", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert next(iter(r)) == "instructions"
    # 2,656,768 MACs (MANIFEST.md) need at least half as many instructions even with SMLAD.
    assert r["instructions"] >= 2_656_768 // 2
    assert "latency_ms" not in r
    assert r["host_wall_ms"]["repeat"] == 2
    assert r["host_wall_ms"]["min"] <= r["host_wall_ms"]["median"]
    assert r["text"] > 0 and r["model_part_sizes"]["text"] > 0
    assert main(["run", str(KWS), "--backend", "qemu-m4"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "host wall time, emulator included:" in out and "latency" not in out
    assert out.index("instructions per inference") < out.index("host wall time")


def test_host_c_run_reports_host_wall_time(capsys):
    assert main(["run", str(KWS), "--backend", "c", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert "latency_ms" not in r and "instructions" not in r
    assert r["host_wall_ms"]["median"] > 0 and r["host_wall_ms"]["repeat"] == 1
