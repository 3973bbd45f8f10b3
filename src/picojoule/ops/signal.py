"""TFLM's signal library (audio front end): ``CUSTOM:Signal*`` ops.

These are TFLM custom ops whose options are a flexbuffer map in
``node.attrs["custom_options"]``. TFLM reads the map's values by *position* in
key order; picojoule reads them by name, which is the same for every map a
flexbuffer writer produces (keys are stored sorted).

The integer kernels reproduce TFLM's C arithmetic exactly (``int16``/``int32``
truncating stores, ``uint32``/``uint64`` wrap-around, arithmetic right shifts).
The fixed-point FFTs replay kissfft v130's mixed-radix butterflies (the version
TFLM builds) stage by stage, vectorised over the butterflies of a stage.

Several ops keep state across invocations (spectral subtraction's noise
estimate, the framer/delay/stacker FIFOs, overlap-add's accumulator). TFLM keeps
that state inside the op, not in a variable tensor, so picojoule keeps it in the
kernel closure; each stateful kernel has a ``reset()`` attribute that restores the
state TFLM's Prepare/Reset establishes.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np

from picojoule.ir import Node
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.common import same_shape
from picojoule.ops.registry import (STATEFUL, register, unsupported)

Arrays = Sequence[Optional[np.ndarray]]

# ----------------------------------------------------------------------------- helpers


def _options(node: Node) -> dict:
    """The op's flexbuffer options as a dict (empty when absent)."""
    raw = node.attrs.get("custom_options")
    if not raw:
        return {}
    from flatbuffers import flexbuffers

    opts = flexbuffers.Loads(bytes(raw))
    return dict(opts) if isinstance(opts, dict) else {}


def _opt_int(node: Node, opts: dict, key: str) -> int:
    """An integer option, as TFLM's ``FlexbufferWrapper::ElementAsInt32`` reads it."""
    if key not in opts:
        raise unsupported(node, f"custom options without {key!r}")
    return _wrap(int(opts[key]), 32)  # the 64-bit value truncated to int32


def _wrap(x, bits: int):
    """Two's complement wrap of Python/numpy int64 values to ``bits`` (C truncation)."""
    half = 1 << (bits - 1)
    return ((x + half) & ((1 << bits) - 1)) - half


def _msb32(x: np.ndarray) -> np.ndarray:
    """TFLM ``MostSignificantBit32`` as built with GCC/Clang: bit length, but 32 for 0."""
    x = np.asarray(x, dtype=np.uint64) & np.uint64(0xFFFFFFFF)
    # frexp is exact for integers < 2**53: x = m * 2**e with 0.5 <= m < 1 -> e = bit length.
    _, e = np.frexp(x.astype(np.float64))
    return np.where(x == 0, 32, e).astype(np.int64)


def _check(node: Node, cond: bool, what: str) -> None:
    if not cond:
        raise unsupported(node, what)


def _in_dtype(node: Node, i: int) -> str:
    v = node.input(i)
    return v.dtype if v is not None else "none"


def _out_np(node: Node, i: int = 0) -> np.dtype:
    return to_numpy(node.outputs[i].dtype)


# ----------------------------------------------------------------------------- shape rules
# The signal library's TensorFlow shape functions (TFLM only checks the stored shapes).


def _last_replaced(node: Node, shape, size: int) -> tuple:
    if not shape:
        raise unsupported(node, "a scalar input")
    return tuple(shape[:-1]) + (size,)


def _fft_auto_scale_shape(node: Node, shapes, consts) -> list:
    """The scaled frame (input's shape) and a scalar shift count."""
    return [tuple(shapes[0]), ()]


def _rfft_shape(node: Node, shapes, consts) -> list:
    """Innermost axis -> fft_length / 2 + 1 complex bins, interleaved (re, im)."""
    n = _opt_int(node, _options(node), "fft_length")
    return [_last_replaced(node, shapes[0], (n // 2 + 1) * 2)]


def _irfft_shape(node: Node, shapes, consts) -> list:
    """Innermost axis -> fft_length real samples."""
    return [_last_replaced(node, shapes[0], _opt_int(node, _options(node), "fft_length"))]


def _energy_shape(node: Node, shapes, consts) -> list:
    """One energy per complex (re, im) pair of the innermost axis."""
    return [_last_replaced(node, shapes[0], shapes[0][-1] // 2 if shapes[0] else 0)]


def _filter_bank_shape(node: Node, shapes, consts) -> list:
    """One value per mel channel: [num_channels]."""
    return [(_opt_int(node, _options(node), "num_channels"),)]


def _twice_shape(node: Node, shapes, consts) -> list:
    """Spectral subtraction: the cleaned channels and the noise estimate, both input-shaped."""
    return [tuple(shapes[0])] * 2


def _framer_shape(node: Node, shapes, consts) -> list:
    """[..., inner / frame_step, frame_size] frames and a scalar valid flag."""
    opts = _options(node)
    size, step = _opt_int(node, opts, "frame_size"), _opt_int(node, opts, "frame_step")
    if step <= 0 or not shapes[0]:
        raise unsupported(node, f"frame_step {step} on input {tuple(shapes[0])}")
    return [tuple(shapes[0][:-1]) + (shapes[0][-1] // step, size), ()]


def _overlap_add_shape(node: Node, shapes, consts) -> list:
    """[..., frames, frame_size] -> [..., frames * frame_step]."""
    step = _opt_int(node, _options(node), "frame_step")
    x = tuple(shapes[0])
    if len(x) < 2:
        raise unsupported(node, "an input of rank < 2")
    return [x[:-2] + (x[-2] * step,)]


def _stacker_shape(node: Node, shapes, consts) -> list:
    """[num_channels * (left + 1 + right)] and a scalar valid flag."""
    opts = _options(node)
    frames = (_opt_int(node, opts, "stacker_left_context") + 1
              + _opt_int(node, opts, "stacker_right_context"))
    return [(_opt_int(node, opts, "num_channels") * frames,), ()]


# ----------------------------------------------------------------------------- MAC counts


def _window_macs(node: Node) -> int:
    return node.inputs[0].size


def _fft_macs(node: Node) -> int:
    """Real multiplies of the butterflies' twiddle products plus the real-FFT split."""
    try:
        n = int(_options(node).get("fft_length", 0))
        factors = _kiss_factors(n // 2) if n >= 4 else []
    except Exception:  # noqa: BLE001 - a cost estimate must not fail on odd options
        return 0
    half = n // 2
    cmuls = sum((p - 1) * half // p for p, _ in factors) + half // 2
    frames = max(node.outputs[0].size // max(node.outputs[0].shape[-1], 1), 1)
    return 4 * cmuls * frames


def _energy_macs(node: Node) -> int:
    opts = _options(node)
    return 2 * max(int(opts.get("end_index", 0)) - int(opts.get("start_index", 0)), 0)


def _filter_bank_macs(node: Node) -> int:
    widths = node.input(5)
    if widths is not None and widths.data is not None:
        return 2 * int(np.maximum(widths.data.astype(np.int64), 0).sum())
    return 2 * node.inputs[0].size


# ----------------------------------------------------------------------------- window


@register("CUSTOM:SignalWindow", shape=same_shape,
          macs=_window_macs, oracle="TFLM", dtypes=("int16",))
def prepare_window(node: Node) -> Callable[[Arrays], list]:
    """Window: ``sat16((x * w) >> shift)`` applied to each ``len(w)`` chunk of the input."""
    shift = _opt_int(node, _options(node), "shift")
    _check(node, _in_dtype(node, 0) == "int16" and _in_dtype(node, 1) == "int16",
           "non-int16 input/weights")
    n_w = node.inputs[1].shape[0]
    size = node.inputs[0].size
    _check(node, n_w > 0 and size % n_w == 0, "input size not a multiple of the window size")
    out_shape = node.outputs[0].shape

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(-1, n_w).astype(np.int64)
        w = inputs[1].astype(np.int64)
        y = np.clip((x * w) >> shift, -32768, 32767)
        return [y.astype(np.int16).reshape(out_shape)]

    return run


# ----------------------------------------------------------------------------- fft auto scale


def _max_abs16(x: np.ndarray) -> int:
    """TFLM ``MaxAbs16`` on an int16 vector, including its int16 overflow quirk.

    The scan keeps ``max`` in an int16: ``-(-32768)`` stores back as -32768, after
    which the comparisons run against a negative maximum. Without a -32768 in
    the input this is plain ``max(|x|)``; with one, the scan is replayed exactly.
    """
    if not np.any(x == -32768):
        return int(np.max(np.abs(x.astype(np.int64)), initial=0))
    m = 0
    for v in x.tolist():
        if v > m:
            m = v
        elif -v > m:
            m = _wrap(-v, 16)
    return m


@register("CUSTOM:SignalFftAutoScale", shape=_fft_auto_scale_shape,
          oracle="TFLM", dtypes=("int16",))
def prepare_fft_auto_scale(node: Node) -> Callable[[Arrays], list]:
    """Shift a frame left so its largest magnitude fills int16; output the shift too."""
    _check(node, _in_dtype(node, 0) == "int16", "non-int16 input")
    _check(node, len(node.outputs) == 2, "not two outputs")

    def run(inputs: Arrays) -> list:
        x = inputs[0]
        m = _max_abs16(x.reshape(-1))
        # MostSignificantBit32 of the (sign-extended) int16 maximum.
        bits = 16 - int(_msb32(np.array([m & 0xFFFFFFFF]))[0]) - 1
        bits = max(bits, 0)
        y = _wrap(x.astype(np.int64) * (1 << bits), 16).astype(np.int16)
        return [y, np.array(bits, dtype=np.int32).reshape(node.outputs[1].shape)]

    return run


# ----------------------------------------------------------------------------- kissfft


_PI_KISS = 3.141592653589793238462643383279502884197169399375105820974944
_PI_KISSR = 3.14159265358979323846264338327


def _kiss_factors(n: int) -> list[tuple[int, int]]:
    """kissfft ``kf_factor``: radix 4 first, then 2, then odd numbers; (p, m) pairs."""
    out = []
    p = 4
    floor_sqrt = math.floor(math.sqrt(float(n)))
    while True:
        while n % p:
            p = 2 if p == 4 else (3 if p == 2 else p + 2)
            if p > floor_sqrt:
                p = n
        n //= p
        out.append((p, n))
        if n <= 1:
            return out


class _FixedKiss:
    """kissfft's complex FFT with ``FIXED_POINT`` = 16 or 32, batched over rows.

    Values live in int64 arrays; every store into a ``kiss_fft_scalar`` is
    wrapped to ``bits`` exactly like the C truncation, products are formed in
    ``SAMPPROD`` (int32 / int64) and rounded with kissfft's ``sround``.
    """

    def __init__(self, nfft: int, inverse: bool, bits: int) -> None:
        self.n = nfft
        self.bits = bits
        self.frac = bits - 1
        self.samp_max = (1 << (bits - 1)) - 1
        sign = 1.0 if inverse else -1.0
        # Twiddles are computed in double and stored with floor(.5 + SAMP_MAX * cos).
        phase = [sign * 2 * _PI_KISS * i / nfft for i in range(nfft)]
        self.tw_r = np.array([math.floor(.5 + self.samp_max * math.cos(p)) for p in phase],
                             dtype=np.int64)
        self.tw_i = np.array([math.floor(.5 + self.samp_max * math.sin(p)) for p in phase],
                             dtype=np.int64)
        self.inverse = inverse
        self.factors = _kiss_factors(nfft)
        # kf_work's recursion only permutes the input into the leaves: record where.
        self.perm = np.empty(nfft, dtype=np.int64)
        self._leaves(0, 0, 1, 0)

    def _leaves(self, out: int, src: int, fstride: int, level: int) -> None:
        p, m = self.factors[level]
        if m == 1:
            self.perm[out:out + p] = src + fstride * np.arange(p)
            return
        for j in range(p):
            self._leaves(out + j * m, src + j * fstride, fstride * p, level + 1)

    # -- kissfft's arithmetic macros
    def w(self, x: np.ndarray) -> np.ndarray:
        """Store into kiss_fft_scalar."""
        return _wrap(x, self.bits)

    def sround(self, x: np.ndarray) -> np.ndarray:
        """``(scalar)((x + (1 << (FRACBITS-1))) >> FRACBITS)`` in SAMPPROD."""
        if self.bits == 16:
            x = _wrap(_wrap(x, 32) + (1 << 14), 32)
        else:
            x = x + (1 << 30)  # int64 SAMPPROD: numpy's int64 wraps the same way
        return self.w(x >> self.frac)

    def cmul(self, ar, ai, br, bi):
        return self.sround(ar * br - ai * bi), self.sround(ar * bi + ai * br)

    def fixdiv(self, r, i, k: int):
        d = self.samp_max // k
        return self.sround(r * d), self.sround(i * d)

    def half(self, x: np.ndarray) -> np.ndarray:
        """``HALF_OF``: an arithmetic shift of the int-promoted (int32) sum."""
        return _wrap(x, 32) >> 1

    # -- the transform
    def __call__(self, re: np.ndarray, im: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """FFT of each row of (re, im) (int64 arrays of shape (B, n))."""
        re = re[:, self.perm].copy()
        im = im[:, self.perm].copy()
        fstrides = [1]
        for p, _ in self.factors[:-1]:
            fstrides.append(fstrides[-1] * p)
        for (p, m), fs in reversed(list(zip(self.factors, fstrides))):
            shape = (re.shape[0], fs, p, m)
            R = re.reshape(shape)
            I = im.reshape(shape)
            u = np.arange(m)
            if p == 2:
                self._bfly2(R, I, u, fs)
            elif p == 3:
                self._bfly3(R, I, u, fs, m)
            elif p == 4:
                self._bfly4(R, I, u, fs)
            else:
                self._bfly5(R, I, u, fs, m)
        return re, im

    def _tw(self, idx: np.ndarray):
        return self.tw_r[idx], self.tw_i[idx]

    def _bfly2(self, R, I, u, fs):
        f0 = self.fixdiv(R[:, :, 0], I[:, :, 0], 2)
        f1 = self.fixdiv(R[:, :, 1], I[:, :, 1], 2)
        t = self.cmul(*f1, *self._tw(u * fs))
        R[:, :, 1], I[:, :, 1] = self.w(f0[0] - t[0]), self.w(f0[1] - t[1])
        R[:, :, 0], I[:, :, 0] = self.w(f0[0] + t[0]), self.w(f0[1] + t[1])

    def _bfly4(self, R, I, u, fs):
        w = self.w
        f = [self.fixdiv(R[:, :, q], I[:, :, q], 4) for q in range(4)]
        s0 = self.cmul(*f[1], *self._tw(u * fs))
        s1 = self.cmul(*f[2], *self._tw(2 * u * fs))
        s2 = self.cmul(*f[3], *self._tw(3 * u * fs))
        s5 = (w(f[0][0] - s1[0]), w(f[0][1] - s1[1]))
        f0 = (w(f[0][0] + s1[0]), w(f[0][1] + s1[1]))
        s3 = (w(s0[0] + s2[0]), w(s0[1] + s2[1]))
        s4 = (w(s0[0] - s2[0]), w(s0[1] - s2[1]))
        R[:, :, 2], I[:, :, 2] = w(f0[0] - s3[0]), w(f0[1] - s3[1])
        R[:, :, 0], I[:, :, 0] = w(f0[0] + s3[0]), w(f0[1] + s3[1])
        if self.inverse:
            R[:, :, 1], I[:, :, 1] = w(s5[0] - s4[1]), w(s5[1] + s4[0])
            R[:, :, 3], I[:, :, 3] = w(s5[0] + s4[1]), w(s5[1] - s4[0])
        else:
            R[:, :, 1], I[:, :, 1] = w(s5[0] + s4[1]), w(s5[1] - s4[0])
            R[:, :, 3], I[:, :, 3] = w(s5[0] - s4[1]), w(s5[1] + s4[0])

    def _bfly3(self, R, I, u, fs, m):
        w = self.w
        epi_i = int(self.tw_i[fs * m])
        f = [self.fixdiv(R[:, :, q], I[:, :, q], 3) for q in range(3)]
        s1 = self.cmul(*f[1], *self._tw(u * fs))
        s2 = self.cmul(*f[2], *self._tw(2 * u * fs))
        s3 = (w(s1[0] + s2[0]), w(s1[1] + s2[1]))
        s0 = (w(s1[0] - s2[0]), w(s1[1] - s2[1]))
        f1 = (w(f[0][0] - self.half(s3[0])), w(f[0][1] - self.half(s3[1])))
        s0 = (self.sround(s0[0] * epi_i), self.sround(s0[1] * epi_i))
        R[:, :, 0], I[:, :, 0] = w(f[0][0] + s3[0]), w(f[0][1] + s3[1])
        R[:, :, 2], I[:, :, 2] = w(f1[0] + s0[1]), w(f1[1] - s0[0])
        R[:, :, 1], I[:, :, 1] = w(f1[0] - s0[1]), w(f1[1] + s0[0])

    def _bfly5(self, R, I, u, fs, m):
        w, S = self.w, (lambda a, b: self.sround(a * b))
        ya = (int(self.tw_r[fs * m]), int(self.tw_i[fs * m]))
        yb = (int(self.tw_r[2 * fs * m]), int(self.tw_i[2 * fs * m]))
        f = [self.fixdiv(R[:, :, q], I[:, :, q], 5) for q in range(5)]
        s0 = f[0]
        s = [None] + [self.cmul(*f[q], *self._tw(q * u * fs)) for q in range(1, 5)]
        s7 = (w(s[1][0] + s[4][0]), w(s[1][1] + s[4][1]))
        s10 = (w(s[1][0] - s[4][0]), w(s[1][1] - s[4][1]))
        s8 = (w(s[2][0] + s[3][0]), w(s[2][1] + s[3][1]))
        s9 = (w(s[2][0] - s[3][0]), w(s[2][1] - s[3][1]))
        R[:, :, 0] = w(s0[0] + s7[0] + s8[0])
        I[:, :, 0] = w(s0[1] + s7[1] + s8[1])
        s5 = (w(s0[0] + S(s7[0], ya[0]) + S(s8[0], yb[0])),
              w(s0[1] + S(s7[1], ya[0]) + S(s8[1], yb[0])))
        s6 = (w(S(s10[1], ya[1]) + S(s9[1], yb[1])),
              w(-S(s10[0], ya[1]) - S(s9[0], yb[1])))
        R[:, :, 1], I[:, :, 1] = w(s5[0] - s6[0]), w(s5[1] - s6[1])
        R[:, :, 4], I[:, :, 4] = w(s5[0] + s6[0]), w(s5[1] + s6[1])
        s11 = (w(s0[0] + S(s7[0], yb[0]) + S(s8[0], ya[0])),
               w(s0[1] + S(s7[1], yb[0]) + S(s8[1], ya[0])))
        s12 = (w(-S(s10[1], yb[1]) + S(s9[1], ya[1])),
               w(S(s10[0], yb[1]) - S(s9[0], ya[1])))
        R[:, :, 2], I[:, :, 2] = w(s11[0] + s12[0]), w(s11[1] + s12[1])
        R[:, :, 3], I[:, :, 3] = w(s11[0] - s12[0]), w(s11[1] - s12[1])


class _FixedKissReal:
    """kissfft ``kiss_fftr`` / ``kiss_fftri`` (real FFT via a half-length complex FFT)."""

    def __init__(self, nfft: int, inverse: bool, bits: int) -> None:
        self.ncfft = nfft // 2
        self.sub = _FixedKiss(self.ncfft, inverse, bits)
        sign = 1.0 if inverse else -1.0
        ph = [sign * _PI_KISSR * ((i + 1) / self.ncfft + .5) for i in range(self.ncfft // 2)]
        smax = self.sub.samp_max
        self.st_r = np.array([math.floor(.5 + smax * math.cos(p)) for p in ph], dtype=np.int64)
        self.st_i = np.array([math.floor(.5 + smax * math.sin(p)) for p in ph], dtype=np.int64)

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: int64 (B, nfft) -> (re, im) int64 (B, ncfft + 1)."""
        s, n = self.sub, self.ncfft
        tr, ti = s(x[:, 0::2], x[:, 1::2])
        B = x.shape[0]
        out_r = np.zeros((B, n + 1), dtype=np.int64)
        out_i = np.zeros((B, n + 1), dtype=np.int64)
        dr, di = s.fixdiv(tr[:, 0], ti[:, 0], 2)
        out_r[:, 0] = s.w(dr + di)
        out_r[:, n] = s.w(dr - di)
        k = np.arange(1, n // 2 + 1)
        if k.size:
            pk = s.fixdiv(tr[:, k], ti[:, k], 2)
            pnk = s.fixdiv(tr[:, n - k], s.w(-ti[:, n - k]), 2)
            f1 = (s.w(pk[0] + pnk[0]), s.w(pk[1] + pnk[1]))
            f2 = (s.w(pk[0] - pnk[0]), s.w(pk[1] - pnk[1]))
            tw = s.cmul(*f2, self.st_r[k - 1], self.st_i[k - 1])
            out_r[:, k] = s.w(s.half(f1[0] + tw[0]))
            out_i[:, k] = s.w(s.half(f1[1] + tw[1]))
            # For k == n/2 this second store wins, as in the C loop.
            out_r[:, n - k] = s.w(s.half(f1[0] - tw[0]))
            out_i[:, n - k] = s.w(s.half(tw[1] - f1[1]))
        return out_r, out_i

    def inverse(self, fr: np.ndarray, fi: np.ndarray) -> np.ndarray:
        """(re, im) int64 (B, >= ncfft + 1) -> int64 (B, nfft) (unscaled, as kissfft)."""
        s, n = self.sub, self.ncfft
        B = fr.shape[0]
        tr = np.zeros((B, n), dtype=np.int64)
        ti = np.zeros((B, n), dtype=np.int64)
        tr[:, 0], ti[:, 0] = s.fixdiv(s.w(fr[:, 0] + fr[:, n]), s.w(fr[:, 0] - fr[:, n]), 2)
        k = np.arange(1, n // 2 + 1)
        if k.size:
            fk = s.fixdiv(fr[:, k], fi[:, k], 2)
            fnkc = s.fixdiv(fr[:, n - k], s.w(-fi[:, n - k]), 2)
            fek = (s.w(fk[0] + fnkc[0]), s.w(fk[1] + fnkc[1]))
            tmp = (s.w(fk[0] - fnkc[0]), s.w(fk[1] - fnkc[1]))
            fok = s.cmul(*tmp, self.st_r[k - 1], self.st_i[k - 1])
            tr[:, k], ti[:, k] = s.w(fek[0] + fok[0]), s.w(fek[1] + fok[1])
            tr[:, n - k] = s.w(fek[0] - fok[0])
            ti[:, n - k] = s.w(-s.w(fek[1] - fok[1]))
        yr, yi = s(tr, ti)
        y = np.empty((B, 2 * n), dtype=np.int64)
        y[:, 0::2], y[:, 1::2] = yr, yi
        return y


_TFL_TYPES = {0: "float32", 2: "int32", 7: "int16"}


def _fft_setup(node: Node) -> tuple[int, str]:
    opts = _options(node)
    n = _opt_int(node, opts, "fft_length")
    t = _TFL_TYPES.get(int(opts.get("T", -1)))
    _check(node, t is not None, f"T={opts.get('T')}")
    _check(node, _in_dtype(node, 0) == t and node.outputs[0].dtype == t,
           f"tensor dtypes other than T={t}")
    _check(node, n >= 4 and n % 2 == 0, f"fft_length {n} (must be even and >= 4)")
    # kissfft's generic (radix > 5) butterfly allocates scratch with a malloc that TFLM
    # patches to return NULL: TFLM crashes on such lengths, so picojoule refuses them.
    _check(node, all(p <= 5 for p, _ in _kiss_factors(n // 2)),
           f"fft_length {n}: half-length has a prime factor > 5 (crashes TFLM)")
    return n, t


@register("CUSTOM:SignalRfft", shape=_rfft_shape, macs=_fft_macs, oracle="TFLM",
          dtypes=("int16", "int32", "float32"))
def prepare_rfft(node: Node) -> Callable[[Arrays], list]:
    """Real FFT of each (zero-padded) frame; complex output interleaved (re, im)."""
    n, t = _fft_setup(node)
    in_len = node.inputs[0].shape[-1]
    out_shape = node.outputs[0].shape
    _check(node, in_len <= n, "frames longer than fft_length")
    _check(node, out_shape[-1] == n + 2, "output length other than fft_length + 2")
    odt = _out_np(node)
    engine = _FixedKissReal(n, False, 16 if t == "int16" else 32) if t != "float32" else None

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(-1, in_len)
        if engine is None:
            y = np.fft.rfft(x.astype(np.float64), n=n, axis=-1)
            out = np.stack([y.real, y.imag], axis=-1).astype(np.float32)
        else:
            xp = np.zeros((x.shape[0], n), dtype=np.int64)
            xp[:, :in_len] = x
            r, i = engine.forward(xp)
            out = np.stack([r, i], axis=-1).astype(odt)
        return [out.reshape(out_shape)]

    return run


@register("CUSTOM:SignalIrfft", shape=_irfft_shape, macs=_fft_macs, oracle="TFLM",
          dtypes=("int16", "int32", "float32"))
def prepare_irfft(node: Node) -> Callable[[Arrays], list]:
    """Inverse real FFT per frame; integer versions are unscaled (kissfft), float / n."""
    n, t = _fft_setup(node)
    in_last = node.inputs[0].shape[-1]
    out_shape = node.outputs[0].shape
    _check(node, in_last % 2 == 0 and in_last // 2 == n // 2 + 1,
           "input length other than fft_length + 2")
    _check(node, out_shape[-1] == n, "output length other than fft_length")
    odt = _out_np(node)
    engine = _FixedKissReal(n, True, 16 if t == "int16" else 32) if t != "float32" else None

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(-1, in_last // 2, 2)
        if engine is None:
            z = x[..., 0].astype(np.float64) + 1j * x[..., 1].astype(np.float64)
            y = np.fft.irfft(z, n=n, axis=-1).astype(np.float32)
        else:
            y = engine.inverse(x[..., 0].astype(np.int64), x[..., 1].astype(np.int64))
            y = y.astype(odt)
        return [y.reshape(out_shape)]

    return run


# ----------------------------------------------------------------------------- energy


@register("CUSTOM:SignalEnergy", shape=_energy_shape,
          macs=_energy_macs, oracle="TFLM", dtypes=("int16",))
def prepare_energy(node: Node) -> Callable[[Arrays], list]:
    """``re^2 + im^2`` (int32 arithmetic, stored as uint32) for bins [start, end).

    TFLM leaves the other output elements untouched (uninitialised arena bytes on a
    fresh interpreter); picojoule keeps its own copy of the output so those keep their
    previous (initially zero) contents, and marks them in the output value's
    ``meta["tflm_undefined"]`` (a boolean mask) for comparisons against TFLM.
    """
    opts = _options(node)
    start, end = _opt_int(node, opts, "start_index"), _opt_int(node, opts, "end_index")
    n_out = node.outputs[0].size
    _check(node, _in_dtype(node, 0) == "int16" and node.outputs[0].dtype == "uint32",
           "dtypes other than int16 -> uint32")
    _check(node, 0 <= start and end <= n_out and 2 * end <= node.inputs[0].size,
           "start/end index out of range")
    out = np.zeros(node.outputs[0].shape, dtype=np.uint32)
    undefined = np.ones(n_out, dtype=bool)
    undefined[start:end] = False
    node.outputs[0].meta["tflm_undefined"] = undefined.reshape(node.outputs[0].shape)

    def run(inputs: Arrays) -> list:
        z = inputs[0].reshape(-1, 2)[start:end].astype(np.int64)
        e = z[:, 0] * z[:, 0] + z[:, 1] * z[:, 1]
        out.reshape(-1)[start:end] = (e & 0xFFFFFFFF).astype(np.uint32)
        return [out.copy()]

    run.reset = lambda: out.fill(0)  # type: ignore[attr-defined]
    return run


# ----------------------------------------------------------------------------- filter bank


@register("CUSTOM:SignalFilterBank", shape=_filter_bank_shape, macs=_filter_bank_macs,
          oracle="TFLM", dtypes=("uint32",))
def prepare_filter_bank(node: Node) -> Callable[[Arrays], list]:
    """Triangular mel filters: weighted / unweighted uint64 sums over each channel's band.

    Channel i's output is its weighted sum plus channel i-1's unweighted sum
    (TFLM computes num_channels + 1 channels and drops the first). Products are
    ``uint64(int16 weight) * uint32 energy``: negative weights wrap modulo 2**64.
    """
    num_channels = _opt_int(node, _options(node), "num_channels")
    _check(node, len(node.inputs) == 6, "not 6 inputs")
    _check(node, _in_dtype(node, 0) == "uint32" and node.outputs[0].dtype == "uint64",
           "dtypes other than uint32 -> uint64")
    n_out = node.outputs[0].size
    _check(node, n_out <= num_channels, "more outputs than num_channels")
    for i in range(1, 6):
        _check(node, _in_dtype(node, i) == "int16", f"input {i} not int16")
    for i in (3, 4, 5):
        _check(node, node.inputs[i].size >= num_channels + 1,
               f"input {i} shorter than num_channels + 1")

    def run(inputs: Arrays) -> list:
        energy = inputs[0].astype(np.uint64)
        weights, unweights = inputs[1].astype(np.int64), inputs[2].astype(np.int64)
        fstart, wstart, width = (inputs[k][:num_channels + 1].astype(np.int64)
                                 for k in (3, 4, 5))
        width = np.maximum(width, 0)
        ends = np.cumsum(width)
        starts = ends - width
        total = int(ends[-1]) if ends.size else 0
        chan = np.repeat(np.arange(num_channels + 1), width)
        j = np.arange(total) - starts[chan]
        e = energy[fstart[chan] + j]
        widx = wstart[chan] + j
        # uint64 arithmetic wraps modulo 2**64 like the C accumulators.
        wprod = weights[widx].astype(np.uint64) * e
        uprod = unweights[widx].astype(np.uint64) * e
        zero = np.zeros(1, dtype=np.uint64)
        wc = np.concatenate([zero, np.cumsum(wprod, dtype=np.uint64)])
        uc = np.concatenate([zero, np.cumsum(uprod, dtype=np.uint64)])
        wsum = wc[ends] - wc[starts]
        usum = uc[ends] - uc[starts]
        acc = wsum.copy()
        acc[1:] += usum[:-1]
        return [acc[1:1 + n_out].reshape(node.outputs[0].shape)]

    return run


def _isqrt_rounded(x: np.ndarray, cap: int) -> np.ndarray:
    """TFLM ``Sqrt32``/``Sqrt64``: floor sqrt, +1 if the remainder exceeds the root."""
    x = x.astype(np.uint64)
    r = np.floor(np.sqrt(x.astype(np.float64))).astype(np.uint64)
    r = np.minimum(r, np.uint64(0xFFFFFFFF))
    safe = np.maximum(r, np.uint64(1))
    for _ in range(3):  # float sqrt is at most one off; fix with exact integer tests
        too_big = (r > 0) & (safe > x // safe)
        r = np.where(too_big, r - np.uint64(1), r)
        safe = np.maximum(r, np.uint64(1))
        nxt = r + np.uint64(1)
        small = (nxt <= np.uint64(0xFFFFFFFF)) & (nxt <= x // nxt)
        r = np.where(small, nxt, r)
        safe = np.maximum(r, np.uint64(1))
    rem = x - r * r
    bump = (rem > r) & (r != np.uint64(cap))
    return r + bump.astype(np.uint64)


@register("CUSTOM:SignalFilterBankSquareRoot", shape=same_shape, oracle="TFLM", dtypes=("uint64",))
def prepare_filter_bank_square_root(node: Node) -> Callable[[Arrays], list]:
    """Rounded integer square root of each channel, shifted right by the FFT's scale bits."""
    _check(node, _in_dtype(node, 0) == "uint64" and _in_dtype(node, 1) == "int32"
           and node.outputs[0].dtype == "uint32", "dtypes other than uint64, int32 -> uint32")

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(-1).astype(np.uint64)
        shift = int(np.asarray(inputs[1]).reshape(-1)[0])
        _check(node, 0 <= shift < 32, f"scale bits {shift}")
        small = (x >> np.uint64(32)) == 0
        # Sqrt64 takes the 32-bit path (root capped at 0xFFFF) when the high word is 0.
        r = np.where(small, _isqrt_rounded(x, 0xFFFF), _isqrt_rounded(x, 0xFFFFFFFF))
        y = (r >> np.uint64(shift)).astype(np.uint32)
        return [y.reshape(node.outputs[0].shape)]

    return run


@register("CUSTOM:SignalFilterBankSpectralSubtraction", shape=_twice_shape,
          traits=(STATEFUL,), oracle="TFLM",
          dtypes=("uint32",))
def prepare_spectral_subtraction(node: Node) -> Callable[[Arrays], list]:
    """Noise reduction: subtract a per-channel low-passed noise estimate kept across runs."""
    opts = _options(node)
    g = {k: _opt_int(node, opts, k) for k in (
        "alternate_one_minus_smoothing", "alternate_smoothing", "min_signal_remaining",
        "num_channels", "one_minus_smoothing", "smoothing", "smoothing_bits",
        "spectral_subtraction_bits")}
    clamping = bool(opts.get("clamping", False))
    nch = g["num_channels"]
    _check(node, _in_dtype(node, 0) == "uint32" and len(node.outputs) == 2,
           "dtypes other than uint32 or not 2 outputs")
    _check(node, node.inputs[0].size == nch and node.outputs[1].size == nch,
           "tensor sizes other than num_channels")
    # Config fields are uint32 (converted from the int32 options).
    even = np.arange(nch) % 2 == 0
    sm = np.where(even, g["smoothing"] & 0xFFFFFFFF,
                  g["alternate_smoothing"] & 0xFFFFFFFF).astype(np.uint64)
    one_m = np.where(even, g["one_minus_smoothing"] & 0xFFFFFFFF,
                     g["alternate_one_minus_smoothing"] & 0xFFFFFFFF).astype(np.uint64)
    sbits = np.uint64(g["smoothing_bits"] & 31)
    ssbits = np.uint64(g["spectral_subtraction_bits"] & 63)
    min_rem = np.uint64(g["min_signal_remaining"] & 0xFFFFFFFF)
    mask32 = np.uint64(0xFFFFFFFF)
    noise = np.zeros(nch, dtype=np.uint64)

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(-1).astype(np.uint64)
        up = (x << sbits) & mask32
        # uint64 products, >> bits, truncated back into the uint32 estimate.
        est = ((up * sm + noise * one_m) >> ssbits) & mask32
        over = est > up
        capped = np.where(over, up, est)
        noise[:] = np.where(over, up, est) if clamping else est
        floor = ((x * min_rem) >> ssbits) & mask32
        sub = ((up - capped) & mask32) >> sbits
        y = np.maximum(sub, floor).astype(np.uint32)
        return [y.reshape(node.outputs[0].shape),
                noise.astype(np.uint32).reshape(node.outputs[1].shape)]

    run.reset = lambda: noise.fill(0)  # type: ignore[attr-defined]
    return run


# ----------------------------------------------------------------------------- PCAN


@register("CUSTOM:SignalPCAN", shape=same_shape, oracle="TFLM", dtypes=("uint32",))
def prepare_pcan(node: Node) -> Callable[[Arrays], list]:
    """Per-channel amplitude normalisation: gain from a piecewise LUT of the noise estimate."""
    snr_shift = _opt_int(node, _options(node), "snr_shift")
    _check(node, _in_dtype(node, 0) == "uint32" and _in_dtype(node, 1) == "uint32"
           and _in_dtype(node, 2) == "int16" and node.outputs[0].dtype == "uint32",
           "dtypes other than uint32, uint32, int16 -> uint32")
    _check(node, 0 <= snr_shift < 64, f"snr_shift {snr_shift}")
    # Interval 32 (the largest noise estimates) reads entries up to 4 * 32 - 6 + 2.
    _check(node, node.inputs[2].size >= 125, "gain LUT shorter than 125 entries")
    snr_bits, out_bits = 12, 6  # kPcanSnrBits, kPcanOutputBits

    def gain(x: np.ndarray, lut: np.ndarray) -> np.ndarray:
        """``WideDynamicFunction``: quadratic interpolation in the LUT, int16 result."""
        lut = lut.astype(np.int64)
        interval = _msb32(x)
        base = np.clip(4 * interval - 6, 0, None)
        sh_l = np.clip(11 - interval, 0, None)
        sh_r = np.clip(interval - 11, 0, None)
        frac = np.where(interval < 11, (x << sh_l) & 0xFFFFFFFF, x >> sh_r) & 0x3FF
        c0 = lut[np.minimum(base, lut.size - 1)]
        c1 = lut[np.minimum(base + 1, lut.size - 1)]
        c2 = lut[np.minimum(base + 2, lut.size - 1)]
        res = (c2 * frac) >> 5
        res = _wrap(res + c1 * 32, 32)
        res = _wrap(res * frac, 32)
        res = _wrap(res + (1 << 14), 32) >> 15
        res = _wrap(res + c0, 16)
        small = lut[np.minimum(x, 2)]
        return np.where(x <= 2, small, res)

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(-1).astype(np.int64)
        noise = inputs[1].reshape(-1).astype(np.int64)[:x.size]
        g = gain(noise, inputs[2]) & 0xFFFFFFFF  # int16 -> uint32 sign-extends
        snr = ((x.astype(np.uint64) * g.astype(np.uint64)) >> np.uint64(snr_shift))
        snr = (snr & np.uint64(0xFFFFFFFF)).astype(np.int64)
        quad = ((snr * snr) & 0xFFFFFFFF) >> (2 + 2 * snr_bits - out_bits)
        lin = ((snr >> (snr_bits - out_bits)) - (1 << out_bits)) & 0xFFFFFFFF
        y = np.where(snr < (2 << snr_bits), quad, lin).astype(np.uint32)
        return [y.reshape(node.outputs[0].shape)]

    return run


# ----------------------------------------------------------------------------- log


def _log_lut() -> np.ndarray:
    """TFLM's 129(+1)-entry table of ``(log2(1 + f) - f) * 2**16`` at f = i / 128."""
    f = np.arange(129) / 128.0
    lut = np.floor((np.log2(1.0 + f) - f) * 65536.0 + 0.5).astype(np.int64)
    return np.concatenate([lut, [0]])


_LOG_LUT = _log_lut()


def _log32(x: np.ndarray, out_scale: int) -> np.ndarray:
    """TFLM ``Log32`` (natural log times ``out_scale``, fixed point) on uint32 values > 1."""
    integer = _msb32(x) - 1
    frac = x - (np.int64(1) << integer)
    frac = np.where(integer < 16, frac << np.clip(16 - integer, 0, None),
                    frac >> np.clip(integer - 16, 0, None))
    frac = _wrap(frac, 32)
    seg = frac >> 9
    c0 = _LOG_LUT[seg]
    c1 = _LOG_LUT[seg + 1]
    rel = _wrap((c1 - c0) * (frac - seg * 512), 32) >> 16
    fraction = (frac + c0 + rel) & 0xFFFFFFFF
    log2 = ((integer << 16) + fraction) & 0xFFFFFFFF
    loge = ((45426 * log2 + 32768) >> 16) & 0xFFFFFFFF
    return (((out_scale & 0xFFFFFFFF) * loge + 32768) & 0xFFFFFFFF) >> 16


@register("CUSTOM:SignalFilterBankLog", shape=same_shape, oracle="TFLM", dtypes=("uint32",))
def prepare_filter_bank_log(node: Node) -> Callable[[Arrays], list]:
    """Fixed-point natural log of each channel, scaled by ``output_scale``, capped at int16."""
    opts = _options(node)
    bits = _opt_int(node, opts, "input_correction_bits")
    scale = _opt_int(node, opts, "output_scale")
    _check(node, _in_dtype(node, 0) == "uint32" and node.outputs[0].dtype == "int16",
           "dtypes other than uint32 -> int16")
    _check(node, 0 <= bits < 32, f"input_correction_bits {bits}")

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(-1).astype(np.int64)
        scaled = (x << bits) & 0xFFFFFFFF
        big = scaled > 1
        v = _log32(np.where(big, scaled, 2), scale)
        y = np.where(big, np.minimum(v, 32767), 0).astype(np.int16)
        return [y.reshape(node.outputs[0].shape)]

    return run


# ----------------------------------------------------------------------------- streaming ops


class _CircularBuffer:
    """TFLM's int16 ``CircularBuffer``, index for index (read/write/empty, mirrored halves).

    Modelled exactly rather than as a plain FIFO because TFLM's asserts are compiled out:
    a stacker discarding more than it holds leaves a read pointer that a FIFO would not.
    """

    def __init__(self, capacity: int) -> None:
        self.cap = capacity
        self.buf = np.zeros(2 * capacity, dtype=np.int16)
        self.reset()

    def reset(self) -> None:
        self.read = self.write_pos = 0
        self.empty = True
        self.buf.fill(0)

    def available(self) -> int:
        diff = self.write_pos - self.read
        if diff > 0:
            return diff
        if diff < 0:
            return self.cap + diff
        return 0 if self.empty else self.cap

    def write(self, values: np.ndarray) -> None:
        v = np.asarray(values, dtype=np.int16).reshape(-1).copy()
        n, w, cap = v.size, self.write_pos, self.cap
        if n == 0:
            return
        self.buf[w:w + n] = v
        if w + n < cap:
            self.buf[cap + w:cap + w + n] = v
            self.write_pos = w + n
        else:
            n1 = cap - w
            self.buf[cap + w:cap + w + n1] = v[:n1]
            n2 = w + n - cap
            self.buf[:n2] = v[n1:]
            self.write_pos = n2
        self.empty = False

    def extend(self, count: int, times: int) -> None:
        """Append the last ``count`` values ``times`` more times."""
        if times <= 0 or count <= 0:
            return
        w, cap = self.write_pos, self.cap
        start = w + cap - count if count > w else w - count
        for _ in range(times):
            if start + count <= cap:
                self.write(self.buf[start:start + count])
            else:
                n1 = cap - start
                self.write(self.buf[start:cap])
                self.write(self.buf[:count - n1])

    def get(self, n: int) -> np.ndarray:
        r, cap = self.read, self.cap
        if r + n <= cap:
            return self.buf[r:r + n].copy()
        return np.concatenate([self.buf[r:cap], self.buf[:r + n - cap]])

    def discard(self, n: int) -> None:
        self.read += n
        if self.read >= self.cap:
            self.read -= self.cap
        if self.read == self.write_pos:
            self.empty = True


@register("CUSTOM:SignalDelay", shape=same_shape,
          traits=(STATEFUL,), oracle="TFLM", dtypes=("int16",))
def prepare_delay(node: Node) -> Callable[[Arrays], list]:
    """Delay each innermost row by ``delay_length`` samples (zeros first), across runs."""
    delay = _opt_int(node, _options(node), "delay_length")
    _check(node, _in_dtype(node, 0) == "int16", "non-int16 input")
    _check(node, delay >= 0, "negative delay_length")
    frame = node.inputs[0].shape[-1] if node.inputs[0].shape else 1
    rows = node.inputs[0].size // max(frame, 1)
    state = np.zeros((rows, delay), dtype=np.int16)

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(rows, frame)
        buf = np.concatenate([state, x], axis=1)
        state[:] = buf[:, frame:]
        return [buf[:, :frame].copy().reshape(node.outputs[0].shape)]

    run.reset = lambda: state.fill(0)  # type: ignore[attr-defined]
    return run


@register("CUSTOM:SignalFramer", shape=_framer_shape,
          traits=(STATEFUL,), oracle="TFLM", dtypes=("int16",))
def prepare_framer(node: Node) -> Callable[[Arrays], list]:
    """Split each row into overlapping frames (size/step) carried across runs; valid flag."""
    opts = _options(node)
    size, step = _opt_int(node, opts, "frame_size"), _opt_int(node, opts, "frame_step")
    prefill = bool(opts.get("prefill", False))
    _check(node, _in_dtype(node, 0) == "int16", "non-int16 input")
    inner = node.inputs[0].shape[-1]
    _check(node, step > 0 and inner >= step and inner % step == 0 and size > 0,
           "innermost dim not a multiple of frame_step")
    rows = node.inputs[0].size // inner
    n_frames = inner // step
    capacity = (size + step - 1) // step * step
    fifos = [_CircularBuffer(capacity) for _ in range(rows)]
    out = np.zeros((rows, n_frames, size), dtype=np.int16)

    def reset() -> None:
        for f in fifos:
            f.reset()
            if prefill and size > step:
                f.write(np.zeros(size - step, dtype=np.int16))
        out.fill(0)

    reset()

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(rows, n_frames, step)
        valid = True
        for r, fifo in enumerate(fifos):
            for k in range(n_frames):
                fifo.write(x[r, k])
                if fifo.available() >= size:
                    out[r, k] = fifo.get(size)
                    fifo.discard(step)
                else:
                    valid = False  # TFLM leaves this frame's output untouched
        return [out.copy().reshape(node.outputs[0].shape),
                np.array(valid, dtype=np.bool_).reshape(node.outputs[1].shape)]

    run.reset = reset  # type: ignore[attr-defined]
    return run


@register("CUSTOM:SignalOverlapAdd", shape=_overlap_add_shape,
          traits=(STATEFUL,), oracle="TFLM", dtypes=("int16", "float32"))
def prepare_overlap_add(node: Node) -> Callable[[Arrays], list]:
    """Overlap-add frames into a stream advancing ``frame_step`` per frame (state kept)."""
    opts = _options(node)
    step = _opt_int(node, opts, "frame_step")
    dt = _in_dtype(node, 0)
    _check(node, dt in ("int16", "float32") and node.outputs[0].dtype == dt,
           f"dtype {dt}")
    shp = node.inputs[0].shape
    _check(node, len(shp) >= 2, "input of rank < 2")
    size, n_frames = shp[-1], shp[-2]
    _check(node, 0 < step <= size, "frame_step outside (0, frame_size]")
    rows = node.inputs[0].size // (size * n_frames)
    is_int = dt == "int16"
    buf = np.zeros((rows, size), dtype=np.int64 if is_int else np.float32)

    def run(inputs: Arrays) -> list:
        x = inputs[0].reshape(rows, n_frames, size)
        out = np.empty((rows, n_frames, step), dtype=to_numpy(dt))
        for k in range(n_frames):
            if is_int:
                buf[:] = np.clip(buf + x[:, k].astype(np.int64), -32768, 32767)
            else:
                buf[:] = buf + x[:, k]
            out[:, k] = buf[:, :step]
            buf[:, :size - step] = buf[:, step:].copy()
            buf[:, size - step:] = 0
        return [out.reshape(node.outputs[0].shape)]

    run.reset = lambda: buf.fill(0)  # type: ignore[attr-defined]
    return run


@register("CUSTOM:SignalStacker", shape=_stacker_shape,
          traits=(STATEFUL,), oracle="TFLM", dtypes=("int16",))
def prepare_stacker(node: Node) -> Callable[[Arrays], list]:
    """Stack left context + current + right context frames; the first frame pads the left."""
    opts = _options(node)
    nch = _opt_int(node, opts, "num_channels")
    left = _opt_int(node, opts, "stacker_left_context")
    right = _opt_int(node, opts, "stacker_right_context")
    step = _opt_int(node, opts, "stacker_step")
    _check(node, _in_dtype(node, 0) == "int16", "non-int16 input")
    _check(node, step > 0 and left >= 0 and right >= 0 and nch > 0,
           "non-positive step/num_channels or negative context")
    bsize = nch * (left + right + 1)
    _check(node, node.outputs[0].size == bsize, "output size other than the stack size")
    # A discard of 2x the capacity would move TFLM's read pointer out of its buffer.
    _check(node, nch * step < 2 * bsize, "stacker_step of twice the stack or more")
    fifo = _CircularBuffer(bsize)
    state = {"first": True}
    out = np.zeros(bsize, dtype=np.int16)

    def reset() -> None:
        fifo.reset()
        state["first"] = True
        out.fill(0)

    def run(inputs: Arrays) -> list:
        fifo.write(inputs[0].reshape(-1)[:nch])
        if state["first"]:
            fifo.extend(nch, left)  # the first frame stands in for the missing left context
            state["first"] = False
        valid = fifo.available() >= bsize
        if valid:
            out[:] = fifo.get(bsize)
            fifo.discard(nch * step)
        return [out.copy().reshape(node.outputs[0].shape),
                np.array(valid, dtype=np.bool_).reshape(node.outputs[1].shape)]

    run.reset = reset  # type: ignore[attr-defined]
    return run
