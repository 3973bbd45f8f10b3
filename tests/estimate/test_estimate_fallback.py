"""The fallback path (no fitted model, no power figure) and every catalogue target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
    # The float32 KWS (float activations; its convolutions are LiteRT hybrid layers with int8
    # weights) is never seen by the latency fit (float single-op banks only). On the
    # emulated Cortex-M4 (`picojoule run kws_dscnn_float32.tflite --backend qemu-m4 --json`)
    # one inference takes 13,987,680 instructions; the STM32L4R5's fitted model (Cortex-M4)
    # must predict it within 10%, say the method is fitted, and warn that its CPI was made
    # for integer loops.
    from picojoule.estimate import METHOD_FITTED, estimate

    models = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
    f32 = estimate(models / "kws_dscnn_float32.tflite", "stm32l4r5")
    assert f32["method"] == METHOD_FITTED
    assert abs(f32["instructions"] / 13_987_680 - 1) <= 0.10, f32["instructions"]
    assert any("pj_dwconv_f32" in w and "integer loops" in w for w in f32["warnings"])


def test_int16_kernel_is_not_priced_with_the_int8_op_fit(tmp_path) -> None:
    # The test target's file fits pj_fc_s8 and the FULLY_CONNECTED op (2 instructions per
    # MAC + 1,000), not pj_conv_s16, the kernel an int16x8 FULLY_CONNECTED (64 x 10) runs.
    # The int8 op fit must not stand in for it: the rough figure is 4 per MAC + 30 per output
    # + 100 = 4 * 640 + 30 * 10 + 100 = 2,960 instructions, and the method and warning say so.
    from picojoule.estimate import METHOD_PARTLY, estimate

    path = write_target(tmp_path, "fit8", power=True, latency=True)
    r = estimate(fc_model(int16=True), path, mhz=100)
    assert r["method"] == METHOD_PARTLY
    assert r["instructions"] == 2960
    assert any("pj_conv_s16" in w and "int8, int16x8 and float32 kernels" in w
               for w in r["warnings"])
    # The int8 layer on the same file takes its kernel's fit: 16 * 48 groups + 8 * 64
    # inputs + 1,000.
    assert estimate(fc_model(), path, mhz=100)["instructions"] == 2280


def test_int16_kws_uses_the_int16_kernel_fit() -> None:
    # An int16x8 KWS (picojoule's quantizer on the float32 KWS, 8 seeded N(0, 1) calibration
    # inputs): on the emulated Cortex-M4 (`picojoule run kws_int16.tflite --backend qemu-m4
    # --json`) one inference takes 50,338,840 instructions. The STM32L4R5's file, whose fit
    # never saw the model, must predict it within 10%.
    from pathlib import Path

    from picojoule.estimate import METHOD_FITTED, estimate
    from picojoule.importers import load_model
    from picojoule.quantize import quantize_model

    models = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
    fm = load_model(models / "kws_dscnn_float32.tflite")
    rng = np.random.default_rng(0)
    cal = [rng.standard_normal((1, 49, 10, 1)).astype(np.float32) for _ in range(8)]
    qm, _ = quantize_model(fm, cal, scheme="int16x8", int_io=True, progress=False)
    r = estimate(qm, "stm32l4r5")
    assert r["method"] == METHOD_FITTED
    assert abs(r["instructions"] / 50_338_840 - 1) <= 0.10, r["instructions"]


def test_unfitted_kernels_without_macs_still_mark_the_method() -> None:
    # An int16 -> int32 CAST of 4,096 elements runs pj_cast, which is outside the fit and has
    # no MACs: nearly all the time is the rough figure, so the method must say so; a large
    # network whose kernels are all fitted stays "fitted".
    from opkit import single_op_model, tensor

    from picojoule.estimate import METHOD_FITTED, METHOD_PARTLY, estimate

    x = tensor("x", (1, 64, 64), "int16")
    y = tensor("y", (1, 64, 64), "int32")
    r = estimate(single_op_model("CAST", [x], [y]), "stm32l4r5")
    assert r["method"] == METHOD_PARTLY
    assert any("pj_cast" in w for w in r["warnings"])
    models = Path(__file__).resolve().parents[3] / "shared" / "models"
    vww = estimate(models / "mlperf_tiny" / "vww_mobilenetv1_96_int8.tflite", "stm32l4r5")
    assert vww["method"] == METHOD_FITTED
