"""Print MLPerf Tiny energy runs on one board as [[published]] entries for a target file.

    git clone https://github.com/mlcommons/tiny_results_v1.3 ...   (v0.5, v0.7, v1.0 ... v1.3)
    python scripts/mlperf_tiny_runs.py --board L4R5 tiny_results_v0.5 tiny_results_v0.7 ...

For every closed-division system whose results path names the board and that has an energy
run, one entry per benchmark with:

- ``latency_ms``: 1000 / the median throughput of the performance run
  (``<task>/performance/results.txt``), or of the energy run when there is none;
- ``energy_uj``: the energy run's median energy per inference (``energy/results.txt``);
- ``energy_latency_ms``: 1000 / the energy run's own median throughput (it should equal
  ``latency_ms``; when it does not, the energy run was not the performance run's build);
- ``power_mw``: the median of the energy run's per-window power;
- ``voltage``: the supply the energy monitor gave the board, as it reported it at the end of
  the run (``emon: m-voltage-mv[...]`` in ``energy/log.txt``; the script's requested voltage
  is not always what was used); v1.3's runner logs no voltage, so there it is the one the
  system description's hardware notes give ("Operating at 3 V ...");
- ``regulator``: ``smps`` when the hardware notes say the chip ran from its switching
  regulator ("with SMPS", "external SMPS"), ``ldo`` when they name the LDO, else left out
  (the target's default);
- ``platform``: ``zephyr`` when the system description names Zephyr, ``mbed-os`` when it
  names mbed, else ``bare-metal`` (the vendor's own startup code).

Two log formats are read: the EEMBC runner's (v0.5-v1.2: per-window ``Power : N uW`` and a
``Median throughput`` line in the energy results) and v1.3's (per-trial ``Elapsed time``,
``Inferences`` and ``Power : N mW.``). Streaming wake-word runs (``sww``, v1.3) measure the
average power of a real-time stream, not energy per back-to-back inference, and are skipped.

The results repositories are read as plain directories (a clone or an extracted archive).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

TASKS = {"kws": "kws_dscnn_int8", "keyword_spotting": "kws_dscnn_int8",
         "vww": "vww_mobilenetv1_96_int8", "visual_wake_words": "vww_mobilenetv1_96_int8",
         "ic": "ic_resnet8_int8", "image_classification": "ic_resnet8_int8",
         "ad": "ad_toycar_fcae_int8", "anomaly_detection": "ad_toycar_fcae_int8"}


def _read(p: Path) -> str:
    return p.read_text(errors="replace") if p.is_file() else ""


def _round(repo: Path) -> str:
    m = re.search(r"v\d+\.\d+", repo.resolve().name)
    return m.group(0) if m else repo.name


def _system_text(submitter_dir: Path, system: str) -> tuple[str, str]:
    """The system description that best matches ``system`` (text, path relative to repo)."""
    best, best_score = None, -1
    key = re.sub(r"[^a-z0-9]", "", system.lower())
    for p in sorted((submitter_dir / "systems").rglob("*.json")):
        name = re.sub(r"[^a-z0-9]", "", p.stem.lower())
        score = sum(1 for part in re.split(r"[_\-]", system.lower()) if part and part in
                    p.stem.lower()) + (5 if key in name or name in key else 0)
        if score > best_score:
            best, best_score = p, score
    return (_read(best), str(best.relative_to(submitter_dir.parent.parent))) if best else ("", "")


def _field(text: str, name: str) -> str:
    m = re.search(r'"' + re.escape(name) + r'\s*"\s*:\s*"([^"]*)"', text)
    return m.group(1).strip() if m else ""


def _powers_mw(text: str) -> list[float]:
    """Per-window (per-trial) power of an energy run, in mW, in either log format."""
    return [float(v) / (1000.0 if unit == "u" else 1.0)
            for v, unit in re.findall(r"Power\s*:\s*([\d.]+)\s*([um])W", text)]


def _energy_throughput(text: str) -> float | None:
    """Inferences per second of the energy run: its median line, else the trials' median."""
    m = re.search(r"Median throughput is\s+([\d.]+) inf", text)
    if m:
        return float(m.group(1))
    elapsed = [float(x) for x in re.findall(r"Elapsed time\s*:\s*([\d.]+)", text)]
    count = [int(x) for x in re.findall(r"Inferences\s*:\s*(\d+)", text)]
    rates = [n / t for t, n in zip(elapsed, count) if t > 0]
    return statistics.median(rates) if rates else None


def _supply(log: str, notes: str) -> tuple[float | None, str]:
    """Supply voltage (V) and regulator ("smps", "ldo" or "") of an energy run."""
    volts = re.findall(r"m-voltage-mv\[(\d+)\]", log)
    if volts:
        v = int(volts[-1]) / 1000.0
    else:
        m = re.search(r"operating at\s*([\d.]+)\s*v", notes.lower())
        v = float(m.group(1)) if m else None
    low = notes.lower()
    return v, "smps" if "smps" in low else "ldo" if "ldo" in low else ""


def runs(repo: Path, board: str) -> list[dict]:
    out = []
    for energy in sorted(repo.glob("closed/*/results/**/energy/results.txt")):
        task_dir = energy.parent.parent
        system_dir = task_dir.parent
        rel = energy.relative_to(repo)
        if board.lower() not in str(rel).lower() or task_dir.name not in TASKS:
            continue
        submitter_dir = repo / "closed" / rel.parts[1]
        text = _read(energy)
        m = re.search(r"Median energy cost is\s+([\d.]+) uJ", text)
        if not m:
            continue
        energy_uj = float(m.group(1))
        powers = _powers_mw(text)
        label = "/".join(system_dir.relative_to(submitter_dir / "results").parts)
        sys_text, sys_path = _system_text(submitter_dir, label.replace("/", "_"))
        volts, regulator = _supply(_read(energy.parent / "log.txt"),
                                   _field(sys_text, "Hardware Notes"))
        ethr = _energy_throughput(text)
        perf = re.search(r"Median throughput is\s+([\d.]+) inf",
                         _read(task_dir / "performance" / "results.txt"))
        thr = float(perf.group(1)) if perf else ethr
        if not (thr and ethr and volts and powers):
            continue
        low = sys_text.lower()
        platform = "zephyr" if "zephyr" in low else "mbed-os" if "mbed" in low else "bare-metal"
        mhz = re.search(r"([\d.]+)\s*MHz", _field(sys_text, "Processor(s) Frequencies"))
        framework = _field(sys_text, "Inference Framework") or "?"
        out.append({
            "system": f"MLPerf Tiny {_round(repo)}, {rel.parts[1]}, {framework} ({label})",
            "model": TASKS[task_dir.name],
            "mhz": float(mhz.group(1)) if mhz else None,
            "latency_ms": round(1000.0 / thr, 3),
            "energy_uj": energy_uj,
            "energy_latency_ms": round(1000.0 / ethr, 3),
            "power_mw": round(statistics.median(powers), 2),
            "voltage": volts,
            "platform": platform,
            "regulator": regulator,
            "source": f"mlcommons/tiny_results_{_round(repo)} {rel.parent.parent} "
                      f"{{performance,energy}}/results.txt, energy/log.txt; {sys_path}",
        })
    return out


def to_toml(r: dict) -> str:
    lines = ["[[published]]", f'system = "{r["system"]}"', f'model = "{r["model"]}"']
    if r["mhz"]:
        lines.append(f'mhz = {r["mhz"]:g}')
    lines += [f'latency_ms = {r["latency_ms"]:g}', f'energy_uj = {r["energy_uj"]:g}',
              f'energy_latency_ms = {r["energy_latency_ms"]:g}',
              f'power_mw = {r["power_mw"]:g}', f'voltage = "{r["voltage"]:g} V"',
              f'platform = "{r["platform"]}"']
    if r["regulator"]:
        lines.append(f'regulator = "{r["regulator"]}"')
    lines.append(f'source = "{r["source"]}"')
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", required=True, help="text the results path must contain, "
                    "e.g. L4R5 or H7A3")
    ap.add_argument("repos", nargs="+", type=Path, help="tiny_results_v* directories")
    args = ap.parse_args()
    found = []
    for repo in args.repos:
        if not (repo / "closed").is_dir():
            print(f"error: {repo}: not an MLPerf Tiny results directory (no closed/)",
                  file=sys.stderr)
            return 1
        found += runs(repo, args.board)
    print("\n\n".join(to_toml(r) for r in found))
    print(f"# {len(found)} runs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
