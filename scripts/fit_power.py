"""Fit each target's active power to its published energy runs and print the figures.

    python scripts/fit_power.py [TARGET ...]

For every bundled target (or the ones named) whose ``[[published]]`` runs carry measured
power and voltage (``scripts/mlperf_tiny_runs.py`` writes them), print the fit of
:mod:`picojoule.estimate.power` (one per supply path the runs used) as the
``[[power.active]]`` and ``[[power.platform]]`` entries the target file should carry, and
whether the file already does.
``tests/estimate/test_power_fit.py`` fails when a target file disagrees with this fit.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from picojoule.estimate.power import fits, run_regulator, usable_runs  # noqa: E402
from picojoule.targets import REFERENCE_PLATFORM, list_targets, load_target  # noqa: E402


def _fmt(x: float) -> str:
    return f"{x:.3g}" if x < 100 else f"{x:.4g}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("targets", nargs="*", help="target names (default: all bundled)")
    args = ap.parse_args()
    for name in args.targets or list_targets():
        t = load_target(name)
        runs = usable_runs(t.published)
        if not runs:
            continue
        default = t.power.regulator or "ldo"
        for regulator, f in fits(t).items():
            mine = [r for r in runs if run_regulator(r, t) == regulator]
            n_ref = sum(p == REFERENCE_PLATFORM for p, _ in f.systems.values())
            print(f"# {name}: {len(mine)} runs, {len(f.systems)} systems, regulator "
                  f"{f.regulator}{'' if regulator == default else ' (not the default)'}")
            for s, (p, v) in sorted(f.systems.items()):
                print(f"#   {p:11} {_fmt(v):>6} {f.unit}  {s}")
            clock = max(r.mhz or t.core.max_mhz for r in mine)
            key = "current" if f.regulator == "ldo" else "power"
            print("[[power.active]]")
            print(f"mhz = {clock:g}")
            print(f'{key} = "{_fmt(f.reference)} {f.unit}"')
            if regulator != default:
                print(f'regulator = "{regulator}"')
            print(f"# median over the {n_ref} {REFERENCE_PLATFORM} systems of each system's "
                  f"median {'power / voltage' if key == 'current' else 'power'}")
            if regulator == default:
                for p, factor in sorted(f.factors.items()):
                    if p != REFERENCE_PLATFORM:
                        print(f'[[power.platform]]\nname = "{p}"\nfactor = {factor:.3f}')
            active = [a for a in t.power.active if abs(a.mhz - clock) < 1e-9
                      and t.point_regulator(a) == regulator]
            if active and not active[0].fitted:
                a = active[0]
                print(f"# file: {_fmt(a.mw_per_mhz * a.mhz)} mW at {a.voltage_v:g} V, a published "
                      "figure (not fitted): the runs check it, held out")
            elif active:
                a = active[0]
                now = a.mw_per_mhz * a.mhz / (a.voltage_v if key == "current" else 1.0)
                print(f"# file: {_fmt(now)} {f.unit}"
                      f"{'' if _fmt(now) == _fmt(f.reference) else '  <-- differs: update it'}")
            else:
                print("# file: no such point  <-- add it")
            print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
