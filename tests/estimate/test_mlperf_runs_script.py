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


def _extract(board: str, repo: Path) -> list[dict]:
    out = subprocess.run([sys.executable, str(SCRIPT), "--board", board, str(repo)],
                         capture_output=True, text=True, check=True).stdout
    return tomllib.loads(out)["published"]


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
    run = _extract("L4R5", repo)[0]
    assert run["system"] == "MLPerf Tiny v1.1, Acme, AcmeNN 1.0 (NUCLEO_L4R5ZI)"
    assert run["model"] == "kws_dscnn_int8" and run["mhz"] == 120
    assert run["latency_ms"] == 50.0 and run["energy_latency_ms"] == 50.251
    assert run["energy_uj"] == 2100 and run["power_mw"] == 42.0
    assert run["voltage"] == "1.8 V" and run["platform"] == "zephyr"


def test_not_a_results_directory(tmp_path) -> None:
    r = subprocess.run([sys.executable, str(SCRIPT), "--board", "L4R5", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not an MLPerf Tiny results directory" in r.stderr


def test_extracts_a_v13_run(tmp_path) -> None:
    # v1.3's runner: per-trial elapsed time, inferences and power in mW, no emon voltage (it
    # comes from the hardware notes, which also name the SMPS); sww (streaming) is skipped.
    repo = tmp_path / "tiny_results_v1.3"
    res = repo / "closed/Acme/results/NUCLEO_U385RG_Q"
    _write(res / "kws/performance/results.txt",
           "0725.1 ulp-mlperf: Median throughput is     20.000 inf./sec.\n")
    trials = "".join(f"Energy data for trial {i}\n  Elapsed time  : {t}\n  Inferences    : 250\n"
                     f"  Power         : {p} mW.\n  Energy/Inf    : 250.0 uJ/inf\n"
                     for i, (t, p) in enumerate([(12.0, 5.0), (12.5, 5.2), (12.4, 5.1)]))
    _write(res / "kws/energy/results.txt",
           "Power Edition Output\n" + trials + "Median energy cost is 250.0000 uJ/inf.\n")
    _write(res / "kws/energy/log.txt", "Device name retrieved: Acme\n")
    _write(res / "sww/energy/results.txt", "Power : 4.0 mW.\nMedian energy cost is 9.0 uJ/inf.\n")
    _write(repo / "closed/Acme/systems/NUCLEO_U385RG_Q.json",
           '{"Processor(s) Frequencies": "96 MHz", "Inference Framework": "AcmeNN 2",\n'
           ' "Hardware Notes": "Operating at 1.8V / SMPS", "Operating System ": "bare metal"}\n')
    (run,) = _extract("U385", repo)
    assert run["model"] == "kws_dscnn_int8" and run["mhz"] == 96
    # median of 250/12.0, 250/12.5, 250/12.4 inf/s = 250/12.4 -> 49.6 ms
    assert run["latency_ms"] == 50.0 and run["energy_latency_ms"] == 49.6
    assert run["power_mw"] == 5.1 and run["energy_uj"] == 250
    assert run["voltage"] == "1.8 V" and run["regulator"] == "smps"
    assert run["platform"] == "bare-metal"
