"""Post-training quantization of a float IR model into a TFLite-convention integer model.

Steps (:func:`quantize_model`):

1. prepare a float copy: hybrid/float16 constant weights dequantized, batch norms folded
   and standalone RELU/RELU6 fused (:mod:`picojoule.passes.fold`);
2. calibrate: run picojoule's float interpreter on the samples, observe every float
   activation (``minmax``; ``percentile`` and ``mse`` add a histogram pass);
3. choose parameters: tensors that TFLM requires to share quantization (pooling, reshape,
   concatenation, pad, ... inputs and outputs) are unified and get the union of their
   ranges; SOFTMAX / LOGISTIC / TANH outputs get TFLite's fixed scales. Also unified, so
   that what they store is shared: the inputs of layers that read one weight tensor, and
   values an importer tagged as one tensor (``meta["quant_group"]``: an RNN's steps);
4. rewrite: activations int8 (or int16), weights per-channel symmetric (zero point 0,
   axis 0 for CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV, 3 for DEPTHWISE_CONV_2D), bias
   int32 (int64 for 16x8) with scale ``input_scale * weight_scale``, other float
   constants per tensor; a constant several ops read is quantized once and stays one
   tensor (a reader needing other parameters, such as a bias at another input scale,
   gets its own); QUANTIZE / DEQUANTIZE at the float graph inputs / outputs unless
   ``int_io``; ops beyond TFLM's limits split (:mod:`picojoule.passes.legalize`); op
   versions as TFLite's converter numbers them; with int16 activations, ops whose
   kernels take int8 only stay int8 between requantizing QUANTIZE ops
   (:mod:`picojoule.quantize.islands`);
5. report: SQNR of every layer's dequantized integer output against the float output on
   the calibration samples (:mod:`picojoule.quantize.report`).
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, Iterator

import numpy as np

from picojoule.errors import PicojouleError
from picojoule.ir import Graph, Model, Node, Quant, Value
from picojoule.ops.registry import info_of
from picojoule.passes.base import PassManager
from picojoule.passes.fold import FoldBatchNorm, FuseActivations
from picojoule.passes.legalize import LegalizeForTFLM
from picojoule.quantize.calibration import CalibrationError, Sample, normalise_samples
from picojoule.quantize.islands import keep_int8
from picojoule.quantize.lowering import clip_ranges, lower_for_tflm
from picojoule.quantize.observers import METHODS, Histogram, MinMax, mse_weight_scales
from picojoule.quantize.report import QuantReport, measure_sqnr
from picojoule.quantize.schemes import Scheme, get_scheme
from picojoule.runtime.reference import Interpreter


class QuantizeError(PicojouleError):
    """The model cannot be quantized as asked (not float, unsupported op role ...)."""


def _weights(node: Node):
    """The op table's weights / activation / bias inputs of a weighted layer, or None."""
    info = info_of(node.op)
    return info.quant.weights if info is not None else None


def _same_quant(node: Node) -> bool:
    """Inputs and outputs must share one quantization (the op table says TFLM needs it)."""
    info = info_of(node.op)
    return info is not None and info.quant.same


#: Constant pad values at or beyond this magnitude stand for "minus infinity" (the padding
#: of a max pool): no activation takes them, so calibration ignores them.
_REAL_LIMIT = 1e30

#: Keep the float activations of all samples in memory for the second pass up to this size.
_CACHE_BYTES = 256 << 20


# ---------------------------------------------------------------------------- helpers
def _track(items: Iterable, total: int, what: str, show: bool) -> Iterator:
    """Iterate ``items`` with a rich progress bar when ``show``."""
    if not show:
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(what, total=total)
        for item in items:
            yield item
            bar.advance(task)


def _tflite_round(x: np.ndarray) -> np.ndarray:
    """Round halves away from zero (TFLite's std::round), not numpy's half-to-even."""
    return np.trunc(x + np.copysign(0.5, x))


def quantize_array(x: np.ndarray, q: Quant, dtype: str) -> np.ndarray:
    """Float -> integer with ``q`` (per tensor or per channel along ``q.axis``), saturating."""
    lo, hi = {"int4": (-8, 7), "int8": (-128, 127), "int16": (-32768, 32767),
              "int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}[dtype]
    x = np.asarray(x, np.float64)
    shape = [1] * x.ndim
    if q.per_channel:
        shape[q.axis] = q.scale.size
    scale = q.scale.astype(np.float64).reshape(shape) if x.ndim else q.scale0
    zp = q.zero_point.astype(np.float64).reshape(shape) if x.ndim else q.zp0
    r = _tflite_round(x / scale) + zp
    npd = np.int8 if dtype == "int4" else np.dtype(dtype)
    if dtype == "int64":
        return np.clip(r, -2.0**63, 2.0**63 - 1024).astype(np.int64)
    return np.clip(r, lo, hi).astype(npd)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


# ---------------------------------------------------------------------- preparation
def _dequantize_constants(g: Graph) -> None:
    """Hybrid and float16 models: make every constant feeding a float op float32 again."""
    for node in list(g.nodes):
        if node.op == "DEQUANTIZE" and node.inputs[0] is not None and node.inputs[0].is_const:
            c = node.inputs[0]
            data = c.data.astype(np.float32)
            if c.quant is not None and c.dtype != "float16":
                data = _dequant(c.data, c.quant)
            out = node.outputs[0]
            new = Value(out.name, out.shape, "float32", data=data.reshape(out.shape))
            for user, i in out.uses():
                g.replace_input(user, i, new)
            g.outputs = [new if o is out else o for o in g.outputs]
            g.remove_node(node)
    # One float copy of a constant however many ops read it (the entry keeps ``v`` alive,
    # so its id is not reused).
    floats: dict[int, tuple[Value, Value]] = {}
    for node in g.nodes:
        if not node.outputs or node.outputs[0].dtype != "float32":
            continue
        for i, v in enumerate(node.inputs):
            if v is not None and v.is_const and v.dtype in ("int8", "int4") and v.quant:
                if id(v) not in floats:
                    floats[id(v)] = (v, Value(v.name, v.shape, "float32",
                                              data=_dequant(v.data, v.quant)))
                g.replace_input(node, i, floats[id(v)][1])
                node.attrs.pop("asymmetric_quantize_inputs", None)


def _dequant(data: np.ndarray, q: Quant) -> np.ndarray:
    shape = [1] * data.ndim
    if q.per_channel:
        shape[q.axis] = q.scale.size
    s = q.scale.reshape(shape) if data.ndim else q.scale0
    z = q.zero_point.reshape(shape) if data.ndim else q.zp0
    return ((data.astype(np.float64) - z) * s).astype(np.float32)


def prepare_float(model: Model) -> Model:
    """A float copy of ``model`` ready to calibrate (constants float, BN folded, ReLU fused)."""
    fm = model.clone()
    g = fm.main
    _dequantize_constants(g)
    PassManager([FoldBatchNorm()], fixpoint=True)(fm)
    PassManager([FuseActivations(), FoldBatchNorm()], fixpoint=True)(fm)
    for v in g.values():
        if not v.is_const and v.dtype not in ("float32", "int32", "int64", "bool"):
            raise QuantizeError(
                f"{model.source or 'model'}: value {v.name!r} is already {v.dtype}; "
                f"quantize takes a float model")
    if not any(v.dtype == "float32" for v in g.inputs):
        raise QuantizeError("model has no float32 input to quantize")
    for node in g.nodes:
        if any(v is not None and v.variable and v.dtype == "float32" for v in node.inputs):
            raise QuantizeError(
                f"{node.op} node {node.name!r} keeps float state (variable tensors): "
                f"quantize does not choose the scales of an integer {node.op} yet"
                + (" (import the ONNX LSTM unrolled, without fused_lstm, to quantize it)"
                   if node.op == "UNIDIRECTIONAL_SEQUENCE_LSTM" else ""))
    for k, v in enumerate(g.values()):
        v.meta["pj_qid"] = k
    return fm


# ---------------------------------------------------------------------- calibration
def _calibrate(fm: Model, samples: list[Sample], method: str, scheme: Scheme,
               show: bool) -> dict[int, tuple[float, float]]:
    """(lo, hi) per float activation (keyed by id) from the calibration samples.

    Also leaves each activation's mean over the samples in ``value.meta["pj_mean"]``
    (for bias correction).
    """
    g = fm.main
    acts = [v for v in g.values() if not v.is_const and v.dtype == "float32"]
    interp = Interpreter(fm, preserve_all=True)
    mm = {id(v): MinMax() for v in acts}
    per_sample = sum(v.size * 4 for v in acts)
    cache: list[list[np.ndarray]] | None = (
        [] if method != "minmax" and per_sample * len(samples) <= _CACHE_BYTES else None)
    for s in _track(samples, len(samples), "calibrating", show):
        interp.run(s)
        row = []
        for v in acts:
            t = interp.tensor(v)
            mm[id(v)].update(t)
            v.meta["pj_mean"] = v.meta.get("pj_mean", 0.0) + t.astype(np.float64) / len(samples)
            if cache is not None:
                row.append(np.array(t, copy=True))
        if cache is not None:
            cache.append(row)
    ranges = {k: (o.lo, o.hi) if o.seen else (0.0, 0.0) for k, o in mm.items()}
    if method == "minmax":
        return ranges
    hists = {id(v): Histogram(*ranges[id(v)]) for v in acts}

    def rows() -> Iterator[list[np.ndarray]]:
        if cache is not None:
            yield from cache
            return
        for s in samples:
            interp.run(s)
            yield [interp.tensor(v) for v in acts]

    for row in _track(rows(), len(samples), "histograms", show):
        for v, t in zip(acts, row):
            hists[id(v)].update(t)
    levels = 65535 if scheme.act_dtype == "int16" else 256
    for k, h in hists.items():
        if method == "percentile":
            ranges[k] = h.percentile_range()
        else:
            ranges[k] = h.mse_range(levels, scheme.symmetric_acts)
    return ranges


def _assign(fm: Model, ranges: dict[int, tuple[float, float]], scheme: Scheme) -> dict[int, Quant]:
    """Quantization of every float activation, respecting TFLM's shared/fixed constraints."""
    g = fm.main
    uf = _UnionFind()
    fixed: dict[int, Quant] = {}
    # Outputs of ops whose inputs and outputs share one quantization hold only their
    # inputs' values, zero (the pads of PAD, SPACE_TO_BATCH_ND ...) and PADV2's constant:
    # the group's range comes from the inputs, so a pad value that no real activation
    # takes (the -3.4e38 an ONNX MaxPool's padding becomes) never widens it.
    derived: set[int] = set()
    extra: list[tuple[int, float]] = []
    for node in g.nodes:
        if _same_quant(node):
            floats = [v for v in [*node.inputs, *node.outputs]
                      if v is not None and v.dtype == "float32" and not v.is_const]
            for v in floats[1:]:
                uf.union(id(floats[0]), id(v))
            derived.update(id(v) for v in node.outputs if v.dtype == "float32")
            pad = node.input(2) if node.op == "PADV2" else None
            if pad is not None and pad.is_const and pad.data.size == 1 and node.outputs:
                value = float(pad.data.reshape(-1)[0])
                if np.isfinite(value) and abs(value) < _REAL_LIMIT:
                    extra.append((id(node.outputs[0]), value))
        q = scheme.fixed_output(node.op)
        if q is not None and node.outputs[0].dtype == "float32":
            fixed[id(node.outputs[0])] = q
    # Values that must share one quantization for storage's sake (not because a kernel
    # requires it): joined unless their group already has a fixed output scale.
    fixed_roots = {uf.find(k) for k in fixed}
    for xs in [*_shared_weight_inputs(g), *_quant_groups(g)]:
        free = [x for x in xs if uf.find(id(x)) not in fixed_roots]
        for x in free[1:]:
            uf.union(id(free[0]), id(x))
    group_range: dict[int, tuple[float, float]] = {}
    group_fixed: dict[int, Quant] = {}
    observed = [(k, r) for k, r in ranges.items() if k not in derived]
    observed += [(k, (v, v)) for k, v in extra]
    for k, (lo, hi) in observed:
        r = uf.find(k)
        glo, ghi = group_range.get(r, (np.inf, -np.inf))
        group_range[r] = (min(glo, lo), max(ghi, hi))
    for k in ranges:
        r = uf.find(k)
        group_range.setdefault(r, ranges[k])  # a group with no observed member
        if k in fixed:
            group_fixed.setdefault(r, fixed[k])
    out: dict[int, Quant] = {}
    for k in ranges:
        r = uf.find(k)
        out[k] = group_fixed.get(r) or scheme.activation_quant(*group_range[r])
    return out


def _shared_weight_inputs(g: Graph) -> list[list[Value]]:
    """The float inputs of weighted layers that read one constant weight tensor (the steps
    of an unrolled recurrent layer), one list per shared tensor.

    Quantized at one scale, those layers also share their int32 bias (input scale x weight
    scale) and the C backend's zero-point term, so each is stored once like the weights.
    """
    readers: dict[int, list[Value]] = {}
    for node in g.nodes:
        w = _weights(node)
        if w is None:
            continue
        wv, x = node.input(w.weights), node.input(w.activation)
        if wv is None or not wv.is_const or x is None or x.is_const or x.dtype != "float32":
            continue
        xs = readers.setdefault(id(wv), [])
        if all(x is not y for y in xs):
            xs.append(x)
    return [xs for xs in readers.values() if len(xs) > 1]


def _quant_groups(g: Graph) -> list[list[Value]]:
    """Float activations an importer tagged as one tensor (``meta["quant_group"]``: the
    same tensor of an unrolled recurrent cell at every time step), one list per tag."""
    groups: dict[Any, list[Value]] = {}
    for v in g.values():
        key = v.meta.get("quant_group")
        if key is not None and not v.is_const and v.dtype == "float32":
            groups.setdefault(key, []).append(v)
    return [vs for vs in groups.values() if len(vs) > 1]


# -------------------------------------------------------------------------- rewrite
def _weight_quant(w: np.ndarray, axis: int, scheme: Scheme, per_channel: bool) -> Quant:
    qmax = scheme.weight_qmax
    if not per_channel:
        m = float(np.max(np.abs(w))) if w.size else 0.0
        if scheme.weight_dtype == "int4":
            return Quant(mse_weight_scales(w.reshape(1, -1), 0, qmax), 0)
        return Quant(np.float32(m / qmax if m > 0 else 1.0), 0)
    if scheme.weight_dtype == "int4":
        scales = mse_weight_scales(w, axis, qmax)
    else:
        wc = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
        amax = np.max(np.abs(wc), axis=1).astype(np.float64)
        scales = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    return Quant(scales, np.zeros(scales.size, np.int64), axis=axis)


class _Quantized:
    """The integer Values made from float constants so far, so that a constant many nodes
    read (the weights of every step of an unrolled RNN) is quantized once and stays one
    Value. Keyed by the float Value and everything its integer form depends on (the
    weights' axis; a bias's scale, which follows the reader's input scale): a reader whose
    key differs gets its own Value. The float Value is kept alive with its entry, so its
    ``id`` is not reused."""

    def __init__(self) -> None:
        self._made: dict[tuple, tuple[Value, Value]] = {}

    def get(self, src: Value, *key: Any) -> Value | None:
        got = self._made.get((id(src), *key))
        return None if got is None else got[1]

    def put(self, src: Value, value: Value, *key: Any) -> Value:
        self._made[(id(src), *key)] = (src, value)
        return value


def _quantize_weighted(g: Graph, node: Node, scheme: Scheme, made: _Quantized) -> None:
    wi, xi, bi, axis = _weights(node)
    w, x, b = node.input(wi), node.input(xi), node.input(bi)
    if w is None or not w.is_const or w.dtype != "float32":
        raise QuantizeError(f"{node.op} node {node.name!r}: weights are not a float constant")
    per_channel = not (scheme.weight_dtype == "int4" and node.op == "FULLY_CONNECTED")
    qw = made.get(w, "weights", axis, per_channel)
    if qw is None:
        wq = _weight_quant(w.data, axis, scheme, per_channel)
        wdata = np.clip(quantize_array(w.data, wq, "int8"), -scheme.weight_qmax,
                        scheme.weight_qmax)
        qw = made.put(w, Value(w.name, w.shape, scheme.weight_dtype, quant=wq,
                               data=wdata.astype(np.int8)), "weights", axis, per_channel)
    wq = qw.quant
    g.replace_input(node, wi, qw)
    if scheme.weight_dtype == "int4" and "pj_mean" in x.meta:
        b = _correct_bias(g, node, w.data, _dequant(qw.data, wq), x.meta["pj_mean"], b, bi)
    if b is not None and b.is_const and b.dtype == "float32":
        bscale = (np.float64(x.quant.scale0) * wq.scale.astype(np.float64)).astype(np.float32)
        qb = made.get(b, "bias", bscale.tobytes())
        if qb is None:
            bq = Quant(bscale, np.zeros(bscale.size, np.int64), axis=0)
            bdata = quantize_array(b.data.reshape(-1) if bscale.size > 1 else b.data, bq,
                                   scheme.bias_dtype).reshape(b.shape)
            qb = made.put(b, Value(b.name, b.shape, scheme.bias_dtype, quant=bq, data=bdata),
                          "bias", bscale.tobytes())
        g.replace_input(node, bi, qb)


def _correct_bias(g: Graph, node: Node, w: np.ndarray, wdq: np.ndarray, mean_in: np.ndarray,
                  b: Value | None, bi: int) -> Value | None:
    """Bias correction: remove the mean output shift weight rounding causes.

    ``(W_q - W) . E[x]`` per output channel, with E[x] the per-channel mean of the layer's
    float input on the calibration data (padding ignored). Coarse int4 weights shift
    outputs by whole fractions of a step; this keeps the mean right.
    """
    dw = wdq.astype(np.float64) - w
    if node.op == "CONV_2D" or node.op == "TRANSPOSE_CONV":
        mu = mean_in.reshape(-1, mean_in.shape[-1]).mean(axis=0)
        if node.op == "TRANSPOSE_CONV" or dw.shape[-1] != mu.size:
            return b
        shift = np.einsum("ohwi,i->o", dw, mu)
    elif node.op == "DEPTHWISE_CONV_2D":
        mu = mean_in.reshape(-1, mean_in.shape[-1]).mean(axis=0)
        mult = dw.shape[3] // mu.size
        shift = dw.sum(axis=(0, 1, 2)) * np.repeat(mu, mult)
    else:
        k = dw.shape[1]
        if mean_in.size % k:
            return b
        shift = dw @ mean_in.reshape(-1, k).mean(axis=0)
    cout = dw.shape[3] if node.op == "DEPTHWISE_CONV_2D" else dw.shape[0]
    old = b.data.astype(np.float64).reshape(-1) if b is not None else np.zeros(cout)
    new = Value((b.name if b is not None else node.outputs[0].name + "_bias"),
                (old.size,), "float32", data=(old - shift).astype(np.float32))
    while len(node.inputs) <= bi:
        node.inputs.append(None)
    g.replace_input(node, bi, new)
    return new


def _quantize_other_const(g: Graph, node: Node, i: int, scheme: Scheme,
                          made: _Quantized) -> None:
    """A float constant that is not a weight or bias: per tensor, or the op's shared quant."""
    c = node.inputs[i]
    if _same_quant(node):
        ref = next((v for v in [*node.outputs, *node.inputs]
                    if v is not None and not v.is_const and v.quant is not None), None)
        q = ref.quant if ref is not None else scheme.activation_quant(c.data.min(), c.data.max())
    else:
        q = scheme.activation_quant(float(np.min(c.data)), float(np.max(c.data)))
    key = ("const", q.scale.tobytes(), q.zero_point.tobytes(), q.axis)
    qc = made.get(c, *key)
    if qc is None:
        data = quantize_array(c.data, q, scheme.act_dtype)
        qc = made.put(c, Value(c.name, c.shape, scheme.act_dtype, quant=q, data=data), *key)
    g.replace_input(node, i, qc)


def _add_io(g: Graph, scheme: Scheme) -> None:
    """QUANTIZE after each float graph input, DEQUANTIZE before each float graph output."""
    suffix = "_" + scheme.act_dtype
    for k, v in enumerate(list(g.inputs)):
        if v.dtype not in ("int8", "int16") or v.quant is None:
            continue
        fv = Value(v.name, v.shape, "float32")
        fv.meta = {m: x for m, x in v.meta.items() if m != "tflite_index"}
        v.name += suffix
        node = g.add_node(Node("QUANTIZE", [fv], [v], name=v.name))
        g.nodes.remove(node)
        g.nodes.insert(0, node)
        g.inputs[k] = fv
    for k, v in enumerate(list(g.outputs)):
        if v.dtype not in ("int8", "int16") or v.quant is None:
            continue
        fv = Value(v.name, v.shape, "float32")
        fv.meta = {m: x for m, x in v.meta.items() if m != "tflite_index"}
        v.name += suffix
        g.add_node(Node("DEQUANTIZE", [v], [fv], name=fv.name))
        g.outputs[k] = fv


def _set_versions(g: Graph, scheme: Scheme) -> None:
    """Op versions as TFLite's converter numbers them for ``scheme`` (the op table's)."""
    for node in g.nodes:
        info = info_of(node.op)
        if info is None:
            continue
        weights = info.quant.weights
        name = scheme.name
        if node.op in ("QUANTIZE", "DEQUANTIZE") and scheme.act_dtype == "int8":
            name = "int8"
        if scheme.weight_dtype == "int4" and weights is not None:
            w = node.input(weights.weights)
            if w is None or w.dtype != "int4":
                name = "int8"
        v = info.quant.version(name)
        if v is not None:
            node.version = max(node.version, v) if weights is None else v
        if scheme.act_dtype == "int16" and node.op in ("ADD", "SUB"):
            node.attrs["pot_scale_int16"] = False


def _rewrite(fm: Model, quants: dict[int, Quant], scheme: Scheme, int_io: bool) -> Model:
    qm = fm.clone()
    g = qm.main
    by_qid = {v.meta["pj_qid"]: v for v in g.values()}
    fv_by_qid = {v.meta["pj_qid"]: v for v in fm.main.values()}
    for qid, v in by_qid.items():
        f = fv_by_qid[qid]
        if id(f) in quants:
            v.dtype = scheme.act_dtype
            v.quant = quants[id(f)]
    made = _Quantized()
    for node in list(g.nodes):
        if _weights(node) is not None and node.outputs[0].dtype == scheme.act_dtype:
            _quantize_weighted(g, node, scheme, made)
        for i, c in enumerate(node.inputs):
            if c is not None and c.is_const and c.dtype == "float32":
                _quantize_other_const(g, node, i, scheme, made)
    if not int_io:
        _add_io(g, scheme)
    LegalizeForTFLM()(qm)
    _set_versions(g, scheme)
    for v in g.values():
        v.meta.pop("tflite_index", None)
    qm.metadata.pop("OfflineMemoryAllocation", None)
    qm.meta["quantization"] = {"scheme": scheme.name}
    qm.verify()
    return qm


# ---------------------------------------------------------------------------- public
def quantize_model(
    model: Model,
    calibration: Iterable[Any],
    scheme: str = "int8",
    method: str = "minmax",
    int_io: bool = False,
    progress: bool | None = None,
    int16_layers: Any = None,
) -> tuple[Model, QuantReport]:
    """Quantize a float ``model`` with ``calibration`` samples; return (int model, report).

    ``calibration``: arrays (one per sample, shaped like the single input, batch dimension
    optional) or lists of arrays (several inputs), e.g. from :func:`load_calibration`.
    ``scheme``: ``int8`` | ``int16x8`` | ``int4-weights``; ``method``: ``minmax`` |
    ``percentile`` | ``mse`` (activation ranges). ``int_io``: integer graph inputs and
    outputs instead of float ones behind QUANTIZE / DEQUANTIZE. ``progress``: show rich
    progress bars (``None``: when the samples are many and stderr is a terminal).
    ``scheme="mixed"``: int8 with int16x8 layers, ``int16_layers`` = ``"auto"`` (default:
    chosen from the SQNR report), ``"all"`` or node names (:mod:`.mixed`).
    """
    sch = get_scheme(scheme)
    if method not in METHODS:
        raise QuantizeError(f"unknown calibration method {method!r} (choose {', '.join(METHODS)})")
    fm = prepare_float(model)
    lower_for_tflm(fm)
    samples = list(normalise_samples(calibration, fm))
    if not samples:
        raise CalibrationError("no calibration samples")
    show = bool(progress) if progress is not None else (
        len(samples) >= 50 and sys.stderr.isatty())
    if sch.name == "mixed":
        from picojoule.quantize.mixed import quantize_mixed

        return quantize_mixed(fm, samples, method, int16_layers or "auto", int_io, show, _track)
    ranges = clip_ranges(fm, _calibrate(fm, samples, method, sch, show))
    quants = _assign(fm, ranges, sch)
    qm = _rewrite(fm, quants, sch, int_io)
    keep_int8(qm, fm, ranges, sch)  # ops without int16 kernels stay int8 (int16x8)
    report = measure_sqnr(fm, qm, samples, int_io, show, _track)
    report.scheme, report.method, report.samples = sch.name, method, len(samples)
    return qm, report


__all__ = ["quantize_model", "QuantizeError", "quantize_array", "prepare_float"]
