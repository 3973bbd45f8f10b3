"""CUSTOM:TFLite_Detection_PostProcess (src/picojoule/ops/detection.py + detection_postprocess.c)
against TFLM and LiteRT on SSD-style single-op models.

Expected outputs come from the oracles only: TFLM and LiteRT for float32 inputs (TFLM runs
no quantized inputs to this op), LiteRT for uint8, and LiteRT on the uint8 model with the
same real values for int8 (neither oracle takes int8 here). picojoule's reference, the host
C library and, for a sample, the emulated Cortex-M4 must give exactly the oracles' outputs:
every float32, not within a tolerance. The one known way to differ is the exponential of
the box decoding (picojoule's own, the oracles' glibc ``exp``): a one-ulp difference in the
double, which moves a float32 box corner only when the exact value lies within about 2^-29
of a float32 rounding boundary; ``test_a_constructed_exp_tie_is_the_only_kind_of_difference``
shows one such input (never met at random: 0 in 2e8 random half-sizes).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from opkit import const, q, run_oracle, single_op_model, tensor, tflm_session
from picojoule import custom
from picojoule.backends import host, qemu
from picojoule.cli import main
from picojoule.errors import PicojouleError
from picojoule.exporters.tflite import dumps
from picojoule.importers.tflite import loads
from picojoule.ops import detection
from picojoule.runtime import Interpreter

OP = "CUSTOM:TFLite_Detection_PostProcess"
_QEMU = qemu.toolchain_missing() is None
#: SSD MobileNet's quantization of its post-process inputs (the Coral uint8 export).
_BOX_Q, _SCORE_Q, _ANCHOR_Q = (0.069, 167), (1 / 256, 0), (0.0065, 0)


def ssd_anchors(maps=(19, 10, 5, 3, 2, 1), smin=0.2, smax=0.95) -> np.ndarray:
    """SSD anchors (y, x, h, w): one square grid per feature map, scales from smin to smax,
    3 aspect ratios on the first map and 6 on the others ((19, 10, 5, 3, 2, 1): 1917)."""
    out = []
    for k, g in enumerate(maps):
        s = smin + (smax - smin) * k / max(len(maps) - 1, 1)
        ratios = (1.0, 2.0, 0.5) if k == 0 else (1.0, 2.0, 0.5, 3.0, 1 / 3, 1.0)
        for i in range(g):
            for j in range(g):
                for n, r in enumerate(ratios):
                    size = s if n < 5 else math.sqrt(s * min(s + 0.15, 1.0))
                    out.append([(i + 0.5) / g, (j + 0.5) / g, size / math.sqrt(r),
                                size * math.sqrt(r)])
    return np.array(out, np.float32)


def dpp_model(anchors: np.ndarray, classes: int, dtype: str = "float32",
              background: bool = True, **opts):
    """A one-op model (written and read back by picojoule's .tflite writer/importer)."""
    n = len(anchors)
    o = dict(max_detections=10, max_classes_per_detection=1, nms_score_threshold=0.5,
             nms_iou_threshold=0.6, num_classes=classes, y_scale=10.0, x_scale=10.0,
             h_scale=5.0, w_scale=5.0)
    o.update(opts)
    cols = classes + int(background)
    if dtype == "float32":
        qs, a = (None, None, None), const("anchors", anchors)
    else:
        off = -128 if dtype == "int8" else 0
        qs = tuple(q(s, zp + off) for s, zp in (_BOX_Q, _SCORE_Q, _ANCHOR_Q))
        codes = np.clip(np.round(anchors / _ANCHOR_Q[0]), 0, 255) + off
        a = const("anchors", codes.astype(dtype), quant=qs[2])
    rows = o["max_detections"] * o["max_classes_per_detection"]
    outs = [tensor("boxes_out", (1, rows, 4), "float32"), tensor("classes", (1, rows), "float32"),
            tensor("scores_out", (1, rows), "float32"), tensor("count", (1,), "float32")]
    m = single_op_model(OP, [tensor("boxes", (1, n, 4), dtype, qs[0]),
                             tensor("scores", (1, n, cols), dtype, qs[1]), a], outs,
                        attrs={"custom_options": custom.encode_options(o)})
    return loads(dumps(m))


def float_feeds(model, seed: int, count: int = 3, levels: int = 0) -> list:
    """Encodings ~ N(0, 1); scores uniform in [0, 1) (sigmoid outputs), or on ``levels``
    values only (many exact ties across boxes and classes)."""
    rng = np.random.default_rng(seed)
    b, s = model.main.inputs
    feeds = []
    for _ in range(count):
        scores = rng.random(s.shape)
        if levels:
            scores = np.floor(scores * levels) / levels
        feeds.append([rng.standard_normal(b.shape).astype(np.float32),
                      scores.astype(np.float32)])
    return feeds


def uint8_feeds(model, seed: int, count: int = 3, levels: int = 0) -> list:
    """Uniform codes; scores on ``levels`` codes only when given (ties within a box)."""
    rng = np.random.default_rng(seed)
    feeds = []
    for _ in range(count):
        b, s = (rng.integers(0, 256, v.shape) for v in model.main.inputs)
        if levels:
            s = s * levels // 256 * (255 // max(levels - 1, 1))
        feeds.append([b.astype(np.uint8), s.astype(np.uint8)])
    return feeds


def defined_rows(model, count: int) -> np.ndarray:
    """The output rows the kernels write: all of them in regular mode (zeros past the
    detections); in fast mode only row k * max_classes_per_detection + col for the k-th
    kept box and its col-th class. TFLM and LiteRT leave the other rows as they were (the
    previous invocation's values); picojoule writes zeros there."""
    cfg = detection.config(model.main.nodes[0])
    rows = np.ones(cfg.rows, bool)
    if not cfg.regular:
        rows[:] = False
        for k in range(count):
            start = k * cfg.max_classes_per_detection
            rows[start:start + cfg.classes_per_anchor] = True
    return rows


def assert_exact(got: list, want: list, what: str, model=None, ours: bool = True) -> None:
    """Every output identical to the oracle's, bit for bit (in the rows the kernels write,
    when ``model`` is given; the others must be zero when ``got`` is picojoule's)."""
    assert len(got) == len(want) == 4, what
    got = [np.asarray(a) for a in got]
    want = [np.asarray(b).reshape(a.shape) for a, b in zip(got, want)]
    if model is not None:
        assert got[3][0] == want[3][0], f"{what}: {got[3][0]} detections, the oracle {want[3][0]}"
        rows = defined_rows(model, int(want[3][0]))
        assert not ours or not any(np.any(a[0, ~rows]) for a in got[:3]), f"{what}: stale rows"
        got = [a[0, rows] for a in got[:3]] + [got[3]]
        want = [b[0, rows] for b in want[:3]] + [want[3]]
    for i, (a, b) in enumerate(zip(got, want)):
        bad = np.flatnonzero(a.reshape(-1).view(np.uint32) != b.reshape(-1).view(np.uint32))
        assert bad.size == 0, (f"{what}, output {i}: {bad.size} of {a.size} differ, first at "
                               f"{bad[0]}: {a.reshape(-1)[bad[0]]!r} != {b.reshape(-1)[bad[0]]!r}")


def oracle(model, feeds, which: str) -> list:
    """Outputs per feed from TFLM, LiteRT (AUTO) or LiteRT's reference resolver. TFLM gets
    an arena for its kernel's scratch requests (several max_detections x N buffers)."""
    if which != "tflm":
        return run_oracle(model, feeds, which)
    b, s = model.main.inputs
    n, cols = b.shape[1], s.shape[2]
    md = model.main.outputs[1].shape[1]
    arena = 4 * n * (10 + 3 * md + max(cols, md) + min(n, md) + cols) + (1 << 20)
    sess = tflm_session(dumps(model), model, arena_size=arena)
    return [sess.run(list(x)) for x in feeds]


def check(model, feeds, oracles, m4: bool = False, name: str = "dpp") -> list:
    """The oracles agree with each other; picojoule's reference, host C (and M4 firmware)
    give exactly their outputs. Returns the M4 instruction counts (or [])."""
    want = oracle(model, feeds, oracles[0])
    for other in oracles[1:]:
        for k, (a, b) in enumerate(zip(oracle(model, feeds, other), want)):
            assert_exact(a, b, f"{other} vs {oracles[0]}, feed {k}", model, ours=False)
    interp = Interpreter(model)
    lib = host.build(model, name=name)
    for k, (x, w) in enumerate(zip(feeds, want)):
        assert_exact(interp.run(x), w, f"reference vs {oracles[0]}, feed {k}", model)
        assert_exact(lib.run(x), w, f"host C vs {oracles[0]}, feed {k}", model)
    counts = []
    if m4 and _QEMU:
        fw = qemu.build(model, "mps2-an386", name=name)
        for k, ((outs, instr), w) in enumerate(zip(fw.run_many(feeds, timeout=300), want)):
            assert_exact(outs, w, f"Cortex-M4 vs {oracles[0]}, feed {k}", model)
            counts.append(instr)
    return counts


# ------------------------------------------------------------------------------ float32
FLOAT_CASES = {
    # COCO-sized fast NMS over 1917 anchors (the Cortex-M4 sample below runs it too).
    "fast": dict(maps=(19, 10, 5, 3, 2, 1), classes=90, opts={}),
    # Regular NMS, the per-class limit binding: 4 classes x 3 boxes fill 12 of 20 rows.
    "regular": dict(maps=(10, 5, 3, 2, 1), classes=4, opts=dict(
        use_regular_nms=True, max_detections=20, detections_per_class=3,
        nms_score_threshold=0.3, nms_iou_threshold=0.5)),
    # Regular NMS with classes competing for the rows (per-class limit above max).
    "regular_competing": dict(maps=(8, 4, 2, 1), classes=10, opts=dict(
        use_regular_nms=True, max_detections=8, detections_per_class=30,
        nms_score_threshold=0.6, nms_iou_threshold=0.4)),
    # No background column, every box a candidate, more candidates than max_detections.
    "fast_all_candidates": dict(maps=(8, 4, 2, 1), classes=3, background=False, opts=dict(
        max_detections=50, nms_score_threshold=0.0, nms_iou_threshold=0.45)),
    # Several classes per kept box (LiteRT's row layout; TFLM overruns its output here).
    "fast_classes_per_box": dict(maps=(8, 4, 2, 1), classes=6, oracles=("litert_ref",),
                                 opts=dict(max_classes_per_detection=3, max_detections=8,
                                           nms_score_threshold=0.2)),
}


@pytest.mark.parametrize("case", sorted(FLOAT_CASES))
def test_float32_matches_tflm_and_litert(case: str) -> None:
    c = FLOAT_CASES[case]
    model = dpp_model(ssd_anchors(c["maps"]), c["classes"], background=c.get("background", True),
                      **c["opts"])
    oracles = c.get("oracles", ("tflm", "litert"))
    check(model, float_feeds(model, seed=len(case)), oracles)


def test_ties_and_empty_results_match_both_oracles() -> None:
    """Scores on 4 levels: exact ties between boxes and between classes, in both modes
    (no background column, detections_per_class absent: the kernels' default 100); a
    feed with every score below the threshold gives no detection and all-zero rows."""
    anchors = ssd_anchors((6, 3, 2, 1))
    for regular in (False, True):
        model = dpp_model(anchors, 5, background=False, use_regular_nms=regular,
                          max_detections=25, nms_score_threshold=0.25, nms_iou_threshold=0.5)
        feeds = float_feeds(model, seed=7, count=2, levels=4)
        feeds.append([feeds[0][0], feeds[0][1] * np.float32(0.2)])  # all below 0.25
        check(model, feeds, ("tflm", "litert"), name=f"ties{int(regular)}")
        assert Interpreter(model).run(feeds[-1])[3][0] == 0


def test_iou_exactly_at_the_threshold_does_not_suppress() -> None:
    """Zero encodings decode to the anchors' corners exactly (exp(0) = 1): boxes [0, 0, 1, 1]
    and [0, 0, 1, 0.5] overlap with IoU exactly 0.5, which does not exceed a 0.5 threshold
    (both kept), while [0, 0, 1, 0.75] (IoU 0.75) is suppressed."""
    anchors = np.array([[0.5, 0.5, 1, 1], [0.5, 0.25, 1, 0.5], [0.5, 0.375, 1, 0.75]],
                       np.float32)
    for regular in (False, True):
        model = dpp_model(anchors, 1, max_detections=3, nms_score_threshold=0.1,
                          nms_iou_threshold=0.5, use_regular_nms=regular)
        x = [np.zeros((1, 3, 4), np.float32),
             np.array([[[0, 0.9], [0, 0.8], [0, 0.7]]], np.float32)]
        check(model, [x], ("tflm", "litert"), name=f"iou{int(regular)}")
        assert Interpreter(model).run(x)[3][0] == 2


# ------------------------------------------------------------------------- uint8 / int8
QUANT_CASES = {
    # The Coral SSD MobileNet configuration: regular NMS over 37 classes, 1917 anchors.
    "regular": dict(maps=(19, 10, 5, 3, 2, 1), classes=37, opts=dict(
        use_regular_nms=True, nms_score_threshold=1e-8)),
    # Three classes per kept box among scores on 5 codes (ties within every box):
    # libstdc++'s partial_sort order.
    "fast_classes_per_box": dict(maps=(10, 5, 3, 2, 1), classes=8, levels=5, opts=dict(
        max_classes_per_detection=3, max_detections=12, nms_score_threshold=0.0,
        nms_iou_threshold=0.45)),
}


@pytest.mark.parametrize("case", sorted(QUANT_CASES))
def test_uint8_matches_litert_and_int8_gives_the_same(case: str) -> None:
    c = QUANT_CASES[case]
    anchors = ssd_anchors(c["maps"])
    model = dpp_model(anchors, c["classes"], "uint8", **c["opts"])
    feeds = uint8_feeds(model, seed=len(case), levels=c.get("levels", 0))
    with pytest.raises(RuntimeError):  # why LiteRT is the oracle: TFLM's kernel is float only
        oracle(model, feeds[:1], "tflm")
    check(model, feeds, ("litert", "litert_ref"), name=f"u8{case}")
    # int8: the same real values (codes and zero points shifted by 128); neither oracle
    # takes int8 inputs, so the uint8 model's LiteRT outputs are the expected ones.
    want = run_oracle(model, feeds, "litert")
    m8 = dpp_model(anchors, c["classes"], "int8", **c["opts"])
    lib = host.build(m8, name=f"i8{case}")
    for k, (x, w) in enumerate(zip(feeds, want)):
        x8 = [(v.astype(np.int16) - 128).astype(np.int8) for v in x]
        assert_exact(Interpreter(m8).run(x8), w, f"int8 reference, feed {k}", m8)
        assert_exact(lib.run(x8), w, f"int8 host C, feed {k}", m8)


# ------------------------------------------------------------------ Cortex-M4 and cost
@pytest.mark.skipif(not _QEMU, reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_cortex_m4_matches_the_oracles_and_the_cost_function() -> None:
    """Float32 fast NMS (TFLM, LiteRT) and uint8 regular NMS (LiteRT) on the emulated M4;
    the op's cost function against the instructions the firmware counts (these two
    configurations were not among those its constants were fitted on)."""
    c = FLOAT_CASES["fast"]
    fmodel = dpp_model(ssd_anchors(c["maps"]), c["classes"], **c["opts"])
    fcounts = check(fmodel, float_feeds(fmodel, seed=1, count=2), ("tflm", "litert"), m4=True,
                    name="m4f")
    c = QUANT_CASES["regular"]
    qmodel = dpp_model(ssd_anchors(c["maps"]), c["classes"], "uint8", **c["opts"])
    qcounts = check(qmodel, uint8_feeds(qmodel, seed=1, count=2), ("litert",), m4=True,
                    name="m4q")
    for model, counts in ((fmodel, fcounts), (qmodel, qcounts)):
        predicted = detection.cost(model.main.nodes[0])
        for measured in counts:
            assert abs(predicted / measured - 1) < COST_TOLERANCE, (predicted, measured)


#: The cost function's accuracy asserted on unseen configurations (random inputs).
COST_TOLERANCE = 0.10


def test_estimate_prices_it_with_the_ops_own_cost(tmp_path, capsys) -> None:
    c = FLOAT_CASES["regular"]
    model = dpp_model(ssd_anchors(c["maps"]), c["classes"], **c["opts"])
    path = tmp_path / "dpp.tflite"
    path.write_bytes(dumps(model))
    assert main(["estimate", str(path), "--target", "stm32l4r5", "--json"]) == 0
    est = json.loads(capsys.readouterr().out)
    row = next(r for r in est["ops"] if r.get("op") == OP)
    assert row["instructions"] == pytest.approx(detection.cost(model.main.nodes[0]), rel=1e-6)
    assert "rough" not in est["method"]
    assert not any("rough" in w and OP in w for w in est["warnings"])


# ------------------------------------------------------------------- the exponential
def test_exp_constants_and_accuracy() -> None:
    """The table holds 2^(j/64) as double-double pairs; exp_f64 is within one ulp of
    glibc's exp (the oracles') and equal to it almost always."""
    from decimal import Decimal, localcontext

    c = detection.exp_constants()
    with localcontext() as ctx:
        ctx.prec = 50
        for j in (0, 1, 17, 63):
            exact = (Decimal(2).ln() * j / 64).exp()
            err = exact - Decimal(float(c["t_hi"][j])) - Decimal(float(c["t_lo"][j]))
            assert abs(err) < Decimal(2) ** -104
    x = np.random.default_rng(3).uniform(-30, 30, 20000)
    ulps = detection.exp_f64(x).view(np.int64) - np.array([math.exp(v) for v in x]).view(np.int64)
    assert np.abs(ulps).max() <= 1 and np.count_nonzero(ulps) < 0.005 * x.size
    edge = np.array([np.nan, np.inf, -np.inf, 710.0, -800.0, 0.0, 709.7, -707.9])
    got = detection.exp_f64(edge)
    assert np.isnan(got[0]) and got[1] == np.inf and got[2] == 0 and got[3] == np.inf
    assert got[4] == 0 and got[5] == 1.0
    assert abs(got[6] / math.exp(709.7) - 1) < 1e-15 and abs(got[7] / math.exp(-707.9) - 1) < 1e-15


def test_a_constructed_exp_tie_is_the_only_kind_of_difference() -> None:
    """An input built so that 0.5 exp(h / 5) anchor_h sits within a double ulp of a float32
    rounding boundary, where picojoule's exp and glibc's differ by one ulp: the half-height
    differs by one float32 ulp, so ymin by two; everything else is identical, and the
    reference and the host C still agree bit for bit."""
    h = np.uint32(3165540141).view(np.float32)        # -0.021277988
    anchor_h = np.uint32(1058680778).view(np.float32)  # 0.6022917
    anchors = np.array([[0.5, 0.5, anchor_h, 0.3], [0.2, 0.2, 0.1, 0.1]], np.float32)
    model = dpp_model(anchors, 1, max_detections=2, nms_score_threshold=0.0)
    x = [np.array([[[0, 0, h, 0], [0, 0, 0, 0]]], np.float32),
         np.array([[[0, 0.9], [0, 0.8]]], np.float32)]
    ours = Interpreter(model).run(x)
    assert_exact(host.build(model, name="tie").run(x), ours, "host C vs reference")
    for which in ("tflm", "litert"):
        want = oracle(model, [x], which)[0]
        for i in (1, 2, 3):
            assert np.array_equal(ours[i], want[i])
        ulps = ours[0].view(np.int32).astype(np.int64) - want[0].view(np.int32)
        assert np.count_nonzero(ulps) <= 1 and np.abs(ulps).max() <= 2, ulps


# ---------------------------------------------------------------------------- refusals
def test_configurations_the_kernels_refuse_are_one_error_line(tmp_path, capsys) -> None:
    """Options TFLM and LiteRT reject at run time are refused when picojoule prepares the
    node, in the reference and in the C backend, with one line naming the option."""
    good = dict(max_detections=1, max_classes_per_detection=1, nms_score_threshold=0.5,
                nms_iou_threshold=0.6, num_classes=3, y_scale=10.0, x_scale=10.0,
                h_scale=5.0, w_scale=5.0)
    bad = {"nms_iou_threshold 0.0": dict(nms_iou_threshold=0.0),
           "max_detections 0": dict(max_detections=0),
           "num_classes 5 with 4 score columns": dict(num_classes=5)}
    for what, change in bad.items():
        model = dpp_model(ssd_anchors((4, 2, 1)), 3, max_detections=1)
        model.main.nodes[0].attrs["custom_options"] = custom.encode_options({**good, **change})
        with pytest.raises(PicojouleError, match=what):
            Interpreter(model)
        path = tmp_path / "bad.tflite"
        path.write_bytes(dumps(model))
        assert main(["compile", str(path), "--target", "host", "-o", str(tmp_path / "o")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and what in err[0] and OP in err[0], err
