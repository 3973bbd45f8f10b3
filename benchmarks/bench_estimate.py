"""Latency/energy model bars (issue 6), printed in one run.

1. Latency model vs measurement: per emulated core (Cortex-M4 mps2-an386, Cortex-M7
   mps2-an500, Cortex-M55 mps3-an547 when the QEMU backend has it), fit the kernel cost
   models on single-op banks (int8, int16x8, float32, hybrid, LSTM) + int8 KWS + AD only,
   then predict the instructions of the validation list (picojoule.estimate.validation:
   int8 VWW, IC, person_detect, micro_speech, the demo; the four float32 MLPerf Tiny models
   and hello_world_float; TFLM's three LSTM models; int16x8 versions of the four made by
   picojoule's quantizer from the float32 ones with 8 seeded N(0, 1) calibration inputs;
   no bank row has the signature of one of their layers, tests/estimate/
   test_fit_validation.py) and compare with the measured count of one inference of the
   unprofiled firmware. Bar: every ratio within 1 +- 0.10.
1b. Third-party models (no bar): TFLM's 127 SEANet integration-test models and its other
   example models through ``estimate`` (the STM32L4R5 file's fit) against the emulated
   Cortex-M4's count.
2. Power model vs published energy: for every [[published]] MLPerf Tiny energy run in the
   catalogue (scripts/mlperf_tiny_runs.py, rounds v0.5-v1.3), the power model is refitted
   without the run's system (picojoule.estimate.power.leave_one_system_out; a datasheet
   figure, never fitted, is used as it is) and its power at the run's clock, supply
   voltage, supply path (LDO/SMPS) and software platform, times the published latency, is
   compared with the published energy. Bar: the median ratio within +-10% and at least 90%
   of the held-out runs within +-20% (the published runs themselves differ by up to 36%
   across builds at the same clock and settings). Runs no other system can predict
   (the only system on a supply path) are shown with the file's own fit and not counted.
2b. Clock scaling (no bar): the modelled power below the top clock against the bounds that
   MLPerf Tiny v1.3's reduced-clock streaming runs give.
3. End to end: picojoule's estimate for its own generated code on the STM32L4R5 at 120 MHz
   beside the published X-CUBE-AI, TFLM and microTVM figures, with the ratios (no bar);
   3b: the same on the H7A3, U575 and U385 against the newest X-CUBE-AI run;
   3c: the float32 and int16x8 MLPerf Tiny models through ``estimate`` (the target file's
   fit) against the emulated Cortex-M4's count.

Exits non-zero when bar 1 or 2 is missed.

    python benchmarks/bench_estimate.py [--classes cortex-m4,cortex-m7]
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "models"

from picojoule.estimate.validation import TRAIN_FILES  # noqa: E402
from picojoule.estimate.validation import VALIDATION_FILES as HELD_OUT  # noqa: E402
from picojoule.estimate.validation import VALIDATION_INT16 as HELD_OUT_INT16  # noqa: E402
from picojoule.estimate.validation import validation_models as held_out_models  # noqa: E402

MLPERF = {"KWS": "kws_dscnn_int8", "VWW": "vww_mobilenetv1_96_int8",
          "IC": "ic_resnet8_int8", "AD": "ad_toycar_fcae_int8"}
LATENCY_TOL, ENERGY_TOL = 0.10, 0.20
#: Bar 2 (energy), fixed before the runs are compared: published runs of one build and clock
#: differ by up to 36% among themselves, so the bar is the median held-out ratio within
#: +-10% and at least 90% of held-out runs within +-20% (ENERGY_TOL), pooled with the fit's
#: own statistic (picojoule.estimate.power.FIT_STATISTIC).
POWER_MEDIAN_TOL, POWER_SHARE = 0.10, 0.90
#: The published L4R5 systems shown beside picojoule's own estimate (section 3).
E2E_SYSTEMS = ("v1.2, STMicroelectronics", "v0.5, reference", "microtvm_cmsis_nn")


def bar_latency(classes: list[str], held_out: dict) -> tuple[int, int]:
    from picojoule.estimate import fit as F
    from picojoule.importers.tflite import load

    ok = n = 0
    print("== 1. latency model vs emulated instructions (fit: int8/int16x8/float32/hybrid/LSTM "
          "banks + int8 KWS + AD; below: the validation list of picojoule.estimate.validation, "
          "no layer of which is a bank row)")
    print(f"{'core':11} {'model':14} {'measured':>11} {'predicted':>11} {'ratio':>6}")
    for cls in classes:
        t0 = time.time()
        samples = []
        for name, m in F.all_banks().items():
            samples += F.measure(m, cls, name)[0]
        for name, path in TRAIN_FILES.items():
            samples += F.measure(load(path), cls, name)[0]
        samples += F.io_samples(cls)
        coefs = F.fit(samples)
        for name, m in held_out.items():
            meas = F.measure_total(m, cls)
            pred = F.predict_model(coefs, m, cls)
            r = pred / meas
            good = abs(r - 1) <= LATENCY_TOL
            ok += good
            n += 1
            print(f"{cls:11} {name:14} {meas:>11,} {pred:>11,.0f} {r:>6.3f}"
                  f"{'' if good else '  <-- outside +-10%'}")
        print(f"{'':11} ({len(samples)} training nodes, {time.time() - t0:.0f} s)")
    return ok, n


def bar_power() -> tuple[int, int, int, int, list[float]]:
    """(held-out ok, held-out n, ok with the target files' own figures, n of all runs, the
    held-out ratios)."""
    from picojoule.estimate.power import leave_one_system_out, run_regulator, usable_runs
    from picojoule.targets import list_targets, load_target

    ok = n = file_ok = file_n = 0
    ratios: list[float] = []
    print("\n== 2. power model vs published energy: energy = modelled power at the run's "
          "clock, voltage, supply path\n   and platform x published latency. 'held out' "
          "refits the power without the run's system (or, where\n   the target's figure is a "
          "datasheet one, uses it as it is: it never saw a run)")
    print(f"{'target':9} {'system':58} {'model':6} {'V':>4} {'supply':6} {'platform':10} "
          f"{'ms':>7} {'uJ pub':>7} {'uJ model':>8} {'held':>6} {'file':>6}")
    for name in list_targets():
        t = load_target(name)
        runs = usable_runs(t.published)
        if not runs:
            continue
        preds = {id(p.run): p for p in leave_one_system_out(t)}
        bases = set()
        for r in runs:
            path = run_regulator(r, t)
            file_ratio = (t.active_power_mw(r.mhz, r.voltage_v, r.platform, path)
                          * r.latency_ms / r.energy_uj)
            file_ok += abs(file_ratio - 1) <= ENERGY_TOL
            file_n += 1
            p = preds.get(id(r))
            flag = ""
            if p is None:
                held = "  -"
                flag = "  (no other system on this supply path/platform: not held out)"
            else:
                good = abs(p.ratio - 1) <= ENERGY_TOL
                ok += good
                n += 1
                ratios.append(p.ratio)
                bases.add(p.basis)
                held = f"{p.ratio:>6.3f}"
                flag = "" if good else "  <-- outside +-20%"
            if r.energy_latency_ms and abs(r.energy_latency_ms / r.latency_ms - 1) > 0.02:
                flag += (f"  (energy run {r.energy_latency_ms:.1f} ms: not the performance "
                         "run's latency)")
            model_uj = f"{p.energy_uj:>8.0f}" if p else f"{'-':>8}"
            print(f"{name:9} {r.system[12:70]:58} {r.model[:6]:6} {r.voltage_v:>4.2g} "
                  f"{path:6} {r.platform or '':10} {r.latency_ms:>7.2f} {r.energy_uj:>7.0f} "
                  f"{model_uj} {held:>6} {file_ratio:>6.3f}{flag}")
        mine = list(preds.values())
        if mine:
            lo = min(p.ratio for p in mine)
            hi = max(p.ratio for p in mine)
            print(f"{name:9} {len(mine)} of {len(runs)} runs predicted held out "
                  f"({len({p.run.system for p in mine})} systems, {'; '.join(sorted(bases))}): "
                  f"ratios {lo:.3f}-{hi:.3f}")
    return ok, n, file_ok, file_n, ratios


def statistic_sensitivity() -> None:
    """Bar 2's held-out count under other ways of pooling a platform's runs (information:
    the bar uses the fit's own statistic, the one the target files carry)."""
    from picojoule.estimate.power import FIT_STATISTIC, STATISTICS, leave_one_system_out
    from picojoule.targets import list_targets, load_target

    print("\n== 2a. how much bar 2 depends on the statistic that pools the runs (no bar: "
          "the bar and the target files\n    use the first; runs held out as in 2, within "
          "+-20% / predicted, per chip)")
    names = [n for n in list_targets() if leave_one_system_out(load_target(n))]
    print(f"{'statistic':34} " + " ".join(f"{n:>10}" for n in names) + f" {'all':>7}")
    for stat in STATISTICS:
        cells, ok, n, out = [], 0, 0, []
        for name in names:
            preds = leave_one_system_out(load_target(name), stat)
            good = sum(abs(p.ratio - 1) <= ENERGY_TOL for p in preds)
            cells.append(f"{good}/{len(preds)}")
            ok, n = ok + good, n + len(preds)
            out += [f"{name[5:]} {p.run.system.split(', ')[1][:5]} "
                    f"{p.run.system.split(', ')[-1].split(' (')[0][-6:]} "
                    f"{p.run.model.split('_')[0]} {p.ratio:.3f}"
                    for p in preds if abs(p.ratio - 1) > ENERGY_TOL]
        mark = " (fit)" if stat == FIT_STATISTIC else ""
        print(f"{stat + mark:34} " + " ".join(f"{c:>10}" for c in cells) + f" {f'{ok}/{n}':>7}")
        print(textwrap.fill("outside: " + ("; ".join(out) or "none"), 100,
                            initial_indent="    ", subsequent_indent="      "))


#: MLPerf Tiny v1.3 streaming wake-word energy runs at reduced clocks: average power of a
#: real-time stream (one 32 ms window per period) and the fraction of the time the core was
#: busy. They are not per-inference energy runs, so they are not [[published]] entries; they
#: are the only public measurements below a chip's top clock, and bound its active power
#: there: P_avg <= P_active <= P_avg / duty (idle power between 0 and the active power).
#: (target, mhz, volts, regulator, P_avg mW, duty, source)
REDUCED_CLOCK = [
    ("stm32l4r5", 70, 3.0, "smps", 22.7190, 0.95857,
     "closed/STMicroelectronics/results/NUCLEO_L4R5ZI-P_70MHz/sww/energy/results.txt"),
    ("stm32h7a3", 40, 3.0, "smps", 16.1655, 0.92807,
     "closed/STMicroelectronics/results/NUCLEO_H7A3ZI_Q_40MHz/sww/energy/results.txt"),
    ("stm32u575", 60, 1.8, "smps", 9.5213, 0.96974,
     "closed/STMicroelectronics/results/NUCLEO_U575ZI_Q_60MHz/sww/energy/results.txt"),
]


def clock_scaling() -> None:
    from picojoule.targets import load_target

    print("\n== 2b. clock scaling (no bar): the active power the model gives below the top "
          "clock (the fitted figure scaled\n    linearly) against the bounds from MLPerf "
          "Tiny v1.3 streaming runs at that clock (mlcommons/tiny_results_v1.3)")
    print(f"{'target':9} {'MHz':>4} {'supply':6} {'model mW':>8} {'measured bounds mW':>19} "
          f"{'ratio range':>12}  source")
    for name, mhz, volts, reg, avg, duty, src in REDUCED_CLOCK:
        t = load_target(name)
        model = t.active_power_mw(mhz, volts, None, reg)
        lo, hi = avg, avg / duty
        print(f"{name:9} {mhz:>4} {reg:6} {model:>8.2f} {lo:>9.2f} - {hi:<7.2f} "
              f"{model / hi:>5.3f}-{model / lo:<5.3f}  {src}")


def end_to_end() -> None:
    from picojoule.estimate import estimate
    from picojoule.targets import load_target

    t = load_target("stm32l4r5")
    print("\n== 3. end to end on STM32L4R5 at 120 MHz: picojoule's estimate for its own "
          "generated code vs published runs (ratio = picojoule / published)")
    print(f"{'model':5} {'pj ms':>7} {'pj uJ':>7} | {'system':40} {'ms':>7} {'uJ':>7} "
          f"{'ms ratio':>8} {'uJ ratio':>8}")
    for key, stem in MLPERF.items():
        r = estimate(SHARED / "mlperf_tiny" / f"{stem}.tflite", t, mhz=120)
        first = True
        for run in t.published:
            if run.model != stem or not any(k in run.system for k in E2E_SYSTEMS):
                continue
            head = (f"{key:5} {r['latency_ms']:>7.1f} {r['energy_uj']:>7.0f}" if first
                    else " " * 21)
            first = False
            print(f"{head} | {run.system[:40]:40} {run.latency_ms:>7.1f} {run.energy_uj:>7.0f} "
                  f"{r['latency_ms'] / run.latency_ms:>8.2f} "
                  f"{r['energy_uj'] / run.energy_uj:>8.2f}")
    print(f"(method: {r['method']}; CPI and flash terms: see 'sources' in "
          "`picojoule estimate --json`)")


def other_chips() -> None:
    from picojoule.estimate import estimate
    from picojoule.estimate.power import run_regulator
    from picojoule.targets import load_target

    print("\n== 3b. the other chips with published runs, at each run's clock, voltage and "
          "supply: picojoule's estimate\n    for its own code vs the newest published "
          "bare-metal system (ratio = picojoule / published)")
    print(f"{'target':9} {'model':5} {'pj ms':>7} {'pj uJ':>7} | {'system':44} {'ms':>7} "
          f"{'uJ':>7} {'ms ratio':>8} {'uJ ratio':>8}")
    for name in ("stm32h7a3", "stm32u575", "stm32u385"):
        t = load_target(name)
        for key, stem in MLPERF.items():
            runs = [r for r in t.published if r.model == stem and r.platform == "bare-metal"]
            if not runs:
                continue
            run = runs[-1]  # the files list runs oldest round first
            r = estimate(SHARED / "mlperf_tiny" / f"{stem}.tflite", t, mhz=run.mhz,
                         volts=run.voltage_v, regulator=run_regulator(run, t))
            print(f"{name:9} {key:5} {r['latency_ms']:>7.1f} {r['energy_uj']:>7.0f} | "
                  f"{run.system[12:56]:44} {run.latency_ms:>7.1f} {run.energy_uj:>7.0f} "
                  f"{r['latency_ms'] / run.latency_ms:>8.2f} "
                  f"{r['energy_uj'] / run.energy_uj:>8.2f}")


def outside_the_fit(classes: list[str], models: dict) -> None:
    """Float32 and int16x8 models through ``estimate`` with the target file's fit (no bar)."""
    from picojoule.estimate import estimate
    from picojoule.estimate import fit as F

    if "cortex-m4" not in classes:
        return
    print("\n== 3c. float32 and int16x8 MLPerf Tiny models (no bar): `estimate` on the "
          "STM32L4R5 (its file's Cortex-M4 fit,\n    which never saw them) vs the emulated "
          "Cortex-M4's instructions")
    print(f"{'model':28} {'measured':>11} {'estimated':>11} {'ratio':>6}  method")
    for name in HELD_OUT_INT16:
        for key in (name, name.replace("_f32", "_i16")):
            m = models[key]
            meas = F.measure_total(m, "cortex-m4")
            r = estimate(m, "stm32l4r5")
            label = (HELD_OUT[key].stem if key in HELD_OUT
                     else HELD_OUT[name].stem.replace("float32", "int16x8"))
            print(f"{label:28} {meas:>11,} {r['instructions']:>11,} "
                  f"{r['instructions'] / meas:>6.3f}  {r['method']}")


def single_op_corpus(classes: list[str]) -> None:
    """TFLM's 127 SEANet single-op test models (third-party shapes, never seen by the fit),
    then TFLM's other example models, through ``estimate`` on the STM32L4R5 against the
    emulated Cortex-M4's count (no bar)."""
    from picojoule.estimate import METHOD_FITTED, estimate
    from picojoule.estimate import fit as F
    from picojoule.importers.tflite import load

    paths = sorted((SHARED / "ops").glob("*.tflite"))
    if "cortex-m4" not in classes or not paths:
        return
    print("\n== 1b. third-party single-op models (no bar): TFLM's SEANet integration-test models "
          "(../shared/models/ops),\n    `estimate` on the STM32L4R5 (its file's Cortex-M4 fit, "
          "which never saw them) vs the emulated Cortex-M4's instructions")
    groups: dict[str, list[tuple[float, str]]] = {}
    for path in paths:
        m = load(path)
        meas = F.measure_total(m, "cortex-m4")
        r = estimate(m, "stm32l4r5")
        op = path.stem.rstrip("0123456789")
        groups.setdefault(op, []).append((r["instructions"] / meas, r["method"]))
    print(f"{'op':15} {'models':>6} {'within +-10%':>12} {'ratio range':>14}  method")
    within = total = 0
    for op, rows in sorted(groups.items()):
        ratios = [x for x, _ in rows]
        ok = sum(abs(x - 1) <= LATENCY_TOL for x in ratios)
        within += ok
        total += len(rows)
        fitted = all(meth == METHOD_FITTED for _, meth in rows)
        print(f"{op:15} {len(rows):>6} {ok:>12} {min(ratios):>6.3f}-{max(ratios):.3f}  "
              f"{'fitted' if fitted else 'partly rough (kernel outside the fit)'}")
    print(f"{'all':15} {total:>6} {within:>12}")
    others = [p for p in sorted((SHARED / "tflm").glob("*.tflite"))
              if p not in HELD_OUT.values() and "vela" not in p.stem]
    if not others:
        return
    print("\n    TFLM's other example models (the NPU command stream left out), same comparison:")
    print(f"{'model':36} {'measured':>11} {'estimated':>11} {'ratio':>6}  method")
    for path in others:
        m = load(path)
        meas = F.measure_total(m, "cortex-m4")
        r = estimate(m, "stm32l4r5")
        print(f"{path.stem:36} {meas:>11,} {r['instructions']:>11,} "
              f"{r['instructions'] / meas:>6.3f}  "
              f"{'fitted' if r['method'] == METHOD_FITTED else 'partly rough'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", help="emulated cores for bar 1 (default: all available; "
                    "'none' skips bar 1)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from picojoule.estimate import fit as F

    classes = args.classes.split(",") if args.classes else F.available_classes()
    if args.classes == "none":
        classes = []
    l_ok = l_n = 0
    held_out = held_out_models() if classes else {}
    if classes:
        l_ok, l_n = bar_latency(classes, held_out)
        single_op_corpus(classes)
    else:
        print("bar 1 skipped: " + ("--classes none" if args.classes == "none" else
                                   "the ARM toolchain or qemu-system-arm is missing"))
    p_ok, p_n, f_ok, f_n, p_ratios = bar_power()
    statistic_sensitivity()
    clock_scaling()
    end_to_end()
    other_chips()
    outside_the_fit(classes, held_out)
    import statistics

    median = statistics.median(p_ratios) if p_ratios else float("nan")
    p_pass = (abs(median - 1) <= POWER_MEDIAN_TOL
              and p_ok >= POWER_SHARE * p_n and p_n > 0)
    print(f"\nbar 1 (latency within +-10%): {l_ok}/{l_n}; bar 2 (held-out energy runs: "
          f"median ratio {median:.3f}, within +-10% required; {p_ok}/{p_n} = "
          f"{p_ok / max(p_n, 1):.0%} within +-20%, at least {POWER_SHARE:.0%} required; "
          f"with the target files' own fit: {f_ok}/{f_n})")
    ok = l_ok == l_n and p_pass
    print(f"bars {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
