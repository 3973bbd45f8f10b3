"""ONNX LSTM and GRU, unrolled over the (static) sequence into FULLY_CONNECTED and elementwise ops.

Why unrolled rather than UNIDIRECTIONAL_SEQUENCE_LSTM: that op keeps its hidden and cell
state in variable tensors that persist from one invocation to the next and has no Y_h /
Y_c outputs, while an ONNX LSTM starts every run from ``initial_h`` / ``initial_c`` (or
zeros) and may return its final states. The unrolled graph has exactly ONNX's semantics
(including reverse and bidirectional directions, peepholes, initial states and both
layouts); the input projection of all time steps is one FULLY_CONNECTED. (``fused_lstm``
maps a forward LSTM to UNIDIRECTIONAL_SEQUENCE_LSTM where that fits, for float models: the
quantizer does not choose TFLM's integer LSTM scales yet. A GRU has no TFLM op.)

Every step reads the same constant values: the recurrent weights and biases (and the
SLICE / RESHAPE operands) are one Value each, read by all the steps' nodes, so the model
holds the layer's parameters once (the quantizer quantizes a shared constant once, the
.tflite writer stores one buffer, the C generator one array). The values each step
computes are tagged as one tensor of the cell (``meta["quant_group"]``): quantized alike,
the steps' requantization constants and lookup tables are identical too, stored once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from picojoule.importers.onnx_ops import handles

_F32 = np.float32
_NONE = {"fused_activation_function": "NONE"}
_FC = {"keep_num_dims": False, "weights_format": 0, **_NONE}


def _dec(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


class _Ops:
    """Tiny emit helpers for the unrolled cell."""

    def __init__(self, imp) -> None:
        self.imp = imp
        self._consts: dict[tuple, Any] = {}
        self._cell: str | None = None
        self._count = 0

    def step(self, cell: str | None) -> None:
        """Start a time step of ``cell`` (None: no step). Each value emitted in the step is
        tagged ``meta["quant_group"] = (cell, k)`` for the k-th value of the step: the same
        tensor of the cell at every step, which the quantizer gives one quantization (so
        the steps' requantization constants and tables are identical, stored once)."""
        self._cell = cell
        self._count = 0

    def emit(self, op: str, inputs: list, shape, dtype: str = "float32",
             attrs: dict | None = None, **kw: Any):
        v = self.imp.emit(op, inputs, shape, dtype, attrs, **kw)
        if self._cell is not None:
            v.meta["quant_group"] = (self._cell, self._count)
            self._count += 1
        return v

    def const(self, data: np.ndarray, name: str):
        """The constant Value holding ``data``: one Value per distinct content, so every
        time step reads the same tensor instead of a copy of it."""
        arr = np.ascontiguousarray(data)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        v = self._consts.get(key)
        if v is None:
            v = self._consts[key] = self.imp.const(arr, name)
        return v

    def fc(self, x, w: np.ndarray, b: np.ndarray | None):
        return self.emit("FULLY_CONNECTED", [
            x, self.const(w.astype(_F32), "weights"),
            None if b is None else self.const(b.astype(_F32), "bias")],
            (x.shape[0], w.shape[0]), "float32", _FC)

    def rows(self, x, start: int, count: int):
        """x[start:start+count, :]"""
        if start == 0 and count == x.shape[0]:
            return x
        return self.emit("SLICE", [x, self.const(np.array([start, 0], np.int32), "begin"),
                                   self.const(np.array([count, x.shape[1]], np.int32), "size")],
                         (count, x.shape[1]), x.dtype)

    def cols(self, x, start: int, count: int):
        """x[:, start:start+count]"""
        return self.emit("SLICE", [x, self.const(np.array([0, start], np.int32), "begin"),
                                   self.const(np.array([x.shape[0], count], np.int32), "size")],
                         (x.shape[0], count), x.dtype)

    def reshape(self, v, shape, out: str | None = None):
        shape = tuple(int(d) for d in shape)
        if shape == v.shape and out is None:
            return v
        return self.emit("RESHAPE", [v, self.const(np.array(shape, np.int32), "shape")],
                         shape, v.dtype, {"new_shape": list(shape)}, out=out, quant=v.quant)

    def bin(self, op: str, a, b):
        shape = tuple(np.broadcast_shapes(a.shape, b.shape))
        return self.emit(op, [a, b], shape, "float32", _NONE)

    def un(self, op: str, a):
        return self.emit(op, [a], a.shape, "float32")

    def stack(self, parts, axis: int, out: str | None = None):
        shape = list(parts[0].shape)
        shape[axis] = sum(p.shape[axis] for p in parts)
        if len(parts) == 1:
            return self.reshape(parts[0], shape, out=out)
        return self.emit("CONCATENATION", parts, shape, "float32", {"axis": axis, **_NONE},
                         out=out)


def _common(imp, node, a, gates: int):
    """Shared argument handling: time-major input rows, per-direction weights, states."""
    if _dec(a.get("direction", "forward")) not in ("forward", "reverse", "bidirectional"):
        raise imp.unsupported(f"direction {a.get('direction')}")
    if "clip" in a:
        raise imp.unsupported("cell clipping")
    x = imp.value(node.input[0])
    layout = int(a.get("layout", 0))
    if layout:
        x = imp.transpose(x, (1, 0, 2))
    steps, batch, n_in = x.shape
    w = imp.cdata(node.input[1], "W").astype(np.float64)
    r = imp.cdata(node.input[2], "R").astype(np.float64)
    dirs, hidden = w.shape[0], r.shape[2]
    b = (imp.cdata(node.input[3], "B").astype(np.float64) if len(node.input) > 3
         and node.input[3] else np.zeros((dirs, 2 * gates * hidden)))
    if len(node.input) > 4 and node.input[4]:
        lens = imp.cdata(node.input[4], "sequence_lens")
        if np.any(lens != steps):
            raise imp.unsupported("sequence_lens shorter than the sequence")
    ops = _Ops(imp)
    x2 = imp.reshape(x, (steps * batch, n_in))

    def state(index: int, d: int):
        if len(node.input) > index and node.input[index]:
            s = imp.value(node.input[index])
            if layout:
                s = imp.transpose(s, (1, 0, 2))
            part = imp.emit("SLICE", [s, imp.const(np.array([d, 0, 0], np.int32), "begin"),
                                      imp.const(np.array([1, batch, hidden], np.int32),
                                                "size")], (1, batch, hidden), "float32")
            return imp.reshape(part, (batch, hidden))
        return imp.const(np.zeros((batch, hidden), _F32), "zero_state")

    return ops, x2, steps, batch, hidden, dirs, w, r, b, layout, state


def _outputs(imp, node, ops, ys_per_dir, finals: list[list], steps, batch, hidden, layout):
    """Bind Y (T, D, B, H) and the final states (D, B, H), in ONNX's layout."""
    dirs = len(ys_per_dir)
    if len(node.output) > 0 and node.output[0]:
        per_dir = []
        for ys in ys_per_dir:
            parts = [ops.reshape(h, (1, 1, batch, hidden)) for h in ys]
            per_dir.append(ops.stack(parts, 0))
        if layout:
            y = ops.stack(per_dir, 1)
            imp.transpose(y, (2, 0, 1, 3), out=node.output[0])
        else:
            ops.stack(per_dir, 1, out=node.output[0])
    for k, final in enumerate(finals):
        name = node.output[k + 1] if len(node.output) > k + 1 else ""
        if not name:
            continue
        parts = [ops.reshape(s, (1, batch, hidden)) for s in final]
        if layout:
            imp.transpose(ops.stack(parts, 0), (1, 0, 2), out=name)
        else:
            ops.stack(parts, 0, out=name)
    del dirs


@handles("LSTM")
def lstm(imp, node, a) -> None:
    """ONNX LSTM (gate order i, o, f, c), unrolled; peepholes supported."""
    acts = [_dec(v) for v in a.get("activations", [])]
    if acts and [x.lower() for x in acts] not in (["sigmoid", "tanh", "tanh"],
                                                  ["sigmoid", "tanh", "tanh"] * 2):
        raise imp.unsupported(f"activations {acts}")
    if int(a.get("input_forget", 0)):
        raise imp.unsupported("input_forget (coupled gates)")
    if imp.options.get("fused_lstm") and _fused_lstm(imp, node, a):
        return
    ops, x2, steps, batch, H, dirs, w, r, b, layout, state = _common(imp, node, a, 4)
    peep = (imp.cdata(node.input[7], "P").astype(_F32) if len(node.input) > 7
            and node.input[7] else None)
    direction = _dec(a.get("direction", "forward"))
    ys_all, h_fin, c_fin = [], [], []
    for d in range(dirs):
        reverse = direction == "reverse" or d == 1
        gx = ops.fc(x2, w[d], b[d, :4 * H] + b[d, 4 * H:])          # (T*B, 4H)
        h, c = state(5, d), state(6, d)
        pi = po = pf = None
        if peep is not None:
            pi, po, pf = (imp.const(peep[d, k * H:(k + 1) * H], "peephole") for k in range(3))
        ys = [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            ops.step(f"{node.name}:{','.join(node.output)}/{d}")
            g = ops.bin("ADD", ops.rows(gx, t * batch, batch), ops.fc(h, r[d], None))
            gi, go, gf, gc = (ops.cols(g, k * H, H) for k in range(4))
            if pi is not None:
                gi = ops.bin("ADD", gi, ops.bin("MUL", c, pi))
                gf = ops.bin("ADD", gf, ops.bin("MUL", c, pf))
            i, f = ops.un("LOGISTIC", gi), ops.un("LOGISTIC", gf)
            cand = ops.un("TANH", gc)
            c = ops.bin("ADD", ops.bin("MUL", f, c), ops.bin("MUL", i, cand))
            if po is not None:
                go = ops.bin("ADD", go, ops.bin("MUL", c, po))
            o = ops.un("LOGISTIC", go)
            h = ops.bin("MUL", o, ops.un("TANH", c))
            ys[t] = h
        ops.step(None)
        ys_all.append(ys)
        h_fin.append(h)
        c_fin.append(c)
    _outputs(imp, node, ops, ys_all, [h_fin, c_fin], steps, batch, H, layout)


def _fused_lstm(imp, node, a) -> bool:
    """UNIDIRECTIONAL_SEQUENCE_LSTM when the ONNX LSTM fits it: forward, no peepholes,
    clip or initial states, Y_c unused. Its hidden and cell state are variable tensors that
    persist between invocations: reset them (``Interpreter.reset()``, TFLM's
    ``ResetVariableTensors``) before each new sequence to get ONNX's semantics."""
    names = list(node.input) + [""] * (8 - len(node.input))
    outs = list(node.output) + [""] * (3 - len(node.output))
    zero_state = all(not n or imp.is_const(n) and not np.any(imp.consts[n]) for n in names[5:7])
    if (_dec(a.get("direction", "forward")) != "forward" or "clip" in a or names[7]
            or not zero_state or outs[2] and outs[2] in imp.consumed
            or int(a.get("input_forget", 0)) or names[4]):
        return False
    x = imp.value(node.input[0])
    layout = int(a.get("layout", 0))
    w = imp.cdata(node.input[1], "W").astype(np.float64)[0]
    r = imp.cdata(node.input[2], "R").astype(np.float64)[0]
    H = r.shape[1]
    b = (imp.cdata(names[3], "B").astype(np.float64)[0] if names[3]
         else np.zeros(8 * H))
    bias = b[:4 * H] + b[4 * H:]
    steps, batch = (x.shape[1], x.shape[0]) if layout else (x.shape[0], x.shape[1])
    onnx_gate = {"input": 0, "output": 1, "forget": 2, "cell": 3}
    order = ("input", "forget", "cell", "output")     # TFLite's tensor order
    ins: list = [x]
    ins += [imp.const(w[onnx_gate[g] * H:(onnx_gate[g] + 1) * H].astype(_F32), f"w_{g}")
            for g in order]
    ins += [imp.const(r[onnx_gate[g] * H:(onnx_gate[g] + 1) * H].astype(_F32), f"r_{g}")
            for g in order]
    ins += [None, None, None]
    ins += [imp.const(bias[onnx_gate[g] * H:(onnx_gate[g] + 1) * H].astype(_F32), f"b_{g}")
            for g in order]
    ins += [None, None]
    for what in ("h", "c"):
        ins.append(imp._new_value(f"{node.name or 'lstm'}/{what}_state", (batch, H), "float32",
                                  data=np.zeros((batch, H), _F32), variable=True))
    ins += [None] * 4
    y_shape = (batch, steps, H) if layout else (steps, batch, H)
    y = imp.emit("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, y_shape, "float32",
                 {"fused_activation_function": "TANH", "cell_clip": 0.0, "proj_clip": 0.0,
                  "time_major": not layout, "asymmetric_quantize_inputs": False,
                  "diagonal_recurrent_tensors": False})
    if outs[0]:
        imp.reshape(y, (batch, steps, 1, H) if layout else (steps, 1, batch, H), out=outs[0])
    if outs[1]:
        begin = [0, steps - 1, 0] if layout else [steps - 1, 0, 0]
        size = [batch, 1, H] if layout else [1, batch, H]
        last = imp.emit("SLICE", [y, imp.const(np.array(begin, np.int32), "begin"),
                                  imp.const(np.array(size, np.int32), "size")], size)
        imp.reshape(last, (batch, 1, H) if layout else (1, batch, H), out=outs[1])
    return True


@handles("GRU")
def gru(imp, node, a) -> None:
    """ONNX GRU (gate order z, r, h), unrolled; both linear_before_reset variants."""
    acts = [_dec(v) for v in a.get("activations", [])]
    if acts and [x.lower() for x in acts] not in (["sigmoid", "tanh"], ["sigmoid", "tanh"] * 2):
        raise imp.unsupported(f"activations {acts}")
    ops, x2, steps, batch, H, dirs, w, r, b, layout, state = _common(imp, node, a, 3)
    lbr = int(a.get("linear_before_reset", 0))
    direction = _dec(a.get("direction", "forward"))
    ys_all, h_fin = [], []
    for d in range(dirs):
        reverse = direction == "reverse" or d == 1
        wb, rb = b[d, :3 * H], b[d, 3 * H:]
        xbias = wb.copy()
        xbias[:2 * H] += rb[:2 * H]
        if not lbr:
            xbias[2 * H:] += rb[2 * H:]
        gx = ops.fc(x2, w[d], xbias)                                  # (T*B, 3H)
        h = state(5, d)
        ys = [None] * steps
        for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
            ops.step(f"{node.name}:{','.join(node.output)}/{d}")
            gxt = ops.rows(gx, t * batch, batch)
            if lbr:
                rbias = np.concatenate([np.zeros(2 * H), rb[2 * H:]])
                gh = ops.fc(h, r[d], rbias)                           # (B, 3H)
                zr = ops.bin("ADD", ops.cols(gxt, 0, 2 * H), ops.cols(gh, 0, 2 * H))
            else:
                gh = ops.fc(h, r[d, :2 * H], None)
                zr = ops.bin("ADD", ops.cols(gxt, 0, 2 * H), gh)
            zr = ops.un("LOGISTIC", zr)
            z, rg = ops.cols(zr, 0, H), ops.cols(zr, H, H)
            if lbr:
                hh = ops.bin("MUL", rg, ops.cols(gh, 2 * H, H))
            else:
                hh = ops.fc(ops.bin("MUL", rg, h), r[d, 2 * H:], None)
            cand = ops.un("TANH", ops.bin("ADD", ops.cols(gxt, 2 * H, H), hh))
            # (1 - z) * cand + z * h  ==  cand + z * (h - cand)
            h = ops.bin("ADD", cand, ops.bin("MUL", z, ops.bin("SUB", h, cand)))
            ys[t] = h
        ops.step(None)
        ys_all.append(ys)
        h_fin.append(h)
    _outputs(imp, node, ops, ys_all, [h_fin], steps, batch, H, layout)
