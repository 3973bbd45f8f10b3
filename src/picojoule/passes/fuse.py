"""Float-graph fusions done before quantization: batch-norm folding and activation fusion.

Both matter for int8 accuracy and speed: a separate RELU (or a per-channel MUL/ADD left
by a batch norm) after a convolution would need its own int8 tensor and rounding step,
while TFLite folds them into the convolution's weights, bias and
``fused_activation_function``.

- :class:`FoldBatchNorm`: CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (no fused
  activation) followed by MUL and/or ADD with a constant per-output-channel (or scalar)
  operand -> scaled weights and bias (a ReLU-family activation fused into the MUL / ADD
  moves onto the convolution).
- :class:`FuseActivations`: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, SUB, MUL,
  AVERAGE_POOL_2D, MAX_POOL_2D, CONCATENATION with activation NONE followed by RELU,
  RELU6 or RELU_N1_TO_1 (their only user) -> ``fused_activation_function``.
"""

from __future__ import annotations

import numpy as np

from picojoule.ir import Graph, Model, Node, Value
from picojoule.passes.base import Pass, PassResult

_WEIGHTED = {"CONV_2D": 0, "DEPTHWISE_CONV_2D": 3, "FULLY_CONNECTED": 0}
_FUSABLE = set(_WEIGHTED) | {"ADD", "SUB", "MUL", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                             "CONCATENATION"}
_ACTIVATIONS = {"RELU": "RELU", "RELU6": "RELU6", "RELU_N1_TO_1": "RELU_N1_TO_1"}


def _sole_user(g: Graph, v: Value) -> Node | None:
    """The only node reading ``v``, if ``v`` is not a graph output and has one user."""
    if any(o is v for o in g.outputs):
        return None
    uses = v.uses()
    return uses[0][0] if len(uses) == 1 else None


def _bypass(g: Graph, node: Node, new: Value) -> None:
    """Remove the single-output ``node``: its readers (and graph outputs) read ``new``."""
    old = node.outputs[0]
    for user, i in old.uses():
        g.replace_input(user, i, new)
    g.outputs = [new if o is old else o for o in g.outputs]
    g.remove_node(node)


class FuseActivations(Pass):
    """Fold standalone RELU / RELU6 / RELU_N1_TO_1 into the float op before them."""

    def call(self, model: Model) -> PassResult:
        changed = False
        for g in model.graphs:
            for node in list(g.nodes):
                if node not in g.nodes or node.op not in _FUSABLE or len(node.outputs) != 1:
                    continue
                if node.outputs[0].dtype != "float32":
                    continue
                if node.attrs.get("fused_activation_function", "NONE") != "NONE":
                    continue
                act = _sole_user(g, node.outputs[0])
                if act is None or act.op not in _ACTIVATIONS:
                    continue
                node.attrs["fused_activation_function"] = _ACTIVATIONS[act.op]
                out = act.outputs[0]
                # the op now produces the activation's output value (keeps its name)
                y = node.outputs[0]
                g.remove_node(act)
                node.outputs = [out]
                out.producer = node
                y.producer = None
                changed = True
        return PassResult(model, changed)


def _channel_vector(c: Value, channels: int) -> np.ndarray | None:
    """A constant broadcasting over the last axis only, as a [channels] vector, else None."""
    if not c.is_const or c.dtype != "float32":
        return None
    d = c.data
    if d.size == 1:
        return np.full(channels, float(d.reshape(-1)[0]), np.float32)
    if d.shape[-1] == channels and d.size == channels:
        return d.reshape(channels).astype(np.float32)
    return None


class FoldBatchNorm(Pass):
    """Fold constant per-channel MUL / ADD after a weighted float op into its weights/bias."""

    def call(self, model: Model) -> PassResult:
        changed = False
        for g in model.graphs:
            for node in list(g.nodes):
                if node not in g.nodes or node.op not in _WEIGHTED:
                    continue
                if node.attrs.get("fused_activation_function", "NONE") != "NONE":
                    continue
                w = node.input(1)
                if w is None or not w.is_const or w.dtype != "float32":
                    continue
                b = node.input(2)
                if b is not None and not (b.is_const and b.dtype == "float32"):
                    continue
                nxt = _sole_user(g, node.outputs[0])
                if nxt is None or nxt.op not in ("MUL", "ADD") or len(nxt.inputs) != 2:
                    continue
                act = nxt.attrs.get("fused_activation_function", "NONE")
                if act not in ("NONE", *_ACTIVATIONS):
                    continue
                other = nxt.inputs[1] if nxt.inputs[0] is node.outputs[0] else nxt.inputs[0]
                axis = _WEIGHTED[node.op]
                cout = w.shape[axis]
                vec = _channel_vector(other, cout)
                if vec is None or nxt.outputs[0].shape != node.outputs[0].shape:
                    continue
                bias = b.data.astype(np.float32) if b is not None else np.zeros(cout, np.float32)
                if nxt.op == "MUL":
                    shape = [1] * len(w.shape)
                    shape[axis] = cout
                    new_w = (w.data * vec.reshape(shape)).astype(np.float32)
                    w2 = Value(w.name + "_bnfold", w.shape, "float32", data=new_w)
                    g.replace_input(node, 1, w2)
                    bias = bias * vec
                else:
                    bias = bias + vec
                b2 = Value((b.name if b is not None else node.outputs[0].name + "_bias")
                           + "_bnfold", (cout,), "float32", data=bias.astype(np.float32))
                while len(node.inputs) < 3:
                    node.inputs.append(None)
                g.replace_input(node, 2, b2)
                node.attrs["fused_activation_function"] = act  # the MUL/ADD's, moved up
                _bypass(g, nxt, node.outputs[0])
                changed = True
        return PassResult(model, changed)
