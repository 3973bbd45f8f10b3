"""TFLM signal-library ops in the generated C against TFLM: the streaming ops with state
(SignalDelay, SignalFramer, SignalOverlapAdd, SignalStacker, run on several inputs in
sequence so the state carries over) and the real FFTs of every type (SignalRfft int32 /
float32, SignalIrfft int16 / int32 / float32; kissfft's radix 2, 3, 4 and 5 butterflies).

Expected values come from TFLM only. Every model runs on the host; a sample also on the
emulated Cortex-M4 (one firmware per model, all feeds in one run). TFLM leaves some outputs
unwritten on some invocations (the framer's frames it cannot fill yet, the stacker's stack
while not valid): those are not compared.
"""

from __future__ import annotations

import numpy as np
import pytest
from flatbuffers import flexbuffers
from opkit import check_c, feeds_for, single_op_model, tensor

from picojoule.backends import qemu

_QEMU = qemu.toolchain_missing() is None
TFL_T = {"int16": 7, "int32": 2, "float32": 0}


def opts(**kw) -> dict:
    return {"custom_options": flexbuffers.Dumps(kw)}


def _check(model, feeds, m4: bool, select=None) -> None:
    """Host C (and the M4 firmware) on ``feeds`` in sequence equal TFLM's outputs, on the
    ``select(feed, output, tflm outputs)`` part of each output (default: all)."""
    check_c(model, feeds, where=("host", "m4") if m4 else ("host",), select=select)


FFT = [("int32", 256, 200), ("int32", 40, 21), ("int32", 6, 6), ("int32", 30, 30),
       ("float32", 128, 100), ("float32", 20, 20), ("float32", 90, 64)]


@pytest.mark.parametrize("case", range(len(FFT)))
def test_rfft(case: int) -> None:
    dtype, n, in_len = FFT[case]
    m = single_op_model("CUSTOM:SignalRfft", [tensor("x", (2, in_len), dtype)],
                        [tensor("y", (2, n + 2), dtype)], opts(T=TFL_T[dtype], fft_length=n))
    feeds = feeds_for(m, (0, 1))
    if dtype == "int32":  # moderate magnitudes too (full-range inputs mostly wrap around)
        rng = np.random.default_rng(n)
        feeds.append([rng.integers(-2**20, 2**20, (2, in_len)).astype(np.int32)])
    _check(m, feeds, m4=case in (0, 4))


IFFT = [("int16", 512), ("int16", 30), ("int16", 20), ("int16", 12), ("int32", 64),
        ("int32", 12), ("int32", 90), ("float32", 40), ("float32", 256)]


@pytest.mark.parametrize("case", range(len(IFFT)))
def test_irfft(case: int) -> None:
    dtype, n = IFFT[case]
    m = single_op_model("CUSTOM:SignalIrfft", [tensor("x", (2, n + 2), dtype)],
                        [tensor("y", (2, n), dtype)], opts(T=TFL_T[dtype], fft_length=n))
    feeds = feeds_for(m, (0, 1))
    if dtype != "float32":
        rng = np.random.default_rng(n)
        lim = 2000 if dtype == "int16" else 2**24
        feeds.append([rng.integers(-lim, lim, (2, n + 2)).astype(dtype)])
    _check(m, feeds, m4=case in (0, 4, 7))


@pytest.mark.parametrize("shape,delay", [((8,), 3), ((2, 5), 12), ((3, 4), 0), ((2, 6), 4)])
def test_delay(shape, delay: int) -> None:
    m = single_op_model("CUSTOM:SignalDelay", [tensor("x", shape, "int16")],
                        [tensor("y", shape, "int16")], opts(delay_length=delay))
    _check(m, feeds_for(m, range(5)), m4=delay == 12)


@pytest.mark.parametrize("shape,size,step,prefill", [
    ((12,), 8, 4, False), ((12,), 8, 4, True), ((2, 6), 10, 3, True), ((2, 6), 10, 3, False),
    ((1, 5), 5, 5, False), ((4,), 7, 2, False)])
def test_framer(shape, size: int, step: int, prefill: bool) -> None:
    n_frames = shape[-1] // step
    m = single_op_model("CUSTOM:SignalFramer", [tensor("x", shape, "int16")],
                        [tensor("y", (*shape[:-1], n_frames, size), "int16"),
                         tensor("v", (), "bool")],
                        opts(frame_size=size, frame_step=step, prefill=prefill))
    pre = size - step if prefill else 0

    def written(k: int, i: int, w) -> tuple:
        """Frame f of feed k is produced once pre + (k*n_frames + f + 1)*step >= size."""
        if i == 1:
            return ()
        first = next((f for f in range(n_frames)
                      if pre + (k * n_frames + f + 1) * step >= size), n_frames)
        return (..., slice(first, None), slice(None))

    _check(m, feeds_for(m, range(5)), m4=shape == (2, 6) and prefill, select=written)


@pytest.mark.parametrize("dtype,shape,step", [("int16", (3, 8), 4), ("int16", (2, 2, 6), 2),
                                              ("float32", (3, 8), 3), ("int16", (1, 5), 5),
                                              ("float32", (2, 3, 4), 4)])
def test_overlap_add(dtype: str, shape, step: int) -> None:
    m = single_op_model("CUSTOM:SignalOverlapAdd", [tensor("x", shape, dtype)],
                        [tensor("y", (*shape[:-2], shape[-2] * step), dtype)],
                        opts(T=TFL_T[dtype], frame_step=step))
    _check(m, feeds_for(m, range(4)), m4=shape == (2, 2, 6) or shape == (3, 8) and
           dtype == "float32")


@pytest.mark.parametrize("nch,left,right,step", [(4, 2, 1, 1), (3, 0, 2, 2), (5, 1, 0, 3),
                                                 (2, 3, 2, 4)])
def test_stacker(nch: int, left: int, right: int, step: int) -> None:
    m = single_op_model("CUSTOM:SignalStacker", [tensor("x", (nch,), "int16")],
                        [tensor("y", (nch * (left + right + 1),), "int16"),
                         tensor("v", (), "bool")],
                        opts(num_channels=nch, stacker_left_context=left,
                             stacker_right_context=right, stacker_step=step))
    # The stack is only written when the valid flag is set (compared on every frame).
    _check(m, feeds_for(m, range(7)), m4=nch == 4,
           select=lambda k, i, w: () if i == 1 or w[1] else slice(0, 0))
