"""What ``picojoule inspect`` reports: I/O, op counts, parameters, MACs and tensor sizes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from picojoule.ir import Model, Value
from picojoule.ops import node_macs


def _quant(v: Value) -> dict[str, Any] | None:
    if v.quant is None:
        return None
    if v.quant.per_channel:
        return {"per_channel": True, "axis": v.quant.axis, "channels": int(v.quant.scale.size)}
    return {"scale": v.quant.scale0, "zero_point": v.quant.zp0}


def describe_value(v: Value) -> dict[str, Any]:
    return {"name": v.name, "dtype": v.dtype, "shape": list(v.shape), "bytes": v.nbytes,
            "quantization": _quant(v)}


def summarize(model: Model) -> dict[str, Any]:
    """A JSON-ready summary of ``model``'s main graph."""
    g = model.main
    values = g.values()
    consts = [v for v in values if v.is_const]
    activations = [v for v in values if not v.is_const]
    ops = []
    for k, node in enumerate(g.nodes):
        ops.append({
            "index": k,
            "op": node.op,
            "name": node.name,
            "macs": node_macs(node),
            "outputs": [{"dtype": v.dtype, "shape": list(v.shape)} for v in node.outputs],
        })
    largest = max(activations, key=lambda v: v.nbytes, default=None)
    return {
        "model": model.source,
        "graphs": len(model.graphs),
        "inputs": [describe_value(v) for v in g.inputs],
        "outputs": [describe_value(v) for v in g.outputs],
        "op_counts": dict(Counter(n.op for n in g.nodes)),
        "parameters": {"count": int(sum(v.size for v in consts)),
                       "bytes": int(sum(v.nbytes for v in consts))},
        "macs": int(sum(o["macs"] for o in ops)),
        "ops": ops,
        "tensors": {
            "count": len(values),
            "constant_count": len(consts),
            "activation_count": len(activations),
            "activation_bytes": int(sum(v.nbytes for v in activations)),
            "largest_activation": describe_value(largest) if largest is not None else None,
        },
    }
