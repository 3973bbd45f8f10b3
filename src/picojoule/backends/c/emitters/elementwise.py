"""Plain elementwise C kernels named in the op table (``register(..., c_kernels=...)``).

An elementwise op whose C kernel is one function ``void f(int32_t n, const T *in, T *out)``
needs no emitter of its own: its registration names the kernel file and function per dtype,
and this module calls it (declaring the prototype in the model file, so the kernel file
needs no header). With the op's int8 table (``lut.py``, from the reference kernel), a new
elementwise op is its op module entry, its C file and its test.
"""

from __future__ import annotations

from picojoule.backends.c.generator import CTYPES, Context, Emitted, emitter, unsupported
from picojoule.errors import PicojouleError
from picojoule.ir import Node
from picojoule.ops.registry import REGISTRY, lookup


def _emitter_for(op: str):
    kernels = REGISTRY[op].c_kernels

    def applies(node: Node) -> bool:
        x = node.input(0)
        return (x is not None and x.dtype in kernels and len(node.outputs) == 1
                and node.outputs[0].dtype == x.dtype)

    def emit(ctx: Context, node: Node) -> Emitted:
        x, y = node.inputs[0], node.outputs[0]
        try:
            lookup(node).prepare(node)  # the reference's refusals are the C backend's
        except PicojouleError as e:
            raise unsupported(node, str(e).split(": ", 1)[-1]) from None
        if x.size != y.size:
            raise unsupported(node, f"input {list(x.shape)} with output {list(y.shape)}")
        source, fn = kernels[x.dtype]
        ctype = CTYPES[x.dtype]
        proto = f"void {fn}(int32_t n, const {ctype} *in, {ctype} *out);\n"
        if proto not in ctx.decls:
            ctx.decls.append(proto)
        return Emitted(f"{fn}({x.size}, {{in0}}, {{out0}});", sources=(source,))

    return applies, emit


def attach_declared() -> None:
    """Register the generic emitter for every op whose table entry names C kernels."""
    for op, info in REGISTRY.items():
        if info.c_kernels and not info.extra.get("c_elementwise"):
            applies, emit = _emitter_for(op)
            emitter(op, when=applies, dtypes=tuple(info.c_kernels))(emit)
            info.extra["c_elementwise"] = True
