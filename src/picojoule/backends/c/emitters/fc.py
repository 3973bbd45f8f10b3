"""FULLY_CONNECTED (int8) emitter: input offset folded into the bias at generation time.

A legacy uint8 layer (``litert_uint8``, re-encoded as int8 by :mod:`picojoule.passes.uint8`)
runs pj_fc_u8 / pj_fc_u8_dsp: the same sums with its weight offset, then LiteRT's uint8
requantization (the accumulator scaled in double and rounded).

int4 weights (``"int4"`` constants, int8 activations) share the int8 emitters: the weight
array they would emit is written PACKED, two values per byte (:func:`weights_array` while
an int4 recorder is set on the context).  Portable cores run kernels that read the
nibbles (pj_int4.c); DSP and Helium cores unpack them at run time into the fast kernel's
own layout in scratch -- a convolution's whole filter at once when it fits in
:data:`S4_UNPACK_LIMIT` bytes (the portable kernel otherwise) -- and run the int8 kernel;
fully connected layers on DSP cores multiply the packed nibbles directly (pj_fc_s4_dsp).
"""

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
from picojoule.ops.common import litert_uint8
from picojoule.ops.matmul import _fc_requant_params, fc_uint8_scale


@emitter("FULLY_CONNECTED", dtypes=("int8",), isa=("portable", "dsp", "mve"))
def emit_fc(ctx: Context, node: Node) -> Emitted:
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    require_weights(ctx, node, w)
    require_int8(node, x, out)
    require_const(node, w, "weights")
    if node.attrs.get("weights_format", 0) not in (0, "DEFAULT"):
        raise unsupported(node, f"weights_format {node.attrs['weights_format']}")
    k = w.shape[-1]
    nd = int(np.prod(w.shape[:-1]))
    if out.shape[-1] != nd or x.size % k or out.size // nd != x.size // k:
        raise unsupported(node, f"input {list(x.shape)} with weights {list(w.shape)}")
    batches = x.size // k
    wq = w.quant
    if wq.per_channel and (wq.scale.size != nd or wq.axis != 0):
        raise unsupported(node, "per-channel weight scales not along the output axis")
    # The reference's constants: TFLM's (per-channel: no weight offset), or LiteRT's for a
    # legacy uint8 layer (litert_uint8: the scale product in float32).
    mult, shift, w_off = _fc_requant_params(node)
    if mult.size == 1:
        mult, shift = np.repeat(mult, nd), np.repeat(shift, nd)
    check_multipliers(node, mult)
    lo, hi = act_range(node, out)
    rows = w.data.reshape(nd, k)
    in_off = -x.quant.zp0
    folded = bias_or_zeros(node, b, nd) + in_off * (rows.astype(np.int64).sum(axis=1)
                                                     + k * w_off)
    # A legacy uint8 layer (litert_uint8) scales its accumulator in double (pj_fc_u8*).
    scale = fc_uint8_scale(node) if litert_uint8(node) else None
    if is_mve(ctx) and w_off == 0 and scale is None:
        return _emit_fc_mve(ctx, node, rows, folded, bias_or_zeros(node, b, nd), mult, shift,
                            (lo, hi), batches)
    fields = dict(
        batches=batches, accum_depth=k, out_depth=nd, weight_offset=w_off,
        out_offset=out.quant.zp0, act_min=lo, act_max=hi,
        weights=weights_array(ctx, "int8_t", dsp_quad_layout(rows) if ctx.dsp else rows),
        bias=ctx.array("b", "int32_t", as_int32(folded)),
        mult=ctx.array("m", "int32_t", mult), shift=ctx.array("s", "int32_t", shift),
        rq=None if scale is not None else fold_constants(ctx, mult, shift, out.quant.zp0))
    p = ctx.params("pj_fc_params", fields)
    if scale is not None:
        declare(ctx, "void pj_fc_u8(const pj_fc_params *p, double scale, const int8_t *in, "
                     "int8_t *out)")
        declare(ctx, "void pj_fc_u8_dsp(const pj_fc_params *p, double scale, "
                     "const int8_t *in, int8_t *out, int16_t *scratch)")
        if ctx.dsp:
            return Emitted(f"pj_fc_u8_dsp(&{p}, {scale.hex()}, {{in0}}, {{out0}}, "
                           "(int16_t *){scratch});", scratch=2 * ((k + 3) // 4 * 4),
                           sources=("pj_fc.c",))
        return Emitted(f"pj_fc_u8(&{p}, {scale.hex()}, {{in0}}, {{out0}});",
                       sources=("pj_fc.c",))
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
        weights=weights_array(ctx, "int8_t", mve_row_layout(rows)),
        bias=ctx.array("b", "int32_t", pad4(as_int32(folded))),
        mult=ctx.array("m", "int32_t", pad4(mult)), shift=ctx.array("s", "int32_t", pad4(shift)),
        rq=None if rq is None else ctx.array("rq", "int32_t", rq))
    p = ctx.params("pj_fc_params", fields)
    declare(ctx, "void pj_fc_s8_mve(const pj_fc_params *p, const int8_t *in, int8_t *out)")
    return Emitted(f"pj_fc_s8_mve(&{p}, {{in0}}, {{out0}});", sources=("pj_mve.c",))


# --------------------------------------------------------------------------- int4 weights
#: Largest buffer (bytes) a fast (SMLAD / Helium) convolution unpacks its int4 filter into;
#: a larger filter runs the portable kernel, which reads the packed nibbles directly.
S4_UNPACK_LIMIT = 16384
_WIDTH = {"int8_t": 1, "int16_t": 2, "int32_t": 4}


def is_int4(node: Node) -> bool:
    """int8 activations with int4 weights (input 1)."""
    x, w = node.input(0), node.input(1)
    return x is not None and w is not None and x.dtype == "int8" and w.dtype == "int4"


def require_weights(ctx: Context, node: Node, w) -> None:
    """int8 weights, or int4 ones while an int4 emitter records (see :func:`weights_array`)."""
    if w is not None and w.dtype == "int4" and getattr(ctx, "_pj_s4", None) is not None:
        if w.quant is None:
            raise unsupported(node, f"tensor {w.name!r} without quantization parameters")
        return
    require_int8(node, w)


def pack_int4(values: np.ndarray) -> np.ndarray:
    """Two int4 values per byte, the first in the low nibble (TFLite's packing)."""
    v = np.asarray(values, np.int64).reshape(-1)
    if v.size and (v.min() < -8 or v.max() > 7):
        raise ValueError("int4 weight layout with values outside [-8, 7]")
    if v.size % 2:
        v = np.append(v, 0)
    u = (v & 15).astype(np.uint8)
    return u[0::2] | (u[1::2] << 4)


def weights_array(ctx: Context, ctype: str, values: np.ndarray, tail=None, lanes=None) -> str:
    """The emitters' weight array (``ctx.array("w", ctype, values + tail)``).

    While an int4 emitter records (``ctx._pj_s4`` is a list), the values are written packed
    instead and described in the list: ``lanes`` = (element C type, values) when the array's
    C type is not its elements' (int16 pairs held in int32 words), ``tail`` = (C type,
    values) of an index table the kernel expects right after the weights (kept unpacked).
    Returns a pointer expression to the packed bytes (the portable int4 kernels read them).
    """
    rec = getattr(ctx, "_pj_s4", None)
    if rec is None:
        flat = np.asarray(values).reshape(-1)
        if tail is not None:
            flat = np.concatenate([flat.astype(np.int64),
                                   np.asarray(tail[1]).reshape(-1).astype(np.int64)])
        return ctx.array("w", ctype, flat)
    if getattr(ctx, "_pj_s4_smlad", False):  # pj_fc_s4_dsp: natural rows -> SMLAD words
        rec.append(dict(count=int(np.asarray(values).size)))
        return "(const void *)" + ctx.array("w4", "uint32_t", s4_smlad_layout(values))
    ectype, vals = lanes if lanes is not None else (ctype, values)
    vals = np.asarray(vals).reshape(-1)
    packed = ctx.array("w4", "uint8_t", pack_int4(vals))
    item = dict(packed=packed, count=int(vals.size), width=_WIDTH[ectype], tail=None,
                tail_bytes=0)
    if tail is not None:
        tvals = np.asarray(tail[1]).reshape(-1)
        item.update(tail=ctx.array("wt", tail[0], tvals), tail_bytes=int(tvals.size)
                    * _WIDTH[tail[0]])
    rec.append(item)
    return f"(const void *){packed}"


def _blob(ctx: Context, item: dict) -> str:
    return ctx.params("pj_s4_blob", dict(
        packed=item["packed"], count=item["count"], width=item["width"],
        tail="0" if item["tail"] is None else f"(const void *){item['tail']}",
        tail_bytes=item["tail_bytes"]))


def unpacked_bytes(item: dict) -> int:
    return item["count"] * item["width"] + item["tail_bytes"]


def record_int4(ctx: Context, node: Node, emit, dsp: bool, prefer_size: bool | None = None
                ) -> tuple[Emitted, dict]:
    """Run an int8 emitter on an int4 node with the recorder set (``dsp``: the fast layout or
    the portable one); roll the context back on failure or when :func:`rollback` is called."""
    saved = (ctx.dsp, getattr(ctx, "prefer_size", False))
    ctx._pj_s4 = rec = []
    ctx.dsp = dsp
    if prefer_size is not None:
        ctx.prefer_size = prefer_size
    try:
        em = emit(ctx, node)
    finally:
        ctx._pj_s4 = None
        ctx.dsp, ctx.prefer_size = saved
    if len(rec) != 1:
        raise unsupported(node, "an int4 weight layout the C backend cannot unpack")
    return em, rec[0]


def checkpoint(ctx: Context) -> tuple[int, int]:
    return len(ctx.decls), ctx.const_bytes


def rollback(ctx: Context, mark: tuple[int, int]) -> None:
    del ctx.decls[mark[0]:]
    ctx.const_bytes = mark[1]


_PARAMS = {"pj_conv": "pj_conv_params", "pj_dwconv": "pj_dwconv_params",
           "pj_fc": "pj_fc_params"}
#: The portable int8 kernels and their int4 counterparts (pj_int4.c).
PORTABLE_S4 = {"pj_conv_s8": "pj_conv_s4", "pj_dwconv_s8": "pj_dwconv_s4",
               "pj_fc_s8": "pj_fc_s4"}


def split_call(call: str) -> tuple[str, str, str]:
    """'fn(&P, rest' -> (fn, P, rest)."""
    fn, rest = call.split("(", 1)
    param, rest = rest.split(",", 1)
    return fn.strip(), param.strip().lstrip("&"), rest


def portable_int4(em: Emitted, extra_scratch: int = 0) -> Emitted:
    fn, param, rest = split_call(em.call)
    return Emitted(f"{PORTABLE_S4[fn]}(&{param},{rest}", scratch=em.scratch + extra_scratch,
                   sources=("pj_int4.c",))


def unpack_whole(ctx: Context, em: Emitted, item: dict) -> Emitted:
    """The fast kernel on a copy of its parameter block whose weights are unpacked into
    scratch (after the kernel's own scratch) first."""
    fn, param, rest = split_call(em.call)
    ptype = next(t for k, t in _PARAMS.items() if fn.startswith(k + "_"))
    off = (em.scratch + 15) // 16 * 16
    blob = _blob(ctx, item)
    call = (f"{{{{ {ptype} q_ = {param}; q_.weights = (const int8_t *)pj_s4_unpack(&{blob}, "
            f"(uint8_t *){{scratch}} + {off}); {fn}(&q_,{rest} }}}}")
    return Emitted(call, scratch=off + unpacked_bytes(item),
                   sources=(*em.sources, "pj_int4.c"))


def s4_smlad_layout(rows: np.ndarray) -> np.ndarray:
    """Weights [n][K] for pj_fc_s4_dsp as uint32 words: rows padded to a multiple of 4 and K
    to a multiple of 8 (zeros), values offset by 8; per quad of rows and group of 8 taps the
    4 rows' words; in a word, tap 2s at bits 4s and tap 2s + 1 at bits 16 + 4s."""
    n, k = rows.shape
    k8, npad = (k + 7) // 8 * 8, (n + 3) // 4 * 4
    u = np.full((npad, k8), 8, np.uint64)
    u[:n, :k] = rows.astype(np.int64) + 8
    g = u.reshape(npad, k8 // 8, 4, 2)  # [row][group][s][lo/hi]
    shifts = (4 * np.arange(4, dtype=np.uint64))[None, None, :]
    words = ((g[..., 0] << shifts) | (g[..., 1] << (shifts + np.uint64(16)))).sum(axis=2)
    return words.reshape(npad // 4, 4, k8 // 8).transpose(0, 2, 1).reshape(-1)


@emitter("FULLY_CONNECTED", when=is_int4, dtypes=("int8 x int4",), isa=("portable", "dsp"))
def emit_fc_int4(ctx: Context, node: Node) -> Emitted:
    """int4 weights: pj_fc_s4 (portable) or, on cores with the DSP extension (the Cortex-M55
    too: 2.4x fewer instructions than unpacking rows for the Helium kernel), pj_fc_s4_dsp,
    SMLAD straight on the packed nibbles (no unpacking, no extra RAM)."""
    w = node.input(1)
    if not ctx.dsp:
        em, _ = record_int4(ctx, node, emit_fc, False)
        return portable_int4(em)
    ctx._pj_s4_smlad = True
    try:  # the portable parameter block (natural rows) with the SMLAD word layout
        em, _ = record_int4(ctx, node, emit_fc, False)
    finally:
        ctx._pj_s4_smlad = False
    fn, param, rest = split_call(em.call)
    k = w.shape[-1]
    return Emitted(f"pj_fc_s4_dsp(&{param},{rest[:-2]}, (int16_t *){{scratch}});",
                   scratch=2 * ((k + 7) // 8 * 8), sources=("pj_int4.c",))
