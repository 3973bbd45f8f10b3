"""RAM picojoule needs versus the smallest TFLM arena that works, measured in one run.

For every model in ../shared/models (MLPerf Tiny first; ``--mlperf`` for those alone):

- picojoule: the planned arena (tensors + scratch), its lower bound for the chosen order
  and in-place decisions, and ``total`` = arena + state kept outside it (constants stay
  in flash; per-op quantization data is compiled into flash too, so nothing else);
- TFLM: the smallest ``arena_size`` (to 16 B) for which its Python interpreter
  (reference kernels) allocates and invokes, found by bisection with every try in a
  FRESH subprocess (a too-small arena may crash TFLM); nothing is cached between runs.
  TFLM's figure includes its per-op persistent data (multipliers, tensor structs),
  which is the RAM a TFLM user must reserve; it is cross-checked against MANIFEST.md.

The ``cmsis`` column is for information only: picojoule's total if its kernels needed the
scratch TFLM + CMSIS-NN kernels request (im2col buffers; see picojoule.planner.scratch).

Bars (exit status 1 if any fails): arena <= 1.10 x lower bound on every model;
total <= 0.6 x TFLM on each of the four MLPerf Tiny int8 models; total <= TFLM on every
model TFLM runs.

    python benchmarks/bench_memory.py [--mlperf] [--jobs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from oracles import MLPERF_INT8, SHARED_MODELS  # noqa: E402
from picojoule.importers import load_model  # noqa: E402
from picojoule.planner import check_plan, plan_memory  # noqa: E402

MLPERF = {path: label for label, path in MLPERF_INT8.items()}
#: Smallest working TFLM arena listed in ../shared/models/MANIFEST.md.
MANIFEST = {
    "mlperf_tiny/kws_dscnn_int8.tflite": 24272,
    "mlperf_tiny/vww_mobilenetv1_96_int8.tflite": 103680,
    "mlperf_tiny/ic_resnet8_int8.tflite": 55984,
    "mlperf_tiny/ad_toycar_fcae_int8.tflite": 4640,
    "tflm/person_detect.tflite": 85264,
    "tflm/micro_speech_quantized.tflite": 7584,
}
MLPERF_BAR = 0.6
BOUND_BAR = 1.10
STEP = 16

_TRY = """
import sys
from tflite_micro.python.tflite_micro import runtime
interp = runtime.Interpreter.from_file(sys.argv[1], arena_size=int(sys.argv[2]))
interp.invoke()
print("TFLM-OK")
"""


def tflm_works(path: Path, arena: int) -> bool:
    """Does TFLM allocate and invoke ``path`` with ``arena`` bytes? (fresh process)"""
    try:
        r = subprocess.run([sys.executable, "-c", _TRY, str(path), str(arena)],
                           capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0 and "TFLM-OK" in r.stdout


def tflm_smallest_arena(path: Path, hint: int) -> int | None:
    """Bisect the smallest working arena (multiple of 16 B); None if TFLM never runs it."""
    hi = max(STEP, -(-hint // STEP) * STEP)
    lo = 0  # known (or assumed) to fail
    while not tflm_works(path, hi):
        lo = hi
        hi *= 2
        if hi > 64 << 20:
            return None
    while hi - lo > STEP:
        mid = (lo + hi) // 2 // STEP * STEP
        if mid <= lo:
            break
        if tflm_works(path, mid):
            hi = mid
        else:
            lo = mid
    return hi


def measure(name: str) -> dict:
    path = SHARED_MODELS / name
    model = load_model(path)
    plan = plan_memory(model)
    problems = check_plan(plan)
    # For information: the same plan if the kernels were TFLM + CMSIS-NN's (im2col scratch).
    cmsis = plan_memory(model, kernels="cmsis-nn").total_bytes
    hint = MANIFEST.get(name, max(2 * plan.total_bytes, 4096))
    tflm = tflm_smallest_arena(path, hint)
    print(f"  measured {name}: picojoule {plan.total_bytes} B, TFLM {tflm} B", file=sys.stderr,
          flush=True)
    return dict(name=name, arena=plan.arena_bytes, lb=plan.lower_bound_bytes,
                total=plan.total_bytes, outside=plan.outside_bytes, tflm=tflm, cmsis=cmsis,
                inplace=len(plan.inplace), order=plan.order_method, problems=problems)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mlperf", action="store_true", help="only the MLPerf Tiny models")
    ap.add_argument("--jobs", type=int, default=2, help="models bisected at once (default 2)")
    args = ap.parse_args()
    names = sorted(p.relative_to(SHARED_MODELS).as_posix() for p in SHARED_MODELS.rglob("*.tflite"))
    names = [n for n in names if n.startswith("mlperf_tiny/")] if args.mlperf else names
    names = [n for n in MLPERF if n in names] + [n for n in names if n not in MLPERF]
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(measure, names))
    failures = []
    print(f"{'model':44s} {'arena':>8s} {'bound':>8s} {'a/lb':>5s} {'total':>8s} "
          f"{'TFLM':>8s} {'manifest':>8s} {'pj/TFLM':>7s} {'cmsis':>8s}  bar")
    for r in rows:
        name, tflm = r["name"], r["tflm"]
        ratio_lb = r["arena"] / r["lb"] if r["lb"] else 1.0
        ok_lb = ratio_lb <= BOUND_BAR and not r["problems"]
        if tflm:
            ratio = r["total"] / tflm
            bar = MLPERF_BAR if name in MLPERF else 1.0
            ok = ratio <= bar
            verdict = f"<= {bar:.2f} {'ok' if ok else 'FAIL'}"
        else:
            ratio, ok, verdict = None, True, "TFLM cannot run it"
        if not ok_lb:
            verdict += f"; arena/bound {ratio_lb:.3f} > {BOUND_BAR} FAIL"
            if r["problems"]:
                verdict += f"; overlaps: {r['problems'][:2]}"
        if not (ok and ok_lb):
            failures.append(name)
        man = MANIFEST.get(name)
        if man is not None and tflm is not None and man != tflm:
            verdict += f"; TFLM measured {tflm} != MANIFEST {man}"
        label = f"{MLPERF[name]} " if name in MLPERF else ""
        print(f"{label + name:44s} {r['arena']:8d} {r['lb']:8d} {ratio_lb:5.3f} "
              f"{r['total']:8d} {tflm if tflm else '-':>8} {man if man else '-':>8} "
              f"{f'{ratio:.3f}' if ratio is not None else '-':>7s} {r['cmsis']:8d}  {verdict}")
    print(f"{len(rows) - len(failures)}/{len(rows)} models meet the bars"
          + (f"; failing: {', '.join(failures)}" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
