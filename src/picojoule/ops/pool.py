"""Pooling: AVERAGE_POOL_2D and MAX_POOL_2D reference kernels (TFLM semantics).

Windows are strided views of a padded copy of the input; padded taps are excluded
from averages (TFLM divides by the number of taps inside the image) and never win
a max (the padding is the dtype's lowest value, TFLM's initial maximum).
Quantized averages round the integer sum half away from zero, as TFLM does with
C's truncating division; no requantization (input and output share scale and zero
point, which TFLM checks). Legacy uint8 averages (``litert_uint8``, see
:mod:`picojoule.passes.uint8`) round halves up, as LiteRT's uint8 kernel does.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from picojoule.ir import Node
from picojoule.ops.common import (
    activation_range, apply_float_activation, float_activation_bounds, litert_uint8,
    window_out_size,
)
from picojoule.ops.conv import PadBuffer, Window, make_window, windows
from picojoule.ops.registry import (
    FUSES_ACTIVATION, Kernel, QuantRule, WINDOWED, register, unsupported,
)


def _pool_shape(node: Node, shapes, consts) -> list:
    """[N, OH, OW, C]: a filter_height x filter_width window (TFLite ``ComputeOutSize``)."""
    x = shapes[0]
    if len(x) != 4:
        raise unsupported(node, f"a rank-{len(x)} input (pools are NHWC)")
    a = node.attrs
    oh = window_out_size(node, x[1], int(a.get("filter_height", 1)), int(a.get("stride_h", 1)))
    ow = window_out_size(node, x[2], int(a.get("filter_width", 1)), int(a.get("stride_w", 1)))
    return [(x[0], oh, ow, x[3])]


def _window(node: Node) -> Window:
    x, out = node.inputs[0], node.outputs[0]
    if len(x.shape) != 4 or len(out.shape) != 4 or out.shape[3] != x.shape[3]:
        raise unsupported(node, f"input {list(x.shape)} with output {list(out.shape)}")
    a = node.attrs
    return make_window(node, x.shape[1:3],
                       (int(a.get("filter_height", 1)), int(a.get("filter_width", 1))),
                       (int(a.get("stride_h", 1)), int(a.get("stride_w", 1))), (1, 1),
                       out.shape[1:3])


def _check_types(node: Node) -> str:
    x, out = node.inputs[0], node.outputs[0]
    if x.dtype != out.dtype or x.dtype not in ("int8", "int16", "float32"):
        raise unsupported(node, f"{x.dtype} input with {out.dtype} output")
    if x.dtype != "float32":
        if x.quant is None or out.quant is None:
            raise unsupported(node, "quantized pooling without quantization parameters")
        if (abs(float(x.quant.scale0) - float(out.quant.scale0)) > 1e-6
                or x.quant.zp0 != out.quant.zp0):
            raise unsupported(node, "different input and output quantization")
    return x.dtype


def _tap_counts(win: Window, h: int, w: int) -> np.ndarray:
    """Taps of each output pixel that fall inside the image, shaped (1, OH, OW, 1)."""
    def extent(o: int, s: int, pad: int, k: int, size: int) -> np.ndarray:
        origin = np.arange(o) * s - pad
        return np.minimum(k, size - origin) - np.maximum(0, -origin)

    ch = extent(win.oh, win.sh, win.pad_t, win.kh, h)
    cw = extent(win.ow, win.sw, win.pad_l, win.kw, w)
    return (ch[:, None] * cw[None, :]).reshape(1, win.oh, win.ow, 1)


def _window_reduce(xp: np.ndarray, win: Window, how: str, dtype: np.dtype) -> np.ndarray:
    """Sum or max over every output pixel's window."""
    n, hp, wp, c = xp.shape
    if win.oh == 1 and win.ow == 1 and win.kh == hp and win.kw == wp:  # global pooling
        v = xp
        return (v.sum(axis=(1, 2), keepdims=True, dtype=dtype) if how == "sum"
                else v.max(axis=(1, 2), keepdims=True))
    view = windows(xp, win)
    if how == "sum":
        return view.sum(axis=(3, 4), dtype=dtype)
    return view.max(axis=(3, 4))


@register("AVERAGE_POOL_2D", operands="x:4 -> y:4", shape=_pool_shape, traits=(WINDOWED, FUSES_ACTIVATION),
          quant=QuantRule(same=True, versions={"int8": 2, "int16x8": 3}), oracle="TFLM",
          dtypes=("int8", "int16", "float32"))
def prepare_average_pool_2d(node: Node) -> Kernel:
    """Average over each window's in-image taps (padding excluded from the count)."""
    x, out = node.inputs[0], node.outputs[0]
    kind = _check_types(node)
    win = _window(node)
    h, w = x.shape[1:3]
    counts = _tap_counts(win, h, w)
    if np.any(counts <= 0):
        raise unsupported(node, "a pooling window with no tap inside the input")
    if kind == "float32":
        lo, hi = float_activation_bounds(node)
        pad = PadBuffer(x.shape, win, np.float32, 0.0, np.float32)
        cnt = counts.astype(np.float32)

        def run_f(ins: Sequence[np.ndarray]) -> list:
            s = _window_reduce(pad(ins[0]), win, "sum", np.float64).astype(np.float32)
            return [apply_float_activation(s / cnt, lo, hi)]

        return run_f
    lo, hi = activation_range(node, out)
    pad = PadBuffer(x.shape, win, np.dtype(kind), 0, np.dtype(kind))
    cnt = counts.astype(np.int64)
    half = cnt // 2
    odt = np.dtype(kind)

    if litert_uint8(node):
        # LiteRT's uint8 kernel: (acc + n/2) / n on the uint8 sum, which is never negative,
        # so halves round up; on the int8 re-encoding (sum - 128 n) that is a floor.
        def run_u8(ins: Sequence[np.ndarray]) -> list:
            acc = _window_reduce(pad(ins[0]), win, "sum", np.int64)
            return [np.clip((acc + half) // cnt, lo, hi).astype(odt)]

        return run_u8

    def run(ins: Sequence[np.ndarray]) -> list:
        acc = _window_reduce(pad(ins[0]), win, "sum", np.int64)
        # C: acc > 0 ? (acc + n/2) / n : (acc - n/2) / n, dividing toward zero.
        q = (np.abs(acc) + half) // cnt
        q = np.where(acc > 0, q, -q)
        return [np.clip(q, lo, hi).astype(odt)]

    return run


@register("MAX_POOL_2D", operands="x:4 -> y:4", shape=_pool_shape, traits=(WINDOWED, FUSES_ACTIVATION),
          quant=QuantRule(same=True, versions={"int8": 2, "int16x8": 3}), oracle="TFLM",
          dtypes=("int8", "int16", "float32"))
def prepare_max_pool_2d(node: Node) -> Kernel:
    """Maximum over each window's in-image taps, then the fused activation's clamp."""
    x, out = node.inputs[0], node.outputs[0]
    kind = _check_types(node)
    win = _window(node)
    if kind == "float32":
        lo, hi = float_activation_bounds(node)
        pad = PadBuffer(x.shape, win, np.float32, -np.inf, np.float32)

        def run_f(ins: Sequence[np.ndarray]) -> list:
            m = _window_reduce(pad(ins[0]), win, "max", np.float32)
            return [apply_float_activation(m, lo, hi).astype(np.float32, copy=False)]

        return run_f
    lo, hi = activation_range(node, out)
    odt = np.dtype(kind)
    pad = PadBuffer(x.shape, win, odt, np.iinfo(odt).min, odt)

    def run(ins: Sequence[np.ndarray]) -> list:
        m = _window_reduce(pad(ins[0]), win, "max", odt)
        return [np.clip(m, lo, hi).astype(odt, copy=False)]

    return run
