"""Print MLPerf Tiny energy runs on one board as [[published]] entries for a target file.

    git clone https://github.com/mlcommons/tiny_results_v1.2 ...   (v0.5, v1.0, v1.1, v1.2)
    python scripts/mlperf_tiny_runs.py --board L4R5 tiny_results_v0.5 tiny_results_v1.0 ...

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
  is not always what was used);
- ``platform``: ``zephyr`` when the system description names Zephyr, ``mbed-os`` when it
  names mbed, else ``bare-metal`` (the vendor's own startup code).

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
        m = re.search(r"Median energy cost is ([\d.]+) uJ", text)
        if not m:
            continue
        energy_uj = float(m.group(1))
        powers = [float(x) for x in re.findall(r"Power\s*:\s*([\d.]+) uW", text)]
        volts = re.findall(r"m-voltage-mv\[(\d+)\]", _read(energy.parent / "log.txt"))
        perf = _read(task_dir / "performance" / "results.txt") or text
        thr = re.search(r"Median throughput is ([\d.]+) inf", perf)
        ethr = re.search(r"Median throughput is ([\d.]+) inf", text)
        if not (thr and ethr and volts and powers):
            continue
        label = "/".join(system_dir.relative_to(submitter_dir / "results").parts)
        sys_text, sys_path = _system_text(submitter_dir, label.replace("/", "_"))
        low = sys_text.lower()
        platform = "zephyr" if "zephyr" in low else "mbed-os" if "mbed" in low else "bare-metal"
        mhz = re.search(r"([\d.]+)\s*MHz", _field(sys_text, "Processor(s) Frequencies"))
        framework = _field(sys_text, "Inference Framework") or "?"
        out.append({
            "system": f"MLPerf Tiny {_round(repo)}, {rel.parts[1]}, {framework} ({label})",
            "model": TASKS[task_dir.name],
            "mhz": float(mhz.group(1)) if mhz else None,
            "latency_ms": round(1000.0 / float(thr.group(1)), 3),
            "energy_uj": energy_uj,
            "energy_latency_ms": round(1000.0 / float(ethr.group(1)), 3),
            "power_mw": round(statistics.median(powers) / 1000.0, 2),
            "voltage": int(volts[-1]) / 1000.0,
            "platform": platform,
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
              f'platform = "{r["platform"]}"', f'source = "{r["source"]}"']
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
