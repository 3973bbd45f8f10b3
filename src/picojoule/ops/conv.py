"""Convolutions: CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV reference kernels.

Semantics are TFLM's reference kernels: int8 activations with per-channel int8
(or unpacked int4) weights and int32 accumulators; int16 activations with int8
weights and int64 accumulators (int32 when the bias is int32, as TFLM does);
float32. Hybrid float32 activations with int8 weights, which TFLM refuses, follow
LiteRT's hybrid kernels (per-batch input quantization, integer dot products).
Legacy uint8 models run re-encoded as int8 (:mod:`picojoule.passes.uint8`); their
nodes (marked ``litert_uint8``) follow LiteRT's uint8 kernels: per-tensor weights
with a filter offset (``sum (x - x_zp) * (w - w_zp)``) and the scale product taken
in float32 before the multiplier is quantized.

How the kernels stay exact yet fast:

- Every weight-dependent quantity is computed once in prepare: the GEMM weight
  matrix, the per-channel constant ``bias + input_offset * sum(w)`` (TFLM adds the
  input offset to every tap; summing the raw inputs and adding the constant gives
  the same integer) and the requantization constants.
- The input is copied into a padded buffer filled with the input zero point, so
  padded taps contribute ``(zp - zp) * w = 0`` exactly like TFLM's skipped taps.
  Windows are strided views of that buffer; a convolution is one BLAS matmul.
- Integer products are summed in floating point: every partial sum is an integer
  whose magnitude is bounded by ``max|x| * sum|w|``; while that bound is below
  2**24 (float32) or 2**53 (float64) every partial sum is exact, whatever order
  BLAS adds in, so the result is the exact integer accumulator. The bound is
  checked at prepare time and selects float32, float64 or an int64 fallback.
- Requantization (TFLM's double-rounding ``MultiplyByQuantizedMultiplier``) is
  folded into one int64 multiply-add, a sign fix-up and one shift per element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from picojoule.ir import Node, Value
from picojoule.ops.common import (
    activation_range,
    apply_float_activation,
    float_activation_bounds,
    litert_uint8,
    require_quant,
    shape_ints,
    window_out_size,
)
from picojoule.ops.registry import (
    FUSES_ACTIVATION, Kernel, QuantRule, WINDOWED, Weights, register, unsupported,
)
from picojoule.quant.fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multipliers,
    wrap_int32,
)

_F32_EXACT = 1 << 24
_F64_EXACT = 1 << 53
_I32 = 1 << 31

Arrays = Sequence[Optional[np.ndarray]]


# --------------------------------------------------------------------------- geometry
@dataclass(frozen=True)
class Window:
    """Where each output pixel reads its taps (TFLM ``ComputePaddingHeightWidth``)."""

    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    pad_t: int
    pad_l: int
    oh: int
    ow: int
    #: Rows / columns of a padded buffer that holds the input and every tap read.
    hp: int
    wp: int

    def needs_padding(self, h: int, w: int) -> bool:
        return self.pad_t > 0 or self.pad_l > 0 or self.hp > h or self.wp > w


def _out_size(padding: str, size: int, k_eff: int, stride: int) -> int:
    if padding == "SAME":
        return (size + stride - 1) // stride
    return (size + stride - k_eff) // stride


def _pad_before(padding: str, size: int, k: int, stride: int, dil: int) -> int:
    """TFLM's padding: half the total padding (rounded down) goes before."""
    k_eff = (k - 1) * dil + 1
    out = _out_size(padding, size, k_eff, stride)
    return max(0, (out - 1) * stride + k_eff - size) // 2


def make_window(node: Node, hw: tuple[int, int], khw: tuple[int, int],
                stride: tuple[int, int], dil: tuple[int, int],
                out_hw: tuple[int, int]) -> Window:
    """Window of a convolution / pool over an input of spatial size ``hw``.

    Padding follows TFLM (from the padding type and the input size); the loop
    extents are the output tensor's, as in TFLM's kernels.
    """
    padding = node.attrs.get("padding", "SAME")
    if padding not in ("SAME", "VALID"):
        raise unsupported(node, f"padding {padding}")
    (h, w), (kh, kw), (sh, sw), (dh, dw), (oh, ow) = hw, khw, stride, dil, out_hw
    if min(sh, sw, dh, dw, kh, kw) <= 0:
        raise unsupported(node, "non-positive stride, dilation or kernel size")
    pt = _pad_before(padding, h, kh, sh, dh)
    pl = _pad_before(padding, w, kw, sw, dw)
    hp = max(pt + h, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(pl + w, (ow - 1) * sw + (kw - 1) * dw + 1)
    return Window(kh, kw, sh, sw, dh, dw, pt, pl, oh, ow, hp, wp)


class PadBuffer:
    """A persistent padded copy of the input, in the dtype the arithmetic needs.

    ``repeat`` > 1 repeats every channel (depthwise depth multiplier). When the
    buffer exists (padding, a dtype change or a repeat is needed) views of it are
    made once at prepare time (``persistent``); otherwise the input itself is used.
    """

    def __init__(self, shape: tuple[int, ...], win: Window, dtype: np.dtype, fill: float,
                 src_dtype: Optional[np.dtype] = None, repeat: int = 1) -> None:
        n, h, w, c = shape
        self.dtype = np.dtype(dtype)
        self.persistent = (win.needs_padding(h, w) or repeat > 1
                           or np.dtype(src_dtype) != self.dtype)
        self.buf = (np.full((n, win.hp, win.wp, c * repeat), fill, self.dtype)
                    if self.persistent else None)
        rows = slice(win.pad_t, win.pad_t + h)
        cols = slice(win.pad_l, win.pad_l + w)
        if repeat > 1:
            self.dst = self.buf.reshape(n, win.hp, win.wp, c, repeat)[:, rows, cols]
            self.expand = True
        elif self.persistent:
            self.dst = self.buf[:, rows, cols, :]
            self.expand = False

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not self.persistent:
            return x
        self.dst[...] = x[..., None] if self.expand else x
        return self.buf


def windows(xp: np.ndarray, win: Window, merge: bool = False) -> np.ndarray:
    """Read-only view ``(N, OH, OW, KH, KW, C)`` of every output pixel's taps.

    ``merge`` (undilated columns only) gives ``(N, OH, OW, KH, KW*C)`` instead: a
    window row's taps are adjacent in memory, and longer runs copy faster.
    """
    n, _, _, c = xp.shape
    s0, s1, s2, s3 = xp.strides
    if merge and win.dw == 1:
        return as_strided(xp, (n, win.oh, win.ow, win.kh, win.kw * c),
                          (s0, s1 * win.sh, s2 * win.sw, s1 * win.dh, s3), writeable=False)
    return as_strided(xp, (n, win.oh, win.ow, win.kh, win.kw, c),
                      (s0, s1 * win.sh, s2 * win.sw, s1 * win.dh, s2 * win.dw, s3),
                      writeable=False)


def _tap(xp: np.ndarray, win: Window, ky: int, kx: int) -> np.ndarray:
    """View of tap (ky, kx) of every output pixel: ``(N, OH, OW*C)`` if the columns
    are unstrided (one contiguous run per output row), else ``(N, OH, OW, C)``."""
    y0, x0 = ky * win.dh, kx * win.dw
    rows = slice(y0, y0 + (win.oh - 1) * win.sh + 1, win.sh)
    if win.sw == 1:
        v = xp[:, rows, x0:x0 + win.ow, :]
        return v.reshape(v.shape[0], win.oh, -1)
    return xp[:, rows, x0:x0 + (win.ow - 1) * win.sw + 1:win.sw, :]


# --------------------------------------------------------------------------- accumulation
def _exact_float(max_abs_x: int, abs_w_sum: np.ndarray) -> Optional[np.dtype]:
    """Float dtype in which every partial sum of x*w is an exact integer, if any."""
    bound = int(max_abs_x) * int(np.max(abs_w_sum, initial=0))
    if bound < _F32_EXACT:
        return np.dtype(np.float32)
    if bound < _F64_EXACT:
        return np.dtype(np.float64)
    return None


class ConvGemm:
    """Plain (grouped) convolution sums ``sum x[tap] * w[tap]`` as one matmul.

    ``w`` is ``(Cout, KH, KW, Cin_per_group)``; padding value ``fill``; ``dtype`` is
    the arithmetic dtype (a float that is exact for the data, or int64); the input
    arrives as ``src_dtype``.
    """

    def __init__(self, in_shape: tuple[int, ...], w: np.ndarray, win: Window, fill: float,
                 dtype: np.dtype, src_dtype: np.dtype) -> None:
        n, _, _, c = in_shape
        cout, kh, kw, cg = w.shape
        self.groups = c // cg
        self.cout, self.win, self.n, self.cg = cout, win, n, cg
        self.m = n * win.oh * win.ow
        self.pad = PadBuffer(tuple(in_shape), win, dtype, fill, src_dtype)
        self.pointwise = kh == kw == 1 and win.sh == win.sw == 1
        self.view = self._cols_view(self.pad.buf) if self.pad.persistent else None
        w = w.astype(dtype)
        if self.groups == 1:
            self.wmat = np.ascontiguousarray(w.reshape(cout, -1).T)  # (K, Cout)
        else:
            wg = w.reshape(self.groups, cout // self.groups, kh * kw * cg)
            self.wmat = np.ascontiguousarray(wg.transpose(0, 2, 1))  # (G, K, Cout_g)

    def _cols_view(self, xp: np.ndarray) -> np.ndarray:
        win = self.win
        if self.pointwise:
            return xp[:, :win.oh, :win.ow, :]
        return windows(xp, win, merge=True)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        win, m = self.win, self.m
        xp = self.pad(x)
        view = self.view if self.view is not None else self._cols_view(xp)
        cols = view.reshape(m, -1)
        if self.groups == 1:
            acc = cols @ self.wmat
        else:
            t = win.kh * win.kw
            g = cols.reshape(m, t, self.groups, self.cg).transpose(2, 0, 1, 3)
            acc = np.matmul(g.reshape(self.groups, m, t * self.cg), self.wmat)
            acc = acc.transpose(1, 0, 2)
        return acc.reshape(self.n, win.oh, win.ow, self.cout)


class DepthwiseSum:
    """Depthwise sums ``out[..., c*dm + j] = sum_taps x[..., c] * w[tap, c*dm + j]``.

    Small outputs: one einsum over the window view. Larger outputs: one multiply-add
    per tap over the whole output (long contiguous rows). Many taps: one batched
    matmul per input channel over the im2col patches.
    """

    def __init__(self, in_shape: tuple[int, ...], w: np.ndarray, win: Window, fill: float,
                 dtype: np.dtype, src_dtype: np.dtype) -> None:
        n, _, _, c = in_shape
        _, kh, kw, cout = w.shape
        self.n, self.c, self.cout, self.win = n, c, cout, win
        self.dm = cout // c
        self.taps = kh * kw
        w = w.reshape(kh, kw, cout).astype(dtype)
        self.many = self.taps > 16
        self.einsum = not self.many and n * win.oh * win.ow * cout <= 10000
        # The multi-tap paths read input channels repeated dm times.
        rep = 1 if self.many else self.dm
        self.pad = PadBuffer(tuple(in_shape), win, dtype, fill, src_dtype, repeat=rep)
        if self.many:
            # (C, T, dm): batch over input channels.
            self.wb = np.ascontiguousarray(w.reshape(self.taps, c, self.dm).transpose(1, 0, 2))
        elif win.sw == 1 and not self.einsum:
            self.w = np.tile(w, (1, 1, win.ow))  # taps are (N, OH, OW*C) row views
        else:
            self.w = w
        self.views = None
        if self.pad.persistent:
            views = self._views(self.pad.buf)
            # Cache only true views of the buffer (a reshape could have copied).
            if all(np.shares_memory(v, self.pad.buf) for v in
                   (views if isinstance(views, list) else [views])):
                self.views = views

    def _views(self, xp: np.ndarray):
        win = self.win
        if self.many or self.einsum:
            return windows(xp, win)
        return [_tap(xp, win, ky, kx) for ky in range(win.kh) for kx in range(win.kw)]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        win = self.win
        xp = self.pad(x)
        views = self.views if self.views is not None else self._views(xp)
        if self.many:
            m = self.n * win.oh * win.ow
            cols = views.reshape(m, self.taps, self.c).transpose(2, 0, 1)
            acc = np.matmul(cols, self.wb)  # (C, M, dm)
            return acc.transpose(1, 0, 2).reshape(self.n, win.oh, win.ow, self.cout)
        if self.einsum:
            return np.einsum("nhwyxc,yxc->nhwc", views, self.w)
        wt = self.w.reshape(self.taps, -1)
        acc = views[0] * wt[0]
        tmp = np.empty_like(acc)
        for v, wk in zip(views[1:], wt[1:]):
            np.multiply(v, wk, out=tmp)
            acc += tmp
        return acc.reshape(self.n, win.oh, win.ow, self.cout)


# --------------------------------------------------------------------------- requantization
def effective_multipliers(node: Node, x: Value, w: Value, out: Value,
                           cout: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM ``PopulateConvolutionQuantizationParams``: in_s * w_s[c] / out_s in double.

    LiteRT's uint8 kernels (nodes marked :data:`LITERT_UINT8`) take the legacy multiplier
    of ``GetQuantizedConvolutionMultipler``: the scale product in float32, then double.
    """
    ws = w.quant.scale.astype(np.float64)
    if ws.size not in (1, cout):
        raise unsupported(node, f"{ws.size} weight scales for {cout} output channels")
    ws = np.broadcast_to(ws, (cout,))
    if litert_uint8(node):
        prod = (x.quant.scale[:1].astype(np.float32) * w.quant.scale.astype(np.float32))
        eff = np.broadcast_to(prod.astype(np.float64), (cout,)) / np.float64(out.quant.scale[0])
    else:
        eff = np.float64(x.quant.scale[0]) * ws / np.float64(out.quant.scale[0])
    return quantize_multipliers(eff)


def filter_offset(node: Node) -> int:
    """The offset added to every weight: ``-zero_point`` of the per-tensor weights of a
    LiteRT uint8 convolution (:data:`LITERT_UINT8`), else 0 (TFLM's int8 kernels take
    symmetric weights and ignore their zero point)."""
    w = node.input(1)
    if not litert_uint8(node) or w is None or w.quant is None or w.quant.per_channel:
        return 0
    return -w.quant.zp0


class Requantize:
    """Integer accumulator -> quantized output, exactly as TFLM's kernels.

    ``acc`` passed at run time is the accumulator minus ``const`` (a per-channel
    integer folded in here). ``acc_bound[c]`` bounds |acc + const| (the TFLM
    accumulator) so the fast path can prove it never wraps or overflows.
    ``wide`` selects TFLM's 64-bit-accumulator ``MultiplyByQuantizedMultiplier``
    (16x8 kernels); otherwise the int32 double-rounding one is used.
    Per-channel constants are tiled along ``width`` output pixels so the int64
    arithmetic runs over long rows (numpy is slow on short broadcast inner loops).
    """

    def __init__(self, mult: np.ndarray, shift: np.ndarray, const: np.ndarray,
                 acc_bound: np.ndarray, out_zp: int, lo: int, hi: int, out_dtype: np.dtype,
                 wide: bool, width: int = 1) -> None:
        self.lo, self.hi, self.out_dtype = lo, hi, np.dtype(out_dtype)
        self.width = width
        self.cout = len(mult)
        mult = [int(v) for v in mult]
        shift = [int(v) for v in shift]
        const = [int(v) for v in const]
        bound = [int(v) for v in acc_bound]
        self.slow: Optional[Callable[[np.ndarray], np.ndarray]] = None
        self.sub = self.k1 = None
        self.wrap = False
        self.zp = 0
        if wide:
            self._prepare_wide(mult, shift, const, bound)
        else:
            self._prepare_narrow(mult, shift, const, bound, out_zp)

    def _tile(self, values: list[int]) -> np.ndarray:
        return np.tile(np.array(values, np.int64), self.width)

    def _prepare_narrow(self, mult: list[int], shift: list[int], const: list[int],
                        bound: list[int], zp: int) -> None:
        # out = RDBPOT(SRDHM(x << left, m), right) + zp, x the int32 accumulator.
        # SRDHM(x, m) == (x*m + 2**30) >> 31 for m >= 0 (the nudge and C's truncating
        # division combine into a floor) and nested floors merge, so with
        # u = x*m + 2**30 and r = right:
        #   out = (u + 2**(30+r) - 2**31 * [u < 0] + (zp << (31+r))) >> (31+r)  (r >= 1)
        #   out = (u + (zp << 31)) >> 31                                         (r == 0)
        self.zp = 0
        for fold in (True, False):  # fold zp into the pre-shift constant if int64 allows
            rows = self._narrow_rows(mult, shift, const, bound, zp if fold else 0)
            if rows:
                self.zp = 0 if fold else zp
                m2s, k0s, subs, k1s, ss = (list(col) for col in zip(*rows))
                self.m, self.k0, self.s = self._tile(m2s), self._tile(k0s), self._tile(ss)
                self.sub = self._tile(subs) if any(subs) else None
                self.k1 = self._tile(k1s) if any(k1s) else None
                return
        c_arr, m_arr, s_arr = (np.array(v, np.int64) for v in (const, mult, shift))

        def slow(acc: np.ndarray) -> np.ndarray:
            x = wrap_int32(acc + c_arr)
            return multiply_by_quantized_multiplier(x, m_arr, s_arr) + zp

        self.slow = slow

    @staticmethod
    def _narrow_rows(mult: list[int], shift: list[int], const: list[int], bound: list[int],
                     zp: int) -> list[tuple[int, int, int, int, int]]:
        """Per-channel (m, k0, sub, k1, shift) of the fast path, or [] if int64 could
        overflow or the int32 accumulator could wrap."""
        rows = []
        for m, sh, k, b in zip(mult, shift, const, bound):
            left, right = max(sh, 0), max(-sh, 0)
            m2, s = m << left, 31 + right
            a = (1 << (30 + right)) if right else 0
            sub = (1 << 31) if right else 0
            k1 = a + (zp << s)
            worst = b * m2 + (1 << 30) + abs(k1) + sub
            if (b << left) >= _I32 or right > 31 or worst >= (1 << 63):
                return []
            rows.append((m2, k * m2 + (1 << 30), sub, k1, s))
        return rows

    def _prepare_wide(self, mult: list[int], shift: list[int], const: list[int],
                      bound: list[int]) -> None:
        # TFLM: reduced = round(m / 2**16) (saturating), y = (x*reduced + 2**(t-1)) >> t,
        # t = 15 - shift, then a cast to int32 (wrap), then clamp; no output offset.
        red = [((m + (1 << 15)) >> 16) if m < 0x7FFF0000 else 0x7FFF for m in mult]
        ts = [15 - s for s in shift]  # >= 1: shift >= 15 is rejected in prepare
        self.m = self._tile(red)
        self.k0 = self._tile([k * r + (1 << (t - 1)) for k, r, t in zip(const, red, ts)])
        self.s = self._tile(ts)
        self.wrap = any(b * r + (1 << (t - 1)) >= (1 << 62) or (b * r + (1 << t)) >> t >= _I32
                        for b, r, t in zip(bound, red, ts))

    def __call__(self, acc: np.ndarray) -> np.ndarray:
        shape = acc.shape
        if self.slow is not None:
            v = self.slow(acc.astype(np.int64).reshape(-1, self.cout))
        else:
            v = acc.astype(np.int64).reshape(-1, self.width * self.cout)
            v *= self.m
            v += self.k0
            if self.sub is not None:
                neg = v >> 63  # -1 where u < 0
                neg &= self.sub
                v -= neg
            if self.k1 is not None:
                v += self.k1
            v >>= self.s
            if self.zp:
                v += self.zp
            if self.wrap:
                v = wrap_int32(v)
        np.maximum(v, self.lo, out=v)
        np.minimum(v, self.hi, out=v)
        return v.astype(self.out_dtype).reshape(shape)


# --------------------------------------------------------------------------- helpers
def _attr_pair(node: Node, a: str, b: str, default: int = 1) -> tuple[int, int]:
    return int(node.attrs.get(a, default) or default), int(node.attrs.get(b, default) or default)


def _with_weights(node: Node, w_idx: int, b_idx: int,
                  build: Callable[[np.ndarray, Optional[np.ndarray]], Callable]) -> Kernel:
    """Build the arithmetic once when weights and bias are constants, else per run."""
    wv, bv = node.input(w_idx), node.input(b_idx)
    if wv.is_const and (bv is None or bv.is_const):
        fn = build(wv.data, None if bv is None else bv.data)
        return lambda ins: [fn(ins)]

    def run(ins: Arrays) -> list:
        b = ins[b_idx] if b_idx < len(ins) else None
        return [build(ins[w_idx], b)(ins)]

    return run


def _quant_output(node: Node, x: Value, w: Value, out: Value, cout: int, const: np.ndarray,
                  bound: np.ndarray, wide: bool) -> Requantize:
    mult, shift = effective_multipliers(node, x, w, out, cout)
    lo, hi = activation_range(node, out)
    zp = out.quant.zp0 if out.dtype == "int8" else 0  # TFLM's 16x8 kernels have no offset
    if wide and int(np.max(shift)) >= 15:
        raise unsupported(node, "a 16x8 effective scale >= 2**14")
    return Requantize(mult, shift, const, bound, zp, lo, hi, np.dtype(out.dtype), wide,
                      width=out.shape[2])


def _check_quantized(node: Node, x: Value, w: Value, b: Optional[Value], out: Value) -> str:
    """Validate dtypes of a quantized convolution; return "int8" or "int16"."""
    require_quant(node, x, "input")
    require_quant(node, w, "weights")
    require_quant(node, out, "output")
    if x.dtype != out.dtype:
        raise unsupported(node, f"{x.dtype} input with {out.dtype} output")
    if x.dtype == "int8":
        if w.dtype not in ("int8", "int4"):
            raise unsupported(node, f"int8 activations with {w.dtype} weights")
        if b is not None and b.dtype != "int32":
            raise unsupported(node, f"int8 activations with {b.dtype} bias")
    elif x.dtype == "int16":
        if w.dtype != "int8":
            raise unsupported(node, f"int16 activations with {w.dtype} weights")
        if b is not None and b.dtype not in ("int32", "int64"):
            raise unsupported(node, f"int16 activations with {b.dtype} bias")
    else:
        raise unsupported(node, f"{x.dtype} activations with {w.dtype} weights")
    return x.dtype


def _int_range(dtype: str, zp: int) -> int:
    """max |x - zp| over the dtype's range: bounds the offset input in TFLM's sums."""
    lo, hi = {"int8": (-128, 127), "int16": (-32768, 32767)}[dtype]
    return max(abs(lo - zp), abs(hi - zp))


# --------------------------------------------------------------------------- hybrid input
# LiteRT's hybrid kernels quantize their input with tensor_utils::SymmetricQuantizeFloats /
# AsymmetricQuantizeFloats, which resolve to the NEON kernels (x86 builds run them through
# NEON_2_SSE), not to the portable ones: the elements [0, n & ~7) are rounded by adding
# +-0.5 in float32 and truncating (the rest by std::round), the asymmetric range
# max(0, max) - min(0, min) is taken in float32, and the zero point is added to the rounded
# product instead of inside the rounding.
def _round_away(v: np.ndarray) -> np.ndarray:
    """``std::round`` of float32 values, evaluated exactly in float64."""
    v = v.astype(np.float64)
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def litert_round(v: np.ndarray) -> np.ndarray:
    """The rounding of LiteRT's (NEON) input quantizers over one flat row of float32
    products: ``trunc(v +- 0.5)`` in float32 for the first ``n & ~7`` elements, std::round
    for the rest (they differ only at 0.5 - 2**-25)."""
    v = np.asarray(v, np.float32).reshape(-1)
    end = v.size & ~7
    half = np.where(v[:end] < 0, np.float32(-0.5), np.float32(0.5))
    head = np.trunc((v[:end] + half).astype(np.float32)).astype(np.float64)
    return np.concatenate([head, _round_away(v[end:])])


def symmetric_quantize(x: np.ndarray) -> tuple[np.ndarray, float]:
    """LiteRT ``SymmetricQuantizeFloats`` of one batch: int values (as float64), scale."""
    lo, hi = float(np.min(x)), float(np.max(x))
    rng = np.float32(max(abs(lo), abs(hi)))
    if rng == 0:
        return np.zeros(x.shape, np.float64), np.float32(1.0)
    scale = np.float32(rng / np.float32(127))
    inv = np.float32(np.float32(127) / rng)
    q = np.clip(litert_round(x * inv), -127, 127)
    return q.reshape(x.shape), scale


def asymmetric_quantize(x: np.ndarray) -> tuple[np.ndarray, np.float32, int]:
    """LiteRT ``AsymmetricQuantizeFloats`` of one batch: values, scale, zero point."""
    rmin = min(np.float32(0), np.float32(np.min(x)))
    rmax = max(np.float32(0), np.float32(np.max(x)))
    if rmin == rmax:
        return np.zeros(x.shape, np.float64), np.float32(1.0), 0
    qmin, qmax = -128.0, 127.0
    scale = float(np.float32(rmax - rmin)) / (qmax - qmin)
    zp_min = qmin - float(rmin) / scale
    zp_max = qmax - float(rmax) / scale
    err_min = abs(qmin) + abs(float(rmin) / scale)
    err_max = abs(qmax) + abs(float(rmax) / scale)
    zpd = zp_min if err_min < err_max else zp_max
    if zpd <= qmin:
        zp = -128
    elif zpd >= qmax:
        zp = 127
    else:
        zp = int(np.sign(zpd) * np.floor(abs(zpd) + 0.5))
    sf = np.float32(scale)
    inv = np.float32(np.float32(1.0) / sf)
    q = np.clip(zp + litert_round(x * inv), -128, 127)
    return q.reshape(x.shape), sf, zp


# --------------------------------------------------------------------------- shape rules
def _windowed_shape(node: Node, shapes, w_dim: int) -> list:
    """[N, OH, OW, weights[w_dim]] of a convolution over NHWC input 0 with weights input 1."""
    x, w = shapes[0], shapes[1]
    if x is None or w is None or len(x) != 4 or len(w) != 4:
        raise unsupported(node, "an input or weights that are not 4-D")
    (sh, sw), (dh, dw) = (_attr_pair(node, "stride_h", "stride_w"),
                          _attr_pair(node, "dilation_h_factor", "dilation_w_factor"))
    return [(x[0], window_out_size(node, x[1], w[1], sh, dh),
             window_out_size(node, x[2], w[2], sw, dw), w[w_dim])]


def _conv_shape(node: Node, shapes, consts) -> list:
    """CONV_2D: [N, OH, OW, Cout] with OHWI weights (TFLite ``ComputeOutSize`` per axis)."""
    return _windowed_shape(node, shapes, 0)


def _depthwise_shape(node: Node, shapes, consts) -> list:
    """DEPTHWISE_CONV_2D: [N, OH, OW, Cout] with [1, KH, KW, Cout] weights."""
    return _windowed_shape(node, shapes, 3)


def _transpose_conv_shape(node: Node, shapes, consts) -> list:
    """TRANSPOSE_CONV: the constant ``output_shape`` input 0 (four ints, NHWC)."""
    dims = shape_ints(node, consts, 0, "output_shape tensor")
    if len(dims) != 4 or min(dims) < 0:
        raise unsupported(node, f"output_shape {dims}")
    return [tuple(dims)]


# --------------------------------------------------------------------------- CONV_2D
def _conv_macs(node: Node) -> int:
    w, out = node.inputs[1], node.outputs[0]
    return out.size * w.shape[1] * w.shape[2] * w.shape[3]


@register("CONV_2D", operands="x:4, w:4, bias?:1 -> y:4", shape=_conv_shape, traits=(WINDOWED, FUSES_ACTIVATION),
          quant=QuantRule(weights=Weights(1, 0, 2, 0),
                          versions={"int8": 3, "int16x8": 4, "int4-weights": 7}),
          macs=_conv_macs, oracle="TFLM",
          dtypes=("int8", "int16", "float32", "float32 x int8 (hybrid, LiteRT reference)"))
def prepare_conv_2d(node: Node) -> Kernel:
    """2-D convolution (NHWC input, OHWI weights, optional bias, grouped if Cin > I)."""
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, "non-4-D tensors")
    n, h, wd, c = x.shape
    cout, kh, kw, cg = w.shape
    if cg <= 0 or c % cg or cout % (c // cg) or out.shape[3] != cout:
        raise unsupported(node, f"input channels {c} with weights {list(w.shape)}")
    win = make_window(node, (h, wd), (kh, kw), _attr_pair(node, "stride_h", "stride_w"),
                      _attr_pair(node, "dilation_h_factor", "dilation_w_factor"),
                      out.shape[1:3])
    if x.dtype == "float32" and w.dtype == "float32":
        return _prepare_float(
            node, win, lambda wt, f, dt: ConvGemm(x.shape, wt, win, f, dt, np.float32))
    if x.dtype == "float32" and w.dtype in ("int8", "int4"):
        return _prepare_hybrid_conv(node, win)
    kind = _check_quantized(node, x, w, b, out)
    in_zp = x.quant.zp0 if kind == "int8" else 0  # TFLM's 16x8 kernel has no input offset
    wide = kind == "int16" and not (
        (b is not None and b.dtype == "int32")
        or (b is None and node.attrs.get("quantized_bias_type") == "int32"))
    max_x = _int_range(kind, in_zp)

    w_off = filter_offset(node)

    def build(wt: np.ndarray, bias: Optional[np.ndarray]):
        w64 = wt.astype(np.int64) + w_off
        wsum = w64.reshape(cout, -1).sum(axis=1)
        wabs = np.abs(w64).reshape(cout, -1).sum(axis=1)
        bias64 = np.zeros(cout, np.int64) if bias is None else bias.astype(np.int64)
        const = bias64 - in_zp * wsum
        bound = max_x * wabs + np.abs(bias64)
        dt = _exact_float(128 if kind == "int8" else 32768, wabs) or np.dtype(np.int64)
        gemm = ConvGemm(x.shape, w64 if w_off else wt, win, in_zp, dt, np.dtype(kind))
        rq = _quant_output(node, x, w, out, cout, const, bound, wide)
        return lambda ins: rq(gemm(ins[0]))

    return _with_weights(node, 1, 2, build)


def _prepare_float(node: Node, win: Window,
                   make: Callable[[np.ndarray, float, np.dtype], Callable]) -> Kernel:
    """Float32 convolution family: float64 sums, bias, fused activation, float32 out."""
    out = node.outputs[0]
    lo, hi = float_activation_bounds(node)
    if out.dtype != "float32":
        raise unsupported(node, f"float32 input with {out.dtype} output")

    def build(wt: np.ndarray, bias: Optional[np.ndarray]):
        summer = make(wt, 0.0, np.dtype(np.float64))
        b64 = None if bias is None else bias.astype(np.float64)

        def run(ins: Arrays) -> np.ndarray:
            acc = summer(ins[0])
            if b64 is not None:
                acc = acc + b64
            return apply_float_activation(acc.astype(np.float32), lo, hi)

        return run

    return _with_weights(node, 1, 2, build)


def _prepare_hybrid_conv(node: Node, win: Window) -> Kernel:
    """LiteRT hybrid CONV_2D: per-batch input quantization, integer sums, float scaling.

    One weight scale (or all equal) and no groups: symmetric input quantization and
    ``acc * (input_scale * weight_scale)``; otherwise the per-channel kernel with
    asymmetric input quantization and ``acc * weight_scale[c] * input_scale``.
    """
    x, w = node.input(0), node.input(1)
    require_quant(node, w, "hybrid weights")
    n = x.shape[0]
    cout, cg = w.shape[0], w.shape[3]
    grouped = x.shape[3] != cg
    scales = w.quant.scale.astype(np.float32)
    per_channel = scales.size > 1 and bool(np.any(scales != scales[0]))
    if (per_channel or grouped) and scales.size != cout:
        raise unsupported(node, "grouped hybrid convolution with one weight scale")
    lo, hi = float_activation_bounds(node)
    batch = (n, 1, 1, 1)

    def build(wt: np.ndarray, bias: Optional[np.ndarray]):
        wabs = np.abs(wt.astype(np.int64)).reshape(cout, -1).sum(axis=1)
        b32 = None if bias is None else bias.astype(np.float32)
        if not (per_channel or grouped):
            gemm = ConvGemm(x.shape, wt, win, 0.0, _exact_float(127, wabs) or np.int64,
                            np.float64)
            s0 = np.float32(scales[0])

            def run(ins: Arrays) -> np.ndarray:
                q = np.empty(x.shape, np.float64)
                sf = np.empty(n, np.float32)
                for i in range(n):
                    q[i], s = symmetric_quantize(ins[0][i])
                    sf[i] = s * s0
                y = gemm(q).astype(np.float32) * sf.reshape(batch)
                if b32 is not None:
                    y += b32
                return apply_float_activation(y, lo, hi)

            return run
        # Summing (q - zp) with zero padding equals LiteRT's skipped padded taps.
        gemm = ConvGemm(x.shape, wt, win, 0.0, _exact_float(255, wabs) or np.int64,
                        np.float64)
        sc = np.broadcast_to(scales, (cout,)).astype(np.float32)

        def run_pc(ins: Arrays) -> np.ndarray:
            q = np.empty(x.shape, np.float64)
            sf = np.empty(n, np.float32)
            for i in range(n):
                qi, sf[i], zp = asymmetric_quantize(ins[0][i])
                q[i] = qi - zp
            y = (gemm(q).astype(np.float32) * sc) * sf.reshape(batch)
            if b32 is not None:
                y += b32
            return apply_float_activation(y, lo, hi)

        return run_pc

    return _with_weights(node, 1, 2, build)


# --------------------------------------------------------------------------- DEPTHWISE_CONV_2D
def _depthwise_macs(node: Node) -> int:
    w, out = node.inputs[1], node.outputs[0]
    return out.size * w.shape[1] * w.shape[2]


@register("DEPTHWISE_CONV_2D", operands="x:4, w:4, bias?:1 -> y:4", shape=_depthwise_shape, traits=(WINDOWED, FUSES_ACTIVATION),
          quant=QuantRule(weights=Weights(1, 0, 2, 3),
                          versions={"int8": 3, "int16x8": 5, "int4-weights": 6}),
          macs=_depthwise_macs, oracle="TFLM",
          dtypes=("int8", "int16", "float32", "float32 x int8 (hybrid, LiteRT reference)"))
def prepare_depthwise_conv_2d(node: Node) -> Kernel:
    """Depthwise convolution; the depth multiplier is Cout / Cin (as the shapes say)."""
    x, w, b, out = node.input(0), node.input(1), node.input(2), node.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, "non-4-D tensors")
    n, h, wd, c = x.shape
    one, kh, kw, cout = w.shape
    if one != 1 or cout % c or out.shape[3] != cout:
        raise unsupported(node, f"input channels {c} with depthwise weights {list(w.shape)}")
    win = make_window(node, (h, wd), (kh, kw), _attr_pair(node, "stride_h", "stride_w"),
                      _attr_pair(node, "dilation_h_factor", "dilation_w_factor"),
                      out.shape[1:3])
    if x.dtype == "float32" and w.dtype == "float32":
        return _prepare_float(
            node, win, lambda wt, f, dt: DepthwiseSum(x.shape, wt, win, f, dt, np.float32))
    if x.dtype == "float32" and w.dtype == "int8":
        return _prepare_hybrid_depthwise(node, win)
    kind = _check_quantized(node, x, w, b, out)
    if kind == "int16" and b is not None and b.dtype != "int64":
        raise unsupported(node, "int16 depthwise convolution with a non-int64 bias")
    in_zp = x.quant.zp0 if kind == "int8" else 0
    max_x = _int_range(kind, in_zp)

    w_off = filter_offset(node)

    def build(wt: np.ndarray, bias: Optional[np.ndarray]):
        wt = wt.astype(np.int64) + w_off if w_off else wt
        w64 = wt.astype(np.int64).reshape(-1, cout)
        wsum, wabs = w64.sum(axis=0), np.abs(w64).sum(axis=0)
        bias64 = np.zeros(cout, np.int64) if bias is None else bias.astype(np.int64)
        const = bias64 - in_zp * wsum
        bound = max_x * wabs + np.abs(bias64)
        dt = _exact_float(128 if kind == "int8" else 32768, wabs) or np.dtype(np.int64)
        summer = DepthwiseSum(x.shape, wt, win, in_zp, dt, np.dtype(kind))
        rq = _quant_output(node, x, w, out, cout, const, bound, wide=kind == "int16")
        return lambda ins: rq(summer(ins[0]))

    return _with_weights(node, 1, 2, build)


def _prepare_hybrid_depthwise(node: Node, win: Window) -> Kernel:
    """LiteRT hybrid depthwise (per-channel weight scales, asymmetric input quantization)."""
    x, w = node.input(0), node.input(1)
    require_quant(node, w, "hybrid weights")
    n, cout = x.shape[0], w.shape[3]
    scales = w.quant.scale.astype(np.float32)
    if scales.size != cout:
        raise unsupported(node, "hybrid depthwise convolution without per-channel scales")
    lo, hi = float_activation_bounds(node)

    def build(wt: np.ndarray, bias: Optional[np.ndarray]):
        wabs = np.abs(wt.astype(np.int64)).reshape(-1, cout).sum(axis=0)
        summer = DepthwiseSum(x.shape, wt, win, 0.0, _exact_float(255, wabs) or np.int64,
                              np.float64)
        b32 = None if bias is None else bias.astype(np.float32)

        def run(ins: Arrays) -> np.ndarray:
            q = np.empty(x.shape, np.float64)
            fac = np.empty((n, 1, 1, cout), np.float32)
            for i in range(n):
                qi, sf, zp = asymmetric_quantize(ins[0][i])
                q[i] = qi - zp
                fac[i] = scales * sf  # LiteRT multiplies the two scales first
            y = summer(q).astype(np.float32) * fac
            if b32 is not None:
                y += b32
            return apply_float_activation(y, lo, hi)

        return run

    return _with_weights(node, 1, 2, build)


# --------------------------------------------------------------------------- TRANSPOSE_CONV
def _transpose_conv_macs(node: Node) -> int:
    w, x = node.inputs[1], node.inputs[2]
    return x.size * w.shape[1] * w.shape[2] * w.shape[0]


class TransposeSum:
    """Transposed-convolution sums: one matmul, then a scatter-add per tap.

    ``x`` (N, H, W, Cin) times weights (Cout, KH, KW, Cin) gives every (pixel, tap,
    Cout) product sum; tap (ky, kx) of input pixel (iy, ix) lands on output pixel
    (iy*sh - pad_t + ky, ix*sw - pad_l + kx) when that lies inside the output.
    """

    def __init__(self, in_shape: tuple[int, ...], out_shape: tuple[int, ...], w: np.ndarray,
                 stride: tuple[int, int], pads: tuple[int, int], offset: int,
                 dtype: np.dtype) -> None:
        self.n, self.h, self.w_, self.cin = in_shape
        _, self.oh, self.ow, _ = out_shape
        self.cout, self.kh, self.kw, _ = w.shape
        self.sh, self.sw = stride
        self.pt, self.pl = pads
        self.offset = offset
        self.dtype = np.dtype(dtype)
        # (Cin, KH*KW*Cout)
        self.wmat = np.ascontiguousarray(
            w.astype(dtype).transpose(3, 1, 2, 0).reshape(self.cin, -1))
        self.fh = max((self.h - 1) * self.sh + self.kh, self.pt + self.oh)
        self.fw = max((self.w_ - 1) * self.sw + self.kw, self.pl + self.ow)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        xs = x.astype(self.dtype)
        if self.offset:
            xs += self.offset
        cols = xs.reshape(-1, self.cin) @ self.wmat
        cols = cols.reshape(self.n, self.h, self.w_, self.kh, self.kw, self.cout)
        full = np.zeros((self.n, self.fh, self.fw, self.cout), self.dtype)
        ye, xe = (self.h - 1) * self.sh + 1, (self.w_ - 1) * self.sw + 1
        for ky in range(self.kh):
            for kx in range(self.kw):
                full[:, ky:ky + ye:self.sh, kx:kx + xe:self.sw, :] += cols[:, :, :, ky, kx, :]
        return full[:, self.pt:self.pt + self.oh, self.pl:self.pl + self.ow, :]


@register("TRANSPOSE_CONV", operands="output_shape:1:int, w:4, x:4, bias?:1 -> y:4", shape=_transpose_conv_shape, traits=(FUSES_ACTIVATION,),
          quant=QuantRule(weights=Weights(1, 2, 3, 0), versions={"int8": 2}),
          macs=_transpose_conv_macs, oracle="TFLM",
          dtypes=("int8", "int16", "float32"))
def prepare_transpose_conv(node: Node) -> Kernel:
    """Transposed convolution; inputs (output_shape, weights OHWI, input, optional bias)."""
    x, w, b, out = node.input(2), node.input(1), node.input(3), node.outputs[0]
    if len(x.shape) != 4 or len(w.shape) != 4 or len(out.shape) != 4:
        raise unsupported(node, "non-4-D tensors")
    n, h, wd, c = x.shape
    cout, kh, kw, cin = w.shape
    if cin != c or out.shape[3] != cout or out.shape[0] != n:
        raise unsupported(node, f"input {list(x.shape)} with weights {list(w.shape)}")
    sh, sw = _attr_pair(node, "stride_h", "stride_w")
    padding = node.attrs.get("padding", "SAME")
    if padding not in ("SAME", "VALID"):
        raise unsupported(node, f"padding {padding}")
    # TFLM computes the padding as if convolving over the *output* extent.
    pads = (_pad_before(padding, out.shape[1], kh, sh, 1),
            _pad_before(padding, out.shape[2], kw, sw, 1))
    if x.dtype == "float32" and w.dtype == "float32":
        lo, hi = float_activation_bounds(node)

        def build_f(wt: np.ndarray, bias: Optional[np.ndarray]):
            summer = TransposeSum(x.shape, out.shape, wt, (sh, sw), pads, 0, np.float64)
            b64 = None if bias is None else bias.astype(np.float64)

            def run(ins: Arrays) -> np.ndarray:
                acc = summer(ins[2])
                if b64 is not None:
                    acc = acc + b64
                return apply_float_activation(acc.astype(np.float32), lo, hi)

            return run

        return _with_weights(node, 1, 3, build_f)
    kind = _check_quantized_tconv(node, x, w, b, out)
    in_zp = x.quant.zp0 if kind == "int8" else 0
    max_x = _int_range(kind, in_zp)

    def build(wt: np.ndarray, bias: Optional[np.ndarray]):
        w64 = wt.astype(np.int64)
        # Each output element sums at most every (tap, Cin) product of one channel.
        wabs = np.abs(w64).reshape(cout, -1).sum(axis=1)
        bias64 = np.zeros(cout, np.int64) if bias is None else bias.astype(np.int64)
        bound = max_x * wabs + np.abs(bias64)
        dt = _exact_float(max_x, wabs) or np.dtype(np.int64)
        summer = TransposeSum(x.shape, out.shape, wt, (sh, sw), pads, -in_zp, dt)
        rq = _quant_output(node, x, w, out, cout, bias64, bound, wide=kind == "int16")
        return lambda ins: rq(summer(ins[2]))

    return _with_weights(node, 1, 3, build)


def _check_quantized_tconv(node: Node, x: Value, w: Value, b: Optional[Value],
                           out: Value) -> str:
    """TFLM's TRANSPOSE_CONV: int8 with int32 bias; int16 with int16 or int64 bias."""
    kind = _check_quantized(node, x, w, None, out)
    if w.dtype != "int8":
        raise unsupported(node, f"transpose convolution with {w.dtype} weights")
    ok = ("int32",) if kind == "int8" else ("int16", "int64")
    if b is not None and b.dtype not in ok:
        raise unsupported(node, f"{kind} transpose convolution with a {b.dtype} bias")
    return kind
