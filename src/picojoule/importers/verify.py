"""The model verifier: what every imported model must satisfy before any pass sees it.

:func:`load_model` runs :func:`verify_model` on the importer's IR, for every format, and
:func:`verify_static` once the import passes have made every shape static. Together they
are picojoule's version of the flatbuffer verifier TFLM runs before it builds an
interpreter: past them, the passes, the reference kernels, the planner, the estimator and
the C backend may trust that

- every node has the operands its op's signature declares (:attr:`OpInfo.operands`: how
  many inputs and outputs, which are optional, their ranks), and its options have sane
  values (strides, dilations and filter sizes of at least 1, a padding and a fused
  activation TFLite defines, finite float options);
- no node writes a constant, a graph input or another node's output, and every graph
  input and output is a tensor;
- every quantization parameter is usable: scales finite and positive (+0.0, which
  converters write on zero-filled tensors, only where constant folding makes the tensor
  a constant), zero points inside
  the tensor's integer range, one zero point per scale, per-channel counts matching the
  quantized axis;
- the tensors fit in a size limit (:data:`DEFAULT_MAX_BYTES` for all tensors together,
  1/32 of it in elements for any one, 8 Mi elements by default; raised with the environment variable
  ``PICOJOULE_MAX_MODEL_BYTES`` or ``load_model(..., max_bytes=...)``), so that no command
  allocates gigabytes or plans for minutes on a corrupted dimension;
- once shapes are static, no graph input, graph output or node output is empty (a
  dimension of 0: nothing to compute, and a zero-length array in the generated C), and
  each op's work count accepts its operands.

Each failure is a :class:`~picojoule.errors.ModelFormatError` naming the model, the node or
tensor, and what is wrong.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from picojoule.errors import ModelFormatError, PicojouleError, UnsupportedOpError
from picojoule.ir import Graph, Model, Node, Value

#: The default limit on the bytes of all tensors of a model (constants and activations,
#: each counted once): far above any microcontroller model, far below what a corrupted
#: dimension asks for.
DEFAULT_MAX_BYTES = 256 * 2**20
MAX_BYTES_ENV = "PICOJOULE_MAX_MODEL_BYTES"

#: Integer range of each quantized dtype's zero point.
_ZP_RANGE = {"int4": (-8, 7), "int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767),
             "uint16": (0, 65535), "int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}
_PADDINGS = {"SAME", "VALID"}
_INTEGER = {"int4", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}
_ACTIVATIONS = {"NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"}
#: Integer options that count or step (strides, window sizes, dilations): at least 1.
_POSITIVE_OPTION = re.compile(r"^(stride_[hwd]|dilation_[hwd]_factor|filter_(height|width|depth)"
                              r"|block_size|num_splits|depth_multiplier_positive)$")
_FLOAT_OPTIONS = ("alpha", "beta", "cell_clip", "proj_clip", "epsilon", "scale")


def max_bytes_from_env() -> int:
    """The size limit: ``PICOJOULE_MAX_MODEL_BYTES`` (bytes, with an optional K/M/G suffix;
    0 for none) or :data:`DEFAULT_MAX_BYTES`."""
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_BYTES
    m = re.fullmatch(r"(\d+)\s*([kKmMgG]?)i?[bB]?", raw)
    if not m:
        raise PicojouleError(f"{MAX_BYTES_ENV}={raw!r}: give a number of bytes (e.g. 512M, "
                             f"2G, or 0 for no limit)")
    return int(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[m.group(2).lower()]


# -- operand signatures ---------------------------------------------------------------------
@dataclass(frozen=True)
class Operand:
    """One declared operand: its name (for messages), whether it may be absent (``?``) or
    repeats (``...``: one or more), and the ranks it may have (None: any)."""

    name: str
    optional: bool = False
    variadic: bool = False
    ranks: tuple[int, int] | None = None
    #: ``:int``: an index-like operand (begin, axes, paddings ...) of an integer dtype.
    integer: bool = False

    def rank_text(self) -> str:
        lo, hi = self.ranks or (0, 0)
        return str(lo) if lo == hi else f"{lo} to {hi}"


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Operand, ...]
    outputs: tuple[Operand, ...]

    def count_range(self, ops: tuple[Operand, ...]) -> tuple[int, float]:
        lo = sum(1 for o in ops if not o.optional and not o.variadic) + sum(
            1 for o in ops if o.variadic)
        hi = math.inf if any(o.variadic for o in ops) else len(ops)
        return lo, hi


_OPERAND = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z_0-9]*)(?P<opt>\?)?(?P<var>\.\.\.)?"
                      r"(?::(?P<lo>\d+)(?:-(?P<hi>\d+))?)?(?P<int>:int)?$")


@lru_cache(maxsize=None)
def parse_signature(text: str) -> Signature:
    """``"x:4, w:4, b?:1 -> y:4"``: inputs, ``->``, outputs; ``name?`` optional,
    ``name...`` one or more, ``:r`` or ``:lo-hi`` the rank (omitted: any rank), a final
    ``:int`` an integer dtype. An input named ``bias`` is a bias: one value per output
    channel (the output's last dimension), within TFLM's 48-bit accumulator if int64."""
    if "->" not in text:
        raise ValueError(f"operand signature {text!r} has no '->'")
    sides = []
    for part in text.split("->"):
        ops = []
        for item in (s.strip() for s in part.split(",")):
            if not item:
                continue
            m = _OPERAND.match(item)
            if not m:
                raise ValueError(f"operand signature {text!r}: cannot read {item!r}")
            ranks = None
            if m.group("lo") is not None:
                lo = int(m.group("lo"))
                ranks = (lo, int(m.group("hi")) if m.group("hi") else lo)
            ops.append(Operand(m.group("name"), bool(m.group("opt")), bool(m.group("var")), ranks,
                               bool(m.group("int"))))
        sides.append(tuple(ops))
    return Signature(*sides)


# -- the checks -----------------------------------------------------------------------------
def verify_model(model: Model, *, max_bytes: int | None = None) -> None:
    """Check an imported model (see the module doc); raise ModelFormatError on the first
    problem found."""
    where = model.source or "model"
    for g in model.graphs:
        _check_graph(g, where)
    _check_values(model, where)
    _check_size(model, where, max_bytes)


def verify_static(model: Model, *, max_bytes: int | None = None) -> None:
    """Checks after the import passes: sizes again (constant folding and resolved dynamic
    dimensions change them), empty tensors, a scale of 0 left on a computed tensor, and
    every op's work count on its operands."""
    from picojoule.ops.registry import REGISTRY

    where = model.source or "model"
    _check_size(model, where, max_bytes)
    for g in model.graphs:
        for v in [*g.inputs, *g.outputs, *(o for n in g.nodes for o in n.outputs)]:
            if not v.is_const and 0 in v.shape:
                raise ModelFormatError(f"{where}: tensor {v.name!r} {v.dtype}{list(v.shape)} "
                                       f"has no elements (a dimension of 0)")
        for v in g.values():
            if (v.quant is not None and not v.is_const and v.dtype in _ZP_RANGE
                    and not (np.asarray(v.quant.scale) > 0).all()):
                raise ModelFormatError(
                    f"{where}: tensor {v.name!r} ({v.dtype}{list(v.shape)}): quantization "
                    f"scale 0 on a tensor computed at run time (kernels rescale by it)")
        for k, node in enumerate(g.nodes):
            info = REGISTRY.get(node.op)
            if info is None:
                continue
            try:
                info.macs(node)
            except PicojouleError:
                raise
            except (ValueError, IndexError, TypeError, KeyError, ZeroDivisionError,
                    AttributeError, OverflowError) as exc:
                raise ModelFormatError(
                    f"{where}: {_node(node, k)}: operands do not fit the op "
                    f"({_operands(node)}): {type(exc).__name__}: {exc}") from None


def _node(node: Node, k: int) -> str:
    return f"{node.op} (node {node.name!r}, operator {k})"


def _operands(node: Node) -> str:
    def one(v: Value | None) -> str:
        return "-" if v is None else f"{v.dtype}{list(v.shape)}"

    return (", ".join(one(v) for v in node.inputs) + " -> "
            + ", ".join(one(v) for v in node.outputs))


def _check_graph(g: Graph, where: str) -> None:
    graph_inputs = {id(v) for v in g.inputs if v is not None}
    for i, v in enumerate(g.inputs):
        if v is None:
            raise ModelFormatError(f"{where}: graph {g.name!r} input {i} is not a tensor (-1)")
    for i, v in enumerate(g.outputs):
        if v is None:
            raise ModelFormatError(f"{where}: graph {g.name!r} output {i} is not a tensor (-1)")
    if len(set(map(id, g.inputs))) != len(g.inputs):
        raise ModelFormatError(f"{where}: graph {g.name!r} lists one tensor as two inputs")
    for v in g.inputs:
        if v.is_const:
            raise ModelFormatError(f"{where}: graph input {v.name!r} is a constant")
    from picojoule.ops.registry import REGISTRY

    for k, node in enumerate(g.nodes):
        for j, o in enumerate(node.outputs):
            if o is None:
                raise ModelFormatError(f"{where}: {_node(node, k)}: output {j} is not a tensor")
            if o.data is not None and not o.variable:
                raise ModelFormatError(f"{where}: {_node(node, k)} writes constant tensor "
                                       f"{o.name!r}")
            if id(o) in graph_inputs:
                raise ModelFormatError(f"{where}: {_node(node, k)} writes graph input {o.name!r}")
            if o.producer is not node:
                raise ModelFormatError(f"{where}: {_node(node, k)} writes {o.name!r}, which "
                                       f"another node produces")
        if len(set(map(id, node.outputs))) != len(node.outputs):
            raise ModelFormatError(f"{where}: {_node(node, k)} writes one tensor twice")
        for o in node.outputs:
            if any(id(o) == id(v) for v in node.inputs if v is not None):
                raise ModelFormatError(f"{where}: {_node(node, k)} reads its own output "
                                       f"{o.name!r}")
        info = REGISTRY.get(node.op)
        if info is not None:
            _check_operands(node, info, where, k, ranks=True)
        _check_options(node, where, k)


def _check_operands(node: Node, info, where: str, k: int, *, ranks: bool) -> None:
    text = getattr(info, "operands", "")
    if not text:
        return
    sig = parse_signature(text)
    for side, values, decl in (("inputs", node.inputs, sig.inputs),
                               ("outputs", node.outputs, sig.outputs)):
        lo, hi = sig.count_range(decl)
        if not lo <= len(values) <= hi:
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi == math.inf
                                             else f"{lo} to {hi}")
            raise ModelFormatError(f"{where}: {_node(node, k)} has {len(values)} {side}, the "
                                   f"op takes {want} ({text})")
        for i, v in enumerate(values):
            op = decl[min(i, len(decl) - 1)] if decl else None
            if op is None:
                continue
            if op.variadic and i >= len(decl) - 1:
                op = decl[-1]
            if v is None:
                if not op.optional:
                    raise ModelFormatError(f"{where}: {_node(node, k)}: required {side[:-1]} "
                                           f"{i} ({op.name}) is missing (-1)")
                continue
            if op.integer and v.dtype not in _INTEGER:
                raise ModelFormatError(
                    f"{where}: {_node(node, k)}: {side[:-1]} {i} ({op.name}) {v.name!r} is "
                    f"{v.dtype}, the op takes an integer tensor")
            if op.name == "bias" and side == "inputs" and node.outputs and node.outputs[0].shape:
                _check_bias(node, k, v, where)
            if ranks and op.ranks is not None and not op.ranks[0] <= len(v.shape) <= op.ranks[1]:
                raise ModelFormatError(
                    f"{where}: {_node(node, k)}: {side[:-1]} {i} ({op.name}) {v.name!r} has "
                    f"rank {len(v.shape)} {list(v.shape)}, the op takes rank {op.rank_text()}")


def _check_bias(node: Node, k: int, b: Value, where: str) -> None:
    units = node.outputs[0].shape[-1]
    if b.size != units:
        raise ModelFormatError(f"{where}: {_node(node, k)}: bias {b.name!r} has {b.size} "
                               f"values for {units} output channels")
    if b.dtype == "int64" and b.data is not None and b.data.size and \
            int(np.abs(b.data.astype(np.float64)).max()) >= 2**47:
        raise ModelFormatError(f"{where}: {_node(node, k)}: int64 bias {b.name!r} holds values "
                               f"outside TFLM's 48-bit accumulator range")


def _check_options(node: Node, where: str, k: int) -> None:
    for key, val in node.attrs.items():
        if key == "padding" and val not in _PADDINGS:
            raise ModelFormatError(f"{where}: {_node(node, k)}: unknown padding {val!r}")
        if key == "fused_activation_function" and val not in _ACTIVATIONS:
            raise ModelFormatError(f"{where}: {_node(node, k)}: unknown fused activation "
                                   f"{val!r}")
        if _POSITIVE_OPTION.match(key) and isinstance(val, int) and not 1 <= val <= 2**16:
            raise ModelFormatError(f"{where}: {_node(node, k)}: option {key} = {val} "
                                   f"(must be 1 to 65536)")
        if key in _FLOAT_OPTIONS and isinstance(val, float) and not math.isfinite(val):
            raise ModelFormatError(f"{where}: {_node(node, k)}: option {key} = {val} is not "
                                   f"finite")


def _check_values(model: Model, where: str) -> None:
    for g in model.graphs:
        for v in g.values():
            if any(d < 0 for d in v.shape):
                raise ModelFormatError(f"{where}: tensor {v.name!r} has a negative dimension "
                                       f"{list(v.shape)}")
            if v.dtype == "complex64":
                raise UnsupportedOpError(f"{where}: tensor {v.name!r} is complex64, which no "
                                         f"picojoule kernel takes")
            if v.quant is not None:
                _check_quant(v, where)


def _check_quant(v: Value, where: str) -> None:
    q = v.quant
    what = f"{where}: tensor {v.name!r} ({v.dtype}{list(v.shape)})"
    scale = np.asarray(q.scale, np.float64)
    if v.dtype not in _ZP_RANGE:
        return  # float tensors may carry calibration ranges; nothing reads their scales
    if scale.size == 0:
        raise ModelFormatError(f"{what}: quantization without a scale")
    bad = ~np.isfinite(scale) | np.signbit(scale)
    if bad.any():
        i = int(np.argmax(bad))
        raise ModelFormatError(f"{what}: quantization scale {float(scale[i])!r} (entry {i}) "
                               f"is not a finite positive number")
    zp = np.asarray(q.zero_point)
    if zp.size != scale.size:
        raise ModelFormatError(f"{what}: {scale.size} scales but {zp.size} zero points")
    lo, hi = _ZP_RANGE[v.dtype]
    out = (zp < lo) | (zp > hi)
    if out.any():
        i = int(np.argmax(out))
        raise ModelFormatError(f"{what}: zero point {int(zp[i])} outside the {v.dtype} range "
                               f"{lo}..{hi}")
    if scale.size > 1:
        if not 0 <= q.axis < len(v.shape):
            raise ModelFormatError(f"{what}: quantized axis {q.axis} outside its rank "
                                   f"{len(v.shape)}")
        if v.shape[q.axis] != scale.size:
            raise ModelFormatError(f"{what}: {scale.size} per-channel scales for "
                                   f"{v.shape[q.axis]} channels on axis {q.axis}")


def _check_size(model: Model, where: str, max_bytes: int | None) -> None:
    limit = max_bytes_from_env() if max_bytes is None else max_bytes
    if not limit:
        return
    seen: set[int] = set()
    total = 0
    largest: Value | None = None
    largest_bytes = -1
    big: Value | None = None
    largest_elements = -1
    for g in model.graphs:
        for v in g.values():
            if id(v) in seen:
                continue
            seen.add(id(v))
            n = _nbytes(v)
            total += n
            if n > largest_bytes:
                largest, largest_bytes = v, n
            e = math.prod(max(int(d), 0) for d in v.shape)
            if e > largest_elements:
                big, largest_elements = v, e
    if total > limit:
        assert largest is not None
        raise ModelFormatError(
            f"{where}: the model's tensors need {_fmt_bytes(total)} (the largest, "
            f"{largest.name!r} {largest.dtype}{list(largest.shape)}, {_fmt_bytes(largest_bytes)}),"
            f" over picojoule's limit of {_fmt_bytes(limit)}; set {MAX_BYTES_ENV} to raise it")
    if largest_elements > limit // 32:
        v = big
        raise ModelFormatError(
            f"{where}: tensor {v.name!r} {v.dtype}{list(v.shape)} has {largest_elements:,} "
            f"elements, over picojoule's limit of {limit // 32:,} per tensor (1/32 of the "
            f"{_fmt_bytes(limit)} model limit: planning and running keep several 64-bit values "
            f"per element); set {MAX_BYTES_ENV} to raise it")


def _nbytes(v: Value) -> int:
    """Bytes of ``v`` in Python integers (no int64 overflow on corrupted dimensions)."""
    n = 1
    for d in v.shape:
        n *= max(int(d), 0)
    bits = {"int4": 4, "bool": 8}.get(v.dtype)
    if bits is None:
        try:
            from picojoule.ir import dtypes

            bits = dtypes.to_numpy(v.dtype).itemsize * 8
        except (KeyError, TypeError, ValueError):
            bits = 8
    return (n * bits + 7) // 8


def _fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,} B"
