"""Data-movement emitters: gathers, pack/unpack, splits, tiles and broadcasts, space/batch and
space/depth shuffles, mirror padding, fills, SHAPE, resizes, the int64 casts.

Wherever the parameters are constant (as TFLM requires), the movement is worked out here
with the reference kernel's own index logic (picojoule.ops.shape) and becomes fills and
N-D strided copies (``pj_copy``, emitters/shape.py's ``copy_call``: unit axes dropped,
contiguous axes merged into memcpy runs), so the C only moves bytes. Kernels in
pj_movement.c take what cannot be planned: gathers with runtime indices, resizes (index
and weight tables), runtime fill values. Every element type moves the same way (only its
size matters), so each emitter covers every type the C backend holds.

Runtime gather indices outside the indexed dimension, which the reference (and TFLM)
reject with an error, produce zero bytes in C (a safe, defined result); constant indices
out of range are refused at generation time.
"""

from __future__ import annotations

import itertools

import numpy as np

from picojoule.backends.c.emitters.shape import (
    DTYPES,
    MOVE_SOURCES,
    SOURCES,
    _contig,
    _elem,
    check_dtype,
    copy_call,
    fill_call,
    index_type,
    operand,
    reference_check,
)
from picojoule.backends.c.generator import CTYPES, Context, Emitted, emitter, unsupported
from picojoule.ir import Node, Value
from picojoule.ops.shape import (
    _bilinear_float_coords,
    _bilinear_int_coords,
    _block_params,
    _nearest_index,
    _paddings,
    _resize_setup,
)

GATHER_ND_MAX = 8


def _prod(xs) -> int:
    return int(np.prod([int(x) for x in xs], dtype=np.int64))


def _axis(node: Node, axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < max(rank, 1):
        raise unsupported(node, f"axis {axis} for rank {rank}")
    return a


def _same(node: Node, *values: Value) -> None:
    check_dtype(node, *values)
    if len({v.dtype for v in values}) > 1:
        raise unsupported(node, "inputs and outputs of different types")


def _const_axis(node: Node, index: int) -> int:
    v = node.input(index)
    if v is None or not v.is_const:
        raise unsupported(node, "a non-constant axis")
    return int(np.asarray(v.data).reshape(-1)[0])


def _join(calls: list[str]) -> str:
    return "\n    ".join(calls) if calls else "/* nothing to move */"


# --------------------------------------------------------------------------- gathers
def _gather_call(ctx: Context, node: Node, src: str, batch: int, outer: int, axis: int,
                 count: int, inner: int, elem: int, idx: np.ndarray | None,
                 idx_ref: str, itype: int) -> Emitted:
    """out[b, o, n] = params[b, o, idx[b, n]] over runs of ``inner`` elements. Constant
    indices (``idx``) that step evenly become one strided copy; others a flash table."""
    if batch * outer * count * inner == 0:
        return Emitted("/* empty gather */")
    if idx is not None:
        if idx.size and (idx.min() < 0 or idx.max() >= axis):
            raise unsupported(node, f"constant indices outside [0, {axis})")
        idx = idx.reshape(batch, count)
        steps = np.diff(idx, axis=1)
        if batch == 1 and (count == 1 or np.all(steps == steps[0, 0])):
            step = int(steps[0, 0]) if count > 1 else 0
            return Emitted(copy_call(
                ctx, node, src, "{out0}", elem, [outer, count, inner],
                [axis * inner, step * inner, 1], [count * inner, inner, 1],
                int(idx[0, 0]) * inner), sources=SOURCES)
        idx_ref, itype = ctx.array("idx", "int32_t", idx.astype(np.int32)), 0
    p = ctx.params("pj_gather_params", dict(batch=batch, outer=outer, axis_size=axis,
                                            count=count, run_bytes=inner * elem,
                                            index_type=itype))
    return Emitted(f"pj_gather(&{p}, {src}, {idx_ref}, {{out0}});", sources=MOVE_SOURCES)


@emitter("GATHER", dtypes=DTYPES)
def emit_gather(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    params, indices, y = node.inputs[0], node.inputs[1], node.outputs[0]
    _same(node, params, y)
    p_rank, i_rank = len(params.shape), len(indices.shape)
    axis = _axis(node, int(node.attrs.get("axis", 0)), p_rank)
    bd = int(node.attrs.get("batch_dims", 0))
    bd = bd + i_rank if bd < 0 else bd
    if not 0 <= bd <= min(axis, i_rank) or params.shape[:bd] != indices.shape[:bd]:
        raise unsupported(node, f"batch_dims {node.attrs.get('batch_dims')} with axis {axis}")
    batch = _prod(params.shape[:bd])
    outer = _prod(params.shape[bd:axis])
    inner = _prod(params.shape[axis + 1:])
    count = _prod(indices.shape[bd:])
    if batch * outer * count * inner != y.size:
        raise unsupported(node, f"output {list(y.shape)}")
    idx = np.asarray(indices.data).astype(np.int64) if indices.is_const else None
    itype = index_type(node, indices)
    return _gather_call(ctx, node, operand(ctx, node, 0), batch, outer, params.shape[axis],
                        count, inner, _elem(y), idx, "{in1}", itype)


@emitter("GATHER_ND", dtypes=DTYPES)
def emit_gather_nd(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    params, indices, y = node.inputs[0], node.inputs[1], node.outputs[0]
    _same(node, params, y)
    if not indices.shape:
        raise unsupported(node, "scalar indices")
    nd = int(indices.shape[-1])
    if nd > len(params.shape) or nd > GATHER_ND_MAX:
        raise unsupported(node, f"index depth {nd} for rank-{len(params.shape)} params")
    lead = [int(d) for d in params.shape[:nd]]
    inner = _prod(params.shape[nd:])
    count = _prod(indices.shape[:-1])
    if count * inner != y.size:
        raise unsupported(node, f"output {list(y.shape)}")
    itype = index_type(node, indices)
    src = operand(ctx, node, 0)
    if indices.is_const:  # flat row numbers: a one-axis gather
        idx = np.asarray(indices.data).astype(np.int64).reshape(count, nd)
        if idx.size and (np.any(idx < 0) or np.any(idx >= np.array(lead))):
            raise unsupported(node, "constant indices outside params")
        flat = np.ravel_multi_index(idx.T, lead) if nd else np.zeros(count, np.int64)
        return _gather_call(ctx, node, src, 1, 1, _prod(lead), count, inner, _elem(y),
                            np.asarray(flat, np.int64), "", 0)
    if count * inner == 0:
        return Emitted("/* empty gather */")
    pad = [0] * (GATHER_ND_MAX - nd)
    p = ctx.params("pj_gather_nd_params", dict(
        count=count, depth=nd, run_bytes=inner * _elem(y), index_type=itype,
        dim=lead + pad, stride=_contig(lead) + pad))
    return Emitted(f"pj_gather_nd(&{p}, {src}, {{in1}}, {{out0}});", sources=MOVE_SOURCES)


# --------------------------------------------------------------------------- pack / split
@emitter("PACK", dtypes=DTYPES)
def emit_pack(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    y = node.outputs[0]
    _same(node, y, *node.inputs)
    axis = _axis(node, int(node.attrs.get("axis", 0)), len(y.shape))
    outer, n, inner = _prod(y.shape[:axis]), int(y.shape[axis]), _prod(y.shape[axis + 1:])
    if len(node.inputs) != n or any(v.size != outer * inner for v in node.inputs):
        raise unsupported(node, f"{len(node.inputs)} inputs for an axis of {n}")
    calls = [copy_call(ctx, node, operand(ctx, node, i), "{out0}", _elem(y), [outer, inner],
                       [inner, 1], [n * inner, 1], 0, i * inner) for i in range(n)]
    return Emitted(_join(calls), sources=SOURCES)


@emitter("UNPACK", dtypes=DTYPES)
def emit_unpack(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x = node.inputs[0]
    _same(node, x, *node.outputs)
    axis = _axis(node, int(node.attrs.get("axis", 0)), len(x.shape))
    outer, n, inner = _prod(x.shape[:axis]), int(x.shape[axis]), _prod(x.shape[axis + 1:])
    if len(node.outputs) != n:
        raise unsupported(node, f"{len(node.outputs)} outputs for an axis of {n}")
    src = operand(ctx, node, 0)
    calls = [copy_call(ctx, node, src, f"{{out{i}}}", _elem(x), [outer, inner],
                       [n * inner, 1], [inner, 1], i * inner) for i in range(n)]
    return Emitted(_join(calls), sources=SOURCES)


def _split(ctx: Context, node: Node, data: int, axis: int) -> Emitted:
    x = node.inputs[data]
    _same(node, x, *node.outputs)
    axis = _axis(node, axis, len(x.shape))
    outer, total, inner = _prod(x.shape[:axis]), int(x.shape[axis]), _prod(x.shape[axis + 1:])
    sizes = [int(o.shape[axis]) if len(o.shape) == len(x.shape) else -1 for o in node.outputs]
    if any(s < 0 for s in sizes) or sum(sizes) != total:
        raise unsupported(node, f"output sizes {sizes} along axis {axis}")
    src = operand(ctx, node, data)
    calls, pos = [], 0
    for i, s in enumerate(sizes):
        calls.append(copy_call(ctx, node, src, f"{{out{i}}}", _elem(x), [outer, s * inner],
                               [total * inner, 1], [s * inner, 1], pos * inner))
        pos += s
    return Emitted(_join(calls), sources=SOURCES)


@emitter("SPLIT", dtypes=DTYPES)
def emit_split(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    return _split(ctx, node, 1, _const_axis(node, 0))


@emitter("SPLIT_V", dtypes=DTYPES)
def emit_split_v(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    return _split(ctx, node, 0, _const_axis(node, 2))


# --------------------------------------------------------------------------- tile / broadcast
def _replicate(ctx: Context, node: Node, src: str, in_shape, out_shape, elem: int) -> list[str]:
    """Copy the input into the output's corner, then, innermost axis first, repeat the
    filled block along each axis by doubling: copy 1, 2, 4 ... blocks after the filled
    ones (out -> out copies of disjoint regions), each a contiguous run per outer index,
    so even a broadcast of single elements moves in memcpy runs."""
    in_shape = [int(d) for d in in_shape]
    out_shape = [int(d) for d in out_shape]
    if _prod(out_shape) == 0:
        return []
    st = _contig(out_shape)
    calls = [copy_call(ctx, node, src, "{out0}", elem, in_shape, _contig(in_shape), st)]
    for k in range(len(out_shape) - 1, -1, -1):
        reps = out_shape[k] // in_shape[k]
        block = in_shape[k] * st[k]  # the filled part along axis k (inner axes in full)
        filled = 1
        while filled < reps:
            n = min(filled, reps - filled)
            calls.append(copy_call(ctx, node, "{out0}", "{out0}", elem,
                                   in_shape[:k] + [n * block], st[:k] + [1], st[:k] + [1],
                                   0, filled * block))
            filled += n
    return calls


@emitter("TILE", dtypes=DTYPES)
def emit_tile(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same(node, x, y)
    if len(x.shape) != len(y.shape) or any(
            d == 0 or o % d for o, d in zip(y.shape, x.shape)):
        raise unsupported(node, f"tiling {list(x.shape)} into {list(y.shape)}")
    return Emitted(_join(_replicate(ctx, node, operand(ctx, node, 0), x.shape, y.shape,
                                    _elem(y))), sources=SOURCES)


@emitter("BROADCAST_TO", dtypes=DTYPES)
def emit_broadcast_to(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same(node, x, y)
    if len(x.shape) > len(y.shape):
        raise unsupported(node, f"broadcasting {list(x.shape)} to {list(y.shape)}")
    shape = [1] * (len(y.shape) - len(x.shape)) + [int(d) for d in x.shape]
    if any(d not in (1, o) for d, o in zip(shape, y.shape)):
        raise unsupported(node, f"broadcasting {list(x.shape)} to {list(y.shape)}")
    return Emitted(_join(_replicate(ctx, node, operand(ctx, node, 0), shape, y.shape,
                                    _elem(y))), sources=SOURCES)


# --------------------------------------------------------------------------- shuffles
def _transpose(ctx: Context, node: Node, src: str, view, perm, elem: int) -> str:
    """Copy ``src`` viewed as ``view``, permuted by ``perm``, contiguously into out0."""
    st = _contig(view)
    count = [int(view[p]) for p in perm]
    return copy_call(ctx, node, src, "{out0}", elem, count, [st[p] for p in perm],
                     _contig(count))


@emitter("SPACE_TO_DEPTH", dtypes=DTYPES)
def emit_space_to_depth(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same(node, x, y)
    bs = int(node.attrs.get("block_size", 0))
    if len(x.shape) != 4 or bs < 1 or x.shape[1] % bs or x.shape[2] % bs:
        raise unsupported(node, f"block size {bs} for {list(x.shape)}")
    n, h, w, c = x.shape
    view = [n, h // bs, bs, w // bs, bs, c]
    return Emitted(_transpose(ctx, node, operand(ctx, node, 0), view, [0, 1, 3, 2, 4, 5],
                              _elem(y)), sources=SOURCES)


@emitter("DEPTH_TO_SPACE", dtypes=DTYPES)
def emit_depth_to_space(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same(node, x, y)
    bs = int(node.attrs.get("block_size", 0))
    if len(x.shape) != 4 or bs < 1 or x.shape[3] % (bs * bs):
        raise unsupported(node, f"block size {bs} for {list(x.shape)}")
    n, h, w, c = x.shape
    view = [n, h, w, bs, bs, c // (bs * bs)]
    return Emitted(_transpose(ctx, node, operand(ctx, node, 0), view, [0, 1, 3, 2, 4, 5],
                              _elem(y)), sources=SOURCES)


@emitter("SPACE_TO_BATCH_ND", dtypes=DTYPES)
def emit_space_to_batch_nd(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same(node, x, y)
    block, pads = _block_params(node, "paddings")
    shape = [int(d) for d in x.shape]
    rank, b, c = len(shape), shape[0], shape[-1]
    spatial = shape[1:-1]
    padded = [d + lo + hi for d, (lo, hi) in zip(spatial, pads)]
    if any(p % k for p, k in zip(padded, block)):
        raise unsupported(node, f"padded spatial size {padded} not a multiple of {block}")
    elem, src = _elem(y), operand(ctx, node, 0)
    if not any(lo or hi for lo, hi in pads):  # a pure transpose, as the reference's
        view = [b]
        for p, k in zip(padded, block):
            view += [p // k, k]
        view.append(c)
        perm = [2, 4, 0, 1, 3, 5] if rank == 4 else [2, 0, 1, 3]
        return Emitted(_transpose(ctx, node, src, view, perm, elem), sources=SOURCES)
    fill = y.quant.zp0 if y.quant is not None and y.dtype == "int8" else 0
    calls = [fill_call(y, fill)]
    ist, ost = _contig(shape), _contig(y.shape)
    # Block offset (i, j) takes the input rows h with (h + pad_top) % bh == i into batch
    # slab i * bw + j: one strided copy per block offset.
    for blk, offs in enumerate(itertools.product(*[range(k) for k in block])):
        count, sst, dst, so, do = [b], [ist[0]], [ost[0]], 0, blk * b * ost[0]
        for k, (i, kb, (lo, _), d) in enumerate(zip(offs, block, pads, spatial)):
            h0 = (i - lo) % kb
            count.append(len(range(h0, d, kb)))
            sst.append(kb * ist[1 + k])
            dst.append(ost[1 + k])
            so += h0 * ist[1 + k]
            do += (h0 + lo) // kb * ost[1 + k]
        calls.append(copy_call(ctx, node, src, "{out0}", elem, count + [c], sst + [1],
                               dst + [1], so, do))
    return Emitted(_join(calls), sources=SOURCES)


@emitter("BATCH_TO_SPACE_ND", dtypes=DTYPES)
def emit_batch_to_space_nd(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same(node, x, y)
    block, crops = _block_params(node, "crops")
    shape = [int(d) for d in x.shape]
    rank, nblk = len(shape), _prod(block)
    if shape[0] % nblk:
        raise unsupported(node, f"batch {shape[0]} not a multiple of block {block}")
    b, c, spatial = shape[0] // nblk, shape[-1], shape[1:-1]
    out = [int(d) for d in y.shape]
    if out[1:-1] != [s * k - lo - hi for s, k, (lo, hi) in zip(spatial, block, crops)] \
            or out[0] != b or out[-1] != c:
        raise unsupported(node, f"output {out}")
    elem, src = _elem(y), operand(ctx, node, 0)
    if not any(lo or hi for lo, hi in crops):
        view = list(block) + [b] + spatial + [c]
        perm = [rank - 2, rank - 1, 0, rank, 1, rank + 1] if rank == 4 else [1, 2, 0, 3]
        return Emitted(_transpose(ctx, node, src, view, perm, elem), sources=SOURCES)
    ist, ost = _contig(shape), _contig(out)
    calls = []
    # Batch slab i * bw + j fills output rows h * bh + i - crop_top (those inside).
    for blk, offs in enumerate(itertools.product(*[range(k) for k in block])):
        count, sst, dst, so, do = [b], [ist[0]], [ost[0]], blk * b * ist[0], 0
        for k, (i, kb, (lo, _), d) in enumerate(zip(offs, block, crops, spatial)):
            rows = [h for h in range(d) if 0 <= h * kb + i - lo < out[1 + k]]
            first = rows[0] if rows else 0
            count.append(len(rows))
            sst.append(ist[1 + k])
            dst.append(kb * ost[1 + k])
            so += first * ist[1 + k]
            do += (first * kb + i - lo) * ost[1 + k] if rows else 0
        calls.append(copy_call(ctx, node, src, "{out0}", elem, count + [c], sst + [1],
                               dst + [1], so, do))
    return Emitted(_join(calls), sources=SOURCES)


# --------------------------------------------------------------------------- mirror pad
@emitter("MIRROR_PAD", dtypes=DTYPES)
def emit_mirror_pad(ctx: Context, node: Node) -> Emitted:
    """The input copied into the middle, then, innermost axis first, each axis's left and
    right pads copied (reversed) from the filled part: TFLM's GetInputDimension, whose
    right pads beyond the mirrorable ones repeat input index 0."""
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same(node, x, y)
    pads = _paddings(node)
    mode = node.attrs.get("mode", 0)
    mode = {"REFLECT": 0, "SYMMETRIC": 1}.get(mode, mode)
    off = 1 if int(mode) == 0 else 0
    shape = [int(d) for d in x.shape]
    for (lo, _), d in zip(pads, shape):
        if lo > d - off:
            raise unsupported(node, f"left padding {lo} on an axis of size {d}")
    elem, st = _elem(y), _contig(y.shape)
    if y.size == 0:
        return Emitted("/* empty */")
    calls = [copy_call(ctx, node, operand(ctx, node, 0), "{out0}", elem, shape,
                       _contig(shape), st, 0, sum(lo * s for (lo, _), s in zip(pads, st)))]
    rank = len(shape)
    for k in range(rank - 1, -1, -1):
        lo, hi = pads[k]
        d = shape[k]
        # other axes: inner ones (already padded) in full, outer ones their middle
        count = [shape[j] if j < k else int(y.shape[j]) for j in range(rank)]
        base = sum(pads[j][0] * st[j] for j in range(k))
        strides = list(st)
        mirrored = max(0, min(hi, d - off))
        # (count, src position, src step, dst position, dst step) along axis k
        parts = [(lo, lo + off, 1, lo - 1, -1),
                 (mirrored, lo + d - 1 - off, -1, lo + d, 1),
                 (hi - mirrored, lo, 0, lo + d + mirrored, 1)]
        for n, sp, ss, dp, ds in parts:
            if n <= 0:
                continue
            cnt = list(count)
            cnt[k] = n
            sst, dst = list(strides), list(strides)
            sst[k], dst[k] = ss * st[k], ds * st[k]
            calls.append(copy_call(ctx, node, "{out0}", "{out0}", elem, cnt, sst, dst,
                                   base + sp * st[k], base + dp * st[k]))
    return Emitted(_join(calls), sources=SOURCES)


# --------------------------------------------------------------------------- fills
@emitter("FILL", dtypes=DTYPES)
def emit_fill(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    y, v = node.outputs[0], node.input(1)
    check_dtype(node, y)
    if v is None or v.size < 1:
        raise unsupported(node, "a missing fill value")
    if v.dtype != y.dtype:
        raise unsupported(node, f"a {v.dtype} value for a {y.dtype} output")
    if v.is_const:
        return Emitted(fill_call(y, np.asarray(v.data).reshape(-1)[0].item()), sources=SOURCES)
    if y.size == 0:
        return Emitted("/* empty fill */")
    return Emitted(f"pj_splat({{out0}}, {y.size}, {_elem(y)}, {{in1}});",
                   sources=MOVE_SOURCES)


@emitter("ZEROS_LIKE", dtypes=DTYPES)
def emit_zeros_like(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    y = node.outputs[0]
    check_dtype(node, y)
    return Emitted(fill_call(y, 0))


@emitter("SHAPE", dtypes=("int32", "int64"))
def emit_shape(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    y = node.outputs[0]
    if y.dtype not in ("int32", "int64") or y.size != len(node.inputs[0].shape):
        raise unsupported(node, f"a {y.dtype}{list(y.shape)} output")
    if y.size == 0:
        return Emitted("/* empty shape */")
    arr = ctx.array("shape", CTYPES[y.dtype], np.array(node.inputs[0].shape, np.int64))
    return Emitted(f"memcpy({{out0}}, {arr}, {y.nbytes});")


@emitter("RESHAPE", "SQUEEZE", "EXPAND_DIMS", when=lambda n: n.inputs[0].is_const,
         dtypes=DTYPES)
def emit_reshape_const(ctx: Context, node: Node) -> Emitted:
    """A constant reshaped at run time: its flash bytes copied (usually folded at import)."""
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    _same(node, x, y)
    if x.nbytes != y.nbytes:
        raise unsupported(node, f"{list(x.shape)} -> {list(y.shape)}")
    if y.size == 0:
        return Emitted("/* empty */")
    return Emitted(f"memcpy({{out0}}, {operand(ctx, node, 0)}, {y.nbytes});")


# --------------------------------------------------------------------------- resizes
def _resize_params(ctx: Context, node: Node, elem: int) -> str:
    x, y = node.inputs[0], node.outputs[0]
    return ctx.params("pj_resize_params", dict(
        batch=x.shape[0], in_h=x.shape[1], in_w=x.shape[2], out_h=y.shape[1],
        out_w=y.shape[2], channels=x.shape[3], elem=elem))


def _resize_io(node: Node) -> tuple[Value, Value]:
    x, y = node.inputs[0], node.outputs[0]
    _same(node, x, y)
    if len(y.shape) != 4 or y.shape[0] != x.shape[0] or y.shape[3] != x.shape[3]:
        raise unsupported(node, f"resizing {list(x.shape)} to {list(y.shape)}")
    return x, y


@emitter("RESIZE_NEAREST_NEIGHBOR", dtypes=DTYPES)
def emit_resize_nearest(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    _, y = _resize_io(node)
    ih, iw, oh, ow, align, half = _resize_setup(node)
    if y.size == 0:
        return Emitted("/* empty resize */")
    ys = ctx.array("ys", "int32_t", _nearest_index(ih, oh, align, half).astype(np.int32))
    xs = ctx.array("xs", "int32_t", _nearest_index(iw, ow, align, half).astype(np.int32))
    p = _resize_params(ctx, node, _elem(y))
    return Emitted(f"pj_resize_nearest(&{p}, {ys}, {xs}, {operand(ctx, node, 0)}, {{out0}});",
                   sources=MOVE_SOURCES)


@emitter("RESIZE_BILINEAR", dtypes=("int8", "float32"))
def emit_resize_bilinear(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    _, y = _resize_io(node)
    ih, iw, oh, ow, align, half = _resize_setup(node)
    if y.size == 0:
        return Emitted("/* empty resize */")
    src = operand(ctx, node, 0)
    p = _resize_params(ctx, node, _elem(y))

    def tab(base: str, v: np.ndarray, c: str = "int32_t") -> str:
        return ctx.array(base, c, v.astype(np.float32 if c == "float" else np.int32))

    if y.dtype == "float32":
        y0, y1, fy = _bilinear_float_coords(ih, oh, align, half)
        x0, x1, fx = _bilinear_float_coords(iw, ow, align, half)
        one = np.float32(1)
        args = [tab("y0", y0), tab("y1", y1), tab("wy", one - fy, "float"), tab("wy", fy, "float"),
                tab("x0", x0), tab("x1", x1), tab("wx", one - fx, "float"),
                tab("wx", fx, "float")]
        return Emitted(f"pj_resize_bilinear_f32(&{p}, {', '.join(args)}, {src}, {{out0}});",
                       sources=MOVE_SOURCES)
    if y.dtype != "int8":
        raise unsupported(node, f"{y.dtype} data (TFLM resizes float32 and int8 bilinearly)")
    py, y0, y1 = _bilinear_int_coords(ih, oh, align, half)
    px, x0, x1 = _bilinear_int_coords(iw, ow, align, half)
    args = [tab("y0", y0), tab("y1", y1), tab("wy", py - 1024 * y0),
            tab("x0", x0), tab("x1", x1), tab("wx", px - 1024 * x0)]
    return Emitted(f"pj_resize_bilinear_s8(&{p}, {', '.join(args)}, {src}, {{out0}});",
                   sources=MOVE_SOURCES)


# --------------------------------------------------------------------------- casts
_CAST_CODES = {"int8": 0, "int16": 1, "int32": 2, "uint32": 3, "float32": 4, "uint8": 5,
               "bool": 6, "int64": 7}


def _wide_cast(node: Node) -> bool:
    """The casts LiteRT adds to TFLM's set: to or from int64, float32 -> uint8 (NaN ->
    the maximum); the others are emitters/signal.py's pj_cast."""
    x, y = node.inputs[0], node.outputs[0]
    return "int64" in (x.dtype, y.dtype) or (x.dtype, y.dtype) == ("float32", "uint8")


@emitter("CAST", when=_wide_cast, dtypes=("int64", "uint8"))
def emit_cast_wide(ctx: Context, node: Node) -> Emitted:
    reference_check(node)
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype not in _CAST_CODES or y.dtype not in _CAST_CODES or x.size != y.size:
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    if y.size == 0:
        return Emitted("/* empty cast */")
    return Emitted(f"pj_cast_wide({x.size}, {_CAST_CODES[x.dtype]}, {_CAST_CODES[y.dtype]}, "
                   f"{operand(ctx, node, 0)}, {{out0}});", sources=MOVE_SOURCES)

