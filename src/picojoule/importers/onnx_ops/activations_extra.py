"""ONNX activations TFLite has no builtin for, lowered to builtins the reference and the C
backend run (float32, and int8 after quantization):

========== ============================================ ==========================================
ONNX       definition                                   lowering
========== ============================================ ==========================================
Selu       gamma * (x > 0 ? x : alpha * (e^x - 1))      MUL(x, gamma) + RELU fused,
                                                        + (gamma alpha) * ELU(MINIMUM(x, 0))
Celu       max(0, x) + min(0, alpha (e^(x/alpha) - 1))  ELU(x) for alpha 1, else RELU(x)
                                                        + alpha * ELU(MINIMUM(x, 0) / alpha)
Softplus   log(e^x + 1)                                 RELU(x) + LOG(1 + EXP(-ABS(x)))
Mish       x * tanh(softplus(x))                        MUL(x, TANH(softplus as above))
Softsign   x / (1 + abs(x))                             DIV(x, ADD(ABS(x), 1))
========== ============================================ ==========================================

ELU is TFLite's (alpha 1, ``expm1`` below zero), so the negative branch keeps its precision
near 0; Softplus is written the way ONNX Runtime evaluates it (``x + log(1 + e^-x)`` above
zero, ``log(1 + e^x)`` below), which never overflows. HardSigmoid is in :mod:`.basic`.
"""

from __future__ import annotations

import numpy as np

from picojoule.importers.onnx_ops import handles

_F32 = np.float32
_NONE = {"fused_activation_function": "NONE"}


def _float_input(imp, node):
    x = imp.value(node.input[0])
    if x.dtype != "float32":
        raise imp.unsupported(f"{x.dtype} input (float32 only)")
    return x


def _scalar(imp, value: float, name: str):
    return imp.const(np.array(value, _F32), name)


def _negative_elu(imp, x, scale: float = 1.0):
    """ELU(MINIMUM(x, 0) * scale): e^(x scale) - 1 below zero, 0 above (TFLite's ELU)."""
    m = imp.emit("MINIMUM", [x, _scalar(imp, 0.0, "zero")], x.shape, x.dtype)
    if scale != 1.0:
        m = imp.emit("MUL", [m, _scalar(imp, scale, "inv_alpha")], x.shape, x.dtype, _NONE)
    return imp.emit("ELU", [m], x.shape, x.dtype)


@handles("Selu")
def selu(imp, node, a) -> None:
    """gamma * relu(x) + gamma * alpha * ELU(min(x, 0)) (the RELU fused into the MUL)."""
    x = _float_input(imp, node)
    alpha = float(a.get("alpha", 1.67326319217681884765625))
    gamma = float(a.get("gamma", 1.05070102214813232421875))
    if gamma > 0:
        pos = imp.emit("MUL", [x, _scalar(imp, gamma, "gamma")], x.shape, x.dtype,
                       {"fused_activation_function": "RELU"})
    else:
        pos = imp.emit("MUL", [imp.emit("RELU", [x], x.shape, x.dtype),
                               _scalar(imp, gamma, "gamma")], x.shape, x.dtype, _NONE)
    neg = imp.emit("MUL", [_negative_elu(imp, x), _scalar(imp, gamma * alpha, "gamma_alpha")],
                   x.shape, x.dtype, _NONE)
    imp.emit("ADD", [pos, neg], x.shape, x.dtype, _NONE, out=node.output[0])


@handles("Celu")
def celu(imp, node, a) -> None:
    """ELU for alpha 1; else relu(x) + alpha * ELU(min(x, 0) / alpha)."""
    x = _float_input(imp, node)
    alpha = float(a.get("alpha", 1.0))
    if alpha == 1.0:
        imp.emit("ELU", [x], x.shape, x.dtype, out=node.output[0])
        return
    if not alpha > 0:
        raise imp.unsupported(f"alpha {alpha} (a positive alpha only)")
    neg = imp.emit("MUL", [_negative_elu(imp, x, 1.0 / alpha), _scalar(imp, alpha, "alpha")],
                   x.shape, x.dtype, _NONE)
    pos = imp.emit("RELU", [x], x.shape, x.dtype)
    imp.emit("ADD", [pos, neg], x.shape, x.dtype, _NONE, out=node.output[0])


def _softplus(imp, x, out: str | None = None):
    """relu(x) + log(1 + e^-|x|): log(e^x + 1) without overflow."""
    t = imp.emit("ABS", [x], x.shape, x.dtype)
    t = imp.emit("NEG", [t], x.shape, x.dtype)
    t = imp.emit("EXP", [t], x.shape, x.dtype)
    t = imp.emit("ADD", [t, _scalar(imp, 1.0, "one")], x.shape, x.dtype, _NONE)
    t = imp.emit("LOG", [t], x.shape, x.dtype)
    r = imp.emit("RELU", [x], x.shape, x.dtype)
    return imp.emit("ADD", [r, t], x.shape, x.dtype, _NONE, out=out)


@handles("Softplus")
def softplus(imp, node, a) -> None:
    x = _float_input(imp, node)
    _softplus(imp, x, out=node.output[0])


@handles("Mish")
def mish(imp, node, a) -> None:
    """x * tanh(softplus(x))."""
    x = _float_input(imp, node)
    t = imp.emit("TANH", [_softplus(imp, x)], x.shape, x.dtype)
    imp.emit("MUL", [x, t], x.shape, x.dtype, _NONE, out=node.output[0])


@handles("Softsign")
def softsign(imp, node, a) -> None:
    """x / (1 + |x|)."""
    x = _float_input(imp, node)
    d = imp.emit("ABS", [x], x.shape, x.dtype)
    d = imp.emit("ADD", [d, _scalar(imp, 1.0, "one")], x.shape, x.dtype, _NONE)
    imp.emit("DIV", [x, d], x.shape, x.dtype, _NONE, out=node.output[0])
