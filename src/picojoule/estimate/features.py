"""Cost features of one graph node for the latency model.

The latency model predicts the instructions picojoule's own generated C kernel executes for
a node as a non-negative linear combination of a few work counts ("features") of the node.

*Which* kernel runs is read from the C generator itself: :func:`kernel_names` generates the
library for the core (in memory, ~0.2 s for a 30-layer model) and takes the function each
node calls (``pj_conv_s8_w16``, ``pj_dwconv_s8_fast``, ``pj_conv_s8_mve`` ...) and the
fields of its parameter block (requantization constants present or not, activation range).
The cost model's coefficients are keyed by that name ("variant"), so when the code generator
gains a kernel or changes which one it picks, the estimate follows it (and the fit script
measures it).

The work counts follow the loop structure of each kernel in ``backends/c/kernels`` (the
feature names say which loop they count):

- ``pj_conv_s8_w16`` (Cortex-M4/M7, SMLAD): per block of 2 pixels x 4 output channels the
  28-instruction loop over groups of 4 taps (``groups``) and a block epilogue whose cost
  depends on the path: inline assembly (pj_rq3 constants, activation range = int8 range),
  C (a narrower activation range or the 1-3 tail channels through a local buffer) or TFLM's
  general requantization; per pixel pair the column build: the 1x1 direct copy, the gather
  table of interior pixels when in_c % 4 != 0, or pj_im2col_fold (scalar writes, 4-tap
  steps from the input or of the zero point, calls) at borders and everywhere else;
- ``pj_conv_s8_mve`` (Cortex-M55, MVE): 16-tap chunks per 2x4 block, assembly / C /
  general epilogues, vector gather of interior pixels (in_c < 16) or predicated copy/fill
  columns (16 bytes per vector step);
- ``pj_dwconv_s8_fast`` / ``pj_dwconv_s8_mve`` / ``pj_dwconv_s8_mve16``: per output row a
  zero-point-padded strip of k_h input rows (memset/memcpy bytes and calls); per pixel and
  channel quad (16-channel group for mve16) the unrolled 3x3 body (assembly or C) or the
  generic loop over taps; the general requantization per quad;
- other kernels (portable convolution and depthwise, fully connected, pooling, elementwise,
  softmax): MACs, window taps, outputs, rows (see :func:`op_features`).

Every feature vector ends with ``one`` (call overhead).
"""

from __future__ import annotations

import math
import re

import numpy as np

from picojoule.ir import Model, Node, Value
from picojoule.ops.registry import ALIAS, has_trait, node_macs



#: The variant of a node the C backend has no kernel for.
NO_KERNEL_VARIANT = "no C kernel"

#: What :func:`kernel_names` knows of a node's kernel: (function name, parameter fields).
#: The fields are the parameter block's ``/* name */ value`` entries (ints where numeric,
#: else the C expression; "rq" is True/False: requantization constants present or not).
KernelInfo = tuple[str, dict]


def _block_fields(block: str) -> dict:
    fields: dict = {}
    for m in re.finditer(r"/\* (\w+) \*/ (\{[^}]*\}|[^,\n]+)", block):
        v = m.group(2).strip()
        if v.startswith("{"):  # an array field: its integers
            try:
                fields[m.group(1)] = [int(e) for e in v.strip("{}").split(",")]
            except ValueError:
                fields[m.group(1)] = v
            continue
        try:
            fields[m.group(1)] = int(v)
        except ValueError:
            fields[m.group(1)] = v
    if "rq" in fields:
        fields["rq"] = fields["rq"] not in (0, "0", "NULL", "((void *)0)")
    return fields


def kernel_names(model: Model, core: str, dsp: bool | None = None) -> dict[int, KernelInfo]:
    """Node index -> (C kernel function the generated code calls for it on ``core`` (a C
    backend target such as "cortex-m4"), the fields of its parameter block), in the order
    the generated code runs the nodes. "free" for aliased nodes. A convolution the
    generator runs in place "last chunk first" (one call per pixel pair or per pixel, see
    ``backends/c/inplace.py``) gets ``fields["chunks"]``: the pixels per call ("pairs" 2,
    "pixels" 1). A node the C backend has no kernel for gets ("no C kernel", {"reason": ...}).
    Empty when the C backend cannot generate the model at all (then :func:`features` falls
    back to the op name)."""
    from picojoule.backends.c.generator import NO_KERNEL, generate
    from picojoule.errors import PicojouleError

    try:
        gen = generate(model, name="est", target=core, dsp=dsp, missing="stub")
    except (PicojouleError, ValueError, KeyError, NotImplementedError):
        return {}
    src = gen.files["est.c"]
    blocks = {m.group(1): m.group(2) for m in
              re.finditer(r"static const \w+ (\w+) = \{(.*?)\n\};", src, re.S)}
    out: dict[int, KernelInfo] = {}
    for m in re.finditer(r"/\* (\d+): \S+ ([^\n]*)\*/\n(.*?)PJ_NODE_DONE\(\1\);", src, re.S):
        k, head, body = int(m.group(1)), m.group(2), m.group(3)
        call = re.search(r"\b(pj_\w+|memcpy)\((&(\w+))?", body)
        if call is None:
            continue
        pname = call.group(3)
        if pname is None or pname == "q":
            q = re.search(r"\w+ q = (\w+);", body)
            pname = q.group(1) if q else None
        block = blocks.get(pname or "")
        fields = _block_fields(block) if block is not None else {}
        if "last chunk first" in head:
            fields["chunks"] = 2 if "q.in_w = 2" in body else 1
        if call.group(1) in ("pj_copy", "pj_fill"):
            # every copy of the node (CONCATENATION: one per input; PAD: the interior)
            fields["copies"] = [_block_fields(blocks[c]) for c in
                                re.findall(r"\bpj_copy\(&(\w+)", body) if c in blocks]
            fill = re.match(r"pj_fill\([^;]*?, (\d+), (\d+), ", body[call.start():])
            if fill:
                fields["fill_n"], fields["fill_elem"] = int(fill.group(1)), int(fill.group(2))
        out[k] = (call.group(1), fields)
    for m in re.finditer(r"/\* (\d+): \S+ [^\n]*aliases its input \*/", src):
        out[int(m.group(1))] = ("free", {})
    for k, reason in gen.meta.get("no_kernel", {}).items():
        out[k] = (NO_KERNEL_VARIANT, {"reason": reason})
    for k in [k for k, (name, _) in out.items() if name == NO_KERNEL]:
        out[k] = (NO_KERNEL_VARIANT, {"reason": "no C kernel"})
    return out


def _chunk_node(node: Node, width: int) -> Node:
    """The 1 x ``width`` pixel 1x1 convolution one in-place chunk call computes."""
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    xc = Value(x.name, (1, 1, width, x.shape[3]), x.dtype, quant=x.quant)
    yc = Value(y.name, (1, 1, width, y.shape[3]), y.dtype, quant=y.quant)
    attrs = dict(node.attrs, padding="VALID", stride_h=1, stride_w=1)
    return Node(node.op, [xc, w, *node.inputs[2:]], [yc], attrs, name=node.name)


def _chunked(fn, node: Node, info: dict) -> dict[str, float]:
    """Work counts of a node run chunk by chunk: the sum over its calls (each call pays
    the call overhead ``one``)."""
    per = int(info["chunks"])
    npix = int(np.prod(node.outputs[0].shape[:3]))
    sub = {k: v for k, v in info.items() if k != "chunks"}
    total: dict[str, float] = {}
    for width, count in ((per, npix // per), (1, npix % per)):
        if count:
            for key, v in fn(_chunk_node(node, width), sub).items():
                total[key] = total.get(key, 0.0) + v * count
    return total


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


def _pool_window(node: Node):
    """(window geometry, in-image window taps x channels over every output) of a pooling."""
    x, a = node.inputs[0], node.attrs
    win = _window(node, (int(a.get("filter_height", 1)), int(a.get("filter_width", 1))))
    taps, _ = _taps(win, x.shape[1], x.shape[2])
    return win, float(x.shape[0] * taps * x.shape[3])


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


#: Whether the generic counts split outputs by requantization path (folded rows or TFLM's
#: general formula: the generic kernels branch inside on ``p->rq``).
SPLIT_REQUANT = True


def _split_outputs(f: dict[str, float], flag: bool, yes: str, no: str) -> dict[str, float]:
    """``f`` with its ``outputs`` count moved to ``yes`` (``flag``) or ``no`` (the other 0)."""
    out = f.pop("outputs")
    f[yes] = out if flag else 0.0
    f[no] = 0.0 if flag else out
    return f


def _split(node: Node, f: dict[str, float], fast: bool | None) -> dict[str, float]:
    if not SPLIT_REQUANT:
        return f
    if fast is None:
        fast = _fast_requant(node)
    return _split_outputs(f, fast, "outputs_fast_rq", "outputs_general_rq")


def op_features(node: Node, fast_rq: bool | None = None) -> dict[str, float]:
    """Generic work counts of ``node`` for kernels without their own (:data:`KERNEL_FEATURES`)
    and when the C backend cannot generate the model; {} for free ops. ``fast_rq``: whether
    the generated parameters carry folded requantization rows (None: guess). The CONV_2D
    counts follow the portable/SMLAD im2col kernels (``pj_conv_s8``, ``pj_conv_s8_dsp``)."""
    op = node.op
    y = node.outputs[0] if node.outputs else None
    out = float(y.size) if y is not None else 0.0
    if has_trait(op, ALIAS):  # RESHAPE-like: no code when the planner aliases it
        return {}
    if op == "CONV_2D":
        x, w = node.inputs[0], node.inputs[1]
        n, h, wd, c = x.shape
        cout, kh, kw, _ = w.shape
        win = _window(node, (kh, kw))
        npix = n * win.oh * win.ow
        kpad = (kh * kw * c + 3) // 4 * 4
        pairs, quads = math.ceil(npix / 2), math.ceil(cout / 4)
        # Rough im2col split (the exact counts of the fast kernels are in _conv_w16 and
        # _conv_mve): direct 1x1 reads, gathered in_c % 4 != 0 columns, else pj_col_put.
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
        win, window = _pool_window(node)
        n = node.inputs[0].shape[0]
        return {"window": window, "outputs": out, "pixels": float(n * win.oh * win.ow),
                "one": 1.0}
    if op == "SOFTMAX":
        rows = out / y.shape[-1] if y.shape else 1.0
        return {"outputs": out, "rows": float(rows), "one": 1.0}
    return {"outputs": out, "macs": float(node_macs(node)), "one": 1.0}


# ----------------------------------------------------------------------- per-kernel counts
def _pixel_calls(npix: int, both: bool) -> list[int]:
    """Pixels whose column a pixel-pair kernel builds, in order: px and px + 1 per pair;
    a lone last pixel is built twice when ``both`` (pj_conv_s8_w16), once otherwise."""
    out = []
    for px in range(0, npix, 2):
        out.append(px)
        if px + 1 < npix:
            out.append(px + 1)
        elif both:
            out.append(px)
    return out


def _row_segments(win, h: int, w: int, c: int, oy: int, ox: int
                  ) -> list[tuple[int, bool, bool]]:
    """(length, from the input, call made) of the column segments the im2col kernels write
    for one pixel, row by row (an empty input segment is still a call)."""
    iy0, ix0 = oy * win.sh - win.pad_t, ox * win.sw - win.pad_l
    kw = win.kw
    segs = []
    for ky in range(win.kh):
        iy = iy0 + ky * win.dh
        if not 0 <= iy < h:
            segs.append((kw * c, False, True))
        elif win.dw == 1:
            kx0 = min(max(-ix0, 0), kw)
            kx1 = max(min(w - ix0, kw), kx0)
            if kx0 > 0:
                segs.append((kx0 * c, False, True))
            segs.append(((kx1 - kx0) * c, True, True))
            if kx1 < kw:
                segs.append(((kw - kx1) * c, False, True))
        else:
            for kx in range(kw):
                segs.append((c, 0 <= ix0 + kx * win.dw < w, True))
    return segs


def _interior(win, h: int, w: int, oy: int, ox: int) -> bool:
    iy0, ix0 = oy * win.sh - win.pad_t, ox * win.sw - win.pad_l
    return (iy0 >= 0 and iy0 + (win.kh - 1) * win.dh < h and ix0 >= 0
            and ix0 + (win.kw - 1) * win.dw < w)


def _full_range(info: dict) -> bool:
    """The activation range is the whole int8 range (the assembly epilogues' condition)."""
    return info.get("act_min", -128) == -128 and info.get("act_max", 127) == 127


def _conv_w16(node: Node, info: dict) -> dict[str, float]:
    """pj_conv_s8_w16: see the module docstring."""
    x, wt = node.inputs[0], node.inputs[1]
    n, h, wd, c = x.shape
    cout, kh, kw, _ = wt.shape
    win = _window(node, (kh, kw))
    npix = win.oh * win.ow
    kpad = (kh * kw * c + 3) // 4 * 4
    pairs = n * math.ceil(npix / 2)
    quads, full_q, tail = math.ceil(cout / 4), cout // 4, int(cout % 4 > 0)
    f = dict.fromkeys(("col_direct", "gather_groups", "gather_px", "fold_scalar",
                       "fold_steps_src", "fold_steps_zero", "fold_puts", "fold_px"), 0.0)
    direct = (kh == kw == 1 and win.sh == win.sw == 1 and win.pad_t == win.pad_l == 0
              and c % 4 == 0 and (win.oh, win.ow) == (h, wd))
    if direct:
        f["col_direct"] = float(pairs * kpad // 4)
    else:
        cache: dict[tuple[int, int], tuple] = {}
        for px in _pixel_calls(npix, True):
            oy, ox = divmod(px, win.ow)
            if c % 4 and _interior(win, h, wd, oy, ox):
                f["gather_groups"] += kpad // 4
                f["gather_px"] += 1
                continue
            key = (oy, ox)
            if key not in cache:
                k = sc = st_s = st_z = puts = 0
                for ln, src, _ in _row_segments(win, h, wd, c, oy, ox):
                    pre = min((-k) % 4, ln)
                    steps = (ln - pre) // 4
                    sc += ln - 4 * steps
                    if src:
                        st_s += steps
                    else:
                        st_z += steps
                    puts += 1
                    k += ln
                cache[key] = (sc + kpad - k, st_s, st_z, puts)
            sc, st_s, st_z, puts = cache[key]
            f["fold_scalar"] += sc
            f["fold_steps_src"] += st_s
            f["fold_steps_zero"] += st_z
            f["fold_puts"] += puts
            f["fold_px"] += 1
        f = {k: v * n for k, v in f.items()}
    rq = info.get("rq", True)
    asm = rq and _full_range(info)
    f.update({
        "groups": float(pairs * quads * kpad // 4),
        "blocks_asm": float(pairs * full_q) if asm else 0.0,
        "blocks_c": float(pairs * (tail if asm else quads)) if rq else 0.0,
        "blocks_tail": float(pairs * tail) if rq else 0.0,
        "blocks_general": 0.0 if rq else float(pairs * quads),
        "pairs": float(pairs), "one": 1.0})
    return f


def _conv_mve(node: Node, info: dict) -> dict[str, float]:
    """pj_conv_s8_mve: see the module docstring."""
    x, wt = node.inputs[0], node.inputs[1]
    n, h, wd, c = x.shape
    cout, kh, kw, _ = wt.shape
    win = _window(node, (kh, kw))
    npix = win.oh * win.ow
    k = kh * kw * c
    k16 = (k + 15) // 16 * 16
    pairs = n * math.ceil(npix / 2)
    quads, full_q, tail = math.ceil(cout / 4), cout // 4, int(cout % 4 > 0)
    direct = (kh == kw == 1 and win.sh == win.sw == 1 and win.pad_t == win.pad_l == 0
              and (win.oh, win.ow) == (h, wd))
    chunks = (k // 16 + int(k % 16 > 0)) if direct else k16 // 16
    f = dict.fromkeys(("gather_vec", "gather_px", "col_vec", "col_calls", "col_px"), 0.0)
    if not direct:
        gather = c < 16
        cache: dict[tuple[int, int], tuple[int, int]] = {}
        for px in _pixel_calls(npix, False):
            oy, ox = divmod(px, win.ow)
            if gather and _interior(win, h, wd, oy, ox):
                f["gather_vec"] += k16 // 8
                f["gather_px"] += 1
                continue
            if (oy, ox) not in cache:
                segs = _row_segments(win, h, wd, c, oy, ox)
                vec = sum(-(-ln // 16) for ln, _, _ in segs) + -(-(k16 - k) // 16)
                cache[(oy, ox)] = (vec, len(segs) + int(k16 > k))
            vec, calls = cache[(oy, ox)]
            f["col_vec"] += vec
            f["col_calls"] += calls
            f["col_px"] += 1
        f = {kk: v * n for kk, v in f.items()}
    rq = info.get("rq", True)
    f.update({
        "chunks": float(pairs * quads * chunks),
        "blocks_asm": float(pairs * full_q) if rq else 0.0,
        "blocks_c": float(pairs * tail) if rq else 0.0,
        "blocks_general": 0.0 if rq else float(pairs * quads),
        "pairs": float(pairs), "one": 1.0})
    return f


def _strip(node: Node, win, n: int, h: int, w: int, c: int) -> tuple[float, float, float]:
    """(bytes copied, bytes filled with the zero point, memcpy/memset calls) of pj_dw_strip
    over every output row."""
    kh, kw = win.kh, win.kw
    pw = (win.ow - 1) * win.sw + (kw - 1) * win.dw + 1
    left = min(win.pad_l, pw)
    nin = max(min(win.pad_l + w, pw) - left, 0)
    copy = fill = calls = 0
    for oy in range(win.oh):
        iy0 = oy * win.sh - win.pad_t
        for ky in range(kh):
            if not 0 <= iy0 + ky * win.dh < h:
                fill, calls = fill + pw * c, calls + 1
                continue
            copy += nin * c
            fill += (pw - nin) * c
            calls += int(left > 0) + int(nin > 0) + int(left + nin < pw)
    return float(n * copy), float(n * fill), float(n * calls)


def _dw_strip_kernel(node: Node, info: dict, lanes: int, asm9: bool) -> dict[str, float]:
    """pj_dwconv_s8_fast (lanes 4), pj_dwconv_s8_mve (4) and pj_dwconv_s8_mve16 (16):
    strip per output row, then per pixel and channel group the 3x3 body or the tap loop.
    ``asm9``: the 3x3 body is inline assembly when the requantization constants are
    present and the activation range is the int8 range (C otherwise)."""
    x, wt = node.inputs[0], node.inputs[1]
    n, h, wd, c = x.shape
    _, kh, kw, _ = wt.shape
    win = _window(node, (kh, kw))
    taps = kh * kw
    pix = n * win.oh * win.ow
    groups = pix * math.ceil(c / lanes)
    rq = info.get("rq", True)
    fast9 = (kh, kw) == (3, 3) and win.dw == 1
    body_asm = fast9 and asm9 and rq and _full_range(info)
    copy, fill, calls = _strip(node, win, n, h, wd, c)
    return {"strip_copy": copy, "strip_fill": fill, "strip_calls": calls, "rows": float(n * win.oh),
            "pixels": float(pix),
            "groups9_asm": float(groups) if body_asm else 0.0,
            "groups9_c": float(groups) if fast9 and not body_asm else 0.0,
            "tap_groups": 0.0 if fast9 else float(groups * taps),
            "groups": 0.0 if fast9 else float(groups),
            "groups_general": 0.0 if rq else float(groups), "one": 1.0}


def _dw_portable(node: Node, info: dict) -> dict[str, float]:
    """pj_dwconv_s8 (any depth multiplier): per pixel the bias copied into an int32 row,
    per in-image tap a loop over channels (depth multiplier 1) or over input channels and
    multiplier, per output the requantization (folded ``pj_rq`` rows or TFLM's general)."""
    x, wt = node.inputs[0], node.inputs[1]
    n, h, wd, c = x.shape
    _, kh, kw, cout = wt.shape
    win = _window(node, (kh, kw))
    taps, _ = _taps(win, h, wd)
    pix = n * win.oh * win.ow
    out = float(pix * cout)
    rq = info.get("rq")
    if rq is None:
        rq = _fast_requant(node)
    dm1 = cout == c
    return {"macs_dm1": float(n * taps * cout) if dm1 else 0.0,
            "macs_dm": 0.0 if dm1 else float(n * taps * cout),
            "in_channels_dm": 0.0 if dm1 else float(n * taps * c),
            "taps": float(n * taps), "window": float(pix * kh * kw),
            "pixels": float(pix), "acc_words": out,
            "outputs_fast_rq": out if rq else 0.0, "outputs_general_rq": 0.0 if rq else out,
            "one": 1.0}


def _copy(node: Node, info: dict) -> dict[str, float]:
    """pj_copy (STRIDED_SLICE, CONCATENATION: one call per input, TRANSPOSE, the interior of
    PAD) from its parameter blocks: per call and row (every index of the outer dimensions)
    the offset sums over the rank, then one memcpy of the row when both innermost strides
    are 1 (``bytes``), else one small copy per element (``elements``); pj_fill (PAD) adds
    the fill of the whole output: a memset for bytes, one copy per element otherwise."""
    out = {"rows": 0.0, "row_dims": 0.0, "bytes": 0.0, "elements": 0.0, "calls": 0.0,
           "fill_bytes": 0.0, "fill_elems": 0.0, "one": 1.0}
    for block in info.get("copies", [info]):
        count = block.get("count")
        if not isinstance(count, list) or not block.get("rank"):
            continue
        rank, elem = int(block["rank"]), int(block.get("elem", 1))
        rows = int(np.prod(count[:rank - 1])) if rank > 1 else 1
        inner = count[rank - 1]
        contiguous = block["src_stride"][rank - 1] == 1 and block["dst_stride"][rank - 1] == 1
        out["calls"] += 1.0
        out["rows"] += float(rows)
        out["row_dims"] += float(rows * rank)
        if contiguous:
            out["bytes"] += float(rows * inner * elem)
        else:
            out["elements"] += float(rows * inner)
    if "fill_n" in info:
        n, elem = int(info["fill_n"]), int(info["fill_elem"])
        out["fill_bytes" if elem == 1 else "fill_elems"] = float(n)
    return out


def _leaky(node: Node, info: dict) -> dict[str, float]:
    """pj_leaky_relu_s8 / _s16: per element the branch by sign and one requantization, whose
    right-shift form (a rounding step) costs more than a left shift or none: the elements
    are counted apart for each branch whose shift is negative (half the data takes each
    branch on the fit's random inputs)."""
    n = float(node.outputs[0].size)
    return {"outputs": n, "id_right": n if info.get("id_shift", 0) < 0 else 0.0,
            "alpha_right": n if info.get("alpha_shift", 0) < 0 else 0.0, "one": 1.0}


def _tconv(node: Node, info: dict) -> dict[str, float]:
    """pj_tconv_s16 / _s8: the int64 output plane zeroed and, at the end, requantized per
    element; per input pixel the ky loop, per in-image ky the kx loop, per in-image tap
    (ky, kx) one pass over the output channels, each a dot product over the input
    channels."""
    x, y, wt = node.inputs[2], node.outputs[0], node.inputs[1]
    n, ih, iw, ic = (int(d) for d in x.shape)
    _, oh, ow, oc = (int(d) for d in y.shape)
    kh, kw = int(wt.shape[1]), int(wt.shape[2])
    sh, sw = int(info.get("stride_h", 1)), int(info.get("stride_w", 1))
    pt, pl = int(info.get("pad_t", 0)), int(info.get("pad_l", 0))
    rows_in = [sum(0 <= i * sh - pt + k < oh for i in range(ih)) for k in range(kh)]
    cols_in = [sum(0 <= i * sw - pl + k < ow for i in range(iw)) for k in range(kw)]
    taps = n * sum(rows_in) * sum(cols_in)
    return {"plane": float(n * oh * ow * oc), "pixels": float(n * ih * iw),
            "rows": float(n * sum(rows_in) * iw), "taps": float(taps),
            "tap_channels": float(taps * oc), "macs": float(taps * oc * ic), "one": 1.0}


def _requantize(node: Node, info: dict) -> dict[str, float]:
    """pj_requantize: per element a load and a store chosen by element size (one compare
    for int8, two otherwise) and one requantization, with a rounding step for a negative
    shift."""
    n = float(node.outputs[0].size)
    branches = (1 if info.get("in_elem", 1) == 1 else 2) + (1 if info.get("out_elem", 1) == 1
                                                            else 2)
    return {"outputs": n, "branches": n * branches,
            "right": n if info.get("shift", 0) < 0 else 0.0, "one": 1.0}


def _svdf(node: Node, info: dict) -> dict[str, float]:
    """pj_svdf_s8: per batch and filter a dot product over the inputs, a requantization and
    a memmove of the filter's state (memory - 1 elements); per unit and rank a dot product
    over the memory (int16 or int8 state, counted apart); per unit the output
    requantization."""
    x, wf, wt = node.inputs[0], node.inputs[1], node.inputs[2]
    filters, inputs = int(wf.shape[0]), int(wf.shape[1])
    memory = int(wt.shape[1])
    batches = int(x.size) // inputs
    units = int(node.outputs[0].size) // batches
    wide = bool(info.get("state_is_16", 1))
    time = float(batches * filters * memory)
    return {"feature_macs": float(batches * filters * inputs),
            "filters": float(batches * filters),
            "state_bytes": float(batches * filters * (memory - 1) * (2 if wide else 1)),
            "time_macs": time if wide else 0.0, "time_macs8": 0.0 if wide else time,
            "units": float(batches * units), "one": 1.0}


def _fc_dsp(node: Node, info: dict) -> dict[str, float]:
    """pj_fc_s8_dsp: per batch the inputs widened to int16 (padded to a multiple of 4), then
    blocks of 4 rows (out_depth padded to a multiple of 4) over groups of 4 inputs, and the
    requantization of every output."""
    x, wt = node.inputs[0], node.inputs[1]
    k = int(wt.shape[-1])
    nd = int(np.prod(wt.shape[:-1]))
    batches = int(x.size) // k
    kp, quads = (k + 3) // 4 * 4, math.ceil(nd / 4)
    return _split(node, {"groups": float(batches * quads * kp // 4),
                         "blocks": float(batches * quads), "inputs": float(batches * kp),
                         "outputs": float(batches * nd), "one": 1.0}, info.get("rq"))


def _fc_mve(node: Node, info: dict) -> dict[str, float]:
    """pj_fc_s8_mve: batches in pairs (a lone batch read twice), per pair the 2 x 4 blocks
    of pj_conv_s8_mve over 16-byte chunks (a predicated last chunk), same epilogues."""
    x, wt = node.inputs[0], node.inputs[1]
    k = int(wt.shape[-1])
    nd = int(np.prod(wt.shape[:-1]))
    batches = int(x.size) // k
    pairs = math.ceil(batches / 2)
    quads, full_q, tail = math.ceil(nd / 4), nd // 4, int(nd % 4 > 0)
    rq = info.get("rq", True)
    return {"chunks": float(pairs * quads * (k // 16 + int(k % 16 > 0))),
            "blocks_asm": float(pairs * full_q) if rq else 0.0,
            "blocks_c": float(pairs * tail) if rq else 0.0,
            "blocks_general": 0.0 if rq else float(pairs * quads),
            "pairs": float(pairs), "one": 1.0}


def _direct_window(node: Node, kh: int, kw: int, cout: int) -> dict[str, float]:
    """Loop counts of the direct (no im2col) window kernels: float32 pj_conv_f32,
    pj_dwconv_f32 and int16x8 pj_conv_s16, pj_dwconv_s16. Per output the
    ``ky`` loop over every window row, the ``kx`` loop over every column of an in-image row,
    the tap body (bounds check, pointers) per in-image tap; the output store with bias,
    requantization or rescale, and clamp."""
    x = node.inputs[0]
    n, h, wd = x.shape[0], x.shape[1], x.shape[2]
    win = _window(node, (kh, kw))
    taps, _ = _taps(win, h, wd)
    rows_in = sum(1 for oy in range(win.oh) for ky in range(kh)
                  if 0 <= oy * win.sh - win.pad_t + ky * win.dh < h) * win.ow
    pix = n * win.oh * win.ow
    return {"ky_iters": float(pix * kh * cout), "kx_iters": float(n * rows_in * kw * cout),
            "tap_calls": float(n * taps * cout), "outputs": float(pix * cout),
            "pixels": float(pix), "one": 1.0}


def _conv_f32(node: Node, info: dict) -> dict[str, float]:
    """pj_conv_f32: float multiply-adds over in_c per in-image tap (``macs``)."""
    cout, kh, kw, cin = node.inputs[1].shape
    f = _direct_window(node, kh, kw, cout)
    f["macs"] = f["tap_calls"] * cin
    return f


def _lstm(node: Node, info: dict) -> dict[str, float]:
    """pj_lstm_s8 / pj_lstm_s16 / pj_lstm_f32: per time step and batch row (``rows``) the
    four gates' input and recurrent dot products (``in_macs``: 4 x units x inputs,
    ``rec_macs``: 4 x units x units, ``gate_outputs``: their rescale per gate and unit),
    then per unit the gate activations, the cell and hidden update (``cells``)."""
    x, y = node.inputs[0], node.outputs[0]
    units = int(y.shape[-1])
    n_in = int(x.shape[-1])
    rows = int(x.size) // n_in
    return {"in_macs": float(rows * 4 * units * n_in),
            "rec_macs": float(rows * 4 * units * units),
            "gate_outputs": float(rows * 4 * units), "cells": float(rows * units),
            "rows": float(rows), "one": 1.0}


def _hybrid_plane(n: int, elems: int) -> dict[str, float]:
    """pj_hybrid_quantize per batch: a min/max (or max |x|) pass and a rounding pass over
    the batch's ``elems`` floats (``plane``), the scale and zero point (``batches``)."""
    return {"plane": float(n * elems), "batches": float(n)}


def _hybrid_conv(node: Node, info: dict) -> dict[str, float]:
    """pj_hybrid_conv: the input quantized per batch, then per output pixel the im2col
    column (``col``: bytes copied or filled, per group) and either the DSP quad path (the
    column widened to int16, ``col16`` elements, then 4 output channels per pass of
    SMLAD over 4-tap groups, ``groups``) or one int8 dot product per output channel over the
    column (``imacs``); a float rescale, bias and clamp per output (``outputs``)."""
    x = node.inputs[0]
    cout, kh, kw, cg = node.inputs[1].shape
    n, h, wd, c = x.shape
    win = _window(node, (kh, kw))
    pix = n * win.oh * win.ow
    k = kh * kw * cg
    f = _hybrid_plane(n, h * wd * c)
    f["col"] = float(pix * (c // cg) * k)
    f["outputs"] = float(pix * cout)
    if info.get("quad", 0):
        kpad = (k + 3) // 4 * 4
        f["col16"] = float(pix * kpad)
        f["groups"] = float(pix * math.ceil(cout / 4) * (kpad // 4))
    else:
        f["imacs"] = float(pix * cout * k)
    f["pixels"] = float(pix)
    f["one"] = 1.0
    return f


def _hybrid_dwconv(node: Node, info: dict) -> dict[str, float]:
    """pj_hybrid_dwconv: the input quantized per batch (asymmetric), then per output pixel
    the in-image taps: 4 channels per tap in the DSP quad body (``quad_taps``, per channel
    quad), else one multiply-add per tap and output channel (``tap_calls``); a float
    rescale per output (``outputs``)."""
    x = node.inputs[0]
    _, kh, kw, cout = node.inputs[1].shape
    n, h, wd, c = x.shape
    win = _window(node, (kh, kw))
    taps, _ = _taps(win, h, wd)
    pix = n * win.oh * win.ow
    f = _hybrid_plane(n, h * wd * c)
    quads = c // 4 if info.get("quad", 0) else 0
    f["quad_taps"] = float(n * taps * quads)
    f["tap_calls"] = float(n * taps * (cout - 4 * quads))
    f["outputs"] = float(pix * cout)
    f["pixels"] = float(pix)
    f["one"] = 1.0
    return f


def _hybrid_fc(node: Node, info: dict) -> dict[str, float]:
    """pj_hybrid_fc: per batch row the input quantized (``plane``), then the DSP quad path
    (row widened to int16, 4 output units per pass over 4-tap groups) or one int8 dot
    product per unit (``imacs``); a float rescale per output (``outputs``)."""
    wt = node.inputs[1]
    k = int(wt.shape[-1])
    units = int(np.prod(wt.shape[:-1]))
    batches = int(node.inputs[0].size) // k
    f = _hybrid_plane(batches, k)
    if info.get("quad", 0):
        kpad = (k + 3) // 4 * 4
        f["col16"] = float(batches * kpad)
        f["groups"] = float(batches * math.ceil(units / 4) * (kpad // 4))
    else:
        f["imacs"] = float(batches * units * k)
    f["outputs"] = float(batches * units)
    f["one"] = 1.0
    return f


def _dwconv_f32(node: Node, info: dict) -> dict[str, float]:
    """pj_dwconv_f32: one float multiply-add per in-image tap and output channel (the tap
    body is the multiply-add, ``tap_calls``); a division by the depth multiplier per output."""
    _, kh, kw, cout = node.inputs[1].shape
    return _direct_window(node, kh, kw, cout)


def _wide_split(f: dict[str, float], info: dict) -> dict[str, float]:
    """Outputs split by the int16x8 requantization: 64-bit ("wide", int64 bias) or TFLM's
    32-bit double rounding (int32 bias)."""
    return _split_outputs(f, bool(info.get("wide", 1)), "outputs_wide", "outputs_narrow")


def _conv_s16(node: Node, info: dict) -> dict[str, float]:
    """pj_conv_s16: pj_conv_f32's loops on int16 x int8 (the generator runs an int16x8
    FULLY_CONNECTED through it too, as a 1x1 convolution over the batches)."""
    if node.op != "FULLY_CONNECTED":
        return _wide_split(_conv_f32(node, info), info)
    f = _fc_f32(node, info)
    outs, batches = f["outputs"], f.pop("rows")
    f.update(ky_iters=outs, kx_iters=outs, tap_calls=outs, pixels=batches)
    return _wide_split(f, info)


def _fc_f32(node: Node, info: dict) -> dict[str, float]:
    """pj_fc_f32: a float multiply-add per weight and batch, bias and clamp per output."""
    from picojoule.ops.matmul import _fc_geometry

    batches, depth, units = _fc_geometry(node)
    outs = float(batches * units)
    return {"macs": outs * depth, "outputs": outs, "rows": float(batches), "one": 1.0}


def _pool_direct(node: Node, info: dict) -> dict[str, float]:
    """pj_pool_f32 and pj_pool_int (int8/int16): per output the window's in-image taps (max
    or add), an average's division; per output pixel the window bounds."""
    win, window = _pool_window(node)
    n, c = node.inputs[0].shape[0], node.inputs[0].shape[3]
    pix = n * win.oh * win.ow
    return {"window_max" if node.op == "MAX_POOL_2D" else "window_avg": window,
            "outputs": float(pix * c), "pixels": float(pix), "rows": float(n * win.oh),
            "one": 1.0}


def _outputs_and_rows(node: Node, info: dict) -> dict[str, float]:
    """Kernels with a per-output body and a per-row setup over the innermost axis:
    pj_binary_f32, pj_addsub_s16, pj_mul_s16 (broadcast offsets, the op and its
    requantization, the clamp) and the softmaxes pj_softmax_f32 (a max, a double-precision
    exponential: a 17-term series and a 2^k scaling loop that depends on the data, a
    division) and pj_softmax_s16 (a max, a rescale, two table interpolations)."""
    y = node.outputs[0]
    inner = int(y.shape[-1]) if y.shape else 1
    return {"outputs": float(y.size), "rows": float(y.size // max(inner, 1)), "one": 1.0}


#: Kernels with their own work counts: name -> function(node, parameter fields).
KERNEL_FEATURES = {
    "pj_conv_s8_w16": _conv_w16,
    "pj_conv_s8_mve": _conv_mve,
    "pj_dwconv_s8": _dw_portable,
    "pj_fc_s8_mve": _fc_mve,
    "pj_fc_s8_dsp": _fc_dsp,
    "pj_copy": _copy,
    "pj_leaky_relu_s8": _leaky,
    "pj_leaky_relu_s16": _leaky,
    "pj_tconv_s16": _tconv,
    "pj_tconv_s8": _tconv,
    "pj_quantize_f32_s8": _outputs_and_rows,
    "pj_quantize_f32_s16": _outputs_and_rows,
    "pj_dequantize_s8_f32": _outputs_and_rows,
    "pj_dequantize_s16_f32": _outputs_and_rows,
    "pj_requantize": _requantize,
    "pj_svdf_s8": _svdf,
    "pj_softmax_s8_s16": _outputs_and_rows,
    "pj_mul_s8": _outputs_and_rows,
    "pj_addsub_s8": _outputs_and_rows,
    "pj_lut_s8": _outputs_and_rows,
    "pj_fill": _copy,
    "pj_add_s8_lut": lambda node, info: {"outputs": float(node.outputs[0].size), "one": 1.0},
    "pj_dwconv_s8_fast": lambda node, info: _dw_strip_kernel(node, info, 4, True),
    "pj_dwconv_s8_mve": lambda node, info: _dw_strip_kernel(node, info, 4, False),
    "pj_dwconv_s8_mve16": lambda node, info: _dw_strip_kernel(node, info, 16, True),
    "pj_conv_f32": _conv_f32,
    "pj_hybrid_conv": _hybrid_conv,
    "pj_lstm_s8": _lstm,
    "pj_lstm_s16": _lstm,
    "pj_lstm_f32": _lstm,
    "pj_hybrid_dwconv": _hybrid_dwconv,
    "pj_hybrid_fc": _hybrid_fc,
    "pj_dwconv_f32": _dwconv_f32,
    "pj_fc_f32": _fc_f32,
    "pj_pool_f32": _pool_direct,
    "pj_binary_f32": _outputs_and_rows,
    "pj_softmax_f32": _outputs_and_rows,
    "pj_conv_s16": _conv_s16,
    "pj_dwconv_s16": lambda node, info: _wide_split(_dwconv_f32(node, info), info),
    "pj_pool_int": _pool_direct,
    "pj_addsub_s16": _outputs_and_rows,
    "pj_mul_s16": _outputs_and_rows,
    "pj_softmax_s16": _outputs_and_rows,
}


#: picojoule's float32 kernels (the hybrid convolution too: float rescale, double rounding).
FLOAT_KERNELS = frozenset({"pj_conv_f32", "pj_hybrid_conv", "pj_hybrid_dwconv",
                           "pj_hybrid_fc", "pj_dwconv_f32", "pj_fc_f32", "pj_pool_f32",
                           "pj_binary_f32", "pj_softmax_f32"})
#: picojoule's int16x8 kernels with their own fit (pj_pool_int also runs int8 max pooling).
INT16_KERNELS = frozenset({"pj_conv_s16", "pj_dwconv_s16", "pj_pool_int", "pj_addsub_s16",
                           "pj_mul_s16", "pj_softmax_s16", "pj_leaky_relu_s16",
                           "pj_tconv_s16"})
#: The recurrent kernels the LSTM banks measure (pj_lstm_f32 is a float kernel too).
LSTM_KERNELS = frozenset({"pj_lstm_s8", "pj_lstm_s16", "pj_lstm_f32"})
#: Data-movement and (de)quantization kernels the int8 and int16 data banks measure.
DATA_KERNELS = frozenset({"pj_copy", "pj_fill", "pj_requantize", "pj_quantize_f32_s16",
                          "pj_dequantize_s16_f32"})


def features(node: Node, kernel: KernelInfo | None = None) -> tuple[str, dict[str, float]]:
    """(variant, work counts): the variant is the C kernel name when known (an entry of
    :func:`kernel_names`), else the op name."""
    name, info = kernel if kernel is not None else (None, {})
    if not isinstance(info, dict):  # (name, fast_rq) from older callers
        info = {} if info is None else {"rq": bool(info)}
    if has_trait(node, ALIAS) or name == "free":
        return "free", {}
    if name == "memcpy":
        return "memcpy", {"outputs": float(node.outputs[0].nbytes), "one": 1.0}
    if name in KERNEL_FEATURES:
        if info.get("chunks"):
            return name, _chunked(KERNEL_FEATURES[name], node, info)
        return name, KERNEL_FEATURES[name](node, info)
    return name or node.op, op_features(node, info.get("rq"))


def io_features(model: Model) -> dict[str, float]:
    """The generated invoke function's copies: every graph input into the arena and every
    output out of it (one memcpy each; the pseudo-kernel "io_copies" of the latency fit)."""
    values = [v for v in (*model.main.inputs, *model.main.outputs) if v is not None]
    return {"bytes": float(sum(v.nbytes for v in values)), "copies": float(len(values)),
            "one": 1.0}


#: Bytes per weight as the generated code stores it, for kernels whose weights are not one
#: byte each (emitters/conv.py, emitters/float.py): int16 pairs for the SMLAD kernels, one
#: int32 word per weight for pj_dwconv_s8_mve, float32 for the float kernels.
WEIGHT_SIZE = {"pj_conv_s8_w16": 2, "pj_dwconv_s8_fast": 2, "pj_dwconv_s8_mve": 4,
               "pj_conv_f32": 4, "pj_dwconv_f32": 4, "pj_fc_f32": 4}
#: Convolution kernels that compute blocks of 2 output pixels, reading the filter once per
#: block (the direct float32 and int16x8 loops read it once per pixel).
PIXEL_PAIR_CONVS = frozenset({"pj_conv_s8", "pj_conv_s8_dsp", "pj_conv_s8_w16",
                              "pj_conv_s8_mve"})


def weight_stream_bytes(node: Node, variant: str | None = None) -> float:
    """Weight bytes the kernel ``variant`` reads per inference (for flash wait states): the
    weights it reads times their stored size (:data:`WEIGHT_SIZE`, else one byte).

    The im2col convolutions re-read the whole filter for every block of 2 output pixels,
    the direct ones for every pixel; depthwise kernels read each weight once per use;
    pj_fc_s8_dsp reads its padded blocks of 4 rows once per batch, pj_fc_s8_mve once per
    pair of batches, the others each weight once per use."""
    if node.op not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        return 0.0
    size = WEIGHT_SIZE.get(variant or "", 1)
    if node.op == "CONV_2D":
        if variant is None or variant in PIXEL_PAIR_CONVS or variant == node.op:
            return op_features(node)["padded_macs"] / 2 * size
        return float(node_macs(node)) * size
    if node.op == "DEPTHWISE_CONV_2D":
        return float(node_macs(node)) * size
    x, wt = node.inputs[0], node.inputs[1]
    k = int(wt.shape[-1])
    nd = int(np.prod(wt.shape[:-1]))
    batches = int(x.size) // k
    if variant == "pj_fc_s8_dsp":
        return float(batches * ((nd + 3) // 4 * 4) * ((k + 3) // 4 * 4))
    if variant == "pj_fc_s8_mve":
        return float(math.ceil(batches / 2) * nd * k)
    return float(node_macs(node)) * size


def table_reads(node: Node, variant: str | None = None) -> float:
    """Random reads of generated lookup tables in flash per inference, each counted as a
    whole flash line (no data cache assumed; a cache would hold the 2 KiB tables):
    pj_add_s8_lut reads two table entries per element."""
    if variant == "pj_add_s8_lut":
        return 2.0 * node.outputs[0].size
    return 0.0
