"""Host C backend: the generated library, built with the host compiler, gives exactly the
integers TFLM gives (and picojoule's reference interpreter, itself bit-exact with TFLM).

Both data layouts are checked on the host: the portable one and the SMLAD one the Cortex-M
DSP targets use (its dual-MAC instructions are emulated in portable C off-target).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from oracles import SHARED_MODELS, TflmSession
from picojoule.backends import host
from picojoule.backends.c import compile_model, generate
from picojoule.errors import UnsupportedOpError
from picojoule.importers.tflite import load
from picojoule.runtime.reference import Interpreter, random_inputs

DEMO = Path(__file__).resolve().parents[2] / "src" / "picojoule" / "data" / "demo.tflite"

MODELS = {
    "kws": SHARED_MODELS / "mlperf_tiny" / "kws_dscnn_int8.tflite",
    "vww": SHARED_MODELS / "mlperf_tiny" / "vww_mobilenetv1_96_int8.tflite",
    "ic": SHARED_MODELS / "mlperf_tiny" / "ic_resnet8_int8.tflite",
    "ad": SHARED_MODELS / "mlperf_tiny" / "ad_toycar_fcae_int8.tflite",
    "ad_floatio": SHARED_MODELS / "mlperf_tiny" / "ad_toycar_fcae_int8_floatio.tflite",
    "hello_world": SHARED_MODELS / "tflm" / "hello_world_int8.tflite",
    "micro_speech": SHARED_MODELS / "tflm" / "micro_speech_quantized.tflite",
    "person_detect": SHARED_MODELS / "tflm" / "person_detect.tflite",
    "demo": DEMO,
}
SEEDS = (0, 1, 2)

_expected: dict[str, tuple] = {}


def expected(key: str):
    """(model, feeds, TFLM outputs, reference outputs) per model, computed once."""
    if key not in _expected:
        path = MODELS[key]
        model = load(path)
        feeds = [random_inputs(model.main, s) for s in SEEDS]
        tflm = TflmSession(path, preserve_all=False)
        ref = Interpreter(model)
        _expected[key] = (model, feeds, [tflm.run(x) for x in feeds],
                          [[o.copy() for o in ref.run(x)] for x in feeds])
    return _expected[key]


@pytest.mark.parametrize("dsp", [False, True], ids=["portable", "smlad-layout"])
@pytest.mark.parametrize("key", list(MODELS))
def test_model_matches_tflm(key: str, dsp: bool) -> None:
    model, feeds, tflm_outs, ref_outs = expected(key)
    lib = host.build(model, dsp=dsp)
    for seed, x, want, ref in zip(SEEDS, feeds, tflm_outs, ref_outs):
        got = lib.run(x)
        assert len(got) == len(want)
        for i, (g, w, r) in enumerate(zip(got, want, ref)):
            assert g.dtype == w.dtype and g.shape == w.shape, f"{key} output {i}"
            # Identical integers (and identical floats for the float-I/O model).
            assert np.array_equal(g, w), f"{key} seed {seed} output {i}: C != TFLM"
            assert np.array_equal(g, r), f"{key} seed {seed} output {i}: C != reference"


def test_outputs_vary_with_inputs() -> None:
    """Guard against a harness that returns constants: different inputs, different outputs."""
    model, feeds, *_ = expected("ic")
    lib = host.build(model)
    outs = [lib.run(x)[0] for x in feeds]
    assert not all(np.array_equal(outs[0], o) for o in outs[1:])


def test_unsupported_op_is_named(tmp_path: Path) -> None:
    model = load(SHARED_MODELS / "tflm" / "person_detect_vela.tflite")
    with pytest.raises(UnsupportedOpError, match="ethos-u"):
        compile_model(model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("key", ["vww", "ic"])
def test_arena_plan_never_overlaps_live_buffers(key: str) -> None:
    """Buffers alive at the same node never share arena bytes, every buffer fits the arena,
    and space is reused (the arena is smaller than all activations together)."""
    model = load(MODELS[key])
    gen = generate(model, name=key, target="host", dsp=True)
    plan = gen.meta["plan"]
    for i, (name_a, off_a, size_a, start_a, end_a) in enumerate(plan):
        assert off_a % 4 == 0 and off_a + size_a <= gen.arena_size, name_a
        for name_b, off_b, size_b, start_b, end_b in plan[i + 1:]:
            live_together = start_a <= end_b and start_b <= end_a
            disjoint = off_a + size_a <= off_b or off_b + size_b <= off_a
            assert not live_together or disjoint, f"{name_a} overlaps {name_b}"
    total = sum(v.nbytes for v in model.main.values() if not v.is_const)
    assert 0 < gen.arena_size < total
    assert f"#define {key.upper()}_ARENA_SIZE {gen.arena_size}" in gen.files[f"{key}.h"]


def test_generated_library_builds_with_strict_flags(tmp_path: Path) -> None:
    """The folder builds with its Makefile (-std=c99 -Wall -Wextra -Werror -pedantic) and the
    example prints one line of outputs; with clang too when installed."""
    model = load(DEMO)
    out = tmp_path / "demo_lib"
    gen = compile_model(model, out, target="host", name="demo")
    assert {"demo.h", "demo.c", "main.c", "Makefile", "CMakeLists.txt"} <= set(gen.files)
    text = (out / "demo.c").read_text() + "".join((out / s).read_text() for s in gen.sources)
    for header in ("stdio.h", "stdlib.h", "math.h"):
        assert f"<{header}>" not in text
    assert "malloc" not in text
    compilers = ["gcc"] + (["clang"] if shutil.which("clang") else [])
    for cc in compilers:
        subprocess.run(["make", "clean"], cwd=out, check=True, capture_output=True)
        res = subprocess.run(["make", f"CC={cc}", "example"], cwd=out, capture_output=True,
                             text=True)
        assert res.returncode == 0, res.stderr
        run = subprocess.run([str(out / "example")], capture_output=True, text=True, timeout=30)
        assert run.returncode == 0
        assert len(run.stdout.split()) == gen.outputs[0].size


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed")
def test_cmake_build_in_fresh_folder(tmp_path: Path) -> None:
    """CMakeLists.txt builds the library and example with nothing but a C compiler."""
    model = load(MODELS["hello_world"])
    src = tmp_path / "src"
    compile_model(model, src, target="host", name="hello")
    build = tmp_path / "build"
    env_free = {"PATH": "/usr/bin:/bin"}
    cfg = subprocess.run(["cmake", "-S", str(src), "-B", str(build)], capture_output=True,
                         text=True, env=env_free)
    assert cfg.returncode == 0, cfg.stderr
    res = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True,
                         env=env_free)
    assert res.returncode == 0, res.stderr + res.stdout
    run = subprocess.run([str(build / "hello_example")], capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 0 and len(run.stdout.split()) == 1


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None,
                    reason="arm-none-eabi-gcc not installed")
@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33",
                                    "cortex-m55"])
def test_cross_compiles_strictly(tmp_path: Path, target: str) -> None:
    """Every C file compiles warning-free with arm-none-eabi-gcc for each core."""
    model = load(DEMO)
    gen = compile_model(model, tmp_path, target=target, name="demo")
    flags = [*gen.target.cpu_flags, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
             "-pedantic"]
    for src in gen.sources:
        res = subprocess.run(["arm-none-eabi-gcc", *flags, "-c", src, "-o", "/dev/null"],
                             cwd=tmp_path, capture_output=True, text=True)
        assert res.returncode == 0, f"{target} {src}: {res.stderr}"


STRICT_SAMPLE = ["mlperf_tiny/kws_dscnn_int8.tflite", "mlperf_tiny/vww_mobilenetv1_96_int8.tflite",
                 "mlperf_tiny/ic_resnet8_int8.tflite", "mlperf_tiny/ad_toycar_fcae_int8.tflite",
                 "mlperf_tiny/ic_resnet8_float32.tflite", "mlperf_tiny/kws_dscnn_float32.tflite",
                 "ops/conv0.tflite", "ops/transpose_conv0.tflite", "ops/strided_slice0.tflite",
                 "tflm/keyword_scrambled.tflite", "tflm/micro_speech_lstm.tflite",
                 "tflm/audio_preprocessor_int8.tflite"]


@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("rel", STRICT_SAMPLE)
def test_strict_c99_under_gcc_and_clang(tmp_path: Path, cc: str, rel: str) -> None:
    """Every kernel family compiles warning-free as strict C99 under both host compilers."""
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed (.ci/run installs it)")
    gen = compile_model(load(SHARED_MODELS / rel), tmp_path, target="host", name="m")
    for src in [*gen.sources, "m.c"]:
        res = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2",
                              "-c", src, "-o", "/dev/null"], cwd=tmp_path, capture_output=True,
                             text=True)
        assert res.returncode == 0, f"{cc} {src}: {res.stderr[:2000]}"
