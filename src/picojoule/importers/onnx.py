"""Read an ONNX model (opsets 13-21) into the IR, onto the ops the reference interpreter runs.

Models of older opsets are upgraded to opset 13 with ``onnx.version_converter`` first
(``model.meta["onnx_opset_upgraded_from"]`` records the opset the file had).

The IR's ops are TFLite's builtins with TFLite's conventions (NHWC activations, OHWI
convolution weights, ``[1, H, W, C*M]`` depthwise weights, ``[N, K]`` fully connected
weights), so an imported float model runs in :class:`picojoule.runtime.Interpreter` and
every later stage (quantizer, writer, code generator) sees one kind of graph.

How a model is translated:

1. **Static shapes.** Symbolic input dimensions (a dynamic batch) are fixed to
   ``batch_size``; ONNX shape inference then gives every tensor's shape.
2. **Constant folding in ONNX.** ``Constant`` nodes, ``Shape`` of statically shaped
   tensors and every node whose inputs are all constants (the ``Shape -> Gather ->
   Concat -> Reshape`` chains exporters write) are evaluated with ONNX's own reference
   implementation and become initializers; shape inference runs again until nothing folds.
3. **Op by op, in ONNX layout.** Every value keeps its ONNX (NCHW) shape. Layout-sensitive
   ops (Conv, ConvTranspose, pools, Resize) are emitted as ``TRANSPOSE`` to NHWC, the NHWC
   op, ``TRANSPOSE`` back. Layout-free ops map 1:1 (BatchNormalization becomes MUL + ADD
   with per-channel constants).
4. **Passes** (unless ``optimize=False``): :class:`~picojoule.passes.layout.LayoutToNHWC`
   sinks and cancels those transposes (a CNN ends with none inside the graph), then
   :mod:`picojoule.passes.fold` folds batch-norm constants into the convolutions and fuses
   ReLU-family activations.

QDQ models (QuantizeLinear / DequantizeLinear pairs as ONNX Runtime's static quantizer
writes them) are recognised and mapped onto int8 ops: see :mod:`.onnx_ops.qdq`.

Only this module (and ``onnx_ops``) imports ``onnx``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from picojoule.errors import ModelFormatError, PicojouleError, UnsupportedOpError
from picojoule.importers._files import read_model_file
from picojoule.ir import Graph, Model, Node, Quant, Value

try:
    import onnx
    from onnx import helper, numpy_helper, shape_inference
except ImportError as exc:  # pragma: no cover - packaging error
    raise ImportError("picojoule needs the 'onnx' package to read .onnx files") from exc

MIN_OPSET, MAX_OPSET = 13, 21

#: ONNX TensorProto data type -> IR dtype name.
ONNX_DTYPES: dict[int, str] = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64",
}

#: Ops never folded by ONNX's reference evaluator (DequantizeLinear of a constant is folded
#: by :func:`.onnx_ops.qdq.fold_dequantize`, which remembers the weights' quantization).
_NO_FOLD = {"DequantizeLinear", "RandomNormal", "RandomUniform",
            "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}

NCHW_TO_NHWC = (0, 2, 3, 1)
NHWC_TO_NCHW = (0, 3, 1, 2)


# --------------------------------------------------------------------------- entry points
def load(path: str | Path, *, optimize: bool = True, nhwc_inputs: bool = False,
         nhwc_outputs: bool = False, batch_size: int = 1, lower_qdq: bool = True,
         fused_lstm: bool = False, input_shapes: Any = None) -> Model:
    """Read the ``.onnx`` file at ``path``.

    ``optimize`` runs the layout pass (NCHW -> NHWC, transposes removed) and the folding
    passes, then (``lower_qdq``) maps a QDQ model's quantized islands onto int8 ops.
    LSTMs are unrolled (stateless, exactly ONNX's semantics) unless ``fused_lstm`` asks for
    TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM where it fits (its state persists between runs:
    reset the interpreter before each sequence).

    The graph's inputs and outputs keep the ONNX layout (results compare with ONNX Runtime
    directly) unless ``nhwc_inputs`` asks for NHWC image inputs (the layout an MCU camera
    pipeline delivers; then no transpose is left at the input either) and ``nhwc_outputs``
    for NHWC 4-D outputs (feature maps, segmentation masks). ``batch_size`` fixes symbolic
    (dynamic) input dimensions, unless ``input_shapes`` ({name: shape}, in ONNX layout, or
    one shape for a single-input model) gives an input's shape.
    """
    return loads(read_model_file(path), source=str(path), base_dir=Path(path).parent,
                 optimize=optimize,
                 nhwc_inputs=nhwc_inputs, nhwc_outputs=nhwc_outputs, batch_size=batch_size,
                 lower_qdq=lower_qdq, fused_lstm=fused_lstm, input_shapes=input_shapes)


def loads(data: bytes, source: str = "<bytes>", *, base_dir: str | Path | None = None,
          optimize: bool = True,
          nhwc_inputs: bool = False, nhwc_outputs: bool = False, batch_size: int = 1,
          lower_qdq: bool = True, fused_lstm: bool = False, input_shapes: Any = None) -> Model:
    """Read an ONNX model from bytes (see :func:`load`)."""
    try:
        proto = onnx.load_from_string(data)
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ModelFormatError(f"{source}: not a readable ONNX model ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else 'parse error'})"
                               ) from None
    if not proto.HasField("graph") or not proto.graph.node and not proto.graph.output:
        raise ModelFormatError(f"{source}: not an ONNX model (no graph)")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        if base_dir is None:
            raise ModelFormatError(f"{source}: weights are stored in external files; load it "
                                   f"from its path")
        from onnx.external_data_helper import load_external_data_for_model

        try:
            load_external_data_for_model(proto, str(base_dir))
        except Exception as exc:  # OSError, onnx.checker.ValidationError
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ModelFormatError(f"{source}: cannot read its external weights ({msg})"
                                   ) from None
    _sort_nodes(proto.graph)
    proto, upgraded_from = _upgrade_opset(proto, source)
    imp = _Importer(proto, source, batch_size)
    imp.options["fused_lstm"] = fused_lstm
    imp.options["input_shapes"] = input_shapes
    model = imp.run()
    if upgraded_from is not None:
        model.meta["onnx_opset_upgraded_from"] = upgraded_from
    if optimize:
        from picojoule.passes.fold import FoldBatchNorm, FuseActivations
        from picojoule.passes.layout import LayoutToNHWC

        model = LayoutToNHWC(nhwc_inputs=nhwc_inputs, nhwc_outputs=nhwc_outputs)(model).model
        model = FoldBatchNorm()(model).model
        model = FuseActivations()(model).model
        if lower_qdq and any(n.op in ("QUANTIZE", "DEQUANTIZE") for n in model.main.nodes):
            from picojoule.importers.onnx_ops.qdq import LowerQDQ

            if LowerQDQ()(model).modified:
                model = LayoutToNHWC(nhwc_inputs=False)(model).model  # int8 transposes
    model.verify()
    return model


def _default_opset(proto: Any) -> int:
    """The model's version of the default ("" / "ai.onnx") operator set (0: none)."""
    return max((imp.version for imp in proto.opset_import if imp.domain in ("", "ai.onnx")),
               default=0)


def _sort_nodes(graph: Any) -> None:
    """Put the graph's nodes in an order where each comes after the nodes whose outputs it
    reads, if they are not already: ONNX requires it, some old exporters (keras2onnx) wrote
    their graphs backwards, and ONNX Runtime sorts them itself. Stable: a node moves only
    as far as it must. Names a node's subgraphs read from the outer graph count as inputs.
    Left alone if some input is never produced (the importer then says which)."""
    nodes = list(graph.node)
    made = {name: k for k, n in enumerate(nodes) for name in n.output if name}

    def reads(node: Any) -> set[str]:
        names = {i for i in node.input if i}
        for a in node.attribute:
            for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                for n in sub.node:
                    names |= reads(n)
        return names

    deps = [{made[i] for i in reads(n) if i in made and made[i] != k}
            for k, n in enumerate(nodes)]
    if all(d < k for k, ds in enumerate(deps) for d in ds):
        return
    import heapq

    users: list[list[int]] = [[] for _ in nodes]
    for k, ds in enumerate(deps):
        for d in ds:
            users[d].append(k)
    waiting = [len(ds) for ds in deps]
    ready = [k for k, w in enumerate(waiting) if w == 0]
    order: list[int] = []
    while ready:
        k = heapq.heappop(ready)  # the earliest ready node first
        order.append(k)
        for u in users[k]:
            waiting[u] -= 1
            if waiting[u] == 0:
                heapq.heappush(ready, u)
    if len(order) < len(nodes):
        return  # a cycle: left for the importer to report
    graph.ClearField("node")
    graph.node.extend(nodes[k] for k in order)


def _upgrade_opset(proto: Any, source: str) -> tuple[Any, int | None]:
    """A model below opset :data:`MIN_OPSET`, upgraded to it by ``onnx.version_converter``
    (which rewrites the ops whose semantics changed on the way: Softmax's axis, Upsample
    to Resize, attributes that became inputs ...); ``(proto, opset it had)``. Other models
    come back as they are, with None. A model the converter cannot upgrade is one error
    line naming its opset and the converter's complaint."""
    opset = _default_opset(proto)
    if not 0 < opset < MIN_OPSET:
        return proto, None
    from onnx import version_converter

    try:
        upgraded = version_converter.convert_version(proto, MIN_OPSET)
    except Exception as exc:  # RuntimeError / ValidationError from the C++ converter
        text = " ".join(str(exc).split()) or type(exc).__name__
        text = text.split(" failed: ", 1)[-1] if "Assertion" in text else text
        raise UnsupportedOpError(
            f"{source}: ONNX opset {opset} (picojoule reads opsets {MIN_OPSET}-{MAX_OPSET}); "
            f"onnx.version_converter could not upgrade it to opset {MIN_OPSET}: "
            f"{text[:300]}") from None
    for node in upgraded.graph.node:
        # Upsample becomes Resize with an all-image region of interest, which Resize reads
        # only in the tf_crop_and_resize mode: drop it.
        ctm = next((helper.get_attribute_value(a) for a in node.attribute
                    if a.name == "coordinate_transformation_mode"), b"half_pixel")
        if node.op_type == "Resize" and len(node.input) > 1 and ctm != b"tf_crop_and_resize":
            node.input[1] = ""
    return upgraded, opset


# --------------------------------------------------------------------------- small helpers
def _attrs(node: Any) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _perm_shape(shape: Sequence[int], perm: Sequence[int]) -> tuple[int, ...]:
    return tuple(shape[p] for p in perm)


def _ir_dtype(elem_type: int, what: str) -> str:
    if elem_type not in ONNX_DTYPES:
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type else "undefined"
        raise UnsupportedOpError(f"{what}: element type {name} is not supported")
    return ONNX_DTYPES[elem_type]


class _Importer:
    """One translation: the ONNX model in, a :class:`Model` out."""

    def __init__(self, proto: Any, source: str, batch_size: int) -> None:
        self.proto = proto
        self.source = source
        self.batch_size = batch_size
        self.opset = 0
        for imp in proto.opset_import:
            if imp.domain in ("", "ai.onnx"):
                self.opset = imp.version
        self.g = Graph(proto.graph.name or "main")
        self.values: dict[str, Value] = {}      # ONNX tensor name -> IR value
        self.consts: dict[str, np.ndarray] = {}  # ONNX tensor name -> constant data
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.types: dict[str, int] = {}
        self._names: set[str] = set()
        self.node: Any = None                    # the ONNX node being translated
        #: DequantizeLinear outputs of constants: (scale, zero point, axis, int dtype)
        self.qdq_weights: dict[str, tuple] = {}
        self.options: dict[str, Any] = {}
        #: ONNX tensor names some node (or the graph's output list) reads
        self.consumed: set[str] = set()

    def fail(self, msg: str) -> ModelFormatError:
        return ModelFormatError(f"{self.source}: {msg}")

    # ---------------------------------------------------------------- preparation
    def run(self) -> Model:
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise UnsupportedOpError(
                f"{self.source}: ONNX opset {self.opset or 'missing'} (picojoule reads opsets "
                f"{MIN_OPSET}-{MAX_OPSET}; convert with onnx.version_converter)")
        graph = self.proto.graph
        for f in self.proto.functions:
            raise UnsupportedOpError(f"{self.source}: model-local function {f.name!r} "
                                     f"(inline it with onnx.inliner first)")
        self._fix_input_dims()
        for init in graph.initializer:
            try:
                self.consts[init.name] = numpy_helper.to_array(init)
            except Exception as exc:
                raise self.fail(f"initializer {init.name!r} unreadable ({exc})") from None
        nodes = self._fold_constants(list(graph.node))
        self.consumed_outputs = {o.name for o in graph.output}
        nodes = self._fuse_erf_gelu(nodes)
        from picojoule.importers.onnx_ops.transformer import fuse_patterns

        nodes = fuse_patterns(self, nodes)
        from picojoule.importers.onnx_ops import qdq

        nodes = qdq.prepare(self, nodes)
        init_names = {i.name for i in graph.initializer}
        for vi in graph.input:
            if vi.name in init_names:
                continue  # an initializer listed as an input (old exporters): a constant
            v = self._new_value(vi.name, self._shape(vi.name), self._dtype(vi.name))
            self.g.inputs.append(v)
            self.values[vi.name] = v
        self.consumed = {i for n in nodes for i in n.input} | {o.name for o in graph.output}
        for node in nodes:
            self.node = node
            self._translate(node)
        self.node = None
        for vi in graph.output:
            if vi.name not in self.values and vi.name not in self.consts:
                raise self.fail(f"graph output {vi.name!r} is never produced")
            self.g.outputs.append(self.value(vi.name))
        model = Model([self.g], description=self.proto.doc_string, source=self.source)
        model.meta["onnx_opset"] = self.opset
        model.meta["producer"] = f"{self.proto.producer_name} {self.proto.producer_version}"
        model.meta["layout"] = "onnx"
        model.meta["shapes"] = {"inputs": self.input_records}
        return model

    def _fix_input_dims(self) -> None:
        """Give every symbolic input dimension a size: the one ``input_shapes`` gives, else
        the batch (:func:`picojoule.passes.shapes.resolve_input_shape` checks and records)."""
        from picojoule.passes.shapes import match_input_shapes, resolve_input_shape

        init_names = {i.name for i in self.proto.graph.initializer}
        inputs = [vi for vi in self.proto.graph.input if vi.name not in init_names]
        given = match_input_shapes([vi.name for vi in inputs], self.options.get("input_shapes"))
        self.input_records = []
        for vi in inputs:
            tt = vi.type.tensor_type
            if not vi.type.HasField("tensor_type"):
                raise UnsupportedOpError(f"{self.source}: input {vi.name!r} is not a tensor")
            if not tt.HasField("shape"):
                raise UnsupportedOpError(f"{self.source}: input {vi.name!r} has no shape")
            sig = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1
                   for d in tt.shape.dim]
            shape, record = resolve_input_shape(vi.name, sig, given.get(vi.name),
                                                default=self.batch_size)
            if record["source"] != "static":
                self.input_records.append(record)
            for d, size in zip(tt.shape.dim, shape):
                d.Clear()
                d.dim_value = size

    def _infer(self, nodes: list[Any]) -> None:
        """Shape inference over the current node list and known constants."""
        g = self.proto.graph
        # Small constants as initializers (their values drive data propagation); large ones
        # (weights) only as typed inputs, so each round does not copy every weight.
        inits, big = [], []
        graph_inputs = {vi.name for vi in g.input}
        for n, a in self.consts.items():
            a = np.asarray(a)
            if a.size <= 4096:
                inits.append(numpy_helper.from_array(a, n))
            elif n not in graph_inputs:
                big.append(helper.make_tensor_value_info(
                    n, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)))
        tmp = helper.make_graph(nodes, g.name or "g", [*g.input, *big], list(g.output), inits)
        m = helper.make_model(tmp, opset_imports=list(self.proto.opset_import),
                              ir_version=self.proto.ir_version)
        try:
            m = shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
        except Exception as exc:
            raise self.fail(f"ONNX shape inference failed: {str(exc).splitlines()[0]}") from None
        for vi in [*m.graph.input, *m.graph.value_info, *m.graph.output]:
            tt = vi.type.tensor_type
            if not vi.type.HasField("tensor_type"):
                continue
            self.types[vi.name] = tt.elem_type
            if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
                self.shapes[vi.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
        for n, a in self.consts.items():
            self.shapes[n] = tuple(a.shape)

    def _fold_constants(self, nodes: list[Any]) -> list[Any]:
        """Evaluate constant subgraphs (Constant, Shape of static tensors, all-constant nodes)."""
        from onnx.reference import ReferenceEvaluator

        for _ in range(50):
            self._infer(nodes)
            kept: list[Any] = []
            changed = False
            for node in nodes:
                result = None
                ins = [i for i in node.input if i]
                if node.domain not in ("", "ai.onnx"):
                    result = None
                elif node.op_type == "Constant":
                    result = [self._constant_node(node)]
                elif node.op_type == "Shape" and node.input[0] in self.shapes:
                    a = _attrs(node)
                    shape = self.shapes[node.input[0]]
                    start, end = a.get("start", 0), a.get("end", len(shape))
                    result = [np.array(shape[slice(start, end)], np.int64)]
                elif node.op_type == "Size" and node.input[0] in self.shapes:
                    result = [np.array(int(np.prod(self.shapes[node.input[0]])), np.int64)]
                elif node.op_type == "DequantizeLinear" and all(i in self.consts for i in ins):
                    from picojoule.importers.onnx_ops import qdq

                    result = [qdq.fold_dequantize(self, node)]
                elif (node.op_type not in _NO_FOLD and all(i in self.consts for i in ins)
                      and not any(a.type == onnx.AttributeProto.GRAPH for a in node.attribute)):
                    try:
                        ev = ReferenceEvaluator(node, opsets={"": self.opset})
                        result = ev.run(None, {i: self.consts[i] for i in ins})
                    except Exception:
                        result = None
                if result is None:
                    kept.append(node)
                    continue
                for name, arr in zip(node.output, result):
                    if name:
                        self.consts[name] = np.asarray(arr)
                changed = True
            nodes = kept
            if not changed:
                return nodes
        return nodes

    def _scalar(self, name: str) -> float | None:
        a = self.consts.get(name)
        return float(a.reshape(-1)[0]) if a is not None and a.size == 1 else None

    def _fuse_erf_gelu(self, nodes: list[Any]) -> list[Any]:
        """``x * 0.5 * (1 + erf(x / sqrt(2)))`` (how exporters write GELU before opset 20)
        becomes one Gelu node: TFLite has GELU but no ERF."""
        producer = {o: n for n in nodes for o in n.output}
        readers: dict[str, list[Any]] = {}
        for n in nodes:
            for i in n.input:
                readers.setdefault(i, []).append(n)
        drop: set[int] = set()
        replace: dict[int, Any] = {}

        def only_reader(name: str) -> Any:
            r = readers.get(name, [])
            return r[0] if len(r) == 1 and name not in self.consumed_outputs else None

        def other(n: Any, name: str) -> str | None:
            ins = list(n.input)
            return ins[1 - ins.index(name)] if len(ins) == 2 and name in ins else None

        for erf in nodes:
            if erf.op_type != "Erf":
                continue
            scaled = producer.get(erf.input[0])
            if scaled is None or scaled.op_type not in ("Div", "Mul"):
                continue
            x, k = scaled.input
            kv = self._scalar(k)
            if kv is None or abs((kv if scaled.op_type == "Div" else 1 / kv) - 2 ** 0.5) > 1e-5:
                continue
            add = only_reader(erf.output[0])
            if add is None or add.op_type != "Add" or self._scalar(other(add, erf.output[0])
                                                                   or "") != 1.0:
                continue
            m1 = only_reader(add.output[0])
            if m1 is None or m1.op_type != "Mul":
                continue
            o1 = other(m1, add.output[0])
            if o1 == x:          # (x * (1 + erf)) * 0.5
                m2 = only_reader(m1.output[0])
                if m2 is None or m2.op_type != "Mul" or self._scalar(
                        other(m2, m1.output[0]) or "") != 0.5:
                    continue
                chain, last = [scaled, erf, add, m1, m2], m2
            else:                # (0.5 * x) * (1 + erf)
                half = producer.get(o1 or "")
                if half is None or half.op_type != "Mul" or x not in half.input or \
                        self._scalar(other(half, x) or "") != 0.5:
                    continue
                chain, last = [scaled, erf, add, half, m1], m1
            if any(len(readers.get(n.output[0], [])) != 1 for n in chain[:-1]):
                continue
            for n in chain:
                drop.add(id(n))
            replace[id(last)] = helper.make_node("Gelu", [x], [last.output[0]],
                                                 name=last.name or erf.name)
        return [replace.get(id(n), n) for n in nodes if id(n) not in drop or id(n) in replace]

    def _constant_node(self, node: Any) -> np.ndarray:
        a = _attrs(node)
        if "value" in a:
            return numpy_helper.to_array(a["value"])
        for key, dt in (("value_float", np.float32), ("value_int", np.int64)):
            if key in a:
                return np.array(a[key], dt)
        for key, dt in (("value_floats", np.float32), ("value_ints", np.int64)):
            if key in a:
                return np.array(list(a[key]), dt)
        raise UnsupportedOpError(f"Constant node {node.name!r}: unsupported value attribute")

    # ---------------------------------------------------------------- values
    def _shape(self, name: str) -> tuple[int, ...]:
        if name in self.consts:
            return tuple(self.consts[name].shape)
        if name not in self.shapes:
            where = f" (node {self.node.name!r}, {self.node.op_type})" if self.node else ""
            raise UnsupportedOpError(f"{self.source}: tensor {name!r}{where} has no static "
                                     f"shape after shape inference")
        return self.shapes[name]

    def _dtype(self, name: str) -> str:
        if name in self.consts:
            return _np_to_ir(self.consts[name].dtype)
        return _ir_dtype(self.types.get(name, 0), f"tensor {name!r}")

    def _unique(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            name = f"{base}_{k}"
            k += 1
        self._names.add(name)
        return name

    def _new_value(self, name: str, shape: Sequence[int], dtype: str, **kw: Any) -> Value:
        return Value(self._unique(name), shape, dtype, **kw)

    def const(self, data: np.ndarray, name: str = "const", dtype: str | None = None) -> Value:
        """A new constant value (int64 parameters become int32, as TFLite stores them)."""
        arr = np.asarray(data)
        if dtype is None:
            dtype = "int32" if arr.dtype == np.int64 else _np_to_ir(arr.dtype)
        from picojoule.ir.dtypes import to_numpy

        arr = np.ascontiguousarray(arr.astype(to_numpy(dtype)))
        return self._new_value(name, arr.shape, dtype, data=arr)

    def value(self, name: str) -> Value:
        """The IR value of ONNX tensor ``name`` (constants become float32/int32 values)."""
        if name in self.values:
            return self.values[name]
        if name in self.consts:
            arr = self.consts[name]
            dtype = "int32" if arr.dtype == np.int64 else _np_to_ir(arr.dtype)
            v = self.const(arr, name, dtype)
            self.values[name] = v
            return v
        raise self.fail(f"tensor {name!r} is used before it is produced")

    def is_const(self, name: str) -> bool:
        return bool(name) and name in self.consts

    def cdata(self, name: str, what: str) -> np.ndarray:
        if not self.is_const(name):
            raise self.unsupported(f"a non-constant {what}")
        return self.consts[name]

    def opset_of(self, domain: str) -> int:
        """The model's version of an operator set ("" and "ai.onnx": the default one)."""
        domains = ("", "ai.onnx") if domain in ("", "ai.onnx") else (domain,)
        return max((imp.version for imp in self.proto.opset_import if imp.domain in domains),
                   default=0)

    def unsupported(self, what: str) -> UnsupportedOpError:
        n = self.node
        return UnsupportedOpError(f"ONNX {n.op_type} (node {n.name!r}, opset "
                                  f"{self.opset_of(n.domain)}): {what} is not supported")

    def emit(self, op: str, inputs: Sequence[Value | None], shape: Sequence[int],
             dtype: str = "float32", attrs: dict[str, Any] | None = None, *,
             out: str | None = None, quant: Quant | None = None) -> Value:
        """Add an IR node with one output; ``out`` binds it to an ONNX tensor name."""
        base = out if out is not None else f"{self.node.name or self.node.op_type}/{op.lower()}"
        v = self._new_value(base, shape, dtype, quant=quant)
        n = Node(op, inputs, [v], attrs, name=self._unique(f"{self.node.name or op.lower()}"
                                                            f"/{op.lower()}"))
        n.meta["onnx_node"] = self.node.name
        self.g.add_node(n)
        if out is not None:
            self.values[out] = v
        return v

    def emit_multi(self, op: str, inputs: Sequence[Value | None],
                   outs: Sequence[tuple[str, Sequence[int]]], dtype: str = "float32",
                   attrs: dict[str, Any] | None = None) -> list[Value]:
        vals = [self._new_value(n, s, dtype) for n, s in outs]
        node = Node(op, inputs, vals, attrs,
                    name=self._unique(f"{self.node.name or op.lower()}/{op.lower()}"))
        node.meta["onnx_node"] = self.node.name
        self.g.add_node(node)
        for (n, _), v in zip(outs, vals):
            self.values[n] = v
        return vals

    def bind(self, onnx_name: str, v: Value) -> None:
        self.values[onnx_name] = v

    # layout helpers --------------------------------------------------------
    def transpose(self, v: Value, perm: Sequence[int], out: str | None = None) -> Value:
        perm = [int(p) for p in perm]
        if perm == list(range(len(perm))) and out is None:
            return v
        return self.emit("TRANSPOSE", [v, self.const(np.array(perm, np.int32), "perm")],
                         _perm_shape(v.shape, perm), v.dtype, out=out, quant=v.quant)

    def reshape(self, v: Value, shape: Sequence[int], out: str | None = None) -> Value:
        shape = tuple(int(d) for d in shape)
        if shape == v.shape and out is None:
            return v
        return self.emit("RESHAPE", [v, self.const(np.array(shape, np.int32), "shape")],
                         shape, v.dtype, {"new_shape": list(shape)}, out=out, quant=v.quant)

    def to_nhwc(self, v: Value) -> Value:
        return self.transpose(v, NCHW_TO_NHWC)

    def from_nhwc(self, v: Value, out: str) -> Value:
        return self.transpose(v, NHWC_TO_NCHW, out=out)

    # ---------------------------------------------------------------- dispatch
    def _translate(self, node: Any) -> None:
        if node.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(
                f"ONNX op {node.op_type} (node {node.name!r}) of the custom domain "
                f"{node.domain!r} (version {self.opset_of(node.domain)}) is not supported: "
                f"picojoule reads the default ONNX operator set")
        from picojoule.importers.onnx_ops import HANDLERS

        handler: Callable[[_Importer, Any, dict[str, Any]], None] | None = HANDLERS.get(
            node.op_type)
        if handler is None:
            raise UnsupportedOpError(
                f"ONNX op {node.op_type} (node {node.name!r}, opset "
                f"{self.opset_of(node.domain)}) is not supported by picojoule's ONNX importer")
        try:
            handler(self, node, _attrs(node))
        except PicojouleError:
            raise
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise ModelFormatError(
                f"{self.source}: ONNX {node.op_type} node {node.name!r} is malformed "
                f"({type(exc).__name__}: {exc})") from None


def _np_to_ir(dt: np.dtype) -> str:
    dt = np.dtype(dt)
    if dt == np.bool_:
        return "bool"
    name = dt.name
    from picojoule.ir.dtypes import NUMPY_DTYPES

    if name not in NUMPY_DTYPES:
        raise UnsupportedOpError(f"constant of numpy type {name} is not supported")
    return name
