"""TFLM signal library, second part: the streaming ops that keep state across invokes
(``CUSTOM:SignalDelay``, ``SignalFramer``, ``SignalOverlapAdd``, ``SignalStacker``) and the
real FFTs of every type (``SignalRfft`` int32 / float32, ``SignalIrfft`` int16 / int32 /
float32); kernels in pj_signal2.c.

State (FIFOs, delay lines, overlap-add accumulators) lives in ``ctx.state_buffer`` static
buffers, zeroed by ``<name>_reset()`` as TFLM's Prepare/Reset starts them; a kernel whose
initial state is not all zeros (the framer's prefill, the stacker's first frame) keeps a
"started" word. Ops that leave outputs untouched when they have nothing new (the framer's
unfilled frames, the stacker's stack while not valid) keep their last output in state, as
the reference interpreter does. The FFT constants (kissfft's factorisation, leaf order and
twiddles) come from ``picojoule.ops.signal``.
"""

from __future__ import annotations

import math

import numpy as np

from picojoule.backends.c.generator import Context, Emitted, emitter, unsupported
from picojoule.ir import Node
from picojoule.ops import signal as ref

SOURCES = ("pj_signal2.c",)


def _require(node: Node, ok: bool, what: str) -> None:
    if not ok:
        raise unsupported(node, what)


# --------------------------------------------------------------------------- FFTs
def _fft_params(ctx: Context, node: Node, n: int, t: str, inverse: bool, in_len: int) -> str:
    bits = {"int16": 16, "int32": 32, "float32": 0}[t]
    eng = ref._FixedKissReal(n, inverse, bits or 16)
    sub = eng.sub
    if bits:
        arrays = [ctx.array(k, "int32_t", a) for k, a in
                  (("twr", sub.tw_r), ("twi", sub.tw_i), ("str", eng.st_r), ("sti", eng.st_i))]
    else:  # kissfft's float twiddles: double cos / sin stored as float
        sign = 1.0 if inverse else -1.0
        half = n // 2
        ph = [sign * 2 * ref._PI_KISS * i / half for i in range(half)]
        sp = [sign * ref._PI_KISSR * ((i + 1) / half + .5) for i in range(half // 2)]
        arrays = [ctx.array(k, "float", np.array(a, np.float32)) for k, a in (
            ("twr", [math.cos(p) for p in ph]), ("twi", [math.sin(p) for p in ph]),
            ("str", [math.cos(p) for p in sp]), ("sti", [math.sin(p) for p in sp]))]
    return ctx.params("pj_kfft_params", dict(
        nfft=n, in_len=in_len, bits=bits, inverse=int(inverse), nfactors=len(sub.factors),
        factors=ctx.array("kf", "int32_t", np.array(sub.factors, np.int64).reshape(-1)),
        perm=ctx.array("perm", "int32_t", sub.perm),
        **{k: "(const void *)" + a for k, a in zip(("tw_r", "tw_i", "st_r", "st_i"), arrays)}))


@emitter("CUSTOM:SignalRfft", when=lambda n: ref._TFL_TYPES.get(
    int(ref._options(n).get("T", -1))) in ("int32", "float32"), dtypes=("int32", "float32"))
def emit_rfft(ctx: Context, node: Node) -> Emitted:
    n, t = ref._fft_setup(node)
    x, y = node.inputs[0], node.outputs[0]
    in_len = x.shape[-1] if x.shape else 1
    _require(node, in_len <= n and y.shape[-1] == n + 2 and x.size % max(in_len, 1) == 0
             and y.size == x.size // in_len * (n + 2), "frame shapes other than the op's")
    p = _fft_params(ctx, node, n, t, False, in_len)
    return Emitted(f"pj_signal_rfft(&{p}, {x.size // in_len}, {{in0}}, {{out0}}, "
                   "(int32_t *){scratch});", scratch=8 * n, sources=SOURCES)


@emitter("CUSTOM:SignalIrfft", dtypes=("int16", "int32", "float32"))
def emit_irfft(ctx: Context, node: Node) -> Emitted:
    n, t = ref._fft_setup(node)
    x, y = node.inputs[0], node.outputs[0]
    _require(node, bool(x.shape) and x.shape[-1] == n + 2 and y.shape[-1] == n
             and x.size // (n + 2) == y.size // n and x.size % (n + 2) == 0,
             "frame shapes other than the op's")
    p = _fft_params(ctx, node, n, t, True, n + 2)
    return Emitted(f"pj_signal_irfft(&{p}, {x.size // (n + 2)}, {{in0}}, {{out0}}, "
                   "(int32_t *){scratch});", scratch=8 * n, sources=SOURCES)


# --------------------------------------------------------------------------- streaming
@emitter("CUSTOM:SignalDelay", dtypes=("int16",))
def emit_delay(ctx: Context, node: Node) -> Emitted:
    delay = ref._opt_int(node, ref._options(node), "delay_length")
    x = node.inputs[0]
    _require(node, x.dtype == "int16" and node.outputs[0].dtype == "int16", f"{x.dtype} data")
    _require(node, delay >= 0, "a negative delay_length")
    frame = x.shape[-1] if x.shape else 1
    rows = x.size // max(frame, 1)
    state = ctx.state_buffer("delay", "int16_t", rows * delay)
    return Emitted(f"pj_signal_delay({rows}, {frame}, {delay}, {{in0}}, {{out0}}, {state});",
                   sources=SOURCES)


@emitter("CUSTOM:SignalFramer", dtypes=("int16",))
def emit_framer(ctx: Context, node: Node) -> Emitted:
    opts = ref._options(node)
    size, step = ref._opt_int(node, opts, "frame_size"), ref._opt_int(node, opts, "frame_step")
    x = node.inputs[0]
    _require(node, x.dtype == "int16" and len(node.outputs) == 2
             and node.outputs[0].dtype == "int16" and node.outputs[1].dtype == "bool",
             "types other than int16 -> int16, bool")
    inner = x.shape[-1] if x.shape else 1
    _require(node, step > 0 and inner >= step and inner % step == 0 and size > 0,
             "an innermost dimension that is not a multiple of frame_step")
    rows, n_frames = x.size // inner, inner // step
    _require(node, node.outputs[0].size == rows * n_frames * size, "an output of another size")
    cap = (size + step - 1) // step * step
    p = ctx.params("pj_framer_params", dict(
        rows=rows, n_frames=n_frames, frame_size=size, frame_step=step, capacity=cap,
        prefill=int(bool(opts.get("prefill", False)))))
    hdr = ctx.state_buffer("fhdr", "int32_t", 1 + 3 * rows)
    buf = ctx.state_buffer("fbuf", "int16_t", 2 * cap * rows)
    last = ctx.state_buffer("fout", "int16_t", rows * n_frames * size)
    return Emitted(f"pj_signal_framer(&{p}, {{in0}}, {{out0}}, (uint8_t *){{out1}}, {hdr}, "
                   f"{buf}, {last});", sources=SOURCES)


@emitter("CUSTOM:SignalStacker", dtypes=("int16",))
def emit_stacker(ctx: Context, node: Node) -> Emitted:
    opts = ref._options(node)
    nch = ref._opt_int(node, opts, "num_channels")
    left = ref._opt_int(node, opts, "stacker_left_context")
    right = ref._opt_int(node, opts, "stacker_right_context")
    step = ref._opt_int(node, opts, "stacker_step")
    x = node.inputs[0]
    _require(node, x.dtype == "int16" and len(node.outputs) == 2
             and node.outputs[0].dtype == "int16" and node.outputs[1].dtype == "bool",
             "types other than int16 -> int16, bool")
    _require(node, step > 0 and left >= 0 and right >= 0 and nch > 0 and x.size >= nch,
             "a non-positive step / num_channels, negative context or a short input")
    size = nch * (left + right + 1)
    _require(node, node.outputs[0].size == size and nch * step < 2 * size,
             "an output other than the stack, or a step of twice the stack or more")
    p = ctx.params("pj_stacker_params", dict(num_channels=nch, left=left, right=right,
                                             step=step, size=size))
    hdr = ctx.state_buffer("shdr", "int32_t", 4)
    buf = ctx.state_buffer("sbuf", "int16_t", 2 * size)
    last = ctx.state_buffer("sout", "int16_t", size)
    return Emitted(f"pj_signal_stacker(&{p}, {{in0}}, {{out0}}, (uint8_t *){{out1}}, {hdr}, "
                   f"{buf}, {last}, (int16_t *){{scratch}});", scratch=2 * nch,
                   sources=SOURCES)


@emitter("CUSTOM:SignalOverlapAdd", dtypes=("int16", "float32"))
def emit_overlap_add(ctx: Context, node: Node) -> Emitted:
    step = ref._opt_int(node, ref._options(node), "frame_step")
    x, y = node.inputs[0], node.outputs[0]
    _require(node, x.dtype in ("int16", "float32") and y.dtype == x.dtype, f"{x.dtype} data")
    _require(node, len(x.shape) >= 2, "an input of rank < 2")
    size, n_frames = x.shape[-1], x.shape[-2]
    _require(node, 0 < step <= size, "frame_step outside (0, frame_size]")
    rows = x.size // (size * n_frames)
    _require(node, y.size == rows * n_frames * step, "an output of another size")
    if x.dtype == "int16":
        state = ctx.state_buffer("ola", "int16_t", rows * size)
        fn = "pj_signal_overlap_add_s16"
    else:
        state = ctx.state_buffer("ola", "float", rows * size)
        fn = "pj_signal_overlap_add_f32"
    return Emitted(f"{fn}({rows}, {n_frames}, {size}, {step}, {{in0}}, {{out0}}, {state});",
                   sources=SOURCES)
