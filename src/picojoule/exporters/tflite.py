"""Write the IR as a ``.tflite`` flatbuffer: the exact inverse of :mod:`picojoule.importers.tflite`.

``loads(dumps(model))`` gives back the same graphs: ops, versions, attrs, tensor shapes,
dtypes, quantization, constant data, variable flags, op intermediates, graph inputs and
outputs, metadata entries and the description. The file is what TFLM and LiteRT expect
from their own converter (identifier ``"TFL3"``, schema version 3, buffer 0 the empty
sentinel, one buffer per constant, 16-byte aligned little-endian tensor data).

Conventions (the importer's, reversed):

- ``node.attrs`` are the op's builtin options, keyed by the schema's snake_case field
  names; ``padding``, ``fused_activation_function`` and TensorType fields
  (``out_data_type`` ...) may be given as the importer's strings or as raw integers.
  Keys the op's options table does not have raise :class:`ExportError`.
- An op with empty ``attrs`` gets no options table at all (what the importer reads as
  "absent"); the runtimes then use their defaults. Give at least one field (all of
  them, preferably) to get a table.
- Custom ops are ``"CUSTOM:<name>"`` with their raw flexbuffer bytes in
  ``attrs["custom_options"]``.
- ``None`` inputs are written as the absent-tensor index ``-1``.
- A Value many ops read (the shared weights of an unrolled RNN's steps) is one tensor
  with one buffer.
- Ops beyond TFLM's limits are split first (:mod:`picojoule.passes.legalize`), on a copy.
- A legacy uint8 model (run on int8 re-encodings, :mod:`picojoule.passes.uint8`) is written
  as the uint8 model again, from a copy.
- Tensors keep their original TFLite index order (``value.meta["tflite_index"]``) when
  they came from a file, so TFLM tensor indices of a round-tripped model are unchanged.
  The offline memory plan metadata (``OfflineMemoryAllocation``) is only kept when the
  main graph's tensor order is exactly the original one; otherwise it would assign
  arenas to the wrong tensors, and it is dropped (it is an optional hint).

Only this module and the importer import the ``tflite`` schema bindings.
"""

from __future__ import annotations

import inspect
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import flatbuffers
import numpy as np

from picojoule.errors import PicojouleError
from picojoule.importers.tflite import (
    _TYPE_FIELDS,
    _OPTION2_NAMES,
    _OPTION_NAMES,
    ACTIVATIONS,
    BUILTIN_NAMES,
    PADDING,
    TENSOR_TYPES,
    _option_fields,
    _snake,
)
from picojoule.ir import Graph, Model, Node, Value
from picojoule.ir.dtypes import to_numpy

import tflite as _schema  # noqa: E402  (imported after the importer, which checks it exists)


class ExportError(PicojouleError):
    """The IR cannot be written as a ``.tflite`` file (unknown op, bad attrs ...)."""


SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"
#: Alignment of constant tensor data inside the file (TFLM needs >= 4, SIMD kernels 16).
DATA_ALIGNMENT = 16

_BUILTIN_CODES: dict[str, int] = {name: code for code, name in BUILTIN_NAMES.items()}
_DTYPE_CODES: dict[str, int] = {name: code for code, name in TENSOR_TYPES.items()}
_PADDING_CODES = {name: code for code, name in PADDING.items()}
_ACTIVATION_CODES = {name: code for code, name in ACTIVATIONS.items()}
_CUSTOM = 32

#: Ops whose options table is not named after the op (the schema shares some tables).
_OPTIONS_EXCEPTIONS: dict[str, str] = {
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "L2_POOL_2D": "Pool2DOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "MAXIMUM": "MaximumMinimumOptions",
    "MINIMUM": "MaximumMinimumOptions",
    "UNIDIRECTIONAL_SEQUENCE_RNN": "SequenceRNNOptions",
    "MEAN": "ReducerOptions",
    "SUM": "ReducerOptions",
    "REDUCE_PROD": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions",
    "REDUCE_ANY": "ReducerOptions",
    "REDUCE_ALL": "ReducerOptions",
    "RANDOM_STANDARD_NORMAL": "RandomOptions",
    "RANDOM_UNIFORM": "RandomOptions",
    "MULTINOMIAL": "RandomOptions",
    "CONV_3D_TRANSPOSE": "Conv3DOptions",
}


def _norm(name: str) -> str:
    return name.replace("_", "").lower()


def _build_options_table() -> dict[str, tuple[str, int, int]]:
    """op name -> (options class, union type code, 1 or 2 for builtin_options/_options2).

    Derived from the schema's own enums: ``CONV_2D`` matches ``Conv2DOptions`` once
    underscores and case are ignored; the shared tables are listed in
    ``_OPTIONS_EXCEPTIONS``. Ops with no options table (``RELU``, ``LOGISTIC`` ...) are absent.
    """
    by_class: dict[str, tuple[int, int]] = {}
    for which, names in ((1, _OPTION_NAMES), (2, _OPTION2_NAMES)):
        for code, cls in names.items():
            if cls != "NONE":
                by_class[cls] = (code, which)
    by_norm = {_norm(cls[: -len("Options")]): cls for cls in by_class}
    table: dict[str, tuple[str, int, int]] = {}
    for op in _BUILTIN_CODES:
        cls = _OPTIONS_EXCEPTIONS.get(op) or by_norm.get(_norm(op))
        if cls is not None:
            table[op] = (cls, *by_class[cls])
    return table


#: op name -> (options class name, union type, 1 = builtin_options / 2 = builtin_options2).
OPTIONS_CLASSES: dict[str, tuple[str, int, int]] = _build_options_table()

_FLAG_DTYPES = {
    "Bool": "<?", "Int8": "<i1", "Uint8": "<u1", "Int16": "<i2", "Uint16": "<u2",
    "Int32": "<i4", "Uint32": "<u4", "Int64": "<i8", "Uint64": "<u8",
    "Float32": "<f4", "Float64": "<f8",
}


@lru_cache(maxsize=None)
def _field_writers(cls_name: str) -> dict[str, tuple[str, str, str | None]]:
    """snake_case field -> (CamelCase getter, kind, vector numpy dtype) for an options class.

    kind is "scalar", "vector", "string" or "table" (nested tables: not writable).
    The vector element type is read off the generated getter (``Int32Flags`` ...).
    """
    cls, fields = _option_fields(cls_name)
    out: dict[str, tuple[str, str, str | None]] = {}
    for getter, key, is_vector in fields:
        src = inspect.getsource(getattr(cls, getter))
        if is_vector:
            m = re.search(r"number_types\.(\w+)Flags, a \+", src)
            if m is None or m.group(1) not in _FLAG_DTYPES:
                out[key] = (getter, "table", None)
            else:
                out[key] = (getter, "vector", _FLAG_DTYPES[m.group(1)])
        elif "self._tab.String(" in src:
            out[key] = (getter, "string", None)
        elif "self._tab.Indirect(" in src or "self._tab.Union(" in src:
            out[key] = (getter, "table", None)
        else:
            out[key] = (getter, "scalar", None)
    return out


def _fn(name: str) -> Callable[..., Any]:
    """A generated builder function, e.g. ``Conv2DOptionsAddStrideW``."""
    fn = getattr(_schema, name, None)
    if fn is None:
        raise ExportError(f"the tflite schema bindings have no {name}() (package too old?)")
    return fn


def _enum_value(key: str, value: Any, where: str) -> Any:
    """Undo the importer's enum-to-string conversions."""
    if not isinstance(value, str):
        return value
    table = None
    if key == "padding":
        table = _PADDING_CODES
    elif key == "fused_activation_function":
        table = _ACTIVATION_CODES
    elif key in _TYPE_FIELDS:
        table = _DTYPE_CODES
    if table is None:
        raise ExportError(f"{where}: attr {key}={value!r}: a string for a numeric field")
    if value not in table:
        raise ExportError(f"{where}: attr {key}={value!r} is not one of {', '.join(table)}")
    return table[value]


class _Writer:
    def __init__(self, model: Model) -> None:
        self.model = model
        self.b = flatbuffers.Builder(1024)
        #: Buffer offsets in file order; 0 is the empty sentinel.
        self.buffers: list[int] = []
        self.opcodes: dict[tuple[str, int], int] = {}

    # -- helpers ------------------------------------------------------------------------------
    def aligned_bytes(self, data: bytes) -> int:
        """A ``[ubyte]`` vector whose first byte is DATA_ALIGNMENT-aligned in the file."""
        b = self.b
        b.StartVector(1, len(data), DATA_ALIGNMENT)
        b.head = b.head - len(data)
        b.Bytes[b.head:b.head + len(data)] = data
        return b.EndVector()

    def add_buffer(self, data: bytes | None) -> int:
        """Append a Buffer (``None``: empty) and return its index."""
        b = self.b
        vec = self.aligned_bytes(data) if data else None
        _schema.BufferStart(b)
        if vec is not None:
            _schema.BufferAddData(b, vec)
        self.buffers.append(_schema.BufferEnd(b))
        return len(self.buffers) - 1

    # -- tensors ---------------------------------------------------------------------------------
    @staticmethod
    def tensor_bytes(v: Value) -> bytes:
        data = np.asarray(v.data)
        if v.dtype == "string":  # the importer keeps TFLite's raw string buffer
            return data.astype(np.uint8).tobytes()
        want = tuple(v.shape)
        if tuple(data.shape) != want:
            if data.size != v.size:
                raise ExportError(f"value {v.name!r}: data has shape {list(data.shape)}, "
                                  f"declared {v.dtype}{list(want)}")
            data = data.reshape(want)
        if v.dtype == "int4":
            flat = data.astype(np.int64).reshape(-1)
            if flat.size and (flat.min() < -8 or flat.max() > 7):
                raise ExportError(f"value {v.name!r}: int4 data outside [-8, 7]")
            if flat.size % 2:
                flat = np.append(flat, 0)
            nib = (flat & 0xF).astype(np.uint8)
            return (nib[0::2] | (nib[1::2] << 4)).astype(np.uint8).tobytes()  # low nibble first
        npd = to_numpy(v.dtype)
        if npd == np.dtype(object):
            raise ExportError(f"value {v.name!r}: cannot write {v.dtype} data")
        if data.dtype != npd:
            raise ExportError(f"value {v.name!r}: data is {data.dtype}, declared {v.dtype} "
                              f"(held as {npd})")
        return np.ascontiguousarray(data, dtype=npd.newbyteorder("<")).tobytes()

    def quantization(self, v: Value) -> int | None:
        q = v.quant
        if q is None:
            return None
        b = self.b
        scale = b.CreateNumpyVector(np.asarray(q.scale, dtype="<f4"))
        zp = b.CreateNumpyVector(np.asarray(q.zero_point, dtype="<i8"))
        _schema.QuantizationParametersStart(b)
        _schema.QuantizationParametersAddScale(b, scale)
        _schema.QuantizationParametersAddZeroPoint(b, zp)
        _schema.QuantizationParametersAddQuantizedDimension(b, int(q.axis))
        return _schema.QuantizationParametersEnd(b)

    def tensor(self, v: Value) -> int:
        b = self.b
        if v.dtype not in _DTYPE_CODES:
            raise ExportError(f"value {v.name!r}: dtype {v.dtype!r} has no TFLite tensor type")
        buf = self.add_buffer(self.tensor_bytes(v)) if v.data is not None else 0
        name = b.CreateString(v.name)
        shape = b.CreateNumpyVector(np.asarray(v.shape, dtype="<i4"))
        sig = v.meta.get("shape_signature")
        sig_vec = None
        # The signature says which sizes are dynamic (-1); one that contradicts the shape
        # (left over from before a pass changed it) is not written.
        if sig is not None and len(sig) == len(v.shape) and all(
                int(s) == -1 or int(s) == d for s, d in zip(sig, v.shape)):
            sig_vec = b.CreateNumpyVector(np.asarray(sig, dtype="<i4"))
        quant = self.quantization(v)
        _schema.TensorStart(b)
        _schema.TensorAddShape(b, shape)
        _schema.TensorAddType(b, _DTYPE_CODES[v.dtype])
        _schema.TensorAddBuffer(b, buf)
        _schema.TensorAddName(b, name)
        if quant is not None:
            _schema.TensorAddQuantization(b, quant)
        if v.variable:
            _schema.TensorAddIsVariable(b, True)
        if sig_vec is not None:
            _schema.TensorAddShapeSignature(b, sig_vec)
        return _schema.TensorEnd(b)

    # -- operators ------------------------------------------------------------------------------
    def opcode(self, node: Node) -> int:
        key = (node.op, int(node.version))
        if key in self.opcodes:
            return self.opcodes[key]
        known = (node.op.startswith("CUSTOM:") or node.op in _BUILTIN_CODES
                 or (node.op.startswith("BUILTIN_") and node.op[8:].isdigit()))
        if not known:
            raise ExportError(f"node {node.name!r}: {node.op!r} is not a TFLite builtin op "
                              f"(custom ops are written 'CUSTOM:<name>')")
        self.opcodes[key] = len(self.opcodes)
        return self.opcodes[key]

    def write_opcodes(self) -> int:
        b = self.b
        offs = []
        for (op, version), _ in sorted(self.opcodes.items(), key=lambda kv: kv[1]):
            custom = b.CreateString(op[len("CUSTOM:"):]) if op.startswith("CUSTOM:") else None
            code = _CUSTOM if custom is not None else (
                _BUILTIN_CODES[op] if op in _BUILTIN_CODES else int(op[8:]))
            _schema.OperatorCodeStart(b)
            _schema.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            _schema.OperatorCodeAddBuiltinCode(b, code)
            if custom is not None:
                _schema.OperatorCodeAddCustomCode(b, custom)
            _schema.OperatorCodeAddVersion(b, version)
            offs.append(_schema.OperatorCodeEnd(b))
        return self.table_vector(_schema.ModelStartOperatorCodesVector, offs)

    def options(self, node: Node, where: str) -> tuple[int, int, int] | None:
        """Write node.attrs as its options table: (union type, offset, 1|2) or None."""
        attrs = {k: v for k, v in node.attrs.items() if k != "custom_options"}
        if not attrs:
            return None
        entry = OPTIONS_CLASSES.get(node.op)
        if entry is None:
            raise ExportError(f"{where}: {node.op} has no builtin options, but attrs "
                              f"{sorted(attrs)} were given")
        cls, utype, which = entry
        fields = _field_writers(cls)
        unknown = sorted(set(attrs) - set(fields))
        if unknown:
            raise ExportError(f"{where}: {cls} has no field(s) {unknown}; "
                              f"valid: {sorted(fields)}")
        b = self.b
        pre: dict[str, int] = {}
        scalars: dict[str, Any] = {}
        for key, value in attrs.items():
            getter, kind, vdtype = fields[key]
            if kind == "table":
                raise ExportError(f"{where}: attr {key!r} is a nested table; not supported")
            if kind == "vector":
                try:
                    arr = np.asarray(list(value), dtype=vdtype)
                except (TypeError, ValueError, OverflowError) as exc:
                    raise ExportError(f"{where}: attr {key}={value!r} is not a list of "
                                      f"{np.dtype(vdtype).name} ({exc})") from None
                pre[getter] = b.CreateNumpyVector(arr)
            elif kind == "string":
                text = value if isinstance(value, (str, bytes)) else str(value)
                pre[getter] = b.CreateString(text)
            else:
                value = _enum_value(key, value, where)
                if isinstance(value, np.generic):
                    value = value.item()
                scalars[getter] = value
        _fn(f"{cls}Start")(b)
        for getter, off in pre.items():
            _fn(f"{cls}Add{getter}")(b, off)
        for getter, value in scalars.items():
            try:
                _fn(f"{cls}Add{getter}")(b, value)
            except Exception as exc:  # noqa: BLE001 - struct.error etc. from flatbuffers' packing
                raise ExportError(f"{where}: attr {_snake(getter)}={value!r} cannot be "
                                  f"written ({type(exc).__name__}: {exc})") from None
        return utype, _fn(f"{cls}End")(b), which

    def operator(self, node: Node, index: dict[int, int], k: int, gname: str) -> int:
        b = self.b
        where = f"graph {gname!r} node {k} ({node.op} {node.name!r})"
        opcode = self.opcode(node)

        def idx(v: Value | None) -> int:
            if v is None:
                return -1
            if id(v) not in index:
                raise ExportError(f"{where}: value {v.name!r} is not part of the graph")
            return index[id(v)]

        ins = b.CreateNumpyVector(np.asarray([idx(v) for v in node.inputs], dtype="<i4"))
        outs = b.CreateNumpyVector(np.asarray([idx(v) for v in node.outputs], dtype="<i4"))
        inter = None
        if node.intermediates:
            inter = b.CreateNumpyVector(np.asarray([idx(v) for v in node.intermediates], "<i4"))
        custom = None
        if node.op.startswith("CUSTOM:"):
            raw = node.attrs.get("custom_options", b"")
            if not isinstance(raw, (bytes, bytearray, memoryview, np.ndarray)):
                raise ExportError(f"{where}: attrs['custom_options'] must be bytes, "
                                  f"got {type(raw).__name__}")
            raw = bytes(np.asarray(raw, dtype=np.uint8).tobytes() if isinstance(raw, np.ndarray)
                        else raw)
            if raw:
                custom = b.CreateNumpyVector(np.frombuffer(raw, np.uint8))
            opts = None
            extra = sorted(set(node.attrs) - {"custom_options"})
            if extra:
                raise ExportError(f"{where}: custom ops keep their options in "
                                  f"attrs['custom_options'] only; got also {extra}")
        else:
            if "custom_options" in node.attrs:
                raise ExportError(f"{where}: custom_options on a builtin op")
            opts = self.options(node, where)
        _schema.OperatorStart(b)
        _schema.OperatorAddOpcodeIndex(b, opcode)
        _schema.OperatorAddInputs(b, ins)
        _schema.OperatorAddOutputs(b, outs)
        if opts is not None:
            utype, off, which = opts
            if which == 1:
                _schema.OperatorAddBuiltinOptionsType(b, utype)
                _schema.OperatorAddBuiltinOptions(b, off)
            else:
                _schema.OperatorAddBuiltinOptions2Type(b, utype)
                _schema.OperatorAddBuiltinOptions2(b, off)
        if custom is not None:
            _schema.OperatorAddCustomOptions(b, custom)
            _schema.OperatorAddCustomOptionsFormat(b, 0)  # FLEXBUFFERS
        if inter is not None:
            _schema.OperatorAddIntermediates(b, inter)
        return _schema.OperatorEnd(b)

    def table_vector(self, start: Callable[..., Any], offs: list[int]) -> int:
        start(self.b, len(offs))
        for off in reversed(offs):
            self.b.PrependUOffsetTRelative(off)
        return self.b.EndVector()

    # -- graphs and model -------------------------------------------------------------------------
    @staticmethod
    def tensor_order(g: Graph) -> list[Value]:
        """The graph's values, original TFLite indices first (in order), new values after."""
        values = g.values()
        old = [v for v in values if isinstance(v.meta.get("tflite_index"), int)]
        new = [v for v in values if not isinstance(v.meta.get("tflite_index"), int)]
        old.sort(key=lambda v: v.meta["tflite_index"])
        return old + new

    def subgraph(self, g: Graph) -> tuple[int, bool]:
        """Write one graph; also say whether its tensor order is the file's original one."""
        b = self.b
        values = self.tensor_order(g)
        same_order = all(v.meta.get("tflite_index") == i for i, v in enumerate(values))
        index = {id(v): i for i, v in enumerate(values)}
        tensors = [self.tensor(v) for v in values]
        ops = [self.operator(n, index, k, g.name) for k, n in enumerate(g.nodes)]
        tvec = self.table_vector(_schema.SubGraphStartTensorsVector, tensors)
        ovec = self.table_vector(_schema.SubGraphStartOperatorsVector, ops)
        for what, vals in (("input", g.inputs), ("output", g.outputs)):
            for v in vals:
                if id(v) not in index:
                    raise ExportError(f"graph {g.name!r} {what} {v.name!r} is not in the graph")
        ivec = b.CreateNumpyVector(np.asarray([index[id(v)] for v in g.inputs], dtype="<i4"))
        outvec = b.CreateNumpyVector(np.asarray([index[id(v)] for v in g.outputs], dtype="<i4"))
        name = b.CreateString(g.name)
        _schema.SubGraphStart(b)
        _schema.SubGraphAddTensors(b, tvec)
        _schema.SubGraphAddInputs(b, ivec)
        _schema.SubGraphAddOutputs(b, outvec)
        _schema.SubGraphAddOperators(b, ovec)
        _schema.SubGraphAddName(b, name)
        return _schema.SubGraphEnd(b), same_order

    def model_bytes(self) -> bytes:
        m = self.model
        if not m.graphs:
            raise ExportError("model has no graphs")
        b = self.b
        self.add_buffer(None)  # buffer 0: the empty sentinel every tensor without data uses
        subgraphs = []
        main_same_order = True
        for sg, g in enumerate(m.graphs):
            off, same = self.subgraph(g)
            subgraphs.append(off)
            if sg == 0:
                main_same_order = same
        metadata = []
        for name, raw in m.metadata.items():
            if name == "OfflineMemoryAllocation" and not main_same_order:
                continue  # would plan arenas for the wrong tensors (see module docstring)
            buf = self.add_buffer(bytes(raw) if raw else None)
            nm = b.CreateString(name)
            _schema.MetadataStart(b)
            _schema.MetadataAddName(b, nm)
            _schema.MetadataAddBuffer(b, buf)
            metadata.append(_schema.MetadataEnd(b))
        opcodes = self.write_opcodes()
        sgvec = self.table_vector(_schema.ModelStartSubgraphsVector, subgraphs)
        bufvec = self.table_vector(_schema.ModelStartBuffersVector, self.buffers)
        mdvec = (self.table_vector(_schema.ModelStartMetadataVector, metadata)
                 if metadata else None)
        desc = b.CreateString(m.description) if m.description else None
        _schema.ModelStart(b)
        _schema.ModelAddVersion(b, SCHEMA_VERSION)
        _schema.ModelAddOperatorCodes(b, opcodes)
        _schema.ModelAddSubgraphs(b, sgvec)
        if desc is not None:
            _schema.ModelAddDescription(b, desc)
        _schema.ModelAddBuffers(b, bufvec)
        if mdvec is not None:
            _schema.ModelAddMetadata(b, mdvec)
        root = _schema.ModelEnd(b)
        b.Finish(root, file_identifier=FILE_IDENTIFIER)
        return bytes(b.Output())


def dumps(model: Model) -> bytes:
    """The ``.tflite`` flatbuffer for ``model``; an op beyond TFLM's limits (a CONCATENATION
    of more than 10 inputs) is written as TFLM takes it (:mod:`picojoule.passes.legalize`),
    from a copy: ``model`` itself is left as it is."""
    from picojoule.passes.legalize import LegalizeForTFLM, tflm_violations
    from picojoule.passes.uint8 import decode_uint8, is_encoded

    if is_encoded(model):  # a legacy uint8 model, run on int8 re-encodings: uint8 again
        model = decode_uint8(model.clone())
    if tflm_violations(model):
        model = LegalizeForTFLM()(model.clone()).model
    return _Writer(model).model_bytes()


def save(model: Model, path: str | Path) -> None:
    """Write ``model`` to ``path`` as a ``.tflite`` file."""
    data = dumps(model)
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror})") from None
