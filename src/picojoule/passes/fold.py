"""Fold per-channel constants into the preceding layer, and fuse activations into it.

- :class:`FoldBatchNorm`: ``CONV_2D / DEPTHWISE_CONV_2D / TRANSPOSE_CONV /
  FULLY_CONNECTED -> MUL(c) -> ADD(d)`` (an inference batch norm as the ONNX importer
  writes it, or any per-output-channel scale and shift) becomes the layer alone with
  weights scaled by ``c`` and bias ``b * c + d``. A lone ADD of a per-channel constant is
  folded into the bias too. Arithmetic is in float64, rounded once to float32.
- :class:`FuseActivations`: a RELU / RELU6 / RELU_N1_TO_1 that is the only reader of a
  layer's (or ADD/SUB/MUL's) output, directly or through reshapes, becomes its
  ``fused_activation_function``.

Both act on float32 layers only (quantized graphs carry their scales on the values) and
never on a value that is a graph output.
"""

from __future__ import annotations

import numpy as np

from picojoule.ir import Graph, Model, Node, Value
from picojoule.ops.registry import ALIAS, FUSES_ACTIVATION, has_trait, info_of
from picojoule.passes.base import Pass, PassResult

def _layer(node: Node):
    """(weights input, bias input, output-channel axis of the weights) of a weighted layer
    (the op table's :class:`~picojoule.ops.registry.Weights`), or None."""
    info = info_of(node.op)
    w = info.quant.weights if info is not None else None
    return None if w is None else (w.weights, w.bias, w.axis)


def _sole_reader(g: Graph, v: Value) -> Node | None:
    if any(o is v for o in g.outputs):
        return None
    uses = v.uses()
    return uses[0][0] if len(uses) == 1 else None


def _channel_vector(v: Value | None, channels: int, out_rank: int) -> np.ndarray | None:
    """A constant that broadcasts along the last (channel) axis only, as a vector."""
    if v is None or not v.is_const or v.dtype != "float32" or v.quant is not None:
        return None
    shape = v.shape
    if len(shape) > out_rank or any(d != 1 for d in shape[:-1]):
        return None
    if not shape or shape[-1] == 1:
        return np.full(channels, float(v.data.reshape(-1)[0]), np.float64)
    if shape[-1] != channels:
        return None
    return v.data.reshape(-1).astype(np.float64)


def _is_float_layer(node: Node) -> bool:
    layer = _layer(node)
    if layer is None or node.attrs.get("fused_activation_function", "NONE") != "NONE":
        return False
    wi, bi, _ = layer
    w, b = node.input(wi), node.input(bi)
    if node.op == "FULLY_CONNECTED" and node.attrs.get("keep_num_dims") and \
            len(node.outputs[0].shape) < 1:
        return False
    return (w is not None and w.is_const and w.dtype == "float32" and w.quant is None
            and (b is None or b.is_const and b.dtype == "float32")
            and node.outputs[0].dtype == "float32")


def _new_const(data: np.ndarray, like_name: str) -> Value:
    arr = np.ascontiguousarray(data.astype(np.float32))
    return Value(f"{like_name}/folded", arr.shape, "float32", data=arr)


def _bypass(g: Graph, node: Node, keep: Value) -> None:
    """Remove elementwise ``node``; its readers (and graph outputs) read ``keep`` instead."""
    out = node.outputs[0]
    for user, i in out.uses():
        g.replace_input(user, i, keep)
    g.outputs = [keep if v is out else v for v in g.outputs]
    g.remove_node(node)


class FoldBatchNorm(Pass):
    """Fold per-channel MUL / ADD constants following a float layer into its weights and bias."""

    def call(self, model: Model) -> PassResult:
        changed = False
        for g in model.graphs:
            again = True
            while again:
                again = False
                for node in list(g.nodes):
                    if node in g.nodes and _is_float_layer(node) and self._fold_one(g, node):
                        again = changed = True
        return PassResult(model, changed)

    def _fold_one(self, g: Graph, node: Node) -> bool:
        wi, bi, axis = _layer(node)
        out = node.outputs[0]
        user = _sole_reader(g, out)
        if user is None or user.op not in ("MUL", "ADD", "SUB") or \
                user.attrs.get("fused_activation_function", "NONE") != "NONE":
            return False
        if user.outputs[0].shape != out.shape or len(user.inputs) != 2:
            return False
        other_idx = 1 if user.inputs[0] is out else 0
        if user.inputs[1 - other_idx] is not out:
            return False
        if user.op == "SUB" and other_idx == 0:
            return False  # c - x: a sign flip, not folded
        channels = out.shape[-1]
        vec = _channel_vector(user.inputs[other_idx], channels, len(out.shape))
        if vec is None:
            return False
        w, b = node.input(wi), node.input(bi)
        bias = np.zeros(channels, np.float64) if b is None else b.data.astype(np.float64)
        if bias.shape != (channels,):
            return False
        if user.op == "MUL":
            wd = w.data.astype(np.float64)
            shape = [1] * wd.ndim
            shape[axis] = channels
            if wd.shape[axis] != channels:
                return False
            g.replace_input(node, wi, _new_const(wd * vec.reshape(shape), w.name))
            bias = bias * vec
        else:
            bias = bias + vec if user.op == "ADD" else bias - vec
        nb = _new_const(bias, b.name if b is not None else f"{node.name}/bias")
        while len(node.inputs) <= bi:
            node.inputs.append(None)
        g.replace_input(node, bi, nb)
        _bypass(g, user, out)
        return True


_ACTS = {"RELU": "RELU", "RELU6": "RELU6", "RELU_N1_TO_1": "RELU_N1_TO_1"}
class FuseActivations(Pass):
    """Fuse a RELU-family activation into the float op that alone feeds it, also through
    reshapes between them (an elementwise activation commutes with a reshape: a 1-D
    convolution lowered to CONV_2D and RESHAPE keeps its fused ReLU)."""

    def call(self, model: Model) -> PassResult:
        changed = False
        for g in model.graphs:
            for node in list(g.nodes):
                if node not in g.nodes or node.op not in _ACTS:
                    continue
                x = node.inputs[0]
                if _sole_reader(g, x) is not node or x.dtype != "float32":
                    continue
                # x = RESHAPE(...(RESHAPE(s))) of a value s the layer alone produces
                last, s = None, x
                while s.producer is not None and has_trait(s.producer, ALIAS) and \
                        s.producer.inputs and _sole_reader(g, s.producer.inputs[0]) is \
                        s.producer and s.producer.inputs[0].dtype == "float32":
                    last = last or s.producer
                    s = s.producer.inputs[0]
                src = s.producer
                if (src is None or not has_trait(src, FUSES_ACTIVATION)
                        or src.attrs.get("fused_activation_function", "NONE") != "NONE"
                        or len(src.outputs) != 1):
                    continue
                if src.op == "FULLY_CONNECTED" and src.input(1) is not None and \
                        src.input(1).dtype != "float32":
                    continue
                src.attrs["fused_activation_function"] = _ACTS[node.op]
                # keep the activation's output name: it may be the graph's output
                y = node.outputs[0]
                g.remove_node(node)
                owner = last or src
                owner.outputs[0] = y
                y.producer = owner
                x.producer = None
                changed = True
        return PassResult(model, changed)
