"""A small greedy arena planner for the generated C library.

Every non-constant tensor (graph inputs, node outputs) and every node's scratch buffer
gets an offset in one static arena. Lifetimes are node-index intervals (inclusive, so a
node's inputs and outputs never share bytes); buffers are placed largest first at the
lowest aligned offset that does not collide with a placed buffer whose lifetime overlaps.
RESHAPE outputs alias their input (same bytes, merged lifetime) when the generator says so.

Placement uses the project's planner (``picojoule.planner.core.plan``, which tries several
greedy orders and keeps the smallest arena) when it is importable, else the simple
largest-first placement below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALIGN = 16


@dataclass
class Buffer:
    """One arena allocation: ``size`` bytes live from node ``start`` to node ``end``."""

    key: object
    size: int
    start: int
    end: int
    offset: int = -1
    members: list = field(default_factory=list)


def _overlaps(a: Buffer, b: Buffer) -> bool:
    return a.start <= b.end and b.start <= a.end


def _align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def place(buffers: list[Buffer]) -> int:
    """Assign ``offset`` to every buffer; return the arena size in bytes."""
    try:
        from picojoule.planner import core
    except ImportError:  # pragma: no cover - the planner package is optional here
        core = None
    if core is not None and buffers:
        blist = [core.Buffer(b.size, b.start + 1, b.end + 1, str(b.key)[:40]) for b in buffers]
        placement = core.plan(blist, "best", alignment=ALIGN)
        for b, off in zip(buffers, placement.offsets):
            b.offset = off
        return _align(max(b.offset + b.size for b in buffers))
    return _place_greedy(buffers)


def _place_greedy(buffers: list[Buffer]) -> int:
    """Largest first, each at the lowest aligned offset free during its lifetime."""
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.start)):
        live = sorted((p for p in placed if _overlaps(p, buf)), key=lambda p: p.offset)
        offset = 0
        for p in live:
            if offset + buf.size <= p.offset:
                break
            offset = max(offset, _align(p.offset + p.size))
        buf.offset = offset
        placed.append(buf)
    return _align(max((b.offset + b.size for b in buffers), default=0))
