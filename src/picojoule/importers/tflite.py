"""Read a ``.tflite`` flatbuffer into the IR, mapping the format 1:1.

Every tensor becomes a :class:`~picojoule.ir.Value` (constant buffers as numpy
arrays, per-tensor or per-channel quantization), every operator a
:class:`~picojoule.ir.Node` whose ``attrs`` are its builtin options in snake_case
(``stride_w``, ``fused_activation_function`` ...). Custom ops keep their name
(``op == "CUSTOM:<name>"``) and raw option bytes (``attrs["custom_options"]``).
Metadata entries are kept raw, and TFLM's offline memory plan is decoded into
``model.meta["offline_memory_plan"]``.

No optimisation happens here; passes do that on the IR.
"""

from __future__ import annotations

import re
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from picojoule.errors import ModelFormatError
from picojoule.importers._files import read_model_file
from picojoule.ir import Graph, Model, Node, Quant, Value

try:  # the generated schema bindings print nothing on import, but are large
    import tflite as _schema
except ImportError as exc:  # pragma: no cover - a packaging error, not user input
    raise ImportError("picojoule needs the 'tflite' package to read .tflite files") from exc

#: TFLite TensorType enum -> IR dtype name.
TENSOR_TYPES: dict[int, str] = {
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string",
    6: "bool", 7: "int16", 8: "complex64", 9: "int8", 10: "float64", 12: "uint64",
    13: "resource", 14: "variant", 15: "uint32", 16: "uint16", 17: "int4",
}
PADDING = {0: "SAME", 1: "VALID"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
#: Option fields whose integer is a TensorType.
_TYPE_FIELDS = {"output_type", "in_data_type", "out_data_type", "out_type", "idx_out_type",
                "quantized_bias_type"}

BUILTIN_NAMES: dict[int, str] = {
    v: k for k, v in vars(_schema.BuiltinOperator).items() if k.isupper() and isinstance(v, int)
}
_OPTION_NAMES: dict[int, str] = {
    v: k for k, v in vars(_schema.BuiltinOptions).items() if not k.startswith("_") and isinstance(v, int)
}
_OPTION2_NAMES: dict[int, str] = {
    v: k for k, v in vars(_schema.BuiltinOptions2).items() if not k.startswith("_") and isinstance(v, int)
}
_SKIP_SUFFIXES = ("AsNumpy", "IsNone", "Length", "BufferHasIdentifier")


def _snake(name: str) -> str:
    """``DilationHFactor`` -> ``dilation_h_factor`` (the schema's own field names)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


@lru_cache(maxsize=None)
def _option_fields(cls_name: str) -> tuple[type, tuple[tuple[str, str, bool], ...]]:
    """(class, ((getter, snake_name, is_vector), ...)) for an options table class."""
    cls = getattr(_schema, cls_name)
    names = [n for n in dir(cls) if n[:1].isupper()]
    fields = []
    for n in names:
        if n in ("Init",) or n.startswith("GetRootAs") or n.endswith(_SKIP_SUFFIXES):
            continue
        fields.append((n, _snake(n), f"{n}Length" in names))
    return cls, tuple(fields)


def _decode_options(table: Any, cls_name: str) -> dict[str, Any]:
    cls, fields = _option_fields(cls_name)
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    attrs: dict[str, Any] = {}
    for getter, key, is_vector in fields:
        if is_vector:
            as_np = getattr(obj, f"{getter}AsNumpy", None)
            if as_np is not None:
                arr = as_np()
                attrs[key] = [] if isinstance(arr, int) else arr.tolist()
            else:
                attrs[key] = [getattr(obj, getter)(j) for j in range(getattr(obj, f"{getter}Length")())]
            continue
        try:
            val = getattr(obj, getter)()
        except TypeError:  # a getter that needs arguments: a nested table we do not map
            continue
        if val is not None and not isinstance(val, (int, float, bool, bytes)):
            continue  # nested table (StableHLO composites): not mapped
        if key == "padding":
            val = PADDING.get(val, val)
        elif key == "fused_activation_function":
            val = ACTIVATIONS.get(val, val)
        elif key in _TYPE_FIELDS:
            val = TENSOR_TYPES.get(val, val)
        attrs[key] = val
    return attrs


def load(path: str | Path) -> Model:
    """Read the ``.tflite`` file at ``path``."""
    return loads(read_model_file(path), source=str(path))


def loads(data: bytes, source: str = "<bytes>") -> Model:
    """Read a ``.tflite`` model from bytes."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ModelFormatError(f"{source}: not a .tflite model (no 'TFL3' flatbuffer identifier)")
    try:
        return _Reader(data, source).model()
    except ModelFormatError:
        raise
    except struct.error:
        raise ModelFormatError(
            f"{source}: truncated or corrupted .tflite file (an offset points past the end of "
            f"its {len(data):,} bytes)") from None
    except (IndexError, ValueError, TypeError, UnicodeDecodeError, AttributeError,
            OverflowError, MemoryError) as exc:
        raise ModelFormatError(
            f"{source}: corrupted .tflite file ({type(exc).__name__}: {exc})") from None


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.source = source
        self.fb = _schema.Model.GetRootAs(data, 0)
        self._buffers: dict[int, np.ndarray | None] = {}

    def fail(self, msg: str) -> ModelFormatError:
        return ModelFormatError(f"{self.source}: {msg}")

    def buffer(self, index: int) -> np.ndarray | None:
        """Raw bytes of buffer ``index`` (None when empty)."""
        if index in self._buffers:
            return self._buffers[index]
        if not 0 <= index < self.fb.BuffersLength():
            raise self.fail(f"buffer index {index} out of range (model has {self.fb.BuffersLength()})")
        buf = self.fb.Buffers(index)
        raw: np.ndarray | None = None
        if buf.Offset() > 1:
            start, size = buf.Offset(), buf.Size()
            if start + size > len(self.data):
                raise self.fail(f"buffer {index} lies past the end of the file (truncated?)")
            raw = np.frombuffer(self.data, np.uint8, size, start)
        elif buf.DataLength() > 0:
            raw = buf.DataAsNumpy()
        self._buffers[index] = raw
        return raw

    def model(self) -> Model:
        fb = self.fb
        if fb.SubgraphsLength() == 0:
            raise self.fail("model has no subgraphs")
        opcodes = [self.opcode(i) for i in range(fb.OperatorCodesLength())]
        graphs = [self.graph(fb.Subgraphs(i), i, opcodes) for i in range(fb.SubgraphsLength())]
        metadata: dict[str, bytes] = {}
        for i in range(fb.MetadataLength()):
            md = fb.Metadata(i)
            raw = self.buffer(md.Buffer())
            metadata[(md.Name() or b"").decode("utf-8", "replace")] = b"" if raw is None else raw.tobytes()
        desc = fb.Description()
        model = Model(graphs=graphs, description=desc.decode("utf-8", "replace") if desc else "",
                      metadata=metadata, source=self.source)
        model.meta["tflite_version"] = fb.Version()
        if "OfflineMemoryAllocation" in metadata:
            model.meta["offline_memory_plan"] = self.offline_plan(metadata["OfflineMemoryAllocation"])
        return model

    def offline_plan(self, raw: bytes) -> dict[str, Any]:
        words = np.frombuffer(raw[: len(raw) // 4 * 4], "<i4")
        if words.size < 3:
            raise self.fail("OfflineMemoryAllocation metadata is shorter than its 3-word header")
        count = int(words[2])
        if words.size < 3 + count:
            raise self.fail("OfflineMemoryAllocation metadata lists more offsets than it holds")
        return {"version": int(words[0]), "subgraph": int(words[1]),
                "offsets": [int(x) for x in words[3:3 + count]]}

    def opcode(self, i: int) -> tuple[str, int]:
        oc = self.fb.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        if code == 32:  # CUSTOM
            name = (oc.CustomCode() or b"").decode("utf-8", "replace")
            if not name.isprintable() or len(name) > 256:
                raise self.fail(f"operator code {i}: its custom code is not a name "
                                f"({name[:40]!r}{'...' if len(name) > 40 else ''})")
            return f"CUSTOM:{name}", oc.Version()
        if code not in BUILTIN_NAMES:
            return f"BUILTIN_{code}", oc.Version()
        return BUILTIN_NAMES[code], oc.Version()

    def tensor(self, t: Any, idx: int, sg: int) -> Value:
        ttype = t.Type()
        if ttype not in TENSOR_TYPES:
            raise self.fail(f"subgraph {sg} tensor {idx}: unknown tensor type {ttype}")
        dtype = TENSOR_TYPES[ttype]
        shape = [int(d) for d in t.ShapeAsNumpy()] if t.ShapeLength() else []
        if any(d < 0 for d in shape):
            raise self.fail(f"subgraph {sg} tensor {idx}: negative dimension in shape {shape}")
        name = (t.Name() or b"").decode("utf-8", "replace") or f"t{idx}"
        quant = None
        q = t.Quantization()
        if q is not None and q.ScaleLength() > 0:
            zp = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(1, np.int64)
            quant = Quant(q.ScaleAsNumpy(), zp, q.QuantizedDimension())
            if quant.per_channel and not 0 <= quant.axis < max(len(shape), 1):
                # TFLM accepts a per-channel 1-D tensor whose quantized_dimension names the
                # filter's channel axis (old converters wrote 3 for conv biases); LiteRT does
                # not. The only axis such a tensor has is 0.
                if len(shape) == 1 and shape[0] == quant.scale.size:
                    quant.axis = 0
                else:
                    raise self.fail(f"tensor {name!r}: quantized_dimension {quant.axis} "
                                    f"outside its rank {len(shape)}")
        data = None
        raw = self.buffer(t.Buffer())
        if raw is not None:
            data = self.tensor_data(raw, dtype, shape, name)
        value = Value(name, shape, dtype, quant=quant, data=data, variable=bool(t.IsVariable()))
        if t.ShapeSignatureLength():
            value.meta["shape_signature"] = [int(d) for d in t.ShapeSignatureAsNumpy()]
        if t.Sparsity() is not None:
            value.meta["sparse"] = True
        value.meta["tflite_index"] = idx
        return value

    def tensor_data(self, raw: np.ndarray, dtype: str, shape: list[int], name: str) -> np.ndarray:
        count = int(np.prod(shape, dtype=np.int64))
        if dtype == "string":
            return np.frombuffer(raw.tobytes(), np.uint8).copy()  # raw TFLite string buffer
        if dtype == "int4":
            if raw.size * 2 < count:
                raise self.fail(f"tensor {name!r}: int4 buffer holds {raw.size * 2} values, needs {count}")
            b = raw.view(np.int8)
            lo = (b << 4).astype(np.int8) >> 4
            hi = b >> 4
            vals = np.stack([lo, hi], axis=-1).reshape(-1)[:count]
            return vals.astype(np.int8).reshape(shape)
        from picojoule.ir.dtypes import to_numpy

        npd = to_numpy(dtype).newbyteorder("<")
        if raw.size != count * npd.itemsize:
            raise self.fail(f"tensor {name!r}: buffer has {raw.size} bytes, "
                            f"{dtype}{shape} needs {count * npd.itemsize}")
        return np.frombuffer(raw.tobytes(), npd).astype(to_numpy(dtype)).reshape(shape)

    def graph(self, sgfb: Any, sg: int, opcodes: list[tuple[str, int]]) -> Graph:
        name = (sgfb.Name() or b"").decode("utf-8", "replace") or ("main" if sg == 0 else f"subgraph{sg}")
        g = Graph(name)
        ntensors = sgfb.TensorsLength()
        values = [self.tensor(sgfb.Tensors(i), i, sg) for i in range(ntensors)]

        def val(i: int, what: str) -> Value | None:
            if i == -1:
                return None
            if not 0 <= i < ntensors:
                raise self.fail(f"subgraph {sg} {what}: tensor index {i} out of range ({ntensors} tensors)")
            return values[i]

        def io(i: int, what: str) -> Value:
            v = val(i, what)
            if v is None:
                raise self.fail(f"subgraph {sg} {what}: tensor index -1")
            return v

        g.inputs = [io(int(i), "input") for i in (sgfb.InputsAsNumpy() if sgfb.InputsLength() else [])]
        g.outputs = [io(int(i), "output") for i in (sgfb.OutputsAsNumpy() if sgfb.OutputsLength() else [])]
        for k in range(sgfb.OperatorsLength()):
            g.add_node(self.node(sgfb.Operators(k), k, sg, opcodes, val))
        produced = {id(v) for n in g.nodes for v in n.outputs} | {id(v) for v in g.inputs}
        for n in g.nodes:
            for v in n.inputs:
                if v is not None and v.data is None and not v.variable and id(v) not in produced:
                    v.meta["scratch"] = True  # TFLM allocates it; nothing writes it before use
        g.meta["tflite_values"] = values
        return g

    def node(self, op: Any, k: int, sg: int, opcodes: list[tuple[str, int]], val: Any) -> Node:
        idx = op.OpcodeIndex()
        if not 0 <= idx < len(opcodes):
            raise self.fail(f"subgraph {sg} operator {k}: opcode index {idx} out of range")
        name, version = opcodes[idx]
        where = f"operator {k} ({name})"
        ins = [val(int(i), where) for i in (op.InputsAsNumpy() if op.InputsLength() else [])]
        outs = [val(int(i), where) for i in (op.OutputsAsNumpy() if op.OutputsLength() else [])]
        if any(o is None for o in outs):
            raise self.fail(f"subgraph {sg} {where}: output tensor index -1")
        attrs: dict[str, Any] = {}
        otype = op.BuiltinOptionsType()
        if otype:
            table = op.BuiltinOptions()
            cls_name = _OPTION_NAMES.get(otype)
            if table is not None and cls_name is not None:
                attrs.update(_decode_options(table, cls_name))
        otype2 = op.BuiltinOptions2Type()
        if otype2:
            table = op.BuiltinOptions2()
            cls_name = _OPTION2_NAMES.get(otype2)
            if table is not None and cls_name is not None:
                attrs.update(_decode_options(table, cls_name))
        if name.startswith("CUSTOM:"):
            if op.LargeCustomOptionsSize() > 0:
                start, size = op.LargeCustomOptionsOffset(), op.LargeCustomOptionsSize()
                attrs["custom_options"] = bytes(self.data[start:start + size])
            elif op.CustomOptionsLength() > 0:
                attrs["custom_options"] = op.CustomOptionsAsNumpy().tobytes()
            else:
                attrs["custom_options"] = b""
        node = Node(name, ins, outs, attrs, name=f"{name.lower()}_{k}", version=version)
        if op.IntermediatesLength():
            node.intermediates = [val(int(i), where) for i in op.IntermediatesAsNumpy()]
        node.meta["tflite_index"] = k
        return node
