"""Keep every op within what TFLM's kernels accept, so TFLM runs what picojoule writes.

TFLM's kernels hold some per-op lists in fixed-size arrays; a model beyond them is valid
TFLite (LiteRT runs it) but TFLM refuses it when it prepares the op. The one fan-in limit
in TFLM's kernels today is CONCATENATION's: at most ``kMaxInputNum`` = 10 inputs
(``tensorflow/lite/micro/kernels/concatenation.cc``; PACK, UNPACK, ADD_N, SPLIT and
SPLIT_V loop over any count). An unrolled recurrent layer's output sequence is a
CONCATENATION of one input per time step (49 for a one-second keyword model).

:class:`LegalizeForTFLM` splits such an op into a tree of concatenations of at most 10
inputs each: the same bytes in the same order (the partial results take the output's
quantization; TFLM's int8 concatenation already requires every input to share it, and its
int16 one copies values unchanged), with a fused activation applied only by the last. The
quantizer's output and the ``.tflite`` writer go through it.
"""

from __future__ import annotations

from picojoule.ir import Graph, Model, Node, Quant, Value
from picojoule.passes.base import Pass, PassContractError, PassResult

#: The most inputs TFLM's kernel for the op takes (concatenation.cc: kMaxInputNum).
TFLM_MAX_INPUTS = {"CONCATENATION": 10}


def tflm_violations(model: Model) -> list[str]:
    """One line per node beyond a TFLM limit (empty when TFLM accepts every op's fan-in)."""
    out = []
    for g in model.graphs:
        for node in g.nodes:
            limit = TFLM_MAX_INPUTS.get(node.op)
            if limit is not None and len(node.inputs) > limit:
                out.append(f"{node.op} node {node.name!r} has {len(node.inputs)} inputs "
                           f"(TFLM takes at most {limit})")
    return out


def _within_tflm_limits(model: Model) -> None:
    bad = tflm_violations(model)
    if bad:
        raise PassContractError(f"still beyond TFLM's limits: {bad[0]}")


def _chunks(items: list, parts: int) -> list[list]:
    """``items`` in ``parts`` consecutive runs whose lengths differ by at most one."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for k in range(parts):
        end = start + size + (1 if k < extra else 0)
        out.append(items[start:end])
        start = end
    return out


class LegalizeForTFLM(Pass):
    """Split every CONCATENATION of more than 10 inputs into a tree of concatenations."""

    ensures = (_within_tflm_limits,)

    def call(self, model: Model) -> PassResult:
        changed = False
        for g in model.graphs:
            names = {v.name for v in g.values()}
            for node in list(g.nodes):
                limit = TFLM_MAX_INPUTS.get(node.op)
                if limit is not None and len(node.inputs) > limit:
                    self._split(g, node, limit, names)
                    changed = True
        return PassResult(model, changed)

    @staticmethod
    def _split(g: Graph, node: Node, limit: int, names: set[str]) -> None:
        """Concatenate runs of ``node``'s inputs first; ``node`` then joins the partial
        results (recursively while there are still more than ``limit``)."""
        out = node.outputs[0]
        axis = int(node.attrs.get("axis", 0)) % len(out.shape)
        while len(node.inputs) > limit:
            parts = []
            for run in _chunks(list(node.inputs), -(-len(node.inputs) // limit)):
                if len(run) == 1:
                    parts.append(run[0])
                    continue
                parts.append(_partial(g, node, run, axis, names))
            for i in range(len(node.inputs)):
                g.replace_input(node, i, None)
            del node.inputs[len(parts):]
            for i, v in enumerate(parts):
                g.replace_input(node, i, v)


def _partial(g: Graph, node: Node, run: list[Value], axis: int, names: set[str]) -> Value:
    """A new CONCATENATION of ``run`` placed just before ``node``; its output."""
    out = node.outputs[0]
    shape = list(out.shape)
    shape[axis] = sum(v.shape[axis] for v in run)
    q = out.quant
    name, k = f"{out.name}/part", 0
    while f"{name}{k}" in names:
        k += 1
    names.add(f"{name}{k}")
    v = Value(f"{name}{k}", shape, out.dtype,
              quant=None if q is None else Quant(q.scale.copy(), q.zero_point.copy(), q.axis))
    attrs = {**node.attrs, "axis": axis, "fused_activation_function": "NONE"}
    part = g.add_node(Node(node.op, run, [v], attrs, name=f"{node.name}/part{k}",
                           version=node.version))
    g.nodes.remove(part)
    g.nodes.insert(g.nodes.index(node), part)
    return v


__all__ = ["LegalizeForTFLM", "TFLM_MAX_INPUTS", "tflm_violations"]
