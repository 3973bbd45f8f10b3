"""Legacy uint8 models run on int8 re-encodings of their tensors.

TF1-era quantized models (Coral / Edge TPU classifiers, SSD detectors, DeepLab) quantize
everything to uint8 with zero points: activations, and weights per tensor. TFLM dropped
uint8 and picojoule's kernels are int8, but a uint8 tensor ``q`` with zero point ``z``
holds the same reals as the int8 tensor ``q - 128`` with zero point ``z - 128``, and a
kernel whose integers depend on ``q - z`` only gives the same results, shifted by 128.
:class:`EncodeUint8` rewrites a graph with uint8 arithmetic that way:

- every quantized uint8 tensor whose producer and readers all accept the re-encoding
  becomes int8; uint8 constants they read too (uint8 weights become int8 weights with
  zero point ``w_zp - 128``, which the convolutions then subtract: LiteRT's filter offset);
- the model keeps its uint8 contract: graph inputs and outputs, and tensors read or
  written by an op outside the tables below, stay uint8, with a QUANTIZE between uint8
  and int8 (same scale, zero points 128 apart: exact) at the edge;
- where LiteRT's uint8 kernel rounds unlike TFLM's int8 one, the node gets the attribute
  ``litert_uint8`` (:data:`picojoule.ops.common.LITERT_UINT8`) and its op module follows
  LiteRT (:data:`LITERT_OPS`);
- a CONCATENATION input quantized unlike the output gets a ``litert_uint8`` QUANTIZE in
  front of it: LiteRT rescales such uint8 inputs (in float32), TFLM's int8 kernel copies.

A graph only changes when an op that does arithmetic (:data:`ARITHMETIC_OPS`) reads or
writes a uint8 tensor, or a CONCATENATION rescales one: uint8 models that only move data
(or int8 models with uint8 inputs and outputs) run as they are.
The oracle is LiteRT's reference kernels (tests/test_uint8_models.py).

The rewrite is undone by :func:`decode_uint8` (the ``.tflite`` writer does it on a copy,
so an exported model is the uint8 model again): the values and nodes it touches carry
``meta["uint8"]``.
"""

from __future__ import annotations

import numpy as np

from picojoule.ir import Graph, Model, Node, Quant, Value
from picojoule.ops.common import LITERT_UINT8
from picojoule.ops.registry import ALIAS, MOVEMENT, has_trait
from picojoule.passes.base import Pass, PassResult

#: Ops whose int8 kernel gives LiteRT's uint8 result on the re-encoding (their integers
#: depend on q - zero point only). Every data-movement op (MOVEMENT / ALIAS traits) too.
SAME_OPS = frozenset({
    "ADD", "SUB", "SOFTMAX", "MAX_POOL_2D", "RELU", "RELU_N1_TO_1", "ARG_MAX",
    "ARG_MIN", "QUANTIZE", "DEQUANTIZE", "CUSTOM:TFLite_Detection_PostProcess",
})
#: Ops whose LiteRT uint8 kernel rounds its own way: the node is marked ``litert_uint8`` and
#: the op module follows LiteRT: filter offsets in the convolutions, whose multipliers come
#: from a float32 scale product, FULLY_CONNECTED's accumulator scaled in double and
#: rounded, MUL's multiplier from float32 scale arithmetic, halves up in AVERAGE_POOL_2D,
#: float32 tables in LOGISTIC / TANH, a requantizing clamp in RELU6 and float32
#: interpolation in RESIZE_BILINEAR.
LITERT_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MUL", "AVERAGE_POOL_2D",
    "LOGISTIC", "TANH", "RELU6", "RESIZE_BILINEAR",
})
#: Ops with no uint8 kernel of their own: one on a uint8 tensor makes the pass run.
ARITHMETIC_OPS = LITERT_OPS | {"ADD", "SUB", "SOFTMAX", "MAX_POOL_2D", "RELU", "RELU_N1_TO_1"}
_WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
#: ``meta`` key of what the pass did: on values "encoded" (re-encoded in place) or "twin"
#: (an int8 copy of a uint8 tensor), on nodes "edge" (a uint8 <-> int8 QUANTIZE) or
#: "rescale" (a concatenation input's rescaling).
META = "uint8"
#: QUANTIZE's op version for int8 <-> uint8 requantization (TFLite's writer's).
_QUANTIZE_VERSION = 2


def _is_u8(v: Value | None) -> bool:
    """A quantized uint8 tensor."""
    return (v is not None and v.dtype == "uint8" and v.quant is not None
            and v.quant.scale.size > 0)


def _touches_u8(node: Node) -> bool:
    return any(_is_u8(v) for v in [*node.inputs, *node.outputs])


def _convertible(node: Node) -> bool:
    """Whether ``node`` computes LiteRT's uint8 result on the int8 re-encoding."""
    op = node.op
    if op in _WEIGHTED:  # LiteRT's uint8 layers: uint8 input and per-tensor uint8 weights
        w = node.input(1)
        return _is_u8(node.input(0)) and _is_u8(w) and not w.quant.per_channel
    return (op in SAME_OPS or op in LITERT_OPS or has_trait(op, MOVEMENT)
            or has_trait(op, ALIAS))


def _same_quant(a: Value, b: Value) -> bool:
    """LiteRT's test for copying a concatenation input unchanged (float32 scale, zero point)."""
    return (a.quant is not None and b.quant is not None
            and np.float32(a.quant.scale0) == np.float32(b.quant.scale0)
            and a.quant.zp0 == b.quant.zp0)


def _rescaling_concat(node: Node) -> bool:
    out = node.outputs[0] if node.outputs else None
    return (node.op == "CONCATENATION" and _is_u8(out)
            and any(_is_u8(v) and not _same_quant(v, out) for v in node.inputs))


def has_uint8_arithmetic(g: Graph) -> bool:
    """Whether some op of ``g`` would need a uint8 kernel picojoule does not have."""
    for n in g.nodes:
        if n.op in ARITHMETIC_OPS and _touches_u8(n) and (
                n.op not in _WEIGHTED or _convertible(n)):
            return True
        if _rescaling_concat(n):
            return True
    return False


def _int8_quant(q: Quant) -> Quant:
    return Quant(q.scale.copy(), q.zero_point - 128, q.axis)


class _Names:
    """Fresh value names for the graph."""

    def __init__(self, g: Graph) -> None:
        self.used = {v.name for v in g.values()}

    def __call__(self, base: str) -> str:
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name


class EncodeUint8(Pass):
    """Re-encode a graph's uint8 arithmetic as int8 (see the module doc)."""

    def call(self, model: Model) -> PassResult:
        changed = False
        for g in model.graphs:
            if has_uint8_arithmetic(g):
                _Rewrite(g).run()
                changed = True
        return PassResult(model, changed)


class _Rewrite:
    def __init__(self, g: Graph) -> None:
        self.g = g
        self.names = _Names(g)
        self.ok = {id(n) for n in g.nodes if _convertible(n)}
        self.mark = [n for n in g.nodes
                     if id(n) in self.ok and n.op in LITERT_OPS and _touches_u8(n)]
        self.concats = [n for n in g.nodes if id(n) in self.ok and _rescaling_concat(n)]

    def run(self) -> None:
        outputs = {id(v) for v in self.g.outputs}
        for v in self.g.values():
            if not _is_u8(v) or v.variable:
                continue
            if v.is_const:
                self._constant(v)
            else:
                self._tensor(v, id(v) in outputs)
        for n in self.mark:
            n.attrs[LITERT_UINT8] = True
        for n in self.concats:
            self._rescale_inputs(n)

    def _twin(self, v: Value) -> Value:
        t = Value(self.names(f"{v.name}_int8"), v.shape, "int8", quant=_int8_quant(v.quant))
        t.meta[META] = "twin"
        return t

    def _insert(self, node: Node, index: int, kind: str = "edge") -> None:
        """Add ``node`` to the graph at position ``index`` of the execution order."""
        node.meta[META] = kind
        self.g.add_node(node)
        self.g.nodes.pop()
        self.g.nodes.insert(index, node)

    def _tensor(self, v: Value, is_output: bool) -> None:
        g, p = self.g, v.producer
        mine = [(n, i) for n, i in v.uses() if id(n) in self.ok]
        foreign = len(mine) < len(v.uses())
        if p is not None and id(p) in self.ok:
            if not foreign and not is_output:  # an internal tensor: re-encode it in place
                v.dtype, v.quant = "int8", _int8_quant(v.quant)
                v.meta[META] = "encoded"
                return
            # p writes the int8 twin; a QUANTIZE makes the uint8 tensor the others read
            t = self._twin(v)
            p.outputs[p.outputs.index(v)] = t
            t.producer, v.producer = p, None
            for n, i in mine:
                g.replace_input(n, i, t)
            self._insert(Node("QUANTIZE", [t], [v], name=f"{v.name}/to_uint8",
                              version=_QUANTIZE_VERSION), g.nodes.index(p) + 1)
            return
        if mine:  # a graph input, or written by an op without an int8 equivalent
            t = self._twin(v)
            first = min(g.nodes.index(n) for n, _ in mine)
            for n, i in mine:
                g.replace_input(n, i, t)
            self._insert(Node("QUANTIZE", [v], [t], name=f"{v.name}/to_int8",
                              version=_QUANTIZE_VERSION), first)

    def _constant(self, v: Value) -> None:
        mine = [(n, i) for n, i in v.uses() if id(n) in self.ok]
        if not mine:
            return
        data = (v.data.astype(np.int16) - 128).astype(np.int8)
        if len(mine) == len(v.uses()):
            v.dtype, v.quant, v.data = "int8", _int8_quant(v.quant), data
            v.meta[META] = "encoded"
            return
        t = Value(self.names(f"{v.name}_int8"), v.shape, "int8", quant=_int8_quant(v.quant),
                  data=data)
        t.meta[META] = "encoded"
        for n, i in mine:
            self.g.replace_input(n, i, t)

    def _rescale_inputs(self, node: Node) -> None:
        """LiteRT rescales concatenation inputs quantized unlike the output (in float32):
        a ``litert_uint8`` QUANTIZE in front of each of them does it here."""
        out = node.outputs[0]
        for i, v in enumerate(node.inputs):
            if v is None or v.dtype != "int8" or _same_quant(v, out):
                continue
            t = Value(self.names(f"{v.name}_rescaled"), v.shape, "int8",
                      quant=Quant(out.quant.scale.copy(), out.quant.zero_point.copy()))
            q = Node("QUANTIZE", [v], [t], {LITERT_UINT8: True}, name=f"{node.name}/rescale{i}",
                     version=_QUANTIZE_VERSION)
            self.g.replace_input(node, i, t)
            self._insert(q, self.g.nodes.index(node), "rescale")


def is_encoded(model: Model) -> bool:
    """Whether :class:`EncodeUint8` rewrote some graph of ``model``."""
    return any(n.meta.get(META) or v.meta.get(META) for g in model.graphs
               for n in g.nodes for v in [*n.inputs, *n.outputs] if v is not None)


def decode_uint8(model: Model) -> Model:
    """Undo :class:`EncodeUint8` on ``model`` itself (give it a copy): the edge and rescaling
    QUANTIZE nodes go, re-encoded tensors are uint8 again and the ``litert_uint8`` marks
    are dropped, which leaves the uint8 model LiteRT runs."""
    for g in model.graphs:
        for n in [n for n in g.nodes if n.meta.get(META) in ("edge", "rescale")]:
            a, b = n.inputs[0], n.outputs[0]
            g.remove_node(n)
            if n.meta[META] == "edge" and a.meta.get(META) == "twin":
                # the producer wrote the int8 twin a of the uint8 tensor b: it writes b again
                p = a.producer
                p.outputs[p.outputs.index(a)] = b
                a.producer, b.producer = None, p
                b, a = a, b
            for user, i in b.uses():  # readers of the int8 side read the uint8 one
                g.replace_input(user, i, a)
        for v in g.values():
            if v.meta.pop(META, None) in ("encoded", "twin") and v.dtype == "int8":
                v.dtype = "uint8"
                v.quant = Quant(v.quant.scale.copy(), v.quant.zero_point + 128, v.quant.axis)
                if v.data is not None:
                    v.data = (v.data.astype(np.int16) + 128).astype(np.uint8)
        for n in g.nodes:
            n.attrs.pop(LITERT_UINT8, None)
            n.meta.pop(META, None)
    return model
