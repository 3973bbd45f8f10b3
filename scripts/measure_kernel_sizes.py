#!/usr/bin/env python3
"""Measure the C backend's fixed code sizes per Cortex-M core and write the table that
``picojoule.analysis.codegen_size`` predicts firmware sizes from.

What the QEMU backend reports as the model part (``Firmware.model_sizes``) is
``arm-none-eabi-size -t`` over the unlinked objects of the generated ``<name>.c`` and the
kernel sources it uses, compiled with ``-O2 <cpu flags> -ffunction-sections -fdata-sections``
and the warning flags (``picojoule.backends.qemu.build``). Per core, this script

1. compiles every kernel ``.c`` with exactly those flags and records its text/data/bss (the
   whole object counts, nothing is garbage-collected before linking);
2. measures ``sizeof`` of every parameter struct of the kernel headers (the model file holds
   one ``static const`` block per node);
3. fits the code of the model file's own functions (``<name>_invoke_with_arena`` with one
   call per node, ``<name>_invoke``, ``<name>_reset``) as a linear function of counts read
   from the generated source, by least squares over training models: the single-op corpus
   models and the TFLM examples, never the models the tests check (MLPerf Tiny, person_detect,
   micro_speech_quantized, the demo);
4. writes ``src/picojoule/analysis/kernel_sizes.json`` with the toolchain version, the date
   and a SHA-256 of every kernel file, so a stale table is detected.

    python scripts/measure_kernel_sizes.py [--cores cortex-m4,cortex-m7] [--jobs 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from picojoule.analysis import codegen_size  # noqa: E402
from picojoule.backends.c.generator import KERNEL_DIR, WARN_FLAGS, generate, get_target  # noqa
from picojoule.errors import PicojouleError  # noqa: E402
from picojoule.importers import load_model  # noqa: E402

OUT = ROOT / "src" / "picojoule" / "analysis" / "kernel_sizes.json"
MODELS = Path("/work/shared/models")
CORES = ("cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
#: Models the tests check: never used to fit.
HELD_OUT = {"person_detect.tflite", "micro_speech_quantized.tflite", "demo.tflite"}


def cflags(core: str) -> list[str]:
    """The QEMU backend's compile flags for ``core`` (see ``qemu.build``)."""
    return ["-O2", *get_target(core).cpu_flags, "-ffunction-sections", "-fdata-sections",
            *WARN_FLAGS]


def sections(obj: Path) -> dict[str, int]:
    """Section name -> size of an object file (``arm-none-eabi-size -A``)."""
    out = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True,
                         text=True, check=True).stdout
    res = {}
    for line in out.splitlines()[2:]:
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            res[parts[0]] = int(parts[1])
    return res


def berkeley(obj: Path) -> dict[str, int]:
    out = subprocess.run(["arm-none-eabi-size", str(obj)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[-1].split()
    return {"text": int(out[0]), "data": int(out[1]), "bss": int(out[2])}


def compile_c(core: str, src: Path, obj: Path) -> None:
    subprocess.run(["arm-none-eabi-gcc", *cflags(core), "-c", src.name, "-o", str(obj)],
                   cwd=src.parent, check=True, capture_output=True)


def kernel_table(core: str, work: Path) -> dict[str, dict[str, int]]:
    table = {}
    for src in sorted(KERNEL_DIR.glob("*.c")):
        obj = work / f"{core}_{src.stem}.o"
        subprocess.run(["arm-none-eabi-gcc", *cflags(core), "-c", str(src), "-o", str(obj)],
                       cwd=KERNEL_DIR, check=True, capture_output=True)
        table[src.name] = berkeley(obj)
    return table


def struct_sizes(core: str, work: Path) -> dict[str, int]:
    """sizeof of every typedef'd struct in the kernel headers, read from a probe object."""
    names = []
    for h in ("pj_kernels.h", "pj_ops2.h"):
        names += re.findall(r"}\s*(pj_\w+)\s*;", (KERNEL_DIR / h).read_text())
    probe = work / "pj_probe.c"
    probe.write_text("#include <stdint.h>\n#include \"pj_kernels.h\"\n#include \"pj_ops2.h\"\n"
                     + "".join(f"char pj_sz_{n}[sizeof({n})];\n" for n in names))
    for h in KERNEL_DIR.glob("*.h"):
        (work / h.name).write_text(h.read_text())
    obj = work / f"{core}_probe.o"
    compile_c(core, probe, obj)
    sec = sections(obj)
    return {n: sec[f".bss.pj_sz_{n}"] for n in names}


def training_models() -> list[Path]:
    paths = sorted((MODELS / "ops").glob("*.tflite")) + sorted((MODELS / "tflm").glob("*.tflite"))
    return [p for p in paths if p.name not in HELD_OUT]


def measure_model_code(core: str, entry: dict, path: Path, work: Path):
    """(features, measured text of the model file's functions) or None if not generable."""
    try:
        gen = generate(load_model(path), name=path.stem, target=core)
    except PicojouleError:
        return None
    d = work / f"{core}_{path.stem}"
    d.mkdir(exist_ok=True)
    for f, text in gen.files.items():
        (d / f).write_text(text)
    obj = d / "model.o"
    compile_c(core, d / gen.sources[0], obj)
    sec = sections(obj)
    fns = {part: sec.get(f".text.{gen.name}_{fn}", 0) for part, fn in
           (("body", "invoke_with_arena"), ("reset", "reset"), ("invoke", "invoke"))}
    fns["total"] = sum(v for k, v in sec.items() if k.startswith(".text"))
    rodata = sum(v for k, v in sec.items() if k.startswith(".rodata"))
    return codegen_size.code_features(gen), fns, rodata, codegen_size.model_file_parts(
        gen, entry)


def _nnls(rows: list[tuple[dict, int]], keys: tuple[str, ...]) -> dict[str, float]:
    """Non-negative least squares of bytes on the counts (every count can only add code;
    NNLS keeps the fit from trading features off against each other, which would
    extrapolate badly to models with many more nodes than the training ones)."""
    from scipy.optimize import nnls

    X = np.array([[f[k] for k in keys] for f, _ in rows], float)
    y = np.array([c for _, c in rows], float)
    coef, _ = nnls(X, y)
    return {k: round(float(c), 3) for k, c in zip(keys, coef)}


def fit(results: list) -> tuple[dict, dict]:
    """Fit the model file's functions; returns (coefficients, fit stats on the total)."""
    feats = codegen_size.CODE_FEATURES
    # invoke_with_arena inlined into invoke: the wrapper is then bigger than a tail call.
    inlined = [(f, fn) for f, fn, _, _ in results if fn["invoke"] > fn["body"] / 2]
    plain = [(f, fn) for f, fn, _, _ in results if fn["invoke"] <= fn["body"] / 2]
    code = {
        "body": _nnls([(f, fn["body"]) for f, fn, _, _ in results], feats["body"]),
        "reset": _nnls([(f, fn["reset"]) for f, fn, _, _ in results], feats["reset"]),
        "invoke": _nnls([(f, fn["invoke"]) for f, fn in plain], feats["invoke"]),
        "inlined_extra": round(float(np.mean([fn["invoke"] - fn["body"] for _, fn in inlined]))
                               if inlined else 0.0, 1),
        # Largest body seen inlined, halfway to the smallest seen kept out of line.
        "inline_max_body": (max(fn["body"] for _, fn in inlined)
                            + min([fn["body"] for _, fn in plain
                                   if fn["body"] > max(b["body"] for _, b in inlined)]
                                  or [max(fn["body"] for _, fn in inlined)])) / 2
        if inlined else -1,
    }
    res = np.array([codegen_size.predict_code(f, code) - fn["total"]
                    for f, fn, _, _ in results], float)
    return code, {"models": len(results),
                  "max_abs_error_bytes": round(float(np.abs(res).max()), 1),
                  "rms_error_bytes": round(float(np.sqrt((res ** 2).mean())), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cores", default=",".join(CORES))
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    version = subprocess.run(["arm-none-eabi-gcc", "--version"], capture_output=True,
                             text=True, check=True).stdout.splitlines()[0]
    table = {
        "about": "Sizes for picojoule.analysis.codegen_size; written by "
                 "scripts/measure_kernel_sizes.py (re-run it when the kernels change).",
        "toolchain": version,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kernel_hashes": codegen_size.kernel_hashes(),
        "cores": {},
    }
    if OUT.exists():  # keep cores not re-measured this time
        old = json.loads(OUT.read_text())
        if old.get("kernel_hashes") == table["kernel_hashes"]:
            table["cores"] = old.get("cores", {})
    with tempfile.TemporaryDirectory(prefix="pj_ksize_") as tmp:
        work = Path(tmp)
        for core in args.cores.split(","):
            core = get_target(core).name
            entry = {"cflags": cflags(core), "kernels": kernel_table(core, work),
                     "structs": struct_sizes(core, work)}
            with cf.ThreadPoolExecutor(args.jobs) as ex:
                results = [r for r in ex.map(lambda p: measure_model_code(core, entry, p, work),
                                             training_models()) if r is not None]
            bad = [(parts["rodata"], ro) for _, _, ro, parts in results if parts["rodata"] != ro]
            if bad:
                print(f"{core}: WARNING rodata prediction differs on {len(bad)} models "
                      f"(first: predicted {bad[0][0]}, measured {bad[0][1]})")
            entry["code"], entry["code_fit"] = fit(results)
            table["cores"][core] = entry
            print(f"{core}: {len(entry['kernels'])} kernels, code fit {entry['code_fit']}")
    OUT.write_text(json.dumps(table, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
