"""sweep: 2 models x 4 targets locally (table + PNG) and on a local Ray instance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from picojoule.estimate.sweep import format_table, pareto, ray_available, sweep

MODELS = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
PAIR = [MODELS / "kws_dscnn_int8.tflite", MODELS / "ad_toycar_fcae_int8.tflite"]
TARGETS = ["stm32l4r5", "stm32u585", "nrf52840", "esp32c3"]


def test_sweep_local_table_and_plot(tmp_path) -> None:
    png = tmp_path / "pareto.png"
    rows = sweep(PAIR, TARGETS, mhzs=None, jobs=2, progress=False, plot=png)
    assert len(rows) == 8
    assert {(r["model"], r["target"]) for r in rows} == {
        (m.stem, t) for m in PAIR for t in TARGETS}
    assert all(r["latency_ms"] > 0 and r["avg_power_uw"] > 0 for r in rows)
    assert any(r["pareto"] for r in rows)
    table = format_table(rows)
    assert len(table.splitlines()) == 10 and "stm32u585" in table
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_sweep_frequencies_and_accuracy_column(tmp_path) -> None:
    rows = sweep(PAIR[1:], ["stm32u585"], mhzs="points", jobs=1, progress=False,
                 dataset=lambda m: 0.9)
    assert [r["mhz"] for r in rows] == [25.0, 55.0, 110.0, 160.0]
    assert all(r["accuracy"] == 0.9 for r in rows)
    # Higher clock: faster, and here (uA/MHz constant) the same energy per inference.
    assert rows[-1]["latency_ms"] < rows[0]["latency_ms"]


def test_pareto_by_hand() -> None:
    rows = [{"model": "m", "inferences_per_s": 10, "avg_power_uw": 100},
            {"model": "m", "inferences_per_s": 5, "avg_power_uw": 200},  # dominated
            {"model": "m", "inferences_per_s": 20, "avg_power_uw": 400}]
    assert [r["pareto"] for r in pareto(rows)] == [True, False, True]


@pytest.mark.skipif(ray_available() is not None, reason=str(ray_available()))
def test_sweep_on_local_ray() -> None:
    rows = sweep(PAIR, TARGETS, jobs=1, ray_address="local", progress=False)
    assert len(rows) == 8 and all(r["latency_ms"] > 0 for r in rows)


def test_fallback_rows_are_not_ranked_against_fitted_ones() -> None:
    fitted, rough = "fitted kernel model", "fallback: op count x pJ/op"
    rows = [{"model": "m", "inferences_per_s": 10, "avg_power_uw": 100, "method": fitted},
            {"model": "m", "inferences_per_s": 50, "avg_power_uw": 1, "method": rough},
            {"model": "n", "inferences_per_s": 5, "avg_power_uw": 9, "method": rough},
            {"model": "n", "inferences_per_s": 4, "avg_power_uw": 10, "method": rough}]
    pareto(rows)
    # m: the fallback row would dominate, but only the fitted one is ranked; n: all
    # fallback, ranked among themselves (the second is dominated).
    assert [r["pareto"] for r in rows] == [True, False, True, False]
    assert [r["ranked"] for r in rows] == [True, False, True, True]
    for r in rows:
        r.update(target="t", mhz=1, latency_ms=1.0, energy_uj=1.0)
    table = format_table(rows).splitlines()
    assert table[3].startswith("?") and "not ranked" in table[-1]


def test_sweep_supply_options_reach_every_job() -> None:
    # The STM32L4R5 file's figures: 24.8 mA from its LDO (any supply voltage: the current is
    # kept), 33.2 mW from the external SMPS of the L4R5xxP part.
    kws = PAIR[:1]
    ldo = sweep(kws, ["stm32l4r5"], jobs=1, progress=False, volts=3.3)
    smps = sweep(kws, ["stm32l4r5"], jobs=1, progress=False, regulator="smps")
    assert ldo[0]["active_power_mw"] == pytest.approx(24.8 * 3.3)
    assert (ldo[0]["volts"], ldo[0]["regulator"]) == (3.3, "ldo")
    assert smps[0]["active_power_mw"] == pytest.approx(33.2)
    assert smps[0]["regulator"] == "smps"
    assert smps[0]["latency_ms"] == pytest.approx(ldo[0]["latency_ms"])
    assert "3.3" in format_table(ldo) and "smps" in format_table(smps)


def test_sweep_option_a_target_lacks_fails_before_any_job() -> None:
    from picojoule.errors import InputError

    # The model path does not exist: had a job started, the error would be about the file.
    missing = MODELS / "no_such_model.tflite"
    with pytest.raises(InputError, match=r"stm32h743 has no active-power figure for "
                       r"regulator 'smps'"):
        sweep([missing], ["stm32l4r5", "stm32h743"], jobs=1, progress=False, regulator="smps")
    with pytest.raises(InputError, match=r"stm32h743 has no power figure for platform"):
        sweep([missing], ["stm32l4r5", "stm32h743"], jobs=1, progress=False,
              platform="zephyr")


def test_sweep_takes_onnx_models(tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((16, 8), np.float32), "W")
    node = helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])], [w])
    path = tmp_path / "fc.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(path))
    rows = sweep([path, PAIR[1]], ["stm32l4r5"], jobs=2, progress=False)
    assert sorted(r["model"] for r in rows) == ["ad_toycar_fcae_int8", "fc"]
    assert all(r["latency_ms"] > 0 for r in rows)


def test_sweep_clocks_a_target_cannot_run() -> None:
    from picojoule.errors import InputError
    from picojoule.estimate.sweep import skipped_clocks

    # The STM32L4R5 runs at most 120 MHz, the STM32H743 480 MHz.
    rows = sweep(PAIR[1:], ["stm32l4r5", "stm32h743"], mhzs=[64, 480], jobs=1,
                 progress=False)
    assert sorted((r["target"], r["mhz"]) for r in rows) == [
        ("stm32h743", 64.0), ("stm32h743", 480.0), ("stm32l4r5", 64.0)]
    assert skipped_clocks(["stm32l4r5", "stm32h743"], [64, 480]) == [
        "stm32l4r5 skips 480 MHz (it runs at most 120 MHz)"]
    with pytest.raises(InputError, match="stm32l4r5 runs at most 120 MHz"):
        sweep(PAIR[1:], ["stm32l4r5"], mhzs=[500], jobs=1, progress=False)
    with pytest.raises(InputError, match="positive"):
        sweep(PAIR[1:], ["stm32l4r5"], mhzs=[0, 64], jobs=1, progress=False)


@pytest.mark.parametrize("make, message", [
    (None, "cannot read it"),
    (lambda p: p.write_text("not numpy"), "not an .npz archive"),
    (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3)) or
     p.with_suffix(".npy").rename(p), "one array"),
    (lambda p: np.savez(p, a=np.zeros(3)), "needs arrays 'x'"),
    (lambda p: np.savez(p, x=np.zeros((2, 5), np.int8), y=np.zeros(2, np.int64)),
     "each sample has 5 values"),
    (lambda p: np.savez(p, x=np.zeros((3, 490), np.int8), y=np.zeros(2, np.int64)),
     "one label per sample"),
    (lambda p: np.savez(p, x=np.zeros((0, 490), np.int8), y=np.zeros(0, np.int64)),
     "no samples"),
], ids=["missing", "text", "npy", "no-x-y", "sample-size", "labels", "empty"])
def test_bad_dataset_is_one_clear_error(tmp_path, make, message) -> None:
    from picojoule.errors import InputError

    path = tmp_path / "data.npz"
    if make is not None:
        make(path)
    with pytest.raises(InputError, match=message):
        sweep(PAIR[:1], ["stm32l4r5"], dataset=path, jobs=1, progress=False)


def test_dataset_accuracy_by_hand(tmp_path) -> None:
    # Labels that the all-zero input's arg-max class (found with TFLM's interpreter below)
    # matches in 2 of 4 samples: accuracy 0.5.
    tflm = pytest.importorskip("tflite_micro")
    interp = tflm.runtime.Interpreter.from_file(str(PAIR[0]))
    x = np.zeros((4, 1, 49, 10, 1), np.int8)
    interp.set_input(x[0], 0)
    interp.invoke()
    top = int(np.argmax(interp.get_output(0).reshape(-1)))
    y = np.array([top, top, (top + 1) % 12, (top + 2) % 12], np.int64)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    rows = sweep(PAIR[:1], ["stm32l4r5"], dataset=tmp_path / "d.npz", jobs=1, progress=False)
    assert rows[0]["accuracy"] == pytest.approx(0.5)
