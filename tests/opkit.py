"""Single-op models for property tests: build one op in the IR, write it with picojoule's own
``.tflite`` writer, run it in an independent oracle and in picojoule, compare.

    from opkit import tensor, const, q, single_op_model, check_op

    x = tensor("x", (1, 8, 8, 3), "int8", q(0.05, -3))
    w = const("w", rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8), quant=q(scales, 0))
    b = const("b", rng.integers(-500, 500, 4, dtype=np.int32), quant=q(scales * 0.05, 0))
    y = tensor("y", (1, 8, 8, 4), "int8", q(0.1, 2))
    m = single_op_model("CONV_2D", [x, w, b], [y], attrs=dict(
        padding="SAME", stride_w=1, stride_h=1, dilation_w_factor=1, dilation_h_factor=1,
        fused_activation_function="NONE"))
    check_op(m)                     # TFLM; or oracle="litert_ref" / "litert"

attrs use the importer's conventions (snake_case schema field names, enum strings). An op
with empty attrs gets no options table, so give every field the op's kernel reads.

Expected values come from the oracle only: picojoule's interpreter runs on the model read
back from the written bytes, so the writer and the importer are exercised too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, Iterator, Sequence

import numpy as np

from oracles import LiteRtSession, TflmSession, assert_same
from picojoule.exporters.tflite import dumps
from picojoule.importers.tflite import loads
from picojoule.ir import Graph, Model, Node, Quant, Value
from picojoule.ir.dtypes import NUMPY_DTYPES, to_numpy
from picojoule.runtime import Interpreter, random_inputs

__all__ = ["tensor", "const", "variable", "q", "single_op_model", "check_op", "feeds_for",
           "run_oracle", "model_bytes", "tflm_session", "OracleRefused", "run_c", "check_c"]

#: numpy dtype -> IR dtype name (int4 must be asked for explicitly: it is held in int8).
_IR_DTYPES: dict[np.dtype, str] = {
    npd: name for name, npd in NUMPY_DTYPES.items()
    if name not in ("int4", "resource", "string", "variant")
}


class OracleRefused(AssertionError):
    """The oracle would not prepare/allocate/run the model; the message says why."""


def q(scale: Any, zero_point: Any = 0, axis: int = 0) -> Quant:
    """Quantization: scalars (per-tensor) or arrays (per-channel along ``axis``)."""
    return Quant(np.atleast_1d(np.asarray(scale, np.float32)),
                 np.atleast_1d(np.asarray(zero_point, np.int64)), axis)


def tensor(name: str, shape: Sequence[int], dtype: str, quant: Quant | None = None) -> Value:
    """A non-constant tensor: a graph input (as an op input) or a graph output."""
    return Value(name, tuple(shape), dtype, quant=quant)


def const(name: str, array: Any, dtype: str | None = None, quant: Quant | None = None) -> Value:
    """A constant tensor; the IR dtype is inferred from the array's numpy dtype unless given
    (give ``"int4"`` explicitly: values in [-8, 7] held in an int8 array)."""
    arr = np.asarray(array)
    if dtype is None:
        if arr.dtype not in _IR_DTYPES:
            raise TypeError(f"const {name!r}: no IR dtype for numpy {arr.dtype}; pass dtype=")
        dtype = _IR_DTYPES[arr.dtype]
    arr = np.array(arr, dtype=to_numpy(dtype), order="C")  # keeps 0-d (ascontiguousarray would not)
    return Value(name, arr.shape, dtype, quant=quant, data=arr)


def variable(name: str, shape: Sequence[int], dtype: str, quant: Quant | None = None,
             init: Any = None) -> Value:
    """A variable (state) tensor, e.g. SVDF's activation state; optional initial contents."""
    data = None if init is None else np.asarray(init, to_numpy(dtype)).reshape(tuple(shape))
    return Value(name, tuple(shape), dtype, quant=quant, data=data, variable=True)


def single_op_model(op: str, inputs: Sequence[Value | None], outputs: Sequence[Value],
                    attrs: dict[str, Any] | None = None, version: int = 1) -> Model:
    """A one-node model. Non-constant, non-variable inputs become the graph inputs (in order,
    each once); ``outputs`` are the graph outputs. ``None`` inputs are absent optional ones."""
    for v in [*inputs, *outputs]:
        if v is not None and (v.producer is not None or v.uses()):
            raise ValueError(f"value {v.name!r} already belongs to another model's node; "
                             "make fresh tensor()/const() values for each model")
    g = Graph("main")
    seen: set[int] = set()
    for v in inputs:
        if v is not None and v.data is None and not v.variable and id(v) not in seen:
            seen.add(id(v))
            g.inputs.append(v)
    g.add_node(Node(op, inputs, outputs, attrs or {}, name=f"{op.lower()}_0", version=version))
    g.outputs = list(outputs)
    model = Model([g], source=f"opkit:{op}")
    model.verify()
    return model


def model_bytes(model: Model) -> bytes:
    """The model as written by picojoule's ``.tflite`` writer."""
    return dumps(model)


def feeds_for(model: Model, seeds: Sequence[int] = (0, 1, 2)) -> list[list[np.ndarray]]:
    """Seeded random inputs (picojoule's random_inputs: full integer range, floats ~ N(0,1))."""
    return [random_inputs(model.main, s) for s in seeds]


@contextlib.contextmanager
def _captured_fds() -> Iterator[list[str]]:
    """Capture what C++ code prints on fds 1 and 2 (TFLM explains refusals there)."""
    out: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = [os.dup(1), os.dup(2)]
        try:
            for fd in (1, 2):
                os.dup2(tmp.fileno(), fd)
            yield out
        finally:
            for fd, s in zip((1, 2), saved):
                os.dup2(s, fd)
                os.close(s)
            tmp.seek(0)
            out.append(tmp.read().decode("utf-8", "replace"))


def _arena_size(model: Model, data: bytes) -> int:
    """TFLM's Python binding sizes the arena as 10x the file; tiny single-op files with big
    activations need more. Preserve-all keeps every tensor, so budget for all of them."""
    total = sum(v.nbytes for g in model.graphs for v in g.values())
    return max(len(data) * 10, 4 * total + (256 << 10))


def tflm_session(data: bytes, model: Model | None = None,
                 arena_size: int | None = None) -> TflmSession:
    """A TFLM session on ``data`` with an arena big enough for every tensor.

    oracles.TflmSession lets the binding pick 10x the file size, which is too small for
    small files with large activations: TFLM then fails to allocate, and the binding may
    crash the process (segfault) instead of raising.
    """
    if arena_size is None:
        arena_size = _arena_size(model if model is not None else loads(data), data)
    return TflmSession(data, preserve_all=True, arena_size=arena_size)


def _refused(oracle: str, stage: str, exc: BaseException, printed: list[str]) -> OracleRefused:
    said = " | ".join(line.strip() for line in "".join(printed).splitlines() if line.strip())
    return OracleRefused(f"{oracle} refused the model at {stage}: {type(exc).__name__}: {exc}"
                         + (f" -- it printed: {said[:2000]}" if said else ""))


def run_oracle(model: Model, feeds: Sequence[Sequence[np.ndarray]], oracle: str = "tflm",
               data: bytes | None = None) -> list[list[np.ndarray]]:
    """Run ``feeds`` in sequence through one oracle interpreter; its outputs per feed."""
    data = dumps(model) if data is None else data
    printed: list[str] = []
    try:
        with _captured_fds() as printed:
            if oracle == "tflm":
                sess: Any = tflm_session(data, model)
            elif oracle in ("litert_ref", "litert"):
                sess = LiteRtSession(data, reference=oracle == "litert_ref")
            else:
                raise ValueError(f"unknown oracle {oracle!r} (tflm, litert_ref, litert)")
    except ValueError as exc:
        if "unknown oracle" in str(exc):
            raise
        raise _refused(oracle, "prepare", exc, printed) from None
    except RuntimeError as exc:
        raise _refused(oracle, "prepare", exc, printed) from None
    results = []
    for k, x in enumerate(feeds):
        printed = []
        try:
            with _captured_fds() as printed:
                outs = sess.run(list(x))
        except (RuntimeError, ValueError) as exc:
            raise _refused(oracle, f"invoke (feed {k})", exc, printed) from None
        results.append(outs)
    return results


def check_op(model: Model, oracle: str = "tflm", seeds: Sequence[int] = (0, 1, 2),
             feeds: Sequence[Sequence[np.ndarray]] | None = None,
             rtol: float = 1e-5) -> list[list[np.ndarray]]:
    """Write ``model`` with picojoule's writer, run the oracle and picojoule on the same feeds
    (in sequence, so state carries over), assert identical integers / floats within ``rtol``.

    ``feeds``: list of input lists (default: ``feeds_for(model, seeds)``).
    Returns the oracle's outputs: one list of output arrays per feed.
    Raises :class:`OracleRefused` (an AssertionError) with the oracle's complaint when the
    oracle cannot prepare or run the model.
    """
    data = dumps(model)
    reread = loads(data, source=f"<written {model.source or 'model'}>")
    if feeds is None:
        feeds = feeds_for(reread, seeds)
    want = run_oracle(reread, feeds, oracle, data)
    ours = Interpreter(reread)
    op = model.main.nodes[0].op if model.main.nodes else "model"
    for k, (x, expected) in enumerate(zip(feeds, want)):
        got = ours.run([np.asarray(a) for a in x])
        assert len(got) == len(expected), (
            f"{op} feed {k}: picojoule gave {len(got)} outputs, {oracle} {len(expected)}")
        for i, (a, b) in enumerate(zip(got, expected)):
            assert_same(a, b, f"{op} vs {oracle}, feed {k}, output {i}", rtol=rtol)
    return want


# --------------------------------------------------------------------------- generated C
#: Where check_c can run a model's generated C: the host (portable, or the DSP data layout
#: with SMLAD emulated) and QEMU boards (skipped when the toolchain is missing).
BOARDS = {"m4": "mps2-an386", "m55": "mps3-an547"}


def run_c(model: Model, feeds: Sequence[Sequence[np.ndarray]], where: Sequence[str] = ("host",),
          name: str = "op", timeout: int = 120) -> list[tuple[str, list[list[np.ndarray]]]]:
    """``(place, outputs per feed)`` of the generated C for each place in ``where``: "host",
    "host-dsp" (the SMLAD layout on the host), "m4", "m55". Feeds run in sequence on one
    library / firmware start, so state carries over as in the oracles; the host library
    starts from a fresh state."""
    from picojoule.backends import host, qemu

    results = []
    for place in where:
        if place.startswith("host"):
            lib = host.build(model, name=name, dsp=True if place == "host-dsp" else None)
            reset = getattr(lib._lib, f"{name}_reset", None)
            if reset is not None:
                reset()  # the library may come from the build cache, state and all
            results.append((place, [lib.run(list(x)) for x in feeds]))
        elif qemu.toolchain_missing() is None:
            fw = qemu.build(model, BOARDS[place], name=name)
            results.append((place, [outs for outs, _ in fw.run_many(feeds, timeout=timeout)]))
    return results


def check_c(model: Model, feeds: Sequence[Sequence[np.ndarray]] | None = None, *,
            seeds: Sequence[int] = (0, 1), oracle: str = "tflm",
            want: Sequence[Sequence[np.ndarray]] | None = None,
            where: Sequence[str] = ("host",), rtol: float = 1e-5, select=None,
            exact_dtypes: bool = False) -> None:
    """The generated C gives the oracle's outputs on every feed, at every place in ``where``
    (see :func:`run_c`): identical integers, floats within ``rtol``. ``want``: expected
    outputs from another independent source instead of ``oracle``; ``select(feed, output,
    expected outputs)``: the index of the part to compare (what the oracle defines)."""
    feeds = feeds_for(model, seeds) if feeds is None else feeds
    want = run_oracle(model, feeds, oracle) if want is None else want
    for where_, got in run_c(model, feeds, where):
        for k, (g, w) in enumerate(zip(got, want)):
            assert len(g) == len(w), f"{where_} feed {k}: {len(g)} outputs, expected {len(w)}"
            for i, (a, b) in enumerate(zip(g, w)):
                what = f"{where_} feed {k} output {i}"
                if exact_dtypes:
                    assert a.dtype == b.dtype, f"{what}: {a.dtype} vs {b.dtype}"
                part = select(k, i, w) if select is not None else ()
                assert_same(np.asarray(a)[part], np.asarray(b)[part], what, rtol=rtol)
