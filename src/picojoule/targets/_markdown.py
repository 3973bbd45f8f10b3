"""``docs/targets.md``, generated from the bundled target files."""

from __future__ import annotations

from picojoule.targets import Target, TargetError, list_targets, load_target
from picojoule.targets._units import format_bytes

# -- documentation --------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ").strip()


def _fmt_mw(mw: float) -> str:
    if mw >= 1:
        return f"{mw:.3g} mW"
    if mw >= 1e-3:
        return f"{mw * 1e3:.3g} µW"
    return f"{mw * 1e6:.3g} nW"


def _summary_row(t: Target) -> str:
    try:
        active = f"{_fmt_mw(t.active_power_mw())} @ {t.core.max_mhz:g} MHz"
    except TargetError:
        active = "missing"
    try:
        sleep = f"{_fmt_mw(t.sleep_power_mw())} ({t.sleep_mode().name})"
    except TargetError:
        sleep = "missing"
    isa = [t.core.arch]
    if t.core.dsp:
        isa.append("DSP")
    if t.core.fpu != "none":
        isa.append(f"FPU-{t.core.fpu.upper()}")
    if t.core.mve != "none":
        isa.append(f"MVE-{t.core.mve}")
    if t.core.simd:
        isa.append(t.core.simd.split(" (")[0])
    flash = format_bytes(t.flash.size) if t.flash.size else "-"
    npu = f"{t.npu.name} ({t.npu.macs_per_cycle} MAC/cycle)" if t.npu else "-"
    return (
        f"| `{t.name}` | {_cell(t.display_name)} | {_cell(t.core.name)} | {_cell(', '.join(isa))} "
        f"| {t.core.max_mhz:g} | {format_bytes(t.total_ram_bytes(arena_only=True))} "
        f"| {flash} | {active} | {sleep} | {_cell(npu)} |"
    )


def _target_section(t: Target) -> list[str]:
    c = t.core
    lines = [f"## `{t.name}`: {t.display_name}", ""]
    if t.description:
        lines += [t.description, ""]
    lines += [
        f"- **Core**: {c.count} × {c.name} ({c.arch}); DSP: {'yes' if c.dsp else 'no'}; "
        f"FPU: {c.fpu}; MVE/Helium: {c.mve}" + (f"; SIMD: {c.simd}" if c.simd else "")
        + f". Max {c.max_mhz:g} MHz; points: {', '.join(f'{p:g}' for p in c.points_mhz)} MHz.",
        f"  Source: {c.source}" + "".join(
            f"; {k}: {v}" for k, v in c.sources.items() if v != c.source
        ),
    ]
    if c.notes:
        lines.append(f"  Note: {c.notes}")
    lines += [
        "",
        "| region | kind | base | size | speed | arena | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in t.memory:
        src = r.source + "".join(f"; {k}: {v}" for k, v in r.sources.items() if v != r.source)
        note = f" ({r.notes})" if r.notes else ""
        lines.append(
            f"| {r.name} | {r.kind} | `{r.base:#010x}` | {format_bytes(r.size)} | {r.speed} "
            f"| {'yes' if r.arena else 'no'} | {_cell(src + note)} |"
        )
    f = t.flash
    ws = f"{f.wait_states} wait states at max clock" if f.wait_states is not None else ""
    parts = [p for p in (f.kind, format_bytes(f.size) if f.size else "", ws, f.cache) if p]
    lines += ["", f"- **Flash**: {'; '.join(parts)}."]
    lines.append(f"  Source: {f.source}" + "".join(
        f"; {k}: {v}" for k, v in f.sources.items() if v != f.source
    ))
    if f.notes:
        lines.append(f"  Note: {f.notes}")
    lines += [
        "",
        "| power | figure | at | normalised | conditions / source |",
        "|---|---|---|---|---|",
    ]
    for p in sorted(t.power.active, key=lambda p: p.mhz):
        volts = f", {p.voltage_v:g} V" if p.voltage_v else ""
        path = f" ({p.regulator})" if p.regulator else ""
        lines.append(
            f"| active{path} | {_cell(p.figure)} | {p.mhz:g} MHz{volts} "
            f"| {p.mw_per_mhz * 1e3:.4g} µW/MHz "
            f"| {_cell(p.conditions + ' — ' + p.source if p.conditions else p.source)} |"
        )
    if not t.power.active:
        lines.append(f"| active | missing | | | {_cell(t.power.active_missing)} |")
    for s in t.power.sleep:
        volts = f"{s.voltage_v:g} V" if s.voltage_v else ""
        default = " (default)" if s.default else ""
        lines.append(
            f"| sleep: {_cell(s.name)}{default} | {_cell(s.figure)} | {volts} "
            f"| {_fmt_mw(s.power_mw)} "
            f"| retains {_cell(s.retention)} — {_cell(s.source)} |"
        )
    if not t.power.sleep:
        lines.append(f"| sleep | missing | | | {_cell(t.power.sleep_missing)} |")
    if t.power.regulator:
        rule = ("power scales with the supply voltage" if t.power.regulator == "ldo" else
                "power independent of the supply voltage")
        lines.append(f"| regulator | {t.power.regulator} | | {rule} "
                     f"| {_cell(t.power.regulator_source)} |")
    for pf in t.power.platforms:
        lines.append(f"| platform: {_cell(pf.name)} | × {pf.factor:g} | | | {_cell(pf.source)} |")
    if t.npu:
        n = t.npu
        power = _fmt_mw(n.power_mw) if n.power_mw is not None else "missing"
        lines += [
            "",
            f"- **NPU**: {n.name}, {n.macs_per_cycle} MACs/cycle at {n.clock_mhz:g} MHz "
            f"(peak {n.macs_per_cycle * n.clock_mhz / 1e3:g} GMAC/s); power: {power}.",
            f"  Source: {n.source}" + "".join(
                f"; {k}: {v}" for k, v in n.sources.items() if v != n.source
            ),
        ]
        if n.notes:
            lines.append(f"  Note: {n.notes}")
    if t.published:
        lines += ["", "Published runs on this chip (runs with measured power and voltage are "
                  "what `scripts/fit_power.py` fits the active power to):", ""]
        for r in t.published:
            bits = [
                f"{r.latency_ms:g} ms" if r.latency_ms else "",
                f"{r.energy_uj:g} µJ" if r.energy_uj else "",
                f"{r.power_mw:g} mW" if r.power_mw else "",
            ]
            at = ", ".join(b for b in (f"{r.mhz:g} MHz" if r.mhz else "",
                                       f"{r.voltage_v:g} V" if r.voltage_v else "",
                                       r.regulator.upper() if r.regulator else "",
                                       r.platform or "") if b)
            lines.append(
                f"- {r.system}, {r.model}: {' / '.join(b for b in bits if b)}"
                + (f" at {at}" if at else "") + f" ({r.source})"
            )
    if t.provenance:
        lines += ["", f"Provenance: {t.provenance}"]
    lines.append("")
    return lines


def targets_markdown() -> str:
    """``docs/targets.md``: schema, summary table and every bundled target's figures."""
    targets = [load_target(n) for n in list_targets()]
    lines = [
        "# Target profiles",
        "",
        "Generated from `src/picojoule/targets/data/*.toml` by "
        "`picojoule.targets.targets_markdown()`; do not edit by hand.",
        "",
        "Every figure below comes from the source named next to it (datasheet, reference",
        "manual, vendor SDK device tree or a named published benchmark). A source that",
        "starts with *estimate:* is an estimate and says why; *missing:* means the figure",
        "could not be found and is left out rather than guessed. Callers that need a",
        "missing figure (for example active power) get a clear error and can fall back to",
        "an energy-per-operation model.",
        "",
        "| target | chip | core | ISA features | max MHz | arena RAM | flash | active power "
        "| sleep | NPU |",
        "|---|---|---|---|---:|---:|---:|---|---|---|",
    ]
    lines += [_summary_row(t) for t in targets]
    lines += [
        "",
        "*arena RAM* sums the regions that can hold the tensor arena (external PSRAM",
        "included where present). Active power is the published or fitted figure for the",
        "chosen frequency's range, scaled linearly with frequency, at the figure's voltage.",
        "",
        _SCHEMA_DOC,
    ]
    for t in targets:
        lines += _target_section(t)
    return "\n".join(lines).rstrip() + "\n"


_SCHEMA_DOC = """## File format

One TOML file per target; a user's own file works the same way
(`load_target("path/to/board.toml")`). Sizes are bytes or strings with a binary unit
(`"192 KiB"`, `"2 MiB"`; datasheet "Kbytes" are KiB); currents, powers and voltages are
strings with a unit (`"16 uA/MHz"`, `"3.3 mA"`, `"40 mW"`, `"3.3 V"`); a bare number there
is an error. Every table needs a `source`, or a `<field>_source` for each figure.

```toml
name = "myboard"                 # lower-case; bundled files: equals the file name
display_name = "My board (STM32U585AI)"
vendor = "..."
description = "..."
extends = "stm32u585"            # optional: start from another target, override tables
provenance = "which figures were checked against which copy"

[core]
name = "Cortex-M33"
arch = "armv8-m.main"
count = 1
dsp = true
fpu = "sp"                       # none | sp | dp
mve = "none"                     # none | int | int+float (Helium)
simd = ""                        # other SIMD, e.g. "PIE 128-bit vectors"
max_mhz = 160
points_mhz = [25, 55, 110, 160]  # documented frequency points / voltage-range limits
source = "datasheet, section ..."

[[memory]]                       # one per contiguous region; regions must not overlap
name = "sram1"
kind = "sram"                    # itcm | dtcm | sram | psram | rtc | backup | dram
base = 0x20000000
size = "192 KiB"
speed = "fast"                   # tcm | fast | bus | external (fastest first)
arena = true                     # can hold the tensor arena
source = "..."

[flash]
kind = "internal"                # internal | external | none
base = 0x08000000
size = "2 MiB"
wait_states = 4                  # at max clock; leave out + wait_states_source = "missing: ..."
cache = "8 KiB ICACHE"
source = "..."

[power]
active_missing = ""              # reason when there is no [[power.active]]
regulator = "ldo"                # optional: ldo (current kept across VDD) or smps (power kept)
regulator_source = "..."
[[power.active]]                 # valid up to `mhz` (its voltage range); scaled with f
mhz = 160
current_per_mhz = "19.5 uA/MHz"  # or current = "3.3 mA", or power = "40 mW"
voltage = "3.3 V"
conditions = "SMPS, CoreMark from flash"
regulator = "smps"               # optional: the supply path of this figure (default: above)
source = "..."
[[power.sleep]]
name = "stop2"
current = "4.5 uA"               # or power = "..."
voltage = "3.0 V"
retention = "full SRAM"
retained_bytes = "256 KiB"       # optional
default = true                   # the mode used between inferences
source = "..."

[npu]                            # optional
name = "Ethos-U55-128"
macs_per_cycle = 128
clock_mhz = 400
power = "..."                    # optional; else power_source = "missing: ..."
source = "..."

[[power.platform]]               # optional: power of a software platform vs bare metal
name = "zephyr"
factor = 1.163
source = "..."

[[published]]                    # optional measurements (scripts/mlperf_tiny_runs.py)
system = "MLPerf Tiny v1.2, ST, X-CUBE-AI"
model = "kws_dscnn_int8"
mhz = 120
latency_ms = 43.187
energy_uj = 1820.45
energy_latency_ms = 43.15        # optional: the energy run's own latency
power_mw = 42.19                 # optional: measured power (fitted by scripts/fit_power.py)
voltage = "1.8 V"                # optional: the supply during the energy run
platform = "bare-metal"          # optional: bare-metal, mbed-os, zephyr, ...
regulator = "smps"               # optional: the supply path the run used
source = "..."
```
"""
