"""Working memory an op's kernel needs besides its inputs and outputs.

Two kinds, both counted in RAM:

- **scratch**: bytes needed only while the op runs (planned in the arena as a buffer
  alive during that one step);
- **state**: bytes an op keeps between invocations outside any tensor (the audio front
  end's noise estimate): kept outside the arena, added to the RAM total.

Two kernel families are tabulated. ``"picojoule"`` (the default) is what picojoule's
own generated kernels need: convolutions, pooling, fully-connected and elementwise ops
are direct loops over the output with accumulators in registers, so they need none;
ops whose algorithm needs intermediate arrays use TFLM's reference figures (cited per
op). ``"cmsis-nn"`` gives what TFLM + CMSIS-NN (DSP extension, no MVE) requests,
for comparison. Sources are TFLM @90b983c (``tensorflow/lite/micro/kernels/``) and the
CMSIS-NN ``*_get_buffer_size`` functions it calls.
"""

from __future__ import annotations

import numpy as np

from picojoule.ir import Node
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.registry import REGISTRY

#: op -> (where the figure comes from), for docs and reports.
SOURCES = {
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "TFLM unidirectional_sequence_lstm.cc: 4 gate buffers of "
                                    "batch x n_cell x sizeof(cell state)",
    "SVDF": "TFLM svdf_common.cc: batch x filters x 4 (+ batch x units x 4 for int8)",
    "TRANSPOSE_CONV": "TFLM transpose_conv.cc: output elements x 4 (int8) / x 8 (int16)",
    "CUSTOM:SignalFilterBankSpectralSubtraction": "state: num_channels x uint32 noise estimate",
    "CONV_2D (cmsis-nn)": "arm_convolve_s8_get_buffer_size: 2 x Cin x kh x kw x int16; "
                          "0 for arm_convolve_1x1_s8_fast",
    "DEPTHWISE_CONV_2D (cmsis-nn)": "arm_depthwise_conv_s8_opt_get_buffer_size: "
                                    "Cin x kh x kw x int16; 0 for the 3x3 kernel",
    "AVERAGE_POOL_2D (cmsis-nn)": "arm_avgpool_s8_get_buffer_size: Cin x int32",
}


def _itemsize(dtype: str) -> int:
    return int(np.dtype(to_numpy(dtype)).itemsize)


def scratch_bytes(node: Node, kernels: str = "picojoule") -> int:
    """Bytes of scratch ``node``'s kernel needs while it runs."""
    op = node.op
    info = REGISTRY.get(op)
    spec = info.extra.get("c_kernel") if info is not None else None
    if spec is not None and spec[3] is not None:  # an op registered with custom_op(scratch=)
        return int(spec[3](node))
    x = node.input(0)
    y = node.outputs[0] if node.outputs else None
    if op == "UNIDIRECTIONAL_SEQUENCE_LSTM":
        c = node.input(19)
        return 4 * (c.size * _itemsize(c.dtype) if c is not None else 0)
    if op == "SVDF" and x is not None and y is not None:
        wt = node.input(2)
        filters = wt.shape[0] if wt is not None else 0
        batch = x.shape[0]
        return batch * filters * 4 + (y.size * 4 if x.dtype == "int8" else 0)
    if op == "TRANSPOSE_CONV" and y is not None:
        x = node.input(2)
        if x is not None and x.dtype in ("int8", "int16"):
            return y.size * (4 if x.dtype == "int8" else 8)
    if kernels == "cmsis-nn" and x is not None and x.dtype == "int8" and len(x.shape) == 4:
        cin = x.shape[3]
        a = node.attrs
        if op == "CONV_2D":
            w = node.input(1)
            kh, kw = w.shape[1], w.shape[2]
            one = (kh == kw == 1 and a.get("stride_h", 1) == a.get("stride_w", 1) == 1
                   and a.get("padding") == "VALID") or (kh == kw == 1)
            return 0 if one else 2 * cin * kh * kw * 2
        if op == "DEPTHWISE_CONV_2D":
            w = node.input(1)
            kh, kw = w.shape[1], w.shape[2]
            return 0 if (kh, kw) == (3, 3) else cin * kh * kw * 2
        if op == "AVERAGE_POOL_2D":
            return cin * 4
    return 0


def state_bytes(node: Node) -> int:
    """Bytes ``node`` keeps between invocations outside tensors (not planned in the arena)."""
    if node.op == "CUSTOM:SignalFilterBankSpectralSubtraction" and node.outputs:
        return node.outputs[-1].size * 4
    if node.op in ("CUSTOM:SignalDelay", "CUSTOM:SignalFramer", "CUSTOM:SignalStacker",
                   "CUSTOM:SignalOverlapAdd") and node.outputs:
        # FIFOs of at most a few frames: bound them by twice the output.
        return 2 * node.outputs[0].nbytes
    return 0
