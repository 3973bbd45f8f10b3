"""BATCH_MATMUL emitters (float32, int8, int16; kernels in pj_matmul.c).

adj_x / adj_y and the broadcast batch dimensions (ranks 2-5) become strides; constant and
runtime operands are both supported. int8 on cores with the DSP extension takes the SMLAD
kernel (pj_bmm_s8_dsp); a constant rhs is then stored pre-packed in its quad layout with
its per-column offset terms, a runtime rhs is packed in scratch per rhs matrix.
Requantization constants are the reference kernel's (TFLM's per-tensor multiplier from
the float32 scales; int16 accumulates in int64 with the 64-bit requantization).
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.common import as_int32, dsp_quad_layout, fold_constants
from picojoule.backends.c.emitters.int16 import operand
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.errors import PicojouleError
from picojoule.ir import Node
from picojoule.ops import matmul as ref
from picojoule.ops.common import dtype_range
from picojoule.ops.registry import lookup
from picojoule.quant.fixedpoint import quantize_multiplier

SOURCES = ("pj_matmul.c",)


def _dt(node: Node) -> str:
    v = node.input(0)
    return v.dtype if v is not None else ""


def _steps(batch: tuple[int, ...], out_batch: tuple[int, ...]) -> list[int]:
    """Matrix-index step per (padded, 3) batch dimension of an operand; 0 where broadcast."""
    b = (1,) * (3 - len(batch)) + tuple(batch)
    steps, acc = [0, 0, 0], 1
    for d in range(2, -1, -1):
        steps[d] = acc if b[d] != 1 else 0
        acc *= b[d]
    return steps


def _orient(a: np.ndarray, adj: bool) -> np.ndarray:
    return np.swapaxes(a, -1, -2) if adj else a


@emitter("BATCH_MATMUL", when=lambda n: _dt(n) == "int8", dtypes=("int8",),
         isa=("portable", "dsp"))
@emitter("BATCH_MATMUL", when=lambda n: _dt(n) in ("float32", "int16"),
         dtypes=("float32", "int16"))
def emit_batch_matmul(ctx: Context, node: Node) -> Emitted:
    lhs, rhs, out = node.inputs[0], node.inputs[1], node.outputs[0]
    try:
        lookup(node).prepare(node)
    except PicojouleError as e:
        raise unsupported(node, str(e).split(": ", 1)[-1]) from None
    ls, rs, k = ref._bmm_operands(node)
    m, n = ls[-2], rs[-1]
    out_batch = tuple(out.shape[:-2])
    if len(out_batch) > 3:
        raise unsupported(node, f"a rank-{len(out.shape)} output")
    adj_x = bool(node.attrs.get("adj_x", False))
    adj_y = bool(node.attrs.get("adj_y", False))
    fields = dict(
        batch=[1] * (3 - len(out_batch)) + list(out_batch),
        lhs_step=_steps(ls[:-2], out_batch), rhs_step=_steps(rs[:-2], out_batch),
        m=m, k=k, n=n,
        lhs_sm=1 if adj_x else k, lhs_sk=m if adj_x else 1,
        rhs_sk=1 if adj_y else n, rhs_sn=k if adj_y else 1,
        lhs_offset=0, rhs_offset=0, out_offset=0, mult=0, shift=0, act_min=0, act_max=0,
        rhs_packed=None, col_terms=None, rq=None)
    a_op = operand(ctx, node, 0)
    if lhs.dtype == "float32":
        b_op = operand(ctx, node, 1)
        p = ctx.params("pj_bmm_params", fields)
        return Emitted(f"pj_bmm_f32(&{p}, {a_op}, {b_op}, {{out0}});", sources=SOURCES)

    real = ref._per_tensor_real_multiplier(lhs.quant.scale0, rhs.quant.scale0,
                                           out.quant.scale0)
    mult, shift = quantize_multiplier(real)
    lo_off, ro_off = -int(lhs.quant.zp0), -int(rhs.quant.zp0)
    qmin, qmax = dtype_range(out.dtype)
    fields.update(lhs_offset=lo_off, rhs_offset=ro_off, out_offset=int(out.quant.zp0),
                  act_min=qmin, act_max=qmax)
    if mult < 0:
        raise unsupported(node, "a negative requantization multiplier")
    if lhs.dtype == "int16":
        b_op = operand(ctx, node, 1)
        if shift >= 15:
            raise unsupported(node, f"an effective scale {real:g} >= 2^14")
        m16 = (mult + (1 << 15)) >> 16 if mult < 0x7FFF0000 else 0x7FFF
        lmax = max(abs(v + lo_off) for v in dtype_range("int16"))
        rmax = max(abs(v + ro_off) for v in dtype_range("int16"))
        if k * lmax * rmax * m16 + (1 << (14 - shift)) >= (1 << 62):
            raise unsupported(node, "an int64 accumulator that could overflow")
        fields.update(mult=m16, shift=15 - shift)
        p = ctx.params("pj_bmm_params", fields)
        return Emitted(f"pj_bmm_s16(&{p}, {a_op}, {b_op}, {{out0}});", sources=SOURCES)

    if not -31 <= shift <= 30:
        raise unsupported(node, f"requantization shift {shift}")
    fields.update(mult=mult, shift=shift)
    if not ctx.dsp:
        b_op = operand(ctx, node, 1)
        p = ctx.params("pj_bmm_params", fields)
        return Emitted(f"pj_bmm_s8(&{p}, {a_op}, {b_op}, {{out0}});", sources=SOURCES)

    kpad, npad = (k + 3) // 4 * 4, (n + 3) // 4 * 4
    scratch = 4 * kpad
    fields.update(rq=fold_constants(ctx, np.array([mult]), np.array([shift]), int(out.quant.zp0)))
    if rhs.is_const:
        mats = _orient(np.asarray(rhs.data), adj_y).reshape(-1, k, n).astype(np.int64)
        packed = [dsp_quad_layout(mat.T.astype(np.int8)).reshape(-1) for mat in mats]
        terms = np.zeros((len(mats), npad), np.int64)
        terms[:, :n] = lo_off * mats.sum(axis=1) + k * lo_off * ro_off
        fields.update(rhs_packed=ctx.array("rp", "int8_t", np.concatenate(packed)),
                      col_terms=ctx.array("ct", "int32_t", as_int32(terms)))
        b_op = "(const int8_t *)0"  # the kernel reads the packed copy only
    else:
        b_op = operand(ctx, node, 1)
        scratch += 4 * npad + npad * kpad
    p = ctx.params("pj_bmm_params", fields)
    return Emitted(f"pj_bmm_s8_dsp(&{p}, {a_op}, {b_op}, {{out0}}, {{scratch}});",
                   scratch=scratch, sources=SOURCES)
