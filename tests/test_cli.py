"""The command line: the documented surface, and one clear line for every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oracles import SHARED_MODELS, TflmSession
from picojoule.cli import main

KWS = SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"
VELA = SHARED_MODELS / "tflm/person_detect_vela.tflite"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, needle: str) -> None:
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert "Traceback" not in err


def test_inspect_json_reports_macs_from_manifest(capsys):
    code, out, _ = run_cli(capsys, "inspect", KWS, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["macs"] == 2_656_768  # ../shared/models/MANIFEST.md
    assert info["op_counts"]["CONV_2D"] == 5
    assert info["inputs"][0]["shape"] == [1, 49, 10, 1] and info["inputs"][0]["dtype"] == "int8"
    assert sum(o["macs"] for o in info["ops"]) == info["macs"]


def test_inspect_text(capsys):
    code, out, _ = run_cli(capsys, "inspect", KWS)
    assert code == 0 and "MACs: 2,656,768" in out and "DEPTHWISE_CONV_2D" in out


def test_run_writes_outputs_equal_to_tflm(capsys, tmp_path):
    x = np.random.default_rng(5).integers(-128, 128, (1, 49, 10, 1), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    out_path = tmp_path / "out.npz"
    code, out, _ = run_cli(capsys, "run", KWS, "--input", tmp_path / "x.npy", "--output", out_path,
                           "--json", "--repeat", "3")
    assert code == 0
    report = json.loads(out)
    assert report["outputs"]["output_0"] == {"shape": [1, 12], "dtype": "int8"}
    assert report["host_wall_ms"]["median"] > 0 and report["host_wall_ms"]["repeat"] == 3
    assert "latency_ms" not in report  # host time is never called latency
    got = np.load(out_path)["output_0"]
    np.testing.assert_array_equal(got, TflmSession(KWS, preserve_all=False).run([x])[0])


def test_run_wrong_shape_and_dtype(capsys, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((1, 49, 10), np.int8))
    code, _, err = run_cli(capsys, "run", KWS, "--input", tmp_path / "bad.npy")
    assert_one_line_error(code, err, "expected int8[1, 49, 10, 1], got int8[1, 49, 10]")
    np.save(tmp_path / "f.npy", np.zeros((1, 49, 10, 1), np.float32))
    code, _, err = run_cli(capsys, "run", KWS, "--input", tmp_path / "f.npy")
    assert_one_line_error(code, err, "got float32[1, 49, 10, 1]")
    code, _, err = run_cli(capsys, "run", KWS, "--input", tmp_path / "f.npy", "--input",
                           tmp_path / "f.npy")
    assert_one_line_error(code, err, "takes 1 input(s), got 2")


def test_bad_files(capsys, tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    code, _, err = run_cli(capsys, "inspect", junk)
    assert_one_line_error(code, err, "not a model")
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(KWS.read_bytes()[:5000])
    code, _, err = run_cli(capsys, "run", cut)
    assert_one_line_error(code, err, "truncated or corrupted")
    code, _, err = run_cli(capsys, "run", tmp_path / "nope.tflite")
    assert_one_line_error(code, err, "no such file")
    bad_npy = tmp_path / "x.npy"
    bad_npy.write_text("not numpy")
    code, _, err = run_cli(capsys, "run", KWS, "--input", bad_npy)
    assert_one_line_error(code, err, "not a readable .npy")


def test_npu_only_model_says_so(capsys):
    code, _, err = run_cli(capsys, "run", VELA)
    assert_one_line_error(code, err, "needs an Ethos-U NPU")


def test_output_into_missing_folder_writes_nothing(capsys, tmp_path):
    target = tmp_path / "missing" / "out.npz"
    code, _, err = run_cli(capsys, "run", KWS, "--output", target)
    assert_one_line_error(code, err, "does not exist")
    assert not target.parent.exists()


def test_usage_errors_exit_2(capsys):
    code, _, err = run_cli(capsys, "run", KWS, "--repeat", "0")
    assert code == 2 and err.startswith("error: ")
    code, _, err = run_cli(capsys, "frobnicate")
    assert code == 2


@pytest.mark.parametrize("cmd", [["--help"], ["run", "--help"], ["inspect", "--help"]])
def test_help(capsys, cmd):
    code, out, _ = run_cli(capsys, *cmd)
    assert code == 0 and "Usage" in out


def test_unknown_op_is_named(capsys, tmp_path):
    from opkit import q, single_op_model, tensor
    from picojoule.exporters.tflite import save

    x = tensor("x", [1, 4], "int8", q(0.1, 0))
    y = tensor("y", [1, 4], "int8", q(0.1, 0))
    path = tmp_path / "custom.tflite"
    save(single_op_model("CUSTOM:MyMagicOp", [x], [y], {"custom_options": b""}), path)
    code, _, err = run_cli(capsys, "run", path)
    assert_one_line_error(code, err, "op CUSTOM:MyMagicOp")
    code, out, _ = run_cli(capsys, "inspect", path)  # inspecting needs no kernel
    assert code == 0 and "CUSTOM:MyMagicOp" in out


def test_onnx_exports_picojoule_cannot_read_are_named(capsys, tmp_path):
    """An unsupported ONNX op names its node, op type and opset; an op of another domain
    names the domain; missing external weights name the file the model points to."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def graph(nodes, inits=()):
        return helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, [3, 3])], [helper.make_tensor_value_info(
                "y", TensorProto.FLOAT, [3, 3])], initializer=list(inits))

    det = tmp_path / "det.onnx"
    onnx.save(helper.make_model(graph([helper.make_node("Det", ["x"], ["y"], name="my_det")]),
                                opset_imports=[helper.make_opsetid("", 17)]), det)
    code, _, err = run_cli(capsys, "compile", det, "--target", "stm32l4r5", "-o",
                           tmp_path / "out_det")
    assert_one_line_error(code, err, "ONNX op Det (node 'my_det', opset 17)")
    assert not (tmp_path / "out_det").exists()

    acme = tmp_path / "acme.onnx"
    onnx.save(helper.make_model(
        graph([helper.make_node("Foo", ["x"], ["y"], name="f", domain="com.acme")]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.acme", 2)]), acme)
    code, _, err = run_cli(capsys, "run", acme)
    assert_one_line_error(code, err, "custom domain 'com.acme' (version 2)")

    ext = tmp_path / "ext.onnx"
    w = numpy_helper.from_array(np.ones((3, 3), np.float32), "w")
    onnx.save_model(helper.make_model(graph([helper.make_node("Add", ["x", "w"], ["y"])],
                                            [w]),
                                      opset_imports=[helper.make_opsetid("", 17)]),
                    ext, save_as_external_data=True, location="ext_weights.bin",
                    size_threshold=0)
    (tmp_path / "ext_weights.bin").unlink()
    code, _, err = run_cli(capsys, "inspect", ext)
    assert_one_line_error(code, err, "ext_weights.bin")


def test_targets_lists_the_catalogue(capsys):
    code, out, _ = run_cli(capsys, "targets", "--json")
    assert code == 0
    names = {t["name"] for t in json.loads(out)}
    assert {"stm32l4r5", "stm32h743", "stm32h7a3", "stm32u385", "rp2040", "nrf52840",
            "esp32s3", "esp32c3", "ra8d1"} <= names
    code, out, _ = run_cli(capsys, "targets")
    assert code == 0 and "stm32l4r5" in out and "Cortex-M4" in out


def test_run_backend_c_matches_reference(capsys, tmp_path):
    ref, c = tmp_path / "ref.npz", tmp_path / "c.npz"
    assert run_cli(capsys, "run", KWS, "--output", ref, "--random-seed", "3")[0] == 0
    assert run_cli(capsys, "run", KWS, "--backend", "c", "--output", c, "--random-seed", "3")[0] == 0
    np.testing.assert_array_equal(np.load(ref)["output_0"], np.load(c)["output_0"])


def test_compile_writes_a_library_and_refuses_unsupported_ops_cleanly(capsys, tmp_path):
    out = tmp_path / "kws"
    code, stdout, _ = run_cli(capsys, "compile", KWS, "--target", "stm32l4r5", "-o", out)
    assert code == 0 and (out / "kws_dscnn_int8.h").exists() and (out / "Makefile").exists()
    from opkit import q, single_op_model, tensor
    from picojoule.exporters.tflite import save

    x = tensor("x", [1, 4], "int8", q(0.1, 0))
    y = tensor("y", [1, 4], "int8", q(0.1, 0))
    custom = tmp_path / "custom.tflite"
    save(single_op_model("CUSTOM:MyMagicOp", [x], [y], {"custom_options": b""}), custom)
    bad = tmp_path / "custom_c"
    code, _, err = run_cli(capsys, "compile", custom, "--target", "cortex-m4", "-o", bad)
    assert_one_line_error(code, err, "CUSTOM:MyMagicOp")
    assert not bad.exists()  # nothing half-written


def test_quantize_and_export(capsys, tmp_path):
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).standard_normal((8, 1, 1)).astype(np.float32))
    out = tmp_path / "hw_int8.tflite"
    model = SHARED_MODELS / "tflm/hello_world_float.tflite"
    code, stdout, _ = run_cli(capsys, "quantize", model, "-c", calib, "-o", out, "-q")
    assert code == 0 and "wrote" in stdout
    # TFLM runs what picojoule wrote, with picojoule's reference results.
    x = [np.array([[0.5]], np.float32)]
    from picojoule.importers import load_model
    from picojoule.runtime import Interpreter

    np.testing.assert_array_equal(Interpreter(load_model(out)).run(x)[0],
                                  TflmSession(out, preserve_all=False).run(x)[0])
    code, _, err = run_cli(capsys, "quantize", model, "-c", tmp_path / "none.npy", "-o",
                           tmp_path / "never.tflite")
    assert_one_line_error(code, err, "none.npy")
    assert not (tmp_path / "never.tflite").exists()
    exported = tmp_path / "kws.tflite"
    assert run_cli(capsys, "export", KWS, "-o", exported)[0] == 0
    np.testing.assert_array_equal(TflmSession(exported, preserve_all=False).run(
        [np.zeros((1, 49, 10, 1), np.int8)])[0], TflmSession(KWS, preserve_all=False).run(
        [np.zeros((1, 49, 10, 1), np.int8)])[0])


def test_estimate_json_has_the_documented_keys(capsys):
    code, out, _ = run_cli(capsys, "estimate", KWS, "--target", "stm32l4r5", "--rate", "1/s",
                           "--battery", "CR2032", "--json")
    r = json.loads(out)
    assert code == 0
    for key in ("latency_ms", "energy_uj", "avg_power_uw", "battery_life_days", "ops", "sources"):
        assert key in r
    # Hand-derived: at 1 inference/s the average power is the energy per second.
    assert r["avg_power_uw"] == pytest.approx(r["energy_uj"], rel=1e-6)
    # A CR2032 holds 2,430 J: life = 2430 / P.
    assert r["battery_life_days"] == pytest.approx(2430 / (r["avg_power_uw"] * 1e-6) / 86400,
                                                   rel=0.02)
    assert sum(o["latency_ms"] for o in r["ops"]) == pytest.approx(r["latency_ms"], rel=1e-6)


def test_sweep_table_and_plot(capsys, tmp_path):
    png = tmp_path / "p.png"
    code, out, _ = run_cli(capsys, "sweep", KWS, "--targets", "stm32l4r5,stm32u385", "--plot",
                           png, "--json", "--jobs", "1")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2 and png.read_bytes()[:4] == b"\x89PNG"
    code, _, err = run_cli(capsys, "sweep", KWS, "--targets", "nosuchchip")
    assert_one_line_error(code, err, "nosuchchip")
    code, _, err = run_cli(capsys, "sweep", KWS, "--targets", "stm32l4r5,stm32h743",
                           "--regulator", "smps")
    assert_one_line_error(code, err, "stm32h743")
    code, _, err = run_cli(capsys, "sweep", KWS, "--targets", "stm32l4r5", "--volts", "9")
    assert_one_line_error(code, err, "9 V")


def test_estimate_supply_voltage_and_platform(capsys):
    code, out, _ = run_cli(capsys, "estimate", KWS, "--target", "stm32l4r5", "--volts", "3.0",
                           "--platform", "zephyr", "--json")
    assert code == 0
    r = json.loads(out)
    # 24.8 mA (LDO: same at 3.0 V) x 3.0 V x 1.163 (Zephyr) = 86.5272 mW
    assert r["volts"] == 3.0 and r["platform"] == "zephyr"
    assert r["active_power_mw"] == pytest.approx(86.5272)
    code, _, err = run_cli(capsys, "estimate", KWS, "--target", "stm32l4r5",
                           "--platform", "freertos")
    assert code == 1 and err.count("\n") == 1
    assert "no power figure for platform 'freertos'" in err


def test_estimate_regulator(capsys):
    # STM32L4R5xxP from its external SMPS: 33.2 mW at 120 MHz (the target file's figure)
    code, out, _ = run_cli(capsys, "estimate", KWS, "--target", "stm32l4r5", "--regulator",
                           "smps", "--json")
    r = json.loads(out)
    assert code == 0 and r["regulator"] == "smps"
    assert r["active_power_mw"] == pytest.approx(33.2)
    code, _, err = run_cli(capsys, "estimate", KWS, "--target", "stm32h7a3", "--regulator",
                           "ldo")
    assert_one_line_error(code, err, "no active-power figure for regulator 'ldo'")
    code, _, err = run_cli(capsys, "estimate", KWS, "--target", "stm32l4r5", "--regulator",
                           "buck")
    assert code == 2 and "buck" in err


def _conv_onnx(path) -> None:
    """A 1x3x6x5 -> Conv 3x3 -> Relu ONNX model (NCHW), written with onnx.helper."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(8).standard_normal((4, 3, 3, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["c"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 5])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)


def test_every_command_loads_onnx_nhwc_unless_onnx_layout(capsys, tmp_path):
    """One I/O layout default for every command: NHWC (inspect, run, quantize and compile
    agree); --onnx-layout keeps NCHW. NCHW calibration data still calibrates."""
    pytest.importorskip("onnx")
    from picojoule.importers import load_model

    path = tmp_path / "conv.onnx"
    _conv_onnx(path)
    for flags, shape in (((), [1, 6, 5, 3]), (("--nhwc",), [1, 6, 5, 3]),
                         (("--onnx-layout",), [1, 3, 6, 5])):
        code, out, _ = run_cli(capsys, "inspect", path, "--json", *flags)
        assert code == 0 and json.loads(out)["inputs"][0]["shape"] == shape
    code, out, _ = run_cli(capsys, "run", path, "--json")
    assert code == 0 and json.loads(out)["outputs"]["output_0"]["shape"] == [1, 6, 5, 4]
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 6, 5), np.float32))   # NCHW
    code, _, err = run_cli(capsys, "run", path, "--input", tmp_path / "x.npy")
    assert_one_line_error(code, err, "--onnx-layout")
    code, out, _ = run_cli(capsys, "run", path, "--input", tmp_path / "x.npy", "--json",
                           "--onnx-layout")
    assert code == 0 and json.loads(out)["outputs"]["output_0"]["shape"] == [1, 4, 6, 5]
    calib = tmp_path / "calib.npy"           # NCHW, as a PyTorch data loader yields
    np.save(calib, np.random.default_rng(9).standard_normal((8, 3, 6, 5)).astype(np.float32))
    for flags, shape in (((), (1, 6, 5, 3)), (("--onnx-layout",), (1, 3, 6, 5))):
        q = tmp_path / f"q{len(flags)}.tflite"
        code, _, err = run_cli(capsys, "quantize", path, "-c", calib, "-o", q, "-q", *flags)
        assert code == 0, err
        qm = load_model(q)
        assert qm.main.inputs[0].shape == shape
        assert ("TRANSPOSE" in [n.op for n in qm.main.nodes]) == bool(flags)
