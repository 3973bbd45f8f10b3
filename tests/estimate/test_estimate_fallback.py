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


def test_float_kws_uses_the_float_kernel_fit() -> None:
    # The float32 KWS is never seen by the latency fit (float single-op banks only). On the
    # emulated Cortex-M4 (`picojoule run kws_dscnn_float32.tflite --backend qemu-m4 --json`)
    # one inference takes 34,465,600 instructions; the STM32L4R5's fitted model (Cortex-M4)
    # must predict it within 10%, say the method is fitted, and warn that its CPI was made
    # for integer loops.
    from pathlib import Path

    from picojoule.estimate import METHOD_FITTED, estimate

    models = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
    f32 = estimate(models / "kws_dscnn_float32.tflite", "stm32l4r5")
    assert f32["method"] == METHOD_FITTED
    assert abs(f32["instructions"] / 34_465_600 - 1) <= 0.10, f32["instructions"]
    assert any("pj_dwconv_f32" in w and "integer loops" in w for w in f32["warnings"])


def test_int16_kernel_is_not_priced_with_the_int8_fit() -> None:
    # An int16x8 FULLY_CONNECTED (64 x 10) runs pj_conv_s16, which the fit does not cover.
    # The op's int8 fit would price it at 1.87 instructions per MAC; the rough figure is
    # 4 per MAC + 30 per output + 100: 4 * 640 + 30 * 10 + 100 = 2,960, and the method and
    # the warning say so.
    from picojoule.estimate import METHOD_PARTLY, estimate

    m = fc_model(int16=True)
    r = estimate(m, "stm32l4r5")
    assert r["method"] == METHOD_PARTLY
    assert r["instructions"] == 2960
    assert any("pj_conv_s16" in w and "int8 and float32 kernels" in w for w in r["warnings"])
