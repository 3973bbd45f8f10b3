"""C99 code generation: a picojoule model -> a self-contained library folder.

The folder holds ``<name>.h`` (the API, I/O shapes, dtypes and quantization constants),
``<name>.c`` (weights and parameter blocks as ``const`` data, the static arena and
``<name>_invoke``), the kernel sources the model uses (copied from ``kernels/``), an
example ``main.c``, a ``Makefile`` and a ``CMakeLists.txt``. Everything float -> fixed
point (multipliers, shifts, folded offsets, tables) happens here, in Python, with the
same formulas as the reference interpreter, so the C code only does integer arithmetic.

The generated code uses only ``<stdint.h>`` and ``<string.h>``, never allocates and has no
mutable global state besides the arena.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from picojoule.errors import PicojouleError, UnsupportedOpError
from picojoule.backends.c import planner
from picojoule.backends.c import inplace as c_inplace
from picojoule.backends.c.inplace import c_memory_plan, reverse_call
from picojoule.ir import Graph, Model, Node, Value
from picojoule.planner.graph import KernelNeeds
from picojoule.ops.registry import REGISTRY, STATEFUL, has_trait
from picojoule.outputs import check_folder, write_folder

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"

#: C element type of each IR dtype the generated code handles.
CTYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float",
          "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t", "int64": "int64_t",
          "uint64": "uint64_t", "bool": "uint8_t"}


@dataclass(frozen=True)
class Target:
    """A compilation target: compiler flags and whether DSP (SMLAD) kernels pay off."""

    name: str
    dsp: bool
    cc: str
    cpu_flags: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {
    "host": Target("host", False, "cc"),
    "cortex-m0plus": Target("cortex-m0plus", False, "arm-none-eabi-gcc",
                            ("-mcpu=cortex-m0plus", "-mthumb")),
    "cortex-m4": Target("cortex-m4", True, "arm-none-eabi-gcc",
                        ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")),
    "cortex-m7": Target("cortex-m7", True, "arm-none-eabi-gcc",
                        ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16")),
    "cortex-m33": Target("cortex-m33", True, "arm-none-eabi-gcc",
                         ("-mcpu=cortex-m33", "-mthumb", "-mfloat-abi=hard",
                          "-mfpu=fpv5-sp-d16")),
    "cortex-m55": Target("cortex-m55", True, "arm-none-eabi-gcc",
                         ("-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard")),
}

WARN_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")


def get_target(name: str) -> Target:
    key = name.lower().replace("_", "-")
    key = {"m0+": "cortex-m0plus", "cortex-m0+": "cortex-m0plus"}.get(key, key)
    if key in TARGETS:
        return TARGETS[key]
    if "cortex-" + key in TARGETS:
        return TARGETS["cortex-" + key]
    raise PicojouleError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")


# --------------------------------------------------------------------------- emission
@dataclass
class Emitted:
    """What an emitter contributes for one node.

    ``call`` is a C statement with ``{in0}``, ``{out0}``, ``{scratch}`` ... placeholders that
    the generator replaces with arena pointers once the memory plan is known.
    """

    call: str
    scratch: int = 0
    sources: tuple[str, ...] = ()
    #: RESHAPE-like nodes: the output aliases input 0 (no code when the plan agrees).
    alias: bool = False


class Context:
    """Per-model state the emitters use: constant arrays and parameter blocks."""

    def __init__(self, name: str, target: Target, dsp: bool) -> None:
        self.name = name
        self.target = target
        self.dsp = dsp
        self.decls: list[str] = []
        self._count = 0
        #: (ctype, size, content hash) of each array and (ctype, body) of each parameter
        #: block emitted -> (its C name, its declaration).
        self._arrays: dict[tuple, tuple[str, str]] = {}
        self.const_bytes = 0
        #: Persistent kernel state (e.g. a streaming op's noise estimate): (ident, ctype,
        #: element count); static buffers outside the arena, zeroed by <name>_reset().
        self.statics: list[tuple[str, str, int]] = []

    def state_buffer(self, base: str, ctype: str, count: int) -> str:
        """A zero-initialised static buffer that persists across invokes; its C name."""
        ident = self._ident(base)
        self.statics.append((ident, ctype, max(int(count), 1)))
        return ident

    def _ident(self, base: str) -> str:
        self._count += 1
        return f"{self.name}_{base}_{self._count}"

    def array(self, base: str, ctype: str, values: np.ndarray) -> str:
        """Emit a ``static const`` array; return its C name.

        An array with the same C type and contents as one already emitted is not emitted
        again: its name is returned (the weights every step of an unrolled RNN reads are
        stored once in flash). A declaration an emitter rolled back (``del decls[k:]``)
        no longer counts."""
        flat = np.asarray(values).reshape(-1)
        exact = flat.astype(np.float32 if ctype == "float" else np.int64)  # what is printed
        key = (ctype, flat.size, hashlib.sha1(np.ascontiguousarray(exact).tobytes()).digest())
        seen = self._arrays.get(key)
        if seen is not None and any(d is seen[1] for d in self.decls):
            return seen[0]
        ident = self._ident(base)
        if ctype == "float":
            items = [_c_float(float(v)) for v in flat.astype(np.float32)]
        else:
            items = [str(int(v)) for v in flat.tolist()] if flat.size < 64 else \
                flat.astype(np.int64).astype(str).tolist()
            if ctype == "int32_t":
                items = [_c_int32(int(s)) for s in items]
            elif ctype == "int64_t":  # INT64_MIN has no literal: -(2^63 - 1) - 1
                items = [s + "LL" if s != str(-(1 << 63)) else "(-9223372036854775807LL - 1)"
                         for s in items]
        lines = [", ".join(items[i:i + 24]) for i in range(0, len(items), 24)]
        body = ",\n    ".join(lines) if lines else "0"
        decl = (f"static const {ctype} {ident}[{max(len(items), 1)}] PJ_ALIGNED4 = {{\n"
                f"    {body}\n}};\n")
        self._arrays[key] = (ident, decl)
        self.decls.append(decl)
        self.const_bytes += flat.size * np.dtype(_NP_OF_C[ctype]).itemsize
        return ident

    def params(self, ctype: str, fields: dict[str, object]) -> str:
        """Emit a ``static const`` parameter block (designated-initializer free, C99); one
        identical to a block already emitted is shared, as :meth:`array` shares arrays."""
        body = ",\n    ".join(f"/* {k} */ {_c_field(v)}" for k, v in fields.items())
        key = (ctype, body)
        seen = self._arrays.get(key)
        if seen is not None and any(d is seen[1] for d in self.decls):
            return seen[0]
        ident = self._ident("p")
        decl = f"static const {ctype} {ident} = {{\n    {body}\n}};\n"
        self._arrays[key] = (ident, decl)
        self.decls.append(decl)
        return ident


_NP_OF_C = {"int8_t": np.int8, "int16_t": np.int16, "int32_t": np.int32, "float": np.float32,
            "uint8_t": np.uint8, "int64_t": np.int64, "uint16_t": np.uint16,
            "uint32_t": np.uint32, "uint64_t": np.uint64}


def _comment(text: str) -> str:
    """Text safe inside a C comment (tensor names are arbitrary strings)."""
    return " ".join(str(text).replace("*/", "* /").replace("/*", "/ *").split())


def _c_int32(v: int) -> str:
    # -2147483648 is not an int literal in C: write it as an expression.
    return "(-2147483647 - 1)" if v == -(1 << 31) else str(v)


def _c_float(v: float) -> str:
    """An exact C99 float literal (hexadecimal)."""
    if np.isnan(v):
        raise PicojouleError("NaN constant in generated code")
    if np.isinf(v):
        raise PicojouleError("infinite constant in generated code")
    return float(v).hex() + "f" if v != 0 else "0.0f"


def _c_field(v: object) -> str:
    if v is None:
        return "0"
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(_c_field(x) for x in v) + "}"
    if isinstance(v, float):
        return _c_float(v)
    return _c_int32(int(v))


EmitFn = Callable[[Context, Node], Emitted]


def emitter(*ops: str, when: Callable[[Node], bool] | None = None,
            dtypes: tuple[str, ...] = (), isa: tuple[str, ...] = ("portable",),
            first: bool = False) -> Callable[[EmitFn], EmitFn]:
    """Register an emitter for ``ops`` in the op table; with ``when``, only for the nodes it
    accepts (so several modules can each handle one dtype family of the same op). Emitters
    with a predicate are tried in registration order before the op's general one.

    ``dtypes``: the activation dtypes the emitter handles (as the op table lists them:
    "int8", "int16", "float32" ...), for the coverage table; ``isa``: the instruction sets
    it has a kernel body for: "portable" (plain C99, every core), "dsp" (cores with the DSP
    extension: Cortex-M4/M7/M33), "mve" (Helium, the Cortex-M55). ``first``: try it before
    the emitters registered earlier (for a predicate that carves out configurations the
    others accept and then refuse)."""
    def deco(fn: EmitFn) -> EmitFn:
        for op in ops:
            info = REGISTRY.get(op)
            if info is None:
                raise RuntimeError(f"C emitter for {op}, which the op table does not have")
            if first:
                info.emitters.insert(0, (when, fn))
            else:
                info.emitters.append((when, fn))
            for i in isa:
                info.coverage.setdefault(i, set()).update(dtypes)
        return fn
    return deco


def _dtypes(node: Node) -> str:
    """'int8 -> int16' style summary of a node's first input and output types."""
    x = node.inputs[0] if node.inputs and node.inputs[0] is not None else None
    return f"{x.dtype if x else '-'} -> {node.outputs[0].dtype if node.outputs else '-'}"


def emitter_for(node: Node) -> EmitFn | None:
    """The emitter that handles ``node`` (None: no C kernel for this op or configuration)."""
    info = REGISTRY.get(node.op)
    if info is None:
        return None
    general = None
    for pred, fn in info.emitters:
        if pred is None:
            general = fn
        elif pred(node):
            return fn
    return general


def unsupported(node: Node, what: str) -> UnsupportedOpError:
    return UnsupportedOpError(f"C backend: {node.op} (node {node.name!r}): {what} is not supported")


def _check_state(g) -> None:
    """Variable tensors are only supported as the state inputs of stateful ops."""
    users: dict[int, list[str]] = {}
    for n in g.nodes:
        for v in n.inputs:
            if v is not None and v.variable:
                users.setdefault(id(v), []).append(n.op)
    for v in g.values():
        if v.variable and not all(has_trait(op, STATEFUL) for op in users.get(id(v), ["?"])):
            raise UnsupportedOpError(f"C backend: variable (state) tensor {v.name!r} is not "
                                     f"supported (used by {', '.join(users.get(id(v), []))})")


def _missing_kernels(g, tgt: Target) -> None:
    """One error line naming the first node no C kernel handles: op, node, dtypes, target."""
    missing = [n for n in g.nodes if emitter_for(n) is None]
    if not missing:
        return
    n = missing[0]
    why = "no C kernel for this configuration of" if REGISTRY.get(n.op) is not None and \
        REGISTRY[n.op].emitters else "no C kernel for"
    more = ""
    if len(missing) > 1:
        first = f"{n.op} ({_dtypes(n)})"
        others = sorted({f"{m.op} ({_dtypes(m)})" for m in missing[1:]} - {first})
        more = f"; {len(missing) - 1} more node(s) lack one" + (
            f": {', '.join(others)}" if others else "")
    raise UnsupportedOpError(f"C backend ({tgt.name}): {why} {n.op} {_dtypes(n)} "
                             f"(node {n.name!r}){more}")


# --------------------------------------------------------------------------- generation
def c_identifier(name: str) -> str:
    ident = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_").lower() or "model"
    return ident if not ident[0].isdigit() else "m_" + ident


@dataclass
class Generated:
    """The result of :func:`generate`: file contents plus facts for backends and reports."""

    name: str
    target: Target
    files: dict[str, str]
    sources: list[str]
    arena_size: int
    const_bytes: int
    inputs: list[Value]
    outputs: list[Value]
    dsp: bool
    meta: dict = field(default_factory=dict)


#: The call a node without a C kernel gets under ``generate(..., missing="stub")``.
NO_KERNEL = "pj_no_kernel"


def _emit(model: Model, name: str, tgt: Target, use_dsp: bool, optimize: str,
          missing: str) -> tuple[Context, list[Emitted], dict[int, str]]:
    """Run every node's emitter: the calls, constants, scratch and aliases of the library."""
    from picojoule.backends.c import emitters  # noqa: F401  (registers the emitters)

    if len(model.graphs) != 1:
        raise UnsupportedOpError(f"C backend: models with {len(model.graphs)} subgraphs are "
                                 "not supported (control flow)")
    g = model.main
    name = c_identifier(name)
    if optimize not in ("speed", "size"):
        raise PicojouleError(f"optimize must be 'speed' or 'size', not {optimize!r}")
    ctx = Context(name, tgt, use_dsp)
    ctx.prefer_size = optimize == "size"
    for v in [*g.inputs, *g.outputs]:
        if v.dtype not in CTYPES:
            raise UnsupportedOpError(f"C backend: graph I/O {v.name!r} of type {v.dtype} is "
                                     "not supported")
        if v.is_const:
            raise UnsupportedOpError(f"C backend: constant graph I/O {v.name!r} is not "
                                     "supported")
    if missing not in ("error", "stub"):
        raise PicojouleError(f"missing must be 'error' or 'stub', not {missing!r}")
    no_kernel: dict[int, str] = {}
    if missing == "error":
        _missing_kernels(g, tgt)
        _check_state(g)
        emitted = [emitter_for(n)(ctx, n) for n in g.nodes]  # type: ignore[misc]
    else:
        emitted = []
        for k, n in enumerate(g.nodes):
            fn = emitter_for(n)
            try:
                if fn is None:
                    raise UnsupportedOpError(f"no C kernel for {n.op} {_dtypes(n)}")
                emitted.append(fn(ctx, n))
            except UnsupportedOpError as exc:
                no_kernel[k] = str(exc)
                emitted.append(Emitted(f"{NO_KERNEL}({k});"))

    return ctx, emitted, no_kernel


def _needs(g: Graph, emitted: list[Emitted], ctx: Context, tgt: Target) -> KernelNeeds:
    """What the emitted kernels need, for the planner: each call's scratch, the in-place
    placements its C kernel honours (``inplace.placements``: none for kernels without a
    proven chunk model), which nodes are aliases, and the kernels' static state."""
    calls = [em.call for em in emitted]

    def honoured(i, node, j, in_bytes, out_bytes):
        return c_inplace.placements(node, calls[i], j, in_bytes, out_bytes)

    statics = sum(n * int(np.dtype(_NP_OF_C[c]).itemsize) for _, c, n in ctx.statics)
    return KernelNeeds([em.scratch for em in emitted], honoured,
                       [em.alias for em in emitted], statics,
                       ("the portable C kernels" if tgt.name == "host" else
                        f"the C kernels for {tgt.name}") + (" (DSP layout)" if ctx.dsp else ""))


def kernel_needs(model: Model, target: str | Target = "host", dsp: bool | None = None,
                 optimize: str = "speed") -> KernelNeeds:
    """The needs :func:`generate` plans the arena with, without generating the files:
    ``plan_memory(model, needs=kernel_needs(model, t))`` is the arena ``generate(model,
    target=t)`` declares. Raises :class:`UnsupportedOpError` when a node has no C kernel."""
    tgt = target if isinstance(target, Target) else get_target(target)
    use_dsp = tgt.dsp if dsp is None else dsp
    ctx, emitted, _ = _emit(model, "model", tgt, use_dsp, optimize, "error")
    return _needs(model.main, emitted, ctx, tgt)


def generate(model: Model, name: str = "model", target: str | Target = "host",
             dsp: bool | None = None, inplace: bool = True,
             optimize: str = "speed", missing: str = "error") -> Generated:
    """Generate the library's files (in memory). ``dsp`` forces the SMLAD data layout on
    or off (default: the target's choice); the DSP kernels run anywhere (portable C
    emulates SMLAD where the core lacks it), which lets the host test that layout.
    ``inplace=False``: the plain plan (reshape aliasing only, graph order, no in-place),
    for comparison; by default the arena is the planner's plan over the needs the
    emitters declare (:func:`kernel_needs`), which ``picojoule analyze`` reports.
    ``optimize="size"``: on DSP cores keep convolution weights int8 (half the flash of the
    int16-widened speed layout, about a quarter more instructions).
    ``missing="stub"``: a node no C kernel handles gets a ``pj_no_kernel(k)`` placeholder
    call (and ``meta["no_kernel"][k]`` the reason) instead of an error: the result is for
    analysis (which kernels the other nodes get), never a library to build."""
    tgt = target if isinstance(target, Target) else get_target(target)
    use_dsp = tgt.dsp if dsp is None else dsp
    g = model.main
    name = c_identifier(name)
    ctx, emitted, no_kernel = _emit(model, name, tgt, use_dsp, optimize, missing)
    needs = _needs(g, emitted, ctx, tgt)

    # ---- memory plan: tensors (reshape outputs alias their inputs) and scratch
    root: dict[int, Value] = {}

    def find(v: Value) -> Value:
        while id(v) in root:
            v = root[id(v)]
        return v

    graph_io = {id(v) for v in [*g.inputs, *g.outputs]}
    for node, em in zip(g.nodes, emitted):
        x, y = node.inputs[0], node.outputs[0]
        if em.alias and not (x.is_const or (id(x) in graph_io and id(y) in graph_io)):
            root[id(y)] = x
    bufs: dict[int, planner.Buffer] = {}
    last = len(g.nodes)

    def touch(v: Value, k: int) -> None:
        r = find(v)
        b = bufs.get(id(r))
        if b is None:
            bufs[id(r)] = planner.Buffer(r, r.nbytes, k, k)
        else:
            b.start, b.end = min(b.start, k), max(b.end, k)

    for v in g.inputs:
        touch(v, -1)
    for k, node in enumerate(g.nodes):
        for v in node.inputs:
            if v is not None and not v.is_const and not v.variable:
                touch(v, k)
        for v in node.outputs:
            if not v.variable:
                touch(v, k)
    for v in g.outputs:
        touch(v, last)
    scratch: dict[int, planner.Buffer] = {}
    for k, em in enumerate(emitted):
        if em.scratch:
            scratch[k] = planner.Buffer(("scratch", k), em.scratch, k, k)
    arena = planner.place([*bufs.values(), *scratch.values()])

    # State (variable) tensors live in static buffers outside the arena: they persist
    # from one invoke to the next, and <name>_reset() restores their initial contents.
    state: dict[int, tuple[Value, str]] = {}
    for v in g.values():
        if v.variable:
            state[id(v)] = (v, f"{name}_state{len(state)}")

    # The planner's plan over what the emitted kernels declare (zero-copy aliases,
    # reordering, scratch and the in-place placements the C kernels honour, see
    # inplace.py): the same plan ``picojoule analyze`` reports for this core.
    # ``inplace=False`` keeps the plain plan above (graph order, aliases only).
    cplan = c_memory_plan(g, needs) if inplace else None
    if cplan is not None:
        arena = cplan.arena

    def offset_of(v: Value) -> int:
        return cplan.offset[id(v)] if cplan is not None else bufs[id(find(v))].offset

    def ptr(v: Value) -> str:
        ctype = CTYPES.get(v.dtype)
        if ctype is None:
            raise UnsupportedOpError(f"C backend: tensor {v.name!r} of type {v.dtype}")
        if id(v) in state:
            return f"(({ctype} *){state[id(v)][1]}.v)"
        return f"(({ctype} *)(arena + {offset_of(v)}))"

    body: list[str] = []
    sources: list[str] = []
    run_order = cplan.order if cplan is not None else range(len(g.nodes))
    for k in run_order:
        node, em = g.nodes[k], emitted[k]
        if cplan is not None and k in cplan.aliases:
            what = _comment(node.outputs[0].name)
            body.append(f"    /* {k}: {node.op} {what}: aliases its input */")
            continue
        if em.alias and cplan is None and find(node.outputs[0]) is find(node.inputs[0]):
            what = _comment(node.outputs[0].name)
            body.append(f"    /* {k}: {node.op} {what}: aliases its input */")
            continue
        if em.alias:  # graph input -> graph output: a copy
            x, y = node.inputs[0], node.outputs[0]
            body.append(f"    /* {k}: {node.op} */\n    memcpy({ptr(y)}, {ptr(x)}, {y.nbytes});")
            continue
        subs = {f"in{i}": ptr(v) for i, v in enumerate(node.inputs)
                if v is not None and not v.is_const}
        subs.update({f"out{i}": ptr(v) for i, v in enumerate(node.outputs)})
        if cplan is not None and k in cplan.scratch:
            subs["scratch"] = f"((void *)(arena + {cplan.scratch[k][0]}))"
        elif cplan is None and k in scratch:
            subs["scratch"] = f"((void *)(arena + {scratch[k].offset}))"
        how = ""
        if cplan is not None and k in cplan.inplace:
            how = f" (in place, output at {cplan.inplace[k].delta:+d} B from input " \
                  f"{cplan.inplace[k].index})"
        try:
            call = em.call.format(**subs)
        except KeyError as missing:  # the emitter reads a tensor the model holds as a constant
            raise unsupported(node, f"a constant operand ({missing.args[0]})") from None
        if cplan is not None and k in cplan.inplace and cplan.inplace[k].order == "reverse":
            how += ", last chunk first"
            call = reverse_call(node, em.call, subs["in0"], subs["out0"],
                                "(int16_t *)" + subs["scratch"])
        body.append(f"    /* {k}: {node.op} {_comment(node.outputs[0].name)}{how} */\n    "
                    + call + f"\n    PJ_NODE_DONE({k});")
        for s in em.sources:
            if s not in sources:
                sources.append(s)

    files: dict[str, str] = {}
    state_bytes = sum(v.nbytes for v, _ in state.values()) + sum(
        n * int(np.dtype(_NP_OF_C[c]).itemsize) for _, c, n in ctx.statics)
    files[f"{name}.h"] = _header(name, g.inputs, g.outputs, arena, tgt, use_dsp, state_bytes)
    # Kernel files: names in kernels/, or absolute paths (custom ops' own C files, copied
    # by their base name). A ".h" entry is a header to copy and include, not to compile.
    paths = {Path(s).name: (Path(s) if Path(s).is_absolute() else KERNEL_DIR / s)
             for s in sources}
    kernel_c = [n for n in paths if n.endswith(".c")]
    headers = [*family_headers([n for n in kernel_c if paths[n].parent == KERNEL_DIR]),
               *(n for n in paths if n.endswith(".h"))]
    for n, pth in paths.items():
        if pth.parent != KERNEL_DIR and (KERNEL_DIR / n).exists():
            raise PicojouleError(f"custom kernel file {pth} has the name of a picojoule "
                                 f"kernel ({n}); rename it")
    files[f"{name}.c"] = _model_c(name, ctx, g.inputs, g.outputs, body, arena, ptr, bufs, find,
                                  list(state.values()), headers)
    for n in ["pj_common.h", "pj_kernels.h", "pj_ops2.h", *headers]:
        files[n] = (paths.get(n) or KERNEL_DIR / n).read_text()
    for n in kernel_c:
        files[n] = paths[n].read_text()
    # Headers the kernel files include among themselves (shared helpers such as
    # pj_lstm_gates.h) come along.
    pending = list(files)
    while pending:
        for inc in _INCLUDE.findall(files[pending.pop()]):
            if inc not in files and (KERNEL_DIR / inc).is_file():
                files[inc] = (KERNEL_DIR / inc).read_text()
                pending.append(inc)
    c_sources = [f"{name}.c", *kernel_c]
    files["main.c"] = _example_main(name, g.inputs, g.outputs)
    files["Makefile"] = _makefile(name, c_sources, tgt)
    files["CMakeLists.txt"] = _cmake(name, c_sources)
    if cplan is not None:
        plan = list(cplan.table)
        meta = {"plan": plan, "order": list(cplan.order), "inplace": {
            k: (geo.index, geo.order, geo.delta) for k, geo in cplan.inplace.items()},
            "lifetime_unit": "half-step"}
    else:
        plan = [(b.key.name if isinstance(b.key, Value) else f"scratch:{b.key[1]}", b.offset,
                 b.size, b.start, b.end) for b in [*bufs.values(), *scratch.values()]]
        meta = {"plan": plan, "order": list(range(len(g.nodes))), "inplace": {},
                "lifetime_unit": "step"}
    meta["no_kernel"] = no_kernel
    #: Static RAM outside the arena: state tensors and the kernels' persistent buffers.
    meta["state_bytes"] = state_bytes
    #: The planner's plan of the arena (``plan_memory`` over ``kernel_needs``), or None
    #: under ``inplace=False``.
    meta["memory_plan"] = cplan.plan if cplan is not None else None
    meta["kernel_needs"] = needs
    return Generated(name, tgt, files, c_sources, arena, ctx.const_bytes,
                     list(g.inputs), list(g.outputs), use_dsp, meta=meta)


def _library_file(name: str, extra: Iterable[str] = ()) -> Callable[[str], bool]:
    """Which file names in an output folder a compile of library ``name`` may replace:
    every name picojoule generates (kernels, headers, build files) and ``extra``."""
    names = {p.name for p in KERNEL_DIR.iterdir()} | {f"{name}.c", f"{name}.h", "main.c",
                                                     "Makefile", "CMakeLists.txt", *extra}
    return names.__contains__


def write(gen: Generated, out_dir: str | Path, sync: bool = False) -> Path:
    """Make ``out_dir`` hold exactly the library's files, swapped in whole
    (:func:`picojoule.outputs.write_folder`): an earlier compile's files go with it.
    ``sync``: on disk before the swap (what ``compile`` asks; build caches need not)."""
    return write_folder(out_dir, gen.files, _library_file(gen.name, gen.files), sync=sync)


def compile_model(model: Model, out_dir: str | Path, target: str = "host",
                  name: str | None = None, dsp: bool | None = None,
                  optimize: str = "speed") -> Generated:
    """Generate the C library for ``model`` into ``out_dir`` (created); return the facts."""
    if name is None:
        name = Path(model.source).stem if model.source else "model"
    check_folder(out_dir, _library_file(name))  # a bad folder fails before generating
    gen = generate(model, name=name, target=target, dsp=dsp, optimize=optimize)
    write(gen, out_dir, sync=True)
    return gen


# --------------------------------------------------------------------------- file texts
def _io_macros(prefix: str, vals: list[Value]) -> list[str]:
    lines = []
    for i, v in enumerate(vals):
        p = f"{prefix}{i}"
        lines.append(f"/* {p}: {_comment(repr(v.name))} {v.dtype}{list(v.shape)} */")
        lines.append(f"#define {p}_SIZE {v.size}")
        lines.append(f"#define {p}_BYTES {v.nbytes}")
        lines.append(f"#define {p}_RANK {len(v.shape)}")
        lines.append(f"#define {p}_SHAPE {{{', '.join(str(d) for d in v.shape) or '1'}}}")
        lines.append(f"#define {p}_TYPE_{v.dtype.upper()} 1")
        lines.append(f"typedef {CTYPES[v.dtype]} {p.lower()}_t;")
        if v.quant is not None and v.quant.scale.size >= 1:
            lines.append(f"#define {p}_SCALE {_c_float(float(v.quant.scale0))} "
                         f"/* {float(v.quant.scale0):.9g} */")
            lines.append(f"#define {p}_ZERO_POINT {v.quant.zp0}")
        lines.append("")
    return lines


def _signature(name: str, ins: list[Value], outs: list[Value], arena_arg: bool) -> str:
    args = []
    if arena_arg:
        args.append("uint8_t *arena")
    args += [f"const {CTYPES[v.dtype]} *input{i}" for i, v in enumerate(ins)]
    args += [f"{CTYPES[v.dtype]} *output{i}" for i, v in enumerate(outs)]
    fn = f"{name}_invoke_with_arena" if arena_arg else f"{name}_invoke"
    return f"int {fn}({', '.join(args)})"


def _header(name: str, ins: list[Value], outs: list[Value], arena: int, tgt: Target,
            dsp: bool, state_bytes: int = 0) -> str:
    up = name.upper()
    lines = [
        f"/* {name}: neural network library generated by picojoule (target {tgt.name}"
        f"{', SMLAD data layout' if dsp else ''}).",
        " *",
        f" * {name}_invoke() copies the inputs into the static arena, runs the model and copies",
        " * the outputs out; it returns 0.  Define " + up + "_NO_STATIC_ARENA to drop the static",
        f" * arena and call {name}_invoke_with_arena() with your own {up}_ARENA_SIZE bytes",
        " * (16-byte aligned).  Not reentrant on one arena.",
        " */",
        f"#ifndef {up}_H",
        f"#define {up}_H",
        "",
        "#include <stdint.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"#define {up}_ARENA_SIZE {arena}",
        f"#define {up}_NUM_INPUTS {len(ins)}",
        f"#define {up}_NUM_OUTPUTS {len(outs)}",
        "",
        *_io_macros(f"{up}_INPUT", ins),
        *_io_macros(f"{up}_OUTPUT", outs),
        _signature(name, ins, outs, True) + ";",
        f"/* The model's state (recurrent memories, {state_bytes} bytes, kept in static buffers",
        " * outside the arena) persists between invokes; this puts it back to its initial",
        " * contents (a fresh stream).  Invoke does it by itself before its first run. */",
        f"#define {up}_STATE_SIZE {state_bytes}",
        f"void {name}_reset(void);",
        f"#ifndef {up}_NO_STATIC_ARENA",
        _signature(name, ins, outs, False) + ";",
        "#endif",
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif /* {up}_H */",
        "",
    ]
    return "\n".join(lines)


def _state_c(name: str, state: list[tuple[Value, str]],
             statics: list[tuple[str, str, int]] = ()) -> list[str]:
    """Static state buffers, their reset function and the first-invoke guard."""
    if not state and not statics:
        return [f"void {name}_reset(void)", "{", "}", ""]
    lines = []
    resets = []
    for ident, ctype, count in statics:
        lines.append(f"static {ctype} {ident}[{count}];")
        resets.append(f"    memset({ident}, 0, sizeof {ident});")
    for v, ident in state:
        # As TFLM's ResetVariableTensors: int8 state starts at its zero point, else 0.
        fill = int(v.quant.zp0) if v.quant is not None and v.dtype == "int8" else 0
        lines.append(f"static union {{ int64_t align_; {CTYPES[v.dtype]} v[{max(v.size, 1)}]; }} "
                     f"{ident}; /* {_comment(v.name)} */")
        resets.append(f"    memset({ident}.v, {fill & 0xFF}, sizeof {ident}.v);")
    return [
        *lines,
        f"static int {name}_state_ready;",
        "",
        f"void {name}_reset(void)",
        "{",
        *resets,
        f"    {name}_state_ready = 1;",
        "}",
        "",
    ]


_INCLUDE = re.compile(r'^#include "(pj_\w+\.h)"', re.M)


def family_headers(sources: list[str]) -> list[str]:
    """The header of each kernel source that has its own (``pj_gather.c`` ->
    ``pj_gather.h``): kernel families added after pj_kernels.h / pj_ops2.h declare their
    functions and parameter blocks there."""
    return [s[:-2] + ".h" for s in sources
            if s.endswith(".c") and (KERNEL_DIR / (s[:-2] + ".h")).is_file()]


def _model_c(name: str, ctx: Context, ins: list[Value], outs: list[Value], body: list[str],
             arena: int, ptr, bufs, find, state: list | None = None,
             headers: list[str] = ()) -> str:
    up = name.upper()
    state = state or []
    copy_in = [f"    memcpy({ptr(v)}, input{i}, {v.nbytes});" for i, v in enumerate(ins)]
    copy_out = [f"    memcpy(output{i}, {ptr(v)}, {v.nbytes});" for i, v in enumerate(outs)]
    call_args = ", ".join([*(f"input{i}" for i in range(len(ins))),
                           *(f"output{i}" for i in range(len(outs)))])
    return "\n".join([
        f"/* {name}: generated by picojoule.  Weights and parameters are const (flash). */",
        "#include <stdint.h>",
        "#include <string.h>",
        "",
        '#include "pj_kernels.h"',
        '#include "pj_ops2.h"',
        *(f'#include "{h}"' for h in headers),
        f'#include "{name}.h"',
        "",
        "/* Define PJ_PROFILE and provide pj_profile_node() to time every node. */",
        "#ifdef PJ_PROFILE",
        "void pj_profile_node(int index);",
        "#define PJ_NODE_DONE(k) pj_profile_node(k)",
        "#else",
        "#define PJ_NODE_DONE(k) ((void)0)",
        "#endif",
        "",
        *ctx.decls,
        *_state_c(name, state, ctx.statics),
        _signature(name, ins, outs, True),
        "{",
        *([f"    if (!{name}_state_ready) {{", f"        {name}_reset();", "    }"]
          if state or ctx.statics else []),
        *copy_in,
        *body,
        *copy_out,
        "    return 0;",
        "}",
        "",
        f"#ifndef {up}_NO_STATIC_ARENA",
        f"static union {{ int64_t align_; uint8_t bytes[{max(arena, 16)}]; }} {name}_arena;",
        "",
        _signature(name, ins, outs, False),
        "{",
        f"    return {name}_invoke_with_arena({name}_arena.bytes"
        + (", " + call_args if call_args else "") + ");",
        "}",
        "#endif",
        "",
    ])


def _example_main(name: str, ins: list[Value], outs: list[Value]) -> str:
    up = name.upper()
    decl = []
    for i, v in enumerate(ins):
        decl.append(f"static {CTYPES[v.dtype]} input{i}[{up}_INPUT{i}_SIZE];")
    for i, v in enumerate(outs):
        decl.append(f"static {CTYPES[v.dtype]} output{i}[{up}_OUTPUT{i}_SIZE];")
    args = ", ".join([*(f"input{i}" for i in range(len(ins))),
                      *(f"output{i}" for i in range(len(outs)))])
    prints = []
    for i, v in enumerate(outs):
        fmt = '"%g "' if v.dtype == "float32" else '"%ld "'
        cast = "(double)" if v.dtype == "float32" else "(long)"
        prints.append(f"    for (i = 0; i < {up}_OUTPUT{i}_SIZE; ++i) {{\n"
                      f"        printf({fmt}, {cast}output{i}[i]);\n    }}\n"
                      f"    printf(\"\\n\");")
    return "\n".join([
        f"/* Example: run {name} once on zero inputs and print the outputs. */",
        "#include <stdio.h>",
        "#include <string.h>",
        "",
        f'#include "{name}.h"',
        "",
        *decl,
        "",
        "int main(void)",
        "{",
        "    long i;",
        *(f"    memset(input{i}, 0, sizeof input{i});" for i in range(len(ins))),
        f"    if ({name}_invoke({args}) != 0) {{",
        "        return 1;",
        "    }",
        *prints,
        "    return 0;",
        "}",
        "",
    ])


def _makefile(name: str, sources: list[str], tgt: Target) -> str:
    cc = "cc" if tgt.name == "host" else tgt.cc
    cpu = " ".join(tgt.cpu_flags)
    objs = " ".join(s[:-2] + ".o" for s in sources)
    return "\n".join([
        f"# Builds lib{name}.a (and the example on the host) for target {tgt.name}.",
        f"CC ?= {cc}",
        "ifeq ($(origin CC),default)",
        f"CC = {cc}",
        "endif",
        "ifeq ($(origin AR),default)",
        f"AR = {'ar' if tgt.name == 'host' else 'arm-none-eabi-ar'}",
        "endif",
        f"CFLAGS ?= -O2 {cpu}".rstrip(),
        f"CFLAGS += {' '.join(WARN_FLAGS)}",
        "",
        f"OBJS = {objs}",
        "",
        f"all: lib{name}.a",
        "",
        f"lib{name}.a: $(OBJS)",
        "\t$(AR) rcs $@ $(OBJS)",
        "",
        "%.o: %.c *.h",
        "\t$(CC) $(CFLAGS) -c $< -o $@",
        "",
        "# The example prints with stdio: build it for the host (or a target with a libc).",
        f"example: main.o lib{name}.a",
        f"\t$(CC) $(CFLAGS) main.o lib{name}.a -o example",
        "",
        "clean:",
        f"\trm -f $(OBJS) main.o lib{name}.a example",
        "",
        ".PHONY: all clean",
        "",
    ])


def _cmake(name: str, sources: list[str]) -> str:
    return "\n".join([
        "cmake_minimum_required(VERSION 3.13)",
        f"project({name} C)",
        "",
        "set(CMAKE_C_STANDARD 99)",
        "set(CMAKE_C_STANDARD_REQUIRED ON)",
        "set(CMAKE_C_EXTENSIONS OFF)",
        "",
        f"add_library({name} STATIC {' '.join(sources)})",
        f"target_include_directories({name} PUBLIC ${{CMAKE_CURRENT_SOURCE_DIR}})",
        "if(CMAKE_C_COMPILER_ID MATCHES \"GNU|Clang\")",
        f"  target_compile_options({name} PRIVATE -Wall -Wextra -pedantic)",
        "endif()",
        "",
        "option(PJ_BUILD_EXAMPLE \"Build the example program\" ON)",
        "if(PJ_BUILD_EXAMPLE AND NOT CMAKE_CROSSCOMPILING)",
        f"  add_executable({name}_example main.c)",
        f"  target_link_libraries({name}_example {name})",
        "endif()",
        "",
    ])
