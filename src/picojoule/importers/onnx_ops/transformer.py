"""Transformer ONNX ops: LayerNormalization (opset 17) and its decomposed form.

LayerNormalization becomes the TFLite builtins TensorFlow's converter lowers a layer norm
to, all of which TFLM runs in float32 and int8 (and, but for RSQRT, int16)::

    mean = MEAN(x, axes, keep_dims)            # over the normalised axes
    d    = SUB(x, mean)
    var  = MEAN(MUL(d, d), axes, keep_dims)
    r    = RSQRT(ADD(var, epsilon))
    y    = ADD(MUL(MUL(d, r), gamma), beta)    # MUL / ADD skipped for gamma 1, beta 0

The centred ``d`` is computed once and shared by the variance and the output (the form
that quantizes best: no ``x * r - mean * r`` cancellation). Every node the lowering
emits carries ``meta["layer_norm"]`` (the ONNX node's name) and ``meta["layer_norm_role"]``
(``mean``, ``centred``, ``square``, ``variance``, ``variance_eps``, ``rsqrt``,
``normalised``, ``gamma``, ``beta``), so one layer norm's nodes can be found again (to
name them for int16 in :mod:`picojoule.quantize.mixed`, say).

Older opsets and other exporters write the layer norm out::

    ReduceMean -> Sub -> Pow(2) | Mul(d, d) -> ReduceMean -> Add(eps) -> Sqrt -> Div
               [-> Mul(gamma)] [-> Add(beta)]

:func:`fuse_layer_norm` recognises that chain before translation and replaces it with one
LayerNormalization node, so both forms import to the same graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from picojoule.importers.onnx_ops import handles

_F32 = np.float32
_NONE = {"fused_activation_function": "NONE"}


def _norm_axes(axis: int, rank: int) -> list[int]:
    axis = axis + rank if axis < 0 else axis
    return list(range(axis, rank))


def emit_layer_norm(imp, x, axes: list[int], eps: float, gamma: np.ndarray | None,
                    beta: np.ndarray | None, out: str, tag: str):
    """Emit the lowering above for ``x`` normalised over ``axes``; binds ``out``."""
    rank = len(x.shape)
    shape = x.shape
    red = tuple(1 if d in axes else s for d, s in enumerate(shape))

    def emit(op, inputs, shp, attrs=None, role="", name=None):
        v = imp.emit(op, inputs, shp, "float32", attrs or {}, out=name)
        node = imp.g.nodes[-1]
        node.meta["layer_norm"] = tag
        node.meta["layer_norm_role"] = role
        return v

    axes_v = imp.const(np.array(axes, np.int32), "axes")
    mean = emit("MEAN", [x, axes_v], red, {"keep_dims": True}, "mean")
    d = emit("SUB", [x, mean], shape, _NONE, "centred")
    sq = emit("MUL", [d, d], shape, _NONE, "square")
    var = emit("MEAN", [sq, imp.const(np.array(axes, np.int32), "axes")], red,
               {"keep_dims": True}, "variance")
    ve = emit("ADD", [var, imp.const(np.array(eps, _F32).reshape((1,) * rank), "epsilon")],
              red, _NONE, "variance_eps")
    r = emit("RSQRT", [ve], red, role="rsqrt")
    last_is_norm = gamma is None and beta is None
    y = emit("MUL", [d, r], shape, _NONE, "normalised", name=out if last_is_norm else None)
    cshape = tuple(s if d in axes else 1 for d, s in enumerate(shape))
    if gamma is not None:
        g = imp.const(np.broadcast_to(gamma, cshape).astype(_F32), "gamma")
        y = emit("MUL", [y, g], shape, _NONE, "gamma", name=out if beta is None else None)
    if beta is not None:
        b = imp.const(np.broadcast_to(beta, cshape).astype(_F32), "beta")
        y = emit("ADD", [y, b], shape, _NONE, "beta", name=out)
    return y


@handles("LayerNormalization")
def layer_norm(imp, node, a) -> None:
    """LayerNormalization (opset 17): the TFLite lowering above; Mean / InvStdDev outputs
    are not supported (training only)."""
    if any(o for o in node.output[1:]):
        raise imp.unsupported("reading the Mean / InvStdDev output (training only)")
    if int(a.get("stash_type", 1)) != 1:
        raise imp.unsupported(f"stash_type {a['stash_type']}")
    x = imp.value(node.input[0])
    if x.dtype != "float32":
        raise imp.unsupported(f"{x.dtype} input")
    axes = _norm_axes(int(a.get("axis", -1)), len(x.shape))
    eps = float(a.get("epsilon", 1e-5))
    gamma = imp.cdata(node.input[1], "scale").astype(_F32)
    beta = None
    if len(node.input) > 2 and node.input[2]:
        beta = imp.cdata(node.input[2], "bias").astype(_F32)
        if not np.any(beta):
            beta = None
    if np.all(gamma == 1):
        gamma = None
    emit_layer_norm(imp, x, axes, eps, gamma, beta, node.output[0], node.name or node.output[0])


# ----------------------------------------------------------------------- pattern fusion
def fuse_patterns(imp, nodes: list[Any]) -> list[Any]:
    """The written-out forms of layer norm and tanh-GELU, as single ONNX nodes."""
    return fuse_tanh_gelu(imp, fuse_layer_norm(imp, nodes))


def _graph_index(nodes: list[Any]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    producer = {o: n for n in nodes for o in n.output}
    readers: dict[str, list[Any]] = {}
    for n in nodes:
        for i in dict.fromkeys(n.input):
            readers.setdefault(i, []).append(n)
    return producer, readers


def fuse_tanh_gelu(imp, nodes: list[Any]) -> list[Any]:
    """``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (PyTorch's ``approximate="tanh"``
    before opset 20, with ``x^3`` as ``Pow(x, 3)`` or ``x * x * x``) becomes one
    ``Gelu(approximate="tanh")``: one op in float, and its quantized lowering keeps ``x^3``
    out of an int8 tensor (:mod:`picojoule.quantize.lowering`)."""
    from onnx import helper

    producer, readers = _graph_index(nodes)
    outputs = imp.consumed_outputs

    def sole(name: str, op: str) -> Any:
        r = readers.get(name, [])
        return r[0] if len(r) == 1 and r[0].op_type == op and name not in outputs else None

    def split(n: Any, want: float) -> str | None:
        """The non-constant operand of a binary node whose other operand is ``want``."""
        if n is None or len(n.input) != 2:
            return None
        for a, b in (n.input, n.input[::-1]):
            c = imp._scalar(b)
            if c is not None and abs(c - want) <= 1e-6 * max(1.0, abs(want)):
                return a
        return None

    def cube_of(name: str) -> tuple[str, list[Any]] | None:
        n = producer.get(name)
        if n is None:
            return None
        if n.op_type == "Pow" and imp._scalar(n.input[1]) == 3.0:
            return n.input[0], [n]
        if n.op_type != "Mul":
            return None
        for a, b in (n.input, n.input[::-1]):
            sq = producer.get(b)
            if sq is not None and sq.op_type == "Mul" and list(sq.input) == [a, a]:
                return a, [sq, n]
        return None

    drop: set[int] = set()
    replace: dict[int, Any] = {}
    for tanh in nodes:
        if tanh.op_type != "Tanh":
            continue
        scaled = producer.get(tanh.input[0])
        inner = split(scaled, float(np.sqrt(2.0 / np.pi))) if scaled is not None and \
            scaled.op_type == "Mul" else None
        add = producer.get(inner or "")
        if add is None or add.op_type != "Add":
            continue
        found = None
        for x, p in (add.input, add.input[::-1]):
            pn = producer.get(p)
            c = split(pn, 0.044715) if pn is not None and pn.op_type == "Mul" else None
            cube = cube_of(c) if c else None
            if cube is not None and cube[0] == x:
                found = (x, [*cube[1], pn])
        if found is None:
            continue
        x, head = found
        one = sole(tanh.output[0], "Add")
        if one is None or split(one, 1.0) != tanh.output[0]:
            continue
        m1 = sole(one.output[0], "Mul")
        if m1 is None:
            continue
        o1 = [i for i in m1.input if i != one.output[0]]
        if o1 == [x]:                                   # (x * (1 + t)) * 0.5
            half = sole(m1.output[0], "Mul")
            if half is None or split(half, 0.5) != m1.output[0]:
                continue
            tail, last = [one, m1, half], half
        else:                                           # (0.5 * x) * (1 + t)
            hn = producer.get(o1[0]) if len(o1) == 1 else None
            if hn is None or hn.op_type != "Mul" or split(hn, 0.5) != x:
                continue
            tail, last = [hn, one, m1], m1
        chain = [*head, add, scaled, tanh, *tail]
        inner_outs = [o for n in chain if n is not last for o in n.output]
        if any(o in outputs or any(r not in chain for r in readers.get(o, []))
               for o in inner_outs):
            continue
        drop.update(id(n) for n in chain)
        replace[id(last)] = helper.make_node("Gelu", [x], [last.output[0]], approximate="tanh",
                                             name=last.name or tanh.name)
    return [replace.get(id(n), n) for n in nodes if id(n) not in drop or id(n) in replace]


def fuse_layer_norm(imp, nodes: list[Any]) -> list[Any]:
    """Replace decomposed layer norms (see the module docstring) by LayerNormalization nodes.

    The chain must be exactly the layer norm: each intermediate has its one reader inside
    the chain (``d`` two: the square and the division), the reductions are over the same
    trailing axes with keepdims, epsilon and the affine parameters are constants.
    """
    from onnx import helper

    _, readers = _graph_index(nodes)
    outputs = imp.consumed_outputs

    def only(name: str, op: str | tuple[str, ...]) -> Any:
        r = readers.get(name, [])
        ops = (op,) if isinstance(op, str) else op
        if len(r) != 1 or name in outputs or r[0].op_type not in ops:
            return None
        return r[0]

    def other(n: Any, name: str) -> str | None:
        ins = list(n.input)
        if len(ins) != 2 or name not in ins:
            return None
        return ins[1 - ins.index(name)]

    drop: set[int] = set()
    replace: dict[int, Any] = {}
    for mean in nodes:
        if mean.op_type != "ReduceMean" or id(mean) in drop:
            continue
        x = mean.input[0]
        axes = _reduce_axes(imp, mean)
        if axes is None or x not in imp.shapes and x not in imp.consts:
            continue
        rank = len(imp._shape(x))
        axes = sorted({ax + rank if ax < 0 else ax for ax in axes})
        if not axes or axes != list(range(axes[0], rank)):
            continue
        subs = [r for r in readers.get(mean.output[0], []) if r.op_type == "Sub"]
        if len(subs) != 1 or len(readers[mean.output[0]]) != 1 or list(subs[0].input) != \
                [x, mean.output[0]]:
            continue
        sub = subs[0]
        d = sub.output[0]
        users = readers.get(d, [])
        if len(users) != 2 or d in outputs:
            continue
        sq = next((u for u in users if _is_square(imp, u, d)), None)
        div = next((u for u in users if u.op_type == "Div" and u.input[0] == d), None)
        if sq is None or div is None:
            continue
        mean2 = only(sq.output[0], "ReduceMean")
        if mean2 is None or _reduce_axes(imp, mean2) is None or sorted(
                {ax + rank if ax < 0 else ax for ax in _reduce_axes(imp, mean2)}) != axes:
            continue
        add = only(mean2.output[0], "Add")
        eps_name = other(add, mean2.output[0]) if add is not None else None
        eps = imp._scalar(eps_name) if eps_name else None
        if eps is None or eps < 0:
            continue
        sqrt = only(add.output[0], "Sqrt")
        if sqrt is None or only(sqrt.output[0], "Div") is not div or list(div.input) != [
                d, sqrt.output[0]]:
            continue
        if not all(_keepdims(n) for n in (mean, mean2)):
            continue
        chain = [mean, sub, sq, mean2, add, sqrt, div]
        last, scale, bias = div, None, None
        mul = only(div.output[0], "Mul")
        if mul is not None and imp.is_const(other(mul, div.output[0]) or ""):
            scale = other(mul, div.output[0])
            chain.append(mul)
            last = mul
        addb = only(last.output[0], "Add")
        if addb is not None and imp.is_const(other(addb, last.output[0]) or ""):
            bias = other(addb, last.output[0])
            chain.append(addb)
            last = addb
        width = tuple(imp._shape(x)[axes[0]:])
        params = [_affine(imp, name, width, default) for name, default in
                  ((scale, 1.0), (bias, 0.0))]
        if any(p is None for p in params):
            continue
        names = []
        for what, arr in zip(("scale", "bias"), params):
            key = f"{last.output[0]}__ln_{what}"
            imp.consts[key] = arr
            imp.shapes[key] = width
            names.append(key)
        drop.update(id(n) for n in chain)
        base = mean.name.rsplit("/", 1)[0] if "/" in mean.name else (mean.name or last.name)
        replace[id(last)] = helper.make_node(
            "LayerNormalization", [x, *names], [last.output[0]],
            name=f"{base}/LayerNormalization", axis=axes[0], epsilon=float(eps))
    return [replace.get(id(n), n) for n in nodes if id(n) not in drop or id(n) in replace]


def _affine(imp, name: str | None, width: tuple[int, ...], default: float
            ) -> np.ndarray | None:
    """The scale or bias constant broadcast to the normalised ``width``, or None if it
    varies along other axes (then the chain is not a layer norm's affine part)."""
    if not name:
        return np.full(width, default, _F32)
    arr = imp.consts[name].astype(_F32)
    lead = arr.shape[:max(0, arr.ndim - len(width))]
    if any(s != 1 for s in lead):
        return None
    arr = arr.reshape(arr.shape[len(lead):])
    try:
        return np.ascontiguousarray(np.broadcast_to(arr, width))
    except ValueError:
        return None


def _reduce_axes(imp, node: Any) -> list[int] | None:
    """A ReduceMean's constant axes (attribute before opset 18, input after)."""
    from onnx import helper

    if len(node.input) > 1 and node.input[1]:
        if not imp.is_const(node.input[1]):
            return None
        return [int(v) for v in imp.consts[node.input[1]].reshape(-1)]
    for a in node.attribute:
        if a.name == "axes":
            return [int(v) for v in helper.get_attribute_value(a)]
    return None


def _keepdims(node: Any) -> bool:
    from onnx import helper

    for a in node.attribute:
        if a.name == "keepdims":
            return bool(helper.get_attribute_value(a))
    return True


def _is_square(imp, node: Any, d: str) -> bool:
    """Pow(d, 2) or Mul(d, d)."""
    if node.op_type == "Mul":
        return list(node.input) == [d, d]
    if node.op_type == "Pow" and node.input[0] == d:
        e = imp._scalar(node.input[1])
        return e == 2.0
    return False
