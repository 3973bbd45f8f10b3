"""The generated C under AddressSanitizer and UndefinedBehaviorSanitizer.

Each model's library is built for the host with ``-fsanitize=address,undefined
-fno-sanitize-recover=all`` (and ``float-cast-overflow``, which ``undefined`` leaves out) and
called through ``<name>_invoke_with_arena`` on an arena ``malloc``'d at exactly the size the
generated header declares (``<NAME>_ARENA_SIZE``), with inputs and outputs ``malloc``'d at
exactly their sizes too, so one byte read or written past any of them stops the program.
Every model runs on seeded random inputs and on extreme ones (every element the dtype's
minimum, then its maximum); the outputs must equal those of the unsanitized library
(``backends/host.py``, ``-O3 -march=native``) on the same sequence.

The sample: the MLPerf Tiny int8 models, TFLM's example models and every eighth single-op
model
(with ``PICOJOULE_SANITIZE_ALL=1``: every model of the corpus).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from oracles import SHARED_MODELS

from picojoule.backends import host
from picojoule.backends.c import generate
from picojoule.backends.c.generator import CTYPES, WARN_FLAGS, write
from picojoule.importers.tflite import load
from picojoule.ir.dtypes import to_numpy
from picojoule.runtime.reference import random_inputs

SANITIZE = ["-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer", "-g1", "-O1"]
#: A report from either sanitizer ends the run with this exit status.
SANITIZER_EXIT = 86
NPU_ONLY = {"tflm/person_detect_vela.tflite"}  # an Ethos-U command stream: no C kernel


def _sample() -> list[str]:
    every = 1 if os.environ.get("PICOJOULE_SANITIZE_ALL") else 8
    ops = sorted(p.relative_to(SHARED_MODELS).as_posix()
                 for p in (SHARED_MODELS / "ops").glob("*.tflite"))
    rest = sorted(p.relative_to(SHARED_MODELS).as_posix()
                  for d in ("mlperf_tiny", "tflm") for p in (SHARED_MODELS / d).glob("*.tflite"))
    if every > 1:  # the float32 MLPerf Tiny variants share their kernels with the TFLM floats
        rest = [r for r in rest if not r.endswith("_float32.tflite")]
    return [r for r in rest if r not in NPU_ONLY] + ops[::every]


def _cc() -> str:
    for cc in ("gcc", "clang"):
        if shutil.which(cc):
            return cc
    pytest.fail("no host C compiler (gcc or clang): .ci/run installs them")


def _harness(name: str, gen) -> str:
    """main(): read every record of inputs from ``in.bin``, invoke on exactly-sized heap
    buffers, write the outputs to ``out.bin``."""
    up = name.upper()
    ins, outs = gen.inputs, gen.outputs
    lines = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>",
             f'#include "{name}.h"', "",
             "static void *exactly(size_t n) { void *p = malloc(n ? n : 1);",
             "    if (!p) { exit(2); } return p; }", "",
             "int main(void) {",
             '    FILE *in = fopen("in.bin", "rb"), *out = fopen("out.bin", "wb");',
             "    if (!in || !out) { return 2; }",
             f"    uint8_t *arena = exactly({up}_ARENA_SIZE);",
             f"    {name}_reset();",
             "    for (;;) {"]
    for i, v in enumerate(ins):
        lines += [f"        {CTYPES[v.dtype]} *in{i} = exactly({up}_INPUT{i}_BYTES);",
                  (f"        if (fread(in{i}, 1, {up}_INPUT{i}_BYTES, in) != "
                   f"{up}_INPUT{i}_BYTES) {{ free(in{i}); break; }}")]
    for i, v in enumerate(outs):
        lines.append(f"        {CTYPES[v.dtype]} *out{i} = exactly({up}_OUTPUT{i}_BYTES);")
    args = ", ".join(["arena", *(f"in{i}" for i in range(len(ins))),
                      *(f"out{i}" for i in range(len(outs)))])
    lines.append(f"        if ({name}_invoke_with_arena({args}) != 0) {{ return 3; }}")
    for i in range(len(outs)):
        lines += [f"        fwrite(out{i}, 1, {up}_OUTPUT{i}_BYTES, out);", f"        free(out{i});"]
    lines += [f"        free(in{i});" for i in range(len(ins))]
    lines += ["    }", "    free(arena);", "    fclose(in);", "    return fclose(out) ? 2 : 0;",
              "}", ""]
    return "\n".join(lines)


def _feeds(model) -> list[list[np.ndarray]]:
    """Two seeded random inputs, then every element at its dtype's minimum, then maximum."""
    g = model.main
    feeds = [random_inputs(g, s) for s in (1, 2)]
    for pick in (0, 1):
        row = []
        for v in g.inputs:
            dt = to_numpy(v.dtype)
            if np.issubdtype(dt, np.integer):
                lim = (np.iinfo(dt).min, np.iinfo(dt).max)[pick]
            elif dt == np.bool_:
                lim = bool(pick)
            else:
                lim = (-1e4, 1e4)[pick]  # large, finite: inf would only test IEEE arithmetic
            row.append(np.full(v.shape, lim, dt))
        feeds.append(row)
    return feeds


def _build(gen, work: Path, cc: str) -> Path:
    write(gen, work)
    (work / "san_main.c").write_text(_harness(gen.name, gen))
    flags = [*WARN_FLAGS, *SANITIZE, f"-D{gen.name.upper()}_NO_STATIC_ARENA"]
    objs = [host.compile_cached(cc, flags, gen, src, work, "sanitize")
            for src in [*gen.sources, "san_main.c"]]
    host.run_tool([cc, *SANITIZE, *map(str, objs), "-lm", "-o", "san"], work,
                  "linking the sanitized harness")
    return work / "san"


@pytest.mark.parametrize("rel", _sample())
def test_generated_c_is_clean_under_asan_and_ubsan(rel: str, tmp_path: Path) -> None:
    model = load(SHARED_MODELS / rel)
    gen = generate(model, name="m", target="host")
    exe = _build(gen, tmp_path / "lib", _cc())
    feeds = _feeds(model)
    work = tmp_path / "lib"
    (work / "in.bin").write_bytes(b"".join(np.ascontiguousarray(x).tobytes()
                                           for row in feeds for x in row))
    env = {**os.environ,
           "ASAN_OPTIONS": f"exitcode={SANITIZER_EXIT}:detect_leaks=0",
           "UBSAN_OPTIONS": f"exitcode={SANITIZER_EXIT}:print_stacktrace=1:halt_on_error=1"}
    res = subprocess.run([str(exe)], cwd=work, capture_output=True, text=True, timeout=120,
                         env=env, check=False)
    assert res.returncode == 0, f"{rel}: exit {res.returncode}\n{res.stderr[-4000:]}"
    assert res.stderr == "", res.stderr[-4000:]
    blob = (work / "out.bin").read_bytes()

    lib = host.build(gen)  # the unsanitized library, same sequence from a fresh state
    lib._lib.m_reset()
    want = [lib.run(row) for row in feeds]
    sizes = [(to_numpy(v.dtype), v.shape, v.nbytes) for v in gen.outputs]
    assert len(blob) == len(feeds) * sum(n for *_, n in sizes)
    pos = 0
    for k, row in enumerate(want):
        for i, ((dt, shape, n), w) in enumerate(zip(sizes, row)):
            got = np.frombuffer(blob[pos:pos + n], dt).reshape(shape)
            pos += n
            assert np.array_equal(got, w, equal_nan=np.issubdtype(dt, np.floating)), \
                f"{rel}: input set {k}, output {i} differs from the unsanitized build"
