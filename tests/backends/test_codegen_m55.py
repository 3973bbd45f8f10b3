"""Cortex-M55 with Helium (MVE): the generated library's MVE kernels (pj_mve.c) give exactly
the reference interpreter's (and TFLM's) integers on the MLPerf Tiny four.

- On the host, the MVE data layouts (int8 weight chunks of 16, folded input offsets, the
  vector requantization constants, gather tables) run through the kernels' plain-C
  fallback: bit-exactness of the layouts is checked without an emulator.
- On qemu-system-arm ``-M mps3-an547`` (backend ``qemu-m55``) the firmware built with
  ``-mcpu=cortex-m55`` runs the real MVE instructions.

Skipped, with the reason printed, only when the toolchain lacks MVE support or QEMU's
mps3-an547 machine is missing.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from oracles import TflmSession
from picojoule.backends import host, qemu
from picojoule.backends.c import generate
from picojoule.importers.tflite import load
from picojoule.runtime.reference import Interpreter, random_inputs
from test_codegen_host import MODELS

MLPERF = ("kws", "vww", "ic", "ad")
SEEDS = (0, 1)


def _mve_missing() -> str | None:
    """Why MVE firmware cannot be built and run here (None when it can)."""
    why = qemu.toolchain_missing()
    if why:
        return why
    probe = subprocess.run(
        [qemu.CROSS, "-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard", "-dM", "-E", "-"],
        input=b"", capture_output=True)
    if b"__ARM_FEATURE_MVE" not in probe.stdout:
        return f"{qemu.CROSS} does not define __ARM_FEATURE_MVE for -mcpu=cortex-m55"
    machines = subprocess.run([qemu.QEMU, "-M", "help"], capture_output=True).stdout
    if b"mps3-an547" not in machines:
        return f"{shutil.which(qemu.QEMU)} has no mps3-an547 machine"
    return None


_MISSING = _mve_missing()
if _MISSING:
    print(f"test_codegen_m55 (QEMU part) skipped: {_MISSING}")
needs_qemu = pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))


def _feeds(model):
    return [random_inputs(model.main, s) for s in SEEDS]


@pytest.mark.parametrize("key", MLPERF)
def test_mve_layout_on_host_matches_reference(key: str) -> None:
    """The M55 target's generated code (MVE layouts, portable fallback) on the host."""
    model = load(MODELS[key])
    gen = generate(model, name=f"{key}_m55", target="cortex-m55")
    assert "pj_mve.c" in gen.sources or key == "ad"  # AD has no convolutions
    lib = host.build(gen)
    ref = Interpreter(model)
    for seed, x in zip(SEEDS, _feeds(model)):
        for i, (g, r) in enumerate(zip(lib.run(x), ref.run(x))):
            assert np.array_equal(g, r), f"{key} seed {seed} output {i}: host MVE layout"


@needs_qemu
@pytest.mark.parametrize("key", MLPERF)
def test_m55_matches_reference_and_tflm(key: str) -> None:
    path = MODELS[key]
    model = load(path)
    feeds = _feeds(model)
    ref = Interpreter(model)
    tflm = TflmSession(path, preserve_all=False)
    fw = qemu.build(model, "qemu-m55")
    assert fw.machine.name == "mps3-an547" and fw.gen.target.name == "cortex-m55"
    for seed, x, (outs, instructions) in zip(SEEDS, feeds, fw.run_many(feeds, timeout=120)):
        want = tflm.run(x)
        for i, (g, r, t) in enumerate(zip(outs, ref.run(x), want)):
            assert g.dtype == r.dtype and g.shape == r.shape
            assert np.array_equal(g, r), f"{key} seed {seed} output {i}: M55 != reference"
            assert np.array_equal(g, t), f"{key} seed {seed} output {i}: M55 != TFLM"
        assert instructions > 0
    assert fw.model_sizes["bss"] >= fw.gen.arena_size


@needs_qemu
def test_m55_uses_helium_and_beats_m4() -> None:
    """The KWS firmware links the MVE kernels, and the M55 build executes fewer than half
    the instructions of the M4 (SMLAD) build of the same model."""
    model = load(MODELS["kws"])
    x = random_inputs(model.main, 0)
    fw55 = qemu.build(model, "qemu-m55")
    fw4 = qemu.build(model, "qemu-m4")
    syms = subprocess.run(["arm-none-eabi-nm", str(fw55.elf)], capture_output=True,
                          text=True).stdout
    assert "pj_conv_s8_mve" in syms and "pj_dwconv_s8_mve16" in syms
    assert "pj_conv_s8_w16" not in syms
    _, i55 = fw55.run(x)
    _, i4 = fw4.run(x)
    assert 0 < i55 < i4 / 2
