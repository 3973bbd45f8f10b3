"""Every model of the shared corpus through the generated C library.

Host C: every model, one seeded input (two in a row for models with state, whose second
run starts from the state the first left), outputs compared with picojoule's reference
interpreter (itself bit-exact with TFLM, see test_conformance.py): identical integers, float
outputs within 1e-5 of each tensor's largest magnitude. Models the C backend cannot compile
yet are skipped with the backend's exact one-line reason, so the remaining gap shows in the
test output.

QEMU Cortex-M4 (mps2-an386): every model too, two seeded inputs per firmware start.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oracles import SHARED_MODELS, assert_same
from picojoule.backends import host, qemu
from picojoule.backends.c import generate
from picojoule.errors import UnsupportedOpError
from picojoule.importers.tflite import load
from picojoule.runtime.reference import Interpreter, random_inputs

ALL = sorted(SHARED_MODELS.rglob("*.tflite"))
IDS = [str(p.relative_to(SHARED_MODELS)) for p in ALL]


#: The QEMU M4 selection: the whole corpus.
QEMU_SET = ALL
QEMU_IDS = IDS


def _load_or_skip(path: Path):
    model = load(path)
    try:
        generate(model, name="m")
    except UnsupportedOpError as e:
        pytest.skip(f"C backend: {str(e).removeprefix('C backend: ')}")
    return model


def _compare(model, got: list, want: list, what: str) -> None:
    """Integers identical; floats within 1e-5 of the tensor's largest magnitude (the
    criterion the conformance tests hold the reference to against TFLM)."""
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert_same(g, w, f"{what} output {i}", rtol=1e-5)


def _expected(model, seeds) -> tuple[list, list]:
    """Seeded inputs and the reference's outputs, run in sequence from the initial state
    (state carries over from one run to the next, as in the C library)."""
    ref = Interpreter(model)
    feeds = [random_inputs(model.main, s) for s in seeds]
    return feeds, [[o.copy() for o in ref.run(x)] for x in feeds]


def _stateful(model) -> bool:
    return any(v.variable for v in model.main.values()) or any(
        n.op.startswith("CUSTOM:Signal") for n in model.main.nodes)


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_host_c_matches_reference(path: Path) -> None:
    model = _load_or_skip(path)
    feeds, want = _expected(model, (0, 1) if _stateful(model) else (0,))
    lib = host.build(model, name="m")
    getattr(lib._lib, "m_reset")()  # the cached library may have run before
    for k, (x, w) in enumerate(zip(feeds, want)):
        _compare(model, lib.run(x), w, f"{path.name} host run {k}")


_MISSING = qemu.toolchain_missing()


@pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))
@pytest.mark.parametrize("path", QEMU_SET, ids=QEMU_IDS)
def test_qemu_m4_matches_reference(path: Path) -> None:
    model = _load_or_skip(path)
    seeds = (0, 1)
    feeds, want = _expected(model, seeds)
    fw = qemu.build(model, "mps2-an386", name="m")
    results = fw.run_many(feeds, timeout=120)
    for seed, (outs, instructions), w in zip(seeds, results, want):
        _compare(model, outs, w, f"{path.name} M4 seed {seed}")
        assert instructions > 0
