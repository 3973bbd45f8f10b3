"""Layout-sensitive and weighted ONNX ops: Conv, ConvTranspose, pools, Resize, Gemm, MatMul.

Convolutions and pools run in NHWC: the handler emits ``TRANSPOSE(NCHW->NHWC)``, the TFLite
op, ``TRANSPOSE(NHWC->NCHW)``; the layout pass cancels those pairs between consecutive ops.
1-D convolutions and pools are 2-D ones with H = 1 (reshapes around them).

Explicit ONNX pads become TFLite's ``SAME`` when they are exactly what TFLite's SAME would
use for the geometry, ``VALID`` when zero, else an explicit PAD (-inf for max pooling) and
``VALID``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from picojoule.importers.onnx_ops import handles, qdq

_F32 = np.float32
_NONE = {"fused_activation_function": "NONE"}


def _dec(v: Any) -> Any:
    return v.decode() if isinstance(v, bytes) else v


def _spatial_pads(a: dict, in_hw: tuple[int, ...], k: tuple[int, ...], s: tuple[int, ...],
                  d: tuple[int, ...], out_hw: tuple[int, ...]) -> list[tuple[int, int]]:
    """ONNX (begin, end) padding per spatial axis, auto_pad resolved; ceil_mode as end pad."""
    auto = _dec(a.get("auto_pad", "NOTSET"))
    n = len(in_hw)
    pads = []
    for i in range(n):
        keff = (k[i] - 1) * d[i] + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            total = max(0, (out_hw[i] - 1) * s[i] + keff - in_hw[i])
            lo = total // 2 if auto == "SAME_UPPER" else total - total // 2
            pads.append((lo, total - lo))
        elif auto == "VALID":
            pads.append((0, 0))
        else:
            p = list(a.get("pads", [0] * (2 * n)))
            pads.append((int(p[i]), int(p[i + n])))
    # ceil_mode (pools) or any mismatch: extend the end padding so the windows exist.
    out = []
    for i, (lo, hi) in enumerate(pads):
        keff = (k[i] - 1) * d[i] + 1
        need = (out_hw[i] - 1) * s[i] + keff - (in_hw[i] + lo)
        out.append((lo, max(hi, need) if need > hi else hi))
    return out


def _tflite_same(in_size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """(pad before, output size) TFLite's SAME padding uses."""
    keff = (k - 1) * d + 1
    out = (in_size + s - 1) // s
    total = max(0, (out - 1) * s + keff - in_size)
    return total // 2, out


def _choose_padding(pads, in_hw, k, s, d, out_hw) -> str | None:
    """"VALID" / "SAME" if TFLite's padding gives exactly ONNX's windows, else None."""
    if all(lo == 0 for lo, _ in pads) and all(
            (in_hw[i] - ((k[i] - 1) * d[i] + 1)) // s[i] + 1 == out_hw[i]
            for i in range(len(in_hw))):
        return "VALID"
    for i in range(len(in_hw)):
        before, out = _tflite_same(in_hw[i], k[i], s[i], d[i])
        if before != pads[i][0] or out != out_hw[i]:
            return None
    return "SAME"


def _as_2d(shape: tuple[int, ...]) -> tuple[int, ...]:
    """(N, C, L) -> (N, C, 1, L): 1-D ops run as 2-D ones."""
    return shape if len(shape) == 4 else (shape[0], shape[1], 1, shape[2])


def _geometry(imp, node, a, x_shape, out_shape, kernel):
    """Spatial geometry lifted to 2-D: in, kernel, strides, dilations, out, pads."""
    n = len(x_shape) - 2
    if n not in (1, 2):
        raise imp.unsupported(f"{n}-D spatial data")
    k = tuple(int(v) for v in kernel)
    s = tuple(int(v) for v in a.get("strides", [1] * n))
    d = tuple(int(v) for v in a.get("dilations", [1] * n))
    in_hw, out_hw = tuple(x_shape[2:]), tuple(out_shape[2:])
    pads = _spatial_pads(a, in_hw, k, s, d, out_hw)
    if n == 1:
        in_hw, out_hw, k, s, d = (1,) + in_hw, (1,) + out_hw, (1,) + k, (1,) + s, (1,) + d
        pads = [(0, 0)] + pads
    return in_hw, k, s, d, out_hw, pads


def _nhwc_input(imp, x, pads, padding, fill: float):
    """x (ONNX layout) -> NHWC 4-D, explicitly padded when TFLite padding cannot express it."""
    if len(x.shape) == 3:
        x = imp.reshape(x, _as_2d(x.shape))
    v = imp.to_nhwc(x)
    if padding is None and any(p != (0, 0) for p in pads):
        pad = np.array([(0, 0), *pads, (0, 0)], np.int32)
        shape = (v.shape[0], v.shape[1] + sum(pads[0]), v.shape[2] + sum(pads[1]), v.shape[3])
        if fill == 0.0:
            v = imp.emit("PAD", [v, imp.const(pad, "paddings")], shape, v.dtype, quant=v.quant)
        else:
            v = imp.emit("PADV2", [v, imp.const(pad, "paddings"),
                                   imp.const(np.array([fill], _F32), "pad_value", v.dtype)],
                         shape, v.dtype, quant=v.quant)
    return v


def _nchw_output(imp, y, out_name: str, out_shape: tuple[int, ...]):
    """NHWC result -> ONNX layout (and rank) bound to ``out_name``."""
    if len(out_shape) == 3:
        t = imp.transpose(y, (0, 3, 1, 2))
        return imp.reshape(t, out_shape, out=out_name)
    return imp.from_nhwc(y, out_name)


# --------------------------------------------------------------------------- Conv
@handles("Conv")
def conv(imp, node, a) -> None:
    """Conv -> CONV_2D (grouped too) or DEPTHWISE_CONV_2D (one input channel per group)."""
    x = imp.value(node.input[0])
    w = imp.cdata(node.input[1], "weight").astype(_F32)
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = imp.cdata(node.input[2], "bias").astype(_F32)
    out_name = node.output[0]
    out_shape = imp._shape(out_name)
    group = int(a.get("group", 1))
    in_hw, k, s, d, out_hw, pads = _geometry(imp, node, a, x.shape, out_shape, w.shape[2:])
    if len(w.shape) == 3:
        w = w[:, :, None, :]
    padding = _choose_padding(pads, in_hw, k, s, d, out_hw)
    v = _nhwc_input(imp, x, pads, padding, 0.0)
    c, m = x.shape[1], w.shape[0]
    attrs = {"padding": padding or "VALID", "stride_h": s[0], "stride_w": s[1],
             "dilation_h_factor": d[0], "dilation_w_factor": d[1], **_NONE}
    shape = (x.shape[0], out_hw[0], out_hw[1], m)
    b = imp.const(bias, "bias") if bias is not None else None
    if group == c and w.shape[1] == 1 and group > 1:
        wd = imp.const(np.ascontiguousarray(w.transpose(1, 2, 3, 0)), "weights")  # (1,kh,kw,M)
        qdq.tag_weight(imp, node.input[1], wd, {0: 3})
        y = imp.emit("DEPTHWISE_CONV_2D", [v, wd, b], shape, "float32",
                     {**attrs, "depth_multiplier": m // c})
    else:
        if c % group or w.shape[1] * group != c:
            raise imp.unsupported(f"group {group} with weights {list(w.shape)}")
        wo = imp.const(np.ascontiguousarray(w.transpose(0, 2, 3, 1)), "weights")  # OHWI
        qdq.tag_weight(imp, node.input[1], wo, {0: 0})
        y = imp.emit("CONV_2D", [v, wo, b], shape, "float32", attrs)
    _nchw_output(imp, y, out_name, out_shape)


@handles("ConvTranspose")
def conv_transpose(imp, node, a) -> None:
    """TRANSPOSE_CONV over the full (unpadded) output, then a SLICE for ONNX's pads."""
    x = imp.value(node.input[0])
    w = imp.cdata(node.input[1], "weight").astype(_F32)        # (C, M/g, kh, kw)
    bias = None
    if len(node.input) > 2 and node.input[2]:
        bias = imp.cdata(node.input[2], "bias").astype(_F32)
    if int(a.get("group", 1)) != 1:
        raise imp.unsupported("grouped ConvTranspose")
    n_sp = len(x.shape) - 2
    if any(int(v) != 1 for v in a.get("dilations", [1] * n_sp)):
        raise imp.unsupported("dilated ConvTranspose")
    out_name = node.output[0]
    out_shape = imp._shape(out_name)
    if n_sp == 1:
        x = imp.reshape(x, _as_2d(x.shape))
        w = w[:, :, None, :]
    if n_sp not in (1, 2):
        raise imp.unsupported(f"{n_sp}-D spatial data")
    s = [int(v) for v in a.get("strides", [1] * n_sp)]
    op = [int(v) for v in a.get("output_padding", [0] * n_sp)]
    if n_sp == 1:
        s, op = [1] + s, [0] + op
    kh, kw = w.shape[2:]
    h, wd = x.shape[2:]
    full = ((h - 1) * s[0] + kh + op[0], (wd - 1) * s[1] + kw + op[1])
    o2 = _as_2d(out_shape)[2:]
    # ONNX's begin pads: explicit, or from auto_pad / output_shape (SAME_UPPER puts the
    # odd one at the end).
    auto = _dec(a.get("auto_pad", "NOTSET"))
    begins = []
    for i in range(2):
        total = full[i] - o2[i]
        if n_sp == 1 and i == 0:
            begins.append(0)
            continue
        j = i - (2 - n_sp)
        if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
            upper = auto == "SAME_UPPER"
            begins.append(total // 2 if upper else total - total // 2)
        else:
            begins.append(int(list(a.get("pads", [0] * 2 * n_sp))[j]))
    v = imp.to_nhwc(x)
    m = w.shape[1]
    wt = np.ascontiguousarray(w.transpose(1, 2, 3, 0))          # (M, kh, kw, C) = OHWI
    fshape = (x.shape[0], full[0], full[1], m)
    y = imp.emit("TRANSPOSE_CONV", [imp.const(np.array(fshape, np.int32), "output_shape"),
                                    imp.const(wt, "weights"), v,
                                    imp.const(bias, "bias") if bias is not None else None],
                 fshape, "float32", {"padding": "VALID", "stride_h": s[0], "stride_w": s[1],
                                     **_NONE})
    oshape = (x.shape[0], o2[0], o2[1], m)
    if oshape != fshape or any(begins):
        y = imp.emit("SLICE", [y, imp.const(np.array([0, begins[0], begins[1], 0], np.int32),
                                            "begin"),
                               imp.const(np.array(oshape, np.int32), "size")], oshape)
    _nchw_output(imp, y, out_name, out_shape)


# --------------------------------------------------------------------------- pools
def _pool_out_shape(imp, a, x_shape, inferred):
    """ceil_mode output size as ONNX Runtime (and PyTorch) compute it: a last window that
    would start in the end padding is dropped (ONNX shape inference keeps it)."""
    if not int(a.get("ceil_mode", 0)) or _dec(a.get("auto_pad", "NOTSET")) != "NOTSET":
        return inferred
    n = len(x_shape) - 2
    k = [int(v) for v in a["kernel_shape"]]
    s = [int(v) for v in a.get("strides", [1] * n)]
    d = [int(v) for v in a.get("dilations", [1] * n)]
    p = [int(v) for v in a.get("pads", [0] * 2 * n)]
    out = list(x_shape[:2])
    for i in range(n):
        span = x_shape[i + 2] + p[i] + p[i + n] - ((k[i] - 1) * d[i] + 1)
        o = -(-span // s[i]) + 1
        if (o - 1) * s[i] >= x_shape[i + 2] + p[i]:
            o -= 1
        out.append(o)
    return tuple(out)


@handles("MaxPool", "AveragePool")
def pool(imp, node, a) -> None:
    """MAX_POOL_2D / AVERAGE_POOL_2D; counts fixed by a constant MUL where ONNX's differ."""
    if len(node.output) > 1 and node.output[1]:
        raise imp.unsupported("MaxPool's Indices output")
    x = imp.value(node.input[0])
    out_name = node.output[0]
    out_shape = _pool_out_shape(imp, a, x.shape, imp._shape(out_name))
    imp.shapes[out_name] = out_shape
    kernel = [int(v) for v in a["kernel_shape"]]
    in_hw, k, s, d, out_hw, pads = _geometry(imp, node, a, x.shape, out_shape, kernel)
    if any(v != 1 for v in d):
        raise imp.unsupported("dilated pooling")
    is_max = node.op_type == "MaxPool"
    padding = _choose_padding(pads, in_hw, k, s, d, out_hw)
    include_pad = bool(int(a.get("count_include_pad", 0)))
    explicit = padding is None or (padding == "SAME" and not is_max and include_pad
                                   and any(p != (0, 0) for p in pads))
    if explicit:
        padding = None
    fill = float(np.finfo(_F32).min) if is_max else 0.0
    v = _nhwc_input(imp, x, pads, padding, fill)
    attrs = {"padding": padding or "VALID", "stride_h": s[0], "stride_w": s[1],
             "filter_height": k[0], "filter_width": k[1], **_NONE}
    shape = (x.shape[0], out_hw[0], out_hw[1], x.shape[1])
    y = imp.emit("MAX_POOL_2D" if is_max else "AVERAGE_POOL_2D", [v], shape, x.dtype, attrs)
    if not is_max and padding is None and any(p != (0, 0) for p in pads):
        # The kernel counted every tap of the padded buffer (kh*kw); ONNX counts the taps
        # inside the input (count_include_pad=0) or inside input+pads (=1).
        counts = np.ones(out_hw, np.float64)
        for i in range(2):
            lo, hi = pads[i]
            start = np.arange(out_hw[i]) * s[i] - lo
            end = start + k[i]
            if include_pad:
                c = np.minimum(end, in_hw[i] + hi) - np.maximum(start, -lo)
            else:
                c = np.minimum(end, in_hw[i]) - np.maximum(start, 0)
            counts = counts * (c[:, None] if i == 0 else c[None, :])
        factor = (k[0] * k[1] / counts).astype(_F32)
        if not np.all(factor == 1):
            y = imp.emit("MUL", [y, imp.const(factor.reshape(1, *out_hw, 1), "count_fix")],
                         shape, x.dtype, _NONE)
    _nchw_output(imp, y, out_name, out_shape)


# --------------------------------------------------------------------------- Resize
def _onnx_nearest(in_size: int, out_size: int, scale: float, ctm: str, mode: str) -> np.ndarray:
    """ONNX's source index of every output position for nearest resizing."""
    x = np.arange(out_size, dtype=np.float64)
    if ctm == "half_pixel":
        pos = (x + 0.5) / scale - 0.5
    elif ctm == "pytorch_half_pixel":
        pos = (x + 0.5) / scale - 0.5 if out_size > 1 else np.zeros_like(x)
    elif ctm == "align_corners":
        pos = x * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros_like(x)
    elif ctm == "asymmetric":
        pos = x / scale
    elif ctm == "tf_half_pixel_for_nn":
        pos = (x + 0.5) / scale
    else:
        raise ValueError(ctm)
    if mode == "floor":
        idx = np.floor(pos)
    elif mode == "ceil":
        idx = np.ceil(pos)
    elif mode == "round_prefer_ceil":
        idx = np.floor(pos + 0.5)
    else:  # round_prefer_floor
        idx = np.ceil(pos - 0.5)
    return np.clip(idx, 0, in_size - 1).astype(np.int64)


def _tflite_nearest(in_size: int, out_size: int, align: bool, half: bool) -> np.ndarray:
    """TFLite's nearest index (float32 arithmetic as its kernel)."""
    f = np.float32
    scale = f(in_size - 1) / f(out_size - 1) if align and out_size > 1 else f(in_size) / f(
        out_size)
    pos = (np.arange(out_size, dtype=f) + f(0.5 if half else 0.0)) * scale
    idx = np.floor(pos + f(0.5)) if align else np.floor(pos)
    return np.clip(idx.astype(np.int64), 0, in_size - 1)


@handles("Resize")
def resize(imp, node, a) -> None:
    """RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR over H and W of a 4-D tensor."""
    x = imp.value(node.input[0])
    out_name = node.output[0]
    out_shape = imp._shape(out_name)
    if len(x.shape) != 4 or out_shape[:2] != x.shape[:2]:
        raise imp.unsupported("resizing other than the two spatial axes of a 4-D tensor")
    mode = _dec(a.get("mode", "nearest"))
    ctm = _dec(a.get("coordinate_transformation_mode", "half_pixel"))
    nmode = _dec(a.get("nearest_mode", "round_prefer_floor"))
    if int(a.get("exclude_outside", 0)) or _dec(a.get("keep_aspect_ratio_policy", "stretch")) \
            != "stretch":
        raise imp.unsupported("exclude_outside / keep_aspect_ratio_policy")
    if len(node.input) > 1 and node.input[1] and imp.is_const(node.input[1]) and \
            imp.consts[node.input[1]].size:
        raise imp.unsupported("a region of interest (tf_crop_and_resize)")
    scales = None
    if len(node.input) > 2 and node.input[2] and imp.is_const(node.input[2]) and \
            imp.consts[node.input[2]].size:
        scales = imp.consts[node.input[2]].astype(np.float64).reshape(-1)
    sc = [out_shape[i] / x.shape[i] if scales is None else float(scales[i]) for i in (2, 3)]
    attrs: dict[str, Any]
    if mode == "nearest":
        want = [_onnx_nearest(x.shape[i], out_shape[i], sc[i - 2], ctm, nmode) for i in (2, 3)]
        for align, half in ((False, False), (False, True), (True, False)):
            got = [_tflite_nearest(x.shape[i], out_shape[i], align, half) for i in (2, 3)]
            if all(np.array_equal(g, w) for g, w in zip(got, want)):
                break
        else:
            raise imp.unsupported(f"nearest resize with {ctm}/{nmode} (no TFLite equivalent)")
        op = "RESIZE_NEAREST_NEIGHBOR"
    elif mode == "linear":
        if ctm in ("half_pixel", "pytorch_half_pixel"):
            align, half = False, True
            if ctm == "pytorch_half_pixel" and min(out_shape[2:]) == 1:
                raise imp.unsupported("pytorch_half_pixel to size 1")
        elif ctm == "align_corners":
            align, half = True, False
        elif ctm == "asymmetric":
            align, half = False, False
        else:
            raise imp.unsupported(f"linear resize with {ctm}")
        if scales is not None and any(abs(sc[i] - out_shape[i + 2] / x.shape[i + 2]) > 1e-7
                                      for i in range(2)) and ctm != "align_corners":
            raise imp.unsupported("scales that differ from output/input sizes")
        op = "RESIZE_BILINEAR"
    else:
        raise imp.unsupported(f"{mode} resizing")
    attrs = {"align_corners": align, "half_pixel_centers": half}
    v = imp.to_nhwc(x)
    hw = np.array(out_shape[2:], np.int32)
    y = imp.emit(op, [v, imp.const(hw, "size")],
                 (x.shape[0], out_shape[2], out_shape[3], x.shape[1]), x.dtype, attrs)
    imp.from_nhwc(y, out_name)


# --------------------------------------------------------------------------- Gemm / MatMul
@handles("Gemm")
def gemm(imp, node, a) -> None:
    """alpha * A' B' + beta * C -> FULLY_CONNECTED (constant B) else BATCH_MATMUL (+ ADD)."""
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    ta, tb = int(a.get("transA", 0)), int(a.get("transB", 0))
    x = imp.value(node.input[0])
    if ta:
        x = imp.transpose(x, (1, 0))
    out_name = node.output[0]
    m, n = imp._shape(out_name)
    c = node.input[2] if len(node.input) > 2 and node.input[2] else ""
    bias = None
    if c and imp.is_const(c):
        cdata = imp.consts[c].astype(np.float64) * beta
        if cdata.size == 1 or cdata.shape[-1:] == (n,) and cdata.size == n:
            bias = np.broadcast_to(cdata.reshape(-1), (n,)).astype(_F32)
            c = ""
    if imp.is_const(node.input[1]):
        w = imp.consts[node.input[1]].astype(np.float64)
        w = (w if tb else w.T) * alpha                   # [N, K]
        wv = imp.const(np.ascontiguousarray(w.astype(_F32)), "weights")
        if alpha == 1.0:
            qdq.tag_weight(imp, node.input[1], wv, {0: 0} if tb else {1: 0})
        y = imp.emit("FULLY_CONNECTED",
                     [x, wv,
                      imp.const(bias, "bias") if bias is not None else None],
                     (m, n), "float32", {"keep_num_dims": False, "weights_format": 0,
                                         **_NONE}, out=None if c else out_name)
    else:
        if alpha != 1.0:
            raise imp.unsupported("alpha != 1 with a non-constant B")
        b = imp.value(node.input[1])
        y = imp.emit("BATCH_MATMUL", [x, b], (m, n), "float32",
                     {"adj_x": False, "adj_y": bool(tb)},
                     out=None if (c or bias is not None) else out_name)
        if bias is not None:
            y = imp.emit("ADD", [y, imp.const(bias, "bias")], (m, n), "float32", _NONE,
                         out=None if c else out_name)
    if c:
        cv = imp.value(c)
        if beta != 1.0:
            cv = imp.emit("MUL", [cv, imp.const(np.array(beta, _F32), "beta")], cv.shape,
                          "float32", _NONE)
        imp.emit("ADD", [y, cv], (m, n), "float32", _NONE, out=out_name)


@handles("MatMul")
def matmul(imp, node, a) -> None:
    """Constant 2-D B -> FULLY_CONNECTED (keep_num_dims); otherwise BATCH_MATMUL."""
    x = imp.value(node.input[0])
    out_name = node.output[0]
    out_shape = imp._shape(out_name)
    if imp.is_const(node.input[1]) and imp.consts[node.input[1]].ndim == 2 and len(x.shape) >= 1:
        w = imp.consts[node.input[1]].astype(_F32)
        if len(x.shape) == 1:
            x = imp.reshape(x, (1, x.shape[0]))
        y_shape = tuple(x.shape[:-1]) + (w.shape[1],)
        wv = imp.const(np.ascontiguousarray(w.T), "weights")
        qdq.tag_weight(imp, node.input[1], wv, {1: 0})
        y = imp.emit("FULLY_CONNECTED", [x, wv, None], y_shape, "float32",
                     {"keep_num_dims": True, "weights_format": 0, **_NONE},
                     out=out_name if y_shape == out_shape else None)
        if y_shape != out_shape:
            imp.reshape(y, out_shape, out=out_name)
        return
    b = imp.value(node.input[1])
    if len(x.shape) < 2 or len(b.shape) < 2:
        raise imp.unsupported("a 1-D operand with a non-constant matrix")
    imp.emit("BATCH_MATMUL", [x, b], out_shape, x.dtype, {"adj_x": False, "adj_y": False},
             out=out_name)
