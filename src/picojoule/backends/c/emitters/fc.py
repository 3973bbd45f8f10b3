"""FULLY_CONNECTED (int8) emitter: input offset folded into the bias at generation time."""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.common import (
    act_range,
    as_int32,
    bias_or_zeros,
    check_multipliers,
    declare,
    dsp_quad_layout,
    is_mve,
    mve_row_layout,
    mve_rq_table,
    pad4,
    fold_constants,
    require_const,
    require_int8,
)
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.quant.fixedpoint import quantize_multipliers


@emitter("FULLY_CONNECTED")
def emit_fc(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    require_int8(node, x, w, out)
    require_const(node, w, "weights")
    if node.attrs.get("weights_format", 0) not in (0, "DEFAULT"):
        raise unsupported(node, f"weights_format {node.attrs['weights_format']}")
    k = w.shape[-1]
    nd = int(np.prod(w.shape[:-1]))
    if out.shape[-1] != nd or x.size % k or out.size // nd != x.size // k:
        raise unsupported(node, f"input {list(x.shape)} with weights {list(w.shape)}")
    batches = x.size // k
    wq = w.quant
    in_s, out_s = float(np.float32(x.quant.scale0)), float(np.float32(out.quant.scale0))
    if wq.per_channel:
        if wq.scale.size != nd or wq.axis != 0:
            raise unsupported(node, "per-channel weight scales not along the output axis")
        reals = in_s * wq.scale.astype(np.float64) / out_s
        w_off = 0  # TFLM's per-channel path ignores weight zero points
    else:
        reals = np.full(nd, in_s * float(np.float32(wq.scale0)) / out_s)
        w_off = -wq.zp0
    mult, shift = quantize_multipliers(reals)
    check_multipliers(node, mult)
    lo, hi = act_range(node, out)
    rows = w.data.reshape(nd, k)
    in_off = -x.quant.zp0
    folded = bias_or_zeros(node, b, nd) + in_off * (rows.astype(np.int64).sum(axis=1)
                                                     + k * w_off)
    if is_mve(ctx) and w_off == 0:
        return _emit_fc_mve(ctx, node, rows, folded, bias_or_zeros(node, b, nd), mult, shift,
                            (lo, hi), batches)
    fields = dict(
        batches=batches, accum_depth=k, out_depth=nd, weight_offset=w_off,
        out_offset=out.quant.zp0, act_min=lo, act_max=hi,
        weights=ctx.array("w", "int8_t", dsp_quad_layout(rows) if ctx.dsp else rows),
        bias=ctx.array("b", "int32_t", as_int32(folded)),
        mult=ctx.array("m", "int32_t", mult), shift=ctx.array("s", "int32_t", shift),
        rq=fold_constants(ctx, mult, shift, out.quant.zp0))
    p = ctx.params("pj_fc_params", fields)
    if ctx.dsp:
        return Emitted(f"pj_fc_s8_dsp(&{p}, {{in0}}, {{out0}}, (int16_t *){{scratch}});",
                       scratch=2 * ((k + 3) // 4 * 4), sources=("pj_fc.c",))
    return Emitted(f"pj_fc_s8(&{p}, {{in0}}, {{out0}});", sources=("pj_fc.c",))


def _emit_fc_mve(ctx: Context, node: Node, rows: np.ndarray, folded: np.ndarray,
                 bias0: np.ndarray, mult, shift, act: tuple[int, int], batches: int) -> Emitted:
    """pj_fc_s8_mve (pj_mve.c): Helium dot products over chunks of 16, 4 rows per block."""
    out = node.outputs[0]
    nd, k = rows.shape
    rq = mve_rq_table(mult, shift, out.quant.zp0, bias0, rows)
    fields = dict(
        batches=batches, accum_depth=k, out_depth=nd, weight_offset=0,
        out_offset=out.quant.zp0, act_min=act[0], act_max=act[1],
        weights=ctx.array("w", "int8_t", mve_row_layout(rows)),
        bias=ctx.array("b", "int32_t", pad4(as_int32(folded))),
        mult=ctx.array("m", "int32_t", pad4(mult)), shift=ctx.array("s", "int32_t", pad4(shift)),
        rq=None if rq is None else ctx.array("rq", "int32_t", rq))
    p = ctx.params("pj_fc_params", fields)
    declare(ctx, "void pj_fc_s8_mve(const pj_fc_params *p, const int8_t *in, int8_t *out)")
    return Emitted(f"pj_fc_s8_mve(&{p}, {{in0}}, {{out0}});", sources=("pj_mve.c",))
