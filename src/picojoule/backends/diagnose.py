"""Where a backend first departs from the reference: bisection over truncated models.

A model cut after node k (its graph outputs become node k's outputs, later nodes removed)
is compiled and run by the backend; its result is compared with the reference
interpreter's tensor at that node. Once a layer differs, later layers almost always do
too, so a binary search finds the first differing layer in log2(nodes) builds.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from picojoule.ir import Model
from picojoule.runtime import Interpreter

#: Runs a model on one input list and returns its outputs (a backend).
Runner = Callable[[Model, Sequence[np.ndarray]], list]


def truncate(load: Callable[[], Model], k: int) -> Model:
    """A fresh copy of the model whose outputs are node ``k``'s outputs; later nodes gone."""
    model = load()
    g = model.main
    keep = g.nodes[k]
    for node in reversed(g.nodes[k + 1:]):
        g.remove_node(node)
    g.outputs = list(keep.outputs)
    model.verify()
    return model


def first_differing_layer(load: Callable[[], Model], feeds: Sequence[np.ndarray],
                          run: Runner) -> dict | None:
    """The first node whose output the backend computes differently, or None.

    ``load`` returns a fresh copy of the model each call (truncation edits it);
    ``run(model, feeds)`` executes a model on the backend under test.
    """
    full = load()
    ref = Interpreter(full, preserve_all=True)
    ref.run(feeds)
    nodes = full.main.nodes

    def differs(k: int) -> bool:
        got = run(truncate(load, k), feeds)
        want = [ref.tensor(v) for v in nodes[k].outputs]
        return any(g.shape != w.shape or not np.array_equal(g, w) for g, w in zip(got, want))

    lo, hi = 0, len(nodes) - 1
    if not differs(hi):
        return None
    while lo < hi:  # invariant: node hi differs
        mid = (lo + hi) // 2
        if differs(mid):
            hi = mid
        else:
            lo = mid + 1
    node = nodes[hi]
    return {"index": hi, "op": node.op, "name": node.name}
