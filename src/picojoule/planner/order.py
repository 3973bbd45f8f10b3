"""Operator reordering: pick a topological order with a low memory peak.

The cost of an order is the planner's lower bound for it: the largest, over steps, of
the bytes live at that step (tensors produced and still to be read, the step's
scratch, minus what in-place execution saves). Small graphs get an exact search
(dynamic programming over the sets of executed nodes, which for DAGs are far fewer
than 2^n); large ones a greedy pass that always runs the ready node whose step costs
least. The caller plans both the original and the new order and keeps the better.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass
class OrderProblem:
    """An abstract scheduling problem (node indices are positions in the graph's list)."""

    n_nodes: int
    preds: list[set[int]]          # nodes that must run before each node
    reads: list[set[int]]          # buffer ids each node reads
    writes: list[set[int]]         # buffer ids each node creates
    sizes: list[int]               # bytes per buffer id
    readers: list[set[int]]        # nodes reading each buffer
    keep: set[int]                 # buffers never freed (graph outputs, state)
    start: set[int]                # buffers live before any node runs (inputs, state)
    scratch: list[int]             # scratch bytes per node
    credit: list[dict[int, int]]   # node -> {buffer read: bytes saved if it dies there}


def _step(p: OrderProblem, done: int, live: int, n: int) -> tuple[int, int]:
    """(peak during node n, live bytes after it) given executed set ``done``."""
    new = sum(p.sizes[b] for b in p.writes[n])
    after_done = done | (1 << n)
    dying = [b for b in p.reads[n] if b not in p.keep
             and all(after_done >> u & 1 for u in p.readers[b])]
    save = max((p.credit[n].get(b, 0) for b in dying), default=0)
    peak = live + new + p.scratch[n] - save
    unread = sum(p.sizes[b] for b in p.writes[n] if not p.readers[b] and b not in p.keep)
    return peak, live + new - unread - sum(p.sizes[b] for b in dying)


def _initial_live(p: OrderProblem) -> int:
    return sum(p.sizes[b] for b in p.start)


def peak_of(p: OrderProblem, order: list[int]) -> int:
    done, live, peak = 0, _initial_live(p), _initial_live(p)
    for n in order:
        s, live = _step(p, done, live, n)
        peak = max(peak, s)
        done |= 1 << n
    return peak


def _ready(p: OrderProblem, done: int) -> list[int]:
    return [n for n in range(p.n_nodes) if not done >> n & 1
            and all(done >> q & 1 for q in p.preds[n])]


def greedy_order(p: OrderProblem) -> list[int]:
    """Always run the ready node with the cheapest step (then least live after, then
    original position)."""
    done, live, order = 0, _initial_live(p), []
    for _ in range(p.n_nodes):
        best = min(_ready(p, done), key=lambda n: (*_step(p, done, live, n), n))
        _, live = _step(p, done, live, best)
        done |= 1 << best
        order.append(best)
    return order


class _TooBig(Exception):
    pass


def exact_order(p: OrderProblem, max_states: int = 20_000) -> list[int] | None:
    """The order with the smallest peak, or None if the search exceeds ``max_states`` (a
    bound on the time too: a wide graph, such as many independent branches from one input,
    has too many executed-sets to enumerate, and the greedy order serves it)."""
    full = (1 << p.n_nodes) - 1
    seen = [0]

    @lru_cache(maxsize=None)
    def best(done: int, live: int) -> tuple[int, tuple[int, ...]]:
        if done == full:
            return 0, ()
        seen[0] += 1
        if seen[0] > max_states:
            raise _TooBig
        result = None
        for n in _ready(p, done):
            s, after = _step(p, done, live, n)
            if result is not None and s >= result[0]:
                continue
            rest, tail = best(done | (1 << n), after)
            cand = (max(s, rest), (n, *tail))
            if result is None or cand[0] < result[0]:
                result = cand
        assert result is not None
        return result

    try:
        _, order = best(0, _initial_live(p))
    except _TooBig:
        return None
    return list(order)


def reorder(p: OrderProblem, exact_limit: int = 20) -> tuple[list[int], str]:
    """A low-peak order and how it was found ("exact" or "greedy")."""
    if p.n_nodes <= exact_limit:
        order = exact_order(p)
        if order is not None:
            return order, "exact"
    return greedy_order(p), "greedy"
