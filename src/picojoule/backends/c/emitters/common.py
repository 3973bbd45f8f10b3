"""Helpers shared by the emitters: quantization checks, requantization constants, layouts."""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.generator import unsupported
from picojoule.ir import Node, Value
from picojoule.ops.common import activation_range
from picojoule.ops.conv import effective_multipliers
from picojoule.quant.fixedpoint import (
    multiply_by_quantized_multiplier,
    wrap_int32,
)


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


#: TFLM's per-channel effective scales in double (in_s * w_s[c] / out_s), quantized: the
#: reference kernel's own computation, so C and numpy requantize with the same constants.
channel_multipliers = effective_multipliers


def act_range(node: Node, out: Value) -> tuple[int, int]:
    return activation_range(node, out)


def bias_or_zeros(node: Node, b: Value | None, n: int) -> np.ndarray:
    if b is None:
        return np.zeros(n, np.int64)
    require_const(node, b, "bias")
    if b.dtype != "int32":
        raise unsupported(node, f"{b.dtype} bias")
    return b.data.reshape(-1).astype(np.int64)


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


def fast_rq_rows(mult, shift, zps, bias: np.ndarray | None = None,
                 rows: np.ndarray | None = None) -> np.ndarray | None:
    """Rows {m, c, r - 1} for pj_rq3 (pj_common.h), c = 2^(r-2) + zp * 2^(r-1), r = -shift,
    or None when some channel cannot use them.  Needs m >= 0 and |zp| <= 128; a channel
    qualifies when its shift is a right shift r in [2, 23] or, given the layer's ``bias`` and
    weight ``rows`` [channel][taps], when its output is a constant (zero weights: TFLM's
    result for the bias; or a shift so large that no int8 input moves the result off the
    zero point): then {0, 1 + 2 K, 1} yields K for every accumulator."""
    r = -np.asarray(shift, np.int64).reshape(-1)
    m = np.asarray(mult, np.int64).reshape(-1)
    z = np.broadcast_to(np.asarray(zps, np.int64), r.shape)
    if r.size == 0 or np.any(m < 0) or np.any(np.abs(z) > 128):
        return None
    out = []
    for ch in range(r.size):
        ri, mi, zi = int(r[ch]), int(m[ch]), int(z[ch])
        if 2 <= ri <= MAX_FOLD_SHIFT:
            out.append([mi, (1 << (ri - 2)) + zi * (1 << (ri - 1)), ri - 1])
            continue
        if bias is None or rows is None:
            return None
        wabs = int(np.abs(rows[ch].astype(np.int64)).sum())
        if wabs == 0:  # the accumulator is the bias
            k = int(multiply_by_quantized_multiplier(np.array([bias[ch]], np.int64), mi,
                                                     -ri)[0]) + zi
        else:
            # |acc| <= |bias| + 255 * sum|w|; TFLM's result is the zero point while the
            # rounded high product stays below 2^(r-1) in magnitude.
            bound = abs(int(bias[ch])) + 255 * wabs
            if ri <= MAX_FOLD_SHIFT or (bound * mi >> 31) + 2 >= (1 << (ri - 1)):
                return None
            k = zi
        out.append([0, 1 + 2 * k, 1])
    return np.array(out, np.int64)


def declare(ctx, prototype: str) -> None:
    """Declare a kernel entry point in the model's C file (once): kernels beyond
    pj_kernels.h reuse its parameter structs, so a prototype is all the model needs."""
    line = prototype.rstrip(";") + ";\n"
    if line not in ctx.decls:
        ctx.decls.insert(0, line)


def w16_quad_layout(rows: np.ndarray) -> np.ndarray:
    """Weights for pj_conv_s8_w16 as int32 words, each an int16 pair (w[k], w[k+2]) or
    (w[k+1], w[k+3]) of a group of 4 taps (low half first; the order SXTB16 gives the
    columns): rows padded to multiples of 4 (columns) and 4 (rows); per channel quad and
    group of 4 taps, 8 words ordered (pair 0: ch 0..3, pair 1: ch 0..3), then rotated by one
    so the word read last (pair 1, ch 3) comes first (the loop post-increments on it)."""
    n, k = rows.shape
    kp, npad = (k + 3) // 4 * 4, (n + 3) // 4 * 4
    full = np.zeros((npad, kp), np.int64)
    full[:n, :k] = rows
    # taps (0, 2) and (1, 3) of each group pair up: the order SXTB16 gives the columns
    full = full.reshape(npad, kp // 4, 4)[:, :, [0, 2, 1, 3]].reshape(npad, kp)
    lo = full[:, 0::2] & 0xFFFF
    hi = full[:, 1::2] & 0xFFFF
    words = (lo | (hi << 16)).astype(np.uint32).view(np.int32).astype(np.int64)  # [n][kp/2]
    g = words.reshape(npad // 4, 4, kp // 4, 2)           # [q][j][g][pair]
    g = g.transpose(0, 2, 3, 1).reshape(npad // 4, kp // 4, 8)  # [q][g][pair*4 + j]
    g = np.roll(g, 1, axis=2)
    return np.ascontiguousarray(g.reshape(-1))


def is_mve(ctx) -> bool:
    """Helium (MVE) kernels: the Cortex-M55 target with the fast data layouts."""
    return bool(ctx.dsp) and ctx.target.name == "cortex-m55"


def pad4(values: np.ndarray, fill: int = 0) -> np.ndarray:
    """A 1-D array padded to a multiple of 4 entries (vector loads of 4 channels)."""
    v = np.asarray(values, np.int64).reshape(-1)
    out = np.full((v.size + 3) // 4 * 4, fill, np.int64)
    out[:v.size] = v
    return out


def mve_rq(mult, shift, zp: int, bias: np.ndarray, rows: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per-channel (m, -r, c2 = 2^(r-1) + zp * 2^r) for pj_mve_store4 (pj_mve.c), or None.

    A channel qualifies when its accumulator provably stays within |acc| < 2^30
    (|bias| + 255 * sum|w|) and it is a right shift r >= 1 with c2 + acc / 2 inside int32,
    or when its output is a constant (zero weights, or a shift so large that no input moves
    the result off the zero point): then (0, -1, 2 K + 1) gives K."""
    r = -np.asarray(shift, np.int64).reshape(-1)
    m = np.asarray(mult, np.int64).reshape(-1)
    if np.any(m < 0) or abs(int(zp)) > 128:
        return None
    ms, nrs, c2s = [], [], []
    for ch in range(r.size):
        ri, mi = int(r[ch]), int(m[ch])
        wabs = int(np.abs(rows[ch].astype(np.int64)).sum())
        bound = abs(int(bias[ch])) + 255 * wabs
        if wabs == 0:
            k = int(multiply_by_quantized_multiplier(np.array([bias[ch]], np.int64), mi,
                                                     -ri)[0]) + zp
            ms.append(0), nrs.append(-1), c2s.append(2 * k + 1)
            continue
        if bound >= (1 << 30):
            return None
        if ri >= 1:
            c2 = (1 << (ri - 1)) + zp * (1 << ri)
            if abs(c2) + bound + 4 < (1 << 31):
                ms.append(mi), nrs.append(-ri), c2s.append(c2)
                continue
            if (bound * mi >> 31) + 2 < (1 << (ri - 1)):  # always the zero point
                ms.append(0), nrs.append(-1), c2s.append(2 * zp + 1)
                continue
        return None
    return pad4(ms), pad4(nrs, -1), pad4(c2s)


def mve_row_layout(rows: np.ndarray) -> np.ndarray:
    """Weights [n][K] for pj_mve_rows2 (pj_mve.c): rows padded to a multiple of 4 and of 16
    columns, then [n / 4][K16 / 16][4][16] (per chunk of 16 taps, the 4 rows' chunks)."""
    n, k = rows.shape
    k16, npad = (k + 15) // 16 * 16, (n + 3) // 4 * 4
    full = np.zeros((npad, k16), np.int64)
    full[:n, :k] = rows
    return full.reshape(npad // 4, 4, k16 // 16, 16).transpose(0, 2, 1, 3).reshape(-1)


def mve_rq_table(mult, shift, zp: int, bias: np.ndarray, rows: np.ndarray
                 ) -> np.ndarray | None:
    """:func:`mve_rq` as pj_mve_rows2's table: per block of 4 channels {m[4], c2[4], -r[4]}."""
    rq = mve_rq(mult, shift, zp, bias, rows)
    if rq is None:
        return None
    m, nr, c2 = rq
    return np.stack([a.reshape(-1, 4) for a in (m, c2, nr)], axis=1).reshape(-1)
