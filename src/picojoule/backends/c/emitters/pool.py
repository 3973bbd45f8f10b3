"""AVERAGE_POOL_2D (int8) emitter."""

from __future__ import annotations

from picojoule.backends.c.emitters.common import act_range, require_int8
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops.conv import make_window


@emitter("AVERAGE_POOL_2D", dtypes=("int8",))
def emit_avgpool(ctx: Context, node: Node) -> Emitted:
    x, out = node.inputs[0], node.outputs[0]
    require_int8(node, x, out)
    if len(x.shape) != 4 or len(out.shape) != 4 or out.shape[3] != x.shape[3]:
        raise unsupported(node, f"input {list(x.shape)} with output {list(out.shape)}")
    if (abs(float(x.quant.scale0) - float(out.quant.scale0)) > 1e-6
            or x.quant.zp0 != out.quant.zp0):
        raise unsupported(node, "different input and output quantization")
    a = node.attrs
    kh, kw = int(a.get("filter_height", 1)), int(a.get("filter_width", 1))
    win = make_window(node, x.shape[1:3], (kh, kw),
                      (int(a.get("stride_h", 1)), int(a.get("stride_w", 1))), (1, 1),
                      out.shape[1:3])
    lo, hi = act_range(node, out)
    n, h, w, c = x.shape
    # Every window must hold at least one in-image tap (TFLM would divide by zero).
    for o, s, pad, k, size in ((win.oh, win.sh, win.pad_t, kh, h), (win.ow, win.sw, win.pad_l,
                                                                     kw, w)):
        for i in range(o):
            start = i * s - pad
            if min(size, start + k) - max(0, start) <= 0:
                raise unsupported(node, "a pooling window with no tap inside the input")
    p = ctx.params("pj_pool_params", dict(
        batches=n, in_h=h, in_w=w, channels=c, out_h=win.oh, out_w=win.ow, k_h=kh, k_w=kw,
        stride_h=win.sh, stride_w=win.sw, pad_t=win.pad_t, pad_l=win.pad_l,
        act_min=lo, act_max=hi))
    return Emitted(f"pj_avgpool_s8(&{p}, {{in0}}, {{out0}}, (int32_t *){{scratch}});",
                   scratch=4 * c, sources=("pj_pool.c",))
