"""The power model fitted to published energy runs (picojoule.estimate.power): the fit and
the leave-one-system-out prediction on hand-made runs, the target files against the fit, and
the published runs against their own arithmetic."""

from __future__ import annotations

import pytest

from helpers_estimate import BASE
from picojoule.estimate.power import (fit, fits, leave_one_system_out, predict_mw,
                                      run_regulator, usable_runs)
from picojoule.targets import PublishedRun, list_targets, load_target


def _run(system: str, mw: float, volts: float, platform: str = "bare-metal",
         ms: float = 10.0, uj: float | None = None,
         regulator: str | None = None) -> PublishedRun:
    return PublishedRun(system=system, model="m", mhz=100, latency_ms=ms,
                        energy_uj=uj if uj is not None else mw * ms, source="hand",
                        power_mw=mw, voltage_v=volts, platform=platform,
                        regulator=regulator)


def test_ldo_fit_by_hand() -> None:
    # Currents: A 20 mA (two runs: 36 mW and 36 mW at 1.8 V), B 30 mA (90 mW at 3 V),
    # C 25 mA; Zephyr D 30 mA. Reference = median(20, 30, 25) = 25 mA; zephyr = 30 / 25.
    runs = [_run("A", 36, 1.8), _run("A", 36, 1.8), _run("B", 90, 3.0), _run("C", 45, 1.8),
            _run("D", 54, 1.8, "zephyr")]
    f = fit(runs, "ldo")
    assert f.reference == pytest.approx(25.0) and f.unit == "mA"
    assert f.factors == {"bare-metal": 1.0, "zephyr": pytest.approx(1.2)}
    assert predict_mw(f, 3.3, "zephyr") == pytest.approx(25 * 3.3 * 1.2)


def test_other_pooling_statistics_by_hand() -> None:
    # SMPS levels: A 100 and 400 mW (median 250), B 160. Geometric mean of the system
    # medians: sqrt(250 * 160) = 200; of the runs: (100 * 400 * 160) ** (1/3) = 184.2;
    # the fit's median of the two system medians: (250 + 160) / 2 = 205.
    runs = [_run("A", 100, 3.0), _run("A", 400, 3.0), _run("B", 160, 3.0)]
    assert fit(runs, "smps").reference == pytest.approx(205.0)
    assert fit(runs, "smps", "geometric mean of system medians").reference == \
        pytest.approx(200.0)
    assert fit(runs, "smps", "geometric mean of runs").reference == \
        pytest.approx(6_400_000 ** (1 / 3))


def test_smps_fit_ignores_voltage() -> None:
    runs = [_run("A", 100, 3.3), _run("B", 140, 3.0), _run("C", 120, 1.8)]
    f = fit(runs, "smps")
    assert f.reference == pytest.approx(120.0) and f.unit == "mW"
    assert predict_mw(f, 3.3, None) == pytest.approx(120.0)


def _chip(tmp_path, runs, active: str, regulator: str = "ldo"):
    body = "".join(
        f'[[published]]\nsystem = "{s}"\nmodel = "m"\nmhz = 100\nlatency_ms = 10\n'
        f'energy_uj = {mw * 10}\npower_mw = {mw}\nvoltage = "{v} V"\nplatform = "{p}"\n'
        + (f'regulator = "{reg}"\n' if reg else "") + 'source = "hand"\n\n'
        for s, mw, v, p, reg in runs)
    path = tmp_path / "chip.toml"
    path.write_text(BASE.format(name="chip") + f'[power]\nregulator = "{regulator}"\n'
                    'regulator_source = "hand"\nsleep_missing = "missing: hand"\n'
                    + active + body)
    return load_target(path)


LDO_RUNS = [("A", 36, 1.8, "bare-metal", None), ("B", 90, 3.0, "bare-metal", None),
            ("C", 45, 1.8, "bare-metal", None), ("D", 54, 1.8, "zephyr", None)]
FITTED_25MA = ('[[power.active]]\nmhz = 100\ncurrent = "25 mA"\nvoltage = "1.8 V"\n'
               'source = "fitted: hand"\n')


def test_leave_one_system_out_by_hand(tmp_path) -> None:
    # Holding out A (20 mA): the others give median(30, 25) = 27.5 mA -> 49.5 mW at 1.8 V,
    # x 10 ms = 495 uJ vs 360 published. Holding out D (the only zephyr system): left out.
    t = _chip(tmp_path, LDO_RUNS, FITTED_25MA)
    preds = {p.run.system: p for p in leave_one_system_out(t)}
    assert set(preds) == {"A", "B", "C"}
    assert preds["A"].power_mw == pytest.approx(49.5)
    assert preds["A"].ratio == pytest.approx(495 / 360)
    # B (30 mA at 3 V) from median(20, 25) = 22.5 mA -> 67.5 mW vs 90 measured
    assert preds["B"].ratio == pytest.approx(67.5 / 90)
    assert preds["B"].basis == "refit without this system"


def test_a_datasheet_figure_predicts_runs_as_it_is(tmp_path) -> None:
    # A figure not fitted to runs (source not "fitted:") never saw them: 25 mA x 1.8 V =
    # 45 mW predicts every run, including the one system (no refit needed); A: 450 / 360.
    t = _chip(tmp_path, LDO_RUNS[:1], '[[power.active]]\nmhz = 100\ncurrent = "25 mA"\n'
              'voltage = "1.8 V"\nsource = "a datasheet"\n')
    (p,) = leave_one_system_out(t)
    assert p.fit is None and p.power_mw == pytest.approx(45.0)
    assert p.ratio == pytest.approx(450 / 360) and "not fitted" in p.basis


def test_supply_paths_are_fitted_apart(tmp_path) -> None:
    # Two LDO systems (20 and 30 mA) and two SMPS ones (33 and 35 mW at 3 V): the LDO fit is
    # median(20, 30) = 25 mA, the SMPS one median(33, 35) = 34 mW; holding out the SMPS
    # system E leaves only F (35 mW) on its path: E's runs are predicted at 35 mW.
    runs = [("A", 36, 1.8, "bare-metal", None), ("B", 54, 1.8, "bare-metal", None),
            ("E", 33, 3.0, "bare-metal", "smps"), ("F", 35, 3.0, "bare-metal", "smps")]
    t = _chip(tmp_path, runs, FITTED_25MA)
    assert [run_regulator(r, t) for r in t.published] == ["ldo", "ldo", "smps", "smps"]
    f = fits(t)
    assert list(f) == ["ldo", "smps"]
    assert f["ldo"].reference == pytest.approx(25.0)
    assert f["smps"].reference == pytest.approx(34.0) and f["smps"].unit == "mW"
    preds = {p.run.system: p for p in leave_one_system_out(t)}
    assert preds["E"].power_mw == pytest.approx(35.0)
    assert preds["A"].power_mw == pytest.approx(30 * 1.8)


@pytest.mark.parametrize("name", [n for n in list_targets()
                                  if usable_runs(load_target(n).published)])
def test_target_file_carries_the_fit(name: str) -> None:
    """Re-run scripts/fit_power.py and copy its figures when this fails."""
    t = load_target(name)
    checked = 0
    for regulator, f in fits(t).items():
        points = [a for a in t.power.active if t.point_regulator(a) == regulator]
        assert points, f"no [[power.active]] for the {regulator} runs"
        top = max(points, key=lambda a: a.mhz)
        if not top.fitted:
            continue  # a datasheet figure: the runs check it (bench_estimate bar 2)
        level = top.mw_per_mhz * top.mhz / (top.voltage_v if f.regulator == "ldo" else 1.0)
        assert level == pytest.approx(f.reference, rel=5e-3)
        checked += 1
        if regulator != (t.power.regulator or "ldo"):
            continue  # platform factors come from the default path's runs
        for p in t.power.platforms:
            assert p.factor == pytest.approx(f.factors[p.name], abs=6e-4)
        assert {p.name for p in t.power.platforms} == set(f.factors) - {"bare-metal"}
    assert checked or name == "stm32u385"


@pytest.mark.parametrize("name", ["stm32l4r5", "stm32h7a3", "stm32u575", "stm32u385"])
def test_published_runs_are_self_consistent(name: str) -> None:
    # Each run's measured power x the energy run's own latency gives its energy (the
    # relation the energy monitor computes): a check of what scripts/mlperf_tiny_runs.py
    # extracted, independent of picojoule's model.
    runs = usable_runs(load_target(name).published)
    assert len(runs) >= 4
    for r in runs:
        assert r.power_mw * r.energy_latency_ms == pytest.approx(r.energy_uj, rel=0.02), r
        assert r.voltage_v in (1.8, 3.0, 3.3) and r.platform in ("bare-metal", "mbed-os",
                                                                 "zephyr")
