"""Property tests of QUANTIZE, DEQUANTIZE and CAST against TFLM (LiteRT reference for the
CAST pairs TFLM lacks). 8/16-bit inputs run over every value; wider inputs over random
values plus range edges, NaN and infinities."""

from __future__ import annotations

import numpy as np
import pytest

from opkit import OracleRefused, check_op, const, q, run_oracle, single_op_model, tensor
from picojoule.errors import UnsupportedOpError
from picojoule.runtime import Interpreter

NP = {"bool": np.bool_, "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
      "int32": np.int32, "uint32": np.uint32, "int64": np.int64, "float32": np.float32}


def _every_value(dt: str) -> np.ndarray:
    if dt == "bool":
        return np.array([False, True] * 4)
    info = np.iinfo(NP[dt])
    if info.bits <= 16:
        return np.arange(info.min, info.max + 1).astype(NP[dt])
    rng = np.random.default_rng(info.bits)
    edges = np.array([info.min, info.min + 1, -1, 0, 1, info.max - 1, info.max])
    edges = edges[(edges >= info.min) & (edges <= info.max)]
    return np.concatenate([edges, rng.integers(info.min, info.max, 4000, endpoint=True)]
                          ).astype(NP[dt])


def _floats(rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Normal values, exact .5 ties, range edges, huge values, NaN and infinities."""
    ties = (np.arange(-40, 40) + 0.5).astype(np.float32)
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 3e9, -3e9, 2.0 ** 31, -2.0 ** 31,
                        1e20, -1e20, 4294967295.0, 4294967296.0, 0.49999997, -0.49999997,
                        8388609.0, 254.7, -129.2, 65535.9, -32768.6], np.float32)
    normal = (rng.standard_normal(3000) * 200).astype(np.float32)
    return np.concatenate([ties * np.float32(scale), special, normal * np.float32(scale)])


# --------------------------------------------------------------------------- QUANTIZE


@pytest.mark.parametrize("dst", ["int8", "int16"])
def test_quantize_float(dst: str) -> None:
    rng = np.random.default_rng(1 if dst == "int8" else 2)
    for k in range(4):
        scale = float(np.exp(rng.uniform(np.log(1e-3), np.log(2.0))))
        zp = 0 if dst == "int16" and k < 2 else int(rng.integers(-100, 100))
        x = _floats(rng, scale)
        m = single_op_model("QUANTIZE", [tensor("x", x.shape, "float32")],
                            [tensor("y", x.shape, dst, q(scale, zp))])
        check_op(m, feeds=[[x]])
    # exact ties (hand-derived): round half away from zero, then add the zero point
    x = np.array([0.5, 1.5, -0.5, -1.5, 2.5, 0.49999997], np.float32)
    m = single_op_model("QUANTIZE", [tensor("x", x.shape, "float32")],
                        [tensor("y", x.shape, dst, q(1.0, 3))])
    out = check_op(m, feeds=[[x]])[0][0]
    assert out.tolist() == [4, 5, 2, 1, 6, 3]


REQUANT = [("int16", "int8"), ("int8", "int8"), ("int8", "uint8"), ("uint8", "int8"),
           ("int8", "int16"), ("int8", "int32"), ("int16", "int16"), ("int16", "int32"),
           ("int32", "int8"), ("int32", "int16")]


@pytest.mark.parametrize("src,dst", REQUANT)
def test_requantize(src: str, dst: str) -> None:
    rng = np.random.default_rng(sum(map(ord, src + dst)))
    x = _every_value(src)
    for k in range(3):
        s_in = float(np.exp(rng.uniform(np.log(1e-6), np.log(1.0))))
        ratio = float(np.exp(rng.uniform(-6, 6))) if k else 1.0  # k=0: same scale
        zp_in = 0 if src in ("int16", "int32") else int(rng.integers(-128, 128))
        if src == "uint8":
            zp_in = int(rng.integers(0, 256))
        zp_out = {"int8": int(rng.integers(-128, 128)), "uint8": int(rng.integers(0, 256)),
                  "int16": 0, "int32": 0}[dst]
        if k == 0 and (src, dst) in (("int8", "uint8"), ("uint8", "int8")):
            zp_out = zp_in + (128 if dst == "uint8" else -128)  # TFLM's XOR shortcut
        m = single_op_model("QUANTIZE", [tensor("x", x.shape, src, q(s_in, zp_in))],
                            [tensor("y", x.shape, dst, q(s_in / ratio, zp_out))])
        check_op(m, feeds=[[x]])


# --------------------------------------------------------------------------- DEQUANTIZE


@pytest.mark.parametrize("src", ["int8", "uint8", "int16"])
def test_dequantize(src: str) -> None:
    rng = np.random.default_rng(len(src))
    x = _every_value(src)
    for _ in range(3):
        scale = float(np.exp(rng.uniform(np.log(1e-5), np.log(10.0))))
        zp = int(rng.integers(0, 256)) if src == "uint8" else (
            int(rng.integers(-128, 128)) if src == "int8" else 0)
        m = single_op_model("DEQUANTIZE", [tensor("x", x.shape, src, q(scale, zp))],
                            [tensor("y", x.shape, "float32")])
        out = check_op(m, feeds=[[x]], rtol=0.0)[0][0]
        # hand-derived: float(double(scale) * (q - zp)), exactly
        want = (np.float64(np.float32(scale)) * (x.astype(np.int64) - zp)).astype(np.float32)
        assert np.array_equal(out, want)


def test_dequantize_uses_first_channel_params_like_tflm() -> None:
    """TFLM dequantizes with the tensor's first scale / zero point even when it is
    per-channel quantized (LiteRT applies each channel's): TFLM is followed."""
    w = np.arange(-6, 6, dtype=np.int8).reshape(3, 4)
    x = const("w", w, quant=q([0.1, 0.2, 0.3], [0, 1, 2], axis=0))
    m = single_op_model("DEQUANTIZE", [x], [tensor("y", (3, 4), "float32")])
    out = check_op(m, feeds=[[]], rtol=0.0)[0][0]
    assert np.array_equal(out, (np.float64(np.float32(0.1)) * w).astype(np.float32))


def test_dequantize_float16_litert() -> None:
    """float16 -> float32 (LiteRT only; TFLM refuses it): exact widening."""
    x = np.array([1.5, -2, 65504, 1e-7, 0.333, -0.0], np.float16)
    m = single_op_model("DEQUANTIZE", [tensor("x", x.shape, "float16")],
                        [tensor("y", x.shape, "float32")])
    with pytest.raises(OracleRefused):
        run_oracle(m, [[x]], oracle="tflm")
    out = check_op(m, oracle="litert_ref", feeds=[[x]], rtol=0.0)[0][0]
    assert np.array_equal(out, x.astype(np.float32))


# --------------------------------------------------------------------------- CAST

TFLM_CAST = ["bool", "int8", "int16", "int32", "uint32", "float32"]


def _cast_input(src: str) -> np.ndarray:
    if src == "float32":
        return _floats(np.random.default_rng(9), 1e4)
    return _every_value(src)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("src", TFLM_CAST)
def test_cast_tflm_pairs(src: str) -> None:
    x = _cast_input(src)
    for dst in TFLM_CAST:
        m = single_op_model("CAST", [tensor("x", x.shape, src)], [tensor("y", x.shape, dst)])
        want = run_oracle(m, [[x]])[0][0]
        got = Interpreter(m).run([x])[0]
        assert _same_bits(got, want), f"CAST {src} -> {dst}"


@pytest.mark.parametrize("src,dst", [("uint8", "int32"), ("int64", "int32"), ("int32", "int64"),
                                     ("uint8", "bool"), ("int16", "uint8"),
                                     ("float32", "int64"), ("float32", "uint8")])
def test_cast_litert_pairs(src: str, dst: str) -> None:
    """Pairs TFLM lacks: LiteRT's reference kernel is the oracle."""
    x = _cast_input(src)
    m = single_op_model("CAST", [tensor("x", x.shape, src)], [tensor("y", x.shape, dst)])
    with pytest.raises(OracleRefused):
        run_oracle(m, [[x]], oracle="tflm")
    want = run_oracle(m, [[x]], oracle="litert_ref")[0][0]
    got = Interpreter(m).run([x])[0]
    assert _same_bits(got, want), f"CAST {src} -> {dst}"


def test_cast_shapes_and_hand_values() -> None:
    x = np.array([[-1.7, 2.9, 300.5], [-0.2, 65536.0, -129.0]], np.float32)
    m = single_op_model("CAST", [tensor("x", x.shape, "int32")], [tensor("y", x.shape, "int8")])
    xi = np.array([[-1, 2, 300], [0, 65536, -129]], np.int32)
    out = check_op(m, feeds=[[xi]])[0][0]
    assert out.tolist() == [[-1, 2, 44], [0, 0, 127]]  # integers wrap
    m = single_op_model("CAST", [tensor("x", x.shape, "float32")], [tensor("y", x.shape, "int8")])
    out = check_op(m, feeds=[[x]])[0][0]
    assert out.tolist() == [[-1, 2, 127], [0, 127, -128]]  # truncate, saturate


def test_quantize_unsupported() -> None:
    x = tensor("x", (4,), "float32")
    with pytest.raises(UnsupportedOpError, match="float32 -> int32"):
        Interpreter(single_op_model("QUANTIZE", [x], [tensor("y", (4,), "int32", q(0.1))]))
    x = tensor("x", (4,), "uint8", q(0.1, 3))
    with pytest.raises(UnsupportedOpError, match="uint8 -> int16"):
        Interpreter(single_op_model("QUANTIZE", [x], [tensor("y", (4,), "int16", q(0.1))]))
