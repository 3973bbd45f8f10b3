"""The planner's core: a pure function from buffer lifetimes to arena offsets.

A :class:`Buffer` is ``size`` bytes alive from step ``first`` to step ``last``
(inclusive). Two buffers alive at a common step must not share an address, unless a
:class:`Pin` says one is placed at a fixed distance from the other: that is how
in-place execution is expressed (the graph layer has proved, for that one op, that
the output's writes never reach input bytes still to be read). Pinned buffers form
rigid *clusters* that are placed as a unit.

Everything here is independent of graphs and numpy: lists of numbers in, lists of
numbers out, so that it can be tested with hand-made tables (as TFLM's
``greedy_memory_planner_test.cc`` does).

Strategies (all "first fit at the lowest address", they differ in the order in which
clusters are placed):

- ``size``: largest first, as TFLM's ``GreedyMemoryPlanner``;
- ``breadth``: clusters alive at the busiest steps first ("greedy by breadth",
  Pisarchyk & Lee, *Efficient Memory Management for Deep Neural Net Inference*, 2020);
- ``area``: size x lifetime first; ``first_use``: chronological;
- ``best``: every strategy above, keep the smallest arena.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

DEFAULT_ALIGNMENT = 16
STRATEGIES = ("size", "breadth", "area", "first_use")


@dataclass(frozen=True)
class Buffer:
    """``size`` bytes alive from step ``first`` through step ``last`` (inclusive).

    ``alignment``: the buffer's own address alignment, on top of the plan's.
    """

    size: int
    first: int
    last: int
    name: str = ""
    alignment: int = 1

    def __post_init__(self) -> None:
        if self.size < 0 or self.last < self.first:
            raise ValueError(f"bad buffer {self}")


@dataclass(frozen=True)
class Pin:
    """``offset[b] == offset[a] + delta``; ``a`` and ``b`` may overlap in address."""

    a: int
    b: int
    delta: int


@dataclass
class Placement:
    """The result of :func:`plan`."""

    offsets: list[int]
    #: Arena bytes needed: the highest end address of any buffer.
    size: int
    strategy: str
    #: :func:`lower_bound` of the same buffers (no placement can use less).
    lower_bound: int
    #: Arena size each strategy reached (for reports).
    tried: dict[str, int] = field(default_factory=dict)


def align_up(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def aligned_sizes(buffers: Sequence[Buffer], alignment: int) -> list[int]:
    return [align_up(b.size, alignment) for b in buffers]


def clusters(buffers: Sequence[Buffer], pins: Iterable[Pin]) -> list[list[tuple[int, int]]]:
    """Group pinned buffers: each cluster is ``[(buffer index, offset relative to cluster)]``.

    Relative offsets are normalised so the lowest is 0. Raises ``ValueError`` if the
    pins contradict each other (a cycle with a non-zero total distance).
    """
    adj: dict[int, list[tuple[int, int]]] = {i: [] for i in range(len(buffers))}
    for p in pins:
        adj[p.a].append((p.b, p.delta))
        adj[p.b].append((p.a, -p.delta))
    rel: dict[int, int] = {}
    out = []
    for start in range(len(buffers)):
        if start in rel:
            continue
        rel[start] = 0
        members = [start]
        stack = [start]
        while stack:
            i = stack.pop()
            for j, d in adj[i]:
                want = rel[i] + d
                if j in rel:
                    if rel[j] != want:
                        raise ValueError(f"contradictory pins between buffers {i} and {j}")
                    continue
                rel[j] = want
                members.append(j)
                stack.append(j)
        low = min(rel[m] for m in members)
        out.append(sorted((m, rel[m] - low) for m in members))
    return out


def _live_at(buffers: Sequence[Buffer]) -> tuple[int, int]:
    if not buffers:
        return 0, -1
    return min(b.first for b in buffers), max(b.last for b in buffers)


def step_totals(buffers: Sequence[Buffer], alignment: int = DEFAULT_ALIGNMENT,
                pins: Iterable[Pin] = ()) -> dict[int, int]:
    """Bytes that must be live at each step: the sum of aligned sizes of live buffers,
    where buffers of one cluster count as the union of their (fixed) address ranges."""
    sizes = aligned_sizes(buffers, alignment)
    lo, hi = _live_at(buffers)
    totals = {t: 0 for t in range(lo, hi + 1)}
    for cl in clusters(buffers, pins):
        for t in range(min(buffers[m].first for m, _ in cl),
                       max(buffers[m].last for m, _ in cl) + 1):
            spans = sorted((r, r + sizes[m]) for m, r in cl
                           if buffers[m].first <= t <= buffers[m].last and sizes[m])
            covered, end = 0, None
            for s, e in spans:
                if end is None or s >= end:
                    covered += e - s
                    end = e
                elif e > end:
                    covered += e - end
                    end = e
            totals[t] += covered
    return totals


def lower_bound(buffers: Sequence[Buffer], alignment: int = DEFAULT_ALIGNMENT,
                pins: Iterable[Pin] = ()) -> int:
    """Max over steps of the bytes live at that step: no placement can do better."""
    totals = step_totals(buffers, alignment, pins)
    return max(totals.values(), default=0)


def _order(strategy: str, buffers: Sequence[Buffer], sizes: list[int],
           cls: list[list[tuple[int, int]]], totals: dict[int, int]) -> list[int]:
    def span(cl):  # cluster extent and lifetime
        ext = max((r + sizes[m] for m, r in cl), default=0)
        first = min(buffers[m].first for m, _ in cl)
        last = max(buffers[m].last for m, _ in cl)
        return ext, first, last

    info = [span(cl) for cl in cls]
    idx = list(range(len(cls)))
    if strategy == "size":
        return sorted(idx, key=lambda c: (-max(sizes[m] for m, _ in cls[c]), info[c][1], c))
    if strategy == "breadth":
        def breadth(c):
            return max(totals.get(t, 0) for t in range(info[c][1], info[c][2] + 1))
        return sorted(idx, key=lambda c: (-breadth(c), -info[c][0], info[c][1], c))
    if strategy == "area":
        return sorted(idx, key=lambda c: (-sum(sizes[m] * (buffers[m].last - buffers[m].first + 1)
                                               for m, _ in cls[c]), c))
    if strategy == "first_use":
        return sorted(idx, key=lambda c: (info[c][1], -info[c][0], c))
    raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}, best")


def _place(buffers: Sequence[Buffer], sizes: list[int], cls: list[list[tuple[int, int]]],
           order: list[int], alignment: int) -> list[int]:
    """First fit: each cluster at the lowest base where no member meets a placed buffer."""
    n = len(buffers)
    offsets = [0] * n
    # The placed buffers' lifetimes and address ranges, as arrays (k of them so far).
    first = np.empty(n, np.int64)
    last = np.empty(n, np.int64)
    start = np.empty(n, np.int64)
    end = np.empty(n, np.int64)
    k = 0
    for c in order:
        members = [(m, r) for m, r in cls[c] if sizes[m] > 0]
        if not members:
            continue
        step = math.lcm(alignment, *(buffers[m].alignment for m, _ in members))
        if any(r % math.lcm(alignment, buffers[m].alignment) for m, r in members):
            raise ValueError(f"pinned buffers {[m for m, _ in members]} cannot all be aligned")
        # Bases where a member would meet a placed buffer alive at the same time: the open
        # interval (start - r - size, end - r) for each such pair.
        los, his = [], []
        for m, r in members:
            bm = buffers[m]
            live = (first[:k] <= bm.last) & (last[:k] >= bm.first)
            los.append(start[:k][live] - r - sizes[m])
            his.append(end[:k][live] - r)
        base = _lowest_free(np.concatenate(los), np.concatenate(his), step)
        for m, r in cls[c]:
            offsets[m] = base + r
        for m, _ in members:
            first[k], last[k] = buffers[m].first, buffers[m].last
            start[k], end[k] = offsets[m], offsets[m] + sizes[m]
            k += 1
    return offsets


def _lowest_free(lo: np.ndarray, hi: np.ndarray, step: int) -> int:
    """The lowest base >= 0, a multiple of ``step``, in no open interval ``(lo, hi)``: the
    first of 0 and the (aligned) interval ends that no interval covers. Intervals sorted by
    start with a running maximum of their ends: each jump passes every interval that starts
    below the current base."""
    if lo.size == 0:
        return 0
    order = np.argsort(lo, kind="stable")
    lo_sorted = lo[order]
    reach = np.maximum.accumulate(hi[order])
    base = 0
    while True:
        j = int(np.searchsorted(lo_sorted, base, side="left"))  # intervals with lo < base
        if j == 0 or int(reach[j - 1]) <= base:
            return base
        base = align_up(int(reach[j - 1]), step)


def arena_size(buffers: Sequence[Buffer], offsets: Sequence[int],
               alignment: int = DEFAULT_ALIGNMENT) -> int:
    sizes = aligned_sizes(buffers, alignment)
    return max((o + s for o, s in zip(offsets, sizes) if s), default=0)


def plan(buffers: Sequence[Buffer], strategy: str = "best", *,
         alignment: int = DEFAULT_ALIGNMENT, pins: Iterable[Pin] = ()) -> Placement:
    """Offsets (multiples of ``alignment``) for ``buffers``, honouring ``pins``.

    Pin distances must be multiples of ``alignment``.
    """
    pins = list(pins)
    for p in pins:
        if p.delta % alignment:
            raise ValueError(f"pin {p} is not a multiple of the alignment {alignment}")
    sizes = aligned_sizes(buffers, alignment)
    cls = clusters(buffers, pins)
    totals = step_totals(buffers, alignment, pins)
    lb = max(totals.values(), default=0)
    names = STRATEGIES if strategy == "best" else (strategy,)
    best: Placement | None = None
    tried = {}
    for name in names:
        offsets = _place(buffers, sizes, cls, _order(name, buffers, sizes, cls, totals),
                         alignment)
        size = arena_size(buffers, offsets, alignment)
        tried[name] = size
        if best is None or size < best.size:
            best = Placement(offsets, size, name, lb)
    assert best is not None
    best.tried = tried
    return best


def find_overlaps(buffers: Sequence[Buffer], offsets: Sequence[int],
                  alignment: int = DEFAULT_ALIGNMENT,
                  pins: Iterable[Pin] = ()) -> list[tuple[int, int]]:
    """Pairs of buffers alive at a common step whose address ranges intersect.

    A pinned pair is allowed to overlap only at exactly its pinned distance. Also
    reports (i, i) for an offset that is negative or not a multiple of ``alignment``.
    Uses the buffers' exact sizes (alignment padding may be shared by nobody anyway).
    """
    bad = []
    pinned = {}
    for p in pins:
        pinned[(p.a, p.b)] = p.delta
        pinned[(p.b, p.a)] = -p.delta
    for i, o in enumerate(offsets):
        if o < 0 or o % math.lcm(alignment, buffers[i].alignment):
            bad.append((i, i))
    order = sorted(range(len(buffers)), key=lambda i: buffers[i].first)
    for x, i in enumerate(order):
        bi = buffers[i]
        for j in order[x + 1:]:
            bj = buffers[j]
            if bj.first > bi.last:
                break
            if not bi.size or not bj.size:
                continue
            if offsets[i] < offsets[j] + bj.size and offsets[j] < offsets[i] + bi.size:
                d = pinned.get((i, j))
                if d is None or offsets[j] - offsets[i] != d:
                    bad.append((min(i, j), max(i, j)))
    return bad


_GLYPHS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def render(buffers: Sequence[Buffer], offsets: Sequence[int], *, width: int = 64,
           alignment: int = DEFAULT_ALIGNMENT, pins: Iterable[Pin] = ()) -> str:
    """An ASCII picture of the plan: one line per step, address left to right.

    Each buffer is drawn with one glyph (``0-9a-zA-Z``, then ``*``) where it is alive;
    where a pinned (in-place) pair shares a cell the newer buffer is drawn, and ``!``
    marks any other collision (which :func:`find_overlaps` would report, unless it is
    only two buffers sharing one rounded column). A legend follows.
    """
    pinned = {(p.a, p.b) for p in pins} | {(p.b, p.a) for p in pins}
    total = max(arena_size(buffers, offsets, alignment), 1)
    lo, hi = _live_at(buffers)
    lines = [f"arena {total} B, {width} columns of {total / width:.0f} B; steps {lo}..{hi}; "
             f"right: bytes covered by live buffers"]
    for t in range(lo, hi + 1):
        row = ["."] * width
        owner: list[int | None] = [None] * width
        spans = []
        for i, b in enumerate(buffers):
            if not (b.first <= t <= b.last) or not b.size:
                continue
            spans.append((offsets[i], offsets[i] + b.size))
            g = _GLYPHS[i] if i < len(_GLYPHS) else "*"
            a = offsets[i] * width // total
            e = max(a + 1, -(-(offsets[i] + b.size) * width // total))
            for x in range(a, min(e, width)):
                o = owner[x]
                if o is None:
                    row[x], owner[x] = g, i
                elif (o, i) in pinned:
                    if b.first > buffers[o].first:
                        row[x], owner[x] = g, i
                else:
                    row[x] = "!"
        live, end = 0, None
        for a, e in sorted(spans):  # union: in-place pairs share bytes
            if end is None or a >= end:
                live, end = live + e - a, e
            elif e > end:
                live, end = live + e - end, e
        lines.append(f"{t:4d} |{''.join(row)}| {live:>9,d}")
    lines.append("legend:")
    for i, b in enumerate(buffers):
        g = _GLYPHS[i] if i < len(_GLYPHS) else "*"
        lines.append(f"  {g} {b.name or i}: {b.size} B @ {offsets[i]}, steps {b.first}..{b.last}")
    return "\n".join(lines)
