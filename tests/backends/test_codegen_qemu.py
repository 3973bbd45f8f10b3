"""QEMU backend: the generated library cross-compiled for an emulated Cortex-M4 (mps2-an386,
SMLAD kernels on the real DSP instructions) gives exactly TFLM's integers, and the firmware
reports instruction counts and sizes.

Skipped, with the reason printed, only when the ARM toolchain or qemu-system-arm is absent.
"""

from __future__ import annotations

import numpy as np
import pytest

from oracles import TflmSession
from picojoule.backends import qemu
from picojoule.importers.tflite import load
from picojoule.runtime.reference import Interpreter, random_inputs
from test_codegen_host import MODELS

_MISSING = qemu.toolchain_missing()
if _MISSING:
    print(f"test_codegen_qemu skipped: {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))

SEEDS = (0, 1)


@pytest.mark.parametrize("key", list(MODELS))
def test_m4_matches_tflm(key: str) -> None:
    path = MODELS[key]
    model = load(path)
    feeds = [random_inputs(model.main, s) for s in SEEDS]
    tflm = TflmSession(path, preserve_all=False)
    ref = Interpreter(model)
    fw = qemu.build(model, "mps2-an386")
    results = fw.run_many(feeds, timeout=60)
    for seed, x, (outs, instructions) in zip(SEEDS, feeds, results):
        want = tflm.run(x)
        mine = ref.run(x)
        for i, (g, w, r) in enumerate(zip(outs, want, mine)):
            assert g.dtype == w.dtype and g.shape == w.shape
            assert np.array_equal(g, w), f"{key} seed {seed} output {i}: M4 != TFLM"
            assert np.array_equal(g, r), f"{key} seed {seed} output {i}: M4 != reference"
        assert instructions > 0
    # Sizes: the model's constants live in text (flash), the arena in bss.
    assert fw.model_sizes["text"] >= fw.gen.const_bytes
    assert fw.model_sizes["bss"] >= fw.gen.arena_size
    assert fw.sizes["text"] > fw.model_sizes["text"]


def test_instruction_count_scales_with_work() -> None:
    """The SysTick-based count is consistent: a model with ~50x the MACs of another takes
    many more instructions, and two runs of the same model agree within 1%."""
    small = load(MODELS["ad"])
    big = load(MODELS["ic"])
    fw_small, fw_big = qemu.build(small), qemu.build(big)
    feeds = [random_inputs(big.main, s) for s in SEEDS]
    (_, i1), (_, i2) = fw_big.run_many(feeds)
    assert abs(i1 - i2) <= 0.01 * i1
    _, i_small = fw_small.run(random_inputs(small.main, 0))
    assert i1 > 10 * i_small


@pytest.mark.parametrize("key", ["kws", "vww", "ic", "ad"])
def test_m7_matches_tflm(key: str) -> None:
    """mps2-an500 (Cortex-M7) runs the MLPerf Tiny four bit-exactly with TFLM."""
    model = load(MODELS[key])
    x = random_inputs(model.main, 3)
    outs, instructions, sizes = qemu.run(model, x, "mps2-an500")
    want = TflmSession(MODELS[key], preserve_all=False).run(x)
    assert np.array_equal(outs[0], want[0])
    assert instructions > 0 and sizes["text"] > 0
