"""SSD's box decoding and non-max suppression: the TFLite custom op
``TFLite_Detection_PostProcess`` (``CUSTOM:TFLite_Detection_PostProcess``).

Written with picojoule's custom-op API (:func:`picojoule.custom.custom_op`): this file is
the shape rule, the numpy reference and the C kernel's constants; the kernel is
``detection_postprocess.c`` beside it. Its results are those of TFLM's and LiteRT's
kernels (``detection_postprocess.cc``), read for their semantics:

Inputs: box encodings ``[1, N, >=4]`` (y, x, h, w per anchor), class predictions
``[1, N, C + 1]`` (with a background column first) or ``[1, N, C]``, anchors ``[N, 4]``
(y, x, h, w), float32 or uint8/int8 (dequantized first: ``(float(q) - zp) * scale`` in
float32). Outputs, all float32: boxes ``[1, M, 4]`` (ymin, xmin, ymax, xmax), classes
``[1, M]``, scores ``[1, M]``, number of detections ``[1]``, with
``M = max_detections * max_classes_per_detection``; rows past the detections are zero
(in fast mode TFLM and LiteRT leave those rows as they were).

1. Decoding, in double precision like both kernels::

       ycenter = float(y / y_scale * anchor_h + anchor_y)            (x alike)
       half_h  = float(0.5 * exp(h / h_scale) * anchor_h)            (w alike)
       box     = (ycenter - half_h, xcenter - half_w, ycenter + half_h, xcenter + half_w)

   ``exp`` is picojoule's own double-precision exponential (:func:`exp_f64`: a 64-entry
   table of 2^(j/64) as double-double pairs and a degree-6 polynomial, error about
   0.51 ulp, like glibc's ``exp`` which the oracles call). The numpy reference and the C
   kernel evaluate it with the same IEEE double operations in the same order, so they
   agree bit for bit; with the oracles the float32 boxes can differ only where the two
   exponentials round differently (rarely, by one double ulp) *and* that moves the
   float32 rounding of the product, which needs the exact value within about 2^-29 of a
   float32 rounding boundary. Measured: exp_f64 differs from glibc's exp by one ulp for
   0.19% of arguments (never more); 0 of 2e8 random half-sizes and 0 of 1.15 million box
   corners decoded through whole models differ from TFLM and LiteRT in float32; inputs
   built to sit on such a boundary do (``tests/test_detection_postprocess.py``).
   uint8/int8 encodings take 256 values per coordinate, so the C kernel looks up the
   doubles y / y_scale and 0.5 exp(h / h_scale) (x, w alike) in tables this file computes
   with the same operations (:func:`box_tables`): no exponential at run time.
2. Candidates: scores ``>= nms_score_threshold``, visited in decreasing score, ties by
   lower anchor index (TFLM's stable merge sort, LiteRT's ``std::stable_sort``). A
   candidate is kept unless its IoU (float32, 0 for boxes of no area) with a box already
   kept is ``> nms_iou_threshold``; at most ``limit`` boxes are kept.
3. Fast mode (``use_regular_nms`` false): each anchor's score is its best class; NMS keeps
   up to ``max_detections`` anchors; each kept anchor gives its best
   ``min(max_classes_per_detection, C)`` classes at rows ``k * max_classes_per_detection
   + col``, and the detection count is the number of anchors kept (LiteRT's layout: TFLM
   writes rows ``num_classes_per_anchor * i + col`` with ``i`` counting every written row,
   which overruns its output when more than one class per anchor is asked for). One class:
   the first best (both kernels). Several: the order of ``std::partial_sort`` in
   libstdc++, LiteRT's (heap select, then heap sort; for tied scores this is neither
   index order nor stable, and TFLM's tie-broken sort differs from it).
4. Regular mode: NMS per class (up to ``min(detections_per_class, max_detections)``
   anchors), then the best ``max_detections`` over all classes by decreasing score, ties
   by earlier class, then NMS order (TFLM's index-tie-broken partial sort of
   [kept so far, this class]; LiteRT's stable in-place merge).

Where the oracles refuse to run, picojoule gives what the algorithm above gives: TFLM
rejects degenerate boxes (ymin == ymax) and every quantized input, LiteRT inverted boxes
(ymin > ymax, from negative anchor sizes) and int8 inputs. int8 inputs are checked
against LiteRT on the uint8 model with the same real values.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache

import numpy as np

from picojoule.custom import custom_op, options
from picojoule.ir import Node
from picojoule.ir.dtypes import to_numpy
from picojoule.ops.registry import unsupported

NAME = "TFLite_Detection_PostProcess"
_QUANTIZED = ("uint8", "int8")
_DTYPES = ("float32", *_QUANTIZED)


# ------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class Config:
    """The op's options as the kernels read them, plus what follows from the shapes."""

    max_detections: int
    max_classes_per_detection: int
    detections_per_class: int       # as given (TFLM and LiteRT default: 100)
    regular: bool
    score_threshold: np.float32
    iou_threshold: np.float32
    num_classes: int
    scales: tuple                   # y, x, h, w (float32, as the kernels store them)
    num_boxes: int
    box_stride: int                 # box encodings' last dimension (>= 4)
    classes_with_background: int

    @property
    def label_offset(self) -> int:
        return self.classes_with_background - self.num_classes

    @property
    def classes_per_anchor(self) -> int:
        """Fast mode's classes per kept anchor."""
        return min(self.max_classes_per_detection, self.num_classes)

    @property
    def per_class_limit(self) -> int:
        """Regular mode's kept boxes per class (more could never reach the output)."""
        return min(self.detections_per_class, self.max_detections)

    @property
    def rows(self) -> int:
        return self.max_detections * self.max_classes_per_detection


def _int(opts: dict, key: str, default: int = 0) -> int:
    v = opts.get(key)
    return default if v is None else int(v)


def _f32(opts: dict, key: str) -> np.float32:
    return np.float32(opts.get(key) or 0.0)


def config(node: Node) -> Config:
    """Read and check the node's options and tensors; unsupported() names what is wrong."""
    if len(node.inputs) != 3 or len(node.outputs) != 4 or any(v is None for v in node.inputs):
        raise unsupported(node, f"{len(node.inputs)} inputs and {len(node.outputs)} outputs "
                                f"(it takes box encodings, class predictions and anchors, "
                                f"and gives boxes, classes, scores and a count)")
    boxes, scores, anchors = node.inputs
    if len(boxes.shape) != 3 or boxes.shape[0] != 1 or boxes.shape[2] < 4:
        raise unsupported(node, f"box encodings of shape {list(boxes.shape)} (want [1, N, >=4])")
    n = int(boxes.shape[1])
    if len(scores.shape) != 3 or tuple(scores.shape[:2]) != (1, n):
        raise unsupported(node, f"class predictions of shape {list(scores.shape)} for {n} "
                                f"boxes (want [1, {n}, classes])")
    if tuple(anchors.shape) != (n, 4):
        raise unsupported(node, f"anchors of shape {list(anchors.shape)} (want [{n}, 4])")
    for v in node.inputs:
        if v.dtype not in _DTYPES:
            raise unsupported(node, f"a {v.dtype} input ({v.name!r})")
        if v.dtype in _QUANTIZED and (v.quant is None or v.quant.scale.size != 1):
            raise unsupported(node, f"{v.dtype} input {v.name!r} without per-tensor "
                                    f"quantization")
    for v in node.outputs:
        if v.dtype != "float32":
            raise unsupported(node, f"a {v.dtype} output ({v.name!r}; all four are float32)")
    opts = options(node)
    cfg = Config(
        max_detections=_int(opts, "max_detections"),
        max_classes_per_detection=_int(opts, "max_classes_per_detection"),
        detections_per_class=_int(opts, "detections_per_class", 100),
        regular=bool(opts.get("use_regular_nms") or False),
        score_threshold=_f32(opts, "nms_score_threshold"),
        iou_threshold=_f32(opts, "nms_iou_threshold"),
        num_classes=_int(opts, "num_classes"),
        scales=tuple(_f32(opts, k) for k in ("y_scale", "x_scale", "h_scale", "w_scale")),
        num_boxes=n, box_stride=int(boxes.shape[2]),
        classes_with_background=int(scores.shape[2]))
    if cfg.num_classes < 1 or cfg.label_offset not in (0, 1):
        raise unsupported(node, f"num_classes {cfg.num_classes} with {cfg.classes_with_background}"
                                f" score columns (want num_classes or num_classes + 1)")
    if not 0.0 < cfg.iou_threshold <= 1.0:
        raise unsupported(node, f"nms_iou_threshold {float(cfg.iou_threshold)} (want (0, 1])")
    if cfg.max_detections < 1:
        raise unsupported(node, f"max_detections {cfg.max_detections}")
    if cfg.max_classes_per_detection < 1:
        raise unsupported(node, f"max_classes_per_detection {cfg.max_classes_per_detection}")
    if cfg.regular and cfg.detections_per_class < 1:
        raise unsupported(node, f"detections_per_class {cfg.detections_per_class}")
    return cfg


def shape(node: Node, shapes: list, consts: list) -> list:
    m = config(node).rows
    return [(1, m, 4), (1, m), (1, m), (1,)]


# -------------------------------------------------------------------- the exponential
#: Table size of :func:`exp_f64` (2^(j/TABLE) for j < TABLE).
TABLE = 64
#: 1.5 * 2^52: adding it rounds a double of magnitude < 2^51 to an integer.
_SHIFTER = 6755399441055744.0


@lru_cache(maxsize=1)
def exp_constants() -> dict:
    """The doubles :func:`exp_f64` and the C kernel use, computed once in exact decimal
    arithmetic (60 digits) and rounded to the nearest double."""
    with localcontext() as ctx:
        ctx.prec = 60
        ln2 = Decimal(2).ln()
        step = ln2 / TABLE
        # step's leading 32 bits: k * step_hi is exact for |k| < 2^21.
        hi_bits = struct.unpack("<Q", struct.pack("<d", float(step)))[0] & ~((1 << 21) - 1)
        step_hi = struct.unpack("<d", struct.pack("<Q", hi_bits))[0]
        step_lo = float(step - Decimal(step_hi))
        inv = float(TABLE / ln2)
        t_hi, t_lo = [], []
        for j in range(TABLE):
            v = (Decimal(j) * step).exp()
            h = float(v)
            t_hi.append(h)
            t_lo.append(float(v - Decimal(h)))
        fact = [Decimal(1)]
        for i in range(1, 7):
            fact.append(fact[-1] * i)
        coef = [float(1 / fact[i]) for i in range(3, 7)]  # 1/3! .. 1/6!
    return {"inv": inv, "step_hi": step_hi, "step_lo": step_lo, "coef": coef,
            "t_hi": np.array(t_hi), "t_lo": np.array(t_lo)}


#: exp(x) is +inf above this (ln(DBL_MAX) = 709.78...; the algorithm overflows by itself
#: between the two) and 0 below -708 (exp(-708) = 3.3e-308 is still normal). Below -708
#: the true value is under DBL_MIN, and 0.5 * exp * anchor (an anchor is a finite float32)
#: rounds to a float32 zero of the same sign either way.
X_HIGH = 709.8
X_LOW = -708.0


def exp_f64(x: np.ndarray) -> np.ndarray:
    """exp of float64 ``x``, operation for operation as ``pj_dpp_exp`` in the C kernel.

    x = (k/64) ln2 + r, k = round(x 64/ln2), |r| <= ln2/128; exp(x) = 2^(k>>6) 2^(j/64)
    e^r with j = k & 63; e^r - 1 = r + r^2 (1/2 + r (1/6 + r (1/24 + r (1/120 + r/720)))),
    2^(j/64) = hi + lo; result = (hi + (lo + hi (e^r - 1))) * 2^(k>>6).
    """
    c = exp_constants()
    x = np.asarray(x, np.float64)
    big, small, nan = x > X_HIGH, x < X_LOW, np.isnan(x)
    xs = np.where(big | small | nan, 0.0, x)
    t = xs * c["inv"]
    kd = (t + _SHIFTER) - _SHIFTER
    r = xs - kd * c["step_hi"]
    r = r - kd * c["step_lo"]
    c3, c4, c5, c6 = c["coef"]
    p = r * c6
    p = p + c5
    p = p * r
    p = p + c4
    p = p * r
    p = p + c3
    p = p * r
    p = p + 0.5
    p = p * r
    p = p * r
    q = r + p
    k = kd.astype(np.int64)
    j = k & (TABLE - 1)
    m = k >> 6
    hi, lo = c["t_hi"][j], c["t_lo"][j]
    v = hi * q
    v = lo + v
    v = hi + v
    top = m > 1023
    v = np.where(top, v * np.ldexp(1.0, np.where(top, m - 1, 0)) * 2.0,
                 v * np.ldexp(1.0, np.where(top, 0, m)))
    v = np.where(big, np.inf, np.where(small, 0.0, v))
    return np.where(nan, x, v)


def _double_words(v: float) -> list[int]:
    """A double as two int32 (high word, low word) for the C kernel's int parameters."""
    u = struct.unpack("<Q", struct.pack("<d", float(v)))[0]
    return [int(np.int32(np.uint32(u >> 32))), int(np.int32(np.uint32(u & 0xFFFFFFFF)))]


# ----------------------------------------------------------------------------- numpy
def dequantize(x: np.ndarray, v) -> np.ndarray:
    """float32 values of an input: (float(q) - zp) * scale in float32 when quantized."""
    if v.dtype == "float32":
        return np.asarray(x, np.float32)
    zp, scale = np.float32(int(v.quant.zp0)), np.float32(v.quant.scale0)
    return (np.asarray(x).astype(np.float32) - zp) * scale


def decode(boxes: np.ndarray, anchors: np.ndarray, scales: tuple) -> np.ndarray:
    """[N, 4] float32 corners (ymin, xmin, ymax, xmax) from encodings and anchors (float32)."""
    e = boxes.astype(np.float64)
    a = anchors.astype(np.float64)
    sy, sx, sh, sw = (float(s) for s in scales)
    yc = (e[:, 0] / sy * a[:, 2] + a[:, 0]).astype(np.float32)
    xc = (e[:, 1] / sx * a[:, 3] + a[:, 1]).astype(np.float32)
    hh = (exp_f64(e[:, 2] / sh) * 0.5 * a[:, 2]).astype(np.float32)
    hw = (exp_f64(e[:, 3] / sw) * 0.5 * a[:, 3]).astype(np.float32)
    return np.stack([yc - hh, xc - hw, yc + hh, xc + hw], axis=1)


def _iou_exceeds(boxes: np.ndarray, i: int, js: np.ndarray, thr: np.float32) -> np.ndarray:
    """IoU(box i, boxes js) > thr, in float32 as the kernels compute it."""
    b = boxes[i]
    o = boxes[js]
    area_i = (b[2] - b[0]) * (b[3] - b[1])
    area_j = (o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1])
    if not area_i > 0:
        return np.zeros(len(js), bool)
    ih = np.maximum(np.minimum(b[2], o[:, 2]) - np.maximum(b[0], o[:, 0]), np.float32(0))
    iw = np.maximum(np.minimum(b[3], o[:, 3]) - np.maximum(b[1], o[:, 1]), np.float32(0))
    inter = ih * iw
    iou = inter / ((area_i + area_j) - inter)
    return (area_j > 0) & (iou > thr)


def nms(boxes: np.ndarray, scores: np.ndarray, cfg: Config, limit: int) -> list[int]:
    """Greedy NMS over one score per box; the kept box indices in the order kept."""
    cand = np.flatnonzero(scores >= cfg.score_threshold)
    order = cand[np.argsort(-scores[cand], kind="stable")]
    active = np.ones(len(order), bool)
    kept: list[int] = []
    for i in range(len(order)):
        if len(kept) >= limit:
            break
        if not active[i]:
            continue
        kept.append(int(order[i]))
        rest = i + 1 + np.flatnonzero(active[i + 1:])
        if rest.size:
            active[rest[_iou_exceeds(boxes, int(order[i]), order[rest], cfg.iou_threshold)]] = 0
    return kept


def first_best(values: np.ndarray) -> int:
    """The first index whose value no later one exceeds (a NaN never replaces the best)."""
    best = 0
    for i in range(1, len(values)):
        if values[i] > values[best]:
            best = i
    return best


def best_scores(scores: np.ndarray) -> np.ndarray:
    """Each box's best class score as the kernel finds it: the first column, replaced only
    by a greater one (so NaNs after the first column are passed over, as in the C)."""
    best = scores[:, 0].copy()
    for c in range(1, scores.shape[1]):
        best = np.where(scores[:, c] > best, scores[:, c], best)
    return best


def top_classes(values: np.ndarray, k: int) -> list[int]:
    """The ``k`` best of ``values`` in the order LiteRT's ``std::partial_sort`` (libstdc++,
    comparison ``a > b``) leaves them: the first best when ``k`` is 1 (``ArgMaxVector``)."""
    n = len(values)
    if k == 1:
        return [first_best(values)]
    idx = list(range(n))
    better = [float(v) for v in values]

    def comp(a: int, b: int) -> bool:  # a "before" b
        return better[a] > better[b]

    def push(hole: int, top: int, value: int) -> None:
        parent = (hole - 1) // 2
        while hole > top and comp(idx[parent], value):
            idx[hole] = idx[parent]
            hole = parent
            parent = (hole - 1) // 2
        idx[hole] = value

    def adjust(hole: int, length: int, value: int) -> None:
        top = child = hole
        while child < (length - 1) // 2:
            child = 2 * (child + 1)
            if comp(idx[child], idx[child - 1]):
                child -= 1
            idx[hole] = idx[child]
            hole = child
        if length % 2 == 0 and child == (length - 2) // 2:
            child = 2 * (child + 1)
            idx[hole] = idx[child - 1]
            hole = child - 1
        push(hole, top, value)

    if k >= 2:
        parent = (k - 2) // 2
        while True:
            adjust(parent, k, idx[parent])
            if parent == 0:
                break
            parent -= 1
    for i in range(k, n):
        if comp(idx[i], idx[0]):
            value = idx[i]
            idx[i] = idx[0]
            adjust(0, k, value)
    for last in range(k - 1, 0, -1):
        value = idx[last]
        idx[last] = idx[0]
        adjust(0, last, value)
    return idx[:k]


def postprocess(boxes: np.ndarray, scores: np.ndarray, anchors: np.ndarray,
                cfg: Config) -> list[np.ndarray]:
    """The four outputs from float32 encodings [N, >=4], scores [N, C(+1)], anchors [N, 4]."""
    dec = decode(boxes[:, :4], anchors, cfg.scales)
    cls = scores[:, cfg.label_offset:]
    out_boxes = np.zeros((cfg.rows, 4), np.float32)
    out_cls = np.zeros(cfg.rows, np.float32)
    out_scores = np.zeros(cfg.rows, np.float32)
    if cfg.regular:
        pool_s = np.zeros(0, np.float32)
        pool_a = np.zeros(0, np.int64)
        pool_c = np.zeros(0, np.int64)
        for col in range(cfg.num_classes):
            kept = np.array(nms(dec, cls[:, col], cfg, cfg.per_class_limit), np.int64)
            s = np.concatenate([pool_s, cls[kept, col]])
            a = np.concatenate([pool_a, kept])
            c = np.concatenate([pool_c, np.full(len(kept), col)])
            order = np.argsort(-s, kind="stable")[:cfg.max_detections]
            pool_s, pool_a, pool_c = s[order], a[order], c[order]
        n = len(pool_s)
        out_boxes[:n] = dec[pool_a]
        out_cls[:n] = pool_c
        out_scores[:n] = pool_s
    else:
        kept = nms(dec, best_scores(cls), cfg, cfg.max_detections)
        per = cfg.classes_per_anchor
        for k, a in enumerate(kept):
            for col, c in enumerate(top_classes(cls[a], per)):
                row = k * cfg.max_classes_per_detection + col
                out_boxes[row] = dec[a]
                out_cls[row] = c
                out_scores[row] = cls[a, c]
        n = len(kept)
    return [out_boxes[None], out_cls[None], out_scores[None], np.array([n], np.float32)]


# ------------------------------------------------------------------------- C kernel
#: Layout of the C kernel's int parameters (detection_postprocess.c's P_* names): the
#: options, the offsets of the y, x, h and w tables of quantized box encodings (0: float
#: encodings), then doubles as (high word, low word) pairs.
INT_FIELDS = ("max_detections", "max_classes_per_detection", "classes_per_anchor",
              "per_class_limit", "regular", "num_classes", "label_offset")
_HEADER = len(INT_FIELDS) + 4


def box_tables(node: Node) -> list[np.ndarray] | None:
    """For uint8/int8 box encodings, what decoding computes from each of the 256 values
    before the anchor enters: y / y_scale, x / x_scale, 0.5 exp(h / h_scale),
    0.5 exp(w / w_scale) (doubles, by :func:`decode`'s own operations), indexed by the
    value minus the type's minimum. None for float32 encodings."""
    cfg, v = config(node), node.inputs[0]
    if v.dtype == "float32":
        return None
    q = np.arange(256) + (-128 if v.dtype == "int8" else 0)
    d = dequantize(q.astype(to_numpy(v.dtype)), v).astype(np.float64)
    sy, sx, sh, sw = (float(s) for s in cfg.scales)
    with np.errstate(all="ignore"):  # a zero scale gives infinities, as in the kernels
        return [d / sy, d / sx, exp_f64(d / sh) * 0.5, exp_f64(d / sw) * 0.5]


def params(node: Node) -> dict:
    """The kernel's constants: the options; for float32 encodings the exponential's
    doubles (64/ln2, ln2/64 high and low parts, 1/3! .. 1/6!, then 2^(j/64) high and
    low), for quantized ones the four tables of :func:`box_tables` (equal ones once)."""
    cfg = config(node)
    ints = [cfg.max_detections, cfg.max_classes_per_detection, cfg.classes_per_anchor,
            cfg.per_class_limit, int(cfg.regular), cfg.num_classes, cfg.label_offset]
    tables = box_tables(node)
    body: list[int] = []
    if tables is None:
        ints += [0, 0, 0, 0]
        c = exp_constants()
        for v in (c["inv"], c["step_hi"], c["step_lo"], *c["coef"]):
            body += _double_words(v)
        for h, lo in zip(c["t_hi"], c["t_lo"]):
            body += _double_words(h) + _double_words(lo)
    else:
        offsets: list[int] = []
        for t in tables:
            same = [k for k, u in enumerate(tables[:len(offsets)]) if np.array_equal(
                u.view(np.int64), t.view(np.int64))]
            if same:
                offsets.append(offsets[same[0]])
                continue
            offsets.append(_HEADER + len(body))
            for v in t:
                body += _double_words(v)
        ints += offsets
    floats = [cfg.score_threshold, cfg.iou_threshold, *cfg.scales]
    return {"ints": ints + body, "floats": [float(f) for f in floats]}


def scratch(node: Node) -> int:
    """Decoded boxes (4 floats per box), one score and one candidate per box, the kept
    boxes, regular mode's running best (2 x max_detections entries of index, class and
    score), fast mode's class ranking (a float and an index per class)."""
    cfg = config(node)
    n, md = cfg.num_boxes, cfg.max_detections
    words = 4 * n + n + n + max(md, cfg.per_class_limit)
    words += 6 * md if cfg.regular else 2 * cfg.classes_with_background
    return 4 * words


def cost(node: Node) -> float:
    """Instructions per invocation on a Cortex-M4 (single-precision FPU: the decoding's
    double arithmetic runs in libgcc), excluding the invoke function's input and output
    copies (priced apart): :data:`COST_COEFS` times :func:`cost_terms`.

    Checked on configurations the fit never saw (emulated M4, random inputs): 0.97-1.02 of
    the measured instructions over seven (N 200..1917, 3..91 classes, all three dtypes,
    both modes); 1.02 and 1.03 on the post-processing of two real SSD models (N 1917 and
    26880) fed by their own networks. Cores with a double-precision FPU (Cortex-M7 with
    FPv5-D16, M55) decode float32 encodings in hardware, far cheaper than this says."""
    return float(sum(COST_COEFS[k] * v for k, v in cost_terms(node).items()))


#: Instructions per unit of each term of :func:`cost_terms`, fitted (non-negative least
#: squares on relative error) to QEMU mps2-an386 counts of 25 single-op configurations
#: (N 60..2000, 1..91 classes, float32/uint8/int8, both modes, thresholds 0..0.995; 3
#: feeds each: uniform scores, N(0, 1) or uniform-code encodings) minus the invoke's
#: copies, with the data-dependent terms counted per feed; worst fit 2.5%.
COST_COEFS = {
    "fixed": 515.0,
    "boxes_quantized": 626.0,   # per box: table lookups, 4 soft-double multiplies, 2 adds
    "boxes_float": 5731.0,      # per box: 4 divisions and 2 exponentials in soft double
    "reads_quantized": 23.4,    # per class score read (and dequantized) in the scans
    "reads_float": 17.1,
    "scans": 3.2,               # per box and NMS call (the threshold test)
    "nms_calls": 301.0,         # per single-class NMS (regular mode: one per class)
    "candidates": 38.4,         # per score at or above the threshold (heap build)
    "visits": 181.0,            # per candidate taken off the heap
    "pairs": 51.8,              # per IoU computed
    "output_reads": 32.1,       # fast mode: per class score of a kept box (its ranking)
    "merges": 56.3,             # regular mode: per class x max_detections (the merge)
}


def pass_fraction(node: Node) -> float:
    """The share of class scores at or above the threshold when scores are uniform over
    their range: every code of a quantized input equally likely; float32 scores on [0, 1)
    (sigmoid outputs)."""
    cfg, v = config(node), node.inputs[1]
    if v.dtype == "float32":
        return float(np.clip(1.0 - float(cfg.score_threshold), 0.0, 1.0))
    info = np.iinfo(to_numpy(v.dtype))
    codes = np.arange(info.min, info.max + 1).astype(to_numpy(v.dtype))
    return float(np.mean(dequantize(codes, v) >= cfg.score_threshold))


def cost_terms(node: Node) -> dict:
    """The kernel's work counted from its loops: decoding N boxes, reading N x classes
    scores, per NMS call a threshold scan, a heap of the candidates and a pass over the
    kept boxes per candidate taken; regular mode merges each class into the running best.

    Candidates, visits and IoU pairs depend on the data; they are the expected counts for
    uniform scores (:func:`pass_fraction`) and few suppressions (NMS visits as many
    candidates as it keeps, each compared with every box kept before it), which is what
    random inputs give (an image with overlapping detections costs more pairs)."""
    cfg = config(node)
    n, nc = cfg.num_boxes, cfg.num_classes
    p = pass_fraction(node)
    quant_boxes = node.inputs[0].dtype != "float32"
    quant_scores = node.inputs[1].dtype != "float32"
    if cfg.regular:
        calls, cand = nc, n * p
        limit = cfg.per_class_limit
    else:
        calls, cand = 1, n * (1.0 - (1.0 - p) ** nc)
        limit = cfg.max_detections
    kept = min(cand, limit)
    return {
        "fixed": 1.0,
        "boxes_quantized": n * quant_boxes,
        "boxes_float": n * (not quant_boxes),
        "reads_quantized": n * nc * quant_scores,
        "reads_float": n * nc * (not quant_scores),
        "scans": n * calls,
        "nms_calls": calls,
        "candidates": calls * cand,
        "visits": calls * kept,
        "pairs": calls * kept * max(kept - 1.0, 0.0) / 2.0,
        "output_reads": 0.0 if cfg.regular else kept * nc,
        "merges": nc * cfg.max_detections if cfg.regular else 0.0,
    }


@custom_op(NAME, shape=shape, c_source="detection_postprocess.c",
           c_function="pj_detection_postprocess", params=params, scratch=scratch,
           dtypes=_DTYPES, cost=cost,
           oracle="TFLM (float32) and LiteRT (float32, uint8; int8 through uint8)",
           doc="SSD box decoding and non-max suppression (fast and regular NMS).")
def prepare(node: Node):
    """Decode SSD boxes against their anchors and keep the best non-overlapping ones."""
    cfg = config(node)
    box_v, score_v, anchor_v = node.inputs

    def run(inputs):
        boxes = dequantize(inputs[0], box_v)[0]
        scores = dequantize(inputs[1], score_v)[0]
        anchors = dequantize(inputs[2], anchor_v)
        with np.errstate(all="ignore"):  # inf and NaN inputs follow IEEE, as in the C
            return postprocess(boxes, scores, anchors, cfg)

    return run
