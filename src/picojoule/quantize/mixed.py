"""Mixed precision: int8 layers, with int16x8 layers where int8 loses too much accuracy.

``quantize_model(..., scheme="mixed")`` (``picojoule quantize --scheme mixed``) gives some
layers int16 activations (int8 weights, int64 bias: TFLite's 16x8 kernels) and keeps the
rest int8. ``int16_layers`` says which: ``"auto"`` (the default, :func:`choose_int16`),
``"all"`` (every layer TFLM runs in int16) or names (node names, or the output names the
report prints).

The precision is per node: a node's output has its node's type, and wherever a node reads
a value of the other type a ``QUANTIZE`` requantizes it (int8 <-> int16; TFLM and LiteRT
run both). Ops that share one quantization between inputs and outputs (RESHAPE,
TRANSPOSE, CONCATENATION ...) move data in the type it arrives in. Ops TFLM runs in int8
and float32 but not int16 -- a layer norm's RSQRT, one value per token -- run in float32
between ``DEQUANTIZE`` and ``QUANTIZE`` when chosen (with the epsilon ADD before them, and
an int16 variance to read): TFLM's int8 RSQRT cannot hold the spread of reciprocal standard
deviations a class token and the patch tokens have. Everything else TFLM runs only in
int8 stays int8.

``auto`` reads the choice off a per-layer int8 SQNR report, :func:`local_sqnr`: each
layer's output when it alone is int8, on its worst row (token). Layers are ordered from
the most to the least sensitive, and the shortest prefix (with the producers of what the
chosen layers read) whose model comes within :data:`TOLERANCE_DB` of the model with every
layer widened is found by bisection, measuring the output SQNR on the calibration samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from picojoule.ir import Graph, Model, Node, Quant, Value
from picojoule.ops.registry import info_of
from picojoule.quantize.report import QuantReport
from picojoule.quantize.schemes import SCHEMES

INT8, INT16 = SCHEMES["int8"], SCHEMES["int16x8"]

#: Ops TFLM runs with int16 activations (int16x8 for the weighted ones), by its kernels'
#: type switches. Everything else stays int8 in a mixed model.
TFLM_INT16 = frozenset({
    "ADD", "SUB", "MUL", "MEAN", "SUM", "SQUARED_DIFFERENCE", "MAXIMUM", "MINIMUM", "ABS",
    "FULLY_CONNECTED", "BATCH_MATMUL", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV",
    "SOFTMAX", "LOGISTIC", "TANH", "RELU", "RELU6", "LEAKY_RELU", "PRELU",
    "AVERAGE_POOL_2D", "MAX_POOL_2D", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "TRANSPOSE",
    "CONCATENATION", "PACK", "UNPACK", "SLICE", "STRIDED_SLICE", "SPLIT", "SPLIT_V", "PAD",
    "PADV2", "RESIZE_NEAREST_NEIGHBOR",
})

FLOAT = "float32"
#: Ops TFLM runs in int8 and float32 but not int16: chosen for int16, they run in float32
#: between DEQUANTIZE and QUANTIZE (a layer norm's RSQRT: one value per token).
FLOAT_FALLBACK = frozenset({"RSQRT"})

#: int16 activations cover their calibrated range times this: one of int16's eight extra
#: bits spent on values beyond the calibration samples (a token with a smaller variance
#: than any calibrated one has a larger reciprocal standard deviation), which int8 would
#: clip; -6 dB on an int16 tensor's rounding noise, still far below int8 weights'.
INT16_HEADROOM = 2.0

#: ``auto`` keeps the output SQNR within this of the model with every candidate widened.
TOLERANCE_DB = 1.0
#: ... and stays all int8 when widening every candidate gains less than this.
MIN_GAIN_DB = 1.0
#: Calibration samples the choice is measured on (the report uses all of them).
TRIAL_SAMPLES = 16


def _is_activation(v: Value | None) -> bool:
    return v is not None and not v.is_const and v.dtype == "float32"


def _same_quant(node: Node) -> bool:
    info = info_of(node.op)
    return info is not None and info.quant.same


def can_int16(node: Node) -> bool:
    """Whether TFLM runs ``node`` with int16 activations."""
    return node.op in TFLM_INT16


def can_widen(node: Node) -> bool:
    """Whether choosing ``node`` for int16 changes it (int16, or a float32 island)."""
    return node.op in TFLM_INT16 or node.op in FLOAT_FALLBACK


# ------------------------------------------------------------------------------ the plan
@dataclass
class Plan:
    """The chosen nodes of a mixed model (by name) and the float graph to quantize:
    ``model`` is a copy of the float model where every edge between types reads through a
    (DE)QUANTIZE placeholder whose float output has the ranges of its source."""

    int16: frozenset[str]
    model: Model
    precision: dict[int, str] = field(default_factory=dict)   # id(float value) -> dtype
    #: Calibrated (lo, hi) per float value of ``model`` (id), for int8 and for int16.
    ranges8: dict[int, tuple[float, float]] = field(default_factory=dict)
    ranges16: dict[int, tuple[float, float]] = field(default_factory=dict)


def _next_qid(g: Graph) -> int:
    return max((v.meta.get("pj_qid", -1) for v in g.values()), default=-1) + 1


def make_plan(fm: Model, int16: Iterable[str], ranges8: dict, ranges16: dict) -> Plan:
    """Split ``fm`` (a prepared float model) into int8 / int16 nodes and add the boundary
    placeholders. ``ranges8`` / ``ranges16``: calibrated ranges keyed by id of ``fm``'s
    values (they differ only for histogram methods)."""
    names = frozenset(int16)
    model = fm.clone()
    g = model.main
    plan = Plan(names, model)
    old_by_qid = {v.meta.get("pj_qid"): v for v in fm.main.values()}
    for v in g.values():
        f = old_by_qid.get(v.meta.get("pj_qid"))
        if f is not None and id(f) in ranges8:
            plan.ranges8[id(v)] = ranges8[id(f)]
            plan.ranges16[id(v)] = ranges16[id(f)]
    node_p = {id(n): _precision(n, names) for n in g.nodes}
    _float_epsilon(g, node_p)
    for v in g.inputs:
        if _is_activation(v):
            readers = [node_p[id(u)] for u in v.users]
            plan.precision[id(v)] = (INT16.act_dtype if INT16.act_dtype in readers
                                     else INT8.act_dtype)
    _close_shared_groups(g, node_p, plan.precision)
    qid = [_next_qid(g)]
    converted: dict[tuple[int, str], Value] = {}
    for n in list(g.nodes):
        want = node_p[id(n)]
        for i, v in enumerate(n.inputs):
            if not _is_activation(v) or plan.precision[id(v)] == want:
                continue
            key = (id(v), want)
            cv = converted.get(key)
            if cv is None:
                cv = Value(f"{v.name}_{want}", v.shape, "float32")
                cv.meta["pj_qid"] = qid[0]
                qid[0] += 1
                op, verb = (("DEQUANTIZE", "dequantize") if want == FLOAT else
                            ("QUANTIZE", "quantize" if plan.precision[id(v)] == FLOAT
                             else "requantize"))
                q = Node(op, [v], [cv], name=f"{v.name}/{verb}_{want}")
                g.add_node(q)
                g.nodes.remove(q)
                at = g.nodes.index(v.producer) + 1 if v.producer is not None else 0
                g.nodes.insert(at, q)
                plan.precision[id(cv)] = want
                plan.ranges8[id(cv)] = plan.ranges8.get(id(v), (0.0, 0.0))
                plan.ranges16[id(cv)] = plan.ranges16.get(id(v), (0.0, 0.0))
                converted[key] = cv
            g.replace_input(n, i, cv)
    model.verify()
    return plan


def _precision(node: Node, int16: frozenset[str]) -> str:
    """int16 for a chosen node TFLM runs in int16; float32 for a chosen one it runs only
    in int8 and float32 (RSQRT); int8 otherwise."""
    if node.name not in int16:
        return INT8.act_dtype
    if can_int16(node):
        return INT16.act_dtype
    return FLOAT if node.op in FLOAT_FALLBACK else INT8.act_dtype


def _float_epsilon(g: Graph, node_p: dict[int, str]) -> None:
    """``ADD(variance, epsilon)`` feeding only a float RSQRT runs in float too (in int16 the
    epsilon may round away, and RSQRT(0) is infinite), and what a float island reads is
    produced in int16 (an int8 variance would undo the island's precision)."""
    for n in g.nodes:
        if n.op != "RSQRT" or node_p[id(n)] != FLOAT:
            continue
        add = n.inputs[0].producer
        if add is not None and add.op == "ADD" and len(n.inputs[0].users) == 1 and any(
                v is not None and v.is_const for v in add.inputs):
            node_p[id(add)] = FLOAT
    for n in g.nodes:  # what a float island reads is worth int16 precision
        if node_p[id(n)] != FLOAT:
            continue
        for v in n.inputs:
            p = v.producer if _is_activation(v) else None
            if p is not None and node_p[id(p)] == INT8.act_dtype and can_int16(p):
                node_p[id(p)] = INT16.act_dtype


def _close_shared_groups(g: Graph, node_p: dict[int, str], value_p: dict[int, str]) -> None:
    """Ops that share their input's quantization (RESHAPE, TRANSPOSE, CONCATENATION ...)
    move data in the type it arrives in: int16 when an activation input is int16, so no
    requantization sits between a tensor and its reshapes."""
    for n in g.nodes:
        if _same_quant(n) and can_int16(n):
            ins = [value_p.get(id(v)) for v in n.inputs if _is_activation(v)]
            node_p[id(n)] = INT16.act_dtype if INT16.act_dtype in ins else INT8.act_dtype
        for v in n.outputs:
            if _is_activation(v):
                value_p[id(v)] = node_p[id(n)]


# --------------------------------------------------------------------------- quantize
def assign(plan: Plan) -> dict[int, Quant]:
    """Each float activation's quantization in its own type (the quantizer's rules:
    shared and fixed quantizations respected per type)."""
    from picojoule.quantize.quantizer import _assign

    q8 = _assign(plan.model, plan.ranges8, INT8)
    q16 = _assign(plan.model, plan.ranges16, INT16)
    return {k: (q16 if plan.precision.get(k) == INT16.act_dtype else q8)[k] for k in q8}


def rewrite(plan: Plan, quants: dict[int, Quant], int_io: bool) -> Model:
    """The integer model: values typed per the plan, weights / constants quantized with
    their node's scheme, QUANTIZE / DEQUANTIZE at float edges, op versions per node."""
    fm = plan.model
    qm = fm.clone()
    g = qm.main
    by_qid = {v.meta["pj_qid"]: v for v in g.values() if "pj_qid" in v.meta}
    for f in fm.main.values():
        dtype = plan.precision.get(id(f), INT8.act_dtype)
        if id(f) in quants and dtype != FLOAT:
            v = by_qid[f.meta["pj_qid"]]
            v.dtype = dtype
            v.quant = quants[id(f)]
    from picojoule.quantize import quantizer as qz

    made = [qz._Quantized()] if hasattr(qz, "_Quantized") else []  # one int copy per const
    for node in list(g.nodes):
        out = node.outputs[0] if node.outputs else None
        scheme = INT16 if out is not None and out.dtype == "int16" else INT8
        info = info_of(node.op)
        if info is not None and info.quant.weights is not None and out is not None and \
                out.dtype in ("int8", "int16"):
            qz._quantize_weighted(g, node, scheme, *made)
        if out is not None and out.dtype == FLOAT:
            continue  # a float island keeps its constants
        for i, c in enumerate(node.inputs):
            if c is not None and c.is_const and c.dtype == "float32":
                qz._quantize_other_const(g, node, i, scheme, *made)
    if not int_io:
        qz._add_io(g, INT8)
    try:
        from picojoule.passes.legalize import LegalizeForTFLM
    except ImportError:  # pragma: no cover - older trees
        LegalizeForTFLM = None
    if LegalizeForTFLM is not None:
        LegalizeForTFLM()(qm)
    _set_versions(g)
    for v in g.values():
        v.meta.pop("tflite_index", None)
    qm.metadata.pop("OfflineMemoryAllocation", None)
    qm.meta["quantization"] = {"scheme": "mixed",
                               "int16_layers": sorted(plan.int16)}
    qm.verify()
    return qm


def _set_versions(g: Graph) -> None:
    """Op versions as TFLite numbers them: the int16x8 version wherever a node touches an
    int16 activation, the int8 one elsewhere."""
    for node in g.nodes:
        info = info_of(node.op)
        if info is None:
            continue
        acts = [v for v in [*node.inputs, *node.outputs] if v is not None and not v.is_const]
        if all(v.dtype == FLOAT for v in acts):
            continue  # a float op keeps version 1
        wide = any(v.dtype == "int16" for v in acts)
        v = info.quant.version("int16x8" if wide else "int8")
        if v is not None:
            node.version = max(node.version, v) if info.quant.weights is None else v
        if wide and node.op in ("ADD", "SUB"):
            node.attrs["pot_scale_int16"] = False


# -------------------------------------------------------------------------- choosing
def _fake_quant(x: np.ndarray, q: Quant, dtype: str) -> np.ndarray:
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    r = np.clip(np.round(x.astype(np.float64) / q.scale0) + q.zp0, lo, hi)
    return (r - q.zp0) * q.scale0


def _rows(x: np.ndarray) -> np.ndarray:
    """A tensor as rows over its last axis (tokens x features); a per-token statistic
    (last axis 1: a mean, a variance, its reciprocal square root) one row per element."""
    return x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)


def local_sqnr(fm: Model, samples: list, ranges8: dict) -> dict[str, float]:
    """Each node's own int8 loss: the SQNR (dB) of its output on its worst row when it alone
    runs in int8 -- its activation inputs and its output rounded to their int8 grids, the
    op itself exact -- over ``samples``.

    The worst row (token) is what matters in a transformer: a class token a hundred times
    smaller than the patch tokens it shares a tensor with keeps nothing in int8, though the
    tensor's SQNR over all tokens looks fine. A reciprocal square root of an int8 variance
    shows its error where the variance is smallest.
    """
    from picojoule.quantize.quantizer import _assign
    from picojoule.runtime.reference import Interpreter

    quants = _assign(fm, ranges8, INT8)
    interp = Interpreter(fm, preserve_all=True)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # rsqrt(0) = inf
        return _local_sqnr(interp, quants, samples)


def _local_sqnr(interp, quants: dict, samples: list) -> dict[str, float]:
    slot_value = {i: v for i, v in enumerate(interp._values)}
    acc: dict[str, np.ndarray] = {}
    for s in samples:
        interp.run(s)
        env = interp.env
        for kernel, ins, outs, _, node in interp._steps:
            out = node.outputs[0] if node.outputs else None
            if out is None or id(out) not in quants:
                continue
            args = []
            for i in ins:
                v = slot_value.get(i)
                x = env[i] if i >= 0 else None
                if v is not None and id(v) in quants and x is not None:
                    x = _fake_quant(x, quants[id(v)], "int8").astype(np.float32)
                args.append(x)
            try:
                got = _fake_quant(kernel(args)[0], quants[id(out)], "int8")
            except Exception:  # noqa: BLE001 - a kernel that refuses rounded inputs
                continue
            ref = _rows(env[outs[0][0]].astype(np.float64))
            err = _rows(got) - ref
            row = np.stack([np.sum(ref * ref, axis=1), np.sum(err * err, axis=1)])
            acc[node.name] = acc[node.name] + row if node.name in acc else row
    out = {}
    for name, (sig, noise) in acc.items():
        with np.errstate(divide="ignore", invalid="ignore"):
            db = 10 * np.log10(np.where(noise > 0, sig / np.maximum(noise, 1e-300), np.inf))
        db = np.where((sig <= 0) & (noise > 0), -np.inf, db)
        out[name] = float(np.min(db)) if db.size else float("inf")
    return out


def _output_sqnr(qm: Model, samples: list, want: list[list[np.ndarray]]) -> float:
    """The quantized model's output SQNR (dB, worst output) against the float outputs."""
    from picojoule.runtime.reference import Interpreter

    interp = Interpreter(qm)
    sig = noise = None
    for s, ref in zip(samples, want):
        got = interp.run(s)
        a = np.array([float(np.sum(np.asarray(r, np.float64) ** 2)) for r in ref])
        b = np.array([float(np.sum((np.asarray(r, np.float64) - g.astype(np.float64)) ** 2))
                      for r, g in zip(ref, got)])
        sig, noise = (a, b) if sig is None else (sig + a, noise + b)
    with np.errstate(divide="ignore"):
        return float(np.min(10 * np.log10(np.maximum(sig, 1e-300) / np.maximum(noise, 1e-300))))


def choose_int16(fm: Model, samples: list, ranges8: dict, build: Callable
                 ) -> tuple[list[str], dict[str, float]]:
    """The int16 layers: the fewest, most int8-sensitive ones (by :func:`local_sqnr`)
    whose model comes within :data:`TOLERANCE_DB` of the output SQNR with every layer
    widened, found by bisection over the sensitivity order. All int8 if widening gains
    less than :data:`MIN_GAIN_DB`."""
    from picojoule.runtime.reference import Interpreter

    trial = samples[:TRIAL_SAMPLES]
    interp = Interpreter(fm)
    want = [[np.array(o, copy=True) for o in interp.run(s)] for s in trial]
    local = local_sqnr(fm, trial, ranges8)
    order = sorted((n for n in fm.main.nodes if can_widen(n) and not _same_quant(n)),
                   key=lambda n: local.get(n.name, np.inf))
    names = [n.name for n in order]

    def chosen(k: int) -> list[str]:
        """The first ``k`` layers and the widenable producers of their inputs: a layer
        gains from int16 only if what it reads is int16 too."""
        out = dict.fromkeys(names[:k])
        for n in order[:k]:
            for v in n.inputs:
                p = v.producer if _is_activation(v) else None
                if p is not None and can_widen(p):
                    out.setdefault(p.name)
        return list(out)

    def score(k: int) -> float:
        return _output_sqnr(build(chosen(k)), trial, want)

    low, high = score(0), score(len(names))
    if high < low + MIN_GAIN_DB:
        return [], local
    target = high - TOLERANCE_DB
    lo, hi = 0, len(names)             # score(hi) >= target; find the smallest such k
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if score(mid) >= target:
            hi = mid
        else:
            lo = mid
    return chosen(hi), local


# ------------------------------------------------------------------------------- entry
def quantize_mixed(fm: Model, samples: list, method: str, int16_layers, int_io: bool,
                   show: bool, track) -> tuple[Model, QuantReport]:
    """Quantize the prepared float model ``fm`` (see the module docstring).

    ``int16_layers``: ``"auto"`` (chosen from the layers' int8 SQNR), ``"all"`` (every
    node TFLM runs in int16) or node names.
    """
    from picojoule.quantize.lowering import clip_ranges
    from picojoule.quantize.quantizer import QuantizeError, _calibrate
    from picojoule.quantize.report import measure_sqnr

    ranges8 = clip_ranges(fm, _calibrate(fm, samples, method, INT8, show))
    ranges16 = ranges8
    if method != "minmax":
        for v in fm.main.values():
            v.meta.pop("pj_mean", None)
        ranges16 = clip_ranges(fm, _calibrate(fm, samples, method, INT16, show))
    ranges16 = {k: (lo * INT16_HEADROOM, hi * INT16_HEADROOM) for k, (lo, hi) in
                ranges16.items()}

    def build(names: Iterable[str]) -> Model:
        plan = make_plan(fm, names, ranges8, ranges16)
        return rewrite(plan, assign(plan), int_io)

    if int16_layers == "auto":
        names, _ = choose_int16(fm, samples, ranges8, build)
    elif int16_layers == "all":
        names = [n.name for n in fm.main.nodes if can_widen(n)]
    else:
        by_output = {v.name: n.name for n in fm.main.nodes for v in n.outputs}
        known = {n.name for n in fm.main.nodes}
        names = []
        for name in int16_layers or ():
            if name not in known and name not in by_output:
                raise QuantizeError(f"int16 layers: no layer named {name!r} (give node "
                                    f"names, or output names as the report prints them)")
            names.append(name if name in known else by_output[name])
    qm = build(names)
    report = measure_sqnr(fm, qm, samples, int_io, show, track)
    report.scheme, report.method, report.samples = "mixed", method, len(samples)
    return qm, report
