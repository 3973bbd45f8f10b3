"""Helpers shared by the emitters: quantization checks, requantization constants, layouts."""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.generator import unsupported
from picojoule.ir import Node, Value
from picojoule.ops.common import activation_range
from picojoule.quant.fixedpoint import quantize_multipliers, wrap_int32


def require_int8(node: Node, *values: Value | None) -> None:
    """Every given tensor is int8 with quantization parameters."""
    for v in values:
        if v is None:
            continue
        if v.dtype != "int8":
            raise unsupported(node, f"{v.dtype} tensor {v.name!r} (int8 only)")
        if v.quant is None:
            raise unsupported(node, f"tensor {v.name!r} without quantization parameters")


def require_const(node: Node, v: Value | None, what: str) -> None:
    if v is not None and not v.is_const:
        raise unsupported(node, f"non-constant {what}")


def channel_multipliers(node: Node, x: Value, w: Value, out: Value,
                        channels: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM's per-channel effective scales in double: in_s * w_s[c] / out_s, quantized."""
    ws = w.quant.scale.astype(np.float64)
    if ws.size not in (1, channels):
        raise unsupported(node, f"{ws.size} weight scales for {channels} output channels")
    ws = np.broadcast_to(ws, (channels,))
    eff = np.float64(x.quant.scale[0]) * ws / np.float64(out.quant.scale[0])
    return quantize_multipliers(eff)


def act_range(node: Node, out: Value) -> tuple[int, int]:
    return activation_range(node, out)


def bias_or_zeros(node: Node, b: Value | None, n: int) -> np.ndarray:
    if b is None:
        return np.zeros(n, np.int64)
    require_const(node, b, "bias")
    if b.dtype != "int32":
        raise unsupported(node, f"{b.dtype} bias")
    return b.data.reshape(-1).astype(np.int64)


def dsp_layout(rows: np.ndarray) -> np.ndarray:
    """Reorder each row's groups of 4 int8 values as (w0, w2, w1, w3) for SXTB16/SMLAD;
    a tail shorter than 4 stays in order."""
    rows = np.ascontiguousarray(rows)
    k = rows.shape[1]
    full = k // 4 * 4
    out = rows.copy()
    if full:
        g = rows[:, :full].reshape(rows.shape[0], -1, 4)
        out[:, :full] = g[:, :, [0, 2, 1, 3]].reshape(rows.shape[0], full)
    return out


def as_int32(values: np.ndarray) -> np.ndarray:
    """Wrap int64 values to int32 (TFLM's int32 accumulators wrap the same way)."""
    return wrap_int32(np.asarray(values, np.int64))


def dsp_quad_layout(rows: np.ndarray) -> np.ndarray:
    """Weights for pj_conv_s8_dsp: rows padded to a multiple of 4 columns and of 4 rows,
    groups of 4 reordered (w0, w2, w1, w3), then rows interleaved in quads group by group:
    (row 4q group g, row 4q+1 group g, row 4q+2 group g, row 4q+3 group g), g = 0, 1, ..."""
    n, k = rows.shape
    kp, npad = (k + 3) // 4 * 4, (n + 3) // 4 * 4
    full = np.zeros((npad, kp), np.int8)
    full[:n, :k] = rows
    g = full.reshape(npad, kp // 4, 4)[:, :, [0, 2, 1, 3]]
    return np.ascontiguousarray(g.reshape(npad // 4, 4, kp // 4, 4).transpose(0, 2, 1, 3))


def check_multipliers(node, mult: np.ndarray) -> None:
    """The C requantization assumes multipliers >= 0 (positive scales give them)."""
    if np.any(np.asarray(mult) < 0):
        raise unsupported(node, "a negative requantization multiplier (negative scale)")


#: Largest right shift pj_rq handles: |x*m| < 2^62 plus the folded zero point
#: (|zp| <= 128, so < 2^(38+r)) must stay below 2^63.
MAX_FOLD_SHIFT = 23


def fold_rows(mult, shift, zps, allow_r0: bool = False) -> np.ndarray | None:
    """Rows {multiplier, r - 1, low and high word of 2^30 + 2^(30+r) + zp * 2^(31+r)} for
    pj_rq (r = -shift), or None unless every shift is a right shift in [1, 23], every
    multiplier is >= 0 and every |zp| <= 128. ``allow_r0``: shift 0 gives a row
    {m, -1, 2^30 + zp * 2^31} for pj_rq_any."""
    r = -np.asarray(shift, np.int64).reshape(-1)
    m = np.asarray(mult, np.int64).reshape(-1)
    z = np.broadcast_to(np.asarray(zps, np.int64), r.shape)
    if (r.size == 0 or r.min() < (0 if allow_r0 else 1) or r.max() > MAX_FOLD_SHIFT or np.any(m < 0)
            or np.any(np.abs(z) > 128)):
        return None
    rows = []
    for mi, k, zp in zip(m.tolist(), r.tolist(), z.tolist()):
        if k == 0:
            fold = (1 << 30) + zp * (1 << 31)
        else:
            fold = (1 << 30) + (1 << (30 + k)) + zp * (1 << (31 + k))
        lo = fold & 0xFFFFFFFF
        rows.append([mi, k - 1, lo - (1 << 32) if lo >= (1 << 31) else lo, fold >> 32])
    return np.array(rows, np.int64)


def fold_constants(ctx, mult: np.ndarray, shift: np.ndarray, zp: int) -> str | None:
    """:func:`fold_rows` for every channel of a layer as a C array name (None: general)."""
    rows = fold_rows(mult, shift, zp)
    return None if rows is None else ctx.array("rq", "int32_t", rows)
