"""`picojoule analyze` and `plan`: verdicts a user can act on, figures from the plan."""

from __future__ import annotations

import json
from pathlib import Path

from oracles import SHARED_MODELS
from picojoule.cli import main

VWW = SHARED_MODELS / "mlperf_tiny/vww_mobilenetv1_96_int8.tflite"
KWS = SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"
TINY = Path(__file__).resolve().parent / "fixtures" / "tiny_m0_32k.toml"
#: Smallest working TFLM arenas, bisected (../shared/models/MANIFEST.md).
TFLM_ARENA = {"KWS": 24_272, "VWW": 103_680}


def analyze_json(capsys, model, target) -> tuple[int, dict]:
    code = main(["analyze", str(model), "--target", str(target), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_kws_fits_the_l4r5_with_the_documented_keys(capsys):
    code, r = analyze_json(capsys, KWS, "stm32l4r5")
    assert code == 0 and r["fits"] is True and r["target"] == "stm32l4r5"
    assert r["macs"] == 2_656_768  # MANIFEST.md
    ram, flash = r["ram"], r["flash"]
    assert ram["lower_bound_arena_bytes"] <= ram["arena_bytes"] <= 1.10 * ram["lower_bound_arena_bytes"]
    assert ram["total_bytes"] >= ram["arena_bytes"]
    assert ram["total_bytes"] <= 0.6 * TFLM_ARENA["KWS"]
    # Weights in flash: the int8 and int32 constant bytes of the file, counted by hand
    # from the tensor shapes would be long; they must at least hold every parameter.
    assert flash["weights_bytes"] >= 22_606 and flash["total_bytes"] > flash["weights_bytes"]
    assert {g["name"] for g in r["regions"]} == {"sram1", "sram2", "sram3"}
    assert all(g["used"] <= g["capacity"] for g in r["regions"])
    assert len(r["ops"]) == 13


def test_vww_on_a_32k_budget_names_the_tensor_no_region_holds(capsys):
    code, r = analyze_json(capsys, VWW, TINY)
    assert code == 1 and r["fits"] is False
    # VWW's largest activation is 48 x 48 x 16 int8 = 36,864 B, its input 96 x 96 x 3 =
    # 27,648 B; the largest region, bank_a, has 24 KiB less the stack.
    ram = r["ram"]
    stack = ram["stack_bytes"] if "stack_bytes" in ram else ram["stack_bytes_estimate"]
    assert [t["bytes"] for t in r["oversized_tensors"]] == [36_864, 27_648]
    assert (f"(36,864 B) is larger than tiny-m0's largest RAM region, bank_a "
            f"({24 * 1024 - stack:,} B after the {stack:,} B stack): no single region holds "
            f"it; 1 more tensor" in r["verdict"])
    assert "bank_b overflows" not in r["verdict"]
    # The catalogue's RP2040 (264 KiB) holds what the 32 KiB budget cannot.
    assert any("rp2040" in s for s in r["suggestions"])


def test_vww_fits_the_real_rp2040(capsys):
    code, r = analyze_json(capsys, VWW, "rp2040")
    assert code == 0 and r["fits"]
    assert r["ram"]["total_bytes"] <= 0.6 * TFLM_ARENA["VWW"]
    assert any("no FPU" in w for w in r["warnings"]) is False  # int8 model: no float warning


def test_float_model_on_fpu_less_core_warns(capsys):
    code, r = analyze_json(capsys, SHARED_MODELS / "tflm/hello_world_float.tflite", "rp2040")
    assert code == 0 and any("no FPU" in w for w in r["warnings"])


def test_npu_only_model_reported_before_deployment(capsys):
    code, r = analyze_json(capsys, SHARED_MODELS / "tflm/person_detect_vela.tflite", "stm32h743")
    assert code == 1 and r["unsupported_ops"][0]["op"] == "CUSTOM:ethos-u"


def test_unknown_target_is_one_line(capsys):
    code = main(["analyze", str(KWS), "--target", "stm32l4r6"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "did you mean 'stm32l4r5'" in err[0]


def test_plan_png_and_json(capsys, tmp_path):
    png = tmp_path / "plan.png"
    code = main(["plan", str(KWS), "--png", str(png), "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert r["arena_bytes"] >= r["lower_bound_arena_bytes"] > 0
    # Every tensor lies inside the arena.
    assert all(t["offset"] + t["bytes"] <= r["arena_bytes"] for t in r["tensors"])


def test_plan_text(capsys):
    code = main(["plan", str(KWS), "--target", "stm32l4r5"])
    out = capsys.readouterr().out
    assert code == 0 and "lower bound" in out and "region sram3" in out
