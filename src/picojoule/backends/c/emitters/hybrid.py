"""Hybrid ("dynamic range") emitters: CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with
float32 activations and int8 (or int4) constant weights, LiteRT's reference kernels
(pj_hybrid.c).

Each batch of the input is quantized on the fly in the kernel; everything that does not
depend on the input is done here: the weight layout (the DSP quad layout on cores with
SMLAD), the weight scales, and the weight sums the asymmetric kernels subtract
``zero_point * sum(w)`` with. int4 weights are stored unpacked, one per byte (LiteRT
unpacks them too). The configuration follows the reference's prepare functions
(:func:`picojoule.ops.conv._prepare_hybrid_conv`, ``_prepare_hybrid_depthwise``,
:func:`picojoule.ops.matmul._prepare_fc_hybrid`), which follow LiteRT:

- CONV_2D with one weight scale (or all equal) and no groups: symmetric input quantization;
  per-channel scales or groups: asymmetric, per-channel rescale;
- DEPTHWISE_CONV_2D: per-channel scales, asymmetric input quantization;
- FULLY_CONNECTED: symmetric, or asymmetric with ``asymmetric_quantize_inputs``; per-tensor
  or per-channel weight scales; any input rank (``keep_num_dims`` only shapes the output).

The input quantization is the one LiteRT's kernels call through ``tensor_utils`` (its NEON
code, which x86 builds run via NEON_2_SSE), bit for bit: see pj_hybrid_quantize. It is not
quite the portable ``AsymmetricQuantizeFloats`` (float32 range, zero point added after
rounding), so the outputs are LiteRT's exactly.
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.common import dsp_quad_layout
from picojoule.backends.c.emitters.float import _bounds, _window
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node, Value

#: The op table's names for the configurations (as the reference registrations list them;
#: int4 weights, which LiteRT unpacks to int8, as the int8 emitters list "int8 x int4").
HYBRID = "float32 x int8 (hybrid, LiteRT reference)"
HYBRID4 = "float32 x int4 (hybrid, LiteRT reference)"
SOURCES = ("pj_hybrid.c",)


def is_hybrid(node: Node) -> bool:
    """float32 activations with integer weights."""
    x, w = node.input(0), node.input(1)
    return (x is not None and w is not None and x.dtype == "float32"
            and w.dtype in ("int8", "int4"))


def _weights(node: Node, w: Value) -> np.ndarray:
    if not w.is_const:
        raise unsupported(node, "non-constant hybrid weights")
    if w.quant is None or w.quant.scale.size == 0:
        raise unsupported(node, "hybrid weights without quantization scales")
    return np.asarray(w.data).astype(np.int8)


def _bias(ctx: Context, node: Node, b: Value | None) -> str:
    """The C expression of the float bias: a flash array, an arena tensor, or 0."""
    if b is None:
        return "0"
    if b.dtype != "float32":
        raise unsupported(node, f"a {b.dtype} bias in a hybrid layer")
    if not b.is_const:
        return "{in2}"
    return ctx.array("b", "float", np.asarray(b.data, np.float32).reshape(-1))


def _scales(ctx: Context, node: Node, w: Value, count: int) -> str:
    scales = w.quant.scale.astype(np.float32).reshape(-1)
    if scales.size not in (1, count):
        raise unsupported(node, f"{scales.size} weight scales for {count} output channels")
    if not np.all(np.isfinite(scales)):
        raise unsupported(node, "non-finite weight scales")
    return ctx.array("ws", "float", scales)


def _wsums(ctx: Context, rows: np.ndarray) -> str:
    sums = rows.astype(np.int64).sum(axis=1)
    return ctx.array("wsum", "int32_t", sums)


def _check_io(node: Node, x: Value, out: Value) -> None:
    if out.dtype != "float32" or len(x.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, f"float32 input {list(x.shape)} with {out.dtype}"
                                f"{list(out.shape)} output")


@emitter("CONV_2D", when=is_hybrid, dtypes=(HYBRID, HYBRID4), isa=("portable", "dsp"),
         first=True)
def emit_hybrid_conv(ctx: Context, node: Node) -> Emitted:
    """pj_hybrid_conv: symmetric (one scale) or per-channel asymmetric (LiteRT's
    HybridConv / HybridConvPerChannel); the DSP quad layout for ungrouped convolutions."""
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    _check_io(node, x, out)
    n, h, wd, c = x.shape
    cout, kh, kw, cg = w.shape
    if cg <= 0 or c % cg or cout % (c // cg) or out.shape[3] != cout:
        raise unsupported(node, f"input channels {c} with weights {list(w.shape)}")
    groups = c // cg
    rows = _weights(node, w).reshape(cout, -1)
    scales = w.quant.scale.astype(np.float32).reshape(-1)
    per_channel = scales.size > 1 and bool(np.any(scales != scales[0]))
    asym = per_channel or groups > 1
    if asym and scales.size != cout:
        raise unsupported(node, "a grouped hybrid convolution with one weight scale")
    win = _window(node, x, out, (kh, kw))
    lo, hi = _bounds(node)
    quad = bool(ctx.dsp) and groups == 1
    k = kh * kw * cg
    kpad = (k + 3) // 4 * 4
    p = ctx.params("pj_hconv_params", dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=cout,
        groups=groups, k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw, dil_h=win.dh,
        dil_w=win.dw, pad_t=win.pad_t, pad_l=win.pad_l, asymmetric=int(asym), quad=int(quad),
        act_min=lo, act_max=hi,
        weights=ctx.array("w", "int8_t", dsp_quad_layout(rows) if quad else rows),
        scales=_scales(ctx, node, w, cout), wsums=_wsums(ctx, rows) if asym else None))
    scratch = (2 * kpad if quad else 0) + h * wd * c + k
    return Emitted(f"pj_hybrid_conv(&{p}, {{in0}}, {_bias(ctx, node, b)}, {{out0}}, "
                   "{scratch});", scratch=scratch, sources=SOURCES)


@emitter("DEPTHWISE_CONV_2D", when=is_hybrid, dtypes=(HYBRID,), isa=("portable", "dsp"),
         first=True)
def emit_hybrid_dwconv(ctx: Context, node: Node) -> Emitted:
    """pj_hybrid_dwconv: per-channel scales, asymmetric input (LiteRT's
    DepthwiseConvHybridPerChannel); on DSP cores 4 channels per pass with SMLABB/SMLATT when
    the depth multiplier is 1 (``quad``, weights in their natural layout)."""
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    _check_io(node, x, out)
    n, h, wd, c = x.shape
    one, kh, kw, cout = w.shape
    if one != 1 or cout % c or out.shape[3] != cout:
        raise unsupported(node, f"input channels {c} with depthwise weights {list(w.shape)}")
    if w.dtype != "int8":
        raise unsupported(node, f"{w.dtype} hybrid depthwise weights")
    rows = _weights(node, w).reshape(kh * kw, cout)
    if w.quant.scale.size != cout:
        raise unsupported(node, "hybrid depthwise convolution without per-channel scales")
    win = _window(node, x, out, (kh, kw))
    lo, hi = _bounds(node)
    p = ctx.params("pj_hconv_params", dict(
        batches=n, in_h=h, in_w=wd, in_c=c, out_h=win.oh, out_w=win.ow, out_c=cout,
        groups=cout // c, k_h=kh, k_w=kw, stride_h=win.sh, stride_w=win.sw, dil_h=win.dh,
        dil_w=win.dw, pad_t=win.pad_t, pad_l=win.pad_l, asymmetric=1,
        quad=int(bool(ctx.dsp) and cout == c),
        act_min=lo, act_max=hi, weights=ctx.array("w", "int8_t", rows),
        scales=_scales(ctx, node, w, cout), wsums=None))
    return Emitted(f"pj_hybrid_dwconv(&{p}, {{in0}}, {_bias(ctx, node, b)}, {{out0}}, "
                   "{scratch});", scratch=h * wd * c, sources=SOURCES)


@emitter("FULLY_CONNECTED", when=is_hybrid, dtypes=(HYBRID, HYBRID4), isa=("portable", "dsp"),
         first=True)
def emit_hybrid_fc(ctx: Context, node: Node) -> Emitted:
    """pj_hybrid_fc: LiteRT's EvalHybridDense (symmetric or asymmetric input, per-tensor or
    per-channel weight scales, bias added first)."""
    from picojoule.ops.matmul import _fc_geometry

    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    if out.dtype != "float32":
        raise unsupported(node, f"float32 input with a {out.dtype} output")
    if node.attrs.get("weights_format", 0) not in (0, "DEFAULT"):
        raise unsupported(node, f"weights_format {node.attrs['weights_format']}")
    batches, k, units = _fc_geometry(node)
    if out.size != batches * units:
        raise unsupported(node, f"input {list(x.shape)} with weights {list(w.shape)}")
    rows = _weights(node, w).reshape(units, k)
    per_channel = bool(w.quant.per_channel)
    if per_channel and w.quant.scale.size != units:
        raise unsupported(node, f"{w.quant.scale.size} weight scales for {units} rows")
    asym = bool(node.attrs.get("asymmetric_quantize_inputs", False))
    lo, hi = _bounds(node)
    quad = bool(ctx.dsp)
    kpad = (k + 3) // 4 * 4
    p = ctx.params("pj_hfc_params", dict(
        batches=batches, accum_depth=k, out_depth=units, asymmetric=int(asym),
        per_channel=int(per_channel), quad=int(quad), act_min=lo, act_max=hi,
        weights=ctx.array("w", "int8_t", dsp_quad_layout(rows) if quad else rows),
        scales=_scales(ctx, node, w, units), wsums=_wsums(ctx, rows) if asym else None))
    scratch = (2 * kpad if quad else 0) + k
    return Emitted(f"pj_hybrid_fc(&{p}, {{in0}}, {_bias(ctx, node, b)}, {{out0}}, "
                   "{scratch});", scratch=scratch, sources=SOURCES)
