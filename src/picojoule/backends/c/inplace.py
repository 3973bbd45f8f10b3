"""In-place execution in the generated C library: which kernels may overwrite their input.

The planner (:mod:`picojoule.planner.inplace`) proves in-place placements against an
*abstract* chunk model (one output pixel per chunk, forward or reverse). The C kernels
have their own, concrete memory access order, so this module re-derives, per C kernel, a
chunk model that is TRUE of the kernel's code, and offers the planner only placements
proven against it (:func:`c_memory_plan` then runs the planner's own placement with
these credits). A kernel missing from :data:`KERNELS` never runs in place.

Every model below is *buffered*: a chunk reads everything it needs (into registers, an
int16 column buffer, an int32 accumulator array or a row strip in scratch) before it
writes any output byte of that chunk, and chunks run in increasing output order
(``forward``; no C kernel runs backwards, so the planner's ``reverse`` placements are
never offered). A placement ``output = input + delta`` (``delta <= 0``) is safe when no
chunk ``t`` writes an input byte whose last read happens in a chunk after ``t``.

Per-kernel reasoning (kernels/*.c):

- ``pj_conv_s8``, ``pj_conv_s8_dsp``, ``pj_conv_s8_w16`` (pj_conv.c): the output pixels of
  each batch run in pairs ``(px, px + 1)``; the im2col step copies BOTH windows into the
  ``col`` scratch (offset added / folded) before any output channel of the pair is
  computed and stored. Chunk = a pair (a lone last pixel when the count is odd).
- ``pj_dwconv_s8`` (pj_dwconv.c, portable): one output pixel at a time; all taps are
  accumulated into the int32 ``acc`` scratch, then the pixel's channels are stored.
  Chunk = one output pixel.
- ``pj_dwconv_s8_fast`` (pj_dwconv.c, SMLAD): per output row, ``pj_dw_strip`` copies the
  ``k_h`` input rows the row needs into the scratch strip, then the whole output row is
  written from the strip. Chunk = one output row (the copied rows are counted as read
  in full: conservative).
- ``pj_add_s8`` (pj_add.c), same-shape path, and ``pj_add_s8_lut``: ``out[i] = f(in1[i],
  in2[i])`` with both operands loaded before the store, ``i`` increasing. Chunk = one
  element (either input may be the overwritten one).

Reverse order (generated driver, no new kernel): a pointwise convolution (1x1 filter, no
padding) whose output pixels are larger than its input pixels can only overwrite its
input if the LAST pixels run first. The generator then calls the same kernel function
once per chunk, from the last chunk to the first, on a 1 x 2 (stride 1, same size: a pair
of consecutive pixels) or 1 x 1 (strided) sub-image with a copy of the parameter block
(:func:`reverse_call`). Each pixel's arithmetic is the kernel's own (a lone pixel is what
the kernel does for an odd pixel count), so results are bit-exact; the chunk reads only
its own input pixels into ``col`` before writing, so the output may start at the
input's start (``delta = 0``) even though it is larger.

Not in place (no model here): the MVE kernels (pj_mve.c, whose blocking was not
analysed), pooling, fully connected, softmax, data movement and every other kernel.
State (variable) tensors stay outside the arena and are never overwritten in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from picojoule.ir import Graph, Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.conv import make_window
from picojoule.planner import graph as pg
from picojoule.planner.core import align_up
from picojoule.planner.inplace import InPlace, window_chunks

ALIGN = 16
_BIG = np.iinfo(np.int64).max


@dataclass(frozen=True)
class KernelChunks:
    """A C kernel's real streaming order over one input (all chunks buffered, forward).

    ``last_read[q]``: the chunk that last reads input unit ``q`` (``unit_bytes`` bytes each;
    -1: never read). ``write_end[t]``: the end (exclusive, bytes from the output's start)
    of everything chunks ``0..t`` have written; chunk ``t`` writes
    ``[write_end[t-1], write_end[t])``.
    """

    last_read: np.ndarray
    unit_bytes: int
    write_end: np.ndarray
    #: Per input unit, the first chunk reading it (needed for ``reverse``); default: last.
    first_read: np.ndarray | None = None
    #: "forward" (chunk 0 first) or "reverse" (the last chunk first).
    order: str = "forward"


def _itemsize(v: Value) -> int:
    return int(np.dtype(to_numpy(v.dtype)).itemsize)


def _kernel_name(call: str) -> str:
    return call.split("(", 1)[0].strip()


def _pixels_to(node: Node, x: Value, y: Value, group) -> KernelChunks | None:
    """Windowed kernels: per-output-pixel last reads (the planner's conservative window
    cover) mapped to this kernel's coarser chunks by ``group(pixel index) -> chunk``."""
    ch = window_chunks(node, x, y)
    if ch is None:
        return None
    n, ho, wo, cout = y.shape
    pix = np.arange(n * ho * wo, dtype=np.int64)
    chunk_of = group(pix, ho * wo, wo)
    last = np.where(ch.last_need >= 0, chunk_of[np.maximum(ch.last_need, 0)], -1)
    n_chunks = int(chunk_of[-1]) + 1 if pix.size else 0
    ends = np.zeros(n_chunks, dtype=np.int64)
    np.maximum.at(ends, chunk_of, (pix + 1) * cout * _itemsize(y))
    return KernelChunks(last, ch.ci * _itemsize(x), ends)


def _pairs(pix: np.ndarray, npix: int, wo: int) -> np.ndarray:
    """pj_conv_*: pixel pairs within each batch (a lone last pixel if npix is odd)."""
    per = (npix + 1) // 2
    return (pix // npix) * per + (pix % npix) // 2


def _single(pix: np.ndarray, npix: int, wo: int) -> np.ndarray:
    return pix


def _rows(pix: np.ndarray, npix: int, wo: int) -> np.ndarray:
    return pix // wo


def _conv(node: Node, index: int) -> KernelChunks | None:
    if index != 0:
        return None
    return _pixels_to(node, node.inputs[0], node.outputs[0], _pairs)


def _dw_pixel(node: Node, index: int) -> KernelChunks | None:
    if index != 0:
        return None
    return _pixels_to(node, node.inputs[0], node.outputs[0], _single)


def _dw_rows(node: Node, index: int) -> KernelChunks | None:
    if index != 0:
        return None
    return _pixels_to(node, node.inputs[0], node.outputs[0], _rows)


def _add(node: Node, index: int) -> KernelChunks | None:
    x, y = node.inputs[index], node.outputs[0]
    other = node.inputs[1 - index]
    if other is None or x.shape != y.shape or other.shape != y.shape or x.dtype != y.dtype:
        return None  # only the same-shape loops are modelled
    idx = np.arange(x.size, dtype=np.int64)
    return KernelChunks(idx, _itemsize(x), (idx + 1) * _itemsize(y))


#: C kernel function -> its chunk model (see the module docstring for the reasoning).
KERNELS = {
    "pj_conv_s8": _conv,
    "pj_conv_s8_dsp": _conv,
    "pj_conv_s8_w16": _conv,
    "pj_dwconv_s8": _dw_pixel,
    "pj_dwconv_s8_fast": _dw_rows,
    "pj_add_s8": _add,
    "pj_add_s8_lut": _add,
}


def kernel_chunks(node: Node, call: str, index: int) -> KernelChunks | None:
    """The chunk model of the C kernel ``call`` runs, overwriting input ``index``."""
    fn = KERNELS.get(_kernel_name(call))
    if fn is None or len(node.outputs) != 1 or node.inputs[index] is None:
        return None
    return fn(node, index)


def min_shift(kc: KernelChunks) -> int:
    """Smallest ``s >= 0`` such that the output at ``input - s`` is safe: every chunk ``t``
    writes only below the lowest input byte still to be read by a later chunk."""
    n = kc.write_end.size
    q = np.arange(kc.last_read.size, dtype=np.int64)
    read = kc.last_read >= 0
    lowest = np.full(n + 1, _BIG, dtype=np.int64)
    np.minimum.at(lowest, kc.last_read[read], q[read] * kc.unit_bytes)
    pending = np.minimum.accumulate(lowest[::-1])[::-1]  # lowest byte with last read >= k
    after = pending[1:n + 1]                             # ... read by a chunk > t
    has = after != _BIG
    if not has.any():
        return 0
    return max(int(np.max(kc.write_end[has] - after[has])), 0)


def min_lift(kc: KernelChunks) -> int:
    """Reverse order: smallest ``u >= 0`` such that the output at ``input + u`` is safe:
    chunk ``t`` (run after every chunk above it) writes only above the highest input byte
    some chunk below ``t`` still has to read."""
    first = kc.first_read if kc.first_read is not None else kc.last_read
    n = kc.write_end.size
    q = np.arange(first.size, dtype=np.int64)
    read = first >= 0
    highest = np.full(n + 1, -1, dtype=np.int64)
    np.maximum.at(highest, first[read] + 1, (q[read] + 1) * kc.unit_bytes)
    pending = np.maximum.accumulate(highest)[:n]   # highest byte end read by a chunk < t
    start = np.concatenate([[0], kc.write_end[:-1]])
    has = pending >= 0
    if not has.any():
        return 0
    return max(int(np.max(pending[has] - start[has])), 0)


def is_safe(kc: KernelChunks, delta: int) -> bool:
    """Byte-level check of ``output = input + delta``: no byte of the input is written by a
    chunk that runs before the last chunk reading it (independent of the closed forms)."""
    n = kc.write_end.size
    if kc.order == "forward":
        last_t = kc.last_read
    else:  # the last run among a unit's readers is its first chunk
        first = kc.first_read if kc.first_read is not None else kc.last_read
        last_t = np.where(first >= 0, n - 1 - first, -1)
    n_in = last_t.size * kc.unit_bytes
    last_b = np.repeat(last_t, kc.unit_bytes)
    total = int(kc.write_end[-1]) if n else 0
    j = np.arange(total, dtype=np.int64)
    c = np.searchsorted(kc.write_end, j, side="right")  # chunk writing output byte j
    t = c if kc.order == "forward" else n - 1 - c
    rel = j + delta
    inside = (rel >= 0) & (rel < n_in)
    return not np.any(t[inside] < last_b[rel[inside]])


#: Kernels with the pj_conv_params interface that :func:`reverse_call` can drive backwards.
REVERSIBLE = {"pj_conv_s8", "pj_conv_s8_dsp", "pj_conv_s8_w16"}


def _reverse_mode(node: Node, call: str, index: int) -> str | None:
    """"pairs" (1x1, stride 1, same size), "pixels" (1x1, no padding, strided) or None."""
    if _kernel_name(call) not in REVERSIBLE or index != 0 or node.op != "CONV_2D":
        return None
    x, w, y = node.inputs[0], node.input(1), node.outputs[0]
    if w is None or len(w.shape) != 4 or w.shape[1:3] != (1, 1) or len(x.shape) != 4:
        return None
    n, h, wd, _ = x.shape
    _, oh, ow, _ = y.shape
    sh, sw = int(node.attrs.get("stride_h", 1) or 1), int(node.attrs.get("stride_w", 1) or 1)
    if (oh - 1) * sh + 1 > h or (ow - 1) * sw + 1 > wd:
        return None  # the window would be padded: not a plain pointwise layout
    win = make_window(node, (h, wd), (1, 1), (sh, sw), (1, 1), (oh, ow))  # as the emitter
    if win.pad_t or win.pad_l or (win.oh, win.ow) != (oh, ow):
        return None
    if sh == sw == 1 and (oh, ow) == (h, wd):
        return "pairs"
    return "pixels"


def reverse_chunks(node: Node, call: str, index: int) -> KernelChunks | None:
    """The chunk model of :func:`reverse_call`'s driver (see the module docstring)."""
    mode = _reverse_mode(node, call, index)
    if mode is None:
        return None
    x, y = node.inputs[0], node.outputs[0]
    n, h, wd, cin = x.shape
    _, oh, ow, cout = y.shape
    sh, sw = int(node.attrs.get("stride_h", 1) or 1), int(node.attrs.get("stride_w", 1) or 1)
    pix = np.arange(n * oh * ow, dtype=np.int64)
    b, r = pix // (oh * ow), pix % (oh * ow)
    src = (b * h + (r // ow) * sh) * wd + (r % ow) * sw     # input pixel of each output
    chunk = pix // 2 if mode == "pairs" else pix
    last = np.full(n * h * wd, -1, dtype=np.int64)
    first = np.full(n * h * wd, -1, dtype=np.int64)
    last[src] = chunk
    first[src] = chunk
    ends = np.zeros(int(chunk[-1]) + 1, dtype=np.int64)
    np.maximum.at(ends, chunk, (pix + 1) * cout * _itemsize(y))
    return KernelChunks(last, cin * _itemsize(x), ends, first, "reverse")


def placements(node: Node, call: str, index: int, in_size: int, out_size: int
               ) -> list[InPlace]:
    """The in-place placements the C kernel allows that save bytes, smallest first."""
    out = []
    kc = kernel_chunks(node, call, index)
    if kc is not None and kc.write_end.size:
        s = align_up(min_shift(kc), ALIGN)
        if is_safe(kc, -s):
            out.append(InPlace(index, "forward", -s, max(in_size + s, out_size),
                               None))  # type: ignore[arg-type]
    rc = reverse_chunks(node, call, index)
    if rc is not None and rc.write_end.size:
        u = align_up(min_lift(rc), ALIGN)
        if is_safe(rc, u):
            out.append(InPlace(index, "reverse", u, max(in_size, u + out_size),
                               None))  # type: ignore[arg-type]
    out = [o for o in out if o.footprint < in_size + out_size]
    return sorted(out, key=lambda o: (o.footprint, o.order != "forward"))


def placement(node: Node, call: str, index: int, in_size: int, out_size: int
              ) -> InPlace | None:
    """The forward in-place placement the C kernel allows, if it saves bytes."""
    fw = [o for o in placements(node, call, index, in_size, out_size) if o.order == "forward"]
    return fw[0] if fw else None


def reverse_call(node: Node, call: str, x_ptr: str, y_ptr: str, scratch_ptr: str) -> str:
    """C statements running ``call``'s kernel chunk by chunk, last chunk first."""
    mode = _reverse_mode(node, call, 0)
    assert mode is not None
    fn = _kernel_name(call)
    params = call.split("(", 1)[1].split(",", 1)[0].strip().lstrip("&")
    x, y = node.inputs[0], node.outputs[0]
    n, h, wd, cin = x.shape
    _, oh, ow, cout = y.shape
    sh, sw = int(node.attrs.get("stride_h", 1) or 1), int(node.attrs.get("stride_w", 1) or 1)
    lines = ["{", f"        pj_conv_params q = {params};", "        int32_t i;",
             "        q.batches = 1;", "        q.in_h = 1;", "        q.out_h = 1;"]
    if mode == "pairs":
        npix = n * oh * ow
        if npix % 2:  # the lone last pixel (the kernel's own odd-count case) runs first
            lines += ["        q.in_w = 1;", "        q.out_w = 1;",
                      f"        {fn}(&q, {x_ptr} + {(npix - 1) * cin}, "
                      f"{y_ptr} + {(npix - 1) * cout}, {scratch_ptr});"]
        lines += ["        q.in_w = 2;", "        q.out_w = 2;",
                  f"        for (i = {npix // 2 - 1}; i >= 0; --i) {{",
                  f"            {fn}(&q, {x_ptr} + i * {2 * cin}, {y_ptr} + i * {2 * cout}, "
                  f"{scratch_ptr});",
                  "        }"]
    else:
        lines += ["        q.in_w = 1;", "        q.out_w = 1;",
                  f"        for (i = {n * oh * ow - 1}; i >= 0; --i) {{",
                  f"            const int32_t b = i / {oh * ow}, r = i % {oh * ow};",
                  f"            const int32_t src = (b * {h} + (r / {ow}) * {sh}) * {wd} "
                  f"+ (r % {ow}) * {sw};",
                  f"            {fn}(&q, {x_ptr} + src * {cin}, {y_ptr} + i * {cout}, "
                  f"{scratch_ptr});",
                  "        }"]
    lines.append("    }")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- planning
@dataclass
class CPlan:
    """The generator's memory plan (see :func:`c_memory_plan`)."""

    order: list[int]
    arena: int
    offset: dict[int, int]                 # id(value) -> arena offset
    scratch: dict[int, tuple[int, int]]    # node index -> (offset, bytes)
    inplace: dict[int, InPlace]            # node index -> placement used
    aliases: set[int]                      # node indices that run as no-op aliases
    table: list[tuple[str, int, int, int, int]]   # (name, offset, size, first, last)
    plan: pg.MemoryPlan | None = None      # the planner's plan these figures come from


def c_memory_plan(g: Graph, needs: pg.KernelNeeds) -> CPlan:
    """The generated library's memory plan: :func:`picojoule.planner.plan_memory` over the
    needs the emitters declare (scratch, the in-place placements the C kernels honour,
    which nodes are aliases), one region. ``picojoule analyze`` plans with the same needs,
    so its arena is this one."""
    plan = pg.plan_memory(g, alignment=ALIGN, needs=needs)
    overlaps = pg.check_plan(plan)
    if overlaps:  # the planner placed two live buffers on common bytes: a planner bug
        raise AssertionError(f"unsound memory plan: {overlaps[0]}")
    offset = {vid: s.offset for vid, s in plan.slots.items()}
    scr = {i: (s.offset, s.nbytes) for i, s in plan.scratch.items()}
    table = _table(g, plan)
    return CPlan(list(plan.order), plan.arena_bytes, offset, scr, dict(plan.inplace),
                 set(plan.aliases), table, plan)


def _table(g: Graph, plan: pg.MemoryPlan):
    """(name, offset, size, first, last) per buffer, lifetimes in half steps: node step
    ``s`` reads at ``2s`` and writes at ``2s + 1``. An input run over in place ends at the
    read phase and its output starts at the write phase: byte by byte, the kernel proof
    guarantees exactly that (an overlapped input byte is never read after its output byte
    is written), so the table has no overlaps between buffers live together."""
    dies_inplace: set[int] = set()
    born_inplace: set[int] = set()
    for i, geo in plan.inplace.items():
        node = g.nodes[i]
        dies_inplace.add(plan.slots[id(node.inputs[geo.index])].buffer)
        born_inplace.add(plan.slots[id(node.outputs[0])].buffer)
    rows = []
    for k, (b, off) in enumerate(zip(plan.buffers, plan.offsets)):
        if not b.size:
            continue  # a state tensor: kept outside the arena
        first = 2 * b.first + (1 if k in born_inplace else 0)
        last = 2 * b.last + (0 if k in dies_inplace else 1)
        rows.append((b.name, off, b.size, first, last))
    return rows
