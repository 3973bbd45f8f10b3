"""Microcontroller and NPU target profiles, as data with their sources.

Each bundled target is one TOML file in ``picojoule/targets/data/`` (lower-case name, e.g.
``stm32l4r5.toml``); a user may pass the path of their own file instead. Every figure in a
file carries its source: the table's ``source`` key, or a sibling ``<field>_source`` key
that overrides it. A source starting with ``estimate:`` marks an estimate (and says why);
a figure that could not be found is left out and its ``<field>_source`` starts with
``missing:`` and says what is missing. See ``docs/targets.md`` for the schema.

Example::

    t = load_target("stm32l4r5")
    t.total_ram_bytes(), t.regions_fast_first(), t.active_power_mw(120), t.sleep_power_mw()

Later work (memory planner, latency/energy model) reads the frozen dataclasses below;
nothing here guesses a number that is not in a file.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from picojoule.targets._units import (
    TargetError,
    TargetFileError,
    parse_quantity,
    parse_size,
)

__all__ = [
    "TargetError",
    "UnknownTargetError",
    "TargetFileError",
    "Target",
    "Core",
    "MemoryRegion",
    "Flash",
    "Power",
    "ActivePoint",
    "SleepMode",
    "Npu",
    "PublishedRun",
    "SPEED_CLASSES",
    "load_target",
    "list_targets",
    "is_estimate",
    "targets_markdown",
]


class UnknownTargetError(TargetError):
    """No bundled target has that name (and it is not an existing file)."""


#: Memory speed classes, fastest first. ``tcm``: tightly coupled, single-cycle at core
#: clock; ``fast``: on-chip SRAM on the main bus at core clock; ``bus``: on-chip SRAM
#: behind a slower or shared bus (other clock domain, bridges); ``external``: off-chip
#: (PSRAM, DDR, through a cache or memory controller).
SPEED_CLASSES = ("tcm", "fast", "bus", "external")
MEMORY_KINDS = ("itcm", "dtcm", "sram", "psram", "rtc", "backup", "dram")
FPU_KINDS = ("none", "sp", "dp")
MVE_KINDS = ("none", "int", "int+float")
FLASH_KINDS = ("internal", "external", "none")


# -- data model -----------------------------------------------------------------------------
def _no_sources() -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class Core:
    """CPU core, ISA features and clock."""

    name: str  # "Cortex-M4", "Xtensa LX7", "RV32IMC"
    arch: str  # "armv7e-m", "armv8.1-m.main", "xtensa-lx7", "rv32imc"
    count: int  # cores of this kind on the chip (picojoule runs on one)
    dsp: bool  # Arm DSP extension (SIMD on 32-bit registers: SMLAD ...)
    fpu: str  # "none" | "sp" | "dp"
    mve: str  # Helium: "none" | "int" | "int+float"
    simd: str  # free text for other SIMD, e.g. the ESP32-S3 PIE 128-bit vectors
    max_mhz: float
    points_mhz: tuple[float, ...]  # allowed / documented frequency points, ascending
    notes: str = ""
    source: str = ""
    sources: Mapping[str, str] = field(default_factory=_no_sources, hash=False, compare=False)


@dataclass(frozen=True)
class MemoryRegion:
    """One contiguous RAM region (a bank, a TCM, external PSRAM)."""

    name: str
    kind: str  # one of MEMORY_KINDS
    base: int
    size: int
    speed: str  # one of SPEED_CLASSES
    arena: bool  # can hold the tensor arena
    notes: str = ""
    source: str = ""
    sources: Mapping[str, str] = field(default_factory=_no_sources, hash=False, compare=False)

    @property
    def end(self) -> int:
        """First address after the region."""
        return self.base + self.size

    @property
    def speed_rank(self) -> int:
        """0 for the fastest class (tcm)."""
        return SPEED_CLASSES.index(self.speed)


@dataclass(frozen=True)
class Flash:
    """Non-volatile code/weight storage."""

    kind: str  # "internal" | "external" | "none"
    size: int | None  # bytes; None when not published (see sources["size"])
    base: int | None
    wait_states: int | None  # at max clock; None when not applicable or not found
    cache: str  # e.g. "ART accelerator" or "16 KiB XIP cache"
    notes: str = ""
    source: str = ""
    sources: Mapping[str, str] = field(default_factory=_no_sources, hash=False, compare=False)


@dataclass(frozen=True)
class ActivePoint:
    """One published active-power figure, valid for frequencies up to ``mhz``."""

    mhz: float  # the frequency the figure was measured at (the top of its range)
    voltage_v: float | None
    mw_per_mhz: float  # normalised: mW per MHz at that voltage
    figure: str  # as written in the file, e.g. "16 uA/MHz"
    conditions: str
    source: str
    # The supply path the figure was measured on ("ldo" or "smps"); "" means the target's
    # default (``Power.regulator``). A chip sold with and without a switching regulator
    # (STM32L4R5 and STM32L4R5xxP) carries one point per path.
    regulator: str = ""

    @property
    def fitted(self) -> bool:
        """Fitted to the target's own [[published]] runs (``scripts/fit_power.py``), not a
        datasheet figure: its source starts with ``fitted:``."""
        return self.source.startswith("fitted:")


@dataclass(frozen=True)
class SleepMode:
    """A low-power state between inferences."""

    name: str
    power_mw: float
    figure: str
    voltage_v: float | None
    retention: str  # what survives: "full SRAM", "8 KiB SRAM2", "none"
    retained_bytes: int | None
    default: bool
    source: str


@dataclass(frozen=True)
class PlatformFactor:
    """Active power of a software platform relative to the reference ``bare-metal`` one.

    The same chip at the same clock and voltage draws different power under different
    startup code (clock tree, enabled peripherals, flash accelerator settings): for example
    an RTOS's board support against the vendor's bare-metal setup.
    """

    name: str
    factor: float
    source: str


#: The platform the active-power figures describe (picojoule's generated C runs bare metal).
REFERENCE_PLATFORM = "bare-metal"
REGULATORS = ("ldo", "smps")


@dataclass(frozen=True)
class Power:
    """Active and sleep power; empty tuples with a reason when not published."""

    active: tuple[ActivePoint, ...]
    sleep: tuple[SleepMode, ...]
    active_missing: str = ""  # reason, when ``active`` is empty
    sleep_missing: str = ""
    # How the supply current depends on the supply voltage: "ldo" (linear regulator: the
    # current is the same at any VDD, so power scales with VDD), "smps" (switching
    # regulator: the input power stays about the same), "" when unknown (treated as ldo).
    regulator: str = ""
    regulator_source: str = ""
    platforms: tuple[PlatformFactor, ...] = ()


@dataclass(frozen=True)
class Npu:
    """A neural accelerator next to the core."""

    name: str
    macs_per_cycle: int  # 8x8-bit MACs per cycle
    clock_mhz: float
    power_mw: float | None
    notes: str = ""
    source: str = ""
    sources: Mapping[str, str] = field(default_factory=_no_sources, hash=False, compare=False)


@dataclass(frozen=True)
class PublishedRun:
    """A published measurement on this chip (for validating estimates, not fitting)."""

    system: str
    model: str
    mhz: float | None
    latency_ms: float | None
    energy_uj: float | None
    source: str
    power_mw: float | None = None  # median power the energy monitor measured
    voltage_v: float | None = None  # supply the energy monitor gave the board
    platform: str | None = None  # "bare-metal", "mbed-os", "zephyr", ...
    energy_latency_ms: float | None = None  # latency during the energy run itself
    regulator: str | None = None  # supply path the run used; None: the target's default


@dataclass(frozen=True)
class Target:
    """A target profile: core, memories, flash, power, optional NPU, all with sources."""

    name: str
    display_name: str
    vendor: str
    description: str
    core: Core
    memory: tuple[MemoryRegion, ...]
    flash: Flash
    power: Power
    npu: Npu | None
    published: tuple[PublishedRun, ...]
    provenance: str
    path: str

    # ---- memory
    def regions(self, arena_only: bool = False) -> tuple[MemoryRegion, ...]:
        """Regions in file order (only those that can hold the arena if asked)."""
        return tuple(r for r in self.memory if r.arena or not arena_only)

    def regions_fast_first(self, arena_only: bool = True) -> tuple[MemoryRegion, ...]:
        """Regions sorted by speed class (tcm first), larger first within a class.

        This is the order a planner fills regions in: fast region first, spill to slower.
        """
        return tuple(sorted(self.regions(arena_only), key=lambda r: (r.speed_rank, -r.size)))

    def total_ram_bytes(self, arena_only: bool = False, include_external: bool = True) -> int:
        """Sum of region sizes (only arena-capable ones if asked; external PSRAM optional)."""
        return sum(
            r.size
            for r in self.regions(arena_only)
            if include_external or r.speed != "external"
        )

    def region(self, name: str) -> MemoryRegion:
        """The region called ``name``."""
        for r in self.memory:
            if r.name == name:
                return r
        known = ", ".join(r.name for r in self.memory)
        raise TargetError(f"target {self.name} has no memory region {name!r} (regions: {known})")

    # ---- clock and power
    def check_mhz(self, mhz: float) -> float:
        """``mhz`` if the core can run at it, else a clear error."""
        if not mhz > 0:
            raise TargetError(f"target {self.name}: frequency must be positive, got {mhz} MHz")
        if mhz > self.core.max_mhz * (1 + 1e-9):
            raise TargetError(
                f"target {self.name} runs at most {self.core.max_mhz:g} MHz, not {mhz:g} MHz"
            )
        return float(mhz)

    def active_power_mw(self, mhz: float | None = None, volts: float | None = None,
                        platform: str | None = None, regulator: str | None = None) -> float:
        """Active power at ``mhz`` (default: max clock), from the published figures.

        Uses the figure of the lowest frequency point at or above ``mhz`` (its voltage
        range / regulator setting) and scales it linearly with frequency, which is how
        µA/MHz figures are meant to be used. ``volts`` (default: the figure's own voltage)
        scales it by the regulator rule (:meth:`voltage_scale`); ``platform`` (default
        ``bare-metal``) multiplies it by that platform's factor; ``regulator`` (default: the
        target's) picks the figures of that supply path. Raises TargetError when the chip has
        no published active power (callers may then fall back to an energy-per-op model).
        """
        chosen = self.active_point(mhz, regulator)
        mhz = self.core.max_mhz if mhz is None else float(mhz)
        return (chosen.mw_per_mhz * mhz
                * self.voltage_scale(chosen.voltage_v, volts, self.point_regulator(chosen))
                * self.platform_factor(platform).factor)

    def check_volts(self, volts: float) -> float:
        """``volts`` if it is a plausible microcontroller supply, else a clear error."""
        if not 0.5 <= volts <= 6.0:
            raise TargetError(f"target {self.name}: supply voltage must be 0.5-6 V, "
                              f"got {volts:g} V")
        return float(volts)

    def voltage_scale(self, figure_v: float | None, volts: float | None,
                      regulator: str | None = None) -> float:
        """Power at ``volts`` over power at ``figure_v``: V ratio for an LDO, 1 for an SMPS.

        ``regulator`` defaults to the target's; an unknown one is treated as an LDO.
        """
        if volts is None or figure_v is None:
            return 1.0
        volts = self.check_volts(volts)
        return 1.0 if (regulator or self.power.regulator) == "smps" else volts / figure_v

    def point_regulator(self, point: ActivePoint) -> str:
        """The supply path an active-power figure was measured on ("" when unknown)."""
        return point.regulator or self.power.regulator

    def regulators(self) -> tuple[str, ...]:
        """Supply paths the active-power figures cover, the default first."""
        found = dict.fromkeys([self.power.regulator] if self.power.active else [])
        found.update(dict.fromkeys(self.point_regulator(p) for p in self.power.active))
        return tuple(found)

    def platform_factor(self, platform: str | None = None) -> PlatformFactor:
        """The named platform's power factor (``bare-metal``, the reference, is 1)."""
        if platform is None or platform == REFERENCE_PLATFORM:
            return PlatformFactor(REFERENCE_PLATFORM, 1.0, "reference platform")
        for p in self.power.platforms:
            if p.name == platform:
                return p
        known = ", ".join([REFERENCE_PLATFORM] + [p.name for p in self.power.platforms])
        raise TargetError(f"target {self.name} has no power figure for platform "
                          f"{platform!r} (platforms: {known})")

    def active_point(self, mhz: float | None = None,
                     regulator: str | None = None) -> ActivePoint:
        """The published figure ``active_power_mw`` uses at ``mhz`` (for its source).

        ``regulator`` (default: the target's) restricts the choice to figures measured on
        that supply path.
        """
        mhz = self.core.max_mhz if mhz is None else self.check_mhz(mhz)
        if not self.power.active:
            raise TargetError(
                f"target {self.name} has no published active power: {self.power.active_missing}"
            )
        want = regulator or self.power.regulator
        points = sorted((p for p in self.power.active if self.point_regulator(p) == want),
                        key=lambda p: p.mhz)
        if not points:
            if regulator is None:
                points = sorted(self.power.active, key=lambda p: p.mhz)
            else:
                known = ", ".join(r or "unknown" for r in self.regulators())
                raise TargetError(f"target {self.name} has no active-power figure for "
                                  f"regulator {regulator!r} (regulators: {known})")
        return next((p for p in points if p.mhz >= mhz - 1e-9), points[-1])

    def sleep_mode(self, mode: str | None = None) -> SleepMode:
        """The named sleep mode, or the file's default one."""
        if not self.power.sleep:
            raise TargetError(
                f"target {self.name} has no published sleep power: {self.power.sleep_missing}"
            )
        if mode is None:
            return next((s for s in self.power.sleep if s.default), self.power.sleep[0])
        for s in self.power.sleep:
            if s.name == mode:
                return s
        known = ", ".join(s.name for s in self.power.sleep)
        raise TargetError(f"target {self.name} has no sleep mode {mode!r} (modes: {known})")

    def sleep_power_mw(self, mode: str | None = None) -> float:
        """Power in the named (or default) sleep mode, in mW."""
        return self.sleep_mode(mode).power_mw

    @property
    def has_npu(self) -> bool:
        return self.npu is not None


# -- loading --------------------------------------------------------------------------------
_DATA_PACKAGE = "picojoule.targets"


def _data_dir():
    return resources.files(_DATA_PACKAGE).joinpath("data")


def list_targets() -> list[str]:
    """Names of the bundled targets, sorted."""
    return sorted(
        entry.name[: -len(".toml")]
        for entry in _data_dir().iterdir()
        if entry.name.endswith(".toml")
    )


def _looks_like_path(text: str) -> bool:
    return text.endswith(".toml") or os.sep in text or (os.altsep or "\0") in text


def _read_raw(name_or_path: str | os.PathLike[str]) -> tuple[dict[str, Any], str, str | None]:
    """(raw TOML dict, display path, bundled name or None)."""
    if isinstance(name_or_path, os.PathLike) or _looks_like_path(str(name_or_path)):
        path = Path(name_or_path)
        if not path.is_file():
            raise TargetError(f"target file not found: {path}")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise TargetFileError(f"{path}: not a UTF-8 text file (byte {exc.start}: "
                                  f"{exc.reason})") from None
        except OSError as exc:
            raise TargetFileError(f"{path}: cannot read it ({exc.strerror})") from None
        where, bundled = str(path), None
    else:
        name = str(name_or_path).strip().lower()
        entry = _data_dir().joinpath(f"{name}.toml")
        if not name or not entry.is_file():
            known = list_targets()
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownTargetError(
                f"unknown target {str(name_or_path)!r}{hint} known targets: {', '.join(known)}"
            )
        text = entry.read_text(encoding="utf-8")
        where, bundled = f"{name}.toml", name
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TargetFileError(f"{where}: not valid TOML: {exc}") from None
    return raw, where, bundled


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge for ``extends``: tables merge key by key; arrays are replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve_extends(raw: dict[str, Any], where: str, seen: tuple[str, ...]) -> dict[str, Any]:
    parent = raw.get("extends")
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise TargetFileError(f"{where}: 'extends' must be a target name or a path")
    if parent in seen:
        raise TargetFileError(f"{where}: 'extends' cycle through {parent!r}")
    if _looks_like_path(parent) and not os.path.isabs(parent) and os.sep in where:
        parent = str(Path(where).parent / parent)
    try:
        base_raw, base_where, _ = _read_raw(parent)
    except UnknownTargetError as exc:
        raise TargetFileError(f"{where}: extends {exc}") from None
    base_raw = _resolve_extends(base_raw, base_where, seen + (parent,))
    base_raw = {k: v for k, v in base_raw.items() if k not in ("name", "extends", "published")}
    merged = _merge(base_raw, {k: v for k, v in raw.items() if k != "extends"})
    return merged


class _Table:
    """Typed access to one TOML table with file/field context in every error."""

    def __init__(self, data: Any, where: str, ctx: str):
        if not isinstance(data, dict):
            raise TargetFileError(f"{where}: [{ctx}] must be a table")
        self.data, self.where, self.ctx = data, where, ctx

    def _loc(self, key: str) -> str:
        return f"{self.where}: [{self.ctx}] {key}"

    def has(self, key: str) -> bool:
        return key in self.data

    def req(self, key: str) -> Any:
        if key not in self.data:
            raise TargetFileError(f"{self.where}: [{self.ctx}] missing required field {key!r}")
        return self.data[key]

    def string(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.req(key) if default is None else self.data.get(key, default)
        if not isinstance(value, str):
            raise TargetFileError(f"{self._loc(key)}: expected a string, got {value!r}")
        if choices and value not in choices:
            raise TargetFileError(
                f"{self._loc(key)}: {value!r} is not one of {', '.join(choices)}"
            )
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool:
        value = self.req(key) if default is None else self.data.get(key, default)
        if not isinstance(value, bool):
            raise TargetFileError(f"{self._loc(key)}: expected true or false, got {value!r}")
        return value

    def integer(self, key: str, minimum: int = 0) -> int:
        value = self.req(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise TargetFileError(
                f"{self._loc(key)}: expected an integer >= {minimum}, got {value!r}"
            )
        return value

    def number(self, key: str) -> float:
        """A positive number; MHz fields also accept a frequency string ("1.2 GHz")."""
        value = self.req(key)
        if isinstance(value, str) and key.endswith("mhz"):
            return parse_quantity(value, "frequency", self._loc(key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise TargetFileError(f"{self._loc(key)}: expected a positive number, got {value!r}")
        return float(value)

    def size(self, key: str) -> int:
        return parse_size(self.req(key), self._loc(key))

    def quantity(self, key: str, kind: str) -> float:
        return parse_quantity(self.req(key), kind, self._loc(key))

    def sources(self, figures: tuple[str, ...]) -> tuple[str, dict[str, str]]:
        """(table source, per-field sources); every present figure must have a source."""
        base = self.data.get("source", "")
        if not isinstance(base, str):
            raise TargetFileError(f"{self._loc('source')}: expected a string")
        per: dict[str, str] = {}
        for key, value in self.data.items():
            if key.endswith("_source"):
                if not isinstance(value, str) or not value.strip():
                    raise TargetFileError(f"{self._loc(key)}: expected a non-empty string")
                per[key[: -len("_source")]] = value
        for fig in figures:
            if fig in self.data:
                if not (per.get(fig) or base.strip()):
                    raise TargetFileError(
                        f"{self.where}: [{self.ctx}] figure {fig!r} has no source "
                        f"(add '{fig}_source' or 'source')"
                    )
                per.setdefault(fig, base)
            elif fig in per and not _is_missing(per[fig]):
                raise TargetFileError(
                    f"{self.where}: [{self.ctx}] {fig}_source is given but {fig!r} is not; "
                    "start the source with 'missing:' if the figure could not be found"
                )
        return base, per


def _is_missing(source: str) -> bool:
    return source.strip().lower().startswith("missing")


def is_estimate(source: str) -> bool:
    """True when a source string marks its figure as an estimate."""
    return source.strip().lower().startswith("estimate")


def _parse_core(raw: dict[str, Any], where: str) -> Core:
    t = _Table(raw.get("core"), where, "core") if "core" in raw else None
    if t is None:
        raise TargetFileError(f"{where}: missing required table [core]")
    figures = ("name", "arch", "count", "dsp", "fpu", "mve", "simd", "max_mhz", "points_mhz")
    source, per = t.sources(figures)
    max_mhz = t.number("max_mhz")
    points_raw = t.data.get("points_mhz", [max_mhz])
    if not isinstance(points_raw, list) or not points_raw:
        raise TargetFileError(f"{where}: [core] points_mhz must be a non-empty list of MHz")
    points = []
    for i, p in enumerate(points_raw):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or p <= 0:
            raise TargetFileError(f"{where}: [core] points_mhz[{i}]: expected MHz > 0, got {p!r}")
        if p > max_mhz:
            raise TargetFileError(
                f"{where}: [core] points_mhz[{i}] = {p} exceeds max_mhz = {max_mhz:g}"
            )
        points.append(float(p))
    return Core(
        name=t.string("name"),
        arch=t.string("arch"),
        count=t.integer("count", 1) if t.has("count") else 1,
        dsp=t.boolean("dsp", False),
        fpu=t.string("fpu", "none", FPU_KINDS),
        mve=t.string("mve", "none", MVE_KINDS),
        simd=t.string("simd", ""),
        max_mhz=max_mhz,
        points_mhz=tuple(sorted(set(points))),
        notes=t.string("notes", ""),
        source=source,
        sources=per,
    )


def _parse_memory(raw: dict[str, Any], where: str) -> tuple[MemoryRegion, ...]:
    items = raw.get("memory")
    if not isinstance(items, list) or not items:
        raise TargetFileError(f"{where}: missing required [[memory]] regions")
    regions = []
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        t = _Table(item, where, f"memory {name or i}")
        source, per = t.sources(("base", "size", "speed", "arena", "kind"))
        region = MemoryRegion(
            name=t.string("name"),
            kind=t.string("kind", None, MEMORY_KINDS),
            base=t.integer("base"),
            size=t.size("size"),
            speed=t.string("speed", None, SPEED_CLASSES),
            arena=t.boolean("arena"),
            notes=t.string("notes", ""),
            source=source,
            sources=per,
        )
        if region.size <= 0:
            raise TargetFileError(f"{where}: [memory {region.name}] size must be > 0")
        regions.append(region)
    names = [r.name for r in regions]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise TargetFileError(f"{where}: duplicate memory region name(s) {', '.join(sorted(dup))}")
    ordered = sorted(regions, key=lambda r: r.base)
    for a, b in zip(ordered, ordered[1:]):
        if b.base < a.end:
            raise TargetFileError(
                f"{where}: memory regions {a.name} [{a.base:#x}, {a.end:#x}) and "
                f"{b.name} [{b.base:#x}, {b.end:#x}) overlap"
            )
    return tuple(regions)


def _parse_flash(raw: dict[str, Any], where: str) -> Flash:
    if "flash" not in raw:
        raise TargetFileError(f"{where}: missing required table [flash]")
    t = _Table(raw["flash"], where, "flash")
    source, per = t.sources(("size", "base", "wait_states", "cache", "kind"))
    kind = t.string("kind", None, FLASH_KINDS)
    if not t.has("size") and not _is_missing(per.get("size", "")) and kind != "none":
        raise TargetFileError(
            f"{where}: [flash] missing required field 'size' (or size_source = 'missing: ...')"
        )
    return Flash(
        kind=kind,
        size=t.size("size") if t.has("size") else None,
        base=t.integer("base") if t.has("base") else None,
        wait_states=t.integer("wait_states") if t.has("wait_states") else None,
        cache=t.string("cache", ""),
        notes=t.string("notes", ""),
        source=source,
        sources=per,
    )


def _parse_power(raw: dict[str, Any], where: str) -> Power:
    if "power" not in raw:
        raise TargetFileError(f"{where}: missing required table [power]")
    t = _Table(raw["power"], where, "power")
    active_raw = t.data.get("active", [])
    sleep_raw = t.data.get("sleep", [])
    if not isinstance(active_raw, list) or not isinstance(sleep_raw, list):
        raise TargetFileError(f"{where}: [power] active and sleep must be arrays of tables")
    active_missing = t.string("active_missing", "")
    sleep_missing = t.string("sleep_missing", "")
    if not active_raw and not active_missing.strip():
        raise TargetFileError(
            f"{where}: [power] has no [[power.active]] point; give one or say why in "
            "active_missing = 'missing: ...'"
        )
    if not sleep_raw and not sleep_missing.strip():
        raise TargetFileError(
            f"{where}: [power] has no [[power.sleep]] mode; give one or say why in "
            "sleep_missing = 'missing: ...'"
        )
    active = []
    for i, item in enumerate(active_raw):
        a = _Table(item, where, f"power.active {i}")
        source, _ = a.sources(("mhz", "current_per_mhz", "current", "power", "voltage"))
        if not source.strip():
            raise TargetFileError(f"{where}: [power.active {i}] missing required field 'source'")
        mhz = a.number("mhz")
        given = [k for k in ("current_per_mhz", "current", "power") if a.has(k)]
        if len(given) != 1:
            raise TargetFileError(
                f"{where}: [power.active {i}] give exactly one of current_per_mhz, current, "
                f"power (got {', '.join(given) or 'none'})"
            )
        key = given[0]
        point_regulator = a.string("regulator", "", REGULATORS) if a.has("regulator") else ""
        voltage = a.quantity("voltage", "voltage") if a.has("voltage") else None
        if key != "power" and voltage is None:
            raise TargetFileError(
                f"{where}: [power.active {i}] missing required field 'voltage' "
                f"(needed to turn {key} into power)"
            )
        if key == "current_per_mhz":
            mw_per_mhz = a.quantity(key, "current_per_mhz") * voltage / 1000.0
        elif key == "current":
            mw_per_mhz = a.quantity(key, "current") * voltage / 1000.0 / mhz
        else:
            mw_per_mhz = a.quantity(key, "power") / mhz
        active.append(
            ActivePoint(
                mhz=mhz,
                voltage_v=voltage,
                mw_per_mhz=mw_per_mhz,
                figure=str(a.data[key]),
                conditions=a.string("conditions", ""),
                source=source,
                regulator=point_regulator,
            )
        )
    sleep = []
    for i, item in enumerate(sleep_raw):
        label = item.get("name", i) if isinstance(item, dict) else i
        s = _Table(item, where, f"power.sleep {label}")
        source, _ = s.sources(("current", "power", "voltage", "retained_bytes"))
        if not source.strip():
            raise TargetFileError(f"{where}: [power.sleep {i}] missing required field 'source'")
        given = [k for k in ("current", "power") if s.has(k)]
        if len(given) != 1:
            raise TargetFileError(
                f"{where}: [power.sleep {i}] give exactly one of current, power "
                f"(got {', '.join(given) or 'none'})"
            )
        voltage = s.quantity("voltage", "voltage") if s.has("voltage") else None
        if given[0] == "current":
            if voltage is None:
                raise TargetFileError(
                    f"{where}: [power.sleep {i}] missing required field 'voltage' "
                    "(needed to turn current into power)"
                )
            power_mw = s.quantity("current", "current") * voltage / 1000.0
        else:
            power_mw = s.quantity("power", "power")
        sleep.append(
            SleepMode(
                name=s.string("name"),
                power_mw=power_mw,
                figure=str(s.data[given[0]]),
                voltage_v=voltage,
                retention=s.string("retention"),
                retained_bytes=s.size("retained_bytes") if s.has("retained_bytes") else None,
                default=s.boolean("default", False),
                source=source,
            )
        )
    if sum(s.default for s in sleep) > 1:
        raise TargetFileError(f"{where}: [power] more than one sleep mode has default = true")
    psource, pper = t.sources(("regulator",))
    regulator = t.string("regulator", "", REGULATORS) if t.has("regulator") else ""
    platforms = []
    for i, item in enumerate(t.data.get("platform", [])):
        label = item.get("name", i) if isinstance(item, dict) else i
        pt = _Table(item, where, f"power.platform {label}")
        source, _ = pt.sources(("factor",))
        if not source.strip():
            raise TargetFileError(f"{where}: [power.platform {label}] missing required "
                                  "field 'source'")
        name = pt.string("name")
        if name == REFERENCE_PLATFORM:
            raise TargetFileError(f"{where}: [power.platform {label}] {REFERENCE_PLATFORM!r} "
                                  "is the reference (factor 1) and cannot be given")
        platforms.append(PlatformFactor(name, pt.number("factor"), source))
    return Power(tuple(active), tuple(sleep), active_missing, sleep_missing, regulator,
                 pper.get("regulator", ""), tuple(platforms))


def _parse_npu(raw: dict[str, Any], where: str) -> Npu | None:
    if "npu" not in raw:
        return None
    t = _Table(raw["npu"], where, "npu")
    source, per = t.sources(("name", "macs_per_cycle", "clock_mhz", "power"))
    return Npu(
        name=t.string("name"),
        macs_per_cycle=t.integer("macs_per_cycle", 1),
        clock_mhz=t.number("clock_mhz"),
        power_mw=t.quantity("power", "power") if t.has("power") else None,
        notes=t.string("notes", ""),
        source=source,
        sources=per,
    )


def _parse_published(raw: dict[str, Any], where: str) -> tuple[PublishedRun, ...]:
    runs = []
    for i, item in enumerate(raw.get("published", [])):
        t = _Table(item, where, f"published {i}")
        source, _ = t.sources(("mhz", "latency_ms", "energy_uj", "power_mw", "voltage",
                               "energy_latency_ms"))
        if not source.strip():
            raise TargetFileError(f"{where}: [published {i}] missing required field 'source'")
        runs.append(
            PublishedRun(
                system=t.string("system"),
                model=t.string("model"),
                mhz=t.number("mhz") if t.has("mhz") else None,
                latency_ms=t.number("latency_ms") if t.has("latency_ms") else None,
                energy_uj=t.number("energy_uj") if t.has("energy_uj") else None,
                source=source,
                power_mw=t.number("power_mw") if t.has("power_mw") else None,
                voltage_v=t.quantity("voltage", "voltage") if t.has("voltage") else None,
                platform=t.string("platform") if t.has("platform") else None,
                energy_latency_ms=(t.number("energy_latency_ms")
                                   if t.has("energy_latency_ms") else None),
                regulator=(t.string("regulator", "", REGULATORS)
                           if t.has("regulator") else None),
            )
        )
    return tuple(runs)


def load_target(name_or_path: str | os.PathLike[str]) -> Target:
    """Load and validate a bundled target by name, or a user's TOML file by path.

    Errors are TargetError subclasses with a one-line message: an unknown name lists the
    known ones and suggests the closest; a bad file names the file and the field.
    """
    raw, where, bundled = _read_raw(name_or_path)
    raw = _resolve_extends(raw, where, (bundled or where,))
    top = _Table(raw, where, "target")
    name = top.string("name")
    if bundled is not None and name != bundled:
        raise TargetFileError(f"{where}: name = {name!r} does not match the file name {bundled!r}")
    if name != name.lower() or not name:
        raise TargetFileError(f"{where}: name {name!r} must be lower-case and non-empty")
    target = Target(
        name=name,
        display_name=top.string("display_name", name),
        vendor=top.string("vendor", ""),
        description=top.string("description", ""),
        core=_parse_core(raw, where),
        memory=_parse_memory(raw, where),
        flash=_parse_flash(raw, where),
        power=_parse_power(raw, where),
        npu=_parse_npu(raw, where),
        published=_parse_published(raw, where),
        provenance=top.string("provenance", ""),
        path=where,
    )
    return target


from picojoule.targets._markdown import targets_markdown  # noqa: E402  (needs the above)
