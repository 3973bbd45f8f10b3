"""`picojoule validate`: reference, host C and emulated firmware agree, and it says so.

Floats are held to the tolerance the README documents, every comparison reports its
largest difference, state is carried alike in every backend, and the first differing
layer is named only when a layer really differs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from opkit import const, model_bytes, q, run_oracle, single_op_model, tensor, variable
from oracles import SHARED_MODELS, assert_same

from picojoule.backends import qemu
from picojoule.backends.validate import FLOAT_RTOL, compare
from picojoule.cli import main

MISSING = qemu.toolchain_missing()
needs_qemu = pytest.mark.skipif(MISSING is not None,
                                reason=f"needs the Arm toolchain and QEMU: {MISSING}")
RESNET_F32 = SHARED_MODELS / "mlperf_tiny/ic_resnet8_float32.tflite"
KWS_F32 = SHARED_MODELS / "mlperf_tiny/kws_dscnn_float32.tflite"
README = Path(__file__).resolve().parents[1] / "README.md"


def documented_tolerance() -> float:
    """The float tolerance the README states (\"float32 within 1e-5 relative\")."""
    found = re.search(r"float32 within (\S+) relative", README.read_text())
    assert found, "the README no longer states the float tolerance"
    return float(found.group(1))


@needs_qemu
def test_validate_kws_on_emulated_m4(capsys):
    code = main(["validate", str(SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"),
                 "--target", "stm32l4r5", "--seeds", "2", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["agree"] and r["backend"] == "qemu-m4"
    assert len(r["comparisons"]) == 4 and all(c["identical"] for c in r["comparisons"])
    assert all(c["max_abs_diff"] == 0 and c["max_rel_diff"] == 0 for c in r["comparisons"])
    assert r["state"] == {"stateful": False, "handling": "none"}
    # 2,656,768 MACs (MANIFEST.md) need at least 2,656,768 / 2 instructions even with SMLAD.
    assert all(n >= 2_656_768 // 2 for n in r["instructions"])
    assert r["sizes"]["text"] > r["model_part_sizes"]["text"] > 0


def test_validate_refuses_a_core_it_cannot_emulate(capsys):
    code = main(["validate", str(SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"),
                 "--target", "rp2040"])
    err = capsys.readouterr().err
    assert code == 1 and "no emulated board" in err


def test_first_differing_layer_is_found_by_bisection():
    """A backend that corrupts one layer's output is pinned to that layer."""
    import numpy as np

    from picojoule.backends.diagnose import first_differing_layer
    from picojoule.importers import load_model
    from picojoule.runtime import Interpreter, random_inputs

    path = SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"
    broken = 5  # the third DEPTHWISE_CONV_2D

    def faulty_backend(model, feeds):
        # The reference, except that node `broken`'s output gains 1 wherever it is computed.
        interp = Interpreter(model, preserve_all=True)
        outs = interp.run(feeds)
        n = len(model.main.nodes)
        if n - 1 >= broken:
            return [np.clip(o.astype(np.int16) + 1, -128, 127).astype(o.dtype) for o in outs]
        return outs

    feeds = random_inputs(load_model(path).main, 0)
    found = first_differing_layer(lambda: load_model(path), feeds, faulty_backend)
    assert found == {"index": broken, "op": "DEPTHWISE_CONV_2D",
                     "name": load_model(path).main.nodes[broken].name}
    assert first_differing_layer(lambda: load_model(path), feeds,
                                 lambda m, x: Interpreter(m).run(x)) is None


# -- the comparison rule, on hand-derived numbers -------------------------------------------
def test_the_float_tolerance_is_the_documented_one():
    assert FLOAT_RTOL == documented_tolerance() == 1e-5


def test_floats_within_tolerance_agree_and_report_the_largest_difference():
    want = np.array([4.0, -2.0, 0.5], np.float32)
    got = np.array([4.0, -2.0 + 2.0 ** -16, 0.5], np.float32)  # |diff| = 2^-16 = 1.52587890625e-05
    r = compare(got, want)
    assert r["agree"] and not r["identical"] and r["differing_elements"] == 1
    assert r["max_abs_diff"] == 2.0 ** -16
    assert r["max_rel_diff"] == 2.0 ** -16 / 4.0  # 3.814697265625e-06 of max|reference| = 4
    far = np.array([4.0, -2.0 + 2.0 ** -14, 0.5], np.float32)  # 2^-14 / 4 = 1.53e-05 > 1e-5
    r = compare(far, want)
    assert not r["agree"] and r["max_abs_diff"] == 2.0 ** -14 and r["max_rel_diff"] == 2.0 ** -16


def test_integers_must_be_identical():
    want = np.array([10, -3, 127], np.int8)
    r = compare(np.array([10, -1, 127], np.int8), want)
    assert not r["agree"] and r["differing_elements"] == 1 and r["tolerance"] == "bit-exact"
    assert r["max_abs_diff"] == 2 and r["max_rel_diff"] == 2 / 127
    r = compare(want.copy(), want)
    assert r["agree"] and r["identical"] and r["max_abs_diff"] == 0 and r["max_rel_diff"] == 0


def test_nan_shape_and_zero_reference_edge_cases():
    want = np.array([np.nan, 1.0], np.float32)
    assert compare(np.array([np.nan, 1.0], np.float32), want)["identical"]
    r = compare(np.array([0.0, 1.0], np.float32), want)
    assert not r["agree"] and r["max_abs_diff"] is None and r["max_rel_diff"] is None
    r = compare(np.zeros((2, 2), np.float32), np.zeros(4, np.float32))
    assert not r["agree"] and "mismatch" in r
    zero = np.zeros(3, np.float32)
    assert not compare(np.array([0, 1e-30, 0], np.float32), zero)["agree"]


# -- a float model: the reported false alarm -----------------------------------------------
@needs_qemu
def test_float_resnet_agrees_within_tolerance_and_prints_the_difference(capsys):
    from picojoule.backends import host
    from picojoule.importers import load_model
    from picojoule.runtime import Interpreter, random_inputs

    code = main(["validate", str(RESNET_F32), "--seeds", "1", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["agree"] and r["first_differing_layer"] == {}
    assert r["float_tolerance"]["relative"] == documented_tolerance()
    assert {c["backend"] for c in r["comparisons"]} == {"c", "qemu-m4"}
    for c in r["comparisons"]:
        assert c["dtype"] == "float32" and 0 <= c["max_rel_diff"] <= documented_tolerance()
    # The figures are the plain largest differences, recomputed here.
    m = load_model(RESNET_F32)
    x = random_inputs(m.main, 0)
    ref = Interpreter(m).run(x)[0]
    got = host.build(m).run(x)[0]
    diff = float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64))))
    row = next(c for c in r["comparisons"] if c["backend"] == "c")
    assert row["max_abs_diff"] == diff
    assert row["max_rel_diff"] == pytest.approx(diff / float(np.max(np.abs(ref))), rel=1e-12)
    # The text report says so, with the magnitude.
    assert main(["validate", str(RESNET_F32), "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "DIFFERS" not in out and "first differing layer" not in out
    assert "max |diff|" in out and "floats within 1e-05 relative" in out
    assert ("identical" if diff == 0 else f"{diff:.3g}") in out


def test_a_float_layer_is_blamed_only_beyond_tolerance():
    """Rounding-level noise in every layer is no differing layer; a real error is."""
    from picojoule.backends.diagnose import first_differing_layer
    from picojoule.backends.validate import agrees
    from picojoule.importers import load_model
    from picojoule.runtime import Interpreter, random_inputs

    broken = 3

    def backend(error_at):
        def run(model, feeds):
            outs = Interpreter(model).run(feeds)
            noisy = [o * np.float32(1 + 2e-7) for o in outs]  # 2e-7 relative: within 1e-5
            if len(model.main.nodes) - 1 >= error_at:
                noisy = [o + np.float32(1e-3) * np.max(np.abs(o)) for o in noisy]
            return noisy
        return run

    def load():
        return load_model(KWS_F32)

    feeds = random_inputs(load().main, 0)
    assert first_differing_layer(load, feeds, backend(10 ** 6), agrees) is None
    found = first_differing_layer(load, feeds, backend(broken), agrees)
    assert found is not None and found["index"] == broken
    # Bit for bit, the same noise would blame the first layer.
    assert first_differing_layer(load, feeds, backend(10 ** 6))["index"] == 0


# -- a stateful model: state carried alike in every backend --------------------------------
def _lstm_one_step(rng) -> object:
    """A one-layer int8 LSTM over one time step (as DTLN runs it: one frame per invoke), its
    memories in variable tensors that persist from one invoke to the next."""
    n_in, units = 8, 6
    ins: list = [None] * 24
    ins[0] = tensor("x", (1, 1, n_in), "int8", q(0.03, 4))
    for i in range(1, 9):
        ins[i] = const(f"w{i}", rng.integers(-127, 128, (units, n_in if i <= 4 else units),
                                             dtype=np.int8), quant=q(0.006, 0))
    for i in range(12, 16):
        ins[i] = const(f"b{i}", rng.integers(-2000, 2000, units).astype(np.int32),
                       quant=q(0.03 * 0.006, 0))
    ins[18] = variable("h", (1, units), "int8", q(1 / 128, -2))
    ins[19] = variable("c", (1, units), "int16", q(2.0 ** -11, 0))
    y = tensor("y", (1, 1, units), "int8", q(1 / 128, -2))
    return single_op_model("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], attrs=dict(
        fused_activation_function="TANH", cell_clip=0.0, proj_clip=0.0, time_major=False,
        asymmetric_quantize_inputs=False, diagonal_recurrent_tensors=False))


@needs_qemu
def test_lstm_state_is_carried_alike_in_every_backend(capsys, tmp_path):
    from picojoule.backends import host
    from picojoule.backends.validate import firmware_runner, host_runner
    from picojoule.importers import load_model
    from picojoule.runtime import random_inputs

    path = tmp_path / "lstm_state.tflite"
    path.write_bytes(model_bytes(_lstm_one_step(np.random.default_rng(16))))
    model = load_model(path)
    runs = [random_inputs(model.main, seed) for seed in range(3)]
    want = run_oracle(model, runs)           # TFLM, one interpreter: state carried
    alone = run_oracle(model, runs[1:2])[0]  # TFLM, seed 1 from the reset state
    assert not np.array_equal(want[1][0], alone[0]), "the state must matter for this test"
    for name, got in (("host C", host_runner(host.build)(model, runs)),
                      ("firmware", firmware_runner(lambda m: qemu.build(m, "qemu-m4"))(
                          model, runs))):
        for k in range(len(runs)):
            assert_same(got[k][0], want[k][0], f"{name} seed {k}")
    code = main(["validate", str(path), "--seeds", "3", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["agree"] and r["identical"], r["comparisons"]
    assert r["state"]["stateful"] and "carried" in r["state"]["handling"]
    assert len(r["comparisons"]) == 6


@needs_qemu
def test_stateful_float_lstm_from_the_corpus_agrees(capsys):
    """TFLM's float MNIST LSTM: float tolerance and carried state together."""
    code = main(["validate", str(SHARED_MODELS / "tflm/trained_lstm.tflite"), "--seeds", "2",
                 "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["agree"] and r["state"]["stateful"]
    assert all(c["max_rel_diff"] <= documented_tolerance() for c in r["comparisons"])
