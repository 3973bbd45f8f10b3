"""CONV_2D and DEPTHWISE_CONV_2D (int8) emitters."""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.common import (
    act_range,
    bias_or_zeros,
    channel_multipliers,
    check_multipliers,
    dsp_quad_layout,
    fold_constants,
    require_const,
    require_int8,
)
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops.conv import make_window


def _pair(node: Node, a: str, b: str) -> tuple[int, int]:
    return int(node.attrs.get(a, 1) or 1), int(node.attrs.get(b, 1) or 1)


def _geometry(node: Node, khw: tuple[int, int]):
    x, out = node.inputs[0], node.outputs[0]
    if len(x.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, "non-4-D tensors")
    return make_window(node, x.shape[1:3], khw, _pair(node, "stride_h", "stride_w"),
                       _pair(node, "dilation_h_factor", "dilation_w_factor"), out.shape[1:3])


@emitter("CONV_2D")
def emit_conv(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    require_int8(node, x, w, out)
    require_const(node, w, "weights")
    n, h, wd, c = x.shape
    cout, kh, kw, cg = w.shape
    if cg != c:
        raise unsupported(node, f"grouped convolution ({c} input channels, {cg} per group)")
    win = _geometry(node, (kh, kw))
    mult, shift = channel_multipliers(node, x, w, out, cout)
    lo, hi = act_range(node, out)
    rows = w.data.reshape(cout, -1)
    check_multipliers(node, mult)
    weights = ctx.array("w", "int8_t", dsp_quad_layout(rows) if ctx.dsp else rows)
    fields = dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=cout,
        k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw, dil_h=win.dh, dil_w=win.dw,
        pad_t=win.pad_t, pad_l=win.pad_l, in_offset=-x.quant.zp0, out_offset=out.quant.zp0,
        act_min=lo, act_max=hi, weights=weights,
        bias=ctx.array("b", "int32_t", bias_or_zeros(node, b, cout)),
        mult=ctx.array("m", "int32_t", mult), shift=ctx.array("s", "int32_t", shift),
        rq=fold_constants(ctx, mult, shift, out.quant.zp0))
    p = ctx.params("pj_conv_params", fields)
    fn = "pj_conv_s8_dsp" if ctx.dsp else "pj_conv_s8"
    k = kh * kw * c
    kpad = (k + 3) // 4 * 4
    return Emitted(f"{fn}(&{p}, {{in0}}, {{out0}}, (int16_t *){{scratch}});",
                   scratch=2 * kpad * 2, sources=("pj_conv.c",))


@emitter("DEPTHWISE_CONV_2D")
def emit_depthwise(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    require_int8(node, x, w, out)
    require_const(node, w, "weights")
    n, h, wd, c = x.shape
    one, kh, kw, cout = w.shape
    if one != 1 or cout % c:
        raise unsupported(node, f"depthwise weights {list(w.shape)} for {c} input channels")
    win = _geometry(node, (kh, kw))
    mult, shift = channel_multipliers(node, x, w, out, cout)
    check_multipliers(node, mult)
    lo, hi = act_range(node, out)
    # SMLAD layout: multiplier 1, channel quads, no dilation (the general kernel otherwise).
    dsp = ctx.dsp and cout == c and c % 4 == 0 and win.dh == win.dw == 1
    wt = w.data.reshape(kh * kw, cout)
    if dsp:
        q = wt.astype(np.int16).reshape(kh * kw, cout // 4, 4)[:, :, [0, 2, 1, 3]]
        weights = "(const int8_t *)" + ctx.array("w", "int16_t", q)
    else:
        weights = ctx.array("w", "int8_t", wt)
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
    if dsp:
        return Emitted(f"pj_dwconv_s8_dsp(&{p}, {{in0}}, {{out0}}, (int32_t *){{scratch}});",
                       scratch=4 * cout, sources=("pj_dwconv.c",))
    return Emitted(f"pj_dwconv_s8(&{p}, {{in0}}, {{out0}}, (int32_t *){{scratch}});",
                   scratch=4 * cout, sources=("pj_dwconv.c",))
