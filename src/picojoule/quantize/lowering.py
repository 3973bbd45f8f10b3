"""Rewrite a float graph, before calibration, onto ops TFLM runs quantized.

The quantized model must run in TFLM (and LiteRT) with the integers picojoule's reference
gives, so an op TFLM has no quantized kernel for is expressed with ops it has, the way
TensorFlow's converter would write it:

- **GELU** (TFLM has no GELU kernel at all) becomes ``x * LOGISTIC(x * (a + b x^2))``:
  ``MUL(x, x)``, ``MUL(b)``, ``ADD(a)``, ``MUL(x, .)``, ``LOGISTIC``, ``MUL(x, .)`` with
  ``a = 2 sqrt(2/pi)``, ``b = 0.044715 a``. That is exactly the tanh form
  (``0.5 (1 + tanh(z)) = sigmoid(2z)``) and within 4.8e-4 of the erf form everywhere, far
  below an int8 step. Calibration ranges of the intermediates are clipped where the
  result no longer depends on them (``LOGISTIC`` saturates beyond +-8, and ``x^2`` only
  matters while ``|x| <= 4``), so int8 spends its levels where GELU bends.
- **GATHER** of constant, contiguous indices (a class token ``x[:, 0]``, the q/k/v split
  of a fused projection) becomes ``SLICE`` (+ ``RESHAPE`` when a scalar index drops the
  axis): TFLM gathers only float32 and int8, slicing any type (int16 in mixed precision).

- **DIV(a, SQRT(b))** (a layer norm written out in a form picojoule does not fuse) becomes
  ``MUL(a, RSQRT(b))``: TFLM has no quantized SQRT, and RSQRT and MUL run in int8.

Values created here get fresh ``pj_qid`` numbers; clipped ranges are kept in
``value.meta["pj_range"]`` (:func:`clip_ranges` applies them to the calibrated ranges).
"""

from __future__ import annotations

import math

import numpy as np

from picojoule.ir import Graph, Model, Node, Value

_F32 = np.float32
_NONE = {"fused_activation_function": "NONE"}
#: GELU as x * sigmoid(x * (A + B x^2)).
GELU_A = 2.0 * math.sqrt(2.0 / math.pi)
GELU_B = 0.044715 * GELU_A
#: LOGISTIC's input range beyond which its int8 / int16 output no longer changes.
_SIGMOID_CLIP = 8.0
#: |x| beyond which the GELU gate is saturated (x * (A + B x^2) > 8 for |x| > 2.9).
_GELU_SQUARE_CLIP = 16.0


class _Builder:
    """Emit float nodes in place of one node, with fresh value ids."""

    def __init__(self, g: Graph, at: Node, next_qid: list[int]) -> None:
        self.g, self.at, self.qid = g, at, next_qid
        self.nodes: list[Node] = []

    def value(self, base: str, shape, dtype: str = "float32", data=None) -> Value:
        v = Value(f"{self.at.name or base}/{base}", shape, dtype, data=data)
        v.meta["pj_qid"] = self.qid[0]
        self.qid[0] += 1
        return v

    def const(self, data: np.ndarray, base: str) -> Value:
        data = np.ascontiguousarray(data)
        dtype = "float32" if data.dtype == np.float32 else "int32"
        return self.value(base, data.shape, dtype, data=data)

    def node(self, op: str, inputs, shape, base: str, attrs=None, out: Value | None = None
             ) -> Value:
        y = out if out is not None else self.value(base, shape)
        n = Node(op, inputs, [y], attrs or {}, name=f"{self.at.name}/{base}")
        n.meta.update({k: v for k, v in self.at.meta.items() if k != "pj_qid"})
        self.nodes.append(n)
        return y

    def replace(self) -> None:
        """Put the emitted nodes where ``at`` was (its output is the last one's)."""
        g = self.g
        pos = g.nodes.index(self.at)
        g.remove_node(self.at)
        for n in self.nodes:
            g.add_node(n)
            g.nodes.remove(n)
        g.nodes[pos:pos] = self.nodes


def _lower_gelu(g: Graph, node: Node, qid: list[int]) -> None:
    x, y = node.inputs[0], node.outputs[0]
    b = _Builder(g, node, qid)
    s = x.shape
    x2 = b.node("MUL", [x, x], s, "gelu_square", _NONE)
    x2.meta["pj_range"] = (0.0, _GELU_SQUARE_CLIP)
    bx2 = b.node("MUL", [x2, b.const(np.array(GELU_B, _F32), "gelu_b")], s, "gelu_bx2",
                 _NONE)
    bx2.meta["pj_range"] = (0.0, GELU_B * _GELU_SQUARE_CLIP)
    poly = b.node("ADD", [bx2, b.const(np.array(GELU_A, _F32), "gelu_a")], s, "gelu_poly",
                  _NONE)
    z = b.node("MUL", [x, poly], s, "gelu_gate_in", _NONE)
    z.meta["pj_range"] = (-_SIGMOID_CLIP, _SIGMOID_CLIP)
    gate = b.node("LOGISTIC", [z], s, "gelu_gate")
    b.node("MUL", [x, gate], s, "gelu", _NONE, out=y)
    b.replace()


def _contiguous(idx: np.ndarray) -> bool:
    flat = idx.reshape(-1)
    return flat.size > 0 and bool(np.all(np.diff(flat) == 1))


def _lower_gather(g: Graph, node: Node, qid: list[int]) -> bool:
    x, idx, y = node.inputs[0], node.inputs[1], node.outputs[0]
    if idx is None or not idx.is_const or idx.data.ndim > 1 or not _contiguous(idx.data) or \
            int(node.attrs.get("batch_dims", 0)) != 0:
        return False
    axis = int(node.attrs.get("axis", 0))
    axis = axis + len(x.shape) if axis < 0 else axis
    first = int(idx.data.reshape(-1)[0])
    if first < 0 or first + idx.data.size > x.shape[axis]:
        return False
    begin = [0] * len(x.shape)
    begin[axis] = first
    size = list(x.shape)
    size[axis] = idx.data.size
    b = _Builder(g, node, qid)
    sliced_shape = tuple(size)
    reshape = sliced_shape != y.shape
    s = b.node("SLICE", [x, b.const(np.array(begin, np.int32), "begin"),
                         b.const(np.array(size, np.int32), "size")], sliced_shape, "slice",
               out=None if reshape else y)
    if reshape:
        b.node("RESHAPE", [s, b.const(np.array(y.shape, np.int32), "shape")], y.shape,
               "reshape", {"new_shape": list(y.shape)}, out=y)
    b.replace()
    return True


def _lower_div_sqrt(g: Graph, node: Node, qid: list[int]) -> bool:
    a, root, y = node.inputs[0], node.inputs[1], node.outputs[0]
    sq = root.producer if root is not None else None
    if sq is None or sq.op != "SQRT" or len(root.users) != 1 or \
            node.attrs.get("fused_activation_function", "NONE") != "NONE" or \
            any(o is root for o in g.outputs):
        return False
    b = _Builder(g, node, qid)
    r = b.node("RSQRT", [sq.inputs[0]], root.shape, "rsqrt")
    b.node("MUL", [a, r], y.shape, "mul", _NONE, out=y)
    b.replace()
    g.remove_node(sq)
    return True


def lower_for_tflm(fm: Model) -> bool:
    """Rewrite ``fm``'s main graph in place (see the module docstring); True if it changed."""
    g = fm.main
    qids = [v.meta.get("pj_qid", -1) for v in g.values()]
    qid = [max(qids, default=-1) + 1]
    changed = False
    for node in list(g.nodes):
        if not node.outputs or node.outputs[0].dtype != "float32":
            continue
        if node.op == "GELU" and node.inputs[0] is not None:
            _lower_gelu(g, node, qid)
            changed = True
        elif node.op == "GATHER" and node.inputs[0] is not None and \
                not node.inputs[0].is_const:
            changed |= _lower_gather(g, node, qid)
        elif node.op == "DIV" and node.inputs[1] is not None and not node.inputs[1].is_const:
            changed |= _lower_div_sqrt(g, node, qid)
    if changed:
        fm.verify()
    return changed


def clip_ranges(fm: Model, ranges: dict[int, tuple[float, float]]
                ) -> dict[int, tuple[float, float]]:
    """The calibrated ranges, intersected with the ``pj_range`` hints of the lowering."""
    out = dict(ranges)
    for v in fm.main.values():
        hint = v.meta.get("pj_range")
        if hint is None or id(v) not in out:
            continue
        lo, hi = out[id(v)]
        lo2, hi2 = max(lo, hint[0]), min(hi, hint[1])
        if lo2 < hi2:
            out[id(v)] = (lo2, hi2)
    return out
