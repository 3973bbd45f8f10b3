"""QDQ models: QuantizeLinear / DequantizeLinear, and their lowering onto int8 ops.

Translation keeps ONNX's meaning: a QuantizeLinear becomes QUANTIZE and a DequantizeLinear
of a tensor DEQUANTIZE (per-tensor), while a DequantizeLinear of a constant (quantized
weights and biases) is folded into a float constant that remembers its scales
(:func:`fold_dequantize`, :func:`tag_weight`). Imported like that (``lower_qdq=False``)
the model is the "fake-quantized" float graph ONNX Runtime's QDQ format describes.

:class:`LowerQDQ` then turns every island ``DEQUANTIZE -> op -> QUANTIZE`` into the int8
op TFLite would use (int8 activations, per-channel symmetric int8 weights, int32 biases at
``s_in * s_w``), as ONNX Runtime's static quantizer writes such models; uint8 activations
become int8 with the zero point shifted by 128 (the same real values).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from picojoule.importers.onnx_ops import handles
from picojoule.ir import Model, Node, Quant, Value
from picojoule.passes.base import Pass, PassResult

_QTYPES = {np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8", np.dtype(np.int16): "int16",
           np.dtype(np.uint16): "uint16"}


def prepare(imp, nodes: list[Any]) -> list[Any]:
    """Nothing left to do before translation (constants were folded with their scales)."""
    return nodes


def fold_dequantize(imp, node) -> np.ndarray:
    """DequantizeLinear of a constant (weights, biases): the float constant, remembering the
    integers' scale, zero point and axis for :class:`LowerQDQ`."""
    q = imp.consts[node.input[0]]
    scale, zp, axis = _params(imp, node, q.ndim)
    imp.qdq_weights[node.output[0]] = (scale.reshape(-1), zp.reshape(-1), axis,
                                       np.dtype(q.dtype))
    return ((q.astype(np.float64) - zp) * scale).astype(np.float32)


def _params(imp, node, rank: int):
    """(scale, zero point) broadcastable to the data, and the axis."""
    attrs = {a.name: a for a in node.attribute}
    axis = attrs["axis"].i if "axis" in attrs else 1
    if "block_size" in attrs and attrs["block_size"].i:
        raise imp.unsupported("blocked quantization")
    scale = imp.consts[node.input[1]].astype(np.float64)
    zp = (imp.consts[node.input[2]].astype(np.float64) if len(node.input) > 2 and node.input[2]
          else np.zeros_like(scale))
    axis = axis + rank if axis < 0 else axis
    if scale.size > 1:
        shape = [1] * rank
        shape[axis] = scale.size
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return scale, zp, axis


def _quant(imp, node, rank: int) -> tuple[Quant, str | None]:
    for i in (1, 2):
        if len(node.input) > i and node.input[i] and not imp.is_const(node.input[i]):
            raise imp.unsupported("non-constant scale / zero point")
    scale = imp.consts[node.input[1]].reshape(-1)
    zpa = (imp.consts[node.input[2]] if len(node.input) > 2 and node.input[2]
           else np.zeros(1, np.uint8))
    attrs = {a.name: a for a in node.attribute}
    axis = attrs["axis"].i if "axis" in attrs else 1
    axis = axis + rank if axis < 0 else axis
    return Quant(scale, zpa.reshape(-1).astype(np.int64), axis if scale.size > 1 else 0), \
        _QTYPES.get(np.dtype(zpa.dtype))


@handles("QuantizeLinear")
def quantize_linear(imp, node, a) -> None:
    x = imp.value(node.input[0])
    q, dtype = _quant(imp, node, len(x.shape))
    if dtype is None or q.per_channel:
        raise imp.unsupported("this output type / per-channel activation quantization")
    imp.emit("QUANTIZE", [x], x.shape, dtype, out=node.output[0], quant=q)


@handles("DequantizeLinear")
def dequantize_linear(imp, node, a) -> None:
    x = imp.value(node.input[0])
    q, dtype = _quant(imp, node, len(x.shape))
    if q.per_channel:
        raise imp.unsupported("per-channel dequantization of a non-constant tensor")
    if x.quant is None:
        x.quant = q
    imp.emit("DEQUANTIZE", [x], x.shape, "float32", out=node.output[0])


def tag_weight(imp, onnx_name: str, value, onnx_axis_to_ir: dict[int, int]) -> None:
    """Remember on an IR weight constant how its ONNX source was quantized.

    ``onnx_axis_to_ir`` maps the ONNX tensor's channel axis to the IR constant's axis (the
    handler transposed the data). :class:`LowerQDQ` re-derives the integers from it.
    """
    info = imp.qdq_weights.get(onnx_name)
    if info is None:
        return
    scale, zp, axis, dtype = info
    if scale.size > 1 and axis not in onnx_axis_to_ir:
        return
    value.meta["qdq"] = (Quant(scale, zp.astype(np.int64), onnx_axis_to_ir.get(axis, 0)
                               if scale.size > 1 else 0), str(dtype))


# --------------------------------------------------------------------------- lowering
#: Ops that only move or select int8 values (TFLM copies the raw integers).
_MOVE = {"RESHAPE", "TRANSPOSE", "PAD", "PADV2", "SLICE", "STRIDED_SLICE", "MAX_POOL_2D",
         "SQUEEZE", "EXPAND_DIMS", "GATHER", "RESIZE_NEAREST_NEIGHBOR", "CONCATENATION",
         "REDUCE_MAX"}
#: Ops with an int8 kernel that requantizes to its output's scale.
_COMPUTE = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL",
            "AVERAGE_POOL_2D", "MEAN", "SOFTMAX", "LOGISTIC", "TANH", "HARD_SWISH",
            "LEAKY_RELU", "RELU", "RELU6", "RELU_N1_TO_1", "MAXIMUM", "MINIMUM",
            "RESIZE_BILINEAR", "GELU", "BATCH_MATMUL", "CONCATENATION", "TRANSPOSE_CONV"}
_WEIGHTED = {"CONV_2D": (1, 2), "DEPTHWISE_CONV_2D": (1, 2), "FULLY_CONNECTED": (1, 2),
             "TRANSPOSE_CONV": (1, 3)}


def _same_quant(a: Quant | None, b: Quant | None) -> bool:
    return (a is not None and b is not None and not a.per_channel and not b.per_channel
            and np.float32(a.scale0) == np.float32(b.scale0) and a.zp0 == b.zp0)


def _dq_source(v: Value | None) -> Value | None:
    """The int8 value a DEQUANTIZE turned into ``v`` (per-tensor), else None."""
    if v is None or v.producer is None or v.producer.op != "DEQUANTIZE":
        return None
    src = v.producer.inputs[0]
    if src.dtype != "int8" or src.quant is None or src.quant.per_channel:
        return None
    return src


class LowerQDQ(Pass):
    """Replace QuantizeLinear/DequantizeLinear islands with int8 ops (TFLite int8 style).

    1. uint8 activations become int8 (``q - 128`` with ``zp - 128``: the same reals);
    2. a DEQUANTIZE moves below ops that only move values (pads fill with the zero point,
       max pools and reshapes copy integers);
    3. an op whose data inputs all come from DEQUANTIZE and whose output goes only to a
       QUANTIZE runs on the integers: weights re-derive their int8 values from the scales
       the QDQ model gave them, biases become int32 at ``s_in * s_w``;
    4. ``QUANTIZE(DEQUANTIZE(q))`` is ``q`` (same parameters) or an int8 requantization.

    Whatever does not match stays float between its DEQUANTIZE and QUANTIZE, so the model
    keeps its meaning. A candidate is only lowered if the int8 kernel accepts it.
    """

    def call(self, model: Model) -> PassResult:
        from picojoule.passes.layout import _Rewriter

        g = model.main
        changed = self._uint8_to_int8(g)
        rw = _Rewriter(g)
        for _ in range(500):
            step = False
            for node in list(g.nodes):
                if node not in g.nodes:
                    continue
                if node.op in _MOVE and self._sink_dq(rw, node):
                    step = True
                elif node.op in _COMPUTE and self._lower(rw, node):
                    step = True
                elif node.op == "QUANTIZE" and self._q_of_dq(rw, node):
                    step = True
            step |= rw.remove_dead()
            changed |= step
            if not step:
                break
        return PassResult(model, changed)

    @staticmethod
    def _uint8_to_int8(g) -> bool:
        changed = False
        io = {id(v) for v in [*g.inputs, *g.outputs]}
        for v in g.values():
            if v.dtype == "uint8" and v.quant is not None and not v.is_const and id(v) not in io:
                v.dtype = "int8"
                v.quant = Quant(v.quant.scale, v.quant.zero_point - 128, v.quant.axis)
                changed = True
        return changed

    def _sink_dq(self, rw, node: Node) -> bool:
        g = rw.g
        if len(node.outputs) != 1 or any(o is node.outputs[0] for o in g.outputs):
            return False
        data = list(range(len(node.inputs))) if node.op == "CONCATENATION" else [0]
        srcs = [_dq_source(node.inputs[i]) for i in data]
        if any(s is None for s in srcs) or not all(_same_quant(srcs[0].quant, s.quant)
                                                   for s in srcs):
            return False
        q = srcs[0].quant
        extra: dict[int, Value] = {}
        if node.op == "PADV2":
            pv = node.input(2)
            if pv is None or not pv.is_const:
                return False
            val = float(pv.data.reshape(-1)[0])
            iv = -128 if val <= -1e30 else int(np.clip(np.round(val / q.scale0) + q.zp0,
                                                       -128, 127))
            if val > -1e30 and abs((iv - q.zp0) * q.scale0 - val) > 1e-6 * max(1, abs(val)):
                return False
            extra[2] = Value(rw.name("pad_value"), pv.shape, "int8",
                             data=np.full(pv.shape, iv, np.int8), quant=q)
        out = node.outputs[0]
        yq = Value(rw.name(out.name), out.shape, "int8", quant=Quant(q.scale, q.zero_point))
        trial = Node(node.op, [*[srcs[data.index(i)] if i in data else extra.get(i, v)
                                 for i, v in enumerate(node.inputs)]], [yq], node.attrs,
                     name=node.name)
        if not _kernel_accepts(trial):
            return False
        for i, v in enumerate(trial.inputs):
            if v is not node.inputs[i]:
                g.replace_input(node, i, v)
        node.outputs[0] = yq
        yq.producer = node
        out.producer = None
        dq = Node("DEQUANTIZE", [yq], [out], name=rw.name(f"{node.name}/dq"))
        rw.insert_after(node, dq)
        return True

    def _lower(self, rw, node: Node) -> bool:
        g = rw.g
        out = node.outputs[0]
        if len(node.outputs) != 1 or any(o is out for o in g.outputs):
            return False
        uses = out.uses()
        if len(uses) != 1 or uses[0][0].op != "QUANTIZE":
            return False
        qnode = uses[0][0]
        yq = qnode.outputs[0]
        if yq.dtype != "int8" or yq.quant is None or yq.quant.per_channel:
            return False
        new_inputs: list[Value | None] = []
        w_idx, b_idx = _WEIGHTED.get(node.op, (-1, -1))
        for i, v in enumerate(node.inputs):
            if v is None:
                new_inputs.append(None)
            elif i == w_idx:
                new_inputs.append(None)  # filled below
            elif i == b_idx:
                new_inputs.append(v)
            elif v.is_const:
                if v.dtype == "float32":
                    return False
                new_inputs.append(v)
            else:
                src = _dq_source(v)
                if src is None:
                    return False
                new_inputs.append(src)
        if w_idx >= 0:
            x_idx = 2 if node.op == "TRANSPOSE_CONV" else 0
            xq = new_inputs[x_idx]
            w = node.inputs[w_idx]
            tag = w.meta.get("qdq") if w is not None and w.is_const else None
            if tag is None or tag[1] not in ("int8",):
                return False
            wq: Quant = tag[0]
            if np.any(wq.zero_point != 0):
                return False
            shape = [1] * len(w.shape)
            if wq.per_channel:
                shape[wq.axis] = wq.scale.size
            ws = wq.scale.astype(np.float64).reshape(shape)
            ints = np.clip(np.round(w.data.astype(np.float64) / ws), -127, 127).astype(np.int8)
            new_inputs[w_idx] = Value(f"{w.name}/int8", w.shape, "int8", data=ints,
                                      quant=Quant(wq.scale, wq.zero_point, wq.axis))
            b = node.inputs[b_idx] if b_idx < len(node.inputs) else None
            if b is not None:
                if not b.is_const or b.dtype != "float32":
                    return False
                bs = (np.float32(xq.quant.scale0) * wq.scale.astype(np.float32)).astype(
                    np.float32)
                bsv = np.broadcast_to(bs.astype(np.float64), b.shape)
                bi = np.round(b.data.astype(np.float64) / bsv)
                if np.any(np.abs(bi) >= 2**31):
                    return False
                new_inputs[b_idx] = Value(f"{b.name}/int32", b.shape, "int32",
                                          data=bi.astype(np.int32),
                                          quant=Quant(bs, np.zeros(bs.size, np.int64), 0))
        # TFLM's CONCATENATION copies integers: inputs on other scales are requantized first.
        requant: list[Node] = []
        if node.op == "CONCATENATION":
            for i, v in enumerate(new_inputs):
                if v is not None and not v.is_const and not _same_quant(v.quant, yq.quant):
                    rq = Value(rw.name(v.name), v.shape, "int8",
                               quant=Quant(yq.quant.scale, yq.quant.zero_point))
                    requant.append(Node("QUANTIZE", [v], [rq], name=rw.name("requantize")))
                    new_inputs[i] = rq
        # TFLM's int8 SOFTMAX only writes (1/256, -128): requantize to the QDQ output after.
        out_q = yq
        if node.op == "SOFTMAX" and not (yq.quant.zp0 == -128 and
                                         np.float32(yq.quant.scale0) == np.float32(1 / 256)):
            out_q = Value(rw.name(yq.name), yq.shape, "int8", quant=Quant([1 / 256], [-128]))
        trial = Node(node.op, new_inputs, [out_q], node.attrs, name=node.name)
        if not _kernel_accepts(trial):
            return False
        for rq_node in requant:  # right before the node (its inputs exist by then)
            g.add_node(rq_node)
            g.nodes.pop()
            g.nodes.insert(g.nodes.index(node), rq_node)
        if out_q is yq:
            g.remove_node(qnode)
        else:
            g.replace_input(qnode, 0, out_q)
        for i, v in enumerate(new_inputs):
            if v is not node.inputs[i]:
                g.replace_input(node, i, v)
        node.outputs[0] = out_q
        out_q.producer = node
        out.producer = None
        return True

    def _q_of_dq(self, rw, qnode: Node) -> bool:
        g = rw.g
        src = _dq_source(qnode.inputs[0])
        yq = qnode.outputs[0]
        if src is None or yq.dtype != "int8" or yq.quant is None or yq.quant.per_channel:
            return False
        if _same_quant(src.quant, yq.quant) and not any(o is yq for o in g.outputs):
            rw.replace_uses(yq, src)
            return True
        if qnode.inputs[0] is src:
            return False
        g.replace_input(qnode, 0, src)  # int8 -> int8 requantization
        return True


def _kernel_accepts(node: Node) -> bool:
    """Whether picojoule's reference kernel prepares ``node`` (without linking it)."""
    from picojoule.errors import PicojouleError
    from picojoule.ops import lookup

    try:
        lookup(node).prepare(node)
    except (PicojouleError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return False
    return True
