"""TFLM signal-library emitters (``CUSTOM:Signal*``, the audio front end) and CAST.

Constants come from ``picojoule.ops.signal`` (kissfft's factorisation, leaf order and
twiddles, the log table) so the C kernels replay exactly what the reference replays.
Spectral subtraction's noise estimate is persistent kernel state: a static buffer outside
the arena, zeroed by ``<name>_reset()`` as TFLM's Reset does.
"""

from __future__ import annotations

import numpy as np

from picojoule.backends.c.emitters.int16 import operand
from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops import signal as ref

SOURCES = ("pj_signal.c",)


def _dtypes_ok(node: Node, ins: tuple[str, ...], outs: tuple[str, ...]) -> None:
    got_in = tuple(v.dtype if v is not None else "none" for v in node.inputs[:len(ins)])
    got_out = tuple(v.dtype for v in node.outputs[:len(outs)])
    if got_in != ins or got_out != outs:
        raise unsupported(node, f"types {got_in} -> {got_out}")


def _const(node: Node, i: int, what: str) -> None:
    if node.input(i) is None or not node.input(i).is_const:
        raise unsupported(node, f"a non-constant {what}")


@emitter("CUSTOM:SignalWindow", dtypes=("int16",))
def emit_window(ctx: Context, node: Node) -> Emitted:
    _dtypes_ok(node, ("int16", "int16"), ("int16",))
    shift = ref._opt_int(node, ref._options(node), "shift")
    n_w, size = node.inputs[1].shape[0], node.inputs[0].size
    if n_w <= 0 or size % n_w or not 0 <= shift < 32:
        raise unsupported(node, "an input size not a multiple of the window or a bad shift")
    return Emitted(f"pj_signal_window({size}, {n_w}, {shift}, {operand(ctx, node, 1)}, "
                   "{in0}, {out0});", sources=SOURCES)


@emitter("CUSTOM:SignalFftAutoScale", dtypes=("int16",))
def emit_fft_auto_scale(ctx: Context, node: Node) -> Emitted:
    _dtypes_ok(node, ("int16",), ("int16", "int32"))
    return Emitted(f"pj_signal_fft_auto_scale({node.inputs[0].size}, {{in0}}, {{out0}}, "
                   "{out1});", sources=SOURCES)


@emitter("CUSTOM:SignalRfft", dtypes=("int16",))
def emit_rfft(ctx: Context, node: Node) -> Emitted:
    n, t = ref._fft_setup(node)
    if t != "int16":
        raise unsupported(node, f"a {t} FFT (int16 only)")
    x, y = node.inputs[0], node.outputs[0]
    in_len = x.shape[-1]
    if x.size != in_len or y.size != n + 2 or in_len > n:
        raise unsupported(node, "more than one frame, or frames longer than fft_length")
    eng = ref._FixedKissReal(n, False, 16)
    sub = eng.sub
    p = ctx.params("pj_rfft_params", dict(
        nfft=n, in_len=in_len, nfactors=len(sub.factors),
        factors=ctx.array("kf", "int32_t", np.array(sub.factors, np.int64).reshape(-1)),
        perm=ctx.array("perm", "int16_t", sub.perm),
        tw_r=ctx.array("twr", "int16_t", sub.tw_r), tw_i=ctx.array("twi", "int16_t", sub.tw_i),
        st_r=ctx.array("str", "int16_t", eng.st_r), st_i=ctx.array("sti", "int16_t", eng.st_i)))
    return Emitted(f"pj_signal_rfft_s16(&{p}, {{in0}}, {{out0}}, (int16_t *){{scratch}});",
                   scratch=2 * n, sources=SOURCES)


@emitter("CUSTOM:SignalEnergy", dtypes=("int16",))
def emit_energy(ctx: Context, node: Node) -> Emitted:
    _dtypes_ok(node, ("int16",), ("uint32",))
    opts = ref._options(node)
    start, end = ref._opt_int(node, opts, "start_index"), ref._opt_int(node, opts, "end_index")
    n_out = node.outputs[0].size
    if not (0 <= start and end <= n_out and 2 * end <= node.inputs[0].size):
        raise unsupported(node, "start/end index out of range")
    return Emitted(f"pj_signal_energy({n_out}, {start}, {end}, {{in0}}, {{out0}});",
                   sources=SOURCES)


@emitter("CUSTOM:SignalFilterBank", dtypes=("uint32",))
def emit_filter_bank(ctx: Context, node: Node) -> Emitted:
    _dtypes_ok(node, ("uint32", "int16", "int16", "int16", "int16", "int16"), ("uint64",))
    nch = ref._opt_int(node, ref._options(node), "num_channels")
    for i in range(1, 6):
        _const(node, i, f"filter bank input {i}")
    for i in (3, 4, 5):
        if node.inputs[i].size < nch + 1:
            raise unsupported(node, f"input {i} shorter than num_channels + 1")
    n_out = node.outputs[0].size
    if n_out > nch:
        raise unsupported(node, "more outputs than num_channels")
    # Every tap must read inside the energy vector and the weights (TFLM does not check).
    fstart, wstart, width = (node.inputs[k].data.astype(np.int64)[:nch + 1] for k in (3, 4, 5))
    width = np.maximum(width, 0)
    if np.any((width > 0) & ((fstart < 0) | (fstart + width > node.inputs[0].size)
                             | (wstart < 0) | (wstart + width > node.inputs[1].size))):
        raise unsupported(node, "filter bands outside the input or the weights")
    p = ctx.params("pj_filterbank_params", dict(
        num_channels=nch, n_out=n_out,
        **{k: ctx.array(k, "int16_t", node.inputs[i].data)
           for k, i in (("weights", 1), ("unweights", 2), ("fstart", 3), ("wstart", 4),
                        ("width", 5))}))
    return Emitted(f"pj_signal_filter_bank(&{p}, {{in0}}, {{out0}});", sources=SOURCES)


@emitter("CUSTOM:SignalFilterBankSquareRoot", dtypes=("uint64",))
def emit_fb_sqrt(ctx: Context, node: Node) -> Emitted:
    _dtypes_ok(node, ("uint64", "int32"), ("uint32",))
    if node.inputs[1].is_const:
        raise unsupported(node, "a constant scale-bits input")
    return Emitted(f"pj_signal_fb_sqrt({node.inputs[0].size}, {{in0}}, {{in1}}, {{out0}});",
                   sources=SOURCES)


@emitter("CUSTOM:SignalFilterBankSpectralSubtraction", dtypes=("uint32",))
def emit_spectral_subtraction(ctx: Context, node: Node) -> Emitted:
    _dtypes_ok(node, ("uint32",), ("uint32", "uint32"))
    opts = ref._options(node)
    g = {k: ref._opt_int(node, opts, k) for k in (
        "alternate_one_minus_smoothing", "alternate_smoothing", "min_signal_remaining",
        "num_channels", "one_minus_smoothing", "smoothing", "smoothing_bits",
        "spectral_subtraction_bits")}
    nch = g["num_channels"]
    if node.inputs[0].size != nch or node.outputs[1].size != nch:
        raise unsupported(node, "tensor sizes other than num_channels")
    u32 = {k: v & 0xFFFFFFFF for k, v in g.items()}
    p = ctx.params("pj_specsub_params", dict(
        num_channels=nch, clamping=int(bool(opts.get("clamping", False))),
        smoothing=f"{u32['smoothing']}u", one_minus_smoothing=f"{u32['one_minus_smoothing']}u",
        alt_smoothing=f"{u32['alternate_smoothing']}u",
        alt_one_minus_smoothing=f"{u32['alternate_one_minus_smoothing']}u",
        smoothing_bits=f"{u32['smoothing_bits']}u",
        spectral_subtraction_bits=f"{u32['spectral_subtraction_bits']}u",
        min_signal_remaining=f"{u32['min_signal_remaining']}u"))
    noise = ctx.state_buffer("noise", "uint32_t", nch)
    return Emitted(f"pj_signal_spectral_subtraction(&{p}, {{in0}}, {{out0}}, {{out1}}, "
                   f"{noise});", sources=SOURCES)


@emitter("CUSTOM:SignalPCAN", dtypes=("uint32",))
def emit_pcan(ctx: Context, node: Node) -> Emitted:
    _dtypes_ok(node, ("uint32", "uint32", "int16"), ("uint32",))
    snr_shift = ref._opt_int(node, ref._options(node), "snr_shift")
    lut = node.inputs[2]
    if not 0 <= snr_shift < 64 or lut.size < 125:
        raise unsupported(node, f"snr_shift {snr_shift} or a gain LUT shorter than 125")
    if node.inputs[1].size < node.inputs[0].size:
        raise unsupported(node, "a noise estimate shorter than the input")
    return Emitted(f"pj_signal_pcan({node.inputs[0].size}, {snr_shift}, {lut.size}, "
                   f"{operand(ctx, node, 2)}, {{in0}}, {{in1}}, {{out0}});", sources=SOURCES)


@emitter("CUSTOM:SignalFilterBankLog", dtypes=("uint32",))
def emit_fb_log(ctx: Context, node: Node) -> Emitted:
    _dtypes_ok(node, ("uint32",), ("int16",))
    opts = ref._options(node)
    bits = ref._opt_int(node, opts, "input_correction_bits")
    scale = ref._opt_int(node, opts, "output_scale")
    if not 0 <= bits < 32:
        raise unsupported(node, f"input_correction_bits {bits}")
    lut = ctx.array("loglut", "int32_t", ref._LOG_LUT)
    return Emitted(f"pj_signal_fb_log({node.inputs[0].size}, {bits}, {scale}, {lut}, "
                   "{in0}, {out0});", sources=SOURCES)


_CAST_CODES = {"int8": 0, "int16": 1, "int32": 2, "uint32": 3, "float32": 4, "uint8": 5,
               "bool": 6}


@emitter("CAST", dtypes=("bool", "int8", "int16", "int32", "uint32", "float32"))
def emit_cast(ctx: Context, node: Node) -> Emitted:
    x, y = node.inputs[0], node.outputs[0]
    if x.dtype not in _CAST_CODES or y.dtype not in _CAST_CODES or x.size != y.size:
        raise unsupported(node, f"{x.dtype} -> {y.dtype}")
    if x.dtype == "float32" and y.dtype == "uint8":
        raise unsupported(node, "float32 -> uint8 (LiteRT's NaN rule)")
    return Emitted(f"pj_cast({x.size}, {_CAST_CODES[x.dtype]}, {_CAST_CODES[y.dtype]}, "
                   "{in0}, {out0});", sources=SOURCES)
