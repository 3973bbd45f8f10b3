"""Cost features of one graph node for the latency model.

The latency model predicts the instructions picojoule's own generated C kernel executes for
a node as a non-negative linear combination of a few work counts ("features") of the node.

*Which* kernel runs is read from the C generator itself: :func:`kernel_names` generates the
library for the core (in memory, ~0.2 s for a 30-layer model) and takes the function each
node calls (``pj_conv_s8_w16``, ``pj_dwconv_s8_dsp``, ``pj_fc_s8`` ...). The cost model's
coefficients are keyed by that name ("variant"), so when the code generator gains a kernel
or changes which one it picks, the estimate follows it (and the fit script measures it).

The work counts follow the loop structure of the kernels in ``backends/c/kernels``:

- convolution: MACs padded to the 2-pixel x 4-channel blocks and the 4-tap groups of the
  SMLAD kernels, im2col elements (in-image taps x channels), im2col rows, blocks, outputs;
- depthwise: MACs on 3x3 full windows and elsewhere (the kernel has a 3x3 interior fast
  path), MACs with depth multiplier > 1, window taps, pixels, outputs;
- fully connected: MACs, outputs, input elements;
- pooling: summed window elements, outputs, pixels; elementwise and softmax: elements, rows.

Every feature vector ends with ``one`` (call overhead). (Outputs can be split by
requantization path, ``SPLIT_REQUANT``; off now that the C backend picks a separate kernel
for the costlier path.)
"""

from __future__ import annotations

import math
import re

import numpy as np

from picojoule.ir import Model, Node
from picojoule.ops.registry import node_macs

#: Ops that generate no code when the planner aliases them (RESHAPE-like).
FREE_OPS = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


def kernel_names(model: Model, core: str, dsp: bool | None = None
                 ) -> dict[int, tuple[str, bool | None]]:
    """Node index -> (C kernel function the generated code calls for it on ``core`` (a C
    backend target such as "cortex-m4"), whether its parameter block carries folded
    requantization rows (``rq`` non-null: the fast path; None when the block has no ``rq``)).
    "free" for aliased nodes. Empty when the C backend cannot generate the model (then
    :func:`features` falls back to the op name)."""
    from picojoule.backends.c.generator import generate
    from picojoule.errors import PicojouleError

    try:
        gen = generate(model, name="est", target=core, dsp=dsp)
    except (PicojouleError, ValueError, KeyError, NotImplementedError):
        return {}
    src = gen.files["est.c"]
    blocks = {m.group(1): m.group(2) for m in
              re.finditer(r"static const \w+ (\w+) = \{(.*?)\n\};", src, re.S)}
    out: dict[int, tuple[str, bool | None]] = {}
    for m in re.finditer(r"/\* (\d+): (\S+)([^\n]*)\*/\n\s+(\w+)\((&(\w+))?", src):
        fast = None
        block = blocks.get(m.group(6) or "")
        if block is not None:
            rq = re.search(r"/\* rq \*/ ([^,\n]+)", block)
            if rq is not None:
                fast = rq.group(1).strip() not in ("0", "NULL")
        out[int(m.group(1))] = (m.group(4), fast)
    for m in re.finditer(r"/\* (\d+): \S+ [^\n]*aliases its input \*/", src):
        out[int(m.group(1))] = ("free", None)
    return out


def _window(node: Node, khw: tuple[int, int]):
    from picojoule.ops.conv import make_window

    a = node.attrs
    x, y = node.inputs[0], node.outputs[0]
    return make_window(node, x.shape[1:3], khw,
                       (int(a.get("stride_h", 1) or 1), int(a.get("stride_w", 1) or 1)),
                       (int(a.get("dilation_h_factor", 1) or 1),
                        int(a.get("dilation_w_factor", 1) or 1)),
                       y.shape[1:3])


def _taps(win, h: int, w: int) -> tuple[int, int]:
    """(in-image window taps summed over output pixels, output pixels with a full window)."""
    def axis(o, s, pad, k, d, size):
        counts = []
        for i in range(o):
            start = i * s - pad
            counts.append(sum(1 for t in range(k) if 0 <= start + t * d < size))
        return counts
    ys = axis(win.oh, win.sh, win.pad_t, win.kh, win.dh, h)
    xs = axis(win.ow, win.sw, win.pad_l, win.kw, win.dw, w)
    full = sum(1 for c in ys if c == win.kh) * sum(1 for c in xs if c == win.kw)
    return sum(ys) * sum(xs), full


def _col_put(k: int, n: int, src: bool) -> tuple[int, int, int]:
    """(next position, scalar element writes, 4-element steps) of the kernels' pj_col_put:
    a scalar prefix up to the next 4-aligned position, 4-element SIMD steps, a scalar
    tail; zero fill (src False) is all scalar."""
    if not src:
        return k + n, n, 0
    pre = min((-k) % 4, n)
    steps = (n - pre) // 4
    return k + n, n - 4 * steps, steps


def _im2col_work(win, h: int, w: int, c: int) -> tuple[float, float]:
    """(scalar element writes, 4-element steps) of one im2col pass over every output pixel,
    counted like ``pj_im2col_il`` (dilation 1 along x) plus the zero tail up to kpad."""
    kpad = (win.kh * win.kw * c + 3) // 4 * 4
    scalar = steps = 0
    row_cost: dict[tuple[int, int], tuple[int, int]] = {}
    for ox in range(win.ow):
        ix0 = ox * win.sw - win.pad_l
        kx0 = min(max(-ix0, 0), win.kw)
        kx1 = max(min(w - ix0, win.kw), kx0)
        row_cost[(ox, 1)] = (kx0, kx1)
    for oy in range(win.oh):
        iy0 = oy * win.sh - win.pad_t
        inside = [0 <= iy0 + ky * win.dh < h for ky in range(win.kh)]
        for ox in range(win.ow):
            kx0, kx1 = row_cost[(ox, 1)]
            k = 0
            for ins in inside:
                parts = ((win.kw * c, False),) if not ins else (
                    (kx0 * c, False), ((kx1 - kx0) * c, True), ((win.kw - kx1) * c, False))
                for n, src in parts:
                    k, sc, st = _col_put(k, n, src)
                    scalar += sc
                    steps += st
            scalar += kpad - k
    return float(scalar), float(steps)


def _fast_requant(node: Node) -> bool:
    """Whether the layer's requantization folds into the fast ``pj_rq`` rows."""
    try:
        from picojoule.backends.c.emitters.common import channel_multipliers, fold_rows
        from picojoule.quant.fixedpoint import quantize_multipliers

        x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
        if node.op == "FULLY_CONNECTED":
            nd = int(np.prod(w.shape[:-1]))
            ws = w.quant.scale.astype(np.float64)
            ws = np.broadcast_to(ws if ws.size == nd else ws[:1], (nd,))
            mult, shift = quantize_multipliers(np.float64(np.float32(x.quant.scale0)) * ws
                                               / np.float64(np.float32(y.quant.scale0)))
        else:
            cout = w.shape[0] if node.op == "CONV_2D" else w.shape[3]
            mult, shift = channel_multipliers(node, x, w, y, cout)
        return fold_rows(mult, shift, y.quant.zp0) is not None
    except Exception:  # noqa: BLE001  (an unusual layer: assume the general path)
        return False


#: Whether outputs are split by requantization path. Off: the C backend now picks a
#: different kernel function for the paths that cost differently, and the variant (kernel
#: name) carries that; kept for kernels that branch inside.
SPLIT_REQUANT = True


def _split(node: Node, f: dict[str, float], fast: bool | None) -> dict[str, float]:
    if not SPLIT_REQUANT:
        return f
    out = f.pop("outputs")
    if fast is None:
        fast = _fast_requant(node)
    f["outputs_fast_rq"] = out if fast else 0.0
    f["outputs_general_rq"] = 0.0 if fast else out
    return f


def op_features(node: Node, fast_rq: bool | None = None) -> dict[str, float]:
    """Work counts of ``node`` (see the module docstring); {} for free ops. ``fast_rq``:
    whether the generated parameters carry folded requantization rows (None: guess)."""
    op = node.op
    y = node.outputs[0] if node.outputs else None
    out = float(y.size) if y is not None else 0.0
    if op in FREE_OPS:
        return {}
    if op == "CONV_2D":
        x, w = node.inputs[0], node.inputs[1]
        n, h, wd, c = x.shape
        cout, kh, kw, _ = w.shape
        win = _window(node, (kh, kw))
        npix = n * win.oh * win.ow
        kpad = (kh * kw * c + 3) // 4 * 4
        pairs, quads = math.ceil(npix / 2), math.ceil(cout / 4)
        # im2col path (pj_conv_s8_w16): 1x1 stride-1 unpadded layers with in_c % 4 == 0
        # read the input directly; in_c % 4 != 0 gathers through a table; else pj_col_put.
        direct = (kh == kw == 1 and win.sh == win.sw == 1 and win.pad_t == win.pad_l == 0
                  and c % 4 == 0 and (win.oh, win.ow) == (h, wd))
        if direct:
            scalar = steps = gather = 0.0
            direct_el = float(npix * kpad)
        elif c % 4:
            scalar = steps = direct_el = 0.0
            gather = float(npix * kpad)
        else:
            scalar, steps = _im2col_work(win, h, wd, c)
            scalar, steps = n * scalar, n * steps
            direct_el = gather = 0.0
        return _split(node, {"padded_macs": float(pairs * 2 * quads * 4 * kpad),
                             "im2col_scalar": scalar, "im2col_steps": steps,
                             "im2col_direct": direct_el, "im2col_gather": gather,
                             "im2col_rows": float(npix * kh),
                             "blocks": float(pairs * quads), "outputs": out, "one": 1.0}, fast_rq)
    if op == "DEPTHWISE_CONV_2D":
        x, w = node.inputs[0], node.inputs[1]
        n, h, wd, c = x.shape
        _, kh, kw, cout = w.shape
        win = _window(node, (kh, kw))
        npix = n * win.oh * win.ow
        taps, full = _taps(win, h, wd)
        interior = n * full if (kh, kw) == (3, 3) and cout == c else 0
        macs = n * taps * cout
        m3 = interior * 9 * c
        # Padded taps: the fast DSP kernel runs them against a zero-point row.
        pad_taps = npix * kh * kw - n * taps
        return _split(node, {"macs_3x3": float(m3),
                             "macs_other": float(macs - m3) if cout == c else 0.0,
                             "macs_mult": 0.0 if cout == c else float(macs),
                             "macs_pad": float(pad_taps * cout),
                             "border_pixels": float(npix - n * full),
                             "taps": float(n * taps - interior * 9), "pixels": float(npix),
                             "outputs": out, "one": 1.0}, fast_rq)
    if op == "FULLY_CONNECTED":
        return _split(node, {"macs": float(node_macs(node)), "outputs": out,
                             "inputs": float(node.inputs[0].size), "one": 1.0}, fast_rq)
    if op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        x = node.inputs[0]
        a = node.attrs
        kh, kw = int(a.get("filter_height", 1)), int(a.get("filter_width", 1))
        win = _window(node, (kh, kw))
        taps, _ = _taps(win, x.shape[1], x.shape[2])
        n, c = x.shape[0], x.shape[3]
        return {"window": float(n * taps * c), "outputs": out,
                "pixels": float(n * win.oh * win.ow), "one": 1.0}
    if op == "SOFTMAX":
        rows = out / y.shape[-1] if y.shape else 1.0
        return {"outputs": out, "rows": float(rows), "one": 1.0}
    return {"outputs": out, "macs": float(node_macs(node)), "one": 1.0}


def features(node: Node, kernel: tuple[str, bool | None] | None = None
             ) -> tuple[str, dict[str, float]]:
    """(variant, work counts): the variant is the C kernel name when known (an entry of
    :func:`kernel_names`), else the op name."""
    name, fast = kernel if kernel is not None else (None, None)
    if node.op in FREE_OPS or name == "free":
        return "free", {}
    if name == "memcpy":
        return "memcpy", {"outputs": float(node.outputs[0].nbytes), "one": 1.0}
    return name or node.op, op_features(node, fast)


def weight_stream_bytes(node: Node) -> float:
    """Weight bytes the kernel reads per inference (for flash wait states).

    Convolutions re-read the whole filter for every block of 2 output pixels; depthwise and
    fully connected kernels read each weight once per use (no register reuse)."""
    f = op_features(node)
    if node.op == "CONV_2D":
        return f["padded_macs"] / 2
    if node.op == "DEPTHWISE_CONV_2D":
        return f["macs_3x3"] + f["macs_other"] + f["macs_mult"]
    if node.op == "FULLY_CONNECTED":
        return f["macs"]
    return 0.0
