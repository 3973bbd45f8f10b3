"""From a graph to a memory plan: lifetimes, aliasing, in-place ops, scratch, regions.

Steps (:func:`plan_memory`):

1. **Order.** The graph's own order, and a reordered one (:mod:`.order`); both are
   planned and the smaller arena wins.
2. **Buffers.** One per tensor that lives in RAM: graph inputs are live from step 0,
   graph outputs to the last step, variable (state) tensors for the whole run;
   constants stay in flash and get none. RESHAPE / SQUEEZE / EXPAND_DIMS outputs
   share their input's buffer (zero-copy: row-major bytes do not move) and their
   lifetimes merge. Each op's scratch (:mod:`.scratch`) is a buffer alive at its step.
3. **In-place.** When an op's input dies at that op and the op streams in a way
   :mod:`.inplace` can prove safe, the output is pinned at a fixed distance from the
   input and the two may overlap.
4. **Placement** by :func:`.core.plan` ("best" of the greedy strategies), once with
   and once without in-place pins; the smaller arena wins.
5. **Regions.** With several ``(name, capacity)`` regions, everything goes to the
   first (fastest); while it overflows, the cluster ending highest in it moves to the
   next region, and so on. What the last region cannot hold is reported as overflow.

What each op's kernel needs (its scratch bytes, which in-place placements it honours,
whether it runs as a zero-copy alias) comes from one :class:`KernelNeeds`. Without one,
the op table's figures are used (:mod:`.scratch`, :mod:`.inplace`: any kernel that
streams as the op's dataflow allows). The C generator passes the needs its emitters
declare for one core (``picojoule.backends.c.generator.kernel_needs``) and uses the
resulting plan as it is, so its arena and this plan are the same by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from picojoule.ir import Graph, Model, Node, Value
from picojoule.planner import core
from picojoule.planner.core import Buffer, Pin, align_up
from picojoule.planner.inplace import InPlace, geometry
from picojoule.planner.order import OrderProblem, peak_of, reorder
from picojoule.planner.scratch import scratch_bytes, state_bytes

#: Ops whose output is the input's bytes under another shape.
ALIAS_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
UNLIMITED = 1 << 62


@dataclass
class KernelNeeds:
    """What the kernels of one graph's nodes need, as the code that runs them declares it.

    ``scratch[i]``: bytes node ``i``'s kernel uses while it runs (graph order).
    ``placements(i, node, j, in_bytes, out_bytes)``: the in-place placements of node
    ``i``'s output over its input ``j`` that its kernel honours (``[]``: none); ``None``:
    no kernel runs in place. ``alias[i]``: node ``i`` runs as a zero-copy alias of its
    input (RESHAPE-like) when the planner agrees; ``None``: every alias op may.
    Variable (state) tensors are kept outside the arena, as static buffers; ``state_bytes``
    is the kernels' other persistent state (filter banks, FIFOs). ``source`` says who
    declared these needs (reports quote it).
    """

    scratch: list[int]
    placements: Callable | None = None
    alias: list[bool] | None = None
    state_bytes: int = 0
    source: str = ""


@dataclass
class Slot:
    """Where one tensor (or scratch buffer) lives."""

    region: str
    offset: int          # within its region
    nbytes: int
    buffer: int          # index into MemoryPlan.buffers


@dataclass
class RegionUse:
    name: str
    capacity: int
    used: int
    #: Offset of this region inside the flat arena the arena interpreter allocates.
    base: int = 0


@dataclass
class MemoryPlan:
    """A complete plan for one graph."""

    graph: Graph
    order: list[int]                     # node indices (into graph.nodes) in run order
    order_method: str                    # "graph", "exact" or "greedy"
    alignment: int
    buffers: list[Buffer]
    pins: list[Pin]
    offsets: list[int]                   # per buffer, within its region
    buffer_region: list[int]             # per buffer, index into regions
    slots: dict[int, Slot]               # id(value) -> slot
    scratch: dict[int, Slot]             # node index -> slot
    inplace: dict[int, InPlace]          # node index -> proven in-place placement
    aliases: set[int]                    # node indices run as zero-copy aliases
    regions: list[RegionUse]
    #: Sum of the regions' used bytes.
    arena_bytes: int
    #: Lower bound of the arena for this order and these in-place decisions.
    lower_bound_bytes: int
    #: Bytes kept outside the arena (op state between invocations).
    outside_bytes: int
    strategy: str = ""
    overflow: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: Who declared the kernels' needs (:attr:`KernelNeeds.source`, or the op table).
    needs_source: str = "op table"

    @property
    def total_bytes(self) -> int:
        """All RAM the model needs: arena (scratch included) plus state kept outside it."""
        return self.arena_bytes + self.outside_bytes

    @property
    def fits(self) -> bool:
        return not self.overflow

    def slot(self, value: Value) -> Slot:
        return self.slots[id(value)]

    def op_table(self) -> list[dict]:
        """One row per executed node: live bytes at its step (tensors + scratch, in-place
        overlap counted once), its scratch, and how it runs (``alias``, ``in place`` with
        the output's distance from the input, or ``separate``). ``inplace_extra_bytes`` is
        what running in place costs beyond the larger of input and output: the gap that
        plays the role of TinyEngine's line buffer."""
        totals = core.step_totals(self.buffers, self.alignment, self.pins)
        rows = []
        for step, i in enumerate(self.order):
            node = self.graph.nodes[i]
            extra = 0
            if i in self.aliases:
                mode = "alias"
            elif i in self.inplace:
                geo = self.inplace[i]
                mode = f"in place ({geo.order}, output at {geo.delta:+d} B)"
                sizes = [self.buffers[self.slots[id(v)].buffer].size
                         for v in (node.inputs[geo.index], node.outputs[0])]
                extra = geo.footprint - max(sizes)
            else:
                mode = "separate"
            rows.append(dict(step=step, node=node.name, op=node.op,
                             live_bytes=totals.get(step, 0),
                             scratch_bytes=self.scratch[i].nbytes if i in self.scratch else 0,
                             mode=mode, inplace_extra_bytes=extra))
        return rows

    def render(self, width: int = 64) -> str:
        """ASCII timeline per region."""
        parts = []
        for r, reg in enumerate(self.regions):
            idx = [i for i, br in enumerate(self.buffer_region) if br == r]
            cap = "unlimited" if reg.capacity >= UNLIMITED else f"{reg.capacity} B"
            parts.append(f"region {reg.name}: {reg.used} B of {cap}")
            local = {m: k for k, m in enumerate(idx)}
            pins = [Pin(local[p.a], local[p.b], p.delta) for p in self.pins
                    if p.a in local and p.b in local]
            parts.append(core.render([self.buffers[i] for i in idx],
                                     [self.offsets[i] for i in idx], width=width,
                                     alignment=self.alignment, pins=pins))
        return "\n".join(parts)


# ----------------------------------------------------------------------------- buffers


class _Groups:
    """Union-find over values: aliased values share one buffer."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, k: int) -> int:
        self.parent.setdefault(k, k)
        while self.parent[k] != k:
            self.parent[k] = self.parent[self.parent[k]]
            k = self.parent[k]
        return k

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(b)] = self.find(a)


def _is_alias(node: Node) -> bool:
    if node.op not in ALIAS_OPS or len(node.outputs) != 1 or not node.inputs:
        return False
    x, y = node.inputs[0], node.outputs[0]
    return (x is not None and not x.is_const and not x.variable and not y.variable
            and x.dtype == y.dtype and x.nbytes == y.nbytes)


def _ram_values(g: Graph) -> list[Value]:
    """Values that need RAM: every non-constant input/output of a node or the graph."""
    seen: dict[int, Value] = {}
    for v in g.inputs:
        seen.setdefault(id(v), v)
    for n in g.nodes:
        for v in [*n.inputs, *n.outputs]:
            if v is not None:
                seen.setdefault(id(v), v)
    for v in g.outputs:
        seen.setdefault(id(v), v)
    return [v for v in seen.values() if not v.is_const]


@dataclass
class _Tensors:
    values: list[Value]
    group_of: dict[int, int]             # id(value) -> group index
    sizes: list[int]                     # aligned bytes per group
    members: list[list[Value]]
    aliases: set[int]                    # node indices (graph order) that alias
    keep: set[int]                       # groups live to the end (outputs, state)
    start: set[int]                      # groups live from step 0 (inputs, state)
    variable: set[int]


def _tensors(g: Graph, alignment: int, alias: bool, alias_ok: list[bool] | None = None,
             state_outside: bool = False) -> _Tensors:
    """Buffers (groups of aliased values). ``alias_ok``: per node, whether its kernel may
    run as an alias; ``state_outside``: variable tensors take no arena bytes (size 0)."""
    values = _ram_values(g)
    uf = _Groups()
    aliases = set()
    for i, n in enumerate(g.nodes):
        if alias and _is_alias(n) and (alias_ok is None or alias_ok[i]):
            uf.union(id(n.inputs[0]), id(n.outputs[0]))
            aliases.add(i)
    roots: dict[int, int] = {}
    group_of: dict[int, int] = {}
    members: list[list[Value]] = []
    for v in values:
        r = uf.find(id(v))
        if r not in roots:
            roots[r] = len(members)
            members.append([])
        group_of[id(v)] = roots[r]
        members[roots[r]].append(v)
    sizes = [align_up(max(v.nbytes for v in m), alignment) for m in members]
    outs = {id(v) for v in g.outputs}
    ins = {id(v) for v in g.inputs}
    keep, start, variable = set(), set(), set()
    for k, m in enumerate(members):
        if any(v.variable for v in m):
            keep.add(k)
            start.add(k)
            variable.add(k)
        if any(id(v) in outs for v in m):
            keep.add(k)
        if any(id(v) in ins for v in m):
            start.add(k)
    if state_outside:
        for k in variable:
            sizes[k] = 0
    return _Tensors(values, group_of, sizes, members, aliases, keep, start, variable)


def _lifetimes(g: Graph, t: _Tensors, order: list[int]) -> list[tuple[int, int]]:
    n = max(len(order), 1)
    step = {node_idx: s for s, node_idx in enumerate(order)}
    first = [n] * len(t.members)
    last = [-1] * len(t.members)
    for k in t.start:
        first[k] = 0
    for i, node in enumerate(g.nodes):
        s = step[i]
        for v in node.outputs:
            k = t.group_of[id(v)]
            first[k] = min(first[k], s)
            last[k] = max(last[k], s)
        for v in node.inputs:
            if v is not None and id(v) in t.group_of:
                k = t.group_of[id(v)]
                last[k] = max(last[k], s)
    for k in range(len(t.members)):
        if k in t.keep:
            last[k] = n - 1
        if first[k] == n:  # never produced nor an input (unused value): treat as step 0
            first[k] = 0
        last[k] = max(last[k], first[k])
    return list(zip(first, last))


def _credits(g: Graph, t: _Tensors, alignment: int, placements=None
             ) -> dict[tuple[int, int], list[InPlace]]:
    """Per (node index, input position): the in-place placements the op allows.

    ``placements(i, node, j, in_bytes, out_bytes)`` says which placements of node ``i``'s
    output over its input ``j`` are safe; the default is :func:`.inplace.geometry`, the
    op's own dataflow. A code generator passes its kernels' narrower rules instead.
    """
    if placements is None:
        def placements(i, node, j, in_bytes, out_bytes):
            return geometry(node, j, in_bytes, out_bytes, alignment)
    out: dict[tuple[int, int], list[InPlace]] = {}
    for i, node in enumerate(g.nodes):
        if i in t.aliases or len(node.outputs) != 1:
            continue
        y = node.outputs[0]
        ky = t.group_of.get(id(y))
        if ky is None or ky in t.variable or ky in t.start:
            continue
        for j, x in enumerate(node.inputs):
            if x is None or id(x) not in t.group_of:
                continue
            kx = t.group_of[id(x)]
            if kx in t.keep or kx == ky:
                continue
            # The overwritten buffer must not be read through another input as well.
            if any(k != j and v is not None and t.group_of.get(id(v)) == kx
                   for k, v in enumerate(node.inputs)):
                continue
            geos = placements(i, node, j, t.sizes[kx], t.sizes[ky])
            if geos:
                out[(i, j)] = geos
    return out


def _order_problem(g: Graph, t: _Tensors, credits, scratch: list[int]) -> OrderProblem:
    nn = len(g.nodes)
    producer: dict[int, int] = {}
    preds: list[set[int]] = [set() for _ in range(nn)]
    reads: list[set[int]] = [set() for _ in range(nn)]
    writes: list[set[int]] = [set() for _ in range(nn)]
    readers: list[set[int]] = [set() for _ in t.members]
    last_var_user: dict[int, int] = {}
    for i, node in enumerate(g.nodes):
        for v in node.outputs:
            producer[id(v)] = i
            k = t.group_of[id(v)]
            if i not in t.aliases:
                writes[i].add(k)
        for v in node.inputs:
            if v is None:
                continue
            if id(v) in producer:
                preds[i].add(producer[id(v)])
            if id(v) in t.group_of:
                k = t.group_of[id(v)]
                reads[i].add(k)
                readers[k].add(i)
                if k in t.variable:  # state: keep its users in their original order
                    if k in last_var_user:
                        preds[i].add(last_var_user[k])
                    last_var_user[k] = i
    sizes = list(t.sizes)
    credit: list[dict[int, int]] = [dict() for _ in range(nn)]
    for (i, j), geos in credits.items():
        geo = geos[0]
        kx = t.group_of[id(g.nodes[i].inputs[j])]
        ky = t.group_of[id(g.nodes[i].outputs[0])]
        credit[i][kx] = max(credit[i].get(kx, 0), sizes[kx] + sizes[ky] - geo.footprint)
    return OrderProblem(nn, preds, reads, writes, sizes, readers, set(t.keep), set(t.start),
                        scratch, credit)


def _build(g: Graph, t: _Tensors, order: list[int], credits, scratch: list[int],
           use_inplace: bool) -> tuple[list[Buffer], list[Pin], dict[int, int],
                                       dict[int, InPlace]]:
    """Buffers (groups first, then scratch), pins, node->scratch buffer, node->in-place."""
    life = _lifetimes(g, t, order)
    buffers = [Buffer(t.sizes[k], f, l, t.members[k][0].name) for k, (f, l) in enumerate(life)]
    step = {node_idx: s for s, node_idx in enumerate(order)}
    scratch_buf: dict[int, int] = {}
    for i, b in enumerate(scratch):
        if b:
            scratch_buf[i] = len(buffers)
            buffers.append(Buffer(b, step[i], step[i], f"scratch:{g.nodes[i].name or i}"))
    pins: list[Pin] = []
    chosen: dict[int, InPlace] = {}
    if use_inplace:
        pinned_in: set[int] = set()
        rel: dict[int, tuple[int, int]] = {}     # buffer -> (cluster id, offset in cluster)
        extent: dict[int, tuple[int, int]] = {}  # cluster id -> (low, high)
        for i in order:
            node = g.nodes[i]
            best = None
            for (ni, j), geos in credits.items():
                if ni != i:
                    continue
                kx = t.group_of[id(node.inputs[j])]
                ky = t.group_of[id(node.outputs[0])]
                if life[kx][1] != step[i] or life[ky][0] != step[i] or kx in pinned_in:
                    continue
                cid, r = rel.get(kx, (kx, 0))
                lo, hi = extent.get(cid, (0, t.sizes[kx]))
                for geo in geos:
                    # Prefer the option that keeps the chain's rigid cluster compact.
                    new = (min(lo, r + geo.delta), max(hi, r + geo.delta + t.sizes[ky]))
                    key = (new[1] - new[0] - (hi - lo), geo.footprint)
                    if best is None or key < best[0]:
                        best = (key, geo, kx, ky, cid, r, new)
            if best is not None:
                _, geo, kx, ky, cid, r, new = best
                pins.append(Pin(kx, ky, geo.delta))
                pinned_in.add(kx)
                rel.setdefault(kx, (cid, 0))
                rel[ky] = (cid, r + geo.delta)
                extent[cid] = new
                chosen[i] = geo
    return buffers, pins, scratch_buf, chosen


def _place_regions(buffers: list[Buffer], pins: list[Pin], regions: list[tuple[str, int]],
                   alignment: int, strategy: str):
    """Assign clusters to regions (fast first) and place each region."""
    cls = core.clusters(buffers, pins)
    region_of = [0] * len(cls)
    offsets = [0] * len(buffers)
    used = [0] * len(regions)
    overflow: dict[str, int] = {}
    chosen_strategy = ""
    for r, (name, cap) in enumerate(regions):
        while True:
            mine = [c for c in range(len(cls)) if region_of[c] == r]
            idx = [m for c in mine for m, _ in cls[c]]
            local = {m: k for k, m in enumerate(idx)}
            sub = [buffers[m] for m in idx]
            sub_pins = [Pin(local[p.a], local[p.b], p.delta) for p in pins
                        if p.a in local and p.b in local]
            pl = core.plan(sub, strategy, alignment=alignment, pins=sub_pins)
            if r == 0:
                chosen_strategy = pl.strategy
            if pl.size <= cap or r == len(regions) - 1 or not mine:
                break
            # Spill the cluster whose top is highest (it is what overflows).
            def top(c):
                return max(pl.offsets[local[m]] + align_up(buffers[m].size, alignment)
                           for m, _ in cls[c])
            victim = max(mine, key=lambda c: (top(c), -c))
            region_of[victim] = r + 1
        for m in idx:
            offsets[m] = pl.offsets[local[m]]
        used[r] = pl.size
        if pl.size > cap:
            overflow[name] = pl.size - cap
    buffer_region = [0] * len(buffers)
    for c, cl in enumerate(cls):
        for m, _ in cl:
            buffer_region[m] = region_of[c]
    return offsets, buffer_region, used, overflow, chosen_strategy


#: Cap on the placements tried by the in-place hill-climb (each is one greedy placement,
#: ~1 ms for the MLPerf models), so very large graphs still plan quickly.
MAX_EVALUATIONS = 400
#: A placement costs about (nodes)^2 steps: graphs above ~70 nodes get fewer hill-climb
#: evaluations (work ~ WORK_BUDGET), so a 700-node unrolled RNN plans in seconds.
WORK_BUDGET = 2_000_000


def _subsets(g: Graph, t: _Tensors, credits) -> list[frozenset]:
    """Starting sets of in-place placements: all, none, and those whose extra bytes
    (footprint beyond the larger of input and output) stay under a fraction of that size."""
    out = [frozenset(credits), frozenset()]
    for f in (0.5, 0.25, 0.1, 0.05, 0.02, 0.0):
        keep = set()
        for (i, j), geos in credits.items():
            node = g.nodes[i]
            big = max(t.sizes[t.group_of[id(node.inputs[j])]],
                      t.sizes[t.group_of[id(node.outputs[0])]])
            if geos[0].footprint - big <= f * big:
                keep.add((i, j))
        if frozenset(keep) not in out:
            out.append(frozenset(keep))
    return out


def plan_memory(model: Model | Graph, *, alignment: int = core.DEFAULT_ALIGNMENT,
                regions: Sequence[tuple[str, int]] | None = None, inplace: bool = True,
                alias: bool = True, reorder_ops: bool = True, strategy: str = "best",
                kernels: str = "picojoule", order: Sequence[int] | None = None,
                needs: KernelNeeds | None = None) -> MemoryPlan:
    """Plan the RAM of ``model``'s main graph (see the module docstring).

    ``regions``: ``[(name, capacity bytes), ...]`` fastest first (default: one unlimited
    region called ``"ram"``). ``order``: force an execution order (node indices).
    ``needs``: what the kernels that will run the graph need (see :class:`KernelNeeds`);
    default: the op table's figures for the ``kernels`` family. With ``needs``, the
    in-place placements are also searched (which subset to use: forward-only kernels make
    chains of growing ops drift, so using every placement is not always best).
    """
    g = model.main if isinstance(model, Model) else model
    regions = list(regions) if regions else [("ram", UNLIMITED)]
    if needs is not None:
        t = _tensors(g, alignment, alias, needs.alias, state_outside=True)
        scratch = [align_up(s, alignment) if s else 0 for s in needs.scratch]
        if needs.placements is not None and inplace:
            credits = _credits(g, t, alignment, needs.placements)
        else:
            credits = {}
    else:
        t = _tensors(g, alignment, alias)
        scratch = [align_up(scratch_bytes(n, kernels), alignment) for n in g.nodes]
        credits = _credits(g, t, alignment) if inplace else {}
    candidates: list[tuple[list[int], str]] = []
    if order is not None:
        candidates.append((list(order), "given"))
    else:
        candidates.append((list(range(len(g.nodes))), "graph"))
        if reorder_ops and len(g.nodes) > 1:
            prob = _order_problem(g, t, credits, scratch)
            new, how = reorder(prob)
            if new != candidates[0][0] and peak_of(prob, new) < peak_of(prob, candidates[0][0]):
                candidates.append((new, how))

    def evaluate(ord_: list[int], how: str, keys: frozenset):
        sub = {k: credits[k] for k in keys}
        buffers, pins, scratch_buf, chosen = _build(g, t, ord_, sub, scratch, bool(sub))
        offsets, buffer_region, used, overflow, strat = _place_regions(
            buffers, pins, regions, alignment, strategy)
        # With kernel needs, a placement that saves nothing is not made (fewer kernels
        # run in place on a tie).
        key = (sum(overflow.values()), sum(used), len(chosen) if needs is not None else 0)
        return (key, ord_, how, buffers, pins, scratch_buf, chosen, offsets, buffer_region,
                used, overflow, strat)

    if needs is not None:
        starts = _subsets(g, t, credits)
    else:
        starts = [frozenset(credits), frozenset()] if credits else [frozenset()]
    best = None
    best_keys = frozenset()
    for ord_, how in candidates:
        for keys in starts:
            r = evaluate(ord_, how, keys)
            if best is None or r[0] < best[0]:
                best, best_keys = r, keys
    assert best is not None
    if needs is not None and credits:
        # Hill-climb over which placements to use, one toggle at a time.
        budget = min(MAX_EVALUATIONS, WORK_BUDGET // max(len(g.nodes), 1) ** 2)
        for _ in range(4):
            improved = False
            for k in sorted(credits):
                budget -= 1
                if budget < 0:
                    break
                keys = best_keys ^ {k}
                r = evaluate(best[1], best[2], frozenset(keys))
                if r[0] < best[0]:
                    best, best_keys, improved = r, frozenset(keys), True
            if not improved:
                break
    (_, ord_, how, buffers, pins, scratch_buf, chosen, offsets, buffer_region, used, overflow,
     strat) = best
    reg = []
    base = 0
    for (name, cap), u in zip(regions, used):
        reg.append(RegionUse(name, cap, u, base))
        base += u
    slots = {}
    for v in t.values:
        k = t.group_of[id(v)]
        slots[id(v)] = Slot(regions[buffer_region[k]][0], offsets[k], v.nbytes, k)
    scratch_slots = {i: Slot(regions[buffer_region[b]][0], offsets[b], buffers[b].size, b)
                     for i, b in scratch_buf.items()}
    lb = core.lower_bound(buffers, alignment, pins)
    if needs is not None:
        outside = needs.state_bytes + sum(
            max(v.nbytes for v in t.members[k]) for k in t.variable)
        source = needs.source
    else:
        outside = sum(state_bytes(n) for n in g.nodes)
        source = f"op table ({kernels} kernels)"
    return MemoryPlan(g, ord_, how, alignment, buffers, pins, offsets, buffer_region, slots,
                      scratch_slots, chosen, {i for i in t.aliases}, reg, sum(used), lb,
                      outside, strat, overflow, needs_source=source)


def split_regions(plan: MemoryPlan, regions: Sequence[tuple[str, int]]) -> MemoryPlan:
    """``plan``'s buffers, lifetimes, pins and in-place decisions, placed over ``regions``
    (fastest first, spilling as :func:`plan_memory` does) instead of one arena."""
    import dataclasses

    regions = list(regions)
    offsets, buffer_region, used, overflow, strat = _place_regions(
        plan.buffers, plan.pins, regions, plan.alignment, plan.strategy or "best")
    reg, base = [], 0
    for (name, cap), u in zip(regions, used):
        reg.append(RegionUse(name, cap, u, base))
        base += u
    slots = {vid: Slot(regions[buffer_region[s.buffer]][0], offsets[s.buffer], s.nbytes,
                       s.buffer) for vid, s in plan.slots.items()}
    scratch = {i: Slot(regions[buffer_region[s.buffer]][0], offsets[s.buffer], s.nbytes,
                       s.buffer) for i, s in plan.scratch.items()}
    return dataclasses.replace(plan, offsets=offsets, buffer_region=buffer_region, regions=reg,
                               slots=slots, scratch=scratch, arena_bytes=sum(used),
                               overflow=overflow, strategy=strat)


def check_plan(plan: MemoryPlan) -> list[str]:
    """Overlap violations of ``plan`` (empty when it is sound), per region."""
    problems = []
    for r, reg in enumerate(plan.regions):
        idx = [i for i, br in enumerate(plan.buffer_region) if br == r]
        local = {m: k for k, m in enumerate(idx)}
        pins = [Pin(local[p.a], local[p.b], p.delta) for p in plan.pins
                if p.a in local and p.b in local]
        bufs = [plan.buffers[i] for i in idx]
        for a, b in core.find_overlaps(bufs, [plan.offsets[i] for i in idx], plan.alignment,
                                       pins):
            problems.append(f"{reg.name}: {bufs[a].name!r} overlaps {bufs[b].name!r}")
    return problems
