"""A small value-centric graph IR.

A :class:`Graph` is a list of :class:`Node` in execution order connecting
:class:`Value` objects. Each value knows its producer node (``None`` for graph
inputs and constants) and its users; the graph keeps these links consistent as
nodes are added or rewired, and :meth:`Graph.verify` checks them.

Nothing here knows about a file format: importers translate formats into this IR,
exporters translate it back. Analyses may keep scratch data in ``meta`` dicts,
which are never serialised.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from picojoule.errors import PicojouleError
from picojoule.ir import dtypes


@dataclass(eq=False)
class Quant:
    """Affine quantization: ``real = scale * (q - zero_point)``.

    ``scale`` and ``zero_point`` are 1-D arrays; with more than one element the
    quantization is per channel along ``axis`` of the value's shape.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    def __post_init__(self) -> None:
        self.scale = np.asarray(self.scale, dtype=np.float32).reshape(-1)
        self.zero_point = np.asarray(self.zero_point, dtype=np.int64).reshape(-1)
        if self.zero_point.size == 1 and self.scale.size > 1:
            self.zero_point = np.repeat(self.zero_point, self.scale.size)

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def scale0(self) -> float:
        """The (first) scale as a Python float, for per-tensor quantization."""
        return float(self.scale[0])

    @property
    def zp0(self) -> int:
        """The (first) zero point as a Python int, for per-tensor quantization."""
        return int(self.zero_point[0]) if self.zero_point.size else 0

    def __repr__(self) -> str:
        if self.per_channel:
            return f"Quant(per-channel x{self.scale.size}, axis={self.axis})"
        return f"Quant(scale={self.scale0:.6g}, zp={self.zp0})"


class Value:
    """A tensor-valued edge: a graph input, a constant or a node's output."""

    def __init__(
        self,
        name: str,
        shape: Iterable[int],
        dtype: str,
        *,
        quant: Quant | None = None,
        data: np.ndarray | None = None,
        variable: bool = False,
    ) -> None:
        if dtype not in dtypes.NUMPY_DTYPES:
            raise PicojouleError(f"value {name!r}: unknown dtype {dtype!r}")
        self.name = name
        self.shape: tuple[int, ...] = tuple(int(d) for d in shape)
        self.dtype = dtype
        self.quant = quant
        self.data = data
        #: A variable (state) tensor keeps its contents between invocations.
        self.variable = variable
        self.producer: Node | None = None
        self._uses: list[tuple[Node, int]] = []
        self.meta: dict[str, Any] = {}

    @property
    def is_const(self) -> bool:
        return self.data is not None and not self.variable

    @property
    def users(self) -> list[Node]:
        """Nodes that read this value (each once, in first-use order)."""
        seen: list[Node] = []
        for node, _ in self._uses:
            if node not in seen:
                seen.append(node)
        return seen

    def uses(self) -> list[tuple[Node, int]]:
        """(node, input index) pairs that read this value."""
        return list(self._uses)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return dtypes.nbytes(self.dtype, self.size)

    def __repr__(self) -> str:
        kind = "const " if self.is_const else ("var " if self.variable else "")
        q = f" {self.quant!r}" if self.quant else ""
        return f"<{kind}Value {self.name!r} {self.dtype}{list(self.shape)}{q}>"


class Node:
    """One operation: ``op`` names it (``"CONV_2D"``, ``"CUSTOM:SignalWindow"``)."""

    def __init__(
        self,
        op: str,
        inputs: Iterable[Value | None],
        outputs: Iterable[Value],
        attrs: dict[str, Any] | None = None,
        *,
        name: str = "",
        version: int = 1,
    ) -> None:
        self.op = op
        self.inputs: list[Value | None] = list(inputs)
        self.outputs: list[Value] = list(outputs)
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.name = name
        self.version = version
        self.meta: dict[str, Any] = {}
        #: Indices of tensors TFLite lists as op "intermediates" (LSTM), kept as values.
        self.intermediates: list[Value] = []

    def input(self, i: int) -> Value | None:
        """Input ``i``, or ``None`` if absent (optional inputs)."""
        return self.inputs[i] if i < len(self.inputs) else None

    def __repr__(self) -> str:
        ins = ", ".join(v.name if v is not None else "-" for v in self.inputs)
        outs = ", ".join(v.name for v in self.outputs)
        return f"<Node {self.op} ({ins}) -> ({outs})>"


class Graph:
    """Nodes in execution order plus the graph's inputs and outputs."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.outputs: list[Value] = []
        self.nodes: list[Node] = []
        self.meta: dict[str, Any] = {}

    # -- building -----------------------------------------------------------------
    def add_node(self, node: Node) -> Node:
        """Append ``node`` and link its values to it."""
        for i, v in enumerate(node.inputs):
            if v is not None:
                v._uses.append((node, i))
        for v in node.outputs:
            if v.producer is not None:
                raise PicojouleError(f"value {v.name!r} already produced by {v.producer.op}")
            v.producer = node
        self.nodes.append(node)
        return node

    def replace_input(self, node: Node, index: int, value: Value | None) -> None:
        """Make input ``index`` of ``node`` read ``value`` instead."""
        old = node.inputs[index]
        if old is not None:
            old._uses.remove((node, index))
        node.inputs[index] = value
        if value is not None:
            value._uses.append((node, index))

    def remove_node(self, node: Node) -> None:
        """Remove ``node``; its outputs lose their producer."""
        for i, v in enumerate(node.inputs):
            if v is not None:
                v._uses.remove((node, i))
        for v in node.outputs:
            v.producer = None
        self.nodes.remove(node)

    # -- queries --------------------------------------------------------------------
    def values(self) -> list[Value]:
        """Every value the graph touches, each once, in a stable order."""
        seen: dict[int, Value] = {}
        for v in self.inputs:
            if v is not None:
                seen.setdefault(id(v), v)
        for n in self.nodes:
            for v in [*n.inputs, *n.outputs, *n.intermediates]:
                if v is not None:
                    seen.setdefault(id(v), v)
        for v in self.outputs:
            if v is not None:
                seen.setdefault(id(v), v)
        return list(seen.values())

    def constants(self) -> list[Value]:
        return [v for v in self.values() if v.is_const]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    # -- checking -----------------------------------------------------------------
    def verify(self) -> None:
        """Check the graph's invariants; raise :class:`PicojouleError` naming the first broken one.

        - every node input is a graph input, a constant, a variable, a scratch buffer
          (``meta["scratch"]``, e.g. an NPU command stream's work area) or produced by
          an earlier node (execution order is a topological order);
        - producer and user links agree with the nodes' input and output lists;
        - no value is produced twice; graph outputs are produced or are inputs/constants;
        - constant data has the value's shape and numpy dtype.
        """
        for i, v in enumerate(self.inputs):
            if v is None:
                raise PicojouleError(f"graph input {i} is not a tensor")
        available: set[int] = {id(v) for v in self.inputs}
        produced: set[int] = set()
        for idx, node in enumerate(self.nodes):
            where = f"node {idx} ({node.op})"
            for i, v in enumerate(node.inputs):
                if v is None:
                    continue
                if (node, i) not in v._uses:
                    raise PicojouleError(f"{where}: input {i} {v.name!r} does not list it as a user")
                if id(v) not in available and v.data is None and not (v.variable or v.meta.get("scratch")):
                    raise PicojouleError(
                        f"{where}: input {i} {v.name!r} is used before it is produced")
            for j, v in enumerate(node.outputs):
                if v is None:
                    raise PicojouleError(f"{where}: output {j} is not a tensor")
                if v.producer is not node:
                    raise PicojouleError(f"{where}: output {v.name!r} names another producer")
                if id(v) in produced:
                    raise PicojouleError(f"{where}: output {v.name!r} is produced twice")
                produced.add(id(v))
                available.add(id(v))
        in_graph = {id(n) for n in self.nodes}
        for v in self.values():
            for node, i in v._uses:
                if id(node) not in in_graph or node.inputs[i] is not v:
                    raise PicojouleError(f"value {v.name!r}: stale user link to {node.op}")
            if v.producer is not None and id(v.producer) not in in_graph:
                raise PicojouleError(f"value {v.name!r}: producer is not in the graph")
            if v.data is not None:
                want = dtypes.to_numpy(v.dtype)
                if v.data.dtype != want or tuple(v.data.shape) != v.shape:
                    raise PicojouleError(
                        f"value {v.name!r}: data is {v.data.dtype}{list(v.data.shape)}, "
                        f"declared {v.dtype}{list(v.shape)}")
        for i, v in enumerate(self.outputs):
            if v is None:
                raise PicojouleError(f"graph output {i} is not a tensor")
            if id(v) not in available and v.data is None:
                raise PicojouleError(f"graph output {v.name!r} is never produced")


@dataclass(eq=False)
class Model:
    """A model: its graphs (``graphs[0]`` runs first) and file-level metadata."""

    graphs: list[Graph]
    description: str = ""
    #: Raw metadata entries by name (e.g. ``"OfflineMemoryAllocation"``).
    metadata: dict[str, bytes] = field(default_factory=dict)
    #: Where the model came from (path or description), for messages.
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def main(self) -> Graph:
        return self.graphs[0]

    def verify(self) -> None:
        for g in self.graphs:
            g.verify()

    def clone(self) -> "Model":
        """An independent copy: new values (data and quantization copied), nodes and graphs
        with the same structure and metadata. Iterative, so any graph depth works (a deep
        copy recurses once per producer-user link and fails on long chains)."""
        vmap: dict[int, Value] = {}

        def val(v: Value | None) -> Value | None:
            if v is None:
                return None
            got = vmap.get(id(v))
            if got is None:
                q = None if v.quant is None else Quant(v.quant.scale.copy(),
                                                       v.quant.zero_point.copy(), v.quant.axis)
                got = Value(v.name, v.shape, v.dtype, quant=q,
                            data=None if v.data is None else v.data.copy(), variable=v.variable)
                got.meta = _copy_meta(v.meta, val)
                vmap[id(v)] = got
            return got

        graphs = []
        for g in self.graphs:
            ng = Graph(g.name)
            ng.inputs = [val(v) for v in g.inputs]
            for n in g.nodes:
                nn = Node(n.op, [val(v) for v in n.inputs], [val(v) for v in n.outputs],
                          copy.deepcopy(n.attrs), name=n.name, version=n.version)
                nn.meta = _copy_meta(n.meta, val)
                nn.intermediates = [val(v) for v in n.intermediates]
                ng.add_node(nn)
            ng.outputs = [val(v) for v in g.outputs]
            ng.meta = _copy_meta(g.meta, val)
            graphs.append(ng)
        return Model(graphs, self.description, dict(self.metadata), self.source,
                     _copy_meta(self.meta, val))


def _copy_meta(meta: dict, val) -> dict:
    """A copy of a ``meta`` dict whose Values (alone or in lists/tuples) map through ``val``."""
    out = {}
    for k, x in meta.items():
        if isinstance(x, Value):
            out[k] = val(x)
        elif isinstance(x, (list, tuple)) and any(isinstance(e, Value) for e in x):
            out[k] = type(x)(val(e) if isinstance(e, Value) else e for e in x)
        else:
            out[k] = copy.deepcopy(x)
    return out
