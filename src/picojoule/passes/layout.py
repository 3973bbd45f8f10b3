"""NCHW -> NHWC: remove the transposes an NCHW import (or a converter) leaves in a graph.

Importers of NCHW formats (ONNX) wrap each layout-sensitive op in ``TRANSPOSE`` nodes;
converters leave similar pairs. Transposes cost time and memory on an MCU, and several
deployment paths do not implement them at all, so this pass removes every one it can:

- **compose / cancel**: ``TRANSPOSE(TRANSPOSE(x, p), q)`` reads ``x`` through one
  permutation, and disappears when that is the identity;
- **sink**: a transpose feeding an op that commutes with it moves below that op: the op
  is rewritten in the transposed layout (axes, paddings and constant operands permuted),
  so consecutive ``NHWC->NCHW`` / ``NCHW->NHWC`` pairs meet and cancel. Which ops commute,
  and how their parameters change, is the op table's ``layout`` rule
  (:class:`~picojoule.ops.registry.Layout`; every elementwise op has one);
- **fold**: a transpose of a constant becomes a transposed constant; a transpose followed
  by a flattening RESHAPE into a FULLY_CONNECTED is folded into the weights' column order;
- **reshape**: a transpose that only moves size-1 axes is a RESHAPE;
- **inputs / outputs**: with ``nhwc_inputs`` (``nhwc_outputs``) the graph's 4-D inputs
  (outputs) become NHWC and the transposes that converted them vanish; otherwise the
  inputs and outputs keep their original layout.

The graph's inputs and outputs keep their shapes (unless asked otherwise), so the model
computes exactly what it did before.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from picojoule.ir import Graph, Model, Node, Value
from picojoule.ops.registry import ELEMENTWISE, REDUCE, info_of, is_stateful
from picojoule.passes.base import Pass, PassContractError, PassResult

def _perm(node: Node) -> list[int] | None:
    p = node.input(1)
    if node.op != "TRANSPOSE" or p is None or not p.is_const:
        return None
    return [int(v) for v in p.data.reshape(-1)]


def _inverse(p: Sequence[int]) -> list[int]:
    inv = [0] * len(p)
    for k, v in enumerate(p):
        inv[v] = k
    return inv


def _moves_only_unit_dims(shape: Sequence[int], perm: Sequence[int]) -> bool:
    """True when the non-size-1 axes keep their order: the transpose is a reshape."""
    kept = [p for p in perm if shape[p] != 1]
    return kept == sorted(kept)


class _Rewriter:
    def __init__(self, g: Graph) -> None:
        self.g = g
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}/nhwc{self.count}"

    def const(self, data: np.ndarray, base: str, like: Value | None = None) -> Value:
        v = Value(self.name(base), data.shape, like.dtype if like is not None else
                  str(data.dtype), data=np.ascontiguousarray(data),
                  quant=like.quant if like is not None else None)
        return v

    def perm_const(self, perm: Sequence[int]) -> Value:
        return self.const(np.array(perm, np.int32), "perm")

    def insert_after(self, anchor: Node | None, node: Node) -> None:
        """Add ``node`` right after ``anchor`` (first when ``anchor`` is None)."""
        self.g.add_node(node)
        self.g.nodes.pop()
        idx = 0 if anchor is None else self.g.nodes.index(anchor) + 1
        self.g.nodes.insert(idx, node)

    def replace_uses(self, old: Value, new: Value) -> None:
        for node, i in old.uses():
            self.g.replace_input(node, i, new)
        self.g.outputs = [new if v is old else v for v in self.g.outputs]

    def remove_dead(self) -> bool:
        outs = {id(v) for v in self.g.outputs}
        changed = False
        for node in reversed(list(self.g.nodes)):
            if is_stateful(node):
                continue
            if any(v.uses() or id(v) in outs or v.variable for v in node.outputs):
                continue
            self.g.remove_node(node)
            changed = True
        return changed


class LayoutToNHWC(Pass):
    """Sink, fold and cancel TRANSPOSE nodes until none can be removed (see module doc)."""

    def __init__(self, *, nhwc_inputs: bool = False, nhwc_outputs: bool = False,
                 max_rounds: int = 200) -> None:
        self.nhwc_inputs = nhwc_inputs
        self.nhwc_outputs = nhwc_outputs
        self.max_rounds = max_rounds
        self.ensures = (self._no_transpose_chains,)

    @staticmethod
    def _no_transpose_chains(model: Model) -> None:
        for n in model.main.nodes:
            src = n.inputs[0].producer if n.op == "TRANSPOSE" and n.inputs else None
            if src is not None and src.op == "TRANSPOSE" and _perm(src) and _perm(n):
                raise PassContractError(f"LayoutToNHWC left a TRANSPOSE chain at {n.name!r}")

    def call(self, model: Model) -> PassResult:
        changed = False
        for g in model.graphs:
            rw = _Rewriter(g)
            if self.nhwc_inputs and g is model.main:
                changed |= self._nhwc_inputs(rw)
            if self.nhwc_outputs and g is model.main:
                changed |= self._nhwc_outputs(rw)
            for _ in range(self.max_rounds):
                step = False
                for node in list(g.nodes):
                    if node not in g.nodes:
                        continue
                    step |= self._visit(rw, node)
                step |= rw.remove_dead()
                changed |= step
                if not step:
                    break
            if self.nhwc_inputs and g is model.main:
                model.meta["layout"] = "nhwc"
        return PassResult(model, changed)

    # ---------------------------------------------------------------- inputs
    def _nhwc_inputs(self, rw: _Rewriter) -> bool:
        """Make every 4-D input NHWC, with a TRANSPOSE back to NCHW the pass then sinks."""
        g = rw.g
        changed = False
        for k, v in enumerate(list(g.inputs)):
            if len(v.shape) != 4 or v.dtype not in ("float32", "int8", "uint8", "int16"):
                continue
            n, c, h, w = v.shape
            new = Value(v.name, (n, h, w, c), v.dtype, quant=v.quant)
            new.meta.update(v.meta)
            new.meta["layout"] = "NHWC"
            v.name = rw.name(v.name)
            node = Node("TRANSPOSE", [new, rw.perm_const((0, 3, 1, 2))], [], name=rw.name("in"))
            g.inputs[k] = new
            # v becomes the transpose's output: same uses, now produced by the node.
            node.outputs = [v]
            rw.insert_after(None, node)
            changed = True
        return changed

    def _nhwc_outputs(self, rw: _Rewriter) -> bool:
        """Make every 4-D float/int output NHWC: a TRANSPOSE to NHWC becomes the output."""
        g = rw.g
        changed = False
        for k, v in enumerate(list(g.outputs)):
            if len(v.shape) != 4 or v.dtype not in ("float32", "int8", "uint8", "int16") \
                    or v.producer is None:
                continue
            n, c, h, w = v.shape
            new = Value(v.name, (n, h, w, c), v.dtype, quant=v.quant)
            new.meta["layout"] = "NHWC"
            v.name = rw.name(v.name)
            g.add_node(Node("TRANSPOSE", [v, rw.perm_const((0, 2, 3, 1))], [new],
                            name=rw.name("out")))
            g.outputs[k] = new
            changed = True
        return changed

    # ---------------------------------------------------------------- rules
    def _visit(self, rw: _Rewriter, node: Node) -> bool:
        if node.op == "TRANSPOSE":
            return self._transpose(rw, node)
        if node.op == "RESHAPE":
            return self._reshape(rw, node)
        return self._sink(rw, node)

    def _reshape(self, rw: _Rewriter, node: Node) -> bool:
        """RESHAPE(RESHAPE(x)) reads x; a RESHAPE to the input's own shape disappears; a
        transpose before a RESHAPE that only adds or drops size-1 axes moves after it."""
        g = rw.g
        x, y = node.inputs[0], node.outputs[0]
        if self._is_output(g, y):
            return False
        if x.shape == y.shape and x.quant is y.quant:
            rw.replace_uses(y, x)
            return True
        src = x.producer
        if src is not None and src.op == "RESHAPE" and x.quant is y.quant:
            g.replace_input(node, 0, src.inputs[0])
            return True
        perm = _perm(src) if src is not None else None
        if perm is None or len(x.users) != 1 or self._is_output(g, x):
            return False
        return self._sink_through_unit_reshape(rw, node, src, perm)

    def _sink_through_unit_reshape(self, rw: _Rewriter, node: Node, t: Node,
                                   perm: list[int]) -> bool:
        """``RESHAPE(TRANSPOSE(x, p), r)`` == ``TRANSPOSE(RESHAPE(x, z), q)`` when ``r`` keeps
        the non-unit axes in order (a 1-D convolution's (N, C, 1, L) <-> (N, C, L))."""
        g = rw.g
        src, y = t.inputs[0], node.outputs[0]
        tshape, r = t.outputs[0].shape, y.shape
        if [d for d in tshape if d != 1] != [d for d in r if d != 1]:
            return False
        xs = [a for a, d in enumerate(src.shape) if d != 1]
        y_nonunit = [perm[k] for k, d in enumerate(tshape) if d != 1]
        n_unit = sum(1 for d in r if d == 1)
        z = [src.shape[a] for a in xs] + [1] * n_unit
        q, m, u = [], 0, 0
        for d in r:
            if d != 1:
                q.append(xs.index(y_nonunit[m]))
                m += 1
            else:
                q.append(len(xs) + u)
                u += 1
        mid = Value(rw.name(y.name), z, y.dtype, quant=y.quant)
        g.replace_input(node, 0, src)
        g.replace_input(node, 1, rw.const(np.array(z, np.int32), "shape"))
        node.attrs = {"new_shape": list(z)}
        node.outputs[0] = mid
        mid.producer = node
        y.producer = None
        rw.insert_after(node, Node("TRANSPOSE", [mid, rw.perm_const(q)], [y],
                                   name=rw.name(node.name or "t")))
        return True

    def _transpose(self, rw: _Rewriter, node: Node) -> bool:
        g = rw.g
        perm = _perm(node)
        if perm is None:
            return False
        x, y = node.inputs[0], node.outputs[0]
        is_out = self._is_output(g, y)
        if perm == list(range(len(perm))):
            return self._alias(rw, y, x)
        if x.is_const:  # fold
            if is_out:
                return False
            rw.replace_uses(y, rw.const(np.transpose(x.data, perm), x.name, x))
            return True
        src = x.producer
        if src is not None and src.op == "TRANSPOSE" and _perm(src) is not None:
            p0 = _perm(src)
            composed = [p0[p] for p in perm]
            if composed == list(range(len(composed))) and self._alias(rw, y, src.inputs[0]):
                return True
            g.replace_input(node, 0, src.inputs[0])
            g.replace_input(node, 1, rw.perm_const(composed))
            return True
        if _moves_only_unit_dims(x.shape, perm):
            shape = np.array(y.shape, np.int32)
            node.op = "RESHAPE"
            g.replace_input(node, 1, rw.const(shape, "shape"))
            node.attrs = {"new_shape": [int(d) for d in y.shape]}
            return True
        if self._fold_into_fc(rw, node, perm):
            return True
        return False

    def _alias(self, rw: _Rewriter, y: Value, x: Value) -> bool:
        """Make ``y``'s readers read ``x`` (equal contents). A graph output moves to ``x``
        (taking its name) when ``x`` is an interior value."""
        g = rw.g
        if not self._is_output(g, y):
            rw.replace_uses(y, x)
            return True
        if x.producer is None or self._is_output(g, x) or x.shape != y.shape:
            return False
        rw.replace_uses(y, x)
        x.name, y.name = y.name, rw.name(y.name)
        return True

    @staticmethod
    def _is_output(g: Graph, v: Value) -> bool:
        return any(o is v for o in g.outputs)

    def _fold_into_fc(self, rw: _Rewriter, node: Node, perm: list[int]) -> bool:
        """TRANSPOSE -> RESHAPE(N, -1) -> FULLY_CONNECTED: permute the weights' columns."""
        g = rw.g
        y = node.outputs[0]
        if perm[0] != 0 or self._is_output(g, y):
            return False
        users = y.users
        if len(users) != 1 or users[0].op != "RESHAPE":
            return False
        rs = users[0]
        flat = rs.outputs[0]
        if len(flat.shape) != 2 or flat.shape[0] != y.shape[0] or self._is_output(g, flat):
            return False
        fcs = flat.users
        if not fcs or any(f.op != "FULLY_CONNECTED" or f.inputs[0] is not flat
                          or f.inputs[1] is None or not f.inputs[1].is_const
                          or f.inputs[1].quant is not None and f.inputs[1].quant.per_channel
                          and f.inputs[1].quant.axis != 0
                          or any(f.inputs[1] is v for v in f.inputs[2:])
                          for f in fcs):
            return False
        x = node.inputs[0]
        inner = x.shape[1:]
        idx = np.arange(int(np.prod(inner))).reshape(inner).transpose(
            [p - 1 for p in perm[1:]]).reshape(-1)
        for f in fcs:
            w = f.inputs[1]
            wd = w.data.reshape(w.shape[0], -1)
            if wd.shape[1] != idx.size:
                return False
        for f in fcs:
            w = f.inputs[1]
            wd = w.data.reshape(w.shape[0], -1)
            new = np.empty_like(wd)
            new[:, idx] = wd
            nw = rw.const(new.reshape(w.shape), w.name, w)
            nw.meta.update(w.meta)  # per-output-channel facts survive a column permutation
            g.replace_input(f, 1, nw)
        g.replace_input(rs, 0, x)
        return True

    def _sink(self, rw: _Rewriter, node: Node) -> bool:
        """Move the transposes feeding ``node`` below it, if they all agree."""
        g = rw.g
        if len(node.outputs) == 0:
            return False
        info = info_of(node.op)
        layout = info.layout if info is not None else None
        if layout is None:
            return False
        data_idx = list(range(len(node.inputs))) if layout.inputs == "all" else \
            [i for i in layout.inputs if i < len(node.inputs)]
        perm = None
        for i in data_idx:
            v = node.inputs[i]
            if v is None or v.is_const:
                continue
            p = _perm(v.producer) if v.producer is not None else None
            if p is None:
                return False
            if perm is None:
                perm = p
            elif p != perm:
                return False
            if len(v.users) != 1 or self._is_output(g, v):
                return False
        if perm is None:
            return False
        if any(v is not None and v.quant is not None and v.quant.per_channel
               for v in [*node.inputs, *node.outputs]):
            return False
        rank = len(perm)
        inv = _inverse(perm)
        for o in node.outputs:
            if len(o.shape) != rank and not info.has(REDUCE):
                return False
        # op-specific parameter rewrites (checked before any change)
        plan = layout.plan(node, perm, inv, lambda data, like: rw.const(data, like.name, like))
        if plan is None:
            return False
        new_inputs = list(node.inputs)
        for i in data_idx:
            v = node.inputs[i]
            if v is None:
                continue
            if v.is_const:
                if info.has(ELEMENTWISE) or layout.inputs == "all" and len(v.shape) == rank:
                    if len(v.shape) > rank:
                        return False
                    data = v.data.reshape((1,) * (rank - len(v.shape)) + v.shape)
                    new_inputs[i] = rw.const(np.transpose(data, inv), v.name, v)
                else:
                    return False
            else:
                new_inputs[i] = v.producer.inputs[0]
        out_perm, new_attrs, extra = plan
        for i, val in extra.items():
            new_inputs[i] = val
        # Rewrite: node reads the untransposed inputs; its outputs get permuted shapes and
        # a TRANSPOSE (out_perm) restores each original output value.
        for i, v in enumerate(new_inputs):
            if v is not node.inputs[i]:
                g.replace_input(node, i, v)
        node.attrs.update(new_attrs)
        anchor = node
        for k, o in enumerate(list(node.outputs)):
            op_out = out_perm
            inner_shape = tuple(o.shape[_inverse(op_out)[j]] for j in range(len(op_out))) \
                if op_out is not None else o.shape
            new_o = Value(rw.name(o.name), inner_shape, o.dtype, quant=o.quant)
            node.outputs[k] = new_o
            new_o.producer = node
            o.producer = None
            if op_out is None or op_out == list(range(len(op_out))):
                rw.replace_uses(o, new_o)
                new_o.name, o.name = o.name, new_o.name
                continue
            t = Node("TRANSPOSE", [new_o, rw.perm_const(op_out)], [o],
                     name=rw.name(node.name or "t"))
            rw.insert_after(anchor, t)
            anchor = t
        return True
