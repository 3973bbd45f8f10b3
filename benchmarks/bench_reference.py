"""Reference interpreter speed against TFLM's interpreter, measured in the same run.

For each MLPerf Tiny int8 model: median milliseconds per inference of TFLM's Python
interpreter (set input, invoke, read output) and of picojoule's reference interpreter
(``Interpreter.run``, model loading and kernel preparation excluded), on the same seeded
random input, interleaved in rounds so both see the same machine state. Prints the
ratio TFLM / picojoule (>= 1.0 means picojoule is at least as fast) and exits non-zero
if any ratio is below the bar.

    python benchmarks/bench_reference.py [--rounds 7] [--seconds 0.3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only add contention

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from oracles import MLPERF_INT8, SHARED_MODELS, TflmSession  # noqa: E402
from picojoule.importers import load_model  # noqa: E402
from picojoule.runtime import Interpreter, random_inputs  # noqa: E402

MODELS = MLPERF_INT8
BAR = 1.0


def time_call(fn, seconds: float) -> float:
    """Median ms of ``fn()`` over batches lasting about ``seconds``."""
    fn()
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < seconds / 10:
        fn()
        n += 1
    per_batch = max(1, n)
    samples = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(samples) < 5:
        s = time.perf_counter()
        for _ in range(per_batch):
            fn()
        samples.append((time.perf_counter() - s) * 1e3 / per_batch)
    return statistics.median(samples)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.3, help="per side, per round")
    args = ap.parse_args()
    print(f"{'model':6} {'TFLM ms':>9} {'picojoule ms':>13} {'ratio':>7}  bar >= {BAR}")
    ok = True
    for label, rel in MODELS.items():
        path = SHARED_MODELS / rel
        model = load_model(path)
        ours = Interpreter(model)
        tflm = TflmSession(path, preserve_all=False)
        feeds = random_inputs(model.main, 0)
        a, b = ours.run(feeds), tflm.run(feeds)
        if not all(np.array_equal(x, y) for x, y in zip(a, b)):
            print(f"{label}: outputs differ from TFLM; not timing")
            ok = False
            continue
        t_tflm, t_ours = [], []
        for _ in range(args.rounds):
            t_tflm.append(time_call(lambda: tflm.run(feeds), args.seconds))
            t_ours.append(time_call(lambda: ours.run(feeds), args.seconds))
        mt, mo = statistics.median(t_tflm), statistics.median(t_ours)
        ratio = mt / mo
        ok &= ratio >= BAR
        print(f"{label:6} {mt:9.3f} {mo:13.3f} {ratio:7.2f}  {'ok' if ratio >= BAR else 'BELOW BAR'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
