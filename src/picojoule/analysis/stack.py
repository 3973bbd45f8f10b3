"""The stack a generated library needs, measured on the ARM toolchain.

Every source of the library (the model file and the kernel files it uses) is compiled
with the flags of the firmware build plus GCC's ``-fstack-usage -fcallgraph-info=su``:
each function's frame, and which functions it calls. The bound is the deepest chain of
frames from any entry point (``<name>_invoke``, ``<name>_invoke_with_arena``,
``<name>_reset``). It holds for the code as compiled with these flags; it does not include
the caller's own frame or interrupt handlers, and calls into the C and compiler run-time
libraries (``memcpy``, ``memset``, libgcc's ``__aeabi_*`` helpers), which carry no stack
figures, are counted with :data:`LIBC_ALLOWANCE` bytes each (reported by name). A function
with a dynamic frame, a call through a pointer or a recursive chain makes the measurement
fail (``None``), and the caller falls back to a stated bound.

Kernel files are the same for every model: their call graphs are cached by content and
flags, so only the model file is compiled anew.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Bytes counted for one call into the run-time libraries (newlib's memcpy / memset and
#: libgcc's arithmetic helpers keep a few registers; not measured, since the prebuilt
#: libraries carry no stack figures).
LIBC_ALLOWANCE = 64
CROSS = "arm-none-eabi-gcc"

_NODE = re.compile(r'^node: \{ title: "([^"]+)" label: "([^"]*)"', re.M)
_EDGE = re.compile(r'^edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', re.M)
_BYTES = re.compile(r"\\n(\d+) bytes \(([a-z,]+)\)")


@dataclass
class StackUse:
    bytes: int
    #: The deepest chain, entry point first.
    chain: list[str]
    #: C library functions reached (each counted with LIBC_ALLOWANCE).
    libc: list[str]
    source: str


def _parse_ci(text: str) -> tuple[dict[str, tuple[int, str]], list[tuple[str, str]]]:
    """Functions defined in one translation unit (name -> (frame bytes, kind)) and its
    call edges."""
    defined = {}
    for title, label in _NODE.findall(text):
        m = _BYTES.search(label)
        if m:
            defined[title] = (int(m.group(1)), m.group(2))
    return defined, _EDGE.findall(text)


def _compile(cflags: list[str], name: str, text: str, headers: dict[str, str],
             work: Path) -> str:
    (work / name).write_text(text)
    stem = name[:-2]
    subprocess.run([CROSS, *cflags, "-fstack-usage", "-fcallgraph-info=su", "-c", name,
                    "-o", stem + ".o"], cwd=work, check=True, capture_output=True,
                   timeout=300)
    return (work / (stem + ".ci")).read_text()


def _cache_dir() -> Path:
    from picojoule.backends.host import cache_root

    return cache_root() / "stack"


def measure(gen, cflags: list[str]) -> StackUse | None:
    """The deepest stack chain of ``gen``'s library compiled with ``cflags`` (None when the
    toolchain is missing or a frame is dynamic or a chain recursive)."""
    if shutil.which(CROSS) is None:
        return None
    headers = {n: t for n, t in gen.files.items() if n.endswith(".h")}
    header_text = "".join(headers[h] for h in sorted(headers))
    units: dict[str, tuple[dict, list]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="pj-stack-") as tmp:
            work = Path(tmp)
            for n, t in headers.items():
                (work / n).write_text(t)
            for src in gen.sources:
                text = gen.files[src]
                cached = None
                if src != f"{gen.name}.c":
                    key = hashlib.sha256("\0".join([CROSS, *cflags, src, text, header_text])
                                         .encode()).hexdigest()[:24]
                    cached = _cache_dir() / f"{src[:-2]}-{key}.ci"
                    if cached.exists():
                        units[src] = _parse_ci(cached.read_text())
                        continue
                ci = _compile(cflags, src, text, headers, work)
                units[src] = _parse_ci(ci)
                if cached is not None:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    part = cached.with_name(cached.name + f".tmp{os.getpid()}")
                    part.write_text(ci)
                    os.replace(part, cached)
    except (OSError, subprocess.SubprocessError):
        return None
    # Resolve a callee: defined in the same file first (static helpers), else the one
    # file that defines it, else the C library.
    owners: dict[str, list[str]] = {}
    for src, (defined, _) in units.items():
        for fn in defined:
            owners.setdefault(fn, []).append(src)
    calls: dict[tuple[str, str], set] = {}
    for src, (defined, edges) in units.items():
        for a, b in edges:
            if b == "__indirect_call":  # a call through a pointer: no static bound
                return None
            if b in defined:
                callee = (src, b)
            elif len(owners.get(b, [])) == 1:
                callee = (owners[b][0], b)
            else:
                callee = ("libc", b)
            calls.setdefault((src, a), set()).add(callee)
    memo: dict[tuple[str, str], tuple[int, list[str]]] = {}
    libc: set[str] = set()
    active: set[tuple[str, str]] = set()

    def deepest(f: tuple[str, str]) -> tuple[int, list[str]]:
        if f[0] == "libc":
            libc.add(f[1])
            return LIBC_ALLOWANCE, [f[1] + " (run-time library)"]
        if f in memo:
            return memo[f]
        if f in active:
            raise RecursionError(f[1])
        frame, kind = units[f[0]][0][f[1]]
        if kind not in ("static", "dynamic,bounded"):
            raise ValueError(f"{f[1]}: {kind} stack")
        active.add(f)
        best = (0, [])
        for c in sorted(calls.get(f, ())):
            d = deepest(c)
            if d[0] > best[0]:
                best = d
        active.discard(f)
        memo[f] = (frame + best[0], [f[1], *best[1]])
        return memo[f]

    model = f"{gen.name}.c"
    entries = [(model, f"{gen.name}_{e}") for e in ("invoke", "invoke_with_arena", "reset")]
    try:
        chains = [deepest(e) for e in entries if e[1] in units[model][0]]
    except (RecursionError, ValueError):
        return None
    if not chains:
        return None
    total, chain = max(chains)
    lib = sorted(libc)
    source = (f"measured: deepest call chain {' > '.join(chain)} with {CROSS} "
              f"-fstack-usage ({' '.join(cflags[:2])}); the caller's frame and interrupts "
              f"not included" + (f"; calls into the C / compiler run-time library "
                                 f"({', '.join(lib)}) counted as {LIBC_ALLOWANCE} B each"
                                 if lib else ""))
    return StackUse(total, chain, lib, source)


def firmware_cflags(core: str) -> list[str]:
    """The flags the firmware build compiles the library with (``backends/qemu.py``)."""
    from picojoule.backends.c.generator import WARN_FLAGS, get_target

    tgt = get_target(core)
    return ["-O2", *tgt.cpu_flags, "-ffunction-sections", "-fdata-sections", *WARN_FLAGS]

