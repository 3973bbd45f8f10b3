"""Where a backend first departs from the reference: bisection over truncated models.

A model cut after node k (its graph outputs become node k's outputs, later nodes removed)
is run by the backend and by the reference interpreter on the same inputs, and their
results are compared. Once a layer differs, later layers almost always do too, so a
binary search finds the first differing layer in log2(nodes) builds.

A stateful model (LSTM state, streaming signal ops) is diagnosed on a sequence of input
sets run one after the other from the reset state, so that state carried from one run to
the next is part of the comparison; only the last run's outputs are compared.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from picojoule.ir import Model
from picojoule.runtime import Interpreter

#: Runs a model on one input list and returns its outputs (a backend).
Runner = Callable[[Model, Sequence[np.ndarray]], list]
#: Runs a model on several input lists in order, from the reset state, carrying state from
#: one to the next; returns the outputs of each run.
SequenceRunner = Callable[[Model, Sequence[Sequence[np.ndarray]]], list]
#: Whether a backend's tensor agrees with the reference's: ``agree(got, want)``.
Agree = Callable[[np.ndarray, np.ndarray], bool]


def _identical(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and bool(np.array_equal(got, want))


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


def first_differing_layer_in_sequence(load: Callable[[], Model],
                                      runs: Sequence[Sequence[np.ndarray]],
                                      run: SequenceRunner, agree: Agree = _identical
                                      ) -> dict | None:
    """The first node whose output, after ``runs`` in order, the backend gets wrong.

    ``load`` returns a fresh copy of the model each call (truncation edits it);
    ``run(model, runs)`` executes a model on the backend under test; ``agree`` decides
    whether a tensor matches the reference's (default: bit for bit).
    """
    nodes = load().main.nodes

    def differs(k: int) -> bool:
        got = run(truncate(load, k), runs)[-1]
        ref = Interpreter(truncate(load, k))
        for feeds in runs[:-1]:
            ref.run(feeds)
        want = ref.run(runs[-1])
        return len(got) != len(want) or not all(
            np.shape(g) == np.shape(w) and agree(np.asarray(g), np.asarray(w))
            for g, w in zip(got, want))

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


def first_differing_layer(load: Callable[[], Model], feeds: Sequence[np.ndarray],
                          run: Runner, agree: Agree = _identical) -> dict | None:
    """The first node whose output the backend computes differently, or None.

    ``run(model, feeds)`` executes a model on the backend under test from its reset state.
    """
    return first_differing_layer_in_sequence(load, [feeds], lambda m, rs: [run(m, rs[0])],
                                             agree)
