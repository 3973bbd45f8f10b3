"""Energy, duty cycle and battery arithmetic, checked against numbers worked out by hand."""

from __future__ import annotations

import pytest

from helpers_estimate import fc_model, write_target
from picojoule.errors import InputError
from picojoule.estimate import estimate
from picojoule.estimate.energy import (
    BATTERIES,
    battery_life_days,
    duty_cycle,
    parse_battery,
    parse_rate,
)
from picojoule.targets import TargetError


def test_duty_cycle_by_hand() -> None:
    # 10 mW for 50 ms = 500 uJ; sleep 10 uW for the other 950 ms = 9.5 uJ; at 1/s the
    # average power is 509.5 uW; a CR2032 (2,430 J) lasts 2430 / 509.5e-6 s = 55.2012 days.
    dc = duty_cycle(active_mw=10.0, sleep_mw=0.01, latency_s=0.05, rate_hz=1.0)
    assert dc.active_energy_uj == pytest.approx(500.0)
    assert dc.sleep_energy_uj == pytest.approx(9.5)
    assert dc.energy_uj == pytest.approx(509.5)
    assert dc.avg_power_uw == pytest.approx(509.5)
    assert dc.duty == pytest.approx(0.05)
    assert battery_life_days(BATTERIES["cr2032"], dc.avg_power_uw) == pytest.approx(55.2012,
                                                                                   rel=1e-5)


def test_back_to_back_and_saturated_rate() -> None:
    dc = duty_cycle(10.0, 0.01, 0.05, None)  # no rate: 20/s, never sleeps
    assert dc.rate_hz == pytest.approx(20.0) and dc.sleep_energy_uj == 0.0
    assert dc.avg_power_uw == pytest.approx(10_000.0)
    sat = duty_cycle(10.0, 0.01, 0.05, 100.0)  # asks for 100/s, can do 20/s
    assert sat.saturated and sat.rate_hz == pytest.approx(20.0)
    # AA alkaline: 2.85 Ah * 1.5 V = 15,390 J; at 10 mW: 1,539,000 s = 17.8125 days.
    assert battery_life_days(BATTERIES["aa"], 10_000.0) == pytest.approx(17.8125)


def test_parse_battery_and_rate() -> None:
    assert parse_battery("CR2032").joules == pytest.approx(2430.0)
    assert parse_battery("cr2032").max_continuous_ma == 3.0
    assert parse_battery("AA").joules == pytest.approx(15390.0)
    assert parse_battery("500J").joules == 500.0
    assert parse_battery("2.4 kJ").joules == pytest.approx(2400.0)
    assert parse_battery("1Wh").joules == pytest.approx(3600.0)
    with pytest.raises(InputError):
        parse_battery("lemon")
    assert parse_rate("1/s") == 1.0
    assert parse_rate("10/min") == pytest.approx(1 / 6)
    assert parse_rate("1/h") == pytest.approx(1 / 3600)
    assert parse_rate("5Hz") == 5.0
    assert parse_rate(2) == 2.0
    with pytest.raises(InputError):
        parse_rate("fast")
    with pytest.raises(InputError):
        parse_rate("0/s")


def test_estimate_with_hand_set_latency_model(tmp_path) -> None:
    # FC 64 -> 10 on pj_fc_s8_dsp: 3 blocks of 4 rows x 16 groups of 4 inputs = 48 groups,
    # 64 inputs. Instructions = 16 * 48 + 8 * 64 + 1000 = 2,280; cycles = 1.5 * 2,280 =
    # 3,420 (no flash wait states in the file); at 100 MHz 34.2 us; 10 mW * 34.2 us =
    # 0.342 uJ. At 10/s: sleep 1 uW * (0.1 s - 34.2 us) = 0.0999658 uJ; E = 0.4419658 uJ;
    # average power 4.419658 uW; 500 J last 500 / 4.419658e-6 s = 1,309,372 days.
    path = write_target(tmp_path, "handchip", power=True, latency=True)
    r = estimate(fc_model(), path, mhz=100, rate_hz="10/s", battery="500J")
    assert r["method"] == "fitted kernel model"
    assert r["instructions"] == 2280 and r["cycles"] == 3420
    assert r["latency_ms"] == pytest.approx(0.0342)
    assert r["active_energy_uj"] == pytest.approx(0.342)
    assert r["sleep_energy_uj"] == pytest.approx(0.0999658)
    assert r["energy_uj"] == pytest.approx(0.4419658)
    assert r["avg_power_uw"] == pytest.approx(4.419658)
    assert r["battery_life_days"] == pytest.approx(500 / 4.419658e-6 / 86400)
    assert len(r["ops"]) == 1 and r["ops"][0]["share"] == pytest.approx(1.0)
    assert r["ops"][0]["latency_ms"] == pytest.approx(0.0342)
    assert "active_power" in r["sources"] and "cpi" in r["sources"]
    # Half the clock: twice the time at the same energy (power scales with MHz).
    h = estimate(fc_model(), path, mhz=50)
    assert h["latency_ms"] == pytest.approx(0.0684)
    assert h["active_energy_uj"] == pytest.approx(0.342)


def test_peak_current_warning_on_a_coin_cell() -> None:
    # STM32L4R5 at 120 MHz: 24.8 mA at 1.8 V (its file's measured figure), above a CR2032's
    # ~3 mA (drawn from the 3 V cell through an ideal regulator: 44.64 mW / 3 V = 14.9 mA).
    r = estimate(fc_model(), "stm32l4r5", mhz=120, rate_hz=1, battery="CR2032")
    assert r["peak_current_ma"] == pytest.approx(24.8)
    assert any("peak current 14.9 mA" in w for w in r["warnings"])
    assert any("exceeds the CR2032" in w for w in r["warnings"])
    r = estimate(fc_model(), "stm32l4r5", mhz=120, rate_hz=1, battery="AA")
    assert not any("exceeds" in w for w in r["warnings"])


def test_supply_voltage_and_platform() -> None:
    # L4R5 (LDO): 24.8 mA at 120 MHz whatever the supply; at 3.0 V 74.4 mW; under Zephyr
    # x 1.163 = 86.5272 mW. Standby 130 nA at 3.0 V -> 0.39 uW; at 1.8 V 0.234 uW.
    base = estimate(fc_model(), "stm32l4r5", mhz=120, rate_hz=1)
    assert base["active_power_mw"] == pytest.approx(44.64) and base["volts"] == 1.8
    assert base["platform"] == "bare-metal" and "supply_voltage" not in base["sources"]
    assert base["sleep_power_uw"] == pytest.approx(0.234)
    r = estimate(fc_model(), "stm32l4r5", mhz=120, rate_hz=1, volts=3.0, platform="zephyr")
    assert r["active_power_mw"] == pytest.approx(74.4 * 1.163)
    assert r["peak_current_ma"] == pytest.approx(24.8 * 1.163)
    assert r["sleep_power_uw"] == pytest.approx(0.39)
    assert r["latency_ms"] == base["latency_ms"]
    assert "LDO" in r["sources"]["supply_voltage"] and "zephyr" in r["sources"]["platform"]
    # H7A3 (SMPS): the input power stays 147.1 mW at 3.3 V.
    h = estimate(fc_model(), "stm32h7a3", volts=3.3)
    assert h["active_power_mw"] == pytest.approx(147.1)
    assert "SMPS" in h["sources"]["supply_voltage"]
    # L4R5xxP from its external SMPS: 33.2 mW at 120 MHz whatever the supply; 60 MHz: 16.6
    p = estimate(fc_model(), "stm32l4r5", mhz=60, volts=3.3, regulator="smps")
    assert p["active_power_mw"] == pytest.approx(16.6) and p["regulator"] == "smps"
    assert "SMPS" in p["sources"]["supply_voltage"] and "L4R5xxP" in p["sources"]["regulator"]
    assert base["regulator"] == "ldo"
    with pytest.raises(TargetError, match="no active-power figure for regulator 'ldo'"):
        estimate(fc_model(), "stm32h7a3", regulator="ldo")
    with pytest.raises(TargetError, match="unknown regulator 'buck'"):
        estimate(fc_model(), "stm32l4r5", regulator="buck")
    with pytest.raises(TargetError, match="no power figure for platform 'freertos'"):
        estimate(fc_model(), "stm32l4r5", platform="freertos")
    with pytest.raises(TargetError, match="supply voltage must be 0.5-6 V"):
        estimate(fc_model(), "stm32l4r5", volts=12)


def test_input_output_copies_are_a_row_of_their_own(tmp_path) -> None:
    # The hand-set file of test_estimate_with_hand_set_latency_model plus an io_copies fit of
    # 0.5 per byte and 10 per copy: fc_model copies 64 input and 10 output bytes, so
    # 2,280 + 0.5 * 74 + 10 * 2 = 2,337 instructions; the copies' row has no node index.
    path = write_target(tmp_path, "iochip", power=True, latency=True)
    path.write_text(path.read_text() + "[latency.kernels.io_copies]\nbytes = 0.5\ncopies = 10.0\n")
    r = estimate(fc_model(), path, mhz=100)
    assert r["instructions"] == 2337
    io = r["ops"][-1]
    assert io["op"] == "COPY_IO" and io["index"] is None and io["instructions"] == 57
    assert [o["index"] for o in r["ops"][:-1]] == [0]
