"""Run a model from its memory plan, in one flat bytearray: the proof of the plan.

Every tensor that lives in RAM is a numpy view into ONE ``bytearray`` at the offset the
plan gives it (regions are laid end to end). Each node's prepared kernel (the same
kernels as :class:`picojoule.runtime.Interpreter`) reads its inputs from those views and
its outputs are copied into their planned views, so if the plan let two live tensors
share bytes, a later read would see the wrong bytes and the results would differ from
TFLM's. To make such mistakes visible rather than lucky:

- at the start of every run, all arena bytes except state tensors are filled with a
  pseudo-random poison pattern (reading something never written shows);
- a node's scratch region, and its outputs, are poisoned before the node reads its
  inputs (a streaming kernel may write outputs before it has read all its inputs);
- RESHAPE / SQUEEZE / EXPAND_DIMS planned as aliases do not run at all: their output
  *is* their input's bytes;
- an op planned in place (its output overlapping its dying input) is replayed chunk by
  chunk in the order the plan assumed (:mod:`picojoule.planner.inplace`): each input
  byte takes the value the arena holds at that byte's last read, i.e. the output's
  byte if an earlier chunk already wrote there, and bytes the op never reads are
  poison. The kernel then runs on exactly those bytes. With ``strict=True`` (default)
  such a corruption is also reported as an error naming the node.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from picojoule.errors import InputError, PicojouleError
from picojoule.ir import Graph, Model, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops import lookup
from picojoule.planner.graph import MemoryPlan, plan_memory
from picojoule.planner.inplace import chunk_times, write_conflicts


class PlanError(PicojouleError):
    """A memory plan that would corrupt a tensor."""


def _poison(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8)


class ArenaInterpreter:
    """Execute ``model`` with every RAM tensor at its planned offset in one bytearray."""

    def __init__(self, model: Model | Graph, plan: MemoryPlan | None = None, *,
                 preserve_all: bool = False, strict: bool = True) -> None:
        self.graph = model.main if isinstance(model, Model) else model
        self.plan = plan if plan is not None else plan_memory(self.graph)
        if self.plan.graph is not self.graph:
            raise PicojouleError("the plan was made for another graph")
        self.preserve_all = preserve_all
        self.strict = strict
        g = self.graph
        self.arena = bytearray(max(sum(r.used for r in self.plan.regions), 1))
        self._u8 = np.frombuffer(self.arena, dtype=np.uint8)
        base = {r.name: r.base for r in self.plan.regions}
        self._addr: dict[int, int] = {}
        self._views: dict[int, np.ndarray] = {}
        for vid, slot in self.plan.slots.items():
            self._addr[vid] = base[slot.region] + slot.offset
        for v in self._ram_values():
            self._views[id(v)] = self._view(v)
        self._scratch = {i: (base[s.region] + s.offset, s.nbytes)
                         for i, s in self.plan.scratch.items()}
        self._state_mask = np.zeros(len(self.arena), dtype=bool)
        self._variables = [v for v in self._ram_values() if v.variable]
        for v in self._variables:
            a = self._addr[id(v)]
            self._state_mask[a:a + v.nbytes] = True
        # Prepare every kernel now: unsupported ops fail before anything runs.
        self._kernels = {i: lookup(g.nodes[i]).prepare(g.nodes[i])
                         for i in self.plan.order if i not in self.plan.aliases}
        self._captured: dict[int, np.ndarray] = {}
        self._runs = 0
        self.reset()

    # -- setup -------------------------------------------------------------------------
    def _ram_values(self) -> list[Value]:
        seen: dict[int, Value] = {}
        g = self.graph
        for v in [*g.inputs, *g.outputs]:
            seen.setdefault(id(v), v)
        for n in g.nodes:
            for v in [*n.inputs, *n.outputs]:
                if v is not None:
                    seen.setdefault(id(v), v)
        return [v for v in seen.values() if not v.is_const]

    def _view(self, v: Value) -> np.ndarray:
        dt = np.dtype(to_numpy(v.dtype))
        if v.size == 0:
            return np.zeros(v.shape, dtype=dt)
        a = self._addr[id(v)]
        if a + v.nbytes > len(self.arena):
            raise PlanError(f"tensor {v.name!r} at {a}+{v.nbytes} lies outside the arena")
        return np.frombuffer(self.arena, dtype=dt, count=v.size, offset=a).reshape(v.shape)

    def reset(self) -> None:
        """State tensors back to their initial contents (as TFLM: int8 at the zero point)."""
        for v in self._variables:
            fill = v.quant.zp0 if v.quant is not None and v.dtype == "int8" else 0
            self._views[id(v)][...] = fill

    # -- running -----------------------------------------------------------------------
    def _arg(self, v: Value | None) -> np.ndarray | None:
        if v is None:
            return None
        if v.is_const:
            return v.data
        return self._views[id(v)]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run on ``inputs`` (one array per graph input); return copies of the outputs."""
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise InputError(f"model takes {len(g.inputs)} input(s), got {len(inputs)}")
        self._runs += 1
        poison = _poison(len(self.arena), self._runs)
        self._u8[~self._state_mask] = poison[~self._state_mask]
        self._captured = {}
        for i, (v, x) in enumerate(zip(g.inputs, inputs)):
            x = np.asarray(x)
            if x.dtype != np.dtype(to_numpy(v.dtype)) or tuple(x.shape) != v.shape:
                raise InputError(f"input {i} ({v.name!r}): expected {v.dtype}{list(v.shape)}, "
                                 f"got {x.dtype}{list(x.shape)}")
            if not v.is_const:
                self._views[id(v)][...] = x
                self._capture(v)
        for i in self.plan.order:
            node = g.nodes[i]
            if i in self.plan.aliases:
                x, y = node.inputs[0], node.outputs[0]
                if self._addr[id(x)] != self._addr[id(y)]:
                    raise PlanError(f"alias {node.op} {node.name!r}: output not at the input")
                self._capture(y)
                continue
            if i in self._scratch:
                a, n = self._scratch[i]
                self._u8[a:a + n] = _poison(n, 1000 + i)
            args = [self._arg(v) for v in node.inputs]
            if i in self.plan.inplace:
                results = self._run_inplace(i, args)
            else:
                # A streaming kernel may write outputs before it has read all inputs:
                # poison the outputs first, so an output overlapping an input shows.
                for v in node.outputs:
                    self._poison_value(v, 2000 + i)
                results = self._call(i, args)
            for v, r in zip(node.outputs, results):
                self._store(node, v, r)
        return [np.array(self._arg(v), copy=True) for v in g.outputs]

    def _poison_value(self, v: Value, seed: int, skip: tuple[int, int] = (0, 0)) -> None:
        """Fill ``v``'s bytes with poison, except absolute range ``skip``."""
        if not v.size:
            return
        a = self._addr[id(v)]
        junk = _poison(v.nbytes, seed)
        lo, hi = max(skip[0] - a, 0), min(skip[1] - a, v.nbytes)
        if lo < hi:
            junk[lo:hi] = self._u8[a + lo:a + hi]
        self._u8[a:a + v.nbytes] = junk

    def _call(self, i: int, args: list) -> list[np.ndarray]:
        node = self.graph.nodes[i]
        try:
            results = self._kernels[i](args)
        except PicojouleError:
            raise
        except Exception as exc:  # a kernel bug: say where it happened
            raise PicojouleError(
                f"node {node.name!r} ({node.op}) failed: {type(exc).__name__}: {exc}") from exc
        for v, r in zip(node.outputs, results):
            if r.shape != v.shape or r.dtype != np.dtype(to_numpy(v.dtype)):
                raise PicojouleError(f"node {node.name!r} ({node.op}) produced {r.dtype}"
                                     f"{list(r.shape)}, expected {v.dtype}{list(v.shape)}")
        return results

    def _store(self, node, v: Value, r: np.ndarray) -> None:
        if v.size:
            np.copyto(self._views[id(v)], r)
        self._capture(v)

    def _capture(self, v: Value) -> None:
        if self.preserve_all:
            self._captured[id(v)] = np.array(self._arg(v), copy=True)

    def _run_inplace(self, i: int, args: list) -> list[np.ndarray]:
        """Replay an in-place op chunk by chunk against the arena's bytes (see module doc)."""
        node = self.graph.nodes[i]
        geo = self.plan.inplace[i]
        x, y = node.inputs[geo.index], node.outputs[0]
        ax, ay = self._addr[id(x)], self._addr[id(y)]
        if ay - ax != geo.delta:
            raise PlanError(f"{node.op} {node.name!r}: output placed at {ay - ax:+d} B from "
                            f"its input, the in-place proof assumed {geo.delta:+d} B")
        ch = geo.chunks
        bi = ch.ci * np.dtype(to_numpy(x.dtype)).itemsize
        bo = ch.co * np.dtype(to_numpy(y.dtype)).itemsize
        original = self._u8[ax:ax + x.nbytes].copy()
        # Output bytes outside the overwritten input may be written at any time.
        self._poison_value(y, 3000 + i, skip=(ax, ax + x.nbytes))
        conflicts = write_conflicts(ch, geo.order, bo, bi, geo.delta)
        _, last = chunk_times(ch, geo.order)
        unread = np.repeat(last < 0, bi)
        staged = original
        if conflicts.any():
            if self.strict:
                b = int(np.flatnonzero(conflicts)[0])
                raise PlanError(f"{node.op} {node.name!r}: the in-place plan overwrites input "
                                f"byte {b} before its last read")
            first = self._call(i, args)[0]
            written = np.ascontiguousarray(first).view(np.uint8).reshape(-1)
            idx = np.flatnonzero(conflicts)
            staged = original.copy()
            staged[idx] = written[idx - geo.delta]
        if unread.any():
            staged = staged.copy()
            staged[unread] = _poison(int(unread.sum()), 7)
        xs = staged.view(np.dtype(to_numpy(x.dtype))).reshape(x.shape)
        args = list(args)
        args[geo.index] = xs
        with np.errstate(all="ignore"):  # float poison in unread bytes may be NaN/inf
            return self._call(i, args)

    def tensor(self, value: Value) -> np.ndarray | None:
        """The last run's contents of ``value`` as it was produced (needs ``preserve_all``);
        graph outputs and state are also available without it."""
        if id(value) in self._captured:
            return self._captured[id(value)]
        if value.is_const:
            return value.data
        if id(value) in {id(v) for v in self.graph.outputs} | {id(v) for v in self._variables}:
            return np.array(self._views[id(value)], copy=True)
        return None
