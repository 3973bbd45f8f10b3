#!/usr/bin/env python3
"""Fit picojoule's latency model and write it into the target files' [latency] tables.

For each instruction model the machine can emulate (Cortex-M4 on mps2-an386, Cortex-M7 on
mps2-an500, Cortex-M55 on mps3-an547 when the QEMU backend has it, and the portable C
kernels on mps2-an386), the script

1. compiles single-op "banks" (one graph of many independent nodes of varied shapes, see
   ``picojoule.estimate.fit.banks`` for the int8 kernels, ``float_banks`` for the float32
   and hybrid ones, ``int16_banks`` for the int16x8 ones) and the training models (MLPerf
   Tiny int8 KWS and AD) with
   per-node profiling, runs each once under ``qemu-system-arm -icount shift=0`` and reads
   every node's instruction count;
2. fits, per C kernel variant, instructions = sum(coef * work count) by non-negative least
   squares (``picojoule.estimate.fit``);
3. writes, at the end of every bundled target file whose core uses that model, a
   ``[latency]`` table: the coefficients, the core class's cycles per instruction with its
   source, the flash line size for wait-state stalls, and where it all came from.

The validation models (``picojoule.estimate.validation``: int8 VWW, IC, person_detect,
micro_speech, the demo; all four float32 MLPerf Tiny models and hello_world_float; int16x8
versions of the four) are never used here, and no bank node has the signature of one of
their layers (tests/estimate/test_fit_validation.py); ``benchmarks/bench_estimate.py`` checks
the prediction on them.

    python scripts/fit_latency.py [--classes cortex-m4,cortex-m7] [--dry-run]
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_DIR = ROOT / "src" / "picojoule" / "targets" / "data"
MARK = "# ---- [latency]: written by scripts/fit_latency.py (re-run it; do not edit by hand) ----"


_ARM_CM = ("Arm CoreMark/MHz figures as published on the Cortex-M processor pages "
           "(developer.arm.com): M0+ 2.46, M4 3.42, M33 4.02, M55 4.2, M7 5.01, M85 6.28; "
           "recalled, not re-checked")
_M4_CPI = ("estimate: Arm Cortex-M4 TRM (DDI 0439B) §3.3 instruction timings: data processing, "
           "MUL/MLA and SMLAD 1 cycle, LDR 2 cycles (1 when pipelined behind another load), "
           "taken branch 2-4 cycles; picojoule's inner loops are single-cycle SMLAD/ALU with "
           "one load per 2-4 MACs and one branch per 32 MACs -> ~1.25 cycles per instruction")


def _scaled(coremark: float, note: str) -> tuple[float, str]:
    cpi = round(1.25 * 3.42 / coremark, 3)
    return cpi, (f"estimate: 1.25 (Cortex-M4, see its target file) x 3.42 / {coremark} "
                 f"CoreMark/MHz = {cpi}; {note}. CoreMark per MHz: {_ARM_CM}")


#: core name in the target file -> (core class, instruction model, C target, CPI, CPI source)
CORE_CLASSES: dict[str, tuple[str, str, str, float, str]] = {}
CORE_CLASSES["Cortex-M4"] = ("cortex-m4", "cortex-m4", "cortex-m4", 1.25, _M4_CPI)
CORE_CLASSES["Cortex-M7"] = ("cortex-m7", "cortex-m7", "cortex-m7",
                             *_scaled(5.01, "dual issue"))
CORE_CLASSES["Cortex-M33"] = ("cortex-m33", "cortex-m4", "cortex-m33",
                              *_scaled(4.02, "same Thumb-2 + DSP instructions as the M4"))
_M55_CPI = ("estimate: picojoule's M55 kernels are mostly MVE (Helium) instructions; the "
            "Cortex-M55 executes MVE in 2 beats of 64 bits (dual-beat, Arm Cortex-M55 TRM, "
            "'beat-wise execution'), overlapping consecutive vector instructions of different "
            "kinds (load/MAC) so a 128-bit instruction costs 1-2 cycles; scalar code runs "
            "near 1 CPI (4.2 CoreMark/MHz vs the M4's 3.42). Taken as 1.4")
_M85_CPI = ("estimate: the Cortex-M85 executes MVE in 4 beats per cycle (quad-beat, a 128-bit "
            "instruction in one cycle) and scalar code at 6.28 CoreMark/MHz; with the same "
            "M55 kernels taken as 0.9 cycles per instruction")
CORE_CLASSES["Cortex-M55"] = ("cortex-m55", "cortex-m55", "cortex-m55", 1.4, _M55_CPI)
CORE_CLASSES["Cortex-M85"] = ("cortex-m85", "cortex-m55", "cortex-m55", 0.9, _M85_CPI)
CORE_CLASSES["Cortex-M0+"] = ("cortex-m0plus", "portable-c", "cortex-m0plus",
                              *_scaled(2.46, "Armv6-M has no SMLAD/UMULL: the portable C "
                                             "kernels' M4 instruction count is a low bound"))
CORE_CLASSES["RV32IMC"] = ("rv32imc", "portable-c", "host",
                           *_scaled(2.55, "Espressif ESP32-C3 datasheet: 407.22 CoreMark at "
                                          "160 MHz (2.55/MHz); portable C kernels"))
CORE_CLASSES["Xtensa LX7"] = ("xtensa-lx7", "portable-c", "host",
                              *_scaled(2.56, "Espressif ESP32-S3 datasheet: 613.86 CoreMark "
                                             "on one core at 240 MHz (2.56/MHz); portable C "
                                             "kernels (no PIE SIMD kernels yet)"))

#: Bytes per flash read that misses the cache on streamed weights, per core class.
FLASH_LINE = {
    "cortex-m4": (8, "estimate: 64-bit flash read width of STM32L4+/nRF52 class flash "
                     "(RM0432 §3.3: the flash is read in 64-bit double words); weights stream "
                     "through the small ART data cache, so each 8 bytes costs the wait states"),
    "cortex-m33": (16, "estimate: 128-bit flash read width (STM32U5, RM0456 §7.3.3 read "
                       "access latency); weights stream through the ICACHE/ART"),
}
DEFAULT_FLASH_LINE = (32, "estimate: one 32-byte L1 data-cache line fill per miss on "
                          "streamed weights (Cortex-M7/M55/M85 caches), costing the wait states")


def _tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def measure_class(core_class: str, verbose: bool = True) -> list:
    from picojoule.estimate import fit as F
    from picojoule.importers.tflite import load

    samples = []
    for name, model in F.all_banks().items():
        samples += F.measure(model, core_class, f"bank:{name}")[0]
    samples += F.io_samples(core_class)
    from picojoule.estimate.validation import TRAIN_FILES

    for name, path in TRAIN_FILES.items():
        samples += F.measure(load(path), core_class, name)[0]
    if verbose:
        print(f"{core_class}: {len(samples)} measured nodes", file=sys.stderr)
    return samples


def _fmt(v: float) -> str:
    return repr(float(round(v, 6)))


def latency_block(core_name: str, fits: dict[str, dict], provenance: dict[str, str]) -> str:
    cls, model, c_target, cpi, cpi_src = CORE_CLASSES[core_name]
    line, line_src = FLASH_LINE.get(cls, DEFAULT_FLASH_LINE)
    lines = [MARK, "[latency]",
             f'core_class = "{cls}"',
             f'instruction_model = "{model}"',
             f'c_target = "{c_target}"',
             f"cpi = {cpi}",
             f"cpi_source = {_q(cpi_src)}",
             f"flash_line_bytes = {line}",
             f"flash_line_bytes_source = {_q(line_src)}",
             f"source = {_q(provenance[model])}"]
    if model != cls:
        lines.append(f"instruction_model_source = {_q(f'estimate: {cls} is not emulated here; the {model} instruction counts of the same C kernels stand in')}")
    for variant, coefs in sorted(fits[model].items()):
        lines.append("")
        lines.append(f"[latency.kernels.{variant}]")
        for k, v in sorted(coefs.items()):
            lines.append(f"{k} = {_fmt(v)}")
    return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_block(path: Path, block: str) -> None:
    text = path.read_text()
    if MARK in text:
        text = text[: text.index(MARK)].rstrip("\n") + "\n"
    path.write_text(text.rstrip("\n") + "\n\n" + block)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", help="comma-separated instruction models to measure "
                    "(default: every one this machine can emulate)")
    ap.add_argument("--dry-run", action="store_true", help="print, do not write the files")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from picojoule.estimate import fit as F
    import tomllib

    avail = F.available_classes()  # portable-c included (it runs on the M4 board)
    classes = args.classes.split(",") if args.classes else avail
    missing = [c for c in classes if c not in avail]
    if missing:
        print(f"cannot measure {', '.join(missing)} here (QEMU machine or toolchain "
              "missing)", file=sys.stderr)
        classes = [c for c in classes if c in avail]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    qemu_v = _tool_version(["qemu-system-arm", "--version"])
    gcc_v = _tool_version(["arm-none-eabi-gcc", "--version"])
    fits, provenance = {}, {}
    for cls in classes:
        samples = measure_class(cls)
        fits[cls] = F.fit(samples)
        machine = F.MACHINE_OF_CLASS[cls]
        provenance[cls] = (
            f"measured: scripts/fit_latency.py on {stamp}: {len(samples)} nodes (int8, int16x8, "
            f"float32 and hybrid single-op banks + MLPerf Tiny int8 KWS and AD) compiled by "
            f"{gcc_v} -O2 and run on {qemu_v} -M {machine} -icount shift=0 (instructions); NNLS "
            "fit per C kernel")
    # Cortex-M55 without its board: the M4 instruction model stands in (flagged).
    if "cortex-m55" not in fits and "cortex-m4" in fits:
        fits["cortex-m55"] = fits["cortex-m4"]
        provenance["cortex-m55"] = (provenance["cortex-m4"] + "; used for Cortex-M55/M85 "
                                    "because no M55 board was available to the fit")
    written = 0
    for path in sorted(TARGET_DIR.glob("*.toml")):
        raw = tomllib.loads(path.read_text())
        core_name = raw.get("core", {}).get("name")
        if core_name is None and "extends" in raw:
            continue  # takes its core and [latency] from the target it extends
        if core_name not in CORE_CLASSES:
            print(f"{path.name}: core {core_name!r} has no class here; skipped", file=sys.stderr)
            continue
        model = CORE_CLASSES[core_name][1]
        if model not in fits:
            continue
        block = latency_block(core_name, fits, provenance)
        if args.dry_run:
            print(f"== {path.name}\n{block}")
        else:
            write_block(path, block)
            tomllib.loads(path.read_text())  # still valid TOML
            written += 1
    print(f"wrote [latency] to {written} target file(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
