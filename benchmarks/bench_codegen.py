"""Generated C code: MACs per instruction on emulated Cortex-M4 and Cortex-M55 cores and
host speed vs TFLM.

For each MLPerf Tiny int8 model:

- ``M4 MAC/instr``: the model's multiply-accumulates divided by the instructions one
  inference executes on qemu-system-arm ``-M mps2-an386 -icount shift=0`` (SysTick ticks
  x 40 around ``<name>_invoke``), firmware built with the SMLAD kernels. Bar: >= 0.6 on KWS,
  VWW and IC (issue 4).
- ``M55 MAC/instr``: the same on ``-M mps3-an547`` (Cortex-M55, SysTick at 32 MHz there:
  ticks x 31.25), firmware built with the Helium (MVE) kernels. QEMU counts every MVE
  instruction as one executed instruction, whatever its beats. Bar: >= 1.5 on KWS, VWW, IC.
- ``host x TFLM``: median ms per inference of TFLM's Python interpreter (set input, invoke,
  read output) divided by that of the generated C library built with the host compiler
  and called via ctypes, same seeded input, interleaved. Bar: >= 3 on each model.

Also prints firmware text/data/bss. Exits non-zero when a bar is missed.

    python benchmarks/bench_codegen.py [--seconds 0.5] [--no-qemu] [--no-host]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from oracles import MLPERF_INT8, SHARED_MODELS, TflmSession  # noqa: E402
from picojoule.backends import host, qemu  # noqa: E402
from picojoule.importers.tflite import load  # noqa: E402
from picojoule.ops.registry import node_macs  # noqa: E402
from picojoule.runtime import random_inputs  # noqa: E402

MODELS = MLPERF_INT8
M4_BAR = {"KWS": 0.6, "VWW": 0.6, "IC": 0.6}
M55_BAR = {"KWS": 1.5, "VWW": 1.5, "IC": 1.5}
HOST_BAR = 3.0


def median_ms(fn, seconds: float) -> float:
    fn()
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 5:
        s = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - s) * 1e3)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.5, help="timing budget per measurement")
    ap.add_argument("--no-qemu", action="store_true")
    ap.add_argument("--no-host", action="store_true")
    args = ap.parse_args()
    missing = qemu.toolchain_missing()
    run_qemu = not args.no_qemu and missing is None
    if not args.no_qemu and missing:
        print(f"QEMU part skipped: {missing}")
    ok = True
    print(f"{'model':6} {'MACs':>10} {'M4 instr':>11} {'M4 MAC/i':>9} {'M55 instr':>11} "
          f"{'M55 MAC/i':>9} {'M4 text':>8} {'data':>6} {'bss':>7} {'C ms':>8} {'TFLM ms':>8} "
          f"{'x TFLM':>7}")
    for key, rel in MODELS.items():
        path = SHARED_MODELS / rel
        model = load(path)
        macs = sum(node_macs(n) for n in model.main.nodes)
        x = random_inputs(model.main, 0)
        cols = [f"{key:6}", f"{macs:>10}"]
        if run_qemu:
            sizes = None
            for machine, bars in (("mps2-an386", M4_BAR), ("mps3-an547", M55_BAR)):
                fw = qemu.build(model, machine)
                _, instr = fw.run(x)
                ratio = macs / instr
                bar = bars.get(key)
                ok &= bar is None or ratio >= bar
                mark = "" if bar is None or ratio >= bar else " <"
                cols += [f"{instr:>11}", f"{ratio:>9.3f}{mark}"]
                sizes = sizes or fw.sizes
            cols += [f"{sizes['text']:>8}", f"{sizes['data']:>6}", f"{sizes['bss']:>7}"]
        else:
            cols += [f"{'-':>11}", f"{'-':>9}", f"{'-':>11}", f"{'-':>9}", f"{'-':>8}",
                     f"{'-':>6}", f"{'-':>7}"]
        if not args.no_host:
            lib = host.build(model)
            tflm = TflmSession(path, preserve_all=False)
            c_ms = median_ms(lambda: lib.run(x), args.seconds)
            t_ms = median_ms(lambda: tflm.run(x), args.seconds)
            speed = t_ms / c_ms
            ok &= speed >= HOST_BAR
            cols += [f"{c_ms:>8.3f}", f"{t_ms:>8.3f}",
                     f"{speed:>7.1f}" + ("" if speed >= HOST_BAR else " <")]
        print(" ".join(cols), flush=True)
    print(f"bars: M4 MAC/instr >= {M4_BAR['KWS']} and M55 (MVE) MAC/instr >= {M55_BAR['KWS']} "
          f"on KWS/VWW/IC; host >= {HOST_BAR}x TFLM -> {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
