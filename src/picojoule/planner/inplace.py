"""In-place execution: when may an op's output overwrite its (dying) input?

An op is analysed as a stream of *chunks*: chunk ``k`` writes output elements
``[k*co, (k+1)*co)`` (``co`` = one output pixel's channels for windowed ops, one
element for elementwise ops). Input *pixels* (``ci`` consecutive elements) are read by
a known range of chunks: ``first_need[q]`` .. ``last_need[q]`` (``-1``: never read,
e.g. rows a stride skips). Chunks run in raster order (``forward``) or backwards
(``reverse``, used when each output pixel is larger than its input pixel, so the
output can grow "behind" the reads).

The output is placed at ``offset(input) + delta``. :func:`geometry` finds the delta
that keeps every chunk's writes off every input byte still to be read, and reports
the footprint of the pair. Two kinds of kernels:

- ``direct`` (convolutions, pooling): a chunk may write some outputs before reading
  all of its window, so its writes must avoid inputs needed by this chunk too;
- ``buffered`` (elementwise): each element is read into a register before its output
  is written, so only inputs of *later* chunks must be avoided.

MCUNet's TinyEngine runs depthwise convolutions in place with a small per-channel buffer
instead of a second activation; vMCU (Zheng et al., MLSys 2024) overlaps input and
output segments. Here the small extra is an address gap between output and input (a
about one row's worth of bytes, reported per op), and the idea is generalised to any op whose
chunk->input dependency is a monotone window, and to data-movement ops (slices, pads,
concatenation) whose element-to-element gather map is observed from their kernel.
``runtime/arena.py`` replays exactly this chunk order against the arena bytes to prove it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from picojoule.ir import Node, Value
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.registry import BINARY, ELEMENTWISE, MOVEMENT, UNARY, WINDOWED, info_of
from picojoule.planner.core import align_up

@dataclass(frozen=True)
class Chunks:
    """How an op streams: see the module docstring."""

    co: int                   # output elements per chunk
    ci: int                   # input elements per input pixel
    n_chunks: int
    first_need: np.ndarray    # per input pixel, first chunk index reading it (-1: none)
    last_need: np.ndarray     # per input pixel, last chunk index reading it (-1: none)
    kind: str                 # "direct" | "buffered"


@dataclass(frozen=True)
class InPlace:
    """A proven in-place placement of ``node``'s output over its input ``index``."""

    index: int                # which node input is overwritten
    order: str                # "forward" | "reverse"
    delta: int                # offset(output) - offset(input), a multiple of the alignment
    footprint: int            # bytes the pair spans together
    chunks: Chunks


def _window_axis(n_in: int, n_out: int, k: int, s: int, d: int, padding: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per input index along one axis: first and last output index whose window covers it
    (conservatively the whole dilated span), -1 if none."""
    eff = (k - 1) * d + 1
    pad = max(((n_out - 1) * s + eff - n_in) // 2, 0) if padding == "SAME" else 0
    first = np.full(n_in, -1, dtype=np.int64)
    last = np.full(n_in, -1, dtype=np.int64)
    for o in range(n_out):
        lo = max(o * s - pad, 0)
        hi = min(o * s - pad + eff - 1, n_in - 1)
        if hi < lo:
            continue
        seg = slice(lo, hi + 1)
        first[seg] = np.where(first[seg] < 0, o, first[seg])
        last[seg] = o
    return first, last


def window_chunks(node: Node, x: Value, y: Value) -> Chunks | None:
    """Chunks of a windowed NHWC op (one output pixel per chunk)."""
    if len(x.shape) != 4 or len(y.shape) != 4 or x.shape[0] != y.shape[0]:
        return None
    n, h, w, cin = x.shape
    _, ho, wo, cout = y.shape
    a = node.attrs
    if node.op in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        wt = node.input(1)
        if wt is None or len(wt.shape) != 4:
            return None
        kh, kw = wt.shape[1], wt.shape[2]
        dh, dw = a.get("dilation_h_factor", 1), a.get("dilation_w_factor", 1)
    else:
        kh, kw = a.get("filter_height", 1), a.get("filter_width", 1)
        dh = dw = 1
    sh, sw = a.get("stride_h", 1), a.get("stride_w", 1)
    pad = a.get("padding", "SAME")
    fr, lr = _window_axis(h, ho, kh, sh, dh, pad)
    fc, lc = _window_axis(w, wo, kw, sw, dw, pad)
    b = np.arange(n, dtype=np.int64)[:, None, None]
    need = (lr >= 0)[None, :, None] & (lc >= 0)[None, None, :]
    first = ((b * ho + fr[None, :, None]) * wo + fc[None, None, :])
    last = ((b * ho + lr[None, :, None]) * wo + lc[None, None, :])
    first = np.where(need, first, -1).reshape(-1)
    last = np.where(need, last, -1).reshape(-1)
    return Chunks(cout, cin, n * ho * wo, first, last, "direct")


def elementwise_chunks(x: Value, y: Value) -> Chunks | None:
    if x.shape != y.shape:
        return None
    idx = np.arange(x.size, dtype=np.int64)
    return Chunks(1, 1, y.size, idx, idx, "buffered")


def gather_chunks(node: Node, index: int) -> Chunks | None:
    """Chunks of a data-movement op, one output element each, from its *observed* gather map.

    The op's own kernel is probed: inputs all ``1`` then all ``2`` tell which outputs come
    from input ``index`` at all; inputs holding the digits of each element's index tell
    which element; two random inputs then confirm ``out[k] == in[j(k)]`` everywhere (else
    None). Other inputs are held at zero. This avoids re-deriving every slicing rule
    (masks, negative strides, ellipsis) just to plan memory.
    """
    from picojoule.ops import lookup  # the kernels, only for these probes

    x, y = node.inputs[index], node.outputs[0]
    if x is None or x.dtype != y.dtype or x.size == 0 or y.size == 0:
        return None
    dt = np.dtype(to_numpy(x.dtype))
    if dt.kind not in "iuf":
        return None
    try:
        kernel = lookup(node).prepare(node)
    except Exception:  # noqa: BLE001 - an op the reference cannot run is simply not in place
        return None
    fixed = [v.data if v is not None and v.data is not None else
             (np.zeros(v.shape, to_numpy(v.dtype)) if v is not None else None)
             for v in node.inputs]

    def run(values: np.ndarray) -> np.ndarray:
        args = list(fixed)
        args[index] = values.astype(dt).reshape(x.shape)
        return np.asarray(kernel(args)[0]).reshape(-1)

    try:
        depends = run(np.full(x.size, 1)) != run(np.full(x.size, 2))
        bits = min(dt.itemsize * 8 - 1, 24 if dt.kind == "f" else 62)
        idx = np.arange(x.size, dtype=np.int64)
        j = np.zeros(y.size, dtype=np.int64)
        shift = 0
        while shift == 0 or (x.size - 1) >> shift:
            digit = run((idx >> shift) & ((1 << bits) - 1))
            j |= digit.astype(np.int64) << shift
            shift += bits
        j = np.where(depends, j, -1)
        if (j >= x.size).any():
            return None
        rng = np.random.default_rng(0)
        for _ in range(2):
            if dt.kind == "f":
                probe = rng.standard_normal(x.size)
            else:
                info = np.iinfo(dt)
                probe = rng.integers(info.min, info.max, x.size, endpoint=True)
            out = run(probe)
            if not np.array_equal(out[depends], probe.astype(dt)[j[depends]]):
                return None
    except Exception:  # noqa: BLE001 - a kernel that rejects probes: no in-place
        return None
    first = np.full(x.size, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(x.size, -1, dtype=np.int64)
    k = np.flatnonzero(depends)
    np.minimum.at(first, j[k], k)
    np.maximum.at(last, j[k], k)
    first = np.where(last >= 0, first, -1)
    return Chunks(1, 1, y.size, first, last, "buffered")


def chunks_for(node: Node, index: int) -> Chunks | None:
    """The streaming model of ``node`` overwriting its input ``index``, if it has one."""
    if len(node.outputs) != 1:
        return None
    x, y = node.inputs[index], node.outputs[0]
    if x is None:
        return None
    info = info_of(node.op)
    if info is None:
        return None
    if info.has(ELEMENTWISE, UNARY) and index == 0:
        return elementwise_chunks(x, y)
    if info.has(ELEMENTWISE, BINARY) and index in (0, 1):
        return elementwise_chunks(x, y)
    if info.has(WINDOWED) and index == 0:
        return window_chunks(node, x, y)
    if info.has(MOVEMENT):
        return gather_chunks(node, index)
    return None


def _itemsize(v: Value) -> int:
    return int(np.dtype(to_numpy(v.dtype)).itemsize)


def chunk_times(ch: Chunks, order: str) -> tuple[np.ndarray, np.ndarray]:
    """Per input pixel, the processing times of its first and last read (-1: never read)."""
    if order == "forward":
        return ch.first_need, ch.last_need
    k = ch.n_chunks - 1
    first = np.where(ch.last_need >= 0, k - ch.last_need, -1)
    last = np.where(ch.first_need >= 0, k - ch.first_need, -1)
    return first, last


_BIG = np.iinfo(np.int64).max


def _forward_lb(ch: Chunks, bo: int, bi: int) -> int:
    """Forward order, output at ``-s``: chunk k writes [k*bo - s, (k+1)*bo - s), which must
    stay below every input pixel still to be read (last read at time >= k; > k when
    ``buffered``). Returns the smallest such s (may be negative)."""
    last = ch.last_need
    q = np.arange(last.size, dtype=np.int64)
    need = last >= 0
    lowest = np.full(ch.n_chunks + 1, _BIG, dtype=np.int64)
    np.minimum.at(lowest, last[need], q[need])
    pending = np.minimum.accumulate(lowest[::-1])[::-1]  # min q with last(q) >= k
    k = np.arange(ch.n_chunks, dtype=np.int64)
    p = pending[k + 1] if ch.kind == "buffered" else pending[k]
    has = p != _BIG
    if not has.any():
        return -_BIG
    return int(np.max((k[has] + 1) * bo - p[has] * bi))


def _reverse_lb(ch: Chunks, bo: int, bi: int) -> int:
    """Reverse order, output at ``+u``: chunk k (run at time n-1-k) writes
    [u + k*bo, u + (k+1)*bo), which must stay above every input pixel still to be read
    (first needed by a chunk <= k; < k when ``buffered``). Returns the smallest u."""
    first = ch.first_need
    q = np.arange(first.size, dtype=np.int64)
    need = first >= 0
    highest = np.full(ch.n_chunks + 1, -1, dtype=np.int64)
    np.maximum.at(highest, first[need] + (1 if ch.kind == "buffered" else 0), q[need])
    pending = np.maximum.accumulate(highest)  # max q with first(q) <= k (or < k)
    k = np.arange(ch.n_chunks, dtype=np.int64)
    p = pending[k]
    has = p >= 0
    if not has.any():
        return -_BIG
    return int(np.max((p[has] + 1) * bi - k[has] * bo))


def geometry(node: Node, index: int, in_size: int, out_size: int, alignment: int
             ) -> list[InPlace]:
    """In-place placements of ``node``'s output over input ``index``, smallest first.

    ``in_size``/``out_size`` are the two buffers' (aligned) sizes. Forward and reverse
    order each give one candidate (the planner picks the one that keeps a chain of
    in-place ops from drifting); empty when the op has no streaming model or when
    overlapping saves nothing.
    """
    ch = chunks_for(node, index)
    if ch is None:
        return []
    x, y = node.inputs[index], node.outputs[0]
    bi = ch.ci * _itemsize(x)
    bo = ch.co * _itemsize(y)
    options = []
    s = align_up(max(_forward_lb(ch, bo, bi), 0), alignment)
    options.append(InPlace(index, "forward", -s, max(in_size + s, out_size), ch))
    u = align_up(max(_reverse_lb(ch, bo, bi), 0), alignment)
    options.append(InPlace(index, "reverse", u, max(in_size, u + out_size), ch))
    # Keep only options that save bytes and that the byte-level check (the one the arena
    # interpreter replays) confirms; the closed forms above should always agree with it.
    good = [o for o in options
            if o.footprint < in_size + out_size and safe(ch, o.order, bo, bi, o.delta)]
    return sorted(good, key=lambda o: (o.footprint, o.order != "forward"))


def write_conflicts(ch: Chunks, order: str, bo: int, bi: int, delta: int) -> np.ndarray:
    """Per input byte: True where some chunk writes it before (``buffered``: strictly
    before; ``direct``: at or before) the byte's last read. The arena interpreter uses
    this to decide which bytes a real kernel would have read corrupted."""
    n_in = ch.last_need.size * bi
    _, last_t = chunk_times(ch, order)
    last_b = np.repeat(last_t, bi)
    tw = np.full(n_in, np.iinfo(np.int64).max, dtype=np.int64)
    out_bytes = ch.n_chunks * bo
    j = np.arange(out_bytes, dtype=np.int64)
    rel = delta + j
    inside = (rel >= 0) & (rel < n_in)
    k = j // bo
    t = k if order == "forward" else ch.n_chunks - 1 - k
    tw[rel[inside]] = t[inside]
    needed = last_b >= 0
    if ch.kind == "buffered":
        return needed & (tw < last_b)
    return needed & (tw <= last_b)


def safe(ch: Chunks, order: str, bo: int, bi: int, delta: int) -> bool:
    return not write_conflicts(ch, order, bo, bi, delta).any()
