"""The op table: one entry per op, holding everything picojoule knows about it.

An op module registers each op it implements, with its traits beside its kernel::

    @register("ADD", macs=elementwise_macs, oracle="TFLM", traits=ELEMENTWISE_BINARY,
              quant=QuantRule(versions={"int8": 2, "int16x8": 3}))
    def prepare_add(node: Node) -> Kernel:
        ...                      # all float -> fixed-point work happens here, once
        def run(inputs):         # integer numpy only
            ...
            return [out]
        return run

``prepare(node)`` is called once per node when an interpreter is built. It raises
:class:`~picojoule.errors.UnsupportedOpError` (with a message naming the node and
what is unsupported) for configurations it does not handle. The returned kernel
takes the node's input arrays (``None`` for absent optional inputs; variable
tensors are passed as arrays the kernel may update in place) and returns the
output arrays with exactly the shapes and numpy dtypes of ``node.outputs``.

The entry is the one place the rest of picojoule asks about an op:

- **traits** (:data:`ELEMENTWISE`, :data:`WINDOWED`, :data:`MOVEMENT` ...): the layout
  pass sinks transposes through elementwise ops, the planner streams elementwise,
  windowed and data-movement ops in place, the estimator knows aliases cost nothing,
  stateful ops are never folded or removed;
- **layout**: how a TRANSPOSE feeding the op moves below it (:class:`Layout`);
- **quant**: what the quantizer must respect (:class:`QuantRule`: shared or fixed output
  quantization, which inputs are weights and bias, the op versions TFLite writes);
- **shape**: the shape rule, output shapes from input shapes and constant inputs;
- **emitters** and **coverage**: the C backend's code generators for the op, registered
  by ``picojoule.backends.c`` modules, and the dtypes each instruction set covers; a plain
  elementwise op just names its C function per dtype (**c_kernels**);
- **cost**: work counts for the latency model where no fitted kernel model exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from picojoule.errors import UnsupportedOpError
from picojoule.ir import Node

Kernel = Callable[[Sequence[Optional[np.ndarray]]], list]
Prepare = Callable[[Node], Kernel]

# ------------------------------------------------------------------------------ traits
#: Output element i is a function of element i of every (broadcast) input only.
ELEMENTWISE = "elementwise"
#: With :data:`ELEMENTWISE`: the number of data inputs (one, or two and more).
UNARY = "unary"
BINARY = "binary"
#: Changes the element type only (QUANTIZE, DEQUANTIZE, CAST): elementwise, not math.
CONVERT = "convert"
#: NHWC sliding window: output pixel (y, x) reads an input window around (y*s, x*s).
WINDOWED = "windowed"
#: Only moves elements: each output element is one input element or a constant.
MOVEMENT = "movement"
#: Reduces the axes named by constant input 1 (keep_dims or not).
REDUCE = "reduce"
#: The output is input 0 reinterpreted with another shape (RESHAPE-like): no code.
ALIAS = "alias"
#: Keeps state across invocations (variable tensors or kernel memory): never constant
#: folded, never removed as dead code.
STATEFUL = "stateful"
#: Has a ``fused_activation_function`` a following RELU / RELU6 / RELU_N1_TO_1 can fold into.
FUSES_ACTIVATION = "fuses_activation"

ELEMENTWISE_UNARY = frozenset({ELEMENTWISE, UNARY})
ELEMENTWISE_BINARY = frozenset({ELEMENTWISE, BINARY})
TRAITS = frozenset({ELEMENTWISE, UNARY, BINARY, CONVERT, WINDOWED, MOVEMENT, REDUCE, ALIAS,
                    STATEFUL, FUSES_ACTIVATION})


class Weights(NamedTuple):
    """Which inputs of a weighted layer are what (for the quantizer and weight folding)."""

    weights: int
    activation: int
    bias: int
    #: The output-channel axis of the weights (per-channel quantization, batch-norm folding).
    axis: int


@dataclass(frozen=True)
class QuantRule:
    """What post-training quantization must respect for one op."""

    #: Inputs and outputs must share one quantization (TFLM assumes or checks it).
    same: bool = False
    #: Output quantization the kernels require, per activation dtype: {"int8": (scale, zp)}.
    fixed: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    #: A weighted layer: its weights, activation and bias inputs.
    weights: Weights | None = None
    #: The op version TFLite's converter writes, per scheme ("int8", "int16x8",
    #: "int4-weights"); missing schemes fall back to "int8".
    versions: Mapping[str, int] = field(default_factory=dict)

    def version(self, scheme: str) -> int | None:
        return self.versions.get(scheme, self.versions.get("int8"))


#: A layout plan: (output permutation, attribute updates, {input index: new value}).
LayoutPlan = tuple[Optional[list], dict, dict]
#: ``plan(node, perm, inverse, const)``: how the op reads its data inputs through
#: ``perm`` instead (``const(array, like_value)`` makes a new constant), or None.
PlanFn = Callable[[Node, list, list, Callable[..., Any]], Optional[LayoutPlan]]


@dataclass(frozen=True)
class Layout:
    """How a TRANSPOSE feeding the op moves below it (the NHWC layout pass).

    ``inputs``: the inputs that carry transposable data ("all", or their indices); every
    one of them must come from the same permutation. ``plan``: the op rewritten to read
    the untransposed inputs (see :data:`PlanFn`)."""

    inputs: str | tuple[int, ...]
    plan: PlanFn


def elementwise_layout(node: Node, perm: list, inv: list, const) -> LayoutPlan:
    """Elementwise ops commute with any transpose (constant operands are permuted)."""
    return perm, {}, {}


ShapeFn = Callable[[Node, list, list], list]
CostFn = Callable[[Node], dict]


@dataclass
class OpInfo:
    """What picojoule knows about one op."""

    name: str
    prepare: Prepare
    #: Multiply-accumulates one execution of the node performs (0 if not counted).
    macs: Callable[[Node], int]
    #: Whose reference kernels define the op's exact results: "TFLM",
    #: "LiteRT reference" (OpResolverType.BUILTIN_REF) or "LiteRT".
    oracle: str = "TFLM"
    #: Activation dtypes the reference kernel handles, for docs/ops.md.
    dtypes: tuple[str, ...] = ()
    doc: str = ""
    traits: frozenset[str] = frozenset()
    layout: Layout | None = None
    quant: QuantRule = field(default_factory=QuantRule)
    #: ``shape(node, input_shapes, const_inputs)`` -> output shapes; ``const_inputs[i]`` is
    #: input i's data when constant, else None.
    shape: ShapeFn | None = None
    #: Work counts for the latency model of a kernel outside the fit (None: outputs + MACs).
    cost: CostFn | None = None
    #: Plain elementwise C kernels, per dtype: {"float32": ("pj_square.c", "pj_square_f32")}
    #: for a function ``void f(int32_t n, const T *in, T *out)`` in that kernel file; the C
    #: backend's generic elementwise emitter calls it (an elementwise op then needs no
    #: emitter of its own; int8 elementwise ops get a 256-entry table from the reference).
    c_kernels: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: C emitters, tried in order: (predicate or None for "any node", emit function).
    emitters: list = field(default_factory=list)
    #: C coverage: instruction set ("portable", "dsp", "mve") -> activation dtypes.
    coverage: dict = field(default_factory=dict)
    #: Where a user-supplied op came from (its file), for messages; "" for built-ins.
    origin: str = ""
    extra: dict = field(default_factory=dict)
    #: The operands the op takes, checked at import (:mod:`picojoule.importers.verify`):
    #: ``"x:4, w:4, b?:1 -> y:4"`` (inputs ``->`` outputs; ``?`` optional, ``...`` one or
    #: more, ``:r`` / ``:lo-hi`` the rank); "" for unchecked.
    operands: str = ""

    def has(self, *traits: str) -> bool:
        return all(t in self.traits for t in traits)


REGISTRY: dict[str, OpInfo] = {}


def _no_macs(node: Node) -> int:
    return 0


def register(
    name: str,
    *,
    macs: Callable[[Node], int] | None = None,
    oracle: str = "TFLM",
    dtypes: Sequence[str] = (),
    doc: str = "",
    traits: Sequence[str] = (),
    layout: Layout | None = None,
    quant: QuantRule | None = None,
    shape: ShapeFn | None = None,
    cost: CostFn | None = None,
    c_kernels: Mapping[str, tuple[str, str]] | None = None,
    origin: str = "",
    operands: str = "",
) -> Callable[[Prepare], Prepare]:
    """Register ``prepare`` as the reference implementation of op ``name``, with its traits."""
    bad = set(traits) - TRAITS
    if bad:
        raise RuntimeError(f"op {name}: unknown traits {sorted(bad)}")
    traits = frozenset(traits)
    if layout is None and ELEMENTWISE in traits:
        layout = Layout("all", elementwise_layout)

    def deco(prepare: Prepare) -> Prepare:
        if name in REGISTRY:
            raise RuntimeError(f"op {name} registered twice")
        REGISTRY[name] = OpInfo(name, prepare, macs or _no_macs, oracle, tuple(dtypes),
                                doc or (prepare.__doc__ or "").strip().split("\n")[0],
                                traits, layout, quant or QuantRule(), shape, cost,
                                dict(c_kernels or {}), origin=origin, operands=operands)
        return prepare

    return deco


def lookup(node: Node) -> OpInfo:
    """The registry entry for ``node``'s op, or a clear error naming the node."""
    info = REGISTRY.get(node.op)
    if info is None:
        raise UnsupportedOpError(
            f"op {node.op} (node {node.name!r}) is not supported by picojoule's reference "
            f"interpreter")
    return info


def info_of(op: str) -> OpInfo | None:
    """The registry entry of ``op``, or None for an op picojoule does not know."""
    return REGISTRY.get(op)


def has_trait(node_or_op: Node | str, *traits: str) -> bool:
    """Whether the op (of a node, or by name) carries every one of ``traits``."""
    op = node_or_op if isinstance(node_or_op, str) else node_or_op.op
    info = REGISTRY.get(op)
    return info is not None and info.has(*traits)


def takes_activations(op: str, dtype: str) -> bool:
    """Whether the op's reference kernel (and so its oracle) runs with ``dtype``
    activations, by its ``dtypes``: the quantizer keeps an op that lacks the scheme's type
    in int8 (:mod:`picojoule.quantize.islands`). An op that lists no dtypes, or that
    picojoule does not know, is assumed to."""
    info = REGISTRY.get(op)
    return info is None or not info.dtypes or dtype in info.dtypes


def ops_with(*traits: str) -> frozenset[str]:
    """Names of the registered ops carrying every one of ``traits``."""
    return frozenset(n for n, i in REGISTRY.items() if i.has(*traits))


def is_stateful(node_or_op: Node | str) -> bool:
    """Stateful, or unknown to picojoule (then assumed stateful: never folded or removed)."""
    op = node_or_op if isinstance(node_or_op, str) else node_or_op.op
    info = REGISTRY.get(op)
    return info is None or STATEFUL in info.traits


def unsupported(node: Node, what: str) -> UnsupportedOpError:
    """An error for a configuration of a known op that picojoule does not handle."""
    return UnsupportedOpError(f"{node.op} (node {node.name!r}): {what} is not supported")


def node_macs(node: Node) -> int:
    info = REGISTRY.get(node.op)
    return int(info.macs(node)) if info else 0
