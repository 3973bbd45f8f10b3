"""Custom ops: a user's Python + C file works in run, compile, validate, analyze and estimate.

The op is the README's example, ``examples/custom_op/hardtanh.py`` (CUSTOM:Hardtanh). Its
expected outputs are hand-derived here (a clamp, written out with Python integers and
floats), never taken from picojoule's reference.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from opkit import q, single_op_model, tensor
from picojoule import custom
from picojoule.backends import host, qemu
from picojoule.cli import main
from picojoule.exporters.tflite import dumps
from picojoule.ops import REGISTRY
from picojoule.runtime import Interpreter

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom_op" / "hardtanh.py"
_QEMU = qemu.toolchain_missing() is None


@pytest.fixture(scope="module", autouse=True)
def _hardtanh():
    custom.load_custom_ops(EXAMPLE)
    assert "CUSTOM:Hardtanh" in REGISTRY


def _model(dtype: str, lo: float = -1.0, hi: float = 1.0, shape=(1, 4, 4, 3)):
    quant = q(0.02, 5) if dtype == "int8" else None
    x = tensor("x", shape, dtype, quant)
    y = tensor("y", shape, dtype, quant)
    return single_op_model("CUSTOM:Hardtanh", [x], [y], attrs={
        "custom_options": custom.encode_options({"min_val": lo, "max_val": hi})})


def _int8_expected(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Clamp in int8 steps: zero point 5, scale 0.02 (so -1.0 -> -45, 1.0 -> 55)."""
    qlo, qhi = 5 + round(lo / 0.02), 5 + round(hi / 0.02)
    return np.array([[min(max(int(v), qlo), qhi) for v in row] for row in
                     x.reshape(-1, x.shape[-1])], np.int8).reshape(x.shape)


def test_reference_and_generated_c_agree_with_the_hand_derived_clamp(tmp_path):
    rng = np.random.default_rng(0)
    for dtype in ("int8", "float32"):
        model = _model(dtype, -1.0, 0.5)
        if dtype == "int8":
            x = rng.integers(-128, 128, (1, 4, 4, 3)).astype(np.int8)
            want = _int8_expected(x, -1.0, 0.5)
        else:
            x = (rng.standard_normal((1, 4, 4, 3)) * 2).astype(np.float32)
            want = np.array([min(max(float(v), -1.0), 0.5) for v in x.reshape(-1)],
                            np.float32).reshape(x.shape)
        assert np.array_equal(Interpreter(model).run([x])[0], want)
        lib = host.build(model, name="ht")
        assert np.array_equal(lib.run([x])[0], want), dtype
        if _QEMU and dtype == "int8":
            fw = qemu.build(model, "mps2-an386", name="ht")
            (outs, _), = fw.run_many([[x]], timeout=60)
            assert np.array_equal(outs[0], want)


def test_cli_run_compile_analyze_estimate_with_custom_ops_flag(tmp_path, capsys):
    path = tmp_path / "ht.tflite"
    path.write_bytes(dumps(_model("int8")))
    flag = ["--custom-ops", str(EXAMPLE)]
    assert main([*flag, "run", str(path), "--backend", "c", "--json"]) == 0
    out = tmp_path / "lib"
    assert main([*flag, "compile", str(path), "--target", "host", "-o", str(out)]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert "hardtanh.c" in files and "pj_custom.h" in files
    capsys.readouterr()
    assert main([*flag, "estimate", str(path), "--target", "stm32l4r5", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    row = [r for r in est["ops"] if r.get("op") == "CUSTOM:Hardtanh"][0]
    # The file's cost function: 4 instructions per element + 20 (48 elements).
    assert row["instructions"] == pytest.approx(4 * 48 + 20)
    assert "custom" in est["method"] or any("CUSTOM:Hardtanh" in w for w in est["warnings"])
    assert main([*flag, "analyze", str(path), "--target", "stm32l4r5", "--json"]) == 0


def test_without_the_file_the_op_is_named_in_one_error_line(tmp_path, capsys):
    path = tmp_path / "other.tflite"
    x = tensor("x", (1, 8), "int8", q(0.1, 0))
    y = tensor("y", (1, 8), "int8", q(0.1, 0))
    path.write_bytes(dumps(single_op_model("CUSTOM:NotRegisteredAnywhere", [x], [y],
                                           attrs={"custom_options": b""})))
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CUSTOM:NotRegisteredAnywhere" in err[0]


def test_a_broken_custom_ops_file_is_reported_with_its_path(tmp_path, capsys):
    bad = tmp_path / "bad_ops.py"
    bad.write_text("import numpy as np\nraise ValueError('oops')\n")
    assert main(["--custom-ops", str(bad), "ops"]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err and "oops" in err and len(err.strip().splitlines()) == 1


def test_a_reference_that_breaks_its_shape_rule_is_reported_with_its_path(tmp_path, capsys):
    src = tmp_path / "liar.py"
    src.write_text(textwrap.dedent("""
        import numpy as np
        from picojoule.custom import custom_op

        @custom_op("Liar", shape=lambda node, shapes, consts: [shapes[0]])
        def prepare(node):
            def run(inputs):
                return [inputs[0][..., :1]]  # not the declared shape
            return run
    """))
    custom.load_custom_ops(src)
    x = tensor("x", (1, 4), "float32")
    y = tensor("y", (1, 4), "float32")
    model = single_op_model("CUSTOM:Liar", [x], [y], attrs={"custom_options": b""})
    path = tmp_path / "liar.tflite"
    path.write_bytes(dumps(model))
    assert main(["--custom-ops", str(src), "run", str(path)]) == 1
    err = capsys.readouterr().err
    assert str(src) in err and "shape rule" in err


def test_a_custom_op_without_c_names_the_op_and_backend_on_compile(tmp_path, capsys):
    src = tmp_path / "refonly.py"
    src.write_text(textwrap.dedent("""
        from picojoule.custom import custom_op

        @custom_op("RefOnly", shape=lambda node, shapes, consts: [shapes[0]])
        def prepare(node):
            return lambda inputs: [inputs[0] * 2]
    """))
    x = tensor("x", (1, 4), "float32")
    y = tensor("y", (1, 4), "float32")
    path = tmp_path / "refonly.tflite"
    path.write_bytes(dumps(single_op_model("CUSTOM:RefOnly", [x], [y],
                                           attrs={"custom_options": b""})))
    out = tmp_path / "lib"
    assert main(["--custom-ops", str(src), "compile", str(path), "--target", "host",
                 "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "CUSTOM:RefOnly" in err and "C backend" in err and "float32" in err
    assert not out.exists()
