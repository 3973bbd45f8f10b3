"""`picojoule validate`: reference, host C and emulated firmware agree, and it says so."""

from __future__ import annotations

import json

import pytest

from oracles import SHARED_MODELS
from picojoule.backends import qemu
from picojoule.cli import main

MISSING = qemu.toolchain_missing()


@pytest.mark.skipif(MISSING is not None, reason=f"needs the Arm toolchain and QEMU: {MISSING}")
def test_validate_kws_on_emulated_m4(capsys):
    code = main(["validate", str(SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"),
                 "--target", "stm32l4r5", "--seeds", "2", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["agree"] and r["backend"] == "qemu-m4"
    assert len(r["comparisons"]) == 4 and all(c["identical"] for c in r["comparisons"])
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
