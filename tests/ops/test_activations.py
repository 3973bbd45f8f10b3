"""Activation ops against their oracles (TFLM; LiteRT's reference kernels for RELU_N1_TO_1
and GELU, which TFLM lacks): seeded random shapes, scales, zero points, betas and alphas.

Quantized elementwise activations are fed every representable int8 value (and int16
extremes plus random values), so the whole lookup domain is compared, not a sample.
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import check_op, const, q, single_op_model, tensor

SEEDS = range(6)


def _shape(rng: np.random.Generator, min_size: int = 1) -> tuple[int, ...]:
    rank = int(rng.integers(1, 5))
    shape = [int(d) for d in rng.integers(1, 6, rank)]
    while int(np.prod(shape)) < min_size:
        shape[-1] *= 2
    return tuple(shape)


def _scale(rng: np.random.Generator, lo: float = 1e-3, hi: float = 0.5) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _feeds(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, n: int = 3):
    """Full-range integer feeds: every int8 value appears (when the tensor is big enough);
    int16 feeds mix extremes, values near zero and uniform values."""
    size = int(np.prod(shape))
    feeds = []
    for k in range(n):
        if dtype == "int8":
            base = np.resize(rng.permutation(256) - 128, size)
            feeds.append([base.astype(np.int8).reshape(shape)])
        elif dtype == "int16":
            pool = np.concatenate([[-32768, -32767, -1, 0, 1, 32767],
                                   rng.integers(-300, 300, 64),
                                   rng.integers(-32768, 32768, size)])
            feeds.append([rng.choice(pool, size).astype(np.int16).reshape(shape)])
        else:
            feeds.append([(rng.standard_normal(size) * (1 + 3 * k)).astype(np.float32)
                          .reshape(shape)])
    return feeds


def _unary(op: str, shape, dtype: str, qin=None, qout=None, attrs=None, oracle: str = "tflm",
           rng=None, out_dtype: str | None = None, rtol: float = 1e-5, version: int = 1):
    x = tensor("x", shape, dtype, qin)
    y = tensor("y", shape, out_dtype or dtype, qout)
    m = single_op_model(op, [x], [y], attrs=attrs or {}, version=version)
    check_op(m, oracle=oracle, feeds=_feeds(rng, shape, dtype), rtol=rtol)


# ------------------------------------------------------------------------------ SOFTMAX

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("out_dtype", ["int8", "int16"])
def test_softmax_int8(seed: int, out_dtype: str) -> None:
    rng = np.random.default_rng(100 + seed)
    shape = _shape(rng)
    beta = float(rng.choice([1.0, 0.5, 2.0, rng.uniform(0.1, 3.0)]))
    qout = q(1 / 256, -128) if out_dtype == "int8" else q(1 / 65536, -32768)
    _unary("SOFTMAX", shape, "int8", q(_scale(rng, 0.01, 1.0), int(rng.integers(-128, 128))),
           qout, dict(beta=beta), rng=rng, out_dtype=out_dtype)


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_int16(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    shape = _shape(rng)
    beta = float(rng.choice([1.0, rng.uniform(0.2, 2.0)]))
    _unary("SOFTMAX", shape, "int16", q(_scale(rng, 1e-4, 1e-2), 0), q(1 / 32768, 0),
           dict(beta=beta), rng=rng)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_softmax_float(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    _unary("SOFTMAX", _shape(rng), "float32", attrs=dict(beta=float(rng.uniform(0.3, 2.0))),
           rng=rng)


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_log_softmax_int8(seed: int) -> None:
    rng = np.random.default_rng(400 + seed)
    _unary("LOG_SOFTMAX", _shape(rng), "int8",
           q(_scale(rng, 0.01, 1.0), int(rng.integers(-128, 128))), q(16 / 256, 127), rng=rng)


def test_log_softmax_float() -> None:
    rng = np.random.default_rng(450)
    _unary("LOG_SOFTMAX", (2, 3, 7), "float32", rng=rng)


# ------------------------------------------------------------------------------ sigmoid-like

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_logistic_tanh_int8(seed: int, op: str) -> None:
    rng = np.random.default_rng(500 + seed)
    qout = q(1 / 256, -128) if op == "LOGISTIC" else q(1 / 128, 0)
    _unary(op, _shape(rng, 256), "int8",
           q(_scale(rng, 0.005, 0.3), int(rng.integers(-128, 128))), qout, rng=rng)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_logistic_tanh_int16(seed: int, op: str) -> None:
    """Power-of-two input scales take TFLM's shift-only path, others its multiplier search."""
    rng = np.random.default_rng(560 + seed)
    pot = [2.0 ** -12, 2.0 ** -11, 2.0 ** -13, 2.0 ** -10]
    in_scale = pot[seed % 4] if seed < 3 else _scale(rng, 1e-5, 1e-2)
    _unary(op, _shape(rng, 64), "int16", q(in_scale, 0), q(2.0 ** -15, 0), rng=rng)


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
def test_logistic_tanh_float(op: str) -> None:
    rng = np.random.default_rng(550)
    _unary(op, (3, 50), "float32", rng=rng)


# ------------------------------------------------------------------------------ RELU family

@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("op", ["RELU", "RELU6"])
def test_relu_quantized(seed: int, dtype: str, op: str) -> None:
    rng = np.random.default_rng(600 + seed)
    zp = (lambda: int(rng.integers(-100, 100))) if dtype == "int8" else (lambda: 0)
    lo, hi = (0.01, 0.1) if dtype == "int8" else (1e-4, 1e-2)
    _unary(op, _shape(rng, 256), dtype, q(_scale(rng, lo, hi), zp()),
           q(_scale(rng, lo, hi), zp()), rng=rng)


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_relu_n1_to_1_int8(seed: int) -> None:
    rng = np.random.default_rng(650 + seed)
    _unary("RELU_N1_TO_1", _shape(rng, 256), "int8",
           q(_scale(rng, 0.002, 0.05), int(rng.integers(-100, 100))),
           q(_scale(rng, 0.005, 0.02), int(rng.integers(-50, 50))), oracle="litert_ref", rng=rng)


@pytest.mark.parametrize("op,oracle", [("RELU", "tflm"), ("RELU6", "tflm"),
                                       ("RELU_N1_TO_1", "litert_ref")])
def test_relu_float(op: str, oracle: str) -> None:
    _unary(op, (4, 33), "float32", oracle=oracle, rng=np.random.default_rng(660))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_leaky_relu(seed: int, dtype: str) -> None:
    rng = np.random.default_rng(700 + seed)
    alpha = float(rng.choice([0.3, 0.01, -0.5, 1.7, rng.uniform(-2, 2)]))
    if dtype == "float32":
        _unary("LEAKY_RELU", _shape(rng), dtype, attrs=dict(alpha=alpha), rng=rng)
        return
    zp = (lambda: int(rng.integers(-100, 100))) if dtype == "int8" else (lambda: 0)
    _unary("LEAKY_RELU", _shape(rng, 256), dtype, q(_scale(rng), zp()), q(_scale(rng), zp()),
           dict(alpha=alpha), rng=rng, version=2)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_prelu(seed: int, dtype: str) -> None:
    rng = np.random.default_rng(800 + seed)
    shape = (1, int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 9)))
    alpha_shape = [(shape[-1],), (1, 1, shape[-1]), shape[1:]][int(rng.integers(0, 3))]
    if dtype == "float32":
        alpha = const("alpha", rng.uniform(-1, 1, alpha_shape).astype(np.float32))
        x, y = tensor("x", shape, dtype), tensor("y", shape, dtype)
    else:
        zp = (lambda: int(rng.integers(-50, 50))) if dtype == "int8" else (lambda: 0)
        alpha = const("alpha", rng.integers(-128, 128, alpha_shape).astype(np.int8),
                      quant=q(_scale(rng, 0.002, 0.02), int(rng.integers(-20, 20))))
        x = tensor("x", shape, dtype, q(_scale(rng), zp()))
        y = tensor("y", shape, dtype, q(_scale(rng), zp()))
    m = single_op_model("PRELU", [x, alpha], [y])
    check_op(m, feeds=_feeds(rng, shape, dtype))


# ------------------------------------------------------------------------------ others

@pytest.mark.parametrize("seed", SEEDS)
def test_hard_swish_int8(seed: int) -> None:
    rng = np.random.default_rng(900 + seed)
    _unary("HARD_SWISH", _shape(rng, 256), "int8",
           q(_scale(rng, 0.005, 0.2), int(rng.integers(-128, 128))),
           q(_scale(rng, 0.005, 0.2), int(rng.integers(-128, 128))), rng=rng)


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_elu_int8(seed: int) -> None:
    rng = np.random.default_rng(950 + seed)
    _unary("ELU", _shape(rng, 256), "int8",
           q(_scale(rng, 0.005, 0.2), int(rng.integers(-128, 128))),
           q(_scale(rng, 0.005, 0.2), int(rng.integers(-128, 128))), rng=rng)


@pytest.mark.parametrize("seed", SEEDS[:4])
@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_int8(seed: int, approximate: bool) -> None:
    rng = np.random.default_rng(1000 + seed)
    _unary("GELU", _shape(rng, 256), "int8",
           q(_scale(rng, 0.005, 0.1), int(rng.integers(-128, 128))),
           q(_scale(rng, 0.005, 0.1), int(rng.integers(-128, 128))),
           dict(approximate=approximate), oracle="litert_ref", rng=rng)


@pytest.mark.parametrize("seed", SEEDS[:3])
@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_int16(seed: int, approximate: bool) -> None:
    rng = np.random.default_rng(1030 + seed)
    _unary("GELU", _shape(rng, 64), "int16", q(_scale(rng, 1e-4, 1e-3), 0),
           q(_scale(rng, 1e-4, 1e-3), 0), dict(approximate=approximate), oracle="litert_ref",
           rng=rng)


@pytest.mark.parametrize("op,oracle,attrs", [
    ("HARD_SWISH", "tflm", {}), ("ELU", "tflm", {}),
    ("GELU", "litert_ref", {"approximate": False}), ("GELU", "litert_ref", {"approximate": True}),
])
def test_float_activations(op: str, oracle: str, attrs: dict) -> None:
    _unary(op, (5, 40), "float32", attrs=attrs, oracle=oracle, rng=np.random.default_rng(1050))


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_l2_normalization_int8(seed: int) -> None:
    rng = np.random.default_rng(1100 + seed)
    shape = _shape(rng)[:4]
    _unary("L2_NORMALIZATION", shape, "int8",
           q(_scale(rng, 0.005, 0.2), int(rng.integers(-128, 128))), q(1 / 128, 0),
           dict(fused_activation_function="NONE"), rng=rng)


def test_l2_normalization_float() -> None:
    _unary("L2_NORMALIZATION", (2, 3, 16), "float32",
           attrs=dict(fused_activation_function="NONE"), rng=np.random.default_rng(1150))
