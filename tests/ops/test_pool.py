"""AVERAGE_POOL_2D and MAX_POOL_2D against TFLM.

Configurations come from fixed seeds: batch, spatial size, channels, filter size (up to
the whole input), strides, SAME/VALID padding (SAME windows at the border average fewer
taps), fused activations, int8 / int16 / float32, with input and output sharing their
quantization as TFLM requires. Hand-checked values pin the rounding of averages.
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import check_op, q, single_op_model, tensor
from picojoule.ops import node_macs
from picojoule.runtime import Interpreter

ACTS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def _out_size(padding: str, size: int, k: int, stride: int) -> int:
    return (size + stride - 1) // stride if padding == "SAME" else (size - k) // stride + 1


def _pool_model(op: str, seed: int, dtype: str):
    rng = np.random.default_rng(seed)
    n = int(rng.choice([1, 1, 2]))
    h, w = (int(v) for v in rng.integers(1, 12, 2))
    c = int(rng.integers(1, 6))
    fh, fw = int(rng.integers(1, h + 1)), int(rng.integers(1, w + 1))
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    padding = str(rng.choice(["SAME", "VALID"]))
    act = str(rng.choice(ACTS))
    if dtype == "int8":
        qx = q(rng.uniform(0.01, 0.1), int(rng.integers(-128, 128)))
    elif dtype == "int16":
        qx = q(rng.uniform(1e-4, 1e-3), 0)
    else:
        qx = None
    x = tensor("x", (n, h, w, c), dtype, qx)
    oh, ow = _out_size(padding, h, fh, sh), _out_size(padding, w, fw, sw)
    y = tensor("y", (n, oh, ow, c), dtype, None if qx is None else q(qx.scale, qx.zero_point))
    return single_op_model(op, [x], [y], dict(
        padding=padding, stride_h=sh, stride_w=sw, filter_height=fh, filter_width=fw,
        fused_activation_function=act))


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_pool_random(op: str, dtype: str, seed: int) -> None:
    check_op(_pool_model(op, 100 * seed + 3, dtype), seeds=(seed, seed + 1))


@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
def test_global_pool(op: str, dtype: str) -> None:
    """The whole input as one window (KWS's final pool: 25x5)."""
    qx = q(0.05, -20) if dtype == "int8" else None
    x = tensor("x", (1, 25, 5, 64), dtype, qx)
    y = tensor("y", (1, 1, 1, 64), dtype, None if qx is None else q(0.05, -20))
    m = single_op_model(op, [x], [y], dict(padding="VALID", stride_h=25, stride_w=5,
                                           filter_height=25, filter_width=5,
                                           fused_activation_function="NONE"))
    check_op(m, seeds=(0, 1))


def test_average_pool_rounds_half_away_from_zero() -> None:
    """Hand values: sums of 4 taps divided by 4 with C's (acc +- 2) / 4 rounding."""
    x = tensor("x", (1, 2, 2, 4), "int8", q(0.1, 0))
    y = tensor("y", (1, 1, 1, 4), "int8", q(0.1, 0))
    m = single_op_model("AVERAGE_POOL_2D", [x], [y], dict(
        padding="VALID", stride_h=2, stride_w=2, filter_height=2, filter_width=2,
        fused_activation_function="NONE"))
    # channel sums: 2 (0.5 -> 1), -2 (-0.5 -> -1), 5 (1.25 -> 1), -7 (-1.75 -> -2)
    data = np.array([[[1, -1, 2, -2], [1, -1, 1, -2]],
                     [[0, 0, 1, -2], [0, 0, 1, -1]]], np.int8).reshape(1, 2, 2, 4)
    got = Interpreter(m).run([data])[0]
    assert got.reshape(-1).tolist() == [1, -1, 1, -2]
    check_op(m, feeds=[[data]])


def test_pool_macs_are_zero() -> None:
    assert node_macs(_pool_model("MAX_POOL_2D", 1, "int8").main.nodes[0]) == 0
    assert node_macs(_pool_model("AVERAGE_POOL_2D", 1, "int8").main.nodes[0]) == 0
