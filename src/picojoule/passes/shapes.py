"""Static shapes: resolve dynamic input dimensions, propagate every shape, fold shape arithmetic.

Converters write a model exported with a dynamic batch with ``-1`` in its tensors'
``shape_signature`` and placeholder sizes in their ``shape``; they also leave the
arithmetic that computes run-time shapes in the graph (``SHAPE -> STRIDED_SLICE -> PACK
-> RESHAPE``, ``FILL`` with dims computed from ``SHAPE``, ``GATHER`` / ``REDUCE_PROD`` /
``CONCATENATION`` over shape vectors). TFLM refuses such models (a ``FILL`` with
non-constant dims, ops it lacks) and picojoule's planner and backends need every size.
:class:`StaticShapes` makes the model static, in one pass over the nodes in order:

1. **Inputs.** A ``-1`` in a graph input's signature becomes the size the user gives
   (``input_shapes={"x": (1, 49, 10, 1)}``) or 1. Variable (state) tensors with ``-1`` take
   the size the dynamic input dimensions were given (a batch shared by the whole graph).
2. **Propagation.** Each node's output shapes come from its op's shape rule
   (:attr:`~picojoule.ops.registry.OpInfo.shape`), given its input shapes and constant
   inputs; a value's stored shape is only a placeholder where its signature has ``-1``.
   Where a stored shape without ``-1`` disagrees with the rule, the rule wins and a note
   says so. Where a rule cannot tell (the shape depends on run-time values, or the op is
   unknown) and nothing upstream changed, the file's shapes are kept (TFLM runs on them);
   after a dynamic input changed something, that is one clear error.
3. **Folding.** A node that is not stateful and reads only constants (or, for ``SHAPE``,
   only its input's now static shape) runs once through its reference kernel and its
   outputs become constants; nodes nothing reads any more are removed. A node producing
   a graph output stays (its other readers get the constant).

Values whose signature had ``-1`` get the static shape as their signature, so an exported
model is static throughout. ``model.meta["shapes"]`` records how each input was resolved,
the notes, and the node counts before and after (``picojoule inspect`` prints them).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np

from picojoule.errors import ModelFormatError, PicojouleError, UnsupportedOpError
from picojoule.ir import Graph, Model, Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.common import DataDependentShape
from picojoule.ops.registry import REGISTRY, is_stateful
from picojoule.passes.base import Pass, PassContractError, PassResult

#: Ops whose output depends only on the (static) shape of their input, not its values.
_READS_SHAPE_ONLY = frozenset({"SHAPE"})
#: Dtypes a folded constant cannot hold (their buffers are not plain arrays).
_NOT_FOLDABLE_DTYPES = frozenset({"string", "resource", "variant"})

InputShapes = Mapping[str, Sequence[int]] | Sequence[int] | None


class InputShapeError(PicojouleError):
    """A requested input shape names no input, has the wrong rank or changes a fixed size.

    A usage error: the CLI reports it like a bad option value."""


def _fmt(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def signature_of(v: Value) -> tuple[int, ...]:
    """The value's shape signature (``-1`` for dynamic sizes), or its shape when it has none."""
    sig = v.meta.get("shape_signature")
    if sig is None or len(sig) != len(v.shape):
        return tuple(v.shape)
    return tuple(int(d) for d in sig)


def resolve_input_shape(name: str, signature: Sequence[int], given: Sequence[int] | None,
                        default: int = 1) -> tuple[tuple[int, ...], dict[str, Any]]:
    """The static shape of one graph input, and a record of how it was resolved.

    ``signature`` has ``-1`` for dynamic sizes; ``given`` (or None) is what the user asked
    for. Dynamic sizes default to ``default``; given shapes must have the input's rank and
    keep its fixed sizes."""
    sig = tuple(int(d) for d in signature)
    dynamic = [i for i, d in enumerate(sig) if d < 0]
    if given is None:
        shape = tuple(default if d < 0 else d for d in sig)
        source = "default" if dynamic else "static"
    else:
        shape = tuple(int(d) for d in given)
        if len(shape) != len(sig):
            raise InputShapeError(
                f"input {name!r} has {len(sig)} dimensions {_fmt(sig)}; the shape given for "
                f"it, {_fmt(shape)}, has {len(shape)}")
        if any(d < 1 for d in shape):
            raise InputShapeError(f"input {name!r}: sizes must be positive, got {_fmt(shape)}")
        fixed = [i for i, (s, d) in enumerate(zip(sig, shape)) if s >= 0 and s != d]
        if fixed:
            i = fixed[0]
            what = (f"only dimension(s) {', '.join(str(k) for k in dynamic)} are dynamic"
                    if dynamic else "it has no dynamic dimension")
            raise InputShapeError(
                f"input {name!r} has shape {_fmt(sig)} (-1: dynamic); dimension {i} is fixed "
                f"at {sig[i]}, the shape given has {shape[i]} ({what})")
        source = "given"
    record = {"name": name, "signature": list(sig), "shape": list(shape),
              "dynamic_axes": dynamic, "source": source}
    return shape, record


def match_input_shapes(names: Sequence[str], input_shapes: InputShapes
                       ) -> dict[str, tuple[int, ...]]:
    """``input_shapes`` keyed by input name: a bare shape means the model's only input;
    names must exist."""
    if input_shapes is None:
        return {}
    if not isinstance(input_shapes, Mapping):
        if len(names) != 1:
            raise InputShapeError(
                f"the model has {len(names)} inputs ({', '.join(map(repr, names))}); name the "
                f"one each shape is for (NAME=1,2,3)")
        return {names[0]: tuple(int(d) for d in input_shapes)}
    unknown = [k for k in input_shapes if k not in names]
    if unknown:
        raise InputShapeError(f"the model has no input named {unknown[0]!r} (its inputs: "
                              f"{', '.join(map(repr, names))})")
    return {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}


def _no_shape_arithmetic(model: Model) -> None:
    """Nothing downstream may see a SHAPE node (except one producing a graph output)."""
    g = model.main
    outputs = {id(v) for v in g.outputs}
    for node in g.nodes:
        if node.op in _READS_SHAPE_ONLY and not all(id(o) in outputs for o in node.outputs):
            raise PassContractError(f"{node.op} (node {node.name!r}) is left after the "
                                    f"static-shapes pass")


class StaticShapes(Pass):
    """Resolve the main graph's input shapes, propagate shapes through every node, fold
    constant (and shape-only) nodes and remove what nothing reads (see the module doc)."""

    ensures = (_no_shape_arithmetic,)

    def __init__(self, input_shapes: InputShapes = None) -> None:
        self.input_shapes = input_shapes

    def call(self, model: Model) -> PassResult:
        g = model.main
        report = model.meta.setdefault("shapes", {})
        report["notes"] = []
        before = len(g.nodes)
        original = {id(v): v.shape for v in g.values()}
        records, batch_sizes = self._resolve_inputs(g)
        if records or "inputs" not in report:
            report["inputs"] = records
        self._resolve_variables(g, batch_sizes)
        run = _Propagation(g, original, report["notes"], records)
        run.walk()
        removed = _remove_dead(g)
        report.update(nodes_before=before, nodes_after=len(g.nodes),
                      folded=dict(run.folded), removed=removed)
        changed = (any(v.shape != original.get(id(v), v.shape) for v in g.values())
                   or len(g.nodes) != before or bool(run.folded))
        return PassResult(model, changed)

    def _resolve_inputs(self, g: Graph) -> tuple[list[dict], set[int]]:
        given = match_input_shapes([v.name for v in g.inputs], self.input_shapes)
        records, sizes = [], set()
        for v in g.inputs:
            sig = signature_of(v)
            shape, record = resolve_input_shape(v.name, sig, given.get(v.name))
            if record["source"] != "static":
                records.append(record)
                sizes.update(shape[i] for i in record["dynamic_axes"])
                v.meta["dynamic_signature"] = list(sig)  # for input errors' hints
            _set_shape(v, shape)
        return records, sizes

    @staticmethod
    def _resolve_variables(g: Graph, sizes: set[int]) -> None:
        """State tensors with dynamic sizes take the one size the dynamic inputs were given."""
        for v in g.values():
            if not v.variable or v.producer is not None:
                continue
            sig = signature_of(v)
            if all(d >= 0 for d in sig):
                continue
            if len(sizes) > 1:
                raise ModelFormatError(
                    f"state tensor {v.name!r} has dynamic shape {_fmt(sig)}, and the model's "
                    f"dynamic input dimensions were given different sizes ({sorted(sizes)}): "
                    f"picojoule cannot tell which one it takes")
            size = next(iter(sizes), 1)
            shape = tuple(size if d < 0 else d for d in sig)
            if v.data is not None and v.data.size == int(np.prod(shape, dtype=np.int64)):
                v.data = v.data.reshape(shape)
            elif v.data is not None:
                v.data = np.zeros(shape, v.data.dtype)  # TFLM zeroes state at start too
            _set_shape(v, shape)


def _set_shape(v: Value, shape: Sequence[int]) -> None:
    v.shape = tuple(int(d) for d in shape)
    if "shape_signature" in v.meta:
        v.meta["shape_signature"] = list(v.shape)


class _Propagation:
    """One walk over a graph's nodes: shape rules, then folding, node by node."""

    def __init__(self, g: Graph, original: dict[int, tuple], notes: list[str],
                 records: list[dict]) -> None:
        self.g = g
        self.original = original
        self.notes = notes
        self.records = records
        self.folded: Counter[str] = Counter()
        self.outputs = {id(v) for v in g.outputs}

    def walk(self) -> None:
        for node in list(self.g.nodes):
            self.shapes(node)
            if self.foldable(node):
                self.fold(node)

    # -- shapes ------------------------------------------------------------------------------
    def _changed(self, v: Value | None) -> bool:
        return v is not None and v.shape != self.original.get(id(v), v.shape)

    def shapes(self, node: Node) -> None:
        info = REGISTRY.get(node.op)
        upstream = any(self._changed(v) for v in node.inputs)
        dynamic = any(-1 in signature_of(o) for o in node.outputs)
        if info is None or info.shape is None:
            if upstream or dynamic:
                why = "its input shapes changed" if upstream else "they are dynamic (-1)"
                self.notes.append(f"{node.op} (node {node.name!r}) is unknown to picojoule: its "
                                  f"outputs keep the file's shapes, unchecked although {why}")
            return
        in_shapes = [None if v is None else v.shape for v in node.inputs]
        consts = [v.data if v is not None and v.is_const else None for v in node.inputs]
        try:
            out_shapes = [tuple(int(d) for d in s) for s in info.shape(node, in_shapes, consts)]
            if len(out_shapes) != len(node.outputs):
                raise UnsupportedOpError(f"{node.op} (node {node.name!r}): {len(node.outputs)} "
                                         f"outputs where its shape rule gives {len(out_shapes)}")
        except (PicojouleError, ValueError, IndexError, TypeError, KeyError,
                ZeroDivisionError) as exc:
            if not (upstream or dynamic):  # a static model: TFLM runs on the stored shapes
                self.notes.append(f"{_message(exc)}; kept the shapes the file gives its outputs")
                return
            raise self._explain(node, exc) from None
        for o, s in zip(node.outputs, out_shapes):
            if s != o.shape and -1 not in signature_of(o):
                self.notes.append(f"{node.op} (node {node.name!r}) output {o.name!r}: the file "
                                  f"gives {_fmt(o.shape)}, the op's rule {_fmt(s)} (used)")
            _set_shape(o, s)

    def _explain(self, node: Node, exc: Exception) -> PicojouleError:
        """One error for a shape that cannot be made static, saying what the user can do."""
        msg = _message(exc)
        dyn = [r for r in self.records if r["dynamic_axes"]]
        resolved = "; ".join(f"{r['name']!r} {_fmt(r['signature'])} -> {_fmt(r['shape'])}"
                             for r in dyn)
        if isinstance(exc, DataDependentShape):
            return UnsupportedOpError(
                f"{msg}: it is computed from the model's input data, so it has no static "
                f"value (picojoule and TFLM need static shapes); re-export the model with "
                f"this shape fixed")
        hint = (f" (dynamic input dimensions were set: {resolved}; pass --input-shape "
                f"NAME=... to choose their sizes)" if dyn else "")
        cls = UnsupportedOpError if isinstance(exc, UnsupportedOpError) else ModelFormatError
        return cls(f"{msg}{hint}")

    # -- folding -----------------------------------------------------------------------------
    def foldable(self, node: Node) -> bool:
        if is_stateful(node) or not node.outputs:
            return False
        if any(o.variable or o.dtype in _NOT_FOLDABLE_DTYPES for o in node.outputs):
            return False
        if node.op in _READS_SHAPE_ONLY:
            return True
        return all(v is None or v.is_const for v in node.inputs)

    def fold(self, node: Node) -> None:
        info = REGISTRY[node.op]
        try:
            kernel = info.prepare(node)
            arrays = kernel([None if v is None else v.data for v in node.inputs])
            values = [_as_data(o, a) for o, a in zip(node.outputs, arrays, strict=True)]
        except (PicojouleError, ValueError, IndexError, TypeError, FloatingPointError) as exc:
            self.notes.append(f"{node.op} (node {node.name!r}) reads only constants but was not "
                              f"folded ({_message(exc)})")
            return
        g = self.g
        if any(id(o) in self.outputs for o in node.outputs):
            # A graph output stays produced by the node; its other readers read a constant.
            for o, data in zip(node.outputs, values):
                uses = o.uses()
                if uses:
                    twin = Value(f"{o.name}_const", o.shape, o.dtype, quant=o.quant, data=data)
                    for user, i in uses:
                        g.replace_input(user, i, twin)
            return
        g.remove_node(node)
        for o, data in zip(node.outputs, values):
            o.data = data
        self.folded[node.op] += 1


def _as_data(v: Value, array: Any) -> np.ndarray:
    """A kernel's output as constant data for ``v`` (its numpy dtype and shape)."""
    a = np.asarray(array)
    if a.size != v.size:
        raise ValueError(f"the kernel gave {a.size} values for {v.name!r} {_fmt(v.shape)}")
    # np.array, not ascontiguousarray: that would turn a 0-d result into a 1-d one.
    return np.array(a.reshape(v.shape), dtype=to_numpy(v.dtype), order="C")


def _message(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, PicojouleError) else f"{type(exc).__name__}: {exc}"


def _remove_dead(g: Graph) -> int:
    """Remove nodes (latest first) that are not stateful and whose outputs nothing reads."""
    outputs = {id(v) for v in g.outputs}
    removed = 0
    for node in reversed(list(g.nodes)):
        if is_stateful(node):
            continue
        if any(o.uses() or id(o) in outputs for o in node.outputs):
            continue
        g.remove_node(node)
        removed += 1
    return removed
