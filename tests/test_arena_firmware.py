"""The firmware allocates exactly the arena `analyze` reports.

For every corpus model (../shared/models) the arena `picojoule analyze` plans for a target
is compared with the arena array the generated C declares, read from the C text (not from
the generator's or the planner's own figure). Each model is checked on one core class, in
rotation (Cortex-M4 with the DSP kernels, Cortex-M55 with the MVE kernels, Cortex-M0+ with
the portable ones); the small MLPerf Tiny int8 models on all three. The persistent state is
checked the same way, against the state buffers the C text declares.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from oracles import SHARED_MODELS
from picojoule.analysis.analyze import STACK_ESTIMATE_BYTES, analyze, ram_plans
from picojoule.backends.c.generator import generate
from picojoule.errors import PicojouleError
from picojoule.importers import load_model
from picojoule.targets import load_target

#: core class -> (C backend core, catalogue target with that core)
CORES = [("cortex-m4", "stm32l4r5"), ("cortex-m55", "corstone300-m55"),
         ("cortex-m0plus", "rp2040")]
MODELS = sorted(p for p in SHARED_MODELS.rglob("*") if p.suffix in (".tflite", ".onnx"))
ALL_CORES = {"ad_toycar_fcae_int8", "ic_resnet8_int8", "kws_dscnn_int8"}
#: The one corpus model without a C kernel for every node (an Ethos-U command stream).
NO_C = {"person_detect_vela"}

_ARENA = re.compile(r"^static union \{ int64_t align_; uint8_t bytes\[(\d+)\]; \} m_arena;",
                    re.M)
_STATE = re.compile(r"^static union \{ int64_t align_; (\w+) v\[(\d+)\]; \} m_state\d+;", re.M)
_STATIC = re.compile(r"^static (\w+) \w+\[(\d+)\];", re.M)
_CSIZE = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4,
          "uint32_t": 4, "float": 4, "int64_t": 8, "uint64_t": 8}


def _cases():
    out = []
    for k, p in enumerate(MODELS):
        cores = CORES if p.stem in ALL_CORES else [CORES[k % len(CORES)]]
        out += [pytest.param(p, core, tgt, id=f"{p.parent.name}/{p.stem}-{core}")
                for core, tgt in cores]
    return out


def test_the_corpus_is_there():
    assert len(MODELS) > 100 and ALL_CORES <= {p.stem for p in MODELS}


def _declared(src: str) -> tuple[int, int]:
    """(arena bytes, state bytes) the generated model file declares: the arena array, and
    the state tensors' buffers plus the kernels' static arrays."""
    arena = [int(n) for n in _ARENA.findall(src)]
    assert len(arena) == 1, "one static arena array"
    state = sum(_CSIZE[c] * int(n) for c, n in [*_STATE.findall(src), *_STATIC.findall(src)])
    return arena[0], state


@pytest.mark.parametrize("path,core,target", _cases())
def test_firmware_arena_is_the_planned_arena(path: Path, core: str, target: str):
    model = load_model(str(path))
    if path.stem in NO_C:
        with pytest.raises(PicojouleError, match="no C kernel"):
            generate(model, name="m", target=core)
        return
    gen = generate(model, name="m", target=core)
    arena, state = _declared(gen.files["m.c"])
    # analyze's figure for this library (the same generated files a user builds).
    plan, _, source = ram_plans(model, load_target(target), STACK_ESTIMATE_BYTES, gen)
    assert "generated C" in source
    assert plan.arena_bytes == arena
    assert plan.outside_bytes == state


def test_analyze_headline_adds_arena_state_and_stack():
    """A stateful model: the headline is arena + state + stack, the parts as the C has them."""
    path = SHARED_MODELS / "tflm" / "keyword_scrambled.tflite"
    model = load_model(str(path))
    r = analyze(model, load_target("stm32l4r5"))
    ram = r["ram"]
    arena, state = _declared(generate(model, name="m", target="cortex-m4").files["m.c"])
    assert (ram["arena_bytes"], ram["state_bytes"]) == (arena, state)
    # Seven int16 state tensors: 4 x 512 + 3 x 1024 elements (the model's variables).
    assert state == 2 * (4 * 512 + 3 * 1024)
    assert ram["total_bytes"] == arena + state + ram["stack_bytes"]
    assert ram["data_bytes"] == arena + state
    assert ram["stack_bytes"] > 0 and ram["stack_source"]


@pytest.mark.parametrize("stem", sorted(ALL_CORES))
def test_the_planner_with_the_emitters_needs_plans_the_firmware_arena(stem: str):
    """``plan_memory(model, needs=kernel_needs(model, core))``, the planner's public entry,
    gives the arena the generated C declares, on every core class."""
    from picojoule.backends.c.generator import kernel_needs
    from picojoule.planner import plan_memory

    path = next(p for p in MODELS if p.stem == stem)
    model = load_model(str(path))
    for core, _ in CORES:
        arena, _ = _declared(generate(model, name="m", target=core).files["m.c"])
        assert plan_memory(model, needs=kernel_needs(model, core)).arena_bytes == arena


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no ARM toolchain")
def test_the_stack_covers_the_model_function_and_the_kernel_it_calls(tmp_path: Path):
    """The measured stack is at least the frames of ``m_invoke_with_arena`` and of the
    convolution kernel it calls, as ``-fstack-usage`` lists them for the files compiled
    here at the firmware's flags."""
    from picojoule.analysis.analyze import stack_bound
    from picojoule.analysis.stack import firmware_cflags

    model = load_model(str(SHARED_MODELS / "mlperf_tiny" / "kws_dscnn_int8.tflite"))
    gen = generate(model, name="m", target="cortex-m4")
    assert "pj_conv_s8_w16(" in gen.files["m.c"]
    for n, text in gen.files.items():
        (tmp_path / n).write_text(text)
    frames = {}
    for src in ("m.c", "pj_conv.c"):
        subprocess.run(["arm-none-eabi-gcc", *firmware_cflags("cortex-m4"), "-fstack-usage",
                        "-c", src], cwd=tmp_path, check=True, capture_output=True)
        for line in (tmp_path / (src[:-2] + ".su")).read_text().splitlines():
            where, size, _ = line.split("\t")
            frames[where.rsplit(":", 1)[1]] = int(size)
    stack, source = stack_bound(gen)
    assert source.startswith("measured")
    assert stack >= frames["m_invoke_with_arena"] + frames["pj_conv_s8_w16"] > 0
