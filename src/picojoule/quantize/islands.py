"""int8 islands: ops without the scheme's activation type stay int8 inside a wider model.

TFLM runs most ops with int16 activations, but not all: HARD_SWISH and RESIZE_BILINEAR
(among others) take int8 and float32 only, and neither TFLM nor LiteRT has an int16
HARD_SWISH. Rather than refuse ``--scheme int16x8`` for a model holding one, the quantizer
keeps each such op in int8 (the op table's ``dtypes`` say which activation types its
reference kernel, and so its oracle, handles): a ``QUANTIZE`` requantizes each int16 input
to int8 and each int8 output back to int16 (TFLM and LiteRT run both directions). The
int8 values get their own calibrated ranges (the union of the op's inputs and outputs
where the op shares one quantization between them), so an island costs the rounding of
int8 on that op alone; two islands in a row share their int8 edge.
"""

from __future__ import annotations

import numpy as np

from picojoule.ir import Graph, Model, Node, Value
from picojoule.ops.registry import info_of, takes_activations
from picojoule.quantize.schemes import SCHEMES, Scheme

_INT8 = SCHEMES["int8"]
#: Node meta marking the QUANTIZE that takes an island's int8 output back to the scheme's type.
_BACK = "pj_island_out"


def _range(v: Value, ranges: dict[int, tuple[float, float]],
           fvals: dict[int, Value]) -> tuple[float, float]:
    f = fvals.get(v.meta.get("pj_qid"))
    if f is not None and id(f) in ranges:
        return ranges[id(f)]
    # No calibrated range (a value the rewrite made): what its quantization covers.
    q = v.quant
    lo, hi = {"int16": (-32768, 32767), "int8": (-128, 127)}.get(v.dtype, (0, 0))
    return (lo - q.zp0) * q.scale0, (hi - q.zp0) * q.scale0


def _insert(g: Graph, node: Node, after: Node | None) -> None:
    """Add ``node`` right after ``after`` (first when None)."""
    g.add_node(node)
    g.nodes.pop()
    g.nodes.insert(g.nodes.index(after) + 1 if after is not None else 0, node)


def keep_int8(qm: Model, fm: Model, ranges: dict[int, tuple[float, float]],
              scheme: Scheme) -> list[str]:
    """Turn every op of ``qm`` whose kernel lacks ``scheme``'s activation type into an int8
    island (see the module doc); returns the names of the ops kept in int8.

    ``fm`` is the float model ``qm`` was rewritten from and ``ranges`` its calibrated
    (lo, hi) per float value (keyed by id), as the quantizer's ``_calibrate`` returns them.
    """
    wide = scheme.act_dtype
    if wide == _INT8.act_dtype:
        return []
    from picojoule.quantize.quantizer import quantize_array

    g = qm.main
    fvals = {v.meta.get("pj_qid"): v for v in fm.main.values()}
    kept = []
    narrowed: dict[tuple, Value] = {}  # one int8 copy of a value however many islands read it
    for node in list(g.nodes):
        info = info_of(node.op)
        if info is None or node.op in ("QUANTIZE", "DEQUANTIZE") or \
                info.quant.weights is not None or takes_activations(node.op, wide) or \
                not takes_activations(node.op, _INT8.act_dtype):
            continue
        ins = [i for i, v in enumerate(node.inputs)
               if v is not None and v.dtype == wide and v.quant is not None]
        outs = [k for k, v in enumerate(node.outputs) if v.dtype == wide and v.quant is not None]
        if not ins and not outs:
            continue
        shared = None
        if info.quant.same:
            spans = [_range(v, ranges, fvals) for v in [*node.inputs, *node.outputs]
                     if v is not None and not v.is_const and v.dtype == wide]
            shared = _INT8.activation_quant(min(s[0] for s in spans), max(s[1] for s in spans))
        for i in ins:
            v = node.inputs[i]
            if v.is_const:  # requantize the constant itself
                real = (v.data.astype(np.float64) - v.quant.zp0) * v.quant.scale0
                q = shared or _INT8.activation_quant(float(real.min()), float(real.max()))
                c = Value(v.name + "_int8", v.shape, "int8", quant=q,
                          data=quantize_array(real, q, "int8"))
                g.replace_input(node, i, c)
                continue
            src = v.producer
            if src is not None and src.meta.get(_BACK) and shared is None:
                g.replace_input(node, i, src.inputs[0])  # the previous island's int8 value
                continue
            q = shared or _INT8.activation_quant(*_range(v, ranges, fvals))
            key = (id(v), q.scale0, q.zp0)
            v8 = narrowed.get(key)
            if v8 is None:
                v8 = narrowed[key] = Value(f"{v.name}_int8_{len(narrowed)}" if any(
                    k[0] == id(v) for k in narrowed) else f"{v.name}_int8", v.shape, "int8",
                    quant=q)
                rq = Node("QUANTIZE", [v], [v8], name=f"{v8.name}/requantize")
                at = g.nodes.index(node)
                _insert(g, rq, g.nodes[at - 1] if at else None)
            g.replace_input(node, i, v8)
        anchor = node
        for k in outs:
            y = node.outputs[k]
            q = shared or _INT8.fixed_output(node.op) or _INT8.activation_quant(
                *_range(y, ranges, fvals))
            y8 = Value(y.name + "_int8", y.shape, "int8", quant=q)
            y8.meta.update(y.meta)  # the SQNR report measures the island's own output too
            node.outputs[k] = y8
            y8.producer = node
            y.producer = None
            back = Node("QUANTIZE", [y8], [y], name=f"{y.name}/requantize_{wide}")
            back.meta[_BACK] = True
            _insert(g, back, anchor)
            anchor = back
        kept.append(node.name)
    # A requantization back to the wide type that no one reads any more (the next island
    # took the int8 value) goes.
    outputs = {id(v) for v in g.outputs}
    for node in [n for n in g.nodes if n.meta.get(_BACK)]:
        if not node.outputs[0].uses() and id(node.outputs[0]) not in outputs:
            g.remove_node(node)
    for node in g.nodes:
        node.meta.pop(_BACK, None)
        if node.op == "QUANTIZE" and node.outputs[0].dtype in ("int8", wide) and \
                node.inputs[0].dtype in ("int8", wide):
            version = info_of("QUANTIZE").quant.version(scheme.name)
            node.version = max(node.version, version or 1)
    qm.meta.setdefault("quantization", {})["int8_ops"] = kept
    qm.verify()
    return kept
