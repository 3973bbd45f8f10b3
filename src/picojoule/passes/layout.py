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
                  str(data.dtype), data=np.ascontiguousarray(data).reshape(data.shape),
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
            main = g is model.main
            if self.nhwc_inputs and main:
                changed |= self._nhwc_inputs(rw)
            if self.nhwc_outputs and main:
                changed |= self._nhwc_outputs(rw)
            changed |= self._fixpoint(rw)
            if main and self._channels_last_edges(rw):
                changed = True
                self._fixpoint(rw)
            if self.nhwc_inputs and main:
                model.meta["layout"] = "nhwc"
        return PassResult(model, changed)

    def _fixpoint(self, rw: _Rewriter) -> bool:
        g = rw.g
        changed = False
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
        return changed

    # ------------------------------------------------------- 1-D (N, C, L) edges
    def _channels_last_edges(self, rw: _Rewriter) -> bool:
        """With ``nhwc_inputs`` (``nhwc_outputs``), a 3-D (N, C, L) input that the network
        reads only transposed to channels-last (a 1-D convolution's input) becomes
        (N, L, C), and a 3-D output computed channels-last and transposed back becomes
        (N, L, C): no TRANSPOSE left at the edges of a 1-D convolutional network either.
        A 3-D input the network reads as it is (a recurrent layer's (N, T, F)) keeps its
        layout: unlike 4-D images, 3-D tensors are channels-first only by context."""
        g = rw.g
        changed = False
        for k, v in enumerate(list(g.inputs) if self.nhwc_inputs else []):
            w = _read_channels_last(v)
            if w is None:
                continue
            n, c, length = v.shape
            u = Value(v.name, (n, length, c), v.dtype, quant=v.quant)
            u.meta.update(v.meta)
            u.meta["layout"] = "NLC"
            v.name = rw.name(v.name)
            g.inputs[k] = u
            rw.replace_uses(w, u if w.shape == u.shape else self._reshaped_after(rw, u, w))
            changed = True
        for k, o in enumerate(list(g.outputs) if self.nhwc_outputs else []):
            w = _written_channels_last(o)
            if w is None or any(x is w for x in g.outputs) or any(x is w for x in g.inputs):
                continue
            n, c, length = o.shape
            new = Value(o.name, (n, length, c), o.dtype, quant=o.quant)
            new.meta["layout"] = "NLC"
            o.name = rw.name(o.name)
            g.add_node(Node("RESHAPE", [w, rw.const(np.array(new.shape, np.int32), "shape")],
                            [new], {"new_shape": list(new.shape)}, name=rw.name("out")))
            g.outputs[k] = new
            changed = True
        rw.remove_dead()
        return changed

    def _reshaped_after(self, rw: _Rewriter, u: Value, like: Value) -> Value:
        """A RESHAPE of graph input ``u`` to ``like``'s shape, first in the graph."""
        z = Value(rw.name(u.name), like.shape, u.dtype, quant=u.quant)
        rw.insert_after(None, Node("RESHAPE", [u, rw.const(np.array(like.shape, np.int32),
                                                            "shape")], [z],
                                   {"new_shape": list(like.shape)}, name=rw.name("in")))
        return z

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
        src = x.producer
        if src is not None and src.op == "RESHAPE" and x.quant is y.quant:
            g.replace_input(node, 0, src.inputs[0])
            return True
        if x.shape == y.shape and x.quant is y.quant:
            return self._alias(rw, y, x)
        if self._is_output(g, y):
            return False
        perm = _perm(src) if src is not None else None
        if perm is None or self._is_output(g, x) or not _unit_reshape_ok(src, node):
            return False
        if len(x.users) != 1 and not self._others_accept(rw, x, node):
            return False
        return self._sink_through_unit_reshape(rw, node, src, perm)

    def _sink_through_unit_reshape(self, rw: _Rewriter, node: Node, t: Node,
                                   perm: list[int]) -> bool:
        """``RESHAPE(TRANSPOSE(x, p), r)`` == ``TRANSPOSE(RESHAPE(x, z), q)`` when ``r`` keeps
        the non-unit axes in order (a 1-D convolution's (N, C, 1, L) <-> (N, C, L)).

        ``z`` is ``x``'s non-unit axes in their order behind the size-1 axes, so a 1-D
        convolution's (1, 1, L, C) output becomes (1, L, C): channels last, batch first."""
        g = rw.g
        src, y = t.inputs[0], node.outputs[0]
        tshape, r = t.outputs[0].shape, y.shape
        if [d for d in tshape if d != 1] != [d for d in r if d != 1]:
            return False
        xs = [a for a, d in enumerate(src.shape) if d != 1]
        y_nonunit = [perm[k] for k, d in enumerate(tshape) if d != 1]
        n_unit = sum(1 for d in r if d == 1)
        z = [1] * n_unit + [src.shape[a] for a in xs]
        q, m, u = [], 0, 0
        for d in r:
            if d != 1:
                q.append(n_unit + xs.index(y_nonunit[m]))
                m += 1
            else:
                q.append(u)
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
        """Move the transposes feeding ``node`` below it, if they all agree; else move the
        RESHAPEs feeding an elementwise ``node`` below it."""
        plan = self._sink_plan(rw, node)
        if plan is None:
            return self._sink_reshape(rw, node)
        g = rw.g
        perm, sources, new_inputs, out_perm, new_attrs = plan
        for i, kind in sources.items():
            v = node.inputs[i]
            if kind == "transposed":
                new_inputs[i] = v.producer.inputs[0]
            else:  # a tensor whose transpose is a reshape: read it through a RESHAPE
                new_inputs[i] = self._reshaped(rw, node, v, _reshaped_shape(v.shape, perm))
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

    def _sink_plan(self, rw: _Rewriter, node: Node, check_users: bool = True,
                   pending: Value | None = None):
        """How ``node`` reads its inputs from before the transposes feeding it, or None.

        Every transposed data input must come through the same permutation. A transposed
        value may have other readers when all of them can take the transpose too (a
        squeeze-excite block reads its input twice: the MEAN and the gating MUL); the
        TRANSPOSE stays for them until they have. A data input that is not transposed is
        still fine when transposing it back only moves size-1 axes (the (N, C, 1, 1) gate
        of a squeeze-excite block): it is read through a RESHAPE. With ``pending`` (the
        transposed value another reader is about to sink), an input computed from it by
        ops the transpose sinks through counts as transposed too (x * hard_sigmoid(x)).

        Returns (perm, {input: "transposed" | "reshaped"}, new inputs, output permutation,
        attribute updates); nothing in the graph changes.
        """
        g = rw.g
        if len(node.outputs) == 0:
            return None
        info = info_of(node.op)
        layout = info.layout if info is not None else None
        if layout is None:
            return None
        data_idx = list(range(len(node.inputs))) if layout.inputs == "all" else \
            [i for i in layout.inputs if i < len(node.inputs)]
        perm = None
        for i in data_idx:
            v = node.inputs[i]
            p = _perm(v.producer) if v is not None and v.producer is not None else None
            if p is None:
                continue
            if perm is None:
                perm = p
            elif p != perm:
                return None
        if perm is None:
            return None
        rank = len(perm)
        # Untransposed operands ride along where every operand is data of the same layout.
        broadcast = info.has(ELEMENTWISE) or layout.inputs == "all"
        sources: dict[int, str] = {}
        for i in data_idx:
            v = node.inputs[i]
            if v is None or v.is_const:
                continue
            if v.producer is not None and _perm(v.producer) is not None:
                if self._is_output(g, v):
                    return None
                if check_users and not self._others_accept(rw, v, node):
                    return None
                sources[i] = "transposed"
            elif broadcast and _reshaped_shape(v.shape, perm) is not None and \
                    (info.has(ELEMENTWISE) or len(v.shape) == rank):
                sources[i] = "reshaped"
            elif pending is not None and _derives_from(v, pending):
                sources[i] = "transposed"  # once the transpose has sunk that far
            else:
                return None
        if any(v is not None and v.quant is not None and v.quant.per_channel
               for v in [*node.inputs, *node.outputs]):
            return None
        inv = _inverse(perm)
        for o in node.outputs:
            if len(o.shape) != rank and not info.has(REDUCE):
                return None
        # op-specific parameter rewrites (checked before any change)
        plan = layout.plan(node, perm, inv, lambda data, like: rw.const(data, like.name, like))
        if plan is None:
            return None
        new_inputs = list(node.inputs)
        for i in data_idx:
            v = node.inputs[i]
            if v is None or not v.is_const:
                continue
            if not (info.has(ELEMENTWISE) or layout.inputs == "all" and len(v.shape) == rank):
                return None
            if len(v.shape) > rank:
                return None
            data = v.data.reshape((1,) * (rank - len(v.shape)) + v.shape)
            new_inputs[i] = rw.const(np.transpose(data, inv), v.name, v)
        out_perm, new_attrs, extra = plan
        for i, val in extra.items():
            new_inputs[i] = val
        return perm, sources, new_inputs, out_perm, new_attrs

    def _others_accept(self, rw: _Rewriter, v: Value, node: Node) -> bool:
        """Whether every reader of transposed ``v`` besides ``node`` can take the transpose
        below it too (so sinking into ``node`` does not leave a transpose for good)."""
        t = v.producer
        for user in v.users:
            if user is node or user.op == "TRANSPOSE":
                continue
            if user.op == "RESHAPE":
                if user.inputs[0] is not v or not _unit_reshape_ok(t, user):
                    return False
            elif self._sink_plan(rw, user, check_users=False, pending=v) is None:
                return False
        return True

    def _reshaped(self, rw: _Rewriter, node: Node, v: Value, shape: Sequence[int]) -> Value:
        """``v`` reshaped to ``shape`` by a RESHAPE placed right before ``node``."""
        z = Value(rw.name(v.name), tuple(shape), v.dtype, quant=v.quant)
        r = Node("RESHAPE", [v, rw.const(np.array(shape, np.int32), "shape")], [z],
                 {"new_shape": [int(d) for d in shape]}, name=rw.name(node.name or "r"))
        idx = rw.g.nodes.index(node)
        rw.insert_after(rw.g.nodes[idx - 1] if idx > 0 else None, r)
        return z

    def _sink_reshape(self, rw: _Rewriter, node: Node) -> bool:
        """``OP(RESHAPE(x), c)`` -> ``RESHAPE(OP(x, c'))`` for an elementwise OP.

        An elementwise op commutes with a reshape, so a RESHAPE moves below it: a 1-D
        convolution's output reshape moves below its activation (which then fuses into the
        convolution), and the reshapes around a squeeze-excite block's gate meet and
        cancel. Every non-constant input must come from a RESHAPE of the same shape
        (nothing broadcast between them); a constant operand is rearranged for the new
        shape when that does not make it bigger."""
        g = rw.g
        info = info_of(node.op)
        if info is None or not info.has(ELEMENTWISE) or len(node.outputs) != 1 or \
                is_stateful(node):
            return False
        out = node.outputs[0]
        src_shape = None
        data = []
        for i, v in enumerate(node.inputs):
            if v is None or v.is_const:
                continue
            r = v.producer
            if r is None or r.op != "RESHAPE" or v.shape != out.shape or len(v.users) != 1 \
                    or self._is_output(g, v) or not _same_quant(r.inputs[0].quant, v.quant):
                return False
            if src_shape is None:
                src_shape = r.inputs[0].shape
            elif r.inputs[0].shape != src_shape:
                return False
            data.append(i)
        if not data or src_shape == out.shape:
            return False
        if any(v is not None and v.quant is not None and v.quant.per_channel
               for v in [*node.inputs, out]):
            return False
        consts = {}
        for i, v in enumerate(node.inputs):
            if v is not None and v.is_const:
                c = _rearranged_const(v.data, out.shape, src_shape)
                if c is None:
                    return False
                consts[i] = rw.const(c, v.name, v)
        for i in data:
            g.replace_input(node, i, node.inputs[i].producer.inputs[0])
        for i, c in consts.items():
            g.replace_input(node, i, c)
        new_o = Value(rw.name(out.name), src_shape, out.dtype, quant=out.quant)
        node.outputs[0] = new_o
        new_o.producer = node
        out.producer = None
        rw.insert_after(node, Node("RESHAPE", [new_o, rw.const(np.array(out.shape, np.int32),
                                                                 "shape")], [out],
                                   {"new_shape": [int(d) for d in out.shape]},
                                   name=rw.name(node.name or "r")))
        return True


def _single_reader(v: Value) -> Node | None:
    users = v.users
    return users[0] if len(users) == 1 and len(v.uses()) == 1 else None


def _read_channels_last(v: Value) -> Value | None:
    """For a 3-D input read only through RESHAPEs and one TRANSPOSE, the transposed value,
    when it holds the input channels-last ((N, C, L) read as (N, L, C), size-1 axes aside);
    else None."""
    if len(v.shape) != 3 or v.dtype not in ("float32", "int8", "uint8", "int16"):
        return None
    idx = np.arange(v.size).reshape(v.shape)
    x = v
    while True:
        node = _single_reader(x)
        if node is None or node.inputs[0] is not x:
            return None
        if node.op == "RESHAPE":
            x = node.outputs[0]
            idx = idx.reshape(x.shape)
            continue
        perm = _perm(node)
        if perm is None:
            return None
        w = node.outputs[0]
        ok = np.array_equal(np.transpose(idx, perm).reshape(-1),
                            np.moveaxis(np.arange(v.size).reshape(v.shape), 1, -1).reshape(-1))
        return w if ok else None


def _written_channels_last(o: Value) -> Value | None:
    """For a 3-D output made by one TRANSPOSE and RESHAPEs of a value ``w`` that holds it
    channels-last ((N, L, C) written as (N, C, L), size-1 axes aside), ``w``; else None."""
    if len(o.shape) != 3 or o.dtype not in ("float32", "int8", "uint8", "int16"):
        return None
    chain = []
    x = o
    while x.producer is not None and x.producer.op == "RESHAPE":
        chain.append(x.producer)
        x = x.producer.inputs[0]
        if _single_reader(x) is None:
            return None
    t = x.producer
    perm = _perm(t) if t is not None else None
    if perm is None or _single_reader(t.inputs[0]) is None:
        return None
    w = t.inputs[0]
    idx = np.transpose(np.arange(w.size).reshape(w.shape), perm).reshape(o.shape)
    n, c, length = o.shape
    want = np.moveaxis(np.arange(o.size).reshape(n, length, c), -1, 1)
    return w if np.array_equal(idx, want) else None


def _derives_from(w: Value, v: Value, depth: int = 16) -> bool:
    """Whether ``w`` is computed from ``v`` alone (constants aside) by ops a transpose sinks
    through, so a transpose of ``v`` reaches ``w`` by sinking."""
    if w is v:
        return True
    node = w.producer
    info = info_of(node.op) if node is not None else None
    if depth == 0 or info is None or info.layout is None or len(node.outputs) != 1:
        return False
    data = [x for x in node.inputs if x is not None and not x.is_const]
    return bool(data) and all(_derives_from(x, v, depth - 1) for x in data)


def _reshaped_shape(shape: Sequence[int], perm: Sequence[int]) -> list[int] | None:
    """The shape ``z`` with ``TRANSPOSE(z, perm)`` == a tensor of ``shape`` (left-padded with
    size-1 axes to the rank of ``perm``, as broadcasting does), when that transpose only
    moves size-1 axes (so ``z`` is a RESHAPE of it); else None."""
    rank = len(perm)
    if len(shape) > rank:
        return None
    padded = (1,) * (rank - len(shape)) + tuple(shape)
    inv = _inverse(perm)
    if not _moves_only_unit_dims(padded, inv):
        return None
    return [padded[inv[k]] for k in range(rank)]


def _unit_reshape_ok(t: Node, reshape: Node) -> bool:
    """Whether ``RESHAPE(TRANSPOSE(x))`` keeps the non-unit axes (see
    ``_sink_through_unit_reshape``)."""
    tshape, r = t.outputs[0].shape, reshape.outputs[0].shape
    return [d for d in tshape if d != 1] == [d for d in r if d != 1]


def _same_quant(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a is b or (np.array_equal(a.scale, b.scale) and
                      np.array_equal(a.zero_point, b.zero_point) and a.axis == b.axis)


def _rearranged_const(c: np.ndarray, out_shape: Sequence[int],
                      new_shape: Sequence[int]) -> np.ndarray | None:
    """Constant operand ``c`` of an elementwise op whose output (``out_shape``) is now
    computed as ``new_shape``: ``c`` broadcast to the output, reshaped, and every axis it
    is constant along cut back to size 1; None when that is bigger than ``c``."""
    c = np.asarray(c)
    if c.size == 1:
        return c if c.ndim <= len(new_shape) else c.reshape((1,) * len(new_shape))
    if c.ndim > len(out_shape):
        return None
    full = np.broadcast_to(c.reshape((1,) * (len(out_shape) - c.ndim) + c.shape),
                           tuple(out_shape)).reshape(tuple(new_shape))
    for ax in range(full.ndim):
        if full.shape[ax] > 1:
            first = np.take(full, [0], axis=ax)
            if np.array_equal(full, np.broadcast_to(first, full.shape)):
                full = first
    if full.size > c.size:
        return None
    return np.ascontiguousarray(full)
