"""`--optimize size`: int8 weights in flash on DSP cores, same integers as the reference."""

from __future__ import annotations

import numpy as np
import pytest

from oracles import SHARED_MODELS, TflmSession
from picojoule.backends import host, qemu
from picojoule.backends.c import generate
from picojoule.errors import PicojouleError
from picojoule.importers.tflite import load
from picojoule.runtime import random_inputs

KWS = SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"


def test_size_layout_halves_conv_weights_and_stays_exact():
    model = load(KWS)
    speed = generate(model, name="kws", target="cortex-m4")
    size = generate(model, name="kws", target="cortex-m4", optimize="size")
    # KWS's five convolutions hold 18,944 weights (hand count from the file's shapes
    # 64x10x4x1 + 4 x 64x1x1x64); the speed layout spends 2 bytes on each, the size layout
    # one, so nearly a byte per weight is saved (layouts differ slightly in padding).
    assert speed.const_bytes - size.const_bytes >= 0.9 * 18_944
    x = random_inputs(model.main, 4)
    want = TflmSession(KWS, preserve_all=False).run(x)[0]
    np.testing.assert_array_equal(host.build(size).run(x)[0], want)
    if qemu.toolchain_missing() is None:
        outs, instructions = qemu.build(size, "mps2-an386").run(x)
        np.testing.assert_array_equal(outs[0], want)


def test_unknown_optimize_goal_is_refused():
    with pytest.raises(PicojouleError, match="optimize must be"):
        generate(load(KWS), target="cortex-m4", optimize="tiny")
