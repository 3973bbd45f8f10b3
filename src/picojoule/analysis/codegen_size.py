"""Predict the size of the generated C library's model part without a compiler.

The QEMU backend measures the model part as ``arm-none-eabi-size`` over the unlinked objects
of ``<name>.c`` and of the kernel sources it uses (``Firmware.model_sizes``). That splits
into pieces that are either fixed or read exactly from the generated source:

* the kernel objects: fixed per core; ``kernel_sizes.json`` holds their measured
  text/data/bss (``scripts/measure_kernel_sizes.py`` writes it, with a hash of every kernel
  file so a stale table is refused rather than silently wrong);
* the model file's ``.rodata``: every ``static const`` array (element count x element size)
  and parameter block (the struct's ``sizeof``, measured per core into the same table) --
  exact;
* its ``.bss``: the static arena and the state buffers (the ``int64_t`` unions round up to
  8 bytes), plus the ``int`` first-invoke flag -- exact;
* its code (``<name>_invoke_with_arena`` with one kernel call per node, ``<name>_invoke``,
  ``<name>_reset``): a linear function of counts read from the source (calls, arguments,
  arena offsets by encoding range, memcpy/memset), coefficients fitted per core by the same
  script. This is the only estimated part and is small next to the weights.

``data`` is 0: the generated code has no initialised mutable data (checked by parsing).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from picojoule.backends.c.generator import KERNEL_DIR, Generated, generate, get_target
from picojoule.errors import PicojouleError
from picojoule.ir import Model

TABLE_PATH = Path(__file__).resolve().parent / "kernel_sizes.json"
_TABLE: dict | None = None  # loaded once

_CSIZE = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4,
          "float": 4, "int64_t": 8, "uint64_t": 8, "int": 4, "char": 1}

#: Counts each of the model file's functions is fitted on (see :func:`code_features`):
#: ``<name>_invoke_with_arena`` (one kernel call per node), ``<name>_reset`` (state) and
#: the ``<name>_invoke`` wrapper.
CODE_FEATURES = {
    "body": ("one", "calls", "args", "stack_args", "param_refs", "offsets", "memcpy_inline",
             "memcpy_call", "stateful"),
    "reset": ("one", "memsets", "stateful"),
    "invoke": ("one", "io"),
}


class CodegenSizeError(PicojouleError):
    """The size table is missing, stale or lacks the core."""


def kernel_hashes() -> dict[str, str]:
    """SHA-256 of every kernel source and header (the table is only valid for these)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted([*KERNEL_DIR.glob("*.c"), *KERNEL_DIR.glob("*.h")])}


def stale_files(table: dict) -> list[str]:
    """Kernel files whose hash differs from the table's (added, removed or edited)."""
    now, then = kernel_hashes(), table.get("kernel_hashes", {})
    return sorted(f for f in set(now) | set(then) if now.get(f) != then.get(f))


def load_table(check: bool = True) -> dict:
    global _TABLE
    if _TABLE is None:
        if not TABLE_PATH.exists():
            raise CodegenSizeError(f"{TABLE_PATH.name} is missing: run "
                                   "scripts/measure_kernel_sizes.py")
        table = json.loads(TABLE_PATH.read_text())
        if check:
            stale = stale_files(table)
            if stale:
                raise CodegenSizeError(
                    f"{TABLE_PATH.name} is stale (kernel files changed: {', '.join(stale)}); "
                    "re-run scripts/measure_kernel_sizes.py")
        _TABLE = table
    return _TABLE


def _core_entry(core: str) -> dict:
    table = load_table()
    if core not in table["cores"]:
        raise CodegenSizeError(f"no size table for {core} in {TABLE_PATH.name} (has "
                               f"{', '.join(table['cores'])}); run "
                               f"scripts/measure_kernel_sizes.py --cores {core}")
    return table["cores"][core]


# --------------------------------------------------------------------------- source parsing
_ARRAY = re.compile(r"^static const (\w+) (\w+)\[(\d+)\] PJ_ALIGNED4 = \{", re.M)
_PARAMS = re.compile(r"^static const (\w+) (\w+) = \{", re.M)
_STATIC_ARRAY = re.compile(r"^static (\w+) (\w+)\[(\d+)\];", re.M)
_UNION = re.compile(r"^static union \{ int64_t align_; (\w+) \w+\[(\d+)\]; \} \w+;", re.M)
_STATIC_SCALAR = re.compile(r"^static (\w+) (\w+);", re.M)
_ANY_STATIC = re.compile(r"^static (?!const |union )[^(]*$", re.M)
_ARENA_OFF = re.compile(r"\barena \+ (\d+)\)")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\(")
_MEMCPY = re.compile(r"\bmemcpy\([^;]*, (\d+)\);")
_NOT_CALLS = {"memcpy", "memset", "sizeof", "if", "for", "while", "return", "PJ_NODE_DONE",
              "void"}


def _function_body(src: str, signature_start: str) -> str:
    i = src.index(signature_start)
    j = src.index("\n{\n", i)
    k = src.index("\n}\n", j)
    return src[j:k]


def code_features(gen: Generated) -> dict[str, int]:
    """Counts the model file's code size depends on, read from its source."""
    src = gen.files[f"{gen.name}.c"]
    body = _function_body(src, f"int {gen.name}_invoke_with_arena(")
    reset = _function_body(src, f"void {gen.name}_reset(void)")
    calls = args = stack_args = refs = 0
    for stmt in re.findall(r"^    (?!memcpy)([A-Za-z_]\w*\(.*\);)$", body, re.M):
        name = _CALL.match(stmt).group(1)
        if name in _NOT_CALLS:
            continue
        calls += 1
        depth, n = 0, 1
        for ch in stmt[len(name) + 1:-2]:
            depth += ch == "("
            depth -= ch == ")"
            n += ch == "," and depth == 0
        args += n
        stack_args += max(n - 4, 0)  # AAPCS: the 5th argument on goes through the stack
        refs += stmt.count("&")
    offs = [int(o) for o in _ARENA_OFF.findall(body)]
    copies = [int(n) for n in _MEMCPY.findall(body)]
    return {
        "one": 1,
        "calls": calls,
        "args": args,
        "stack_args": stack_args,
        "param_refs": refs,
        # The compiler keeps arena + offset in registers: each distinct offset costs one add.
        "offsets": len({o for o in offs if o}),
        "memcpy_inline": sum(n <= 16 for n in copies),
        "memcpy_call": sum(n > 16 for n in copies),
        "memsets": reset.count("memset("),
        "stateful": int(f"{gen.name}_state_ready" in src),
        "io": len(gen.inputs) + len(gen.outputs),
    }


def model_file_parts(gen: Generated, entry: dict) -> dict[str, int]:
    """rodata / bss / data of the model's own file (exact, from its source and the core's
    struct sizes in ``entry``, a core's table entry), plus its predicted code when the entry
    has the code fit."""
    src = gen.files[f"{gen.name}.c"]
    structs = entry["structs"]
    rodata = 0
    for ctype, _, n in _ARRAY.findall(src):
        rodata += _CSIZE[ctype] * int(n)
    for ctype, ident in _PARAMS.findall(src):
        if ctype not in structs:
            raise CodegenSizeError(f"unknown parameter struct {ctype} (re-run "
                                   "scripts/measure_kernel_sizes.py)")
        rodata += structs[ctype]
    bss = 0
    for ctype, _, n in _STATIC_ARRAY.findall(src):
        bss += _CSIZE[ctype] * int(n)
    for ctype, n in _UNION.findall(src):
        bss += -(-_CSIZE[ctype] * int(n) // 8) * 8
    for ctype, _ in _STATIC_SCALAR.findall(src):
        bss += _CSIZE[ctype]
    data = len([s for s in _ANY_STATIC.findall(src) if "=" in s])
    if data:
        raise CodegenSizeError("the generated model file has initialised mutable data; "
                               "codegen_size does not model it")
    parts = {"rodata": rodata, "bss": bss, "data": 0}
    if "code" in entry:
        parts["code"] = predict_code(code_features(gen), entry["code"])
    return parts


def predict_code(feats: dict[str, int], fit: dict) -> int:
    """Bytes of the model file's functions from the fitted coefficients. gcc -O2 inlines a
    small ``invoke_with_arena`` into ``invoke`` (a second copy of the calls): modelled by
    the largest body the fit saw inlined."""
    def lin(part: str) -> float:
        return sum(c * feats[k] for k, c in fit[part].items())

    body = lin("body")
    invoke = body + fit["inlined_extra"] if body <= fit["inline_max_body"] else lin("invoke")
    return int(round(body + invoke + lin("reset")))


# --------------------------------------------------------------------------- prediction
def predict_generated(gen: Generated) -> dict[str, Any]:
    """Predicted ``arm-none-eabi-size -t`` of ``gen``'s objects (as ``qemu.build`` measures)."""
    core = gen.target.name
    entry = _core_entry(core)
    parts = model_file_parts(gen, entry)
    sources = {f"{gen.name}.c": {"text": parts["code"] + parts["rodata"], "data": 0,
                                 "bss": parts["bss"], "code": parts["code"],
                                 "rodata": parts["rodata"]}}
    for s in gen.sources[1:]:
        if s not in entry["kernels"]:
            raise CodegenSizeError(f"kernel {s} is not in {TABLE_PATH.name}; re-run "
                                   "scripts/measure_kernel_sizes.py")
        sources[s] = dict(entry["kernels"][s])
    return {
        "core": core,
        "text": sum(v["text"] for v in sources.values()),
        "data": sum(v["data"] for v in sources.values()),
        "bss": sum(v["bss"] for v in sources.values()),
        "arena": gen.arena_size,
        "const_bytes": gen.const_bytes,
        "sources": sources,
    }


def predict_model_part(model: Model, core: str, dsp: bool | None = None) -> dict[str, Any]:
    """Predicted text/data/bss of the model part of the firmware for ``core`` (e.g.
    ``"cortex-m4"``): what ``qemu.build(...).model_sizes`` measures with arm-none-eabi-size.

    Returns ``{core, text, data, bss, arena, const_bytes, sources: {file: {text, data, bss}}}``.
    Raises a :class:`PicojouleError` (``UnsupportedOpError`` ...) when the model cannot be
    generated for ``core`` and :class:`CodegenSizeError` when the size table cannot serve it.
    ``dsp`` forces the SMLAD weight layout on or off as in ``generate`` / ``qemu.build``.
    """
    tgt = get_target(core)
    if tgt.name == "host":
        raise CodegenSizeError("code size prediction is for Cortex-M cores, not the host")
    _core_entry(tgt.name)
    name = Path(model.source).stem if model.source else "model"
    return predict_generated(generate(model, name=name, target=tgt, dsp=dsp))


def core_of(target: Any) -> str:
    """The C backend core for a catalogue target (``Target.core.name`` "Cortex-M0+" ->
    "cortex-m0plus"); raises :class:`PicojouleError` for cores the backend lacks."""
    try:
        return get_target(target.core.name.lower().replace("+", "plus")).name
    except PicojouleError:
        raise CodegenSizeError(f"the C backend has no code-size table for "
                               f"{target.core.name} cores") from None


def codegen_report(model: Model, target: Any, gen: Generated | None = None) -> dict[str, Any]:
    """The ``codegen`` block of ``picojoule analyze --json`` for a catalogue target: the
    predicted model part of the firmware, or ``{"core", "error"}`` when there is none.
    ``gen``: the library already generated for the target's core (not generated again)."""
    core = target.core.name
    try:
        core = core_of(target)
        if gen is not None:
            _core_entry(core)
            p = predict_generated(gen)
        else:
            p = predict_model_part(model, core)
    except PicojouleError as exc:
        return {"core": core, "error": str(exc)}
    table = load_table()
    return {
        "core": core,
        "text_bytes": p["text"],
        "data_bytes": p["data"],
        "bss_bytes": p["bss"],
        "arena_bytes": p["arena"],
        "flash_bytes": p["text"] + p["data"],
        "ram_bytes": p["data"] + p["bss"],
        "source": (f"predicted arm-none-eabi-size of the generated library's objects "
                   f"({' '.join(table['cores'][core]['cflags'][:2])}; kernels measured with "
                   f"{table['toolchain']} on {table['date'][:10]})"),
    }
