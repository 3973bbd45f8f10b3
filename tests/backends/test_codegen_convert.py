"""Generated C for float32 TRANSPOSE_CONV and the uint8 conversions, against TFLM.

TRANSPOSE_CONV float32 runs TFLM's scatter order (pj_tconv_f32), so its floats are
TFLM's; QUANTIZE int8 <-> uint8 and DEQUANTIZE uint8 -> float32 are 256-entry tables of
the reference kernel. Expected values come from TFLM (opkit.run_oracle); each model runs
on the host and, when the toolchain is installed, on the emulated Cortex-M4.
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import check_c, const, q, single_op_model, tensor

from picojoule.backends import qemu

_QEMU = qemu.toolchain_missing() is None


def _check(model, seeds=(0, 1), m4: bool = True, rtol: float = 0.0) -> None:
    check_c(model, seeds=seeds, where=("host", "m4") if m4 else ("host",), rtol=rtol)


@pytest.mark.parametrize("seed", range(4))
def test_transpose_conv_float32(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    n, h, w, cin, cout = 1, int(rng.integers(2, 6)), int(rng.integers(2, 6)), \
        int(rng.integers(1, 5)), int(rng.integers(1, 6))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    sh, sw = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    padding = ["SAME", "VALID"][seed % 2]
    if padding == "SAME":
        oh, ow = h * sh, w * sw
    else:
        oh, ow = (h - 1) * sh + kh, (w - 1) * sw + kw
    x = tensor("x", (n, h, w, cin), "float32")
    wt = const("w", rng.standard_normal((cout, kh, kw, cin)).astype(np.float32))
    shape = const("shape", np.array([n, oh, ow, cout], np.int32))
    b = const("b", rng.standard_normal(cout).astype(np.float32)) if seed < 2 else None
    y = tensor("y", (n, oh, ow, cout), "float32")
    act = ["NONE", "RELU", "NONE", "RELU6"][seed]
    model = single_op_model("TRANSPOSE_CONV", [shape, wt, x, b], [y], attrs=dict(
        padding=padding, stride_h=sh, stride_w=sw, fused_activation_function=act),
        version=4 if b is not None else 1)
    _check(model, m4=seed < 2)


@pytest.mark.parametrize("src,dst", [("int8", "uint8"), ("uint8", "int8")])
def test_requantize_between_int8_and_uint8(src: str, dst: str) -> None:
    zp_in = 3 if src == "int8" else 131
    zp_out = 120 if dst == "uint8" else -7
    x = tensor("x", (1, 5, 7), src, q(0.05, zp_in))
    y = tensor("y", (1, 5, 7), dst, q(0.07, zp_out))
    _check(single_op_model("QUANTIZE", [x], [y], version=2))


def test_dequantize_uint8() -> None:
    x = tensor("x", (2, 300), "uint8", q(0.031, 117))
    y = tensor("y", (2, 300), "float32")
    _check(single_op_model("DEQUANTIZE", [x], [y], version=2))


def test_quantize_float32_int8_rounds_like_tflm_at_the_edges() -> None:
    """Halves (away from zero), the float just below a half, values past int32, inf and NaN
    map as TFLM's AffineQuantize does (scale 0.5: x / scale doubles the value)."""
    edge = np.array([0.25, -0.25, 0.75, -0.75, 1.25, -1.25, 0.2499999851, -0.2499999851,
                     63.25, -64.25, 1e12, -1e12, np.inf, -np.inf, 3e9, 0.0, -0.0, 5e6],
                    np.float32).reshape(1, 18)
    x = tensor("x", (1, 18), "float32")
    y = tensor("y", (1, 18), "int8", q(0.5, 3))
    check_c(single_op_model("QUANTIZE", [x], [y]), [[edge]], where=("host", "m4"))
