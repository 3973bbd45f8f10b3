"""The fallback path (no fitted model, no power figure) and every catalogue target."""

from __future__ import annotations

import json

import pytest

from helpers_estimate import fc_model, write_target
from picojoule.estimate import METHOD_FALLBACK, estimate
from picojoule.targets import list_targets


def test_fallback_without_power_or_latency(tmp_path) -> None:
    # 640 MACs = 1,280 ops. Latency: 1 cycle per op at 100 MHz = 12.8 us. Energy: 1,280 *
    # 5 pJ = 6,400 pJ = 0.0064 uJ.
    path = write_target(tmp_path, "bare", power=False, latency=False)
    r = estimate(fc_model(), path, mhz=100)
    assert r["method"] == METHOD_FALLBACK
    assert r["op_count"] == 1280
    assert r["latency_ms"] == pytest.approx(0.0128)
    assert r["energy_uj"] == pytest.approx(0.0064)
    assert "pj_per_op" in r["sources"] and "cycles_per_op" in r["sources"]
    assert any("no fitted latency model" in w for w in r["warnings"])
    assert any("no published active power" in w for w in r["warnings"])


def test_fallback_energy_with_fitted_latency(tmp_path) -> None:
    # Fitted latency (34.2 us, see test_estimate_energy) but no power: energy is still
    # 1,280 ops * 5 pJ = 0.0064 uJ, and the method says fallback.
    path = write_target(tmp_path, "nopower", power=False, latency=True)
    r = estimate(fc_model(), path, mhz=100, rate_hz=1)
    assert r["method"] == METHOD_FALLBACK
    assert r["latency_ms"] == pytest.approx(0.0342)
    assert r["energy_uj"] == pytest.approx(0.0064)
    assert any("no published sleep power" in w for w in r["warnings"])


@pytest.mark.parametrize("name", list_targets())
def test_every_target_estimates_with_sources(name: str) -> None:
    r = estimate(fc_model(), name, rate_hz="1/s", battery="CR2032")
    json.dumps(r)  # --json must serialise
    for key in ("latency_ms", "energy_uj", "avg_power_uw", "battery_life_days", "ops"):
        assert r[key] is not None, key
    assert r["latency_ms"] > 0 and r["energy_uj"] > 0
    assert r["sources"] and all(isinstance(v, str) and v for v in r["sources"].values())
    assert r["method"] in ("fitted kernel model", METHOD_FALLBACK)
