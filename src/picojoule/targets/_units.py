"""Parsing of the physical quantities in target files.

Sizes may be plain integers (bytes) or strings with a binary unit ("192 KiB"); currents,
powers, voltages and frequencies must carry their unit ("2.86 uA", "3.0 V"), because
datasheets mix µA/MHz, mA and mW and a bare number would be ambiguous. Every parse error
is one line naming the file and the field.
"""

from __future__ import annotations

import re

from picojoule.errors import PicojouleError


class TargetError(PicojouleError):
    """A target profile is unknown, unreadable or invalid."""


class TargetFileError(TargetError):
    """A target file is not valid TOML or does not follow the schema."""


_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*$")

# Datasheets write "Kbytes" for 1024 bytes; every size unit here is binary.
_SIZE_UNITS = {
    "b": 1, "byte": 1, "bytes": 1,
    "k": 1024, "kb": 1024, "kib": 1024, "kbyte": 1024, "kbytes": 1024,
    "m": 1024**2, "mb": 1024**2, "mib": 1024**2, "mbyte": 1024**2, "mbytes": 1024**2,
}

# (canonical unit, {spelling: factor to canonical})
_QUANTITIES: dict[str, tuple[str, dict[str, float]]] = {
    "current": ("uA", {"a": 1e6, "ma": 1e3, "ua": 1.0, "na": 1e-3}),
    "power": ("mW", {"w": 1e3, "mw": 1.0, "uw": 1e-3, "nw": 1e-6}),
    "voltage": ("V", {"v": 1.0, "mv": 1e-3}),
    "current_per_mhz": ("uA/MHz", {"ua/mhz": 1.0, "ma/mhz": 1e3, "na/mhz": 1e-3}),
    "frequency": ("MHz", {"hz": 1e-6, "khz": 1e-3, "mhz": 1.0, "ghz": 1e3}),
}


def _norm_unit(unit: str) -> str:
    # µ (micro sign) and μ (Greek mu) both mean micro.
    return unit.strip().replace("µ", "u").replace("μ", "u").replace(" ", "").lower()


def parse_size(value: object, where: str) -> int:
    """Bytes from an int or a string such as "512 KiB" / "2 MiB" / "0.5 MiB"."""
    if isinstance(value, bool):
        raise TargetFileError(f"{where}: expected a size in bytes or e.g. '192 KiB', got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise TargetFileError(f"{where}: size must not be negative, got {value}")
        return value
    if isinstance(value, str):
        m = _NUMBER.match(value)
        if m:
            unit = _norm_unit(m.group(2) or "b")
            if unit in _SIZE_UNITS:
                nbytes = float(m.group(1)) * _SIZE_UNITS[unit]
                if nbytes < 0 or nbytes != int(nbytes):
                    raise TargetFileError(f"{where}: {value!r} is not a whole number of bytes")
                return int(nbytes)
            raise TargetFileError(
                f"{where}: bad size unit {m.group(2)!r} in {value!r} "
                "(use B, KiB or MiB; datasheet 'Kbytes' are KiB)"
            )
    raise TargetFileError(f"{where}: expected a size in bytes or e.g. '192 KiB', got {value!r}")


def parse_quantity(value: object, kind: str, where: str) -> float:
    """A quantity with a unit, converted to the canonical unit of ``kind``.

    ``kind`` is one of current (→ µA), power (→ mW), voltage (→ V), current_per_mhz
    (→ µA/MHz) or frequency (→ MHz).
    """
    canonical, units = _QUANTITIES[kind]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise TargetFileError(
            f"{where}: {value!r} needs a unit (e.g. '{value} {canonical}'); "
            f"accepted: {', '.join(sorted(units))}"
        )
    if isinstance(value, str):
        m = _NUMBER.match(value)
        if m and m.group(2):
            unit = _norm_unit(m.group(2))
            if unit in units:
                number = float(m.group(1)) * units[unit]
                if number < 0:
                    raise TargetFileError(f"{where}: {value!r} must not be negative")
                return number
            raise TargetFileError(
                f"{where}: bad unit {m.group(2)!r} in {value!r} for a {kind.replace('_', ' ')} "
                f"(expected one of: {', '.join(sorted(units))})"
            )
        if m:
            raise TargetFileError(
                f"{where}: {value!r} needs a unit (e.g. '{m.group(1)} {canonical}')"
            )
    raise TargetFileError(
        f"{where}: expected a {kind.replace('_', ' ')} like '1 {canonical}', got {value!r}"
    )


def format_bytes(n: int) -> str:
    """Human-readable size: 196608 -> '192 KiB', 2621440 -> '2.5 MiB' (MiB in quarter steps)."""
    if n >= 1024**2 and n % (256 * 1024) == 0:
        return f"{n / 1024**2:g} MiB"
    if n >= 1024:
        return f"{n / 1024:g} KiB"
    return f"{n} B"
