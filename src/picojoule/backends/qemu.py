"""QEMU backend: cross-compile the generated library into Cortex-M firmware and run it on
qemu-system-arm, moving inputs and outputs through semihosting files.

The firmware is the generated library, a small harness (``firmware/harness.c``: read runs of
inputs from ``pj_in.bin``, invoke, write SysTick ticks and outputs to ``pj_out.bin``), a
startup file (vector table, reset handler) and a linker script, linked against newlib with
``rdimon.specs`` (semihosting). QEMU runs with ``-icount shift=0``: one instruction per
nanosecond of virtual time; SysTick counts the processor clock (25 MHz on MPS2), so
instructions ~= ticks * 1e9 / clock.

Builds are cached by source hash like the host backend's; every QEMU run has a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from picojoule.backends.c.generator import (
    CTYPES,
    WARN_FLAGS,
    Generated,
    generate,
    get_target,
    write,
)
from picojoule.backends.host import (
    cache_root,
    compile_cached,
    publish_build,
    run_tool,
    source_hash,
)
from picojoule.errors import InputError, PicojouleError
from picojoule.ir import Model
from picojoule.ir.dtypes import to_numpy

FIRMWARE_DIR = Path(__file__).resolve().parent / "firmware"
CROSS = "arm-none-eabi-gcc"
QEMU = "qemu-system-arm"


@dataclass(frozen=True)
class Machine:
    """A QEMU board: its CPU target, linker script and SysTick clock."""

    name: str
    target: str
    linker_script: str
    clock_hz: int


MACHINES: dict[str, Machine] = {
    "mps2-an386": Machine("mps2-an386", "cortex-m4", "mps2.ld", 25_000_000),
    "mps2-an500": Machine("mps2-an500", "cortex-m7", "mps2_an500.ld", 25_000_000),
    # Cortex-M55 with Helium (MVE), SSE-300: the processor (SysTick) clock is 32 MHz in QEMU
    # (measured: 31.25 instructions per tick under -icount shift=0).
    "mps3-an547": Machine("mps3-an547", "cortex-m55", "mps3.ld", 32_000_000),
}
BACKEND_MACHINES = {"qemu-m4": "mps2-an386", "qemu-m7": "mps2-an500", "qemu-m55": "mps3-an547"}


def toolchain_missing() -> str | None:
    """Why the QEMU backend cannot run here (None when it can)."""
    for tool in (CROSS, QEMU, "arm-none-eabi-size"):
        if not shutil.which(tool):
            return f"{tool} not found (Debian: gcc-arm-none-eabi, libnewlib-arm-none-eabi, " \
                   "qemu-system-arm)"
    return None


def get_machine(name: str) -> Machine:
    name = BACKEND_MACHINES.get(name, name)
    if name not in MACHINES:
        raise PicojouleError(f"unknown QEMU machine {name!r}; choose one of "
                             f"{', '.join([*MACHINES, *BACKEND_MACHINES])}")
    return MACHINES[name]


def _harness_header(gen: Generated) -> str:
    up = gen.name.upper()
    lines = [f'#include "{gen.name}.h"', "#include <stdio.h>", ""]
    for i, v in enumerate(gen.inputs):
        lines.append(f"static {CTYPES[v.dtype]} pj_in{i}[{up}_INPUT{i}_SIZE];")
    for i, v in enumerate(gen.outputs):
        lines.append(f"static {CTYPES[v.dtype]} pj_out{i}[{up}_OUTPUT{i}_SIZE];")
    lines.append("static int pj_read_inputs(FILE *f)\n{")
    lines.append("    return 1"
                 + "".join(f"\n        && fread(pj_in{i}, 1, sizeof pj_in{i}, f) == sizeof pj_in{i}"
                           for i in range(len(gen.inputs))) + ";\n}")
    lines.append("static int pj_write_outputs(FILE *f)\n{")
    lines.append("    return 1"
                 + "".join(f"\n        && fwrite(pj_out{i}, 1, sizeof pj_out{i}, f) == "
                           f"sizeof pj_out{i}" for i in range(len(gen.outputs))) + ";\n}")
    args = ", ".join([*(f"pj_in{i}" for i in range(len(gen.inputs))),
                      *(f"pj_out{i}" for i in range(len(gen.outputs)))])
    lines.append(f"#define PJ_INVOKE() {gen.name}_invoke({args})")
    return "\n".join(lines) + "\n"


@dataclass
class Firmware:
    """A built firmware image for one model and machine."""

    gen: Generated
    machine: Machine
    elf: Path
    #: arm-none-eabi-size of the whole firmware and of the model library's objects alone.
    sizes: dict = field(default_factory=dict)
    model_sizes: dict = field(default_factory=dict)

    def run_many(self, runs: Sequence[Sequence[np.ndarray]], timeout: float = 120.0
                 ) -> list[tuple[list[np.ndarray], int]]:
        """Run the firmware once over several input sets: [(outputs, instructions)]."""
        gen = self.gen
        blob = bytearray(np.uint32(len(runs)).tobytes())
        for inputs in runs:
            if len(inputs) != len(gen.inputs):
                raise InputError(f"model takes {len(gen.inputs)} input(s), got {len(inputs)}")
            for i, (v, x) in enumerate(zip(gen.inputs, inputs)):
                x = np.ascontiguousarray(x).reshape(np.shape(x))
                if x.dtype != to_numpy(v.dtype) or tuple(x.shape) != v.shape:
                    raise InputError(f"input {i} ({v.name!r}): expected "
                                     f"{v.dtype}{list(v.shape)}, got {x.dtype}{list(x.shape)}")
                blob += x.tobytes()
        with tempfile.TemporaryDirectory(prefix="pj_qemu_") as tmp:
            Path(tmp, "pj_in.bin").write_bytes(bytes(blob))
            cmd = [QEMU, "-M", self.machine.name, "-nographic", "-monitor", "none",
                   "-serial", "none", "-semihosting-config", "enable=on,target=native",
                   "-icount", "shift=0", "-kernel", str(self.elf)]
            try:
                res = subprocess.run(cmd, cwd=tmp, capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise PicojouleError(f"QEMU ({self.machine.name}) timed out after "
                                     f"{timeout:.0f} s") from None
            if res.returncode != 0:
                msg = (res.stderr or res.stdout).decode(errors="replace").strip()[:500]
                raise PicojouleError(f"firmware on {self.machine.name} exited with status "
                                     f"{res.returncode}{': ' + msg if msg else ''}")
            data = Path(tmp, "pj_out.bin").read_bytes()
        self.last_stdout = res.stdout.decode(errors="replace")
        results, pos = [], 0
        per_tick = 1e9 / self.machine.clock_hz
        for _ in runs:
            ticks = int(np.frombuffer(data[pos:pos + 8], np.uint64)[0])
            pos += 8
            outs = []
            for v in gen.outputs:
                arr = np.frombuffer(data[pos:pos + v.nbytes], to_numpy(v.dtype)).reshape(v.shape)
                outs.append(arr.copy())
                pos += v.nbytes
            results.append((outs, int(round(ticks * per_tick))))
        if pos != len(data):
            raise PicojouleError("firmware output file has an unexpected size")
        return results

    def run(self, inputs: Sequence[np.ndarray], timeout: float = 120.0
            ) -> tuple[list[np.ndarray], int]:
        return self.run_many([inputs], timeout)[0]


_BUILT: dict[str, Firmware] = {}


def _size(paths: list[Path], cwd: Path) -> dict:
    out = run_tool(["arm-none-eabi-size", "-t", *[str(p) for p in paths]], cwd, "size")
    last = out.strip().splitlines()[-1].split()
    return {"text": int(last[0]), "data": int(last[1]), "bss": int(last[2])}


def build(model: Model | Generated, machine: str = "mps2-an386", *, name: str | None = None,
          dsp: bool | None = None, opt: str = "-O2", profile: bool = False) -> Firmware:
    """Generate (unless given a :class:`Generated`) and cross-compile firmware for ``machine``."""
    why = toolchain_missing()
    if why:
        raise PicojouleError(f"QEMU backend unavailable: {why}")
    mach = get_machine(machine)
    tgt = get_target(mach.target)
    if isinstance(model, Generated):
        gen = model
    else:
        if name is None:
            name = Path(model.source).stem if model.source else "model"
        gen = generate(model, name=name, target=tgt, dsp=dsp)
    fw_files = {f: (FIRMWARE_DIR / f).read_text() for f in ("startup.c", "harness.c",
                                                            mach.linker_script)}
    harness_h = _harness_header(gen)
    cflags = [opt, *tgt.cpu_flags, "-ffunction-sections", "-fdata-sections", *WARN_FLAGS,
              *(["-DPJ_PROFILE"] if profile else [])]
    key = source_hash(gen, mach.name, harness_h, *fw_files.values(), *cflags)
    if key in _BUILT:
        return _BUILT[key]
    out = cache_root() / "qemu" / key
    elf = out / "fw.elf"
    if not elf.exists():
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        write(gen, tmp)
        for f, text in fw_files.items():
            (tmp / f).write_text(text)
        (tmp / "pj_harness_model.h").write_text(harness_h)
        objs = [str(compile_cached(CROSS, cflags, gen, src, tmp, "qemu"))
                for src in gen.sources]
        for src in ("harness.c", "startup.c"):
            obj = src[:-2] + ".o"
            run_tool([CROSS, *cflags, "-c", src, "-o", obj], tmp, f"cross-compiling {src}")
            objs.append(obj)
        run_tool([CROSS, *tgt.cpu_flags, "--specs=rdimon.specs", "-nostartfiles",
                  "-T", mach.linker_script, "-Wl,--gc-sections", *objs, "-o", "fw.elf"],
                 tmp, "linking firmware")
        for src in gen.sources:  # copies of the model's objects for the size report
            if src.startswith("pj_"):
                shutil.copy(compile_cached(CROSS, cflags, gen, src, tmp, "qemu"),
                            tmp / (src[:-2] + ".o"))
        publish_build(tmp, out, elf)
    model_objs = [out / (s[:-2] + ".o") for s in gen.sources]
    fw = Firmware(gen, mach, elf, _size([elf], out), _size(model_objs, out))
    _BUILT[key] = fw
    return fw


def run(model: Model, inputs: Sequence[np.ndarray], machine: str = "mps2-an386", *,
        dsp: bool | None = None, timeout: float = 120.0
        ) -> tuple[list[np.ndarray], int, dict]:
    """Run ``model`` once on the emulated board: (outputs, instructions, sizes).

    ``sizes`` has the firmware's ``text``/``data``/``bss`` and ``model`` (the same three for
    the model library's objects alone, before linking)."""
    fw = build(model, machine, dsp=dsp)
    outs, instr = fw.run(inputs, timeout)
    return outs, instr, {**fw.sizes, "model": fw.model_sizes}
