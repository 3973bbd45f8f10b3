"""ADD (int8) emitter: TFLM's quantized add parameters (left shift 20, double precision)."""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.common import act_range, fold_rows, require_int8
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops.binary import add_input_table
from picojoule.quant.fixedpoint import quantize_multiplier

#: Same-shape additions with at least this many elements take pj_add_s8_lut: 2 KiB of flash
#: for the two input tables, about half the instructions per element.
LUT_MIN_ELEMENTS = 1024


def _lt1(node: Node, real: float, what: str) -> tuple[int, int]:
    if not 0.0 < real < 1.0:
        raise unsupported(node, f"{what} multiplier {real:.6g} outside (0, 1)")
    return quantize_multiplier(real)


def _strides(shape: tuple[int, ...], out4: tuple[int, ...]) -> list[int]:
    """Element strides of ``shape`` broadcast (right-aligned) to the 4-D output shape."""
    s4 = (1,) * (4 - len(shape)) + tuple(shape)
    strides, acc = [0] * 4, 1
    for i in range(3, -1, -1):
        strides[i] = acc if s4[i] != 1 else 0
        acc *= s4[i]
    for i in range(4):
        if s4[i] not in (1, out4[i]):
            raise ValueError("shapes do not broadcast")
    return strides


@emitter("ADD", dtypes=("int8",))
def emit_add(ctx: Context, node: Node) -> Emitted:
    a, b, out = node.inputs[0], node.inputs[1], node.outputs[0]
    require_int8(node, a, b, out)
    if a.is_const or b.is_const:
        raise unsupported(node, "a constant operand")
    if len(out.shape) > 4:
        raise unsupported(node, f"{len(out.shape)}-D broadcasting")
    s1, s2, so = (float(v.quant.scale0) for v in (a, b, out))
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = _lt1(node, s1 / twice_max, "input 1")
    m2, sh2 = _lt1(node, s2 / twice_max, "input 2")
    mo, sho = _lt1(node, twice_max / ((1 << 20) * so), "output")
    lo, hi = act_range(node, out)
    out4 = (1,) * (4 - len(out.shape)) + tuple(out.shape)
    try:
        st1, st2 = _strides(a.shape, out4), _strides(b.shape, out4)
    except ValueError:
        raise unsupported(node, f"broadcasting {list(a.shape)} with {list(b.shape)}") from None
    same = a.shape == b.shape == out.shape
    rq = _rq(ctx, (m1, sh1, 0), (m2, sh2, 0), (mo, sho, out.quant.zp0))
    p = ctx.params("pj_add_params", dict(
        dims=list(out4), strides1=st1, strides2=st2, same_shape=int(same),
        in1_offset=-a.quant.zp0, in2_offset=-b.quant.zp0, left_shift=20,
        in1_mult=m1, in1_shift=sh1, in2_mult=m2, in2_shift=sh2, out_mult=mo, out_shift=sho,
        out_offset=out.quant.zp0, act_min=lo, act_max=hi, rq=rq))
    if same and rq is not None and out.size >= LUT_MIN_ELEMENTS:
        lut = np.concatenate([add_input_table(a.quant.zp0, m1, sh1),
                              add_input_table(b.quant.zp0, m2, sh2)])
        t = ctx.array("lut", "int32_t", lut)
        return Emitted(f"pj_add_s8_lut(&{p}, {t}, {{in0}}, {{in1}}, {{out0}});",
                       sources=("pj_add.c",))
    return Emitted(f"pj_add_s8(&{p}, {{in0}}, {{in1}}, {{out0}});", sources=("pj_add.c",))


def _rq(ctx: Context, *stages: tuple[int, int, int]) -> str | None:
    """pj_rq constants for the three requantizations, or None (general path)."""
    rows = fold_rows([m for m, _, _ in stages], [s for _, s, _ in stages],
                     [z for _, _, z in stages], allow_r0=True)
    return None if rows is None else ctx.array("rq", "int32_t", rows)
