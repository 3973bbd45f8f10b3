"""Target profiles: every bundled file validates, figures match the cited sources, and bad
user files fail with one clear line.

Expected numbers below are copied by hand from the sources the data files cite (quoted in
the comments), not computed by picojoule.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from picojoule.errors import PicojouleError
from picojoule.targets import (
    SPEED_CLASSES,
    TargetError,
    TargetFileError,
    UnknownTargetError,
    list_targets,
    load_target,
    targets_markdown,
)

REQUIRED = {
    "rp2040", "nrf52840", "stm32l4r5", "stm32f746", "stm32h7a3", "stm32h743", "stm32u585",
    "stm32u575", "stm32u385", "corstone300-m55", "corstone300-u55-128", "corstone300-u55-256",
    "alif-e7-hp", "ra8d1", "esp32s3", "esp32c3",
}
KIB = 1024


# -- every bundled file ---------------------------------------------------------------------
def test_catalogue_has_the_issue_targets():
    names = list_targets()
    assert REQUIRED <= set(names)
    assert names == sorted(names)
    assert all(n == n.lower() for n in names)


@pytest.mark.parametrize("name", list_targets())
def test_bundled_target_loads_and_is_consistent(name):
    t = load_target(name)
    assert t.name == name
    assert t.core.max_mhz > 0 and t.core.points_mhz
    assert max(t.core.points_mhz) <= t.core.max_mhz
    assert t.regions(arena_only=True), "at least one region must hold the arena"
    for r in t.memory:
        assert r.speed in SPEED_CLASSES and r.size > 0
    # fast-first order is monotone in speed class
    ranks = [r.speed_rank for r in t.regions_fast_first()]
    assert ranks == sorted(ranks)
    # every figure that is present names its source; missing ones say so
    for obj in (t.core, t.flash, *t.memory, *([t.npu] if t.npu else [])):
        assert obj.source.strip() or obj.sources, f"{name}: {type(obj).__name__} has no source"
        for fig, src in obj.sources.items():
            assert src.strip(), f"{name}: {fig} has an empty source"
    for p in t.power.active:
        assert p.source.strip() and p.mw_per_mhz > 0 and p.mhz <= t.core.max_mhz
    for s in t.power.sleep:
        assert s.source.strip() and s.power_mw > 0
    if not t.power.active:
        assert t.power.active_missing.lower().startswith("missing")
        with pytest.raises(TargetError, match="no published active power"):
            t.active_power_mw()
    if not t.power.sleep:
        assert t.power.sleep_missing.lower().startswith("missing")
        with pytest.raises(TargetError, match="no published sleep power"):
            t.sleep_power_mw()
    assert sum(s.default for s in t.power.sleep) <= 1


@pytest.mark.parametrize("name", list_targets())
def test_regions_never_overlap(name):
    """Banks that are not contiguous are separate regions; no two may share an address."""
    t = load_target(name)
    for a, b in itertools.combinations(t.memory, 2):
        assert a.base + a.size <= b.base or b.base + b.size <= a.base, (name, a.name, b.name)


@pytest.mark.parametrize(
    "name, gaps",
    [
        # (region, next region) pairs that are NOT contiguous and must stay separate
        ("stm32h743", [("dtcm", "axi_sram"), ("axi_sram", "sram1"), ("sram3", "sram4")]),
        ("stm32h7a3", [("dtcm", "axi_sram1"), ("axi_sram3", "ahb_sram1"),
                       ("ahb_sram2", "srd_sram")]),
        ("stm32u585", [("sram3", "sram4")]),
        ("alif-e7-hp", [("itcm", "sram0"), ("sram0", "sram1"), ("sram1", "dtcm")]),
        ("esp32s3", [("sram2", "sram0_iram")]),
        ("corstone300-m55", [("itcm", "sram"), ("dtcm", "isram")]),
    ],
)
def test_non_contiguous_banks_have_gaps(name, gaps):
    t = load_target(name)
    for first, second in gaps:
        a, b = t.region(first), t.region(second)
        assert a.base + a.size < b.base, f"{name}: {first} and {second} should not touch"


# -- spot checks against the cited sources --------------------------------------------------
def test_stm32l4r5_figures():
    t = load_target("stm32l4r5")
    assert t.core.max_mhz == 120  # DS12023: up to 120 MHz
    assert t.core.dsp and t.core.fpu == "sp" and t.core.mve == "none"
    assert t.flash.size == 2 * 1024 * KIB  # DS12023: 2-Mbyte Flash
    assert t.flash.wait_states == 5  # RM0432: 5 WS at 100-120 MHz, Range 1 boost
    assert t.total_ram_bytes() == 640 * KIB  # DS12023: 640 Kbytes of SRAM
    assert t.region("sram3").base == 0x20040000 and t.region("sram3").size == 384 * KIB
    # Fitted to the MLPerf Tiny runs: 24.8 mA at 1.8 V and 120 MHz = 44.64 mW, linear in f
    assert t.active_power_mw(120) == pytest.approx(44.64)
    assert t.active_power_mw(60) == pytest.approx(22.32)
    assert t.power.regulator == "ldo" and t.active_power_mw(120, 3.0) == pytest.approx(74.4)
    # DS12023: down to 130 nA Standby mode -> 0.13 uA * 3.0 V = 0.39 uW
    assert t.sleep_power_mw() == pytest.approx(0.39e-3)
    # mlcommons/tiny_results_v1.2 ST KWS: 23.155 inf/s -> 43.187 ms, 1820.454 uJ at 1.8 V
    kws = [r for r in t.published if r.model == "kws_dscnn_int8" and "v1.2" in r.system]
    assert len(kws) == 1 and kws[0].latency_ms == 43.187 and kws[0].energy_uj == 1820.45
    assert kws[0].voltage_v == 1.8 and kws[0].power_mw == 42.19


def test_stm32u385_frequency_points_and_sleep_modes():
    t = load_target("stm32u385")
    assert t.core.max_mhz == 96 and t.core.points_mhz == (48.0, 96.0)
    # 16 uA/MHz @ 3.3 V/96 MHz (CoreMark, SMPS): 0.016 * 96 * 3.3 = 5.0688 mW
    assert t.active_power_mw(96) == pytest.approx(5.0688)
    # 13 uA/MHz @ 3.3 V/48 MHz: 0.013 * 48 * 3.3 = 2.0592 mW
    assert t.active_power_mw(48) == pytest.approx(2.0592)
    # below 48 MHz the 48 MHz range figure applies: 0.013 * 24 * 3.3 = 1.0296 mW
    assert t.active_power_mw(24) == pytest.approx(1.0296)
    # between points the higher range's figure applies: 0.016 * 64 * 3.3 = 3.3792 mW
    assert t.active_power_mw(64) == pytest.approx(3.3792)
    # default: 2.2 uA Stop 3 with full SRAM at 3.3 V = 7.26 uW
    assert t.sleep_mode().name == "stop3-full-sram"
    assert t.sleep_power_mw() == pytest.approx(7.26e-3)
    assert t.sleep_power_mw("stop2-8k") == pytest.approx(3.8 * 3.3 * 1e-3)
    assert t.sleep_mode("stop3-8k").retained_bytes == 8 * KIB
    with pytest.raises(TargetError, match="runs at most 96 MHz"):
        t.active_power_mw(120)
    with pytest.raises(TargetError, match="no sleep mode 'hibernate'.*stop3-full-sram"):
        t.sleep_power_mw("hibernate")


def test_stm32u585_and_nrf52840_power():
    # MLPerf Tiny energy runs on the STM32U575 (the U585 without crypto), median power per
    # system (mW, from the runs' energy/results.txt): v0.7 26.76, v1.0 25.58, v1.1 26.41,
    # v1.2 23.18, v1.3 23.44 -> median 25.58, written 25.6 mW; SMPS, so the same at 3.3 V
    u585 = load_target("stm32u585")
    assert u585.active_power_mw() == pytest.approx(25.6)
    assert u585.active_power_mw(80, 3.3) == pytest.approx(12.8)
    assert u585.power.regulator == "smps"
    # nRF52840 PS: 52 uA/MHz from flash (3.3 mA at 64 MHz), at 3 V: 0.052 * 64 * 3 = 9.984 mW
    assert load_target("nrf52840").active_power_mw(64) == pytest.approx(9.984)


def test_stm32h743_memory_map():
    t = load_target("stm32h743")
    assert t.core.fpu == "dp" and t.core.max_mhz == 480
    axi = t.region("axi_sram")
    assert (axi.base, axi.size, axi.speed) == (0x24000000, 512 * KIB, "fast")
    assert (t.region("dtcm").base, t.region("dtcm").size) == (0x20000000, 128 * KIB)
    assert (t.region("sram4").base, t.region("sram4").size) == (0x38000000, 64 * KIB)
    assert not t.region("backup").arena
    # ITCM 64 + DTCM 128 + AXI 512 + SRAM1 128 + SRAM2 128 + SRAM3 32 + SRAM4 64 KiB
    assert t.total_ram_bytes(arena_only=True) == 1056 * KIB
    fast_first = [r.name for r in t.regions_fast_first()]
    assert fast_first[:2] == ["dtcm", "itcm"] and fast_first[2] == "axi_sram"


def test_h7a3_f746_rp2040_ra8d1_sizes():
    h7a3 = load_target("stm32h7a3")
    assert h7a3.core.max_mhz == 280
    sram3 = h7a3.region("axi_sram3")
    assert (sram3.base, sram3.size) == (0x240A0000, 384 * KIB)
    f746 = load_target("stm32f746")
    assert f746.flash.wait_states == 7 and f746.core.max_mhz == 216
    # zephyr stm32f746Xg.dtsi: 320 KiB SRAM from 0x2000_0000 = DTCM 64 + SRAM1 240 + SRAM2 16
    assert sum(f746.region(n).size for n in ("dtcm", "sram1", "sram2")) == 320 * KIB
    rp = load_target("rp2040")
    assert rp.core.count == 2 and not rp.core.dsp and rp.core.fpu == "none"
    assert rp.total_ram_bytes(arena_only=True) == 264 * KIB  # RP2040: 264 kB SRAM
    ra = load_target("ra8d1")
    assert ra.core.mve == "int+float" and ra.core.max_mhz == 480
    assert ra.total_ram_bytes() == 1024 * KIB  # RA8D1: 1 MB SRAM incl. TCM
    assert ra.region("sram0").base == 0x22000000


def test_npu_targets():
    m55 = load_target("corstone300-m55")
    u128 = load_target("corstone300-u55-128")
    u256 = load_target("corstone300-u55-256")
    assert m55.npu is None and not m55.has_npu
    assert (u128.npu.name, u128.npu.macs_per_cycle) == ("Ethos-U55-128", 128)
    assert u256.npu.macs_per_cycle == 256 and u256.npu.clock_mhz == 500
    assert u128.npu.power_mw is None and u128.npu.sources["power"].startswith("missing")
    # extends: the NPU variants inherit the Corstone-300 memory map
    assert [r.name for r in u128.memory] == [r.name for r in m55.memory]
    assert u128.region("isram").size == 2 * 1024 * KIB
    hp = load_target("alif-e7-hp")
    assert hp.npu.macs_per_cycle == 256 and hp.core.max_mhz == 400
    assert hp.region("dtcm").size == 1024 * KIB and hp.region("sram1").size == 2560 * KIB
    he = load_target("alif-e7-he")
    assert he.npu.macs_per_cycle == 128 and he.core.max_mhz == 160


def test_esp32_targets():
    s3 = load_target("esp32s3")
    assert s3.core.simd.startswith("PIE") and s3.core.points_mhz == (80.0, 160.0, 240.0)
    assert s3.regions_fast_first()[-1].name == "psram"
    assert s3.total_ram_bytes(arena_only=True, include_external=False) == 480 * KIB
    assert s3.sleep_power_mw("deep-sleep") == pytest.approx(7 * 3.3e-3)
    c3 = load_target("esp32c3")
    assert c3.core.fpu == "none" and c3.core.max_mhz == 160
    point = c3.active_point()
    assert point.source.startswith("estimate:")  # board-level measurement, not datasheet
    # 26.8 mA at 3.3 V and 160 MHz = 88.44 mW
    assert c3.active_power_mw(160) == pytest.approx(88.44)


# -- user files and errors ------------------------------------------------------------------
MINIMAL = """
name = "myboard"
[core]
name = "Cortex-M4"
arch = "armv7e-m"
max_mhz = 80
source = "my notes"
[[memory]]
name = "sram"
kind = "sram"
base = 0x20000000
size = "96 KiB"
speed = "fast"
arena = true
source = "my notes"
[flash]
kind = "internal"
size = "512 KiB"
source = "my notes"
[power]
sleep_missing = "missing: not measured"
[[power.active]]
mhz = 80
power = "8 mW"
source = "measured on my bench"
"""


def _write(tmp_path: Path, text: str, name: str = "board.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_user_file_loads(tmp_path):
    t = load_target(_write(tmp_path, MINIMAL))
    assert t.name == "myboard" and t.total_ram_bytes() == 96 * KIB
    assert t.active_power_mw(40) == pytest.approx(4.0)  # 8 mW at 80 MHz, linear in f
    assert load_target(str(tmp_path / "board.toml")).name == "myboard"


def test_user_file_extends_bundled(tmp_path):
    text = 'name = "myu585"\nextends = "stm32u585"\n[core]\nmax_mhz = 110\npoints_mhz = [110]\n'
    t = load_target(_write(tmp_path, text))
    assert t.core.max_mhz == 110 and t.core.name == "Cortex-M33"
    assert t.flash.size == 2 * 1024 * KIB


def test_unknown_target_suggests_closest():
    with pytest.raises(UnknownTargetError) as info:
        load_target("stm32l4r6")
    msg = str(info.value)
    assert "unknown target 'stm32l4r6'" in msg and "did you mean 'stm32l4r5'" in msg
    assert "known targets:" in msg and "esp32c3" in msg and "\n" not in msg
    assert isinstance(info.value, PicojouleError)


def test_name_lookup_is_case_insensitive():
    assert load_target("STM32H743").name == "stm32h743"


def test_missing_file():
    with pytest.raises(TargetError, match="target file not found: .*nope.toml"):
        load_target("/nonexistent/nope.toml")


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ('max_mhz = 80\n', "", r"board\.toml: \[core\] missing required field 'max_mhz'"),
        ('size = "96 KiB"', 'size = "96 KB/s"',
         r"board\.toml: \[memory sram\] size: bad size unit 'KB/s'"),
        ('power = "8 mW"', "power = 8", r"\[power\.active 0\] power: 8 needs a unit"),
        ('power = "8 mW"', 'power = "8 mA"', r"bad unit 'mA' in '8 mA' for a power"),
        ('power = "8 mW"', 'current = "3 mA"',
         r"\[power\.active 0\] missing required field 'voltage'"),
        ('speed = "fast"', 'speed = "quick"',
         r"\[memory sram\] speed: 'quick' is not one of tcm, fast, bus, external"),
        ('arena = true\nsource = "my notes"', "arena = true",
         r"\[memory sram\] figure 'base' has no source"),
        ('sleep_missing = "missing: not measured"\n', "",
         r"\[power\] has no \[\[power\.sleep\]\] mode"),
        ('max_mhz = 80', 'max_mhz = 80\npoints_mhz = [100]',
         r"points_mhz\[0\] = 100 exceeds max_mhz = 80"),
        ('name = "myboard"', 'name = "MyBoard"', r"name 'MyBoard' must be lower-case"),
        ('[flash]', '[flash\n', r"board\.toml: not valid TOML"),
    ],
)
def test_bad_user_file_messages(tmp_path, old, new, expected):
    assert old in MINIMAL
    path = _write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(TargetFileError, match=expected) as info:
        load_target(path)
    assert "\n" not in str(info.value)


def test_overlapping_regions_rejected(tmp_path):
    extra = (
        '[[memory]]\nname = "sram_b"\nkind = "sram"\nbase = 0x20010000\nsize = "64 KiB"\n'
        'speed = "fast"\narena = true\nsource = "my notes"\n'
    )
    text = MINIMAL.replace("[flash]", extra + "[flash]")
    with pytest.raises(TargetFileError, match="memory regions sram .* and sram_b .* overlap"):
        load_target(_write(tmp_path, text))


def test_source_for_absent_figure_must_say_missing(tmp_path):
    text = MINIMAL.replace('size = "512 KiB"', 'size = "512 KiB"\nwait_states_source = "RM"')
    with pytest.raises(TargetFileError, match="wait_states_source is given but 'wait_states' is"):
        load_target(_write(tmp_path, text))


# -- generated documentation ----------------------------------------------------------------
def test_docs_targets_md_is_up_to_date():
    doc = Path(__file__).resolve().parents[1] / "docs" / "targets.md"
    text = targets_markdown()
    assert "| `stm32l4r5` |" in text and "44.6 mW @ 120 MHz" in text
    assert doc.read_text() == text, "regenerate docs/targets.md from targets_markdown()"


# -- run-mode figures added from datasheet tables -----------------------------------------
def test_stm32f746_active_power_from_ds10916_table26():
    # DS10916 Rev 5 Table 26 (flash, ART/L1 cache ON, all peripherals disabled), VDD 3.3 V:
    # 108 mA at 216 MHz -> 108 x 3.3 = 356.4 mW; 89 mA at 180 MHz -> 293.7 mW
    t = load_target("stm32f746")
    assert t.active_power_mw(216) == pytest.approx(356.4)
    assert t.active_power_mw(180) == pytest.approx(293.7)


def test_stm32h743_active_power_from_ds12110_table130():
    # DS12110 Rev 10 Table 130 (rev V, flash, cache ON, LDO, all peripherals disabled), VDD 3.3 V:
    # 110 mA at 480 MHz (VOS0) -> 110 x 3.3 = 363.0 mW; 80 mA at 400 MHz (VOS1) -> 264.0 mW
    t = load_target("stm32h743")
    assert t.active_power_mw(480) == pytest.approx(363.0)
    assert t.active_power_mw(400) == pytest.approx(264.0)
    assert t.power.regulator == "ldo"


def test_esp32s3_active_power_from_modem_sleep_table():
    # ESP32-S3 Series Datasheet Table 5-9: 240 MHz, one core running 32-bit data access,
    # peripheral clocks disabled: 51.2 mA at 3.3 V -> 51.2 x 3.3 = 168.96 mW
    assert load_target("esp32s3").active_power_mw(240) == pytest.approx(168.96)


def test_rp2040_active_power_from_popcorn_dvdd_current():
    # RP2040 Datasheet power-consumption table: Popcorn at 48 MHz, typical DVDD 10.9 mA,
    # drawn from VREG_VIN at 3.3 V -> 10.9 x 3.3 = 35.97 mW; linear to 125 MHz:
    # 35.97 x 125 / 48 = 93.671875 mW
    t = load_target("rp2040")
    assert t.active_power_mw(48) == pytest.approx(35.97)
    assert t.active_power_mw(125) == pytest.approx(93.671875)
