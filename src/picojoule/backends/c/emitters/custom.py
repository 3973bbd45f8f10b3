"""Custom ops in the generated C: one call through the ABI of ``pj_custom.h``.

:func:`attach` gives a custom op (registered with :func:`picojoule.custom.custom_op`) an
emitter: for each node it declares the user's function once, fills a ``pj_tensor`` per
input and output (arena pointers at run time, constants from flash) and passes the
constants the op's ``params(node)`` computed as const arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from picojoule.backends.c.generator import CTYPES, Context, Emitted, _c_float, unsupported
from picojoule.ir import Node, Value
from picojoule.ops.registry import REGISTRY, OpInfo

#: TFLite TensorType numbers (pj_custom.h's PJ_INT8 ...).
TYPE_CODES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "bool": 6, "int16": 7,
              "int8": 9, "uint32": 15, "uint16": 16}
MAX_DIMS = 6


def _tensor(ctx: Context, node: Node, v: Value | None, data: str) -> str:
    """A ``pj_tensor`` initializer for ``v`` whose data is the C expression ``data``."""
    if v is None:
        return "{0, {0}, 0, 0, 0, 0.0f, 0}"
    if v.dtype not in TYPE_CODES:
        raise unsupported(node, f"a {v.dtype} tensor ({v.name!r}) in a custom op")
    if len(v.shape) > MAX_DIMS:
        raise unsupported(node, f"a rank-{len(v.shape)} tensor in a custom op (at most {MAX_DIMS})")
    dims = [int(d) for d in v.shape] + [0] * (MAX_DIMS - len(v.shape))
    scale, zp = (0.0, 0)
    if v.quant is not None and v.quant.scale.size >= 1:
        scale, zp = float(v.quant.scale0), int(v.quant.zp0)
    return (f"{{(void *){data}, {{{', '.join(map(str, dims))}}}, {len(v.shape)}, "
            f"{TYPE_CODES[v.dtype]}, {v.size}, {_c_float(scale)}, {zp}}}")


def attach(info: OpInfo, source: Path, function: str,
           params: Callable[[Node], dict] | None, scratch: Callable[[Node], int] | None,
           dtypes: tuple[str, ...]) -> None:
    """Register the C emitter of custom op ``info`` (its kernel ``function`` in ``source``)."""
    prototype = (f"void {function}(const pj_tensor *in, int32_t n_in, pj_tensor *out, "
                 f"int32_t n_out, const pj_custom_params *p);\n")

    def emit(ctx: Context, node: Node) -> Emitted:
        # Once per generated file (not per id(ctx): ids are reused once a Context is freed).
        if prototype not in ctx.decls:
            ctx.decls.append(prototype)
        got = params(node) if params is not None else {}
        if not isinstance(got, dict) or set(got) - {"ints", "floats"}:
            raise unsupported(node, f"params() of {info.origin} returning {got!r} (a dict with "
                                    f"'ints' and 'floats' lists)")
        ints = np.asarray(got.get("ints", []), np.int64).reshape(-1)
        floats = np.asarray(got.get("floats", []), np.float64).reshape(-1)
        if ints.size and (ints.min() < -(1 << 31) or ints.max() >= 1 << 31):
            raise unsupported(node, "custom-op params outside int32")
        ia = ctx.array("cint", "int32_t", ints) if ints.size else "0"
        fa = ctx.array("cflt", "float", floats.astype(np.float32)) if floats.size else "0"
        nbytes = int(scratch(node)) if scratch is not None else 0
        ins = []
        for i, v in enumerate(node.inputs):
            if v is None:
                ins.append(_tensor(ctx, node, None, "0"))
            elif v.is_const:
                arr = ctx.array("cin", CTYPES[v.dtype], v.data.astype(np.uint8)
                                if v.dtype == "bool" else v.data)
                ins.append(_tensor(ctx, node, v, arr))
            else:
                ins.append(_tensor(ctx, node, v, f"\0in{i}\0"))
        outs = [_tensor(ctx, node, v, f"\0out{i}\0") for i, v in enumerate(node.outputs)]
        sc = "\0scratch\0" if nbytes else "0"
        ins = ins or [_tensor(ctx, node, None, "0")]
        call = "\n        ".join([
            "{",
            f"pj_tensor in_[{len(ins)}] = {{{', '.join(ins)}}};",
            f"pj_tensor out_[{len(outs)}] = {{{', '.join(outs)}}};",
            f"pj_custom_params p_ = {{{ia}, {ints.size}, {fa}, {floats.size}, {sc}, {nbytes}}};",
            f"{function}(in_, {len(node.inputs)}, out_, {len(node.outputs)}, &p_);",
        ]) + "\n    }"
        # Literal braces are doubled for the generator's str.format; \0name\0 marks the
        # arena pointers it fills in.
        call = call.replace("{", "{{").replace("}", "}}")
        for k in ("in", "out"):
            for i in range(len(node.inputs if k == "in" else node.outputs)):
                call = call.replace(f"\0{k}{i}\0", f"{{{k}{i}}}")
        call = call.replace("\0scratch\0", "{scratch}")
        return Emitted(call, scratch=nbytes, sources=(str(source), "pj_custom.h"))

    info.emitters.append((None, emit))
    info.coverage.setdefault("portable", set()).update(dtypes)


def attach_pending() -> None:
    """Attach the emitter of every op registered with a C kernel file that has none yet."""
    for info in REGISTRY.values():
        spec = info.extra.get("c_kernel")
        if spec is not None and not info.extra.get("c_attached"):
            attach(info, *spec)
            info.extra["c_attached"] = True
