"""Latency, energy and battery life of a model on a target, and sweeps over many of them.

    from picojoule.estimate import estimate, sweep
    r = estimate("kws.tflite", "stm32l4r5", mhz=120, rate_hz=1, battery="CR2032")
    r["latency_ms"], r["energy_uj"], r["avg_power_uw"], r["battery_life_days"], r["ops"]

Latency: picojoule's own generated kernels, instructions predicted by cost models fitted on
emulated cores (``scripts/fit_latency.py``, constants in the target files' ``[latency]``
tables), times the core class's cycles per instruction, plus flash wait states on streamed
weights (:mod:`picojoule.estimate.latency`). Energy: the target's published active power at
the chosen clock times the latency, plus sleep power between inferences at a rate
(:mod:`picojoule.estimate.energy`). Where a target has no fitted model or no published power,
the estimate falls back to op count x 5 pJ per 8-bit op and says so in ``method`` and
``warnings``. Every constant used is listed with its source in ``sources``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from picojoule.estimate.energy import (
    BATTERIES,
    Battery,
    battery_life_days,
    duty_cycle,
    parse_battery,
    parse_rate,
)
from picojoule.estimate.features import FLOAT_KERNELS
from picojoule.estimate.latency import LatencyModel, load_latency, node_costs
from picojoule.ir import Model
from picojoule.ops.registry import ALIAS, REGISTRY, has_trait, node_macs
from picojoule.targets import REGULATORS, Target, TargetError, load_target

__all__ = ["estimate", "check_options", "sweep", "BATTERIES", "Battery", "parse_battery",
           "parse_rate", "op_count", "METHOD_FITTED", "METHOD_PARTLY", "METHOD_FALLBACK",
           "METHOD_NO_KERNEL", "PJ_PER_OP"]

METHOD_FITTED = "fitted kernel model"
METHOD_PARTLY = ("fitted kernel model, partly rough: some kernels are outside the fit (see "
                 "warnings)")
METHOD_FALLBACK = "fallback: op count x pJ/op (5 pJ per 8-bit op, first estimate)"
METHOD_NO_KERNEL = ("partly rough: picojoule has no C kernel for some nodes yet (see warnings); "
                    "the other nodes use the fitted kernel model")
#: Above this share of the estimated cycles on the rough figure (kernels outside the fit),
#: ``method`` says "partly rough" (a few unfitted copies in a large network stay below it).
ROUGH_SHARE = 0.01
#: Energy per 8-bit operation for the fallback (a MAC is 2 ops).
PJ_PER_OP = 5.0
PJ_PER_OP_SOURCE = ("estimate: 5 pJ per 8-bit op, a first estimate for a microcontroller "
                    "core running int8 kernels (issue 6); not a measurement of this chip")
#: Fallback latency when a target has no [latency] table at all: cycles per op.
FALLBACK_CYCLES_PER_OP = 1.0
FALLBACK_CYCLES_SOURCE = ("estimate: 1 cycle per 8-bit op (2 per MAC); picojoule's fitted "
                          "Cortex-M4 kernels need ~0.7-1 instruction per MAC plus overheads")


def _load_model(model: Model | str | Path) -> Model:
    if isinstance(model, Model):
        return model
    from picojoule.importers import load_model

    return load_model(str(model))


def _target(target: Target | str | Path) -> Target:
    return target if isinstance(target, Target) else load_target(target)


def op_count(model: Model) -> int:
    """8-bit operations: 2 per MAC plus 1 per output element of ops without MACs."""
    total = 0
    for n in model.main.nodes:
        macs = node_macs(n)
        if macs:
            total += 2 * macs
        elif not has_trait(n, ALIAS):
            total += sum(v.size for v in n.outputs)
    return total


def _partly_rough(costs) -> bool:
    """Whether ``method`` says "partly rough": a MAC-bearing kernel is outside the fit, or
    kernels outside the fit take more than :data:`ROUGH_SHARE` of the estimated cycles."""
    if any(not c.modelled and c.macs for c in costs):
        return True
    total = sum(c.cycles for c in costs)
    rough = sum(c.cycles for c in costs if not c.modelled)
    return total > 0 and rough / total > ROUGH_SHARE


def _model_name(model: Model) -> str:
    return Path(model.source).stem if model.source else "model"


def check_options(t: Target, mhz: float | None = None, volts: float | None = None,
                  platform: str | None = None, regulator: str | None = None):
    """``(mhz, platform factor, volts)`` for an estimate on ``t``, or a :class:`TargetError`
    naming the option the target cannot take (a clock above its maximum, a voltage out of
    range, a platform or supply path it has no figure for), before any work is done."""
    mhz = t.core.max_mhz if mhz is None else t.check_mhz(float(mhz))
    pf = t.platform_factor(platform)
    volts = None if volts is None else t.check_volts(float(volts))
    if regulator is not None:
        if regulator not in REGULATORS:
            raise TargetError(f"unknown regulator {regulator!r} (one of: "
                              f"{', '.join(REGULATORS)})")
        if t.power.active:
            t.active_point(mhz, regulator)  # no figure for that path
    return mhz, pf, volts


def estimate(model: Model | str | Path, target: Target | str | Path, mhz: float | None = None,
             rate_hz: float | str | None = None, battery: str | Battery | None = None,
             sleep_mode: str | None = None, volts: float | None = None,
             platform: str | None = None, regulator: str | None = None) -> dict[str, Any]:
    """Latency, energy, average power and battery life of one inference (see module doc).

    ``mhz``: core clock (default: the target's maximum); ``rate_hz``: inferences per second
    (number or "1/s", "10/min"; default: back to back); ``battery``: "CR2032", "AA" or an
    energy ("500J"); ``sleep_mode``: the target's sleep mode between inferences (default:
    the file's default mode); ``volts``: supply voltage (default: the voltage of the
    target's power figure); ``platform``: the software platform the model runs under
    (default ``bare-metal``, as picojoule's generated C does; e.g. ``zephyr`` where the
    target has a measured factor for it); ``regulator``: the supply path, ``ldo`` or
    ``smps``, where the target has figures for both (default: the target's; e.g. ``smps``
    for an STM32L4R5xxP part run from its external SMPS).
    """
    m = _load_model(model)
    t = _target(target)
    mhz, pf, volts = check_options(t, mhz, volts, platform, regulator)
    rate = parse_rate(rate_hz)
    bat = parse_battery(battery)
    sources: dict[str, str] = {}
    warnings: list[str] = []
    ops_total = op_count(m)
    macs_total = sum(node_macs(n) for n in m.main.nodes)

    # ---- latency
    lm: LatencyModel | None = load_latency(t)
    per_op: list[dict[str, Any]] = []
    if lm is not None:
        costs = node_costs(m, lm, t, mhz)
        cycles = sum(c.cycles for c in costs)
        instructions = sum(c.instructions for c in costs)
        stall = sum(c.flash_stall_cycles for c in costs)
        latency_method = (f"fitted kernel model: instructions of picojoule's kernels "
                          f"({lm.instruction_model}, measured on an emulated core) x CPI "
                          f"{lm.cpi:g} ({lm.core_class}) + flash wait states")
        sources["kernel_model"] = lm.sources.get("kernels", "")
        sources["cpi"] = lm.sources.get("cpi", "")
        if lm.instruction_model != lm.core_class:
            warnings.append(f"no emulated measurements of {lm.core_class}: instructions come "
                            f"from the {lm.instruction_model} fit ({lm.sources.get('instruction_model', 'estimate')})")
        ws = lm.wait_states(t, mhz)
        if t.flash.wait_states is not None:
            sources["flash_wait_states"] = (f"{ws} at {mhz:g} MHz, scaled from "
                                            f"{t.flash.wait_states} at {t.core.max_mhz:g} MHz: "
                                            + t.flash.sources.get("wait_states", t.flash.source))
        if lm.flash_line_bytes and ws:
            sources["flash_line_bytes"] = lm.sources.get("flash_line_bytes", "")
        by_op = sorted({f"{c.kernel} ({c.op})" for c in costs if c.how == "op"})
        if by_op:
            warnings.append(f"kernel(s) {', '.join(by_op)} not in the fit: estimated with "
                            "the op's model fitted over its other kernels")
        no_c = [c for c in costs if c.how == "no C kernel"]
        if no_c:
            what = sorted({c.op for c in no_c})
            warnings.append(f"no C kernel for {len(no_c)} node(s) ({', '.join(what)}; first: "
                            f"node {no_c[0].index} {no_c[0].name!r}): picojoule cannot "
                            f"generate this model yet, and those nodes are priced with a rough "
                            f"4 instructions per MAC + 30 per output, not a fitted kernel")
        user = sorted({c.op for c in costs if c.how == "op file"})
        if user:
            from picojoule.docs import builtin

            theirs = [op for op in user if not builtin(op)]
            if theirs:
                origins = sorted({REGISTRY[op].origin for op in theirs})
                warnings.append(f"{', '.join(theirs)}: cost from the op's own file "
                                f"({', '.join(origins)}), not measured by picojoule")
            ours = [op for op in user if builtin(op)]
            if ours:
                sources["op_cost_functions"] = (
                    f"{', '.join(ours)}: the op's cost function (instructions fitted to "
                    f"emulated Cortex-M4 counts; see its module)")
        unknown = sorted({f"{c.kernel} ({c.op})" if c.kernel else c.op
                          for c in costs if not c.modelled and c.how != "no C kernel"})
        if unknown:
            warnings.append(f"no fitted kernel model for {', '.join(unknown)}: estimated as "
                            "4 instructions per MAC + 30 per output (rough; picojoule's "
                            "latency fit covers its int8, int16x8 and float32 kernels)")
        fpu = sorted({c.kernel for c in costs
                      if c.modelled and (c.kernel in FLOAT_KERNELS or c.kernel == "pj_lstm_f32")})
        if fpu:
            warnings.append(f"float kernel(s) {', '.join(fpu)}: their instruction counts are "
                            f"fitted, but CPI {lm.cpi:g} is the figure for integer loops; "
                            "floating-point loads and multiply-adds take several cycles "
                            "(3 for a multiply-add on a Cortex-M4 FPU), so this time may be "
                            "low")
        for c in costs:  # the last row may be the invoke function's copies (index None)
            per_op.append({"index": None if c.op == "COPY_IO" else c.index, "name": c.name,
                           "op": c.op, "kernel": c.kernel,
                           "macs": c.macs, "instructions": round(c.instructions),
                           "cycles": round(c.cycles),
                           "latency_ms": c.cycles / (mhz * 1e3)})
    else:
        cycles = ops_total * FALLBACK_CYCLES_PER_OP
        instructions = None
        stall = 0.0
        latency_method = "fallback: 1 cycle per 8-bit op (no fitted kernel model)"
        sources["cycles_per_op"] = FALLBACK_CYCLES_SOURCE
        warnings.append(f"target {t.name} has no fitted latency model: latency is op count x "
                        "1 cycle per op (a first estimate)")
        for k, n in enumerate(m.main.nodes):
            ops = 2 * node_macs(n) or (0 if has_trait(n, ALIAS) else
                                       sum(v.size for v in n.outputs))
            per_op.append({"index": k, "name": n.name, "op": n.op, "kernel": None,
                           "macs": node_macs(n), "instructions": None,
                           "cycles": round(ops * FALLBACK_CYCLES_PER_OP),
                           "latency_ms": ops * FALLBACK_CYCLES_PER_OP / (mhz * 1e3)})
    latency_s = max(cycles, 1.0) / (mhz * 1e6)
    for row in per_op:
        row["share"] = row["latency_ms"] / (latency_s * 1e3)

    # ---- power
    try:
        active_mw = t.active_power_mw(mhz, volts, pf.name, regulator)
        point = t.active_point(mhz, regulator)
        path = t.point_regulator(point)
        sources["active_power"] = (f"{point.figure} at {point.voltage_v or '?'} V "
                                   f"(figure for <= {point.mhz:g} MHz, scaled linearly to "
                                   f"{mhz:g} MHz): {point.source}")
        if regulator is not None:
            sources["regulator"] = (f"{path}: {point.conditions or point.source}")
        if volts is not None and point.voltage_v and volts != point.voltage_v:
            rule = ("SMPS: input power kept" if path == "smps" else
                    "LDO: current kept, power x V ratio" if path == "ldo" else
                    "regulator unknown: treated as LDO, current kept, power x V ratio")
            sources["supply_voltage"] = (f"{volts:g} V instead of the figure's "
                                         f"{point.voltage_v:g} V ({rule}): "
                                         f"{t.power.regulator_source or 'estimate'}")
        if pf.name != "bare-metal":
            sources["platform"] = f"{pf.name}: power x {pf.factor:g}: {pf.source}"
        energy_method = "published active power x latency"
        volts = volts if volts is not None else point.voltage_v
    except TargetError as exc:
        active_mw = None
        volts = None
        path = regulator or t.power.regulator
        energy_method = METHOD_FALLBACK
        sources["pj_per_op"] = PJ_PER_OP_SOURCE
        warnings.append(f"no published active power ({exc}); energy is op count x "
                        f"{PJ_PER_OP:g} pJ per 8-bit op")
    if active_mw is None:
        active_mw = ops_total * PJ_PER_OP * 1e-9 / latency_s  # mJ / s = mW
    try:
        sm = t.sleep_mode(sleep_mode)
        sleep_mw = sm.power_mw * t.voltage_scale(sm.voltage_v, volts, path)
        sources["sleep_power"] = f"{sm.name}: {sm.figure} ({sm.retention}): {sm.source}"
        if rate is not None and sm.retention.lower().startswith("none"):
            warnings.append(f"sleep mode {sm.name!r} keeps no SRAM: the model's state and "
                            "arena are lost between inferences (fine for stateless models; "
                            "the reload/boot cost is not counted)")
    except TargetError as exc:
        sleep_mw = 0.0
        if rate is not None:
            warnings.append(f"no published sleep power ({exc}); counted as 0 between "
                            "inferences")

    if t.npu is not None:
        warnings.append(f"{t.name} has an {t.npu.name} NPU: these figures are for "
                        f"picojoule's CPU kernels on the {t.core.name}; picojoule does not "
                        "model the NPU path (Vela's estimate covers it)")
    dc = duty_cycle(active_mw, sleep_mw, latency_s, rate)
    if dc.saturated:
        warnings.append(f"rate {rate:g}/s needs {rate * latency_s * 1e3:.0f} ms of compute per "
                        f"second; the model runs at most {1 / latency_s:.2f}/s at {mhz:g} MHz "
                        "(figures are for back-to-back inference)")

    method = METHOD_FITTED if (lm is not None and energy_method != METHOD_FALLBACK) \
        else METHOD_FALLBACK
    if method == METHOD_FITTED and _partly_rough(costs):
        method = METHOD_PARTLY
    if lm is not None and any(c.how == "no C kernel" for c in costs):
        method = METHOD_NO_KERNEL
    result: dict[str, Any] = {
        "model": _model_name(m),
        "target": t.name,
        "core": t.core.name,
        "mhz": mhz,
        "volts": volts,
        "platform": pf.name,
        "regulator": path or None,
        "method": method,
        "method_detail": {"latency": latency_method, "energy": energy_method},
        "macs": macs_total,
        "ops": per_op,
        "op_count": ops_total,
        "instructions": None if instructions is None else round(instructions),
        "cycles": round(cycles),
        "flash_stall_cycles": round(stall),
        "latency_ms": latency_s * 1e3,
        "inferences_per_s_max": 1.0 / latency_s,
        "active_power_mw": active_mw,
        "active_energy_uj": dc.active_energy_uj,
        "sleep_power_uw": sleep_mw * 1e3,
        "sleep_energy_uj": dc.sleep_energy_uj,
        "energy_uj": dc.energy_uj,
        "rate_hz": dc.rate_hz,
        "duty_cycle": dc.duty,
        "avg_power_uw": dc.avg_power_uw,
        "battery": None,
        "battery_life_days": None,
        "peak_current_ma": (active_mw / volts) if volts else None,
        "sources": sources,
        "warnings": warnings,
    }
    if bat is not None:
        result["battery"] = {"name": bat.name, "joules": bat.joules,
                             "voltage_v": bat.voltage_v,
                             "max_continuous_ma": bat.max_continuous_ma}
        sources["battery"] = bat.source
        result["battery_life_days"] = battery_life_days(bat, dc.avg_power_uw)
        if bat.max_continuous_ma is not None:
            # Current drawn from the cell while active (ideal regulator: P / V_battery).
            batt_ma = active_mw / bat.voltage_v if bat.voltage_v else None
            if batt_ma is not None and batt_ma > bat.max_continuous_ma:
                warnings.append(f"peak current {batt_ma:.1f} mA while inferring exceeds the "
                                f"{bat.name}'s ~{bat.max_continuous_ma:g} mA continuous "
                                "rating: add a buffer capacitor or expect lower capacity")
    return result


def sweep(*args: Any, **kwargs: Any):
    """See :func:`picojoule.estimate.sweep.sweep`."""
    from picojoule.estimate.sweep import sweep as _sweep

    return _sweep(*args, **kwargs)


def format_estimate(r: dict[str, Any], top: int = 10) -> str:
    """Human-readable report of an :func:`estimate` result (for ``picojoule estimate``)."""
    lines = [f"{r['model']} on {r['target']} ({r['core']} at {r['mhz']:g} MHz"
             + (f", {r['volts']:g} V" if r.get("volts") else "")
             + (f" {r['regulator'].upper()}" if r.get("volts") and r.get("regulator") else "")
             + (f", {r['platform']}" if r.get("platform") not in (None, "bare-metal") else "")
             + ")",
             f"  method:        {r['method']}",
             f"  latency:       {r['latency_ms']:.3f} ms  ({r['cycles']:,} cycles"
             + (f", {r['instructions']:,} instructions" if r["instructions"] else "")
             + (f", {r['flash_stall_cycles']:,} flash stall" if r["flash_stall_cycles"] else "")
             + f"; max {r['inferences_per_s_max']:.2f} inferences/s)",
             f"  energy:        {r['energy_uj']:.2f} uJ per inference (active "
             f"{r['active_energy_uj']:.2f} uJ at {r['active_power_mw']:.3f} mW"
             + (f", sleep {r['sleep_energy_uj']:.2f} uJ" if r["sleep_energy_uj"] else "") + ")",
             f"  average power: {r['avg_power_uw']:.2f} uW at {r['rate_hz']:.4g} inferences/s "
             f"(duty cycle {100 * r['duty_cycle']:.3g}%)"]
    if r["battery"]:
        lines.append(f"  battery life:  {r['battery_life_days']:.1f} days on "
                     f"{r['battery']['name']} ({r['battery']['joules']:,.0f} J)")
    ops = sorted(r["ops"], key=lambda o: -o["latency_ms"])[:top]
    if ops:
        nodes = sum(o["index"] is not None for o in r["ops"])
        io = ", and the input/output copies" if nodes < len(r["ops"]) else ""
        lines.append(f"  slowest ops (of {nodes}{io}):")
        for o in ops:
            idx = "-" if o["index"] is None else o["index"]
            lines.append(f"    {idx:>3} {o['op']:<20} {o['latency_ms']:>9.3f} ms "
                         f"{100 * o['share']:>5.1f}%  {o['kernel'] or ''}")
    for w in r["warnings"]:
        lines.append(f"  warning: {w}")
    lines.append("  sources (--json for all): " + ", ".join(sorted(r["sources"])))
    return "\n".join(lines)
