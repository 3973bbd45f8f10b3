"""Recurrent ops in the generated C against TFLM: UNIDIRECTIONAL_SEQUENCE_LSTM (float32,
int8 with an int16 cell, int16x8 with int64 biases) and SVDF (int8 and float32), as
single-op models run several times in sequence (the state carries over), and TFLM's LSTM
example models. Every model runs on the host; a sample on the emulated Cortex-M4 (one
firmware per model, all feeds in one run).
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import check_c, const, q, single_op_model, tensor, variable
from oracles import SHARED_MODELS

from picojoule.backends import qemu
from picojoule.importers import load_model

_QEMU = qemu.toolchain_missing() is None


def _check(model, seeds=(0, 1, 2), m4: bool = False, feeds=None) -> None:
    check_c(model, feeds, seeds=seeds, where=("host", "m4") if m4 else ("host",))


def _lstm(rng, dtype: str, batch: int, steps: int, n_in: int, units: int, time_major: bool,
          cell_clip: float):
    shape = (steps, batch, n_in) if time_major else (batch, steps, n_in)
    ins: list = [None] * 24
    if dtype == "float32":
        ins[0] = tensor("x", shape, "float32")
        for i in range(1, 9):
            n = n_in if i <= 4 else units
            ins[i] = const(f"w{i}", (0.4 * rng.standard_normal((units, n))).astype(np.float32))
        for i in range(12, 16):
            ins[i] = const(f"b{i}", (0.1 * rng.standard_normal(units)).astype(np.float32))
        ins[18] = variable("h", (batch, units), "float32")
        ins[19] = variable("c", (batch, units), "float32")
        y = tensor("y", shape[:2] + (units,), "float32")
    else:
        wide = dtype == "int16"
        s_x = (2e-4 if wide else 0.02) * (1 + rng.random())
        zp_x = 0 if wide else int(rng.integers(-20, 20))
        s_h = 1 / 32768 if wide else 1 / 128
        zp_h = 0 if wide else int(rng.integers(-5, 5))
        ins[0] = tensor("x", shape, dtype, q(s_x, zp_x))
        for i in range(1, 9):
            n = n_in if i <= 4 else units
            ins[i] = const(f"w{i}", rng.integers(-127, 128, (units, n), dtype=np.int8),
                           quant=q(0.003 + 0.005 * rng.random(), 0))
        bt = np.int64 if wide else np.int32
        for i in range(12, 16):
            lim = 200000 if wide else 2000
            ins[i] = const(f"b{i}", rng.integers(-lim, lim, units).astype(bt),
                           quant=q(s_x * 0.005, 0))
        ins[18] = variable("h", (batch, units), dtype, q(s_h, zp_h))
        ins[19] = variable("c", (batch, units), "int16", q(2.0 ** -11, 0))
        y = tensor("y", shape[:2] + (units,), dtype, q(s_h, zp_h))
    return single_op_model("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], attrs=dict(
        fused_activation_function="TANH", cell_clip=cell_clip, proj_clip=0.0,
        time_major=time_major, asymmetric_quantize_inputs=False,
        diagonal_recurrent_tensors=False), version=1)


LSTM = [("int16", 1, 4, 5, 3, False, 0.0), ("int16", 2, 3, 8, 6, True, 2.0),
        ("int16", 1, 5, 3, 4, False, 10.0), ("int8", 2, 6, 7, 5, False, 0.0),
        ("float32", 2, 3, 4, 7, True, 1.5)]


@pytest.mark.parametrize("case", range(len(LSTM)))
def test_lstm(case: int) -> None:
    dtype, batch, steps, n_in, units, tm, clip = LSTM[case]
    m = _lstm(np.random.default_rng(5000 + case), dtype, batch, steps, n_in, units, tm, clip)
    _check(m, m4=case in (0, 1))


@pytest.mark.parametrize("name", ["micro_speech_lstm.tflite", "trained_lstm_int8.tflite",
                                  "trained_lstm.tflite"])
def test_tflm_lstm_models(name: str) -> None:
    m = load_model(SHARED_MODELS / "tflm" / name)
    _check(m, seeds=(0, 1), m4=name == "trained_lstm_int8.tflite")


SVDF_ACTS = ["NONE", "RELU", "TANH", "RELU6", "SIGN_BIT", "RELU_N1_TO_1"]


@pytest.mark.parametrize("seed", range(len(SVDF_ACTS)))
def test_svdf_float(seed: int) -> None:
    rng = np.random.default_rng(5100 + seed)
    batch, n_in, rank = 1 + seed % 2, int(rng.integers(3, 12)), 1 + seed % 3
    units, memory = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    filters = units * rank
    x = tensor("x", (batch, n_in), "float32")
    wf = const("wf", rng.standard_normal((filters, n_in)).astype(np.float32))
    wt = const("wt", rng.standard_normal((filters, memory)).astype(np.float32))
    b = const("b", rng.standard_normal(units).astype(np.float32))
    st = variable("state", (batch, filters * memory), "float32")
    y = tensor("y", (batch, units), "float32")
    _check(single_op_model("SVDF", [x, wf, wt, b, st], [y], attrs=dict(
        rank=rank, fused_activation_function=SVDF_ACTS[seed]), version=1),
        seeds=(0, 1, 2, 3), m4=seed in (0, 2))
