"""Measure picojoule's kernels on emulated cores and fit the per-variant cost models.

Measurements: a model is cross-compiled with per-node profiling (``qemu.build(...,
profile=True)``: SysTick read around every node) and run once on ``qemu-system-arm -icount
shift=0``, where one instruction takes one nanosecond of virtual time; the per-node tick
counts times 1e9 / SysTick clock are instructions (resolution: 40 instructions on MPS2).

Training data come from real models (their nodes) and from "banks": one graph holding many
independent single-op nodes of varied shapes (each with its own graph input and output), so a
single firmware build measures dozens of configurations. The banks cover each kernel's paths
(activation range narrower than int8 or not, folded or general requantization, channel
counts with and without tails, strides, padding, 3x3 and other windows) and a chain of 1x1
layers the generator runs in place chunk by chunk. A bank's first-run node is left out: its
profile window also holds the copies of all the bank's inputs into the arena.

The fit is per kernel variant (see :mod:`picojoule.estimate.features`): non-negative least
squares on relative error (each row divided by its measured count), so small and large
nodes both count and every coefficient stays physically meaningful (instructions per unit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from picojoule.estimate.features import features, io_features, kernel_names
from picojoule.ir import Graph, Model, Node, Quant, Value

#: Instruction models picojoule can measure: QEMU machine, C backend target, DSP layout
#: (None: the target's choice). "portable-c" is the portable kernels (no SMLAD) measured on
#: the Cortex-M4 board, the instruction model for cores without a board of their own.
CLASSES: dict[str, tuple[str, str, bool | None]] = {
    "cortex-m4": ("mps2-an386", "cortex-m4", None),
    "cortex-m7": ("mps2-an500", "cortex-m7", None),
    "cortex-m55": ("mps3-an547", "cortex-m55", None),
    "portable-c": ("mps2-an386", "cortex-m4", False),
}
C_TARGET = {k: v[1] for k, v in CLASSES.items()}
MACHINE_OF_CLASS = {k: v[0] for k, v in CLASSES.items()}


@dataclass
class Sample:
    """One measured node: its variant, features and instructions."""

    model: str
    index: int
    op: str
    variant: str
    feats: dict
    instructions: int
    dtype: str = "int8"  # the node's input type


def available_classes() -> list[str]:
    """Core classes whose QEMU machine the backend knows on this checkout."""
    from picojoule.backends import qemu

    if qemu.toolchain_missing():
        return []
    return [c for c, m in MACHINE_OF_CLASS.items() if m in qemu.MACHINES]


def measure(model: Model, core_class: str, label: str = "", seed: int = 0
            ) -> tuple[list[Sample], int]:
    """Per-node samples and the total instructions of one profiled inference."""
    from picojoule.backends import qemu
    from picojoule.runtime.reference import random_inputs

    machine, c_target, dsp = CLASSES[core_class]
    fw = qemu.build(model, machine, profile=True, dsp=dsp)
    _, total = fw.run(random_inputs(model.main, seed), timeout=300)
    per_tick = 1e9 / fw.machine.clock_hz
    ticks = {int(a): int(b) for a, b in re.findall(r"PJ_NODE (\d+) (\d+)", fw.last_stdout)}
    samples = []
    kernels = kernel_names(model, c_target, dsp)
    skip = first_node_with_input_copies(model, kernels)
    for k, node in enumerate(model.main.nodes):
        variant, f = features(node, kernels.get(k))
        if variant == "free" or k == skip:
            continue
        x = node.inputs[0] if node.inputs else None
        samples.append(Sample(label, k, node.op, variant, f,
                              int(round(ticks.get(k, 0) * per_tick)),
                              x.dtype if x is not None else "int8"))
    return samples, total


#: Graph input/output sizes of the models that measure the invoke function's copies.
IO_SIZES = [(4, "float32"), (64, "int8"), (1000, "int8"), (4096, "int8"), (1000, "int16"),
            (27648, "int8"), (250, "int16")]


def io_model(n: int, dtype: str) -> Model:
    """A model whose only node aliases its input (RESHAPE): one inference is the copy of an
    n-element input into the arena and of the output out of it."""
    g = Graph("main")
    quant = None if dtype == "float32" else _q(0.05, 0)
    x = Value("x", (1, n), dtype, quant=quant)
    y = Value("y", (1, n), dtype, quant=quant)
    shape = Value("shape", (2,), "int32", data=np.asarray([1, n], np.int32))
    g.inputs.append(x)
    g.outputs.append(y)
    g.add_node(Node("RESHAPE", [x, shape], [y], {"new_shape": [1, n]}, name="reshape"))
    m = Model([g], source=f"io:{n}x{dtype}")
    m.verify()
    return m


def io_samples(core_class: str) -> list[Sample]:
    """Samples of the pseudo-kernel "io_copies" (see :func:`io_features`): the whole
    unprofiled inference of :func:`io_model` for each of :data:`IO_SIZES`."""
    out = []
    for n, dtype in IO_SIZES:
        m = io_model(n, dtype)
        out.append(Sample(f"io:{n}x{dtype}", 0, "COPY_IO", "io_copies", io_features(m),
                          measure_total(m, core_class), dtype))
    return out


def first_node_with_input_copies(model: Model, kernels: dict) -> int | None:
    """The node the generated code runs first when the graph has several inputs (a bank):
    its profile window also holds the copies of every graph input into the arena (they run
    before it), so it is left out of the training data. None for one-input models (their
    single input copy is part of a real inference)."""
    if len(model.main.inputs) <= 1 or not kernels:
        return None
    return next(iter(kernels))  # kernel_names lists nodes in the generated code's order


def measure_total(model: Model, core_class: str, seed: int = 0) -> int:
    """Instructions of one inference of the unprofiled firmware (what the bar predicts)."""
    from picojoule.backends import qemu
    from picojoule.runtime.reference import random_inputs

    machine, _, dsp = CLASSES[core_class]
    fw = qemu.build(model, machine, dsp=dsp)
    return fw.run(random_inputs(model.main, seed), timeout=300)[1]


# ----------------------------------------------------------------------------- banks
def _q(scale, zp=0, axis=0) -> Quant:
    return Quant(np.atleast_1d(np.asarray(scale, np.float32)),
                 np.atleast_1d(np.asarray(zp, np.int64)), axis)


def _out_hw(size: int, k: int, s: int, pad: str) -> int:
    return -(-size // s) if pad == "SAME" else -(-(size - k + 1) // s)


class _Bank:
    """Builds one graph of independent nodes (all int8, valid TFLM-style quantization).

    The subclasses change the tensor types (``_io``/``_out``, ``_wb``) and these
    quantizations: pooling input = output (scale, zero point), elementwise operand and output
    scales, softmax input scale and output (scale, zero point), transpose-convolution output
    scale."""

    POOL_Q = (0.05, 3)
    BINARY_SCALES = (0.05, 0.07, 0.1)
    SOFTMAX_IN, SOFTMAX_OUT = 0.1, (1 / 256, -128)
    TCONV_OUT = 0.5

    def __init__(self, seed: int) -> None:
        self.g = Graph("main")
        self.rng = np.random.default_rng(seed)
        self.n = 0

    def _value(self, role, shape, dtype, quant=None) -> Value:
        """A new graph input (``role`` "x"), output ("y") or variable ("s")."""
        self.n += 1
        v = Value(f"{role}{self.n}", tuple(shape), dtype, quant=quant)
        if role == "x":
            self.g.inputs.append(v)
        elif role == "y":
            self.g.outputs.append(v)
        else:
            v.variable = True
        return v

    def _io(self, shape, scale=0.05, zp=None) -> Value:
        zp = int(self.rng.integers(-20, 20)) if zp is None else zp
        return self._value("x", shape, "int8", _q(scale, zp))

    def _out(self, shape, scale=0.1, zp=None) -> Value:
        zp = int(self.rng.integers(-20, 20)) if zp is None else zp
        return self._value("y", shape, "int8", _q(scale, zp))

    def _const(self, arr, dtype, quant) -> Value:
        self.n += 1
        return Value(f"c{self.n}", arr.shape, dtype, quant=quant, data=arr)

    def _add(self, op, ins, outs, attrs) -> None:
        self.g.add_node(Node(op, ins, outs, attrs, name=f"{op.lower()}_{self.n}"))

    def _wscales(self, cout: int, general: bool) -> np.ndarray:
        """Per-channel weight scales; ``general``: one near-zero scale (a dead channel, as
        in VWW), whose shift > 23 sends the layer down the general requantization path."""
        ws = self.rng.uniform(0.005, 0.02, cout).astype(np.float32)
        if general:
            ws[0] = 1e-9
        return ws

    def _wb(self, shape, cout, axis, general=False) -> tuple[Value, Value]:
        """int8 weights (per-channel scales along ``axis``, see :meth:`_wscales`) and int32
        bias."""
        ws = self._wscales(cout, general)
        wt = self._const(self.rng.integers(-127, 128, shape).astype(np.int8), "int8",
                         _q(ws, np.zeros(cout), axis))
        b = self._const(self.rng.integers(-500, 500, cout).astype(np.int32), "int32",
                        _q(0.05 * ws, np.zeros(cout), 0))
        return wt, b

    def conv(self, h, w, cin, cout, k, s=1, pad="SAME", act="RELU", general=False,
             full=False) -> None:
        """``full``: output zero point -128, so RELU's range is the whole int8 range (the
        kernels' assembly epilogues); else a random zero point (a narrower range, C)."""
        kh, kw = (k, k) if isinstance(k, int) else k
        x = self._io((1, h, w, cin))
        wt, b = self._wb((cout, kh, kw, cin), cout, 0, general)
        oh, ow = _out_hw(h, kh, s, pad), _out_hw(w, kw, s, pad)
        y = self._out((1, oh, ow, cout), scale=0.5, zp=-128 if full else None)
        self._add("CONV_2D", [x, wt, b], [y], {"padding": pad, "stride_h": s, "stride_w": s,
                                               "dilation_h_factor": 1, "dilation_w_factor": 1,
                                               "fused_activation_function": act})

    def dw(self, h, w, c, k=3, s=1, pad="SAME", mult=1, general=False, full=False,
           w128=False) -> None:
        """``full``: RELU6 on an output of scale 6/255 and zero point -128 (activation range
        = int8 range: the assembly 3x3 bodies); ``w128``: one weight -128 (the Cortex-M55
        then uses pj_dwconv_s8_mve instead of the 16-channel kernel)."""
        kh, kw = (k, k) if isinstance(k, int) else k
        cout = c * mult
        x = self._io((1, h, w, c))
        ws = self._wscales(cout, general)
        wv = self.rng.integers(-127, 128, (1, kh, kw, cout)).astype(np.int8)
        if w128:
            wv[0, 0, 0, 0] = -128
        wt = self._const(wv, "int8", _q(ws, np.zeros(cout), 3))
        b = self._const(self.rng.integers(-500, 500, cout).astype(np.int32), "int32",
                        _q(0.05 * ws, np.zeros(cout), 0))
        oh, ow = _out_hw(h, kh, s, pad), _out_hw(w, kw, s, pad)
        y = (self._out((1, oh, ow, cout), scale=6 / 255, zp=-128) if full
             else self._out((1, oh, ow, cout), scale=0.2))
        self._add("DEPTHWISE_CONV_2D", [x, wt, b], [y],
                  {"padding": pad, "stride_h": s, "stride_w": s, "depth_multiplier": mult,
                   "dilation_h_factor": 1, "dilation_w_factor": 1,
                   "fused_activation_function": "RELU6"})

    def fc(self, k, n, batches=1, general=False) -> None:
        x = self._io((batches, k))
        ws = 1e-9 if general else 0.01
        wt = self._const(self.rng.integers(-127, 128, (n, k)).astype(np.int8), "int8",
                         _q(ws, 0))
        b = self._const(self.rng.integers(-500, 500, n).astype(np.int32), "int32",
                        _q(0.05 * ws, 0))
        y = self._out((batches, n), scale=0.5)
        self._add("FULLY_CONNECTED", [x, wt, b], [y],
                  {"fused_activation_function": "NONE", "keep_num_dims": False,
                   "weights_format": 0})

    def pool(self, op, h, w, c, k, s, pad="VALID") -> None:
        scale, zp = self.POOL_Q
        x = self._io((1, h, w, c), scale=scale, zp=zp)
        y = self._out((1, _out_hw(h, k, s, pad), _out_hw(w, k, s, pad), c), scale=scale,
                      zp=zp)
        self._add(op, [x], [y], {"filter_height": k, "filter_width": k, "stride_h": s,
                                 "stride_w": s, "padding": pad,
                                 "fused_activation_function": "NONE"})

    def binary(self, op, shape, shape2=None, act="NONE") -> None:
        sa, sb, sy = self.BINARY_SCALES
        a, b = self._io(shape, scale=sa), self._io(shape2 or shape, scale=sb)
        self._add(op, [a, b], [self._out(shape, scale=sy)], {"fused_activation_function": act})

    def softmax(self, rows, depth) -> None:
        x = self._io((rows, depth), scale=self.SOFTMAX_IN)
        scale, zp = self.SOFTMAX_OUT
        self._add("SOFTMAX", [x], [self._out((rows, depth), scale=scale, zp=zp)],
                  {"beta": 1.0})

    def strided_slice(self, shape, begin, end, strides) -> None:
        x = self._io(shape)
        out = tuple(len(range(b, e, st)) for b, e, st in zip(begin, end, strides))
        y = self._out(out, scale=float(x.quant.scale0), zp=int(x.quant.zp0))
        ends = [self._const(np.asarray(v, np.int32), "int32", None)
                for v in (begin, end, strides)]
        self._add("STRIDED_SLICE", [x, *ends], [y], {
            "begin_mask": 0, "end_mask": 0, "ellipsis_mask": 0, "new_axis_mask": 0,
            "shrink_axis_mask": 0, "offset": False})

    def pad(self, shape, pads) -> None:
        x = self._io(shape)
        out = tuple(d + a + b for d, (a, b) in zip(shape, pads))
        y = self._out(out, scale=float(x.quant.scale0), zp=int(x.quant.zp0))
        self._add("PAD", [x, self._const(np.asarray(pads, np.int32), "int32", None)], [y], {})

    def svdf(self, inputs, filters, memory, rank, state="int16") -> None:
        """int8 SVDF with a state (a variable) and time weights of type ``state``: int16 as
        in TFLM's keyword model, int8 as in its 8-bit variant."""
        units = filters // rank
        x = self._io((1, inputs), scale=0.06, zp=-128)
        wf = self._const(self.rng.integers(-127, 128, (filters, inputs)).astype(np.int8),
                         "int8", _q(0.009))
        hi = 3000 if state == "int16" else 127
        wt = self._const(self.rng.integers(-hi, hi, (filters, memory)).astype(state),
                         state, _q(0.0037))
        b = self._const(self.rng.integers(-500, 500, units).astype(np.int32), "int32",
                        _q(1.6e-5))
        state = self._value("s", (1, filters * memory), state, _q(0.0044, 0))
        y = self._out((1, units), scale=0.24, zp=-128)
        self._add("SVDF", [x, wf, wt, b, state], [y], {
            "rank": rank, "fused_activation_function": "RELU",
            "asymmetric_quantize_inputs": False})

    def lstm(self, batch, steps, n_in, units, time_major=False, cell_clip=0.0,
             dtype="int8") -> None:
        """UNIDIRECTIONAL_SEQUENCE_LSTM with its hidden and cell state as variables: float32,
        int8 (int16 cell, TFLM's integer kernel) or int16x8 (int64 biases)."""
        rng = self.rng
        shape = (steps, batch, n_in) if time_major else (batch, steps, n_in)
        ins: list = [None] * 24
        if dtype == "float32":
            ins[0] = self._value("x", shape, "float32")
            for i in range(1, 9):
                n = n_in if i <= 4 else units
                ins[i] = self._const((0.4 * rng.standard_normal((units, n))).astype(np.float32),
                                     "float32", None)
            for i in range(12, 16):
                ins[i] = self._const((0.1 * rng.standard_normal(units)).astype(np.float32),
                                     "float32", None)
            ins[18] = self._value("s", (batch, units), "float32")
            ins[19] = self._value("s", (batch, units), "float32")
            y = self._value("y", shape[:2] + (units,), "float32")
        else:
            wide = dtype == "int16"
            s_x = (2e-4 if wide else 0.02) * (1 + rng.random())
            zp_x = 0 if wide else int(rng.integers(-20, 20))
            s_h, zp_h = (1 / 32768, 0) if wide else (1 / 128, int(rng.integers(-5, 5)))
            ins[0] = self._value("x", shape, dtype, _q(s_x, zp_x))
            for i in range(1, 9):
                n = n_in if i <= 4 else units
                ins[i] = self._const(rng.integers(-127, 128, (units, n)).astype(np.int8), "int8",
                                     _q(0.003 + 0.005 * rng.random()))
            bt, lim = (np.int64, 200000) if wide else (np.int32, 2000)
            for i in range(12, 16):
                ins[i] = self._const(rng.integers(-lim, lim, units).astype(bt),
                                     "int64" if wide else "int32", _q(s_x * 0.005))
            ins[18] = self._value("s", (batch, units), dtype, _q(s_h, zp_h))
            ins[19] = self._value("s", (batch, units), "int16", _q(2.0 ** -11))
            y = self._value("y", shape[:2] + (units,), dtype, _q(s_h, zp_h))
        self._add("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], {
            "fused_activation_function": "TANH", "cell_clip": cell_clip, "proj_clip": 0.0,
            "time_major": time_major, "asymmetric_quantize_inputs": False,
            "diagonal_recurrent_tensors": False})

    def unary(self, op, shape, out_q) -> None:
        """A table-driven int8 activation (LOGISTIC, TANH) with TFLM's fixed output
        quantization ``out_q`` = (scale, zero point)."""
        x = self._io(shape, scale=0.08)
        self._add(op, [x], [self._out(shape, scale=out_q[0], zp=out_q[1])], {})

    def quantize_float(self, shape) -> None:
        """QUANTIZE from float32 into the bank's integer type."""
        x = self._value("x", shape, "float32")
        self._add("QUANTIZE", [x], [self._out(shape, scale=0.05)], {})

    def dequantize(self, shape) -> None:
        """DEQUANTIZE from the bank's integer type to float32."""
        x = self._io(shape)
        y = self._value("y", shape, "float32")
        self._add("DEQUANTIZE", [x], [y], {})

    def tconv(self, h, w, cin, cout, kh, kw, sh, sw, pad="VALID") -> None:
        x = self._io((1, h, w, cin))
        wt, b = self._wb((cout, kh, kw, cin), cout, 0)
        oh, ow = ((h - 1) * sh + kh, (w - 1) * sw + kw) if pad == "VALID" else (h * sh, w * sw)
        shape = self._const(np.asarray([1, oh, ow, cout], np.int32), "int32", None)
        y = self._out((1, oh, ow, cout), scale=self.TCONV_OUT)
        self._add("TRANSPOSE_CONV", [shape, wt, x, b], [y], {
            "padding": pad, "stride_h": sh, "stride_w": sw,
            "fused_activation_function": "NONE"})

    def softmax_to_int16(self, rows, depth) -> None:
        x = self._io((rows, depth), scale=0.07, zp=2)
        y = self._value("y", (rows, depth), "int16", _q(1 / 65536, -32768))
        self._add("SOFTMAX", [x], [y], {"beta": 1.0})

    def leaky_relu(self, shape, alpha, in_scale, out_scale) -> None:
        x = self._io(shape, scale=in_scale)
        y = self._out(shape, scale=out_scale)
        self._add("LEAKY_RELU", [x], [y], {"alpha": alpha})

    def concat(self, shapes, axis) -> None:
        xs = [self._io(sh, scale=0.05, zp=3) for sh in shapes]
        out = list(shapes[0])
        out[axis] = sum(sh[axis] for sh in shapes)
        y = self._out(tuple(out), scale=0.05, zp=3)
        self._add("CONCATENATION", xs, [y], {"axis": axis, "fused_activation_function": "NONE"})

    def chain(self, h, w, channels, strides) -> None:
        """A chain of full-range 1x1 convolutions (channels[0] -> channels[1] -> ...): the
        generator runs such layers in place, chunk by chunk (one kernel call per pixel pair
        or pixel), so the fit sees the per-call overhead of that form too."""
        x = self._io((1, h, w, channels[0]))
        for cout, s in zip(channels[1:], strides):
            cin = x.shape[3]
            oh, ow = _out_hw(x.shape[1], 1, s, "VALID"), _out_hw(x.shape[2], 1, s, "VALID")
            ws = self._wscales(cout, False)
            wt = self._const(self.rng.integers(-127, 128, (cout, 1, 1, cin)).astype(np.int8),
                             "int8", _q(ws, np.zeros(cout), 0))
            b = self._const(self.rng.integers(-500, 500, cout).astype(np.int32), "int32",
                            _q(0.05 * ws, np.zeros(cout), 0))
            self.n += 1
            y = Value(f"t{self.n}", (1, oh, ow, cout), "int8", quant=_q(0.5, -128))
            self._add("CONV_2D", [x, wt, b], [y], {
                "padding": "VALID", "stride_h": s, "stride_w": s, "dilation_h_factor": 1,
                "dilation_w_factor": 1, "fused_activation_function": "RELU"})
            x = y
        self.g.outputs.append(x)

    def model(self, name: str) -> Model:
        m = Model([self.g], source=f"bank:{name}")
        m.verify()
        return m


class _FloatBank(_Bank):
    """Builds one graph of independent float32 nodes (and LiteRT's hybrid convolution:
    float32 activations, int8 weights with one scale); quantization arguments are ignored."""

    def _io(self, shape, scale=None, zp=None) -> Value:
        return self._value("x", shape, "float32")

    def _out(self, shape, scale=None, zp=None) -> Value:
        return self._value("y", shape, "float32")

    def _f(self, shape, spread=0.2) -> Value:
        return self._const(self.rng.normal(0.0, spread, shape).astype(np.float32), "float32",
                           None)

    def conv(self, h, w, cin, cout, k, s=1, pad="SAME", act="RELU", hybrid=False) -> None:
        kh, kw = (k, k) if isinstance(k, int) else k
        x = self._io((1, h, w, cin))
        if hybrid:
            wt = self._const(self.rng.integers(-127, 128, (cout, kh, kw, cin)).astype(np.int8),
                             "int8", _q(0.004, 0))
        else:
            wt = self._f((cout, kh, kw, cin))
        y = self._out((1, _out_hw(h, kh, s, pad), _out_hw(w, kw, s, pad), cout))
        self._add("CONV_2D", [x, wt, self._f((cout,))], [y], {
            "padding": pad, "stride_h": s, "stride_w": s, "dilation_h_factor": 1,
            "dilation_w_factor": 1, "fused_activation_function": act})

    def _hybrid_w(self, shape, channels, axis) -> Value:
        """int8 weights with per-channel scales along ``axis`` (LiteRT's hybrid layers)."""
        scales = self.rng.uniform(0.002, 0.006, channels).astype(np.float32)
        return self._const(self.rng.integers(-127, 128, shape).astype(np.int8), "int8",
                           _q(scales, np.zeros(channels, np.int64), axis))

    def dw(self, h, w, c, k=3, s=1, pad="SAME", mult=1, hybrid=False) -> None:
        kh, kw = (k, k) if isinstance(k, int) else k
        x = self._io((1, h, w, c))
        y = self._out((1, _out_hw(h, kh, s, pad), _out_hw(w, kw, s, pad), c * mult))
        wt = (self._hybrid_w((1, kh, kw, c * mult), c * mult, 3) if hybrid
              else self._f((1, kh, kw, c * mult)))
        self._add("DEPTHWISE_CONV_2D", [x, wt, self._f((c * mult,))], [y],
                  {"padding": pad, "stride_h": s, "stride_w": s, "depth_multiplier": mult,
                   "dilation_h_factor": 1, "dilation_w_factor": 1,
                   "fused_activation_function": "RELU6"})

    def fc(self, k, n, batches=1, hybrid=False, asymmetric=False) -> None:
        x = self._io((batches, k))
        y = self._out((batches, n))
        wt = self._hybrid_w((n, k), n, 0) if hybrid else self._f((n, k))
        attrs = {"fused_activation_function": "RELU", "keep_num_dims": False,
                 "weights_format": 0}
        if hybrid:
            attrs["asymmetric_quantize_inputs"] = asymmetric
        self._add("FULLY_CONNECTED", [x, wt, self._f((n,))], [y], attrs)



class _Int16Bank(_Bank):
    """Builds one graph of independent int16x8 nodes (int16 activations with zero point 0,
    int8 symmetric weights, int64 bias; int32 bias for the "narrow" requantization)."""

    POOL_Q = (0.003, 0)
    BINARY_SCALES = (0.002, 0.003, 0.004)
    SOFTMAX_IN, SOFTMAX_OUT = 0.0005, (1 / 32768, 0)
    TCONV_OUT = 0.05

    def _io(self, shape, scale=0.002, zp=None) -> Value:
        return self._value("x", shape, "int16", _q(scale, 0))

    def _out(self, shape, scale=0.004, zp=None) -> Value:
        return self._value("y", shape, "int16", _q(scale, 0))

    def _wb(self, shape, cout, axis, narrow=False) -> tuple[Value, Value]:
        ws = self.rng.uniform(0.005, 0.02, cout).astype(np.float32)
        wt = self._const(self.rng.integers(-127, 128, shape).astype(np.int8), "int8",
                         _q(ws, np.zeros(cout), axis))
        bt = (np.int32, "int32") if narrow else (np.int64, "int64")
        b = self._const(self.rng.integers(-5000, 5000, cout).astype(bt[0]), bt[1],
                        _q(0.002 * ws, np.zeros(cout), 0))
        return wt, b

    def requantize(self, shape, dtypes, scales) -> None:
        """QUANTIZE between integer types (zero points 0, as int16 and int32 tensors have)."""
        x = self._value("x", shape, dtypes[0], _q(scales[0], 0))
        y = self._value("y", shape, dtypes[1], _q(scales[1], 0))
        self._add("QUANTIZE", [x], [y], {})

    def conv(self, h, w, cin, cout, k, s=1, pad="SAME", act="RELU", narrow=False) -> None:
        kh, kw = (k, k) if isinstance(k, int) else k
        x = self._io((1, h, w, cin))
        wt, b = self._wb((cout, kh, kw, cin), cout, 0, narrow)
        y = self._out((1, _out_hw(h, kh, s, pad), _out_hw(w, kw, s, pad), cout), scale=0.05)
        self._add("CONV_2D", [x, wt, b], [y], {
            "padding": pad, "stride_h": s, "stride_w": s, "dilation_h_factor": 1,
            "dilation_w_factor": 1, "fused_activation_function": act})

    def dw(self, h, w, c, k=3, s=1, pad="SAME", mult=1) -> None:
        kh, kw = (k, k) if isinstance(k, int) else k
        x = self._io((1, h, w, c))
        wt, b = self._wb((1, kh, kw, c * mult), c * mult, 3)
        y = self._out((1, _out_hw(h, kh, s, pad), _out_hw(w, kw, s, pad), c * mult))
        self._add("DEPTHWISE_CONV_2D", [x, wt, b], [y],
                  {"padding": pad, "stride_h": s, "stride_w": s, "depth_multiplier": mult,
                   "dilation_h_factor": 1, "dilation_w_factor": 1,
                   "fused_activation_function": "RELU6"})

    def fc(self, k, n, batches=1, narrow=False) -> None:
        x = self._io((batches, k))
        wt, b = self._wb((n, k), n, 0, narrow)
        self._add("FULLY_CONNECTED", [x, wt, b], [self._out((batches, n), scale=0.05)],
                  {"fused_activation_function": "NONE", "keep_num_dims": False,
                   "weights_format": 0})



#: Shapes for the direct-loop kernels, the same for the float32 and int16x8 banks (their
#: kernels share one loop structure): convolutions (h, w, in_c, out_c, k, stride, padding),
#: depthwise (h, w, c, k, stride, padding, multiplier), fully connected (depth, units,
#: batches), pooling, elementwise (op, shape, other operand's shape), softmax (rows, depth).
_DIRECT_CONV = [
    (16, 16, 8, 16, 1, 1, "SAME"), (8, 8, 64, 32, 1, 1, "SAME"), (24, 24, 3, 8, 3, 2, "SAME"),
    (12, 12, 16, 16, 3, 1, "SAME"), (10, 10, 32, 24, 3, 2, "SAME"),
    (20, 8, 1, 16, (5, 3), 1, "SAME"), (9, 9, 12, 10, 3, 1, "VALID"),
    (4, 4, 128, 40, 1, 1, "SAME"), (14, 6, 5, 6, (3, 5), 2, "SAME"),
    (1, 1, 64, 10, 1, 1, "SAME"), (16, 16, 10, 12, 2, 2, "VALID"), (30, 30, 4, 8, 1, 1, "SAME")]
_DIRECT_DW = [
    (20, 20, 16, 3, 1, "SAME", 1), (12, 12, 64, 3, 1, "SAME", 1), (16, 16, 32, 3, 2, "SAME", 1),
    (20, 10, 8, 5, 1, "SAME", 1), (16, 16, 12, 3, 1, "VALID", 1), (32, 32, 1, 3, 2, "SAME", 8),
    (8, 8, 20, 4, 2, "SAME", 1), (4, 4, 128, 3, 1, "SAME", 1), (12, 6, 16, 3, 1, "SAME", 2),
    (6, 6, 96, 3, 2, "SAME", 1)]
_DIRECT_FC = [(600, 128, 1), (128, 120, 1), (120, 8, 1), (64, 14, 1), (1000, 10, 1),
              (33, 17, 1), (96, 40, 2), (16, 640, 1), (1, 18, 1), (2, 3, 4)]
_DIRECT_POOL = [
    ("AVERAGE_POOL_2D", 7, 7, 64, 7, 7, "VALID"), ("AVERAGE_POOL_2D", 25, 5, 64, 5, 5, "VALID"),
    ("AVERAGE_POOL_2D", 12, 12, 16, 3, 2, "SAME"), ("MAX_POOL_2D", 12, 12, 16, 2, 2, "VALID"),
    ("MAX_POOL_2D", 9, 9, 8, 3, 2, "SAME"), ("AVERAGE_POOL_2D", 6, 6, 32, 3, 1, "VALID")]
_DIRECT_ELEMENTWISE = [
    ("ADD", (1, 16, 16, 16), None), ("ADD", (1, 8, 8, 64), None), ("ADD", (1, 100), None),
    ("MUL", (1, 10, 10, 8), None), ("ADD", (1, 8, 8, 32), (1, 1, 1, 32)), ("SUB", (4, 25), None)]
_DIRECT_SOFTMAX = [(1, 11), (1, 100), (4, 32), (1, 5), (16, 12)]


def _direct_banks(bank, seed: int, prefix: str, narrow: bool) -> dict[str, Model]:
    """The convolution, depthwise and other-op banks of the direct-loop kernels; ``narrow``:
    a few int16x8 layers with int32 bias (the 32-bit requantization) too."""
    b = bank(seed)
    for cfg in _DIRECT_CONV:
        b.conv(*cfg)
    if narrow:
        b.conv(8, 8, 16, 8, 1, 1, "SAME", narrow=True)
        b.conv(6, 6, 4, 6, 3, 1, "SAME", narrow=True)
    out = {f"{prefix}_conv": b.model(f"{prefix}_conv")}
    b = bank(seed + 3)
    for cfg in _DIRECT_DW:
        b.dw(*cfg)
    out[f"{prefix}_dw"] = b.model(f"{prefix}_dw")
    b = bank(seed + 2)
    for cfg in _DIRECT_FC:
        b.fc(*cfg)
    if narrow:
        b.fc(256, 32, 1, narrow=True)
    for cfg in _DIRECT_POOL:
        b.pool(*cfg)
    for cfg in _DIRECT_ELEMENTWISE:
        b.binary(*cfg)
    for cfg in _DIRECT_SOFTMAX:
        b.softmax(*cfg)
    out[f"{prefix}_misc"] = b.model(f"{prefix}_misc")
    return out


#: Data movement (pj_copy, pj_fill: contiguous rows, strided gathers, fills, concats),
#: LEAKY_RELU (scales that take the left- and right-shift requantization paths) and QUANTIZE /
#: DEQUANTIZE between float32 and the bank's integer type.
_DATA = [
    ("strided_slice", (1, 8, 166, 8), (0, 2, 0, 0), (1, 8, 166, 8), (1, 1, 1, 1)),
    ("strided_slice", (1, 12, 20, 6), (0, 0, 4, 0), (1, 12, 16, 6), (1, 1, 1, 1)),
    ("strided_slice", (1, 10, 40, 4), (0, 0, 0, 0), (1, 10, 40, 4), (1, 2, 2, 1)),
    ("strided_slice", (2, 300), (0, 10), (2, 290), (1, 3)),
    ("strided_slice", (1, 6, 6, 32), (0, 1, 1, 0), (1, 5, 5, 16), (1, 1, 1, 1)),
    ("pad", (1, 2, 160, 8), ((0, 0), (0, 0), (3, 3), (0, 0))),
    ("pad", (1, 12, 12, 16), ((0, 0), (1, 1), (1, 1), (0, 0))),
    ("pad", (1, 4, 30, 2), ((0, 0), (2, 0), (0, 0), (0, 0))),
    ("pad", (500,), ((12, 12),)),
    ("concat", [(1, 8, 8, 16), (1, 8, 8, 8)], 3),
    ("concat", [(1, 4, 20, 4), (1, 4, 20, 4), (1, 4, 20, 4)], 1),
    ("concat", [(2, 200), (2, 56)], 1),
    ("leaky_relu", (1, 2, 160, 8), 0.3, 0.002, 0.002),
    ("leaky_relu", (1, 2, 80, 16), 0.3, 0.02, 0.012),
    ("leaky_relu", (1, 40, 10), 0.1, 0.01, 0.02),
    ("leaky_relu", (1, 30, 16), 0.3, 0.01, 0.006),
    ("leaky_relu", (300,), 0.2, 0.004, 0.003),
    ("leaky_relu", (1, 8, 8, 12), 0.3, 0.006, 0.006),
    ("quantize_float", (1, 500)), ("quantize_float", (1, 8, 8, 8)), ("quantize_float", (40,)),
    ("dequantize", (1, 400)), ("dequantize", (10, 10)), ("dequantize", (1, 4, 4, 32)),
]


#: int16x8 only: TRANSPOSE_CONV (pj_tconv_s16) and QUANTIZE between integer types.
_DATA_INT16 = [
    ("tconv", 1, 5, 64, 64, 3, 4, 1, 2), ("tconv", 2, 20, 16, 8, 3, 4, 1, 2),
    ("tconv", 4, 4, 8, 16, 3, 3, 2, 2), ("tconv", 3, 10, 4, 4, 2, 2, 2, 2, "SAME"),
    ("tconv", 1, 12, 32, 16, 1, 4, 1, 2), ("tconv", 2, 8, 8, 8, 3, 3, 1, 1),
    ("tconv", 1, 20, 16, 16, 1, 4, 1, 2), ("tconv", 2, 6, 24, 12, 3, 4, 1, 2),
    ("requantize", (1, 2, 160, 2), ("int32", "int16"), (1.5e-7, 0.0009)),
    ("requantize", (1, 2, 160, 2), ("int16", "int32"), (0.0005, 1.5e-7)),
    ("requantize", (400,), ("int16", "int16"), (0.002, 0.003)),
    ("requantize", (1, 10, 30), ("int16", "int16"), (0.004, 0.001)),
    ("requantize", (256,), ("int32", "int16"), (3e-7, 0.0004)),
]


#: int8 only: SVDF (pj_svdf_s8), SOFTMAX int8 -> int16 (pj_softmax_s8_s16), MUL and SUB
#: (pj_mul_s8, pj_addsub_s8, with broadcasting), LOGISTIC / TANH (pj_lut_s8) and
#: TRANSPOSE_CONV (pj_tconv_s8).
_DATA_INT8 = [
    ("svdf", 96, 64, 8, 1), ("svdf", 16, 64, 8, 1), ("svdf", 16, 32, 32, 1),
    ("svdf", 32, 32, 32, 1), ("svdf", 40, 24, 10, 2), ("svdf", 64, 16, 20, 1),
    ("svdf", 48, 40, 16, 1), ("svdf", 8, 16, 4, 1), ("svdf", 24, 48, 6, 3),
    ("svdf", 96, 64, 8, 1, "int8"), ("svdf", 16, 32, 32, 1, "int8"),
    ("svdf", 40, 24, 10, 2, "int8"), ("svdf", 32, 48, 12, 1, "int8"),
    ("softmax_to_int16", 1, 2), ("softmax_to_int16", 1, 12), ("softmax_to_int16", 4, 10),
    ("softmax_to_int16", 2, 40),
    ("binary", "MUL", (1, 8, 8, 16)), ("binary", "MUL", (1, 8, 8, 16), (1, 1, 1, 16)),
    ("binary", "MUL", (300,)), ("binary", "MUL", (1, 4, 4, 32), (1, 4, 4, 32), "RELU"),
    ("binary", "MUL", (1, 5, 5, 20)), ("binary", "MUL", (2, 7, 7, 6), (1, 1, 1, 6)),
    ("binary", "MUL", (1, 16, 16, 4)),
    ("binary", "SUB", (1, 100)), ("binary", "SUB", (1, 6, 6, 8)),
    ("binary", "SUB", (1, 8, 8, 16), (1, 1, 1, 16)), ("binary", "SUB", (2, 250)),
    ("unary", "LOGISTIC", (1, 500), (1 / 256, -128)),
    ("unary", "LOGISTIC", (1, 4, 4, 16), (1 / 256, -128)),
    ("unary", "TANH", (1, 8, 8, 8), (1 / 128, 0)), ("unary", "TANH", (64,), (1 / 128, 0)),
    ("tconv", 1, 5, 32, 32, 3, 4, 1, 2), ("tconv", 2, 20, 16, 8, 3, 4, 1, 2),
    ("tconv", 4, 4, 8, 16, 3, 3, 2, 2), ("tconv", 3, 10, 4, 4, 2, 2, 2, 2, "SAME"),
    ("tconv", 1, 12, 32, 16, 1, 4, 1, 2), ("tconv", 2, 8, 8, 8, 3, 3, 1, 1),
    ("tconv", 1, 20, 16, 16, 1, 4, 1, 2), ("tconv", 2, 6, 24, 12, 3, 4, 1, 2),
]


def _data_bank(bank, seed: int, name: str, extra=()) -> dict[str, Model]:
    b = bank(seed)
    for kind, *args in (*_DATA, *extra):
        getattr(b, kind)(*args)
    return {name: b.model(name)}


def int16_banks(seed: int = 0) -> dict[str, Model]:
    """int16x8 single-op configurations (picojoule's 16x8 kernels)."""
    return {**_direct_banks(_Int16Bank, seed + 20, "i16", narrow=True),
            **_data_bank(_Int16Bank, seed + 25, "i16_data", _DATA_INT16)}


def float_banks(seed: int = 0) -> dict[str, Model]:
    """float32 single-op configurations (picojoule's pj_*_f32 kernels and the hybrid
    convolution), kept in a few graphs small enough for the boards' RAM."""
    out = _direct_banks(_FloatBank, seed + 10, "f32", narrow=False)
    b = _FloatBank(seed + 11)
    for h, w, cin, cout, k, s, pad in [
            (20, 8, 1, 16, (5, 3), 2, "SAME"), (12, 6, 32, 32, 1, 1, "SAME"),
            (8, 8, 16, 24, 3, 1, "SAME"), (25, 5, 1, 24, (10, 4), 2, "SAME"),
            (6, 6, 48, 16, 1, 1, "VALID"), (20, 6, 48, 40, 1, 1, "SAME"),
            (10, 10, 16, 32, 1, 1, "SAME"), (16, 4, 32, 8, 1, 1, "SAME"),
            (6, 6, 8, 8, 3, 1, "SAME"), (30, 4, 24, 48, 1, 1, "SAME"),
            (12, 12, 4, 8, 3, 2, "SAME"), (3, 3, 96, 12, 1, 1, "SAME")]:
        b.conv(h, w, cin, cout, k, s, pad, hybrid=True)
    for h, w, c, k, s, pad, mult in [
            (16, 16, 16, 3, 1, "SAME", 1), (12, 12, 24, 3, 2, "SAME", 1),
            (25, 5, 64, 3, 1, "SAME", 1), (8, 8, 6, 3, 1, "SAME", 2),
            (10, 10, 7, 5, 1, "VALID", 1), (6, 6, 32, 3, 1, "VALID", 1)]:
        b.dw(h, w, c, k, s, pad, mult, hybrid=True)
    for k, n, batches, asym in [(64, 32, 1, False), (250, 10, 1, True), (37, 13, 2, False),
                                (128, 64, 1, True), (16, 100, 3, False)]:
        b.fc(k, n, batches, hybrid=True, asymmetric=asym)
    out["f32_hybrid"] = b.model("f32_hybrid")
    return out


#: LSTM rows (batch, steps, inputs, units, time_major, cell_clip): shapes of keyword, sensor
#: and sequence models, none of a validation model's.
_LSTM = [(1, 10, 16, 8, False, 0.0), (1, 6, 40, 24, False, 0.0), (2, 5, 12, 16, True, 3.0),
         (1, 20, 6, 12, False, 0.0), (1, 4, 64, 32, False, 0.0), (3, 3, 10, 20, False, 1.0)]


def lstm_banks(seed: int = 0) -> dict[str, Model]:
    """UNIDIRECTIONAL_SEQUENCE_LSTM in float32 (pj_lstm_f32), int8 (pj_lstm_s8) and int16x8
    (pj_lstm_s16)."""
    out = {}
    for k, dtype in enumerate(("float32", "int8", "int16")):
        b = _Bank(seed + 30 + k)
        for row in _LSTM:
            b.lstm(*row, dtype=dtype)
        out[f"lstm_{dtype}"] = b.model(f"lstm_{dtype}")
    return out


def banks(seed: int = 0) -> dict[str, Model]:
    """Single-op configurations of varied shapes (and one in-place chain), a few firmware
    builds in all."""
    out = {}
    b = _Bank(seed)
    for h, w, cin, cout, k, s, pad in [
            (16, 16, 8, 16, 1, 1, "SAME"), (12, 12, 32, 32, 1, 1, "SAME"),
            (8, 8, 64, 64, 1, 1, "SAME"), (6, 6, 96, 128, 1, 1, "SAME"),
            (24, 24, 3, 8, 3, 2, "SAME"), (30, 30, 3, 16, 3, 1, "SAME"),
            (16, 16, 16, 16, 3, 1, "SAME"), (10, 10, 32, 48, 3, 2, "SAME"),
            (20, 8, 1, 16, (5, 3), 1, "SAME"), (9, 9, 24, 20, 3, 1, "VALID"),
            (4, 4, 128, 40, 1, 1, "SAME"), (14, 6, 5, 6, (3, 5), 2, "SAME"),
            (3, 3, 64, 256, 1, 1, "SAME"), (16, 16, 10, 12, 2, 2, "VALID"),
            (5, 5, 8, 8, 1, 1, "SAME"), (2, 2, 16, 4, 1, 1, "SAME"), (1, 1, 64, 10, 1, 1, "SAME"),
            (7, 3, 2, 8, 3, 1, "SAME"), (30, 30, 4, 8, 1, 1, "SAME"),
            (20, 20, 8, 24, 1, 1, "SAME"), (16, 16, 24, 16, 1, 1, "SAME"),
            (20, 20, 12, 12, 1, 1, "VALID"), (40, 40, 3, 8, 3, 2, "SAME"),
            (18, 18, 6, 16, 1, 1, "SAME"), (12, 12, 16, 16, 1, 2, "SAME"),
            (40, 40, 8, 12, 1, 1, "SAME"), (28, 28, 12, 24, 1, 1, "SAME")]:
        b.conv(h, w, cin, cout, k, s, pad)
    for h, w, cin, cout, k, s, pad in [
            (11, 11, 64, 64, 1, 1, "SAME"), (6, 6, 128, 96, 1, 1, "SAME"),
            (16, 16, 16, 24, 3, 1, "SAME"), (20, 20, 4, 16, 3, 2, "SAME"),
            (3, 3, 32, 200, 1, 1, "SAME"), (10, 10, 24, 8, 1, 1, "VALID")]:
        b.conv(h, w, cin, cout, k, s, pad, general=True)
    out["conv"] = b.model("conv")
    # Activation range = int8 range (what most published models give): the assembly paths
    # (a bank of its own: one firmware holding every node's tensors must fit the boards' RAM).
    b = _Bank(seed + 3)
    for h, w, cin, cout, k, s, pad in [
            (16, 16, 16, 32, 1, 1, "SAME"), (8, 8, 64, 128, 1, 1, "SAME"),
            (4, 4, 256, 256, 1, 1, "SAME"), (12, 12, 32, 24, 1, 1, "SAME"),
            (24, 24, 3, 8, 3, 2, "SAME"), (20, 20, 1, 16, (6, 4), 2, "SAME"),
            (12, 12, 16, 16, 3, 1, "SAME"), (16, 16, 8, 32, 3, 2, "SAME"),
            (9, 9, 6, 10, 3, 1, "VALID"), (7, 7, 32, 30, 1, 1, "SAME"),
            (2, 2, 128, 64, 1, 1, "SAME"), (30, 30, 4, 12, 1, 1, "SAME")]:
        b.conv(h, w, cin, cout, k, s, pad, full=True)
    out["conv_full"] = b.model("conv_full")
    b = _Bank(seed + 1)
    for h, w, c, k, s, pad, mult in [
            (24, 24, 16, 3, 1, "SAME", 1), (11, 11, 64, 3, 1, "SAME", 1),
            (22, 22, 32, 3, 2, "SAME", 1), (7, 7, 128, 3, 1, "SAME", 1),
            (20, 10, 8, 5, 1, "SAME", 1), (16, 16, 12, 3, 1, "VALID", 1),
            (32, 32, 1, 3, 2, "SAME", 8), (30, 20, 1, (8, 4), 2, "SAME", 4),
            (10, 10, 6, 3, 1, "SAME", 1), (12, 12, 3, 3, 1, "SAME", 2),
            (8, 8, 20, 4, 2, "SAME", 1), (4, 4, 256, 3, 1, "SAME", 1),
            (25, 20, 1, (10, 8), 2, "SAME", 8), (14, 14, 5, 3, 2, "SAME", 1),
            (8, 8, 2, 3, 1, "SAME", 6), (12, 6, 16, 3, 1, "SAME", 2),
            (40, 40, 8, 3, 2, "SAME", 1), (20, 20, 24, 3, 2, "SAME", 1),
            (36, 36, 12, 3, 1, "SAME", 1), (10, 10, 96, 3, 2, "SAME", 1)]:
        b.dw(h, w, c, k, s, pad, mult)
    for h, w, c, k, s, pad, mult in [
            (12, 12, 32, 3, 1, "SAME", 1), (7, 7, 128, 3, 2, "SAME", 1),
            (16, 16, 1, 3, 1, "SAME", 4), (10, 10, 6, 3, 1, "SAME", 1),
            (20, 20, 2, 5, 2, "SAME", 3), (9, 9, 10, 3, 1, "VALID", 1)]:
        b.dw(h, w, c, k, s, pad, mult, general=True)
    out["dw"] = b.model("dw")
    b = _Bank(seed + 4)
    for h, w, c, k, s, pad, w128 in [
            (24, 24, 16, 3, 1, "SAME", False), (11, 11, 64, 3, 1, "SAME", False),
            (22, 22, 32, 3, 2, "SAME", False), (7, 7, 128, 3, 1, "SAME", False),
            (30, 8, 8, 3, 1, "SAME", False), (16, 16, 12, 3, 2, "VALID", False),
            (10, 10, 48, 5, 1, "SAME", False), (4, 4, 256, 3, 2, "SAME", False),
            (20, 20, 32, 3, 1, "SAME", True), (10, 10, 64, 3, 2, "SAME", True),
            (8, 8, 16, (1, 5), 1, "SAME", False), (40, 12, 4, 3, 1, "SAME", False)]:
        b.dw(h, w, c, k, s, pad, full=True, w128=w128)
    out["dw_full"] = b.model("dw_full")
    b = _Bank(seed + 5)
    b.chain(24, 24, (8, 16, 24, 32, 48, 24), (1, 1, 2, 1, 1))
    out["chain"] = b.model("chain")
    b = _Bank(seed + 2)
    for k, n, bt in [(640, 128, 1), (128, 128, 1), (128, 8, 1), (64, 12, 1), (1000, 10, 1),
                     (256, 64, 1), (33, 17, 1), (96, 40, 2), (2000, 4, 1), (16, 640, 1)]:
        b.fc(k, n, bt)
    for k, n, bt in [(256, 32, 1), (72, 10, 1), (500, 2, 1)]:
        b.fc(k, n, bt, general=True)
    for h, w, c, k, s in [(7, 7, 64, 7, 7), (25, 5, 64, 5, 5), (12, 12, 16, 2, 2),
                          (6, 6, 32, 3, 1)]:
        b.pool("AVERAGE_POOL_2D", h, w, c, k, s)
    for shape in [(1, 30, 32, 16), (1, 16, 16, 28), (1, 8, 8, 56), (1, 100), (1, 7, 7, 3),
                  (1, 4, 4, 40), (1, 1024)]:
        b.binary("ADD", shape, act="RELU")
    for rows, depth in [(1, 11), (1, 100), (4, 32), (1, 5), (16, 12)]:
        b.softmax(rows, depth)
    out["misc"] = b.model("misc")
    out.update(_data_bank(_Bank, seed + 5, "data", _DATA_INT8))
    return out


def all_banks(seed: int = 0) -> dict[str, Model]:
    """Every bank the fit measures: int8, float32 and hybrid, int16x8, LSTM."""
    return {**banks(seed), **float_banks(seed), **int16_banks(seed), **lstm_banks(seed)}


# ----------------------------------------------------------------------------- fit
#: Rows are weighted by measured**-WEIGHT_POWER: 1 fits relative error (small nodes count as
#: much as big ones), 0.5 leans toward the big nodes that dominate a model's total.
WEIGHT_POWER = 0.5


def fit_variant(samples: list[Sample]) -> dict[str, float]:
    """NNLS fit of instructions = sum(coef * feature), relative-error weighted."""
    from scipy.optimize import nnls

    names = sorted({k for s in samples for k in s.feats})
    X = np.array([[s.feats.get(k, 0.0) for k in names] for s in samples], float)
    y = np.array([s.instructions for s in samples], float)
    wgt = 1.0 / np.maximum(y, 1.0) ** WEIGHT_POWER
    scale = np.maximum(np.abs(X).max(axis=0), 1e-12)
    coef, _ = nnls((X * wgt[:, None]) / scale, y * wgt, maxiter=2000)
    coef = coef / scale
    return {k: float(c) for k, c in zip(names, coef)}


def fit(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """Coefficients per variant."""
    by: dict[str, list[Sample]] = {}
    for s in samples:
        by.setdefault(s.variant, []).append(s)
    out = {v: fit_variant(ss) for v, ss in sorted(by.items())}
    # Per-op models over all of an op's int8 kernels, for int8 variants a model meets
    # unfitted (the estimate uses them for int8 nodes only: float32 kernels cost several
    # times more instructions per MAC).
    by_op: dict[str, list[Sample]] = {}
    for s in samples:
        if s.dtype == "int8" and s.op != "COPY_IO":
            by_op.setdefault(s.op, []).append(s)
    for op, ss in sorted(by_op.items()):
        if op not in out:
            out[op] = fit_variant(ss)
    return out


def predict_node(coefs: dict[str, dict[str, float]], node: Node, kernel: str | None
                 ) -> float:
    """Predicted instructions for one node (0 for free ops, NaN for an unfitted variant)."""
    variant, f = features(node, kernel)
    if variant == "free":
        return 0.0
    c = coefs.get(variant)
    if c is None:
        return float("nan")
    return float(sum(c.get(k, 0.0) * v for k, v in f.items()))


def predict_model(coefs: dict[str, dict[str, float]], model: Model, core_class: str) -> float:
    """Predicted instructions of one inference: every node, and the copies of the inputs
    and outputs (what :func:`measure_total` counts)."""
    kernels = kernel_names(model, C_TARGET[core_class], CLASSES[core_class][2])
    io = coefs.get("io_copies", {})
    return float(sum(predict_node(coefs, n, kernels.get(k))
                     for k, n in enumerate(model.main.nodes))
                 + sum(io.get(k, 0.0) * v for k, v in io_features(model).items()))
