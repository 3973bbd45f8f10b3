"""CONV_2D and DEPTHWISE_CONV_2D (int8) emitters.

Legacy uint8 layers (re-encoded as int8 by :mod:`picojoule.passes.uint8`) carry a filter
offset ``wo`` (``-zero_point`` of their per-tensor weights, :func:`filter_offset`): the
kernels with int16 or int32 weights (the DSP speed layouts, the Helium depthwise one)
simply hold ``w + wo``; the portable int8 kernels take ``wo`` as an argument and add
``wo * sum(x + input_offset)`` once per pixel (convolution) or per tap (depthwise), in
entry points of their own, so int8 models' code and instruction counts are unchanged.
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.common import (
    act_range,
    as_int32,
    bias_or_zeros,
    channel_multipliers,
    check_multipliers,
    declare,
    dsp_quad_layout,
    fast_rq_rows,
    fold_constants,
    is_mve,
    mve_rq,
    mve_rq_table,
    mve_row_layout,
    pad4,
    require_const,
    require_int8,
    w16_quad_layout,
)
from picojoule.backends.c.emitters.fc import (
    S4_UNPACK_LIMIT,
    checkpoint,
    is_int4,
    portable_int4,
    record_int4,
    require_weights,
    rollback,
    unpack_whole,
    unpacked_bytes,
    weights_array,
)
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops.conv import filter_offset, make_window


def _pair(node: Node, a: str, b: str) -> tuple[int, int]:
    return int(node.attrs.get(a, 1) or 1), int(node.attrs.get(b, 1) or 1)


def _geometry(node: Node, khw: tuple[int, int]):
    x, out = node.inputs[0], node.outputs[0]
    if len(x.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, "non-4-D tensors")
    return make_window(node, x.shape[1:3], khw, _pair(node, "stride_h", "stride_w"),
                       _pair(node, "dilation_h_factor", "dilation_w_factor"), out.shape[1:3])


@emitter("CONV_2D", dtypes=("int8",), isa=("portable", "dsp", "mve"))
def emit_conv(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    require_weights(ctx, node, w)
    require_int8(node, x, out)
    require_const(node, w, "weights")
    n, h, wd, c = x.shape
    cout, kh, kw, cg = w.shape
    if cg != c:
        raise unsupported(node, f"grouped convolution ({c} input channels, {cg} per group)")
    win = _geometry(node, (kh, kw))
    mult, shift = channel_multipliers(node, x, w, out, cout)
    lo, hi = act_range(node, out)
    rows = w.data.reshape(cout, -1)
    wo = filter_offset(node)
    check_multipliers(node, mult)
    if is_mve(ctx) and not wo:  # int8 Helium MACs; a filter offset takes the int16 weights
        return _emit_conv_mve(ctx, node, win, rows, mult, shift, (lo, hi))
    geometry = dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=cout,
        k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw, dil_h=win.dh, dil_w=win.dw,
        pad_t=win.pad_t, pad_l=win.pad_l, in_offset=-x.quant.zp0, out_offset=out.quant.zp0,
        act_min=lo, act_max=hi)
    bias0 = bias_or_zeros(node, b, cout)
    kpad = (kh * kw * c + 3) // 4 * 4
    lean = ctx.dsp and getattr(ctx, "prefer_size", False)
    if not ctx.dsp or lean:
        # Portable kernel (natural weight order), or with ``ctx.prefer_size`` the int8 SMLAD
        # layout: half the flash of the int16 weights below, ~25% more instructions.
        # A filter offset takes the kernels' _wo entry points (int8 weights as well).
        p = ctx.params("pj_conv_params", dict(
            geometry, weights=weights_array(ctx, "int8_t", dsp_quad_layout(rows) if lean else rows),
            bias=ctx.array("b", "int32_t", bias0),
            mult=ctx.array("m", "int32_t", mult), shift=ctx.array("s", "int32_t", shift),
            rq=fold_constants(ctx, mult, shift, out.quant.zp0)))
        fn = "pj_conv_s8_dsp" if lean else "pj_conv_s8"
        if wo:
            declare(ctx, f"void {fn}_wo(const pj_conv_params *p, int32_t weight_offset, "
                         "const int8_t *in, int8_t *out, int16_t *scratch)")
            return Emitted(f"{fn}_wo(&{p}, {wo}, {{in0}}, {{out0}}, (int16_t *){{scratch}});",
                           scratch=2 * kpad * 2, sources=("pj_conv.c",))
        return Emitted(f"{fn}(&{p}, {{in0}}, {{out0}}, (int16_t *){{scratch}});",
                       scratch=2 * kpad * 2, sources=("pj_conv.c",))
    # pj_conv_s8_w16: int16 weight pairs (w + wo), input offset folded into the bias, pj_rq3
    # constants when every channel allows them (TFLM's general formula otherwise).
    if wo:
        rows = rows.astype(np.int64) + wo
    words = w16_quad_layout(rows)
    # + the gather table of interior pixels (pj_im2col_gather) when c % 4
    table = ("int32_t", _gather_table(kh, kw, c, wd, win)) if c % 4 else None
    folded = bias0 - x.quant.zp0 * rows.astype(np.int64).sum(axis=1)
    fast = fast_rq_rows(mult, shift, out.quant.zp0, bias0, rows)
    p = ctx.params("pj_conv_params", dict(
        geometry, weights="(const int8_t *)" + weights_array(
            ctx, "int32_t", words, table,
            lanes=("int16_t", words.astype(np.uint32).view(np.int16))),
        bias=ctx.array("b", "int32_t", as_int32(folded)),
        mult=ctx.array("m", "int32_t", mult), shift=ctx.array("s", "int32_t", shift),
        rq=None if fast is None else ctx.array("rq3", "int32_t", fast)))
    declare(ctx, "void pj_conv_s8_w16(const pj_conv_params *p, const int8_t *in, int8_t *out, "
                 "int16_t *col)")
    return Emitted(f"pj_conv_s8_w16(&{p}, {{in0}}, {{out0}}, (int16_t *){{scratch}});",
                   scratch=2 * kpad * 2, sources=("pj_conv.c",))


@emitter("DEPTHWISE_CONV_2D", dtypes=("int8",), isa=("portable", "dsp", "mve"))
def emit_depthwise(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    require_weights(ctx, node, w)
    require_int8(node, x, out)
    require_const(node, w, "weights")
    n, h, wd, c = x.shape
    one, kh, kw, cout = w.shape
    if one != 1 or cout % c:
        raise unsupported(node, f"depthwise weights {list(w.shape)} for {c} input channels")
    win = _geometry(node, (kh, kw))
    mult, shift = channel_multipliers(node, x, w, out, cout)
    check_multipliers(node, mult)
    lo, hi = act_range(node, out)
    wt = w.data.reshape(kh * kw, cout)
    wo = filter_offset(node)
    # Depth multiplier 1 and channel quads: the MVE or SMLAD kernels (weights w + wo); the
    # portable otherwise.
    wide = wt.astype(np.int64) + wo if wo else wt
    if is_mve(ctx) and cout == c and c % 4 == 0:
        return _emit_depthwise_mve(ctx, node, win, wide, mult, shift, (lo, hi))
    if ctx.dsp and cout == c and c % 4 == 0:
        return _emit_depthwise_fast(ctx, node, win, wide, mult, shift, (lo, hi))
    weights = weights_array(ctx, "int8_t", wt)
    fields = dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=cout,
        depth_multiplier=cout // c, k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw,
        dil_h=win.dh, dil_w=win.dw, pad_t=win.pad_t, pad_l=win.pad_l,
        in_offset=-x.quant.zp0, out_offset=out.quant.zp0, act_min=lo, act_max=hi,
        weights=weights,
        bias=ctx.array("b", "int32_t", bias_or_zeros(node, b, cout)),
        mult=ctx.array("m", "int32_t", mult), shift=ctx.array("s", "int32_t", shift),
        rq=fold_constants(ctx, mult, shift, out.quant.zp0))
    p = ctx.params("pj_dwconv_params", fields)
    if wo:
        declare(ctx, "void pj_dwconv_s8_wo(const pj_dwconv_params *p, int32_t weight_offset, "
                     "const int8_t *in, int8_t *out, int32_t *scratch)")
        return Emitted(f"pj_dwconv_s8_wo(&{p}, {wo}, {{in0}}, {{out0}}, (int32_t *){{scratch}});",
                       scratch=4 * cout, sources=("pj_dwconv.c",))
    return Emitted(f"pj_dwconv_s8(&{p}, {{in0}}, {{out0}}, (int32_t *){{scratch}});",
                   scratch=4 * cout, sources=("pj_dwconv.c",))


def _emit_depthwise_fast(ctx: Context, node: Node, win, wt: np.ndarray, mult, shift,
                         act: tuple[int, int]) -> Emitted:
    """pj_dwconv_s8_fast: input offset folded into the bias (taps outside the image read
    the input zero point), int16 weights [c / 4][taps][w0, w2, w1, w3], pj_rq3 constants."""
    x, b, out = node.input(0), node.input(2), node.outputs[0]
    n, h, wd, c = x.shape
    taps = wt.shape[0]
    in_off = -x.quant.zp0
    bias = bias_or_zeros(node, b, c) + in_off * wt.astype(np.int64).sum(axis=0)
    q = wt.astype(np.int64).reshape(taps, c // 4, 4)[:, :, [0, 2, 1, 3]].transpose(1, 0, 2)
    fast = fast_rq_rows(mult, shift, out.quant.zp0, bias_or_zeros(node, b, c), wt.T)
    kh, kw = node.input(1).shape[1:3]
    fields = dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=c,
        depth_multiplier=1, k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw,
        dil_h=win.dh, dil_w=win.dw, pad_t=win.pad_t, pad_l=win.pad_l,
        in_offset=in_off, out_offset=out.quant.zp0, act_min=act[0], act_max=act[1],
        weights="(const int8_t *)" + weights_array(ctx, "int16_t", q),
        bias=ctx.array("b", "int32_t", as_int32(bias)),
        mult=ctx.array("m", "int32_t", mult), shift=ctx.array("s", "int32_t", shift),
        rq=None if fast is None else ctx.array("rq3", "int32_t", fast))
    p = ctx.params("pj_dwconv_params", fields)
    declare(ctx, "void pj_dwconv_s8_fast(const pj_dwconv_params *p, const int8_t *in, "
                 "int8_t *out, int32_t *scratch)")
    return Emitted(f"pj_dwconv_s8_fast(&{p}, {{in0}}, {{out0}}, (int32_t *){{scratch}});",
                   scratch=4 * taps + _strip_bytes(node, win, c), sources=("pj_dwconv.c",))


def _gather_table(kh: int, kw: int, c: int, in_w: int, win) -> np.ndarray:
    """Input byte offsets of the taps k of an interior pixel relative to its window's corner,
    padded to a multiple of 4 (offset 0: zero weights there), in groups (k0, k2, k1, k3)."""
    ky, kx, ci = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(c), indexing="ij")
    off = ((ky * win.dh * in_w + kx * win.dw) * c + ci).reshape(-1)
    kp = (off.size + 3) // 4 * 4
    full = np.zeros(kp, np.int64)
    full[:off.size] = off
    return full.reshape(-1, 4)[:, [0, 2, 1, 3]].reshape(-1)


def _mve_requant_fields(ctx: Context, mult, shift, zp: int, bias0: np.ndarray,
                        rows: np.ndarray) -> dict:
    """mult / shift / rq fields of the MVE kernels: pj_mve_store4's constants, or the
    original multipliers and shifts (rq 0) when some channel needs TFLM's general formula."""
    rq = mve_rq(mult, shift, zp, bias0, rows)
    if rq is None:
        return dict(mult=ctx.array("m", "int32_t", pad4(mult)),
                    shift=ctx.array("s", "int32_t", pad4(shift)), rq=None)
    m, nr, c2 = rq
    return dict(mult=ctx.array("m", "int32_t", m), shift=ctx.array("s", "int32_t", nr),
                rq=ctx.array("c2", "int32_t", c2))


def _emit_conv_mve(ctx: Context, node: Node, win, rows: np.ndarray, mult, shift,
                   act: tuple[int, int]) -> Emitted:
    """pj_conv_s8_mve (pj_mve.c): int8 weights [out_c / 4][K16 / 16][4][16], folded bias."""
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    n, h, wd, c = x.shape
    cout, kh, kw, _ = w.shape
    k = rows.shape[1]
    k16 = (k + 15) // 16 * 16
    wl = mve_row_layout(rows)
    bias0 = bias_or_zeros(node, b, cout)
    folded = bias0 - x.quant.zp0 * rows.astype(np.int64).sum(axis=1)
    direct = (kh == kw == 1 and win.sh == win.sw == 1 and win.pad_t == win.pad_l == 0
              and (win.oh, win.ow) == (h, wd))
    if c < 16 and not direct:  # + uint16 gather offsets of interior pixels (pj_mve.c)
        offs = np.zeros(k16, np.int64)
        ky, kx, ci = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(c), indexing="ij")
        offs[:k] = ((ky * win.dh * wd + kx * win.dw) * c + ci).reshape(-1)
        if offs.max() >= 1 << 16:
            raise unsupported(node, "a filter window wider than 64 KiB of input")
        tail = ("int8_t", offs.astype("<u2").view(np.int8))
    else:
        tail = None
    rq = mve_rq_table(mult, shift, out.quant.zp0, bias0, rows)
    fields = dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=cout,
        k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw, dil_h=win.dh, dil_w=win.dw,
        pad_t=win.pad_t, pad_l=win.pad_l, in_offset=-x.quant.zp0, out_offset=out.quant.zp0,
        act_min=act[0], act_max=act[1], weights=weights_array(ctx, "int8_t", wl, tail),
        bias=ctx.array("b", "int32_t", pad4(as_int32(folded))),
        mult=ctx.array("m", "int32_t", pad4(mult)), shift=ctx.array("s", "int32_t", pad4(shift)),
        rq=None if rq is None else ctx.array("rq", "int32_t", rq))
    p = ctx.params("pj_conv_params", fields)
    declare(ctx, "void pj_conv_s8_mve(const pj_conv_params *p, const int8_t *in, "
                 "int8_t *out, int8_t *col)")
    return Emitted(f"pj_conv_s8_mve(&{p}, {{in0}}, {{out0}}, (int8_t *){{scratch}});",
                   scratch=2 * k16, sources=("pj_mve.c",))


def _emit_depthwise_mve(ctx: Context, node: Node, win, wt: np.ndarray, mult, shift,
                        act: tuple[int, int]) -> Emitted:
    """pj_dwconv_s8_mve (pj_mve.c): int32 weights [c / 4][taps][4], folded bias."""
    x, b, out = node.input(0), node.input(2), node.outputs[0]
    n, h, wd, c = x.shape
    taps = wt.shape[0]
    kh, kw = node.input(1).shape[1:3]
    bias0 = bias_or_zeros(node, b, c)
    folded = bias0 - x.quant.zp0 * wt.astype(np.int64).sum(axis=0)
    # int8 weights without -128 (int16 pair sums are exact, pj_mve.c); not w + wo beyond int8
    dw16 = c % 16 == 0 and wt.min() > -128 and wt.max() <= 127
    if dw16:  # int8 [c / 16][taps][16]
        wl = wt.reshape(taps, c // 16, 16).transpose(1, 0, 2).reshape(-1)
        order = (np.arange(c) // 16 * 16 + np.tile(_DW16_CH, c // 16))
        rq = _mve_requant_fields(ctx, mult[order], shift[order], out.quant.zp0,
                                 bias0[order], wt.T[order])
        bias_arr = as_int32(folded)[order]
        fn = "pj_dwconv_s8_mve16"
    else:
        wl = wt.astype(np.int64).reshape(taps, c // 4, 4).transpose(1, 0, 2).reshape(-1)
        rq = _mve_requant_fields(ctx, mult, shift, out.quant.zp0, bias0, wt.T)
        bias_arr = as_int32(folded)
        fn = "pj_dwconv_s8_mve"
    fields = dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=c,
        depth_multiplier=1, k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw,
        dil_h=win.dh, dil_w=win.dw, pad_t=win.pad_t, pad_l=win.pad_l,
        in_offset=-x.quant.zp0, out_offset=out.quant.zp0, act_min=act[0], act_max=act[1],
        weights=(weights_array(ctx, "int8_t", wl) if dw16
                 else "(const int8_t *)" + weights_array(ctx, "int32_t", wl)),
        bias=ctx.array("b", "int32_t", bias_arr), **rq)
    p = ctx.params("pj_dwconv_params", fields)
    declare(ctx, f"void {fn}(const pj_dwconv_params *p, const int8_t *in, "
                 "int8_t *out, int32_t *scratch)")
    return Emitted(f"{fn}(&{p}, {{in0}}, {{out0}}, (int32_t *){{scratch}});",
                   scratch=4 * taps + _strip_bytes(node, win, c), sources=("pj_mve.c",))


#: Channel order of pj_dwconv_s8_mve16's accumulators within a group of 16 (pj_mve.c).
_DW16_CH = np.array([0, 4, 8, 12, 2, 6, 10, 14, 1, 5, 9, 13, 3, 7, 11, 15])


def _strip_bytes(node: Node, win, c: int) -> int:
    """Bytes of the depthwise kernels' row strip (pj_dw_strip in pj_common.h): k_h input rows
    of the (out_w - 1) * stride_w + (k_w - 1) * dil_w + 1 pixels an output row reads."""
    kh, kw = node.input(1).shape[1:3]
    pw = (win.ow - 1) * win.sw + (kw - 1) * win.dw + 1
    return kh * pw * c + 4


# --------------------------------------------------------------------------- int4 weights
def _emit_int4(ctx: Context, node: Node, emit, sizes) -> Emitted:
    """An int8 convolution emitter on int4 weights (see emitters/fc.py): packed in flash;
    portable cores read the nibbles (pj_conv_s4 / pj_dwconv_s4), DSP and Helium cores unpack
    the whole filter into the fast kernel's layout in scratch, or, when that needs more
    than S4_UNPACK_LIMIT bytes, run the portable kernel too."""
    if ctx.dsp:
        for prefer_size in sizes:
            mark = checkpoint(ctx)
            em, item = record_int4(ctx, node, emit, True, prefer_size)
            if unpacked_bytes(item) <= S4_UNPACK_LIMIT:
                return unpack_whole(ctx, em, item)
            rollback(ctx, mark)
    em, _ = record_int4(ctx, node, emit, False)
    extra = node.outputs[0].shape[-1] if node.op == "DEPTHWISE_CONV_2D" else 0
    return portable_int4(em, extra)


@emitter("CONV_2D", when=is_int4, dtypes=("int8 x int4",), isa=("portable", "dsp", "mve"))
def emit_conv_int4(ctx: Context, node: Node) -> Emitted:
    # the int16 weight pairs of the speed layout, else the int8 SXTB16 layout (half)
    return _emit_int4(ctx, node, emit_conv, (None, True))


@emitter("DEPTHWISE_CONV_2D", when=is_int4, dtypes=("int8 x int4",),
         isa=("portable", "dsp", "mve"))
def emit_depthwise_int4(ctx: Context, node: Node) -> Emitted:
    return _emit_int4(ctx, node, emit_depthwise, (None,))
