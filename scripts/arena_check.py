"""Planned arena (``analyze``) next to the arena the generated C declares, per core class.

For every model given (default: the corpus in ../shared/models), and for each core class
(``m4``: Cortex-M4, DSP kernels, the STM32L4R5; ``m55``: Cortex-M55, MVE kernels, the
Corstone-300; ``m0``: Cortex-M0+, portable kernels, the RP2040), prints:

- ``plan``: ``ram.arena_bytes`` of ``picojoule analyze --json`` for that target (the
  function analyze takes it from, without the rest of the report);
- ``gen``: the generator's own figure (``Generated.arena_size``);
- ``decl``: the byte count of the arena array in the generated ``<name>.c``;
- ``scratch``: the largest scratch buffer one kernel of the generated C asks for;
- ``inplace``: nodes the generated C runs in place.

A row is marked ``DIFF`` when ``plan`` and ``decl`` differ. Models the C backend cannot
generate are listed with the reason. Usage::

    python scripts/arena_check.py [--cores m4,m55,m0] [--json out.json] [PATH ...]

PATHs are model files or folders (searched for .tflite / .onnx files).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "models"

#: core class -> (C backend core, catalogue target analyze is run for)
CORES = {"m4": ("cortex-m4", "stm32l4r5"), "m55": ("cortex-m55", "corstone300-m55"),
         "m0": ("cortex-m0plus", "rp2040")}

_ARENA_DECL = re.compile(r"^static union \{ int64_t align_; uint8_t bytes\[(\d+)\]; \} "
                         r"\w+_arena;", re.M)


def declared_arena(c_source: str) -> int:
    """The arena array's byte count, read from the generated model file's text."""
    m = _ARENA_DECL.findall(c_source)
    if len(m) != 1:
        raise ValueError(f"expected one arena declaration, found {len(m)}")
    return int(m[0])


def model_paths(args: list[str]) -> list[Path]:
    out: list[Path] = []
    for a in args or [str(CORPUS)]:
        p = Path(a)
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix in (".tflite", ".onnx"))
        else:
            out.append(p)
    return out


def check(path: Path, cores: list[str]) -> list[dict]:
    from picojoule.analysis.analyze import STACK_ESTIMATE_BYTES, ram_plans
    from picojoule.backends.c.generator import generate
    from picojoule.errors import PicojouleError
    from picojoule.importers import load_model
    from picojoule.targets import load_target

    rows = []
    try:
        model = load_model(str(path))
    except Exception as exc:  # noqa: BLE001 - a model the importer refuses is reported
        return [{"model": str(path), "core": "-", "error": f"load: {exc}"}]
    for cls in cores:
        core, target = CORES[cls]
        row: dict = {"model": str(path), "core": cls}
        t0 = time.perf_counter()
        try:
            plan, _, source = ram_plans(model, load_target(target), STACK_ESTIMATE_BYTES)
            row["plan"] = plan.arena_bytes
            row["plan_source"] = source
        except Exception as exc:  # noqa: BLE001
            row["plan_error"] = f"{type(exc).__name__}: {exc}"
        try:
            gen = generate(model, name="m", target=core)
        except PicojouleError as exc:
            row["gen_error"] = str(exc).splitlines()[0][:120]
        else:
            row["gen"] = gen.arena_size
            row["decl"] = declared_arena(gen.files["m.c"])
            scr = [size for name, _, size, *_ in gen.meta["plan"]
                   if str(name).startswith("scratch:")]
            row["scratch"] = max(scr, default=0)
            row["inplace"] = len(gen.meta["inplace"])
        row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="*")
    ap.add_argument("--cores", default="m4,m55,m0")
    ap.add_argument("--json", help="also write the rows to this file")
    a = ap.parse_args(argv)
    cores = a.cores.split(",")
    for c in cores:
        if c not in CORES:
            print(f"error: unknown core class {c!r} (choose from {', '.join(CORES)})",
                  file=sys.stderr)
            return 2
    rows = []
    diffs = 0
    print(f"{'model':58s} {'core':4s} {'plan':>9s} {'gen':>9s} {'decl':>9s} {'scratch':>8s} "
          f"{'inpl':>4s}")
    for p in model_paths(a.paths):
        for r in check(p, cores):
            rows.append(r)
            name = str(Path(r["model"]).relative_to(ROOT.parent)) \
                if Path(r["model"]).is_relative_to(ROOT.parent) else r["model"]
            if "error" in r:
                print(f"{name[-58:]:58s} {r['core']:4s} {r['error'][:80]}")
                continue
            if "decl" not in r:
                print(f"{name[-58:]:58s} {r['core']:4s} {r.get('plan', '?'):>9} "
                      f"{'-':>9s} {'-':>9s}  no C: {r.get('gen_error', '')[:60]}")
                continue
            bad = r.get("plan") != r["decl"]
            diffs += bad
            print(f"{name[-58:]:58s} {r['core']:4s} {r.get('plan', '?'):>9} {r['gen']:>9} "
                  f"{r['decl']:>9} {r['scratch']:>8} {r['inplace']:>4}"
                  + ("  DIFF" if bad else "") + (f"  {r['plan_error']}"
                                                if "plan_error" in r else ""), flush=True)
    generated = sum("decl" in r for r in rows)
    print(f"\n{generated} generated (model, core) pairs; plan != declared arena in {diffs}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
