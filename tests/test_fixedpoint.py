"""Fixed-point helpers against their definitions, evaluated with exact rational arithmetic."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from picojoule.quant import fixedpoint as fp

I32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)


def _floor_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def _round_half_away(x: Fraction) -> int:
    return int(math.copysign(math.floor(abs(x) + Fraction(1, 2)), x)) if x else 0


@settings(max_examples=300, derandomize=True)
@given(I32, I32)
def test_doubling_high_mul_is_rounded_product(a, b):
    # gemmlowp: a*b / 2^31 rounded to nearest (ties upward), saturating the one overflow case.
    want = 2**31 - 1 if a == b == -(2**31) else _floor_half_up(Fraction(a * b, 2**31))
    assert int(fp.saturating_rounding_doubling_high_mul(np.int64(a), np.int64(b))) == want


@settings(max_examples=300, derandomize=True)
@given(I32, st.integers(min_value=0, max_value=31))
def test_rounding_divide_by_pot_rounds_half_away_from_zero(x, e):
    assert int(fp.rounding_divide_by_pot(np.int64(x), e)) == _round_half_away(Fraction(x, 2**e))


def test_rounding_divide_by_pot_hand_cases():
    x = np.array([5, -5, 6, -6, 7, -7, 4, -4], np.int64)
    # divide by 4: 1.25 -> 1, -1.25 -> -1, 1.5 -> 2, -1.5 -> -2, 1.75 -> 2, ...
    assert fp.rounding_divide_by_pot(x, 2).tolist() == [1, -1, 2, -2, 2, -2, 1, -1]


@settings(max_examples=200, derandomize=True)
@given(st.floats(min_value=1e-9, max_value=1e3, allow_nan=False))
def test_quantize_multiplier_represents_the_real(real):
    m, s = fp.quantize_multiplier(real)
    assert 2**30 <= m < 2**31
    assert abs(Fraction(m) * Fraction(2) ** (s - 31) - Fraction(real)) <= Fraction(real) * 2**-30


def test_quantize_multiplier_edges():
    assert fp.quantize_multiplier(0.0) == (0, 0)
    assert fp.quantize_multiplier(0.5) == (2**30, 0)
    assert fp.quantize_multiplier(1.0) == (2**30, 1)
    assert fp.quantize_multiplier(2.0**-40) == (0, 0)  # flushed like TFLM below 2^-31


@settings(max_examples=300, derandomize=True)
@given(I32, st.floats(min_value=1e-6, max_value=0.999, allow_nan=False))
def test_multiply_by_quantized_multiplier_double_rounding(x, real):
    m, s = fp.quantize_multiplier(real)
    high = _floor_half_up(Fraction(x * m, 2**31))
    want = _round_half_away(Fraction(high, 2 ** (-s))) if s <= 0 else None
    if want is not None:
        assert int(fp.multiply_by_quantized_multiplier(np.int64(x), m, s)) == want


def test_tflite_round_halves_away_from_zero():
    assert fp.tflite_round(np.array([0.5, 1.5, 2.5, -0.5, -2.5])).tolist() == [1, 2, 3, -1, -3]
    assert fp.tflite_round(2.5) == 3 and fp.tflite_round(-2.5) == -3


@settings(max_examples=400, derandomize=True)
@given(st.lists(I32, min_size=1, max_size=16), st.integers(min_value=0, max_value=2**31 - 1),
       st.integers(min_value=-31, max_value=30))
def test_fast_multiplier_equals_the_reference_form(xs, mult, shift):
    x = np.array(xs, np.int64)
    np.testing.assert_array_equal(fp.multiply_by_quantized_multiplier_fast(x, mult, shift),
                                  fp.multiply_by_quantized_multiplier(x, mult, shift))
