"""Batteries, rates and the duty-cycle energy arithmetic (pure functions, unit-tested by hand).

Per inference at frequency f: active energy E_a = P_active(f) * t. With a rate R (inferences
per second) the period is T = 1 / R and the chip sleeps for T - t at P_sleep, so the energy
per inference is E = E_a + P_sleep * (T - t) and the average power is E * R. Without a rate
the chip runs back to back (R = 1 / t, no sleep). Battery life = battery energy / average
power (ideal: no regulator loss, no self-discharge, no capacity derating at high current).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from picojoule.errors import InputError


@dataclass(frozen=True)
class Battery:
    name: str
    joules: float
    voltage_v: float | None
    max_continuous_ma: float | None
    source: str


BATTERIES: dict[str, Battery] = {
    "cr2032": Battery(
        "CR2032", 0.225 * 3.0 * 3600, 3.0, 3.0,
        "estimate: CR2032 lithium coin cell, 225 mAh nominal at 3.0 V = 2,430 J (typical "
        "manufacturer datasheets, e.g. Energizer CR2032: 235 mAh to 2.0 V at 15 kOhm); "
        "continuous current ~3 mA (higher drains cut the usable capacity sharply)"),
    "aa": Battery(
        "AA alkaline", 2.85 * 1.5 * 3600, 1.5, None,
        "estimate: AA alkaline 2.85 Ah at 1.5 V nominal = 15,390 J (Energizer E91 datasheet "
        "class figure at low drain)"),
}
BATTERIES["aa-alkaline"] = BATTERIES["aa"]

_ENERGY_UNITS = {"j": 1.0, "kj": 1e3, "mj": 1e-3, "wh": 3600.0, "mwh": 3.6}


def parse_battery(spec: str | Battery | None) -> Battery | None:
    """A named battery ("CR2032", "AA") or an energy figure ("500J", "2.4 kJ", "1 Wh")."""
    if spec is None or isinstance(spec, Battery):
        return spec
    key = str(spec).strip().lower().replace(" ", "")
    if key in BATTERIES:
        return BATTERIES[key]
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)(j|kj|mj|wh|mwh)", key)
    if m and float(m.group(1)) > 0:
        joules = float(m.group(1)) * _ENERGY_UNITS[m.group(2)]
        return Battery(f"{spec}".strip(), joules, None, None, f"user figure: {spec}")
    raise InputError(f"unknown battery {spec!r}: give one of CR2032, AA, or an energy such "
                     "as 500J, 2.4kJ, 1Wh")


def parse_rate(spec: str | float | None) -> float | None:
    """Inferences per second from 2, "2", "1/s", "10/min", "1/h", "5 Hz"."""
    if spec is None:
        return None
    if isinstance(spec, (int, float)):
        rate = float(spec)
    else:
        key = str(spec).strip().lower().replace(" ", "")
        m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)(?:/(s|sec|min|h|hour|day|d)|hz)?",
                         key)
        if not m:
            raise InputError(f"bad rate {spec!r}: give inferences per second, e.g. 1/s, "
                             "10/min, 1/h, 5Hz")
        per = {"s": 1, "sec": 1, "min": 60, "h": 3600, "hour": 3600, "day": 86400,
               "d": 86400, None: 1}[m.group(2)]
        rate = float(m.group(1)) / per
    if not rate > 0:
        raise InputError(f"rate must be positive, got {spec!r}")
    return rate


@dataclass(frozen=True)
class DutyCycle:
    energy_uj: float  # per inference, active + sleep share
    active_energy_uj: float
    sleep_energy_uj: float
    avg_power_uw: float
    rate_hz: float
    duty: float  # fraction of time active
    saturated: bool  # the rate asked for exceeds what the latency allows


def duty_cycle(active_mw: float, sleep_mw: float, latency_s: float,
               rate_hz: float | None) -> DutyCycle:
    """The arithmetic in the module docstring (mW * s = mJ; reported in uJ and uW)."""
    if latency_s <= 0:
        raise ValueError("latency must be positive")
    max_rate = 1.0 / latency_s
    saturated = rate_hz is not None and rate_hz > max_rate
    rate = max_rate if rate_hz is None or saturated else rate_hz
    period = 1.0 / rate
    e_active = active_mw * latency_s * 1e3  # uJ
    e_sleep = sleep_mw * max(period - latency_s, 0.0) * 1e3
    energy = e_active + e_sleep
    return DutyCycle(energy, e_active, e_sleep, energy * rate, rate,
                     min(latency_s * rate, 1.0), saturated)


def battery_life_days(battery: Battery, avg_power_uw: float) -> float:
    """Days until ``battery.joules`` are spent at ``avg_power_uw``."""
    if avg_power_uw <= 0:
        return float("inf")
    return battery.joules / (avg_power_uw * 1e-6) / 86400.0
