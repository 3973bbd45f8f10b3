"""Host C backend: build the generated library with the host compiler and call it via ctypes.

Builds are cached by the hash of the generated sources and flags (under
``$PICOJOULE_CACHE`` or ``~/.cache/picojoule``), so repeated runs of a model only pay for
generation. The library is compiled with the same strict flags the generated Makefile uses
(``-std=c99 -Wall -Wextra -Werror -pedantic``), so a warning is a failure here too.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from picojoule.backends.c.generator import WARN_FLAGS, Generated, generate, write
from picojoule.errors import InputError, PicojouleError
from picojoule.ir import Model
from picojoule.ir.dtypes import to_numpy

#: Built for (and cached per) this machine's CPU, so -march=native is safe and lets the
#: compiler vectorize the portable kernels.
HOST_FLAGS = ("-O3", "-march=native", "-fPIC", "-shared")


def _cpu_id() -> str:
    """Something that changes when the CPU does (the cache key: -march=native)."""
    import platform
    try:
        info = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in info.splitlines() if ln.startswith(("model name", "flags"))][:2]
    except OSError:
        lines = []
    return platform.machine() + "|" + "|".join(lines)


def cache_root() -> Path:
    env = os.environ.get("PICOJOULE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "picojoule"


def source_hash(gen: Generated, *extra: str) -> str:
    h = hashlib.sha256()
    for fname in sorted(gen.files):
        h.update(fname.encode() + b"\0" + gen.files[fname].encode() + b"\0")
    for e in extra:
        h.update(e.encode() + b"\0")
    return h.hexdigest()[:20]


def find_cc(preferred: str | None = None) -> str:
    for cc in (preferred, os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    raise PicojouleError("no host C compiler found (install gcc or clang, or set CC)")


def run_tool(cmd: list[str], cwd: Path, what: str, timeout: float = 300) -> str:
    """Run a build tool; a failure becomes one PicojouleError with the tool's message."""
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PicojouleError(f"{what} timed out after {timeout:.0f} s") from None
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        head = "\n".join(msg[:20])
        raise PicojouleError(f"{what} failed ({' '.join(cmd[:1])}): {head}")
    return res.stdout


def compile_cached(cc: str, cflags: list[str], gen: Generated, src: str, work: Path,
                   kind: str) -> Path:
    """Compile one generated source to an object file; kernel sources (identical for every
    model) are cached by content and flags, so only the model's own file is compiled anew."""
    headers = "".join(gen.files[h] for h in sorted(gen.files) if h.endswith(".h")
                      and h.startswith("pj_"))
    if src.startswith("pj_"):
        key = hashlib.sha256("\0".join([cc, *cflags, src, gen.files[src], headers]).encode())
        obj = cache_root() / kind / "objs" / f"{src[:-2]}-{key.hexdigest()[:20]}.o"
        if not obj.exists():
            obj.parent.mkdir(parents=True, exist_ok=True)
            tmp_obj = obj.with_name(obj.name + f".tmp{os.getpid()}")
            run_tool([cc, *cflags, "-c", src, "-o", str(tmp_obj)], work, f"compiling {src}")
            os.replace(tmp_obj, obj)
        return obj
    obj = work / (src[:-2] + ".o")
    run_tool([cc, *cflags, "-c", src, "-o", obj.name], work, f"compiling {src}")
    return obj


def publish_build(tmp: Path, out: Path, product: Path) -> None:
    """Move a finished build folder ``tmp`` into the cache as ``out``.

    Another process may have finished the same build meanwhile: its folder is kept
    (removing it would pull a library or ELF from under a process using it), unless it is
    a stale, incomplete one without ``product``.
    """
    try:
        os.replace(tmp, out)
    except OSError:
        if product.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(out, ignore_errors=True)
            os.replace(tmp, out)


@dataclass
class HostLibrary:
    """A built shared library for one generated model."""

    gen: Generated
    path: Path

    def __post_init__(self) -> None:
        self._lib = ctypes.CDLL(str(self.path))
        self._fn = getattr(self._lib, f"{self.gen.name}_invoke")
        self._fn.restype = ctypes.c_int
        n = len(self.gen.inputs) + len(self.gen.outputs)
        self._fn.argtypes = [ctypes.c_void_p] * n
        self._in_specs = [(to_numpy(v.dtype), v.shape) for v in self.gen.inputs]
        self._out_specs = [(to_numpy(v.dtype), v.shape) for v in self.gen.outputs]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        gen = self.gen
        if len(inputs) != len(gen.inputs):
            raise InputError(f"model takes {len(gen.inputs)} input(s), got {len(inputs)}")
        args = []
        for i, ((dt, shape), x) in enumerate(zip(self._in_specs, inputs)):
            x = np.ascontiguousarray(x).reshape(np.shape(x))
            if x.dtype != dt or x.shape != shape:
                v = gen.inputs[i]
                raise InputError(f"input {i} ({v.name!r}): expected {v.dtype}{list(v.shape)}, "
                                 f"got {x.dtype}{list(x.shape)}")
            args.append(x)
        outs = [np.empty(shape, dt) for dt, shape in self._out_specs]
        rc = self._fn(*[a.ctypes.data for a in args], *[o.ctypes.data for o in outs])
        if rc != 0:
            raise PicojouleError(f"{gen.name}_invoke returned {rc}")
        return outs

    def reset(self) -> None:
        """Put the model's state back to its initial contents (``<name>_reset()``): the
        library is loaded once per process, so state otherwise carries over between runs."""
        getattr(self._lib, f"{self.gen.name}_reset")()


_LOADED: dict[str, HostLibrary] = {}


def build(model: Model | Generated, *, dsp: bool | None = None, name: str | None = None,
          cc: str | None = None, build_dir: str | Path | None = None) -> HostLibrary:
    """Generate (unless given a :class:`Generated`) and compile a shared library."""
    if isinstance(model, Generated):
        gen = model
    else:
        if name is None:
            name = Path(model.source).stem if model.source else "model"
        gen = generate(model, name=name, target="host", dsp=dsp)
    compiler = find_cc(cc)
    flags = [*WARN_FLAGS, *HOST_FLAGS]
    key = source_hash(gen, compiler, _cpu_id(), *flags)
    if key in _LOADED:
        return _LOADED[key]
    out = Path(build_dir) if build_dir else cache_root() / "host" / key
    so = out / f"lib{gen.name}.so"
    if not so.exists():
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        write(gen, tmp)
        cflags = [f for f in flags if f != "-shared"]
        objs = [compile_cached(compiler, cflags, gen, src, tmp, "host") for src in gen.sources]
        run_tool([compiler, *flags, *map(str, objs), "-o", so.name], tmp, "host C link")
        if build_dir:
            write(gen, out)
            shutil.copy(tmp / so.name, so)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            publish_build(tmp, out, so)
    lib = HostLibrary(gen, so)
    _LOADED[key] = lib
    return lib


def run(model: Model, inputs: Sequence[np.ndarray], *, dsp: bool | None = None) -> list[np.ndarray]:
    """Run ``model`` once through the generated C library on the host; return its outputs."""
    return build(model, dsp=dsp).run(inputs)
