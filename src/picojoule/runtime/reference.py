"""The reference interpreter: runs a graph op by op with the registry's numpy kernels.

Kernels are prepared once (all float -> fixed-point work) when the interpreter is
built; :meth:`Interpreter.run` then only moves arrays between kernels. Variable
(state) tensors keep their contents across runs until :meth:`Interpreter.reset`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from picojoule.errors import InputError, PicojouleError
from picojoule.ir import Graph, Model, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops import lookup


def _describe(dtype: object, shape: Sequence[int]) -> str:
    return f"{dtype}[{', '.join(str(d) for d in shape)}]"


class Interpreter:
    """Prepared execution of one graph of a model."""

    def __init__(self, model: Model | Graph, *, preserve_all: bool = False) -> None:
        self.graph = model.main if isinstance(model, Model) else model
        self.preserve_all = preserve_all
        g = self.graph
        values = g.values()
        self._slot: dict[int, int] = {id(v): i for i, v in enumerate(values)}
        self._values = values
        self._base: list[np.ndarray | None] = [None] * len(values)
        for v in values:
            if v.is_const:
                self._base[self._slot[id(v)]] = v.data
        self._variables = [v for v in values if v.variable]
        self._state: dict[int, np.ndarray] = {}
        self.reset()
        # Prepare every kernel now: unsupported ops fail before anything runs.
        self._steps = []
        last_use: dict[int, int] = {}
        for k, node in enumerate(g.nodes):
            for v in node.inputs:
                if v is not None:
                    last_use[id(v)] = k
        keep = {id(v) for v in g.outputs} | {id(v) for v in values if v.is_const or v.variable}
        for k, node in enumerate(g.nodes):
            kernel = lookup(node).prepare(node)
            ins = [self._slot[id(v)] if v is not None else -1 for v in node.inputs]
            outs = [(self._slot[id(v)], v.shape, to_numpy(v.dtype)) for v in node.outputs]
            free = [] if preserve_all else [
                self._slot[id(v)] for v in {id(v): v for v in node.inputs if v is not None}.values()
                if last_use.get(id(v)) == k and id(v) not in keep]
            self._steps.append((kernel, ins, outs, free, node))
        self.env: list[np.ndarray | None] = []

    def reset(self) -> None:
        """Put every variable tensor back to its initial contents.

        As TFLM's ``ResetVariableTensors``: int8 state starts at its zero point, every other
        type at 0, whatever initial data the file holds.
        """
        for v in self._variables:
            fill = v.quant.zp0 if v.quant is not None and v.dtype == "int8" else 0
            self._state[self._slot[id(v)]] = np.full(v.shape, fill, dtype=to_numpy(v.dtype))
        # Kernels that keep state of their own (streaming signal ops) expose a reset().
        for kernel, *_ in getattr(self, "_steps", ()):
            reset = getattr(kernel, "reset", None)
            if reset is not None:
                reset()

    def check_inputs(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Validate ``inputs`` against the graph's inputs; return them as arrays."""
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise InputError(f"model takes {len(g.inputs)} input(s), got {len(inputs)}")
        checked = []
        for i, (v, x) in enumerate(zip(g.inputs, inputs)):
            x = np.asarray(x)
            want = to_numpy(v.dtype)
            if x.dtype != want or tuple(x.shape) != v.shape:
                sig = v.meta.get("dynamic_signature")
                hint = ""
                if sig is not None and x.dtype == want and len(x.shape) == len(sig) and all(
                        s < 0 or s == d for s, d in zip(sig, x.shape)):
                    hint = (f" (the model's input is {_describe(v.dtype, sig)}, -1 dynamic: "
                            f"pass --input-shape {v.name}={','.join(map(str, x.shape))})")
                raise InputError(
                    f"input {i} ({v.name!r}): expected {_describe(v.dtype, v.shape)}, "
                    f"got {_describe(x.dtype, x.shape)}{hint}")
            checked.append(x)
        return checked

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the graph on ``inputs`` (one array per graph input); return its outputs."""
        env = list(self._base)
        for slot, arr in self._state.items():
            env[slot] = arr
        for v, x in zip(self.graph.inputs, self.check_inputs(inputs)):
            env[self._slot[id(v)]] = x
        for kernel, ins, outs, free, node in self._steps:
            args = [env[i] if i >= 0 else None for i in ins]
            try:
                # IEEE arithmetic as in C: inf and NaN propagate without numpy's warnings
                with np.errstate(all="ignore"):
                    results = kernel(args)
            except PicojouleError:
                raise
            except Exception as exc:  # a kernel bug: say where it happened
                raise PicojouleError(
                    f"node {node.name!r} ({node.op}) failed: {type(exc).__name__}: {exc}") from exc
            for (slot, shape, dtype), r in zip(outs, results):
                if r.shape != shape or r.dtype != dtype:
                    raise PicojouleError(
                        f"node {node.name!r} ({node.op}) produced {_describe(r.dtype, r.shape)}, "
                        f"expected {_describe(dtype, shape)}")
                env[slot] = r
            for slot in free:
                env[slot] = None
        self.env = env
        return [env[self._slot[id(v)]] for v in self.graph.outputs]

    def tensor(self, value: Value) -> np.ndarray | None:
        """The last run's contents of ``value`` (intermediates need ``preserve_all``)."""
        return self.env[self._slot[id(value)]] if self.env else None


def random_inputs(graph: Graph, seed: int) -> list[np.ndarray]:
    """Seeded random inputs: integers over their type's full range, floats ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    out = []
    for v in graph.inputs:
        dt = to_numpy(v.dtype)
        if v.dtype == "bool":
            out.append(rng.integers(0, 2, v.shape).astype(bool))
        elif np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            out.append(rng.integers(info.min, info.max, v.shape, dtype=dt, endpoint=True))
        else:
            out.append(rng.standard_normal(v.shape).astype(dt))
    return out
