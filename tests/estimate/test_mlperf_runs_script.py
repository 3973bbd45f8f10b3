"""scripts/mlperf_tiny_runs.py on a hand-made copy of the MLPerf Tiny results layout."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mlperf_tiny_runs.py"


def _write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_extracts_one_run(tmp_path) -> None:
    repo = tmp_path / "tiny_results_v1.1"
    task = repo / "closed/Acme/results/NUCLEO_L4R5ZI/kws"
    _write(task / "performance/results.txt",
           "00001.000 ulp-mlperf: Median throughput is 20.000 inf./sec.\n")
    _write(task / "energy/results.txt",
           "00002.000 ulp-ml:   Power        :    40000.000 uW\n"
           "00002.000 ulp-ml:   Power        :    44000.000 uW\n"
           "00002.000 ulp-ml:   Power        :    42000.000 uW\n"
           "00002.000 ulp-ml: Median energy cost is 2100.000 uJ/inf.\n"
           "00002.000 ulp-ml: Median throughput is 19.900 inf./sec.\n")
    _write(task / "energy/log.txt", "00003.000 emon: m-voltage-mv[1800]\n")
    _write(repo / "closed/Acme/systems/NUCLEO_L4R5ZI.json",
           '{"Processor(s) Frequencies": "120 MHz", "Inference Framework": "AcmeNN 1.0",\n'
           ' "Operating System ": {"Zephyr OS": {"OS version": "3.0"}}}\n')
    out = subprocess.run([sys.executable, str(SCRIPT), "--board", "L4R5", str(repo)],
                         capture_output=True, text=True, check=True).stdout
    run = tomllib.loads(out)["published"][0]
    assert run["system"] == "MLPerf Tiny v1.1, Acme, AcmeNN 1.0 (NUCLEO_L4R5ZI)"
    assert run["model"] == "kws_dscnn_int8" and run["mhz"] == 120
    assert run["latency_ms"] == 50.0 and run["energy_latency_ms"] == 50.251
    assert run["energy_uj"] == 2100 and run["power_mw"] == 42.0
    assert run["voltage"] == "1.8 V" and run["platform"] == "zephyr"


def test_not_a_results_directory(tmp_path) -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--board", "L4R5", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not an MLPerf Tiny results directory" in r.stderr
