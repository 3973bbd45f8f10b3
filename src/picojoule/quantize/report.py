"""Per-layer accuracy report of a quantized model: SQNR of each layer's output.

For every node output of the integer model that stands for a float tensor, the integer
values are dequantized (``scale * (q - zero_point)``) and compared with the float
model's tensor on the same calibration sample; over all samples

    SQNR = 10 log10( sum(float^2) / sum((float - dequantized)^2) )  [dB]

Errors accumulate through the network, so a sharp drop from one layer to the next
points at the layer that loses accuracy (roughly: int8 gives 35-45 dB on a well-scaled
layer, each halving of resolution costs ~6 dB).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from picojoule.ir import Model
from picojoule.runtime.reference import Interpreter


@dataclass
class LayerReport:
    name: str
    op: str
    output: str
    dtype: str
    scale: float
    zero_point: int
    sqnr_db: float  # inf: no error at all


@dataclass
class QuantReport:
    layers: list[LayerReport] = field(default_factory=list)
    scheme: str = ""
    method: str = ""
    samples: int = 0
    #: SQNR of each graph output (dequantized) against the float model, in dB.
    outputs: dict[str, float] = field(default_factory=dict)

    def worst(self, n: int = 3) -> list[LayerReport]:
        return sorted(self.layers, key=lambda r: r.sqnr_db)[:n]

    def to_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if math.isinf(x) or math.isnan(x) else round(float(x), 3)

        return {
            "scheme": self.scheme, "method": self.method, "samples": self.samples,
            "outputs": {k: num(v) for k, v in self.outputs.items()},
            "layers": [{"name": r.name, "op": r.op, "output": r.output, "dtype": r.dtype,
                        "scale": r.scale, "zero_point": r.zero_point,
                        "sqnr_db": num(r.sqnr_db)} for r in self.layers],
        }

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), indent=kw.pop("indent", 2), **kw)

    def format_table(self) -> str:
        """Plain-text table, one line per layer (with its type when the types differ)."""
        mixed = len({r.dtype for r in self.layers}) > 1
        typ = f" {'type':<5}" if mixed else ""
        lines = [f"{'#':>3}  {'op':<20}{typ} {'SQNR dB':>8}  {'scale':>10} {'zp':>6}  output"]
        for k, r in enumerate(self.layers):
            s = "inf" if math.isinf(r.sqnr_db) else f"{r.sqnr_db:8.2f}"
            t = f" {r.dtype:<5}" if mixed else ""
            lines.append(f"{k:>3}  {r.op:<20}{t} {s:>8}  {r.scale:10.4g} {r.zero_point:>6}  "
                         f"{r.output}")
        return "\n".join(lines)


def _sqnr(signal: float, noise: float) -> float:
    if noise <= 0:
        return math.inf
    if signal <= 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def _dequant(q: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return (q.astype(np.float64) - zp) * scale


def _quantize_input(x: np.ndarray, scale: float, zp: int, dtype: np.dtype) -> np.ndarray:
    """TFLite's float -> int: round halves away from zero, saturate."""
    info = np.iinfo(dtype)
    r = np.trunc(x.astype(np.float32) / np.float32(scale) + np.copysign(0.5, x)) + zp
    return np.clip(r, info.min, info.max).astype(dtype)


def measure_sqnr(fm: Model, qm: Model, samples: list, int_io: bool, show: bool,
                 track: Callable) -> QuantReport:
    """SQNR of every quantized layer output of ``qm`` against float ``fm`` on ``samples``."""
    fg, qg = fm.main, qm.main
    fvals = {v.meta.get("pj_qid"): v for v in fg.values()}
    pairs = []  # (node, float value, int value)
    for node in qg.nodes:
        for v in node.outputs:
            f = fvals.get(v.meta.get("pj_qid"))
            if f is not None and v.quant is not None and v.dtype in ("int8", "int16"):
                pairs.append((node, f, v))
    fi = Interpreter(fm, preserve_all=True)
    qi = Interpreter(qm, preserve_all=True)
    acc = np.zeros((len(pairs), 2))
    for s in track(samples, len(samples), "measuring SQNR", show):
        fi.run(s)
        if int_io:
            qin = [_quantize_input(x, v.quant.scale0, v.quant.zp0, np.dtype(v.dtype))
                   if v.quant is not None else x for x, v in zip(s, qg.inputs)]
        else:
            qin = s
        qi.run(qin)
        for k, (_, f, v) in enumerate(pairs):
            ft = fi.tensor(f).astype(np.float64)
            d = _dequant(qi.tensor(v), v.quant.scale0, v.quant.zp0)
            acc[k, 0] += float(np.sum(ft * ft))
            acc[k, 1] += float(np.sum((ft - d) ** 2))
    report = QuantReport()
    for k, (node, f, v) in enumerate(pairs):
        report.layers.append(LayerReport(
            name=node.name or v.name, op=node.op, output=v.name, dtype=v.dtype,
            scale=float(v.quant.scale0), zero_point=int(v.quant.zp0),
            sqnr_db=_sqnr(acc[k, 0], acc[k, 1])))
    out_ids = {v.meta.get("pj_qid") for v in fg.outputs}
    for k, (node, f, v) in enumerate(pairs):
        if f.meta.get("pj_qid") in out_ids:
            report.outputs[f.name] = report.layers[k].sqnr_db
    return report
