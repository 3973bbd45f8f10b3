"""TFLM signal-library custom ops (``CUSTOM:Signal*``) against TFLM itself.

Two kinds of checks, expected values always from TFLM:
- the audio preprocessor models' own nodes: TFLM runs the model on several seeded
  inputs in sequence, each custom node's kernel (prepared once, so state carries
  over) gets TFLM's input tensors and must reproduce TFLM's output tensors;
- random single-op configurations built with opkit, run through TFLM and picojoule.
"""

from __future__ import annotations

import numpy as np
import pytest
from flatbuffers import flexbuffers

from opkit import check_op, const, run_oracle, single_op_model, tensor
from oracles import SHARED_MODELS, TflmSession, assert_same
from picojoule.errors import UnsupportedOpError
from picojoule.importers import load_model
from picojoule.ops import lookup
from picojoule.runtime import Interpreter, random_inputs

AUDIO = ["tflm/audio_preprocessor_int8.tflite", "tflm/audio_preprocessor_float.tflite"]
TFL_T = {"int16": 7, "int32": 2, "float32": 0}


def opts(**kw) -> dict:
    return {"custom_options": flexbuffers.Dumps(kw)}


def _log_uniform(rng: np.random.Generator, bits: int, n, dtype) -> np.ndarray:
    """Integers spread over magnitudes 0 .. 2**bits - 1 (uniform in log scale)."""
    e = rng.uniform(0, bits, n)
    return np.floor(np.exp2(e) - 1).astype(np.float64).clip(0, 2.0**bits - 1).astype(dtype)


# --------------------------------------------------------------------------- real model nodes


@pytest.mark.parametrize("name", AUDIO)
def test_audio_model_nodes_match_tflm(name: str) -> None:
    """Every custom node on TFLM's own inputs, 4 frames in sequence (stateful ops included)."""
    path = SHARED_MODELS / name
    g = load_model(path).main
    sess = TflmSession(path)
    nodes = [n for n in g.nodes if n.op.startswith("CUSTOM:Signal")]
    assert len(nodes) == 9
    kernels = [lookup(n).prepare(n) for n in nodes]
    rng = np.random.default_rng(7)
    frames = [random_inputs(g, s) for s in (0, 1)]
    # A quiet and a loud speech-like frame too: exercise the auto-scale and noise paths.
    t = np.arange(480)
    for amp in (300, 20000):
        sig = amp * np.sin(2 * np.pi * t / 37) + rng.normal(0, amp / 10, 480)
        frames.append([np.clip(sig, -32768, 32767).astype(np.int16).reshape(1, 480)])
    for k, x in enumerate(frames):
        sess.run(x)
        for node, kern in zip(nodes, kernels):
            ins = [v.data if v.is_const else sess.tensor(v.meta["tflite_index"]).reshape(v.shape)
                   for v in node.inputs]
            outs = kern(ins)
            for o, v in zip(outs, node.outputs):
                want = sess.tensor(v.meta["tflite_index"]).reshape(v.shape)
                what = f"{name} frame {k}: {node.op} {v.name}"
                if node.op == "CUSTOM:SignalEnergy":
                    # TFLM never writes bins outside [start, end): uninitialised arena bytes.
                    opt = flexbuffers.Loads(node.attrs["custom_options"])
                    sl = slice(opt["start_index"], opt["end_index"])
                    assert_same(o[sl], want[sl], what)
                else:
                    assert_same(o, want, what)


# --------------------------------------------------------------------------- single ops


@pytest.mark.parametrize("seed", range(4))
def test_window(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    rows = int(rng.integers(1, 4))
    shift = int(rng.integers(0, 16))
    w = const("w", rng.integers(-32768, 32768, n).astype(np.int16))
    m = single_op_model("CUSTOM:SignalWindow", [tensor("x", (rows, n), "int16"), w],
                        [tensor("y", (rows, n), "int16")], opts(shift=shift))
    check_op(m)


def test_fft_auto_scale() -> None:
    n = 48
    rng = np.random.default_rng(3)
    feeds = []
    for mag in (0, 1, 3, 100, 2000, 16384, 32767):
        feeds.append([rng.integers(-mag, mag + 1, n).astype(np.int16)])
    # -32768 stores back as -32768 in TFLM's int16 running maximum: the scan then
    # continues against a negative maximum.
    for pos, tail in ((5, 40), (47, 0), (10, 300), (20, -7)):
        x = rng.integers(-tail if tail > 0 else tail, abs(tail) + 1, n).astype(np.int16)
        x[:pos] = rng.integers(-20000, 20000, pos)
        x[pos] = -32768
        feeds.append([x])
    x = np.full(n, -5, np.int16)
    x[0] = -32768
    x[3:6] = [-9, -3, -2]
    feeds.append([x])
    m = single_op_model("CUSTOM:SignalFftAutoScale", [tensor("x", (n,), "int16")],
                        [tensor("y", (n,), "int16"), tensor("s", (), "int32")], opts())
    check_op(m, feeds=feeds)


FFT_CASES = [("int16", 512, 480), ("int16", 64, 33), ("int16", 90, 90), ("int16", 30, 16),
             ("int16", 12, 12), ("int16", 1000, 700), ("int32", 256, 200), ("int32", 40, 21),
             ("int32", 6, 6), ("float32", 128, 100), ("float32", 20, 20)]


@pytest.mark.parametrize("dtype,n,in_len", FFT_CASES)
def test_rfft(dtype: str, n: int, in_len: int) -> None:
    """Radix 4, 2, 3, 5 butterflies; full-range integer inputs also exercise the wrap-around."""
    m = single_op_model("CUSTOM:SignalRfft", [tensor("x", (2, in_len), dtype)],
                        [tensor("y", (2, n + 2), dtype)], opts(T=TFL_T[dtype], fft_length=n))
    check_op(m, seeds=(0, 1))
    if dtype == "int16":
        rng = np.random.default_rng(n)
        small = [[rng.integers(-2000, 2000, (2, in_len)).astype(np.int16)]]
        check_op(m, feeds=small)


@pytest.mark.parametrize("dtype,n", [("int16", 512), ("int16", 30), ("int16", 20),
                                     ("int32", 64), ("int32", 12), ("float32", 40)])
def test_irfft(dtype: str, n: int) -> None:
    m = single_op_model("CUSTOM:SignalIrfft", [tensor("x", (2, n + 2), dtype)],
                        [tensor("y", (2, n), dtype)], opts(T=TFL_T[dtype], fft_length=n))
    check_op(m, seeds=(0, 1))


def test_fft_lengths_tflm_cannot_run_are_refused() -> None:
    """kissfft's generic butterfly crashes TFLM (patched-out malloc): refuse 2 * 7 * k."""
    m = single_op_model("CUSTOM:SignalRfft", [tensor("x", (14,), "int16")],
                        [tensor("y", (16,), "int16")], opts(T=7, fft_length=14))
    with pytest.raises(UnsupportedOpError, match="prime factor"):
        Interpreter(m)


@pytest.mark.parametrize("seed", range(3))
def test_energy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bins = int(rng.integers(4, 80))
    start = int(rng.integers(0, bins // 2))
    end = int(rng.integers(start + 1, bins + 1))
    m = single_op_model("CUSTOM:SignalEnergy", [tensor("x", (2 * bins,), "int16")],
                        [tensor("y", (bins,), "uint32")], opts(end_index=end, start_index=start))
    feeds = [random_inputs(m.main, s) for s in range(3)]
    feeds[0][0][:4] = -32768  # 2 * 32768**2 wraps in TFLM's int32 sum
    want = run_oracle(m, feeds)
    ours = Interpreter(m)
    for x, w in zip(feeds, want):
        got = ours.run(x)[0]
        assert_same(got[start:end], w[0][start:end], f"energy [{start}:{end}] of {bins}")


def _filter_bank_config(rng: np.random.Generator, nch: int, n_fft: int):
    widths = rng.integers(0, 9, nch + 1).astype(np.int16)
    fstarts = rng.integers(0, n_fft - 8, nch + 1).astype(np.int16)
    total = int(widths.sum())
    wstarts = (np.cumsum(widths) - widths).astype(np.int16)
    weights = rng.integers(-300, 4097, max(total, 1)).astype(np.int16)
    unweights = (4096 - weights).astype(np.int16)
    return weights, unweights, fstarts, wstarts, widths


@pytest.mark.parametrize("seed", range(3))
def test_filter_bank(seed: int) -> None:
    rng = np.random.default_rng(seed)
    nch, n_fft = int(rng.integers(1, 24)), int(rng.integers(16, 80))
    cfg = _filter_bank_config(rng, nch, n_fft)
    consts = [const(f"c{i}", a) for i, a in enumerate(cfg)]
    m = single_op_model("CUSTOM:SignalFilterBank", [tensor("x", (n_fft,), "uint32"), *consts],
                        [tensor("y", (nch,), "uint64")], opts(num_channels=nch))
    check_op(m)


def test_filter_bank_square_root() -> None:
    rng = np.random.default_rng(5)
    n = 64
    feeds = []
    for shift in (0, 3, 9, 15):
        x = _log_uniform(rng, 64, n, np.uint64)
        x[:6] = [0, 1, 2**32 - 1, 2**32, 2**64 - 1, 4294836225 + 65535]
        feeds.append([x, np.array(shift, np.int32)])
    m = single_op_model("CUSTOM:SignalFilterBankSquareRoot",
                        [tensor("x", (n,), "uint64"), tensor("s", (), "int32")],
                        [tensor("y", (n,), "uint32")], opts())
    check_op(m, feeds=feeds)


@pytest.mark.parametrize("seed,clamping", [(0, False), (1, True), (2, False), (3, True)])
def test_spectral_subtraction_state(seed: int, clamping: bool) -> None:
    """A sequence of frames: the noise estimate persists inside the op."""
    rng = np.random.default_rng(seed)
    nch = int(rng.integers(1, 41))
    bits = 14
    sm, asm = (int(v) for v in rng.integers(0, 2000, 2))
    cfg = dict(alternate_one_minus_smoothing=(1 << bits) - asm, alternate_smoothing=asm,
               clamping=clamping, min_signal_remaining=int(rng.integers(0, 3000)),
               num_channels=nch, one_minus_smoothing=(1 << bits) - sm, smoothing=sm,
               smoothing_bits=int(rng.integers(0, 12)), spectral_subtraction_bits=bits)
    m = single_op_model("CUSTOM:SignalFilterBankSpectralSubtraction",
                        [tensor("x", (nch,), "uint32")],
                        [tensor("y", (nch,), "uint32"), tensor("n", (nch,), "uint32")],
                        opts(**cfg))
    level = _log_uniform(rng, 20, nch, np.uint32)
    feeds = [[(level * rng.uniform(0.2, 3, nch)).astype(np.uint32)] for _ in range(6)]
    feeds.append([_log_uniform(rng, 32, nch, np.uint32)])
    want = check_op(m, feeds=feeds)
    # reset() restores TFLM's initial state: the sequence replays to TFLM's outputs.
    node = m.main.nodes[0]
    kern = lookup(node).prepare(node)
    for _ in range(2):
        for k, (x, w) in enumerate(zip(feeds, want)):
            for a, b in zip(kern(x), w):
                assert_same(a, b, f"spectral subtraction after reset, feed {k}")
        kern.reset()


def _pcan_lut(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(-32768, 32768, 125).astype(np.int16)


@pytest.mark.parametrize("seed", range(3))
def test_pcan(seed: int) -> None:
    rng = np.random.default_rng(seed)
    nch = 40
    snr_shift = int(rng.integers(0, 13))
    if seed == 0:  # the real model's gain table
        g = load_model(SHARED_MODELS / AUDIO[0]).main
        lut = next(n for n in g.nodes if n.op == "CUSTOM:SignalPCAN").inputs[2].data
    else:
        lut = _pcan_lut(rng)
    m = single_op_model("CUSTOM:SignalPCAN",
                        [tensor("x", (nch,), "uint32"), tensor("n", (nch,), "uint32"),
                         const("lut", lut)], [tensor("y", (nch,), "uint32")],
                        opts(snr_shift=snr_shift))
    feeds = []
    for _ in range(3):
        noise = _log_uniform(rng, 32, nch, np.uint32)
        noise[:4] = [0, 1, 2, 3]
        feeds.append([_log_uniform(rng, 24, nch, np.uint32), noise])
    check_op(m, feeds=feeds)


@pytest.mark.parametrize("bits,scale", [(3, 64), (0, 1), (5, 1000), (0, 65535), (12, 300)])
def test_filter_bank_log(bits: int, scale: int) -> None:
    rng = np.random.default_rng(bits)
    n = 96
    m = single_op_model("CUSTOM:SignalFilterBankLog", [tensor("x", (n,), "uint32")],
                        [tensor("y", (n,), "int16")],
                        opts(input_correction_bits=bits, output_scale=scale))
    feeds = []
    for _ in range(2):
        x = _log_uniform(rng, 32, n, np.uint32)
        x[:5] = [0, 1, 2, 3, 2**32 - 1]
        feeds.append([x])
    check_op(m, feeds=feeds)


# --------------------------------------------------------------------------- streaming ops


@pytest.mark.parametrize("shape,delay", [((8,), 3), ((2, 5), 12), ((3, 4), 0)])
def test_delay(shape, delay: int) -> None:
    m = single_op_model("CUSTOM:SignalDelay", [tensor("x", shape, "int16")],
                        [tensor("y", shape, "int16")], opts(delay_length=delay))
    check_op(m, seeds=range(5))


def _check_partial(m, feeds, select) -> None:
    """Like check_op, but compares only ``select(feed, output index, tflm outputs)`` slices:
    TFLM leaves some outputs unwritten (uninitialised arena bytes) on some invocations."""
    want = run_oracle(m, feeds)
    ours = Interpreter(m)
    op = m.main.nodes[0].op
    for k, (x, w) in enumerate(zip(feeds, want)):
        got = ours.run(x)
        for i, (a, b) in enumerate(zip(got, w)):
            sl = select(k, i, w)
            assert_same(a[sl], b[sl], f"{op} feed {k} output {i}")


@pytest.mark.parametrize("shape,size,step,prefill", [
    ((12,), 8, 4, False), ((12,), 8, 4, True), ((2, 6), 10, 3, True), ((2, 6), 10, 3, False),
    ((1, 5), 5, 5, False), ((4,), 7, 2, False)])
def test_framer(shape, size: int, step: int, prefill: bool) -> None:
    n_frames = shape[-1] // step
    m = single_op_model("CUSTOM:SignalFramer", [tensor("x", shape, "int16")],
                        [tensor("y", (*shape[:-1], n_frames, size), "int16"),
                         tensor("v", (), "bool")],
                        opts(frame_size=size, frame_step=step, prefill=prefill))
    feeds = [random_inputs(m.main, s) for s in range(5)]
    pre = size - step if prefill else 0

    def written(k: int, i: int, w) -> tuple:
        """Frame f of feed k is produced once pre + (k*n_frames + f + 1)*step >= size."""
        if i == 1:
            return ()
        first = next((f for f in range(n_frames)
                      if pre + (k * n_frames + f + 1) * step >= size), n_frames)
        return (..., slice(first, None), slice(None))

    _check_partial(m, feeds, written)


@pytest.mark.parametrize("dtype,shape,step", [("int16", (3, 8), 4), ("int16", (2, 2, 6), 2),
                                              ("float32", (3, 8), 3), ("int16", (1, 5), 5)])
def test_overlap_add(dtype: str, shape, step: int) -> None:
    m = single_op_model("CUSTOM:SignalOverlapAdd", [tensor("x", shape, dtype)],
                        [tensor("y", (*shape[:-2], shape[-2] * step), dtype)],
                        opts(T=TFL_T[dtype], frame_step=step))
    check_op(m, seeds=range(4))


@pytest.mark.parametrize("nch,left,right,step", [(4, 2, 1, 1), (3, 0, 2, 2), (5, 1, 0, 3)])
def test_stacker(nch: int, left: int, right: int, step: int) -> None:
    m = single_op_model("CUSTOM:SignalStacker", [tensor("x", (nch,), "int16")],
                        [tensor("y", (nch * (left + right + 1),), "int16"),
                         tensor("v", (), "bool")],
                        opts(num_channels=nch, stacker_left_context=left,
                             stacker_right_context=right, stacker_step=step))
    feeds = [random_inputs(m.main, s) for s in range(7)]
    # The stack is only written when the valid flag is set (compared on every frame).
    _check_partial(m, feeds, lambda k, i, w: () if i == 1 or w[1] else slice(0, 0))
