"""Fixed-point arithmetic of TFLite Micro's reference kernels, vectorised in numpy.

Every function works on ``int64`` arrays holding ``int32`` values (or on Python
ints) and reproduces the C integer semantics bit for bit: truncating division,
arithmetic shifts, saturation, wrap-around. Float -> fixed-point conversion
(:func:`quantize_multiplier`) runs once at prepare time in double precision, as
TFLM does in its Prepare functions.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def tflite_round(x: float | np.ndarray) -> float | np.ndarray:
    """``std::round``: halves away from zero (numpy's ``round`` goes to even)."""
    if isinstance(x, np.ndarray):
        return np.sign(x) * np.floor(np.abs(x) + 0.5)
    if not math.isfinite(x):
        from picojoule.errors import ModelFormatError

        raise ModelFormatError(f"cannot round {x!r} to an integer (a quantization scale of 0 "
                               f"or out of float range)")
    return math.copysign(math.floor(abs(x) + 0.5), x)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM ``QuantizeMultiplier``: ``real ~= mult * 2**(shift - 31)``, mult in [2^30, 2^31).

    Returns ``(multiplier, shift)``; shift > 0 means a left shift. A multiplier that is not
    a finite number (from a quantization scale of 0 in a denominator) is a ModelFormatError.
    """
    if not math.isfinite(real):
        from picojoule.errors import ModelFormatError

        raise ModelFormatError(f"requantization multiplier {real!r} is not a finite number "
                               f"(a quantization scale of 0 or out of float range)")
    if real == 0.0:
        return 0, 0
    mant, shift = math.frexp(real)
    q = int(tflite_round(mant * (1 << 31)))
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        shift, q = 0, 0
    return q, shift


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` over an array: (int64 multipliers, int64 shifts)."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).reshape(-1)]
    mult = np.array([p[0] for p in pairs], np.int64)
    shift = np.array([p[1] for p in pairs], np.int64)
    return mult, shift


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values into the int32 range (C's unsigned-cast wrap)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturate(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    return np.minimum(np.maximum(x, lo), hi)


def _trunc_shift(x: np.ndarray, n: int) -> np.ndarray:
    """C integer division by 2**n (rounds toward zero) for int64 arrays."""
    return np.where(x >= 0, x >> n, -((-x) >> n))


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` for int32 values held in int64."""
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    high = _trunc_shift(ab + nudge, 31)
    overflow = (a == b) & (a == INT32_MIN)
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray | int) -> np.ndarray:
    """gemmlowp ``RoundingDivideByPOT``: x / 2**exponent, rounding halves away from zero."""
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(
    x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplier(int32 x, int32 m, int shift)`` (double rounding).

    ``multiplier`` and ``shift`` broadcast against ``x`` (per-channel requantization
    passes arrays shaped to the channel axis).
    """
    x = np.asarray(x, np.int64)
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    if np.any(left):
        x = wrap_int32(x << left)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


def multiply_by_quantized_multiplier_fast(x: np.ndarray, mult: int, shift: int) -> np.ndarray:
    """TFLM ``MultiplyByQuantizedMultiplier`` (double rounding) for one multiplier >= 0.

    Same integers as multiply_by_quantized_multiplier (checked on random and
    edge int32 values for shifts -31..30) in about a third of the numpy calls: with
    ``mult >= 0`` both roundings are "half away from zero" on |x|, except that
    SaturatingRoundingDoublingHighMul rounds negative halves toward zero.
    """
    x = np.asarray(x, np.int64)
    if shift > 0:
        x = wrap_int32(x << shift)
    neg = x < 0
    h = (np.abs(x) * mult + ((1 << 30) - neg)) >> 31
    if shift < 0:
        h = (h + (1 << (-shift - 1))) >> -shift
    return np.where(neg, -h, h)


def multiply_by_quantized_multiplier_int64(
    x: np.ndarray, multiplier: np.ndarray | int, shift: np.ndarray | int
) -> np.ndarray:
    """TFLM's 64-bit-input ``MultiplyByQuantizedMultiplier`` used by int16x8 kernels.

    The multiplier is reduced to 16 bits with rounding, then one rounding shift.
    """
    x = np.asarray(x, np.int64)
    m = np.asarray(multiplier, np.int64)
    reduced = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    total_shift = 15 - np.asarray(shift, np.int64)
    y = x * reduced + (np.int64(1) << (total_shift - 1))
    return wrap_int32(y >> total_shift)


def sigmoid_table_uint16() -> np.ndarray:
    """TFLite's ``sigmoid_table_uint16``, regenerated: 65536 * sigmoid(k / 24), k = 0..255,
    raised by half the chord error at the segment midpoint (so linear interpolation between
    entries is centred on the curve), rounded; the last entry is the saturation value 65535.
    Verified entry for entry against TFLM's table."""
    k = np.arange(256, dtype=np.float64)
    s = lambda t: 65536.0 / (1.0 + np.exp(-t / 24.0))  # noqa: E731
    chord_error = s(k + 0.5) - (s(k) + s(k + 1)) / 2
    table = np.floor(s(k) + chord_error / 2 + 0.5).astype(np.int64)
    table[255] = 65535
    return table
