"""The model verifier and the error contract on malformed models and bad inputs.

Each case is a corpus model with one or two flatbuffer fields overwritten (the structured
mutations of ``scripts/fuzz.py``) and the line picojoule must answer with: one ``error:``
line on stderr and exit 1 (the model) or 2 (usage), from every command, never the
internal-error exit 3 or a traceback.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from oracles import SHARED_MODELS
from picojoule.cli import main
from picojoule.errors import ModelFormatError
from picojoule.importers import load_model
from picojoule.importers.tflite import load as load_raw
from picojoule.importers.verify import parse_signature

_spec = importlib.util.spec_from_file_location(
    "pj_fuzz", Path(__file__).resolve().parents[1] / "scripts" / "fuzz.py")
fuzz = sys.modules.setdefault("pj_fuzz", importlib.util.module_from_spec(_spec))
if not hasattr(fuzz, "mutate"):
    _spec.loader.exec_module(fuzz)

HELLO = SHARED_MODELS / "tflm/hello_world_int8.tflite"  # 3 FULLY_CONNECTED, tensors 0-9
HELLO_FLOAT = SHARED_MODELS / "tflm/hello_world_float.tflite"
KWS_FLOAT = SHARED_MODELS / "mlperf_tiny/kws_dscnn_float32.tflite"
LEAKY = SHARED_MODELS / "ops/leaky_relu11.tflite"  # int16 LEAKY_RELU: tensor 0 -> tensor 1
CONV = SHARED_MODELS / "ops/conv15.tflite"  # int16 CONV_2D: tensors 0, 3 (w), 4 (b) -> 5
ADD = SHARED_MODELS / "ops/add0.tflite"  # int16 ADD: tensors 0, 1 -> 2
ADD5 = SHARED_MODELS / "ops/add5.tflite"
SLICE = SHARED_MODELS / "ops/strided_slice31.tflite"  # int16 [1, 2, 162, 8] -> [1, 2, 160, 8]
COMMANDS = ("inspect", "run", "analyze", "compile")


def mutant(tmp_path: Path, src: Path, **fields) -> Path:
    """``src`` with the named fields (``fuzz`` slot descriptions, spaces as ``__``) set."""
    data = bytearray(src.read_bytes())
    slots = {s.what: s for s in fuzz._field_slots(bytes(data))}
    for key, value in fields.items():
        s = slots[key.replace("__", " ")]
        struct.pack_into(fuzz._FORMATS[s.kind], data, s.pos, value)
    out = tmp_path / f"mutant_{len(list(tmp_path.iterdir()))}.tflite"
    out.write_bytes(bytes(data))
    return out


def cli(capsys, tmp_path: Path, command: str, model: Path, *extra: str):
    args = {"inspect": ["inspect", model], "run": ["run", model],
            "analyze": ["analyze", model, "--target", "stm32l4r5"],
            "compile": ["compile", model, "--target", "stm32l4r5", "-o", tmp_path / "lib"]}
    code = main([str(a) for a in [*args[command], *extra]])
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_error(code: int, err: str, needle: str, exit_code: int = 1) -> None:
    lines = err.strip().splitlines()
    assert code == exit_code, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]


def f(sg_field: str) -> str:
    return sg_field.replace(" ", "__")


# -- the places the issue lists, through every command ----------------------------------------
CASES = {
    # an operator whose output is a constant weight (a KeyError in the planner's ordering)
    "writes a constant": (HELLO, {f("subgraph 0 operator 0 outputs[0]"): 6},
                          "writes constant tensor 'sequential/dense/MatMul'"),
    "writes a graph input": (HELLO, {f("subgraph 0 operator 1 outputs[0]"): 0},
                             "writes graph input"),
    "writes another op's output": (HELLO, {f("subgraph 0 operator 1 outputs[0]"): 7},
                                   "already produced by FULLY_CONNECTED"),
    "scale inf": (CONV, {f("subgraph 0 tensor 0 scale[0]"): float("inf")},
                  "quantization scale inf (entry 0) is not a finite positive number"),
    "scale nan": (HELLO, {f("subgraph 0 tensor 7 scale[0]"): float("nan")},
                  "quantization scale nan"),
    "scale -0.0 (leaky relu)": (LEAKY, {f("subgraph 0 tensor 1 scale[0]"): -0.0},
                                "quantization scale -0.0"),
    "zero point out of range": (HELLO, {f("subgraph 0 tensor 7 zero_point[0]"): 300},
                                "zero point 300 outside the int8 range -128..127"),
    "required input -1": (HELLO, {f("subgraph 0 operator 0 inputs[1]"): -1},
                          "required input 1 (w) is missing (-1)"),
    "a wrong tensor (rank)": (HELLO, {f("subgraph 0 operator 1 inputs[1]"): 3},
                              "input 1 (w) 'sequential/dense_1/BiasAdd/ReadVariableOp' has rank 1"),
    "changed opcode": (HELLO, {f("opcode 0 deprecated_builtin_code"): 3,
                               f("opcode 0 builtin_code"): 3},
                       "CONV_2D (node 'conv_2d_0', operator 0): input 0 (x)"),
    "subgraph output -1": (HELLO, {f("subgraph 0 outputs[0]"): -1},
                           "subgraph 0 output: tensor index -1"),
    "huge dimension": (LEAKY, {f("subgraph 0 tensor 0 shape[0]"): 1946157057},
                       "over picojoule's limit"),
    # 16,777,216 elements: under 256 MiB, but planning its in-place slice took 3 GB and
    # minutes (the fuzzer's mutant 14 of seed 20261209)
    "a tensor over the element limit": (SLICE, {f("subgraph 0 tensor 0 shape[2]"): 1048576},
                                        "over picojoule's limit of 8,388,608 per tensor"),
    # index operands and biases (found by scripts/fuzz.py --seed 1: mutants 1482, 2124)
    "a float begin": (SHARED_MODELS / "ops/strided_slice13.tflite",
                      {f("subgraph 0 tensor 1 type"): 0},
                      "input 1 (begin) 'streamable_model_10/unet_0/decoder_0/conv2d_3x3/conv/"
                      "strided_slice' is float32, the op takes an integer tensor"),
    "a bias of the wrong size": (SHARED_MODELS / "tflm/trained_lstm.tflite",
                                 {f("subgraph 0 operator 2 inputs[2]"): 16},
                                 "bias 'model/sequential/output/MatMul' has 5600 values for "
                                 "10 output channels"),
    # numpy's ComplexWarning on stderr with exit 0 (mutant 3078 of seed 1)
    "a complex input": (SHARED_MODELS / "ops/pad6.tflite", {f("subgraph 0 tensor 0 type"): 8},
                        "is complex64, which no picojoule kernel takes"),
    "a stride of 0": (CONV, {f("subgraph 0 operator 0 option slot 1"): 0},
                      "option stride_w = 0 (must be 1 to 65536)"),
    "unknown padding": (CONV, {f("subgraph 0 operator 0 option slot 0"): 7},
                        "unknown padding 7"),
    "an empty output": (ADD, {f("subgraph 0 tensor 0 shape[1]"): 0},
                        "has no elements (a dimension of 0)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", COMMANDS)
def test_malformed_model_is_one_error_line_from_every_command(capsys, tmp_path, case, command):
    src, fields, needle = CASES[case]
    model = mutant(tmp_path, src, **fields)
    code, _, err = cli(capsys, tmp_path, command, model)
    assert_clean_error(code, err, needle)
    if command == "compile":
        assert not (tmp_path / "lib").exists()  # nothing written for a rejected model


def test_the_unmutated_models_pass(capsys, tmp_path):
    """The same models, untouched, run: the cases above fail on the mutation alone."""
    for src in {c[0] for c in CASES.values()}:
        code, _, err = cli(capsys, tmp_path, "run", src)
        assert (code, err) == (0, ""), (src, err)


def test_int64_bias_beyond_48_bits(capsys, tmp_path):
    """An int16x8 conv's int64 bias past TFLM's 48-bit accumulator (the fuzzer's mutant
    1996 of seed 1: byte flips in a bias; an OverflowError when the kernel was prepared)."""
    data = bytearray(CONV.read_bytes())
    bias = load_raw(CONV).main.nodes[0].inputs[2]
    assert bias.dtype == "int64"
    raw = bias.data.astype("<i8").tobytes()
    at = bytes(data).find(raw)
    assert at > 0 and bytes(data).count(raw) == 1
    struct.pack_into("<q", data, at, 2**62)
    model = tmp_path / "big_bias.tflite"
    model.write_bytes(bytes(data))
    for command in ("run", "compile"):
        code, _, err = cli(capsys, tmp_path, command, model)
        assert_clean_error(code, err, "holds values outside TFLM's 48-bit accumulator range")


def test_constant_data_input_is_refused_by_the_c_backend(capsys, tmp_path):
    """A FULLY_CONNECTED reading a weight matrix as its activation (the fuzzer's mutant 3002
    of seed 1) runs in the reference; the C backend, whose kernels read activations from
    the arena, names the operand instead of failing on a missing name (a KeyError)."""
    model = mutant(tmp_path, SHARED_MODELS / "mlperf_tiny/ad_toycar_fcae_float32.tflite",
                   **{f("subgraph 0 operator 6 inputs[0]"): 2})
    code, _, err = cli(capsys, tmp_path, "compile", model)
    assert_clean_error(code, err, "FULLY_CONNECTED (node 'fully_connected_9'): a constant "
                                  "operand (in0) is not supported")
    code, _, err = cli(capsys, tmp_path, "analyze", model)
    assert code in (0, 1) and "error" not in err and "Traceback" not in err, err


def test_scale_zero_only_on_what_folds_to_a_constant(capsys, tmp_path):
    """Converters write a scale of +0.0 on zero-filled tensors that fold to constants; on a
    tensor computed at run time kernels would divide by it (a ZeroDivisionError in
    LEAKY_RELU's prepare), so it is one error line."""
    model = mutant(tmp_path, LEAKY, **{f("subgraph 0 tensor 1 scale[0]"): 0.0})
    for command in COMMANDS:
        code, _, err = cli(capsys, tmp_path, command, model)
        assert_clean_error(code, err, "quantization scale 0 on a tensor computed at run time")


def test_size_limit_is_overridable(capsys, tmp_path, monkeypatch):
    # int16 tensors of 1x16384x20x32 and more: over 10 million elements, above the default
    # 8 Mi elements per tensor (planning such a mutant asked for gigabytes of index arrays).
    model = mutant(tmp_path, ADD5, **{f("subgraph 0 tensor 0 shape[1]"): 16384,
                                      f("subgraph 0 tensor 1 shape[1]"): 16384,
                                      f("subgraph 0 tensor 2 shape[1]"): 32768})
    code, _, err = cli(capsys, tmp_path, "inspect", model)
    assert_clean_error(code, err, "elements, over picojoule's limit of 8,388,608 per tensor")
    assert "PICOJOULE_MAX_MODEL_BYTES" in err
    monkeypatch.setenv("PICOJOULE_MAX_MODEL_BYTES", "1G")
    code, _, err = cli(capsys, tmp_path, "inspect", model)
    assert (code, err) == (0, "")
    monkeypatch.setenv("PICOJOULE_MAX_MODEL_BYTES", "256")
    code, _, err = cli(capsys, tmp_path, "inspect", HELLO)
    assert_clean_error(code, err, "over picojoule's limit of 256 B")
    monkeypatch.setenv("PICOJOULE_MAX_MODEL_BYTES", "lots")
    code, _, err = cli(capsys, tmp_path, "inspect", HELLO)
    assert_clean_error(code, err, "PICOJOULE_MAX_MODEL_BYTES='lots'")


@pytest.mark.parametrize("model", [HELLO_FLOAT, KWS_FLOAT], ids=lambda p: p.stem)
def test_float_model_fed_inf_is_silent(capsys, tmp_path, model):
    """inf and NaN propagate as in C, without numpy's RuntimeWarnings on stderr."""
    shape = load_model(model).main.inputs[0].shape
    x = tmp_path / "inf.npy"
    np.save(x, np.full(shape, np.inf, np.float32))
    code, _, err = cli(capsys, tmp_path, "run", model, "--input", str(x))
    assert (code, err) == (0, "")


def test_negative_random_seed_is_a_usage_error(capsys, tmp_path):
    code, _, err = cli(capsys, tmp_path, "run", HELLO, "--random-seed", "-1")
    assert_clean_error(code, err, "--random-seed", exit_code=2)


@pytest.mark.parametrize("command", ["analyze", "compile"])
@pytest.mark.parametrize("content, needle", [
    (b'name = "m4\xff"\n', "not a UTF-8 text file"),
    (b"name = [\n", "not valid TOML"),
], ids=["non-utf8", "malformed"])
def test_bad_target_file_is_named_not_unknown(capsys, tmp_path, command, content, needle):
    target = tmp_path / "board.toml"
    target.write_bytes(content)
    args = {"analyze": ["analyze", HELLO, "--target", target],
            "compile": ["compile", HELLO, "--target", target, "-o", tmp_path / "lib"]}[command]
    code = main([str(a) for a in args])
    _, err = capsys.readouterr()
    assert_clean_error(code, err, f"{target}: {needle}")
    assert "unknown target" not in err


# -- the verifier as a library ------------------------------------------------------------------
def test_verifier_runs_in_load_model_for_every_format(tmp_path):
    model = mutant(tmp_path, HELLO, **{f("subgraph 0 tensor 7 scale[0]"): float("inf")})
    with pytest.raises(ModelFormatError, match="quantization scale inf"):
        load_model(model)
    with pytest.raises(ModelFormatError, match="quantization scale inf"):
        load_model(model, static_shapes=False)
    load_raw(model)  # the importer maps the file 1:1; the verifier is what refuses it


def test_onnx_models_are_verified(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # A QDQ model whose activation scale is negative (ONNX Runtime refuses it too).
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    inits = [helper.make_tensor("s", TensorProto.FLOAT, [], [-0.5]),
             helper.make_tensor("z", TensorProto.INT8, [], [0])]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [y], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "neg_scale.onnx"
    onnx.save(m, str(path))
    with pytest.raises(ModelFormatError, match="quantization scale -0.5"):
        load_model(path)


def test_signature_grammar():
    sig = parse_signature("x:4, w:4, bias?:1 -> y:4")
    assert [(o.name, o.optional, o.ranks) for o in sig.inputs] == [
        ("x", False, (4, 4)), ("w", False, (4, 4)), ("bias", True, (1, 1))]
    assert parse_signature("x, begin:1:int -> y").inputs[1].integer
    assert sig.count_range(sig.inputs) == (2, 3)
    var = parse_signature("axis:0-1, x -> y...")
    assert var.inputs[0].ranks == (0, 1)
    assert var.count_range(var.outputs) == (1, float("inf"))
    with pytest.raises(ValueError):
        parse_signature("x:4, w:four -> y")


def test_every_registered_signature_parses():
    from picojoule.ops.registry import REGISTRY

    declared = {name: info.operands for name, info in REGISTRY.items() if info.operands}
    assert len(declared) >= 90
    for name, text in declared.items():
        parse_signature(text)


def test_a_damaged_custom_code_is_one_error_line(capsys, tmp_path):
    """A byte flip can turn a custom op's name into a run of flatbuffer bytes (newlines,
    NULs): the import refuses it in one printable line, and no command echoes raw bytes."""
    from opkit import q, single_op_model, tensor
    from picojoule.exporters.tflite import save

    x = tensor("x", [1, 4], "int8", q(0.1, 0))
    y = tensor("y", [1, 4], "int8", q(0.1, 0))
    path = tmp_path / "bad_custom.tflite"
    save(single_op_model("CUSTOM:Signal\nLog\x00\x08", [x], [y], {"custom_options": b""}), path)
    for cmd in (["inspect", path], ["run", path], ["compile", path, "--target", "host", "-o",
                                                   tmp_path / "out"]):
        code = main([str(a) for a in cmd])
        err = capsys.readouterr().err
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert "custom code is not a name" in err and "\\n" in err and "\x00" not in err
    assert not (tmp_path / "out").exists()


def test_cli_error_lines_escape_control_characters():
    from picojoule.cli import _one_line

    assert _one_line("a\nb\x00c") == "a\\nb\\x00c"
    assert _one_line("x" * 1000, 50) == "x" * 47 + "..."
