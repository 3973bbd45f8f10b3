"""Legacy uint8 models: the nodes :mod:`picojoule.passes.uint8` marks ``litert_uint8`` whose
LiteRT arithmetic the int8 emitters do not produce (the convolutions and FULLY_CONNECTED
handle the mark themselves, and 8-bit unary ops are tables of the reference kernel).

- AVERAGE_POOL_2D: halves round up on the uint8 sum (pj_avgpool_u8);
- RESIZE_BILINEAR: float32 interpolation of the uint8 values (pj_resize_bilinear_u8);
- MUL: pj_mul_s8 with LiteRT's multiplier (float32 scale arithmetic);
- QUANTIZE (a concatenation input's float32 rescaling): a 256-entry table of the reference.
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.common import act_range, require_int8
from picojoule.backends.c.emitters.int16 import broadcast4, operand
from picojoule.backends.c.emitters.table import byte_table
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops.binary import mul_multiplier
from picojoule.ops.common import litert_uint8
from picojoule.ops.conv import make_window
from picojoule.ops.shape import _bilinear_float_coords, _resize_setup

_SOURCES = ("pj_uint8.c",)


def _int8_io(node: Node) -> bool:
    x = node.input(0)
    return (litert_uint8(node) and x is not None and x.dtype == "int8"
            and len(node.outputs) == 1 and node.outputs[0].dtype == "int8")


@emitter("AVERAGE_POOL_2D", when=_int8_io, first=True)
def emit_avgpool_u8(ctx: Context, node: Node) -> Emitted:
    x, out = node.inputs[0], node.outputs[0]
    require_int8(node, x, out)
    if len(x.shape) != 4 or len(out.shape) != 4 or out.shape[3] != x.shape[3]:
        raise unsupported(node, f"input {list(x.shape)} with output {list(out.shape)}")
    a = node.attrs
    kh, kw = int(a.get("filter_height", 1)), int(a.get("filter_width", 1))
    win = make_window(node, x.shape[1:3], (kh, kw),
                      (int(a.get("stride_h", 1)), int(a.get("stride_w", 1))), (1, 1),
                      out.shape[1:3])
    n, h, w, c = x.shape
    for o, s, pad, k, size in ((win.oh, win.sh, win.pad_t, kh, h),
                               (win.ow, win.sw, win.pad_l, kw, w)):
        if any(min(size, i * s - pad + k) - max(0, i * s - pad) <= 0 for i in range(o)):
            raise unsupported(node, "a pooling window with no tap inside the input")
    lo, hi = act_range(node, out)
    p = ctx.params("pj_pool_params", dict(
        batches=n, in_h=h, in_w=w, channels=c, out_h=win.oh, out_w=win.ow, k_h=kh, k_w=kw,
        stride_h=win.sh, stride_w=win.sw, pad_t=win.pad_t, pad_l=win.pad_l,
        act_min=lo, act_max=hi))
    return Emitted(f"pj_avgpool_u8(&{p}, {{in0}}, {{out0}}, (int32_t *){{scratch}});",
                   scratch=4 * c, sources=("pj_pool.c",))


@emitter("RESIZE_BILINEAR", when=_int8_io, first=True)
def emit_resize_bilinear_u8(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    if len(y.shape) != 4 or len(x.shape) != 4 or y.shape[0] != x.shape[0] \
            or y.shape[3] != x.shape[3]:
        raise unsupported(node, f"resizing {list(x.shape)} to {list(y.shape)}")
    ih, iw, oh, ow, align, half = _resize_setup(node)
    if y.size == 0:
        return Emitted("/* empty resize */")
    y0, y1, fy = _bilinear_float_coords(ih, oh, align, half)
    x0, x1, fx = _bilinear_float_coords(iw, ow, align, half)

    def ints(base: str, v: np.ndarray) -> str:
        return ctx.array(base, "int32_t", v.astype(np.int64))

    p = ctx.params("pj_resize_u8_params", dict(
        batch=x.shape[0], in_h=ih, in_w=iw, out_h=oh, out_w=ow, channels=x.shape[3],
        y0=ints("y0", y0), y1=ints("y1", y1), x0=ints("x0", x0), x1=ints("x1", x1),
        dy=ctx.array("dy", "float", fy), dx=ctx.array("dx", "float", fx)))
    return Emitted(f"pj_resize_bilinear_u8(&{p}, {operand(ctx, node, 0)}, {{out0}});",
                   sources=_SOURCES)


def _int8_mul(node: Node) -> bool:
    return _int8_io(node) and node.input(1) is not None and node.input(1).dtype == "int8"


@emitter("MUL", when=_int8_mul, first=True)
def emit_mul_u8(ctx: Context, node: Node) -> Emitted:
    a, b, out = node.inputs[0], node.inputs[1], node.outputs[0]
    require_int8(node, a, b, out)
    mult, shift = mul_multiplier(node, float(a.quant.scale0), float(b.quant.scale0),
                                 float(out.quant.scale0))
    if mult < 0 or not -31 <= shift <= 31:
        raise unsupported(node, f"multiplier {mult} shift {shift}")
    lo, hi = act_range(node, out)
    dims, st1, st2 = broadcast4(node, a, b, out)
    p = ctx.params("pj_mul_params", dict(
        dims=dims, strides1=st1, strides2=st2, in1_offset=-a.quant.zp0,
        in2_offset=-b.quant.zp0, mult=mult, shift=shift, out_offset=out.quant.zp0,
        act_min=lo, act_max=hi))
    return Emitted(f"pj_mul_s8(&{p}, {operand(ctx, node, 0)}, {operand(ctx, node, 1)}, "
                   "{out0});", sources=("pj_elementwise2.c",))


@emitter("QUANTIZE", when=_int8_io, first=True)
def emit_concat_rescale(ctx: Context, node: Node) -> Emitted:
    x = node.inputs[0]
    table = ctx.array("lut", "int8_t", byte_table(node).astype(np.int64))
    return Emitted(f"pj_lut_s8({x.size}, {table}, {operand(ctx, node, 0)}, {{out0}});",
                   sources=("pj_elementwise2.c",))
