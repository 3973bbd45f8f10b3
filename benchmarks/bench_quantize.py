"""Benchmark of ``picojoule.quantize`` (issue 5's bar), one table per part, in one run.

Part 1 - scikit-learn's 8x8 digits (1,797 images): a small CNN trained with PyTorch
(fixed split and seeds), exported to ONNX, quantized with calibration on the first 200
training images. Test accuracy of: the float model, picojoule int8 (each calibration
method), picojoule int4-weights, ONNX Runtime's ``quantize_static`` (QDQ, per-channel,
its default MinMax calibration) on the same ONNX model and calibration images.
Bars: picojoule int8 (default method, minmax) within 0.5 points of float and not below
ONNX Runtime's int8; int4-weights within 2 points of float.

The float model enters picojoule through its ONNX importer when that can read the
exported file; otherwise (or with ``--hand-ir``) the same trained weights are written
into a float IR graph built directly in NHWC (CONV_2D / MUL+ADD batch norm / RELU /
MAX_POOL_2D / RESHAPE / FULLY_CONNECTED), and the table says which path was used.

Part 2 - the MLPerf Tiny float models in ../shared/models: picojoule int8 (calibrated on
64 seeded random inputs over each model's input domain) against the float model, beside
the official int8 model (TensorFlow's converter, calibrated on real data) against the
same float model, on 50 other seeded random inputs: output SQNR (dB) and top-1 agreement.
Random inputs are not the real data distribution; both int8 models see the same inputs,
but picojoule's was calibrated on that (random) distribution, the official one was not.

Run: ``python benchmarks/bench_quantize.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
MODELS = (ROOT / ".." / "shared" / "models").resolve()

from picojoule.exporters.tflite import dumps  # noqa: E402
from picojoule.importers import load_model  # noqa: E402
from picojoule.ir import Graph, Model, Node, Value  # noqa: E402
from picojoule.quantize import quantize_model  # noqa: E402
from picojoule.runtime.reference import Interpreter  # noqa: E402

SEED = 0
CALIB = 200


# ------------------------------------------------------------------------- digits CNN
def digits_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]  # N, 1, 8, 8 (NCHW)
    return train_test_split(x, d.target, test_size=0.25, random_state=SEED, stratify=d.target)


def train_cnn(xtr, ytr):
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr).long()
    g = torch.Generator().manual_seed(SEED)
    for _ in range(30):
        net.train()
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval()


def export_onnx(net) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), buf, dynamo=False, opset_version=17,
                      input_names=["image"], output_names=["logits"])
    return buf.getvalue()


def hand_ir(net) -> Model:
    """The trained network as a float IR graph in NHWC, built op by op from its weights."""
    from torch import nn

    g = Graph()
    x = Value("image", (1, 8, 8, 1), "float32")
    g.inputs = [x]
    layers = list(net)
    k = 0

    def const(name, arr):
        arr = np.ascontiguousarray(arr, dtype=np.float32 if arr.dtype.kind == "f" else arr.dtype)
        return Value(name, arr.shape, str(arr.dtype), data=arr)

    def op(kind, ins, shape, attrs):
        nonlocal k
        k += 1
        out = Value(f"{kind.lower()}_{k}", shape, "float32")
        g.add_node(Node(kind, ins, [out], attrs, name=out.name))
        return out

    h = w = 8
    i = 0
    while i < len(layers):
        m = layers[i]
        p = lambda t: t.detach().numpy()  # noqa: E731
        if isinstance(m, nn.Conv2d):
            wt = p(m.weight).transpose(0, 2, 3, 1)  # OIHW -> OHWI
            x = op("CONV_2D", [x, const(f"w{k}", wt), const(f"b{k}", p(m.bias))],
                   (1, h, w, wt.shape[0]),
                   {"padding": "SAME", "stride_w": 1, "stride_h": 1, "dilation_w_factor": 1,
                    "dilation_h_factor": 1, "fused_activation_function": "NONE"})
        elif isinstance(m, nn.BatchNorm2d):  # as an ONNX importer writes it: MUL + ADD
            s = p(m.weight) / np.sqrt(p(m.running_var) + m.eps)
            sh = x.shape
            x = op("MUL", [x, const(f"bn_s{k}", s)], sh, {"fused_activation_function": "NONE"})
            x = op("ADD", [x, const(f"bn_b{k}", p(m.bias) - p(m.running_mean) * s)], sh,
                   {"fused_activation_function": "NONE"})
        elif isinstance(m, nn.ReLU):
            x = op("RELU", [x], x.shape, {})
        elif isinstance(m, nn.MaxPool2d):
            h, w = h // 2, w // 2
            x = op("MAX_POOL_2D", [x], (1, h, w, x.shape[3]),
                   {"padding": "VALID", "stride_w": 2, "stride_h": 2, "filter_width": 2,
                    "filter_height": 2, "fused_activation_function": "NONE"})
        elif isinstance(m, nn.Flatten):
            c = x.shape[3]
            x = op("RESHAPE", [x, const("flat_shape", np.array([1, h * w * c], np.int32))],
                   (1, h * w * c), {})
            flat_hwc = (c, h, w)
        elif isinstance(m, nn.Linear):
            wt = p(m.weight)
            if "flat_hwc" in locals() and wt.shape[1] == np.prod(flat_hwc):
                c, hh, ww = flat_hwc  # torch flattens C,H,W; NHWC flattens H,W,C
                wt = wt.reshape(-1, c, hh, ww).transpose(0, 2, 3, 1).reshape(wt.shape[0], -1)
                del flat_hwc
            x = op("FULLY_CONNECTED", [x, const(f"w{k}", wt), const(f"b{k}", p(m.bias))],
                   (1, wt.shape[0]),
                   {"fused_activation_function": "NONE", "keep_num_dims": False,
                    "weights_format": 0, "asymmetric_quantize_inputs": False})
        else:
            raise TypeError(f"no IR mapping for {m}")
        i += 1
    g.outputs = [x]
    model = Model([g], source="digits CNN (hand-built IR)")
    model.verify()
    return model


def logits_ir(model: Model, x_nchw: np.ndarray, tflm_check: bool = False) -> np.ndarray:
    """Float logits of ``model`` (picojoule's interpreter) on every image; with
    ``tflm_check`` the written file also runs in TFLM and must give identical outputs."""
    from oracles import TflmSession

    ip = Interpreter(model)
    tflm = TflmSession(dumps(model), preserve_all=False) if tflm_check else None
    shape = model.main.inputs[0].shape
    out = []
    for img in x_nchw:
        feed = [np.ascontiguousarray(img.transpose(1, 2, 0)).reshape(shape)]
        got = ip.run(feed)[0]
        if tflm is not None and not np.array_equal(tflm.run(feed)[0], got):
            raise AssertionError("TFLM and picojoule disagree on the quantized digits model")
        out.append(np.asarray(got, np.float64).reshape(-1))
    return np.array(out)


def ir_input(model: Model, x_nchw: np.ndarray) -> list[np.ndarray]:
    shape = model.main.inputs[0].shape
    return [np.ascontiguousarray(img.transpose(1, 2, 0)).reshape(shape) for img in x_nchw]


def logits_ort(onnx_bytes: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(onnx_bytes, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.array([s.run(None, {name: img[None]})[0].reshape(-1) for img in x], np.float64)


def ort_quantize(onnx_bytes: bytes, calib: np.ndarray) -> bytes:
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"image": c[None]} for c in calib])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "f.onnx", Path(d) / "q.onnx"
        src.write_bytes(onnx_bytes)
        quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8)
        return dst.read_bytes()


def digits_part(force_hand: bool) -> tuple[list[tuple[str, float, float, float]], dict]:
    """Rows (name, test accuracy %, logit SQNR vs float dB, top-1 agreement with float %)."""
    import torch

    torch.set_num_threads(1)
    xtr, xte, ytr, yte = digits_data()
    t0 = time.time()
    net = train_cnn(xtr, ytr)
    with torch.no_grad():
        ref = net(torch.from_numpy(xte)).numpy().astype(np.float64)
    onnx_bytes = export_onnx(net)
    calib = xtr[:CALIB]
    path = "hand-built NHWC IR (ONNX importer not used)"
    fmodel = None
    if not force_hand:
        try:
            with tempfile.NamedTemporaryFile(suffix=".onnx", delete=False) as f:
                f.write(onnx_bytes)
            from picojoule.importers import onnx as onnx_importer

            fmodel = onnx_importer.load(f.name)
            path = "ONNX importer (picojoule.importers.onnx)"
        except Exception as exc:  # the importer is optional for this benchmark
            path += f"; importer failed: {type(exc).__name__}: {str(exc)[:80]}"
            fmodel = None
    if fmodel is None:
        fmodel = hand_ir(net)

    def row(name: str, logits: np.ndarray) -> tuple[str, float, float, float]:
        pred = logits.argmax(1)
        return (name, 100.0 * float(np.mean(pred == yte)), _sqnr(ref, logits),
                100.0 * float(np.mean(pred == ref.argmax(1))))

    rows = [row("float (PyTorch)", ref),
            row("float (picojoule IR via " + path.split(" (")[0] + ")", logits_ir(fmodel, xte))]
    info = {"path": path, "train": len(ytr), "test": len(yte), "calib": len(calib),
            "ops": sorted({n.op for n in fmodel.main.nodes})}
    cal_ir = [np.ascontiguousarray(c.transpose(1, 2, 0)).reshape(fmodel.main.inputs[0].shape)
              for c in calib]
    for scheme, method in (("int8", "minmax"), ("int8", "percentile"), ("int8", "mse"),
                           ("int16x8", "minmax"), ("int4-weights", "minmax"),
                           ("int4-weights", "mse")):
        qm, rep = quantize_model(fmodel, cal_ir, scheme=scheme, method=method)
        rows.append(row(f"picojoule {scheme} ({method})", logits_ir(qm, xte, tflm_check=True)))
        info[f"{scheme}-{method}-worst"] = [(r.op, round(r.sqnr_db, 1)) for r in rep.worst(2)]
    try:
        rows.append(row("ONNX Runtime quantize_static int8 (QDQ, per-channel, MinMax)",
                        logits_ort(ort_quantize(onnx_bytes, calib), xte)))
    except Exception as exc:
        rows.append((f"ONNX Runtime int8 failed: {exc}", *(float("nan"),) * 3))
    rows.append(row("ONNX Runtime float", logits_ort(onnx_bytes, xte)))
    info["seconds"] = round(time.time() - t0, 1)
    return rows, info


# ---------------------------------------------------------------------- MLPerf Tiny part
DOMAINS = {"ad_toycar_fcae": (-85.0, 15.0), "ic_resnet8": (0.0, 255.0),
           "kws_dscnn": (-123.0, 26.0), "vww_mobilenetv1_96": (0.0, 1.0)}


def _sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    ref, got = np.asarray(ref, np.float64), np.asarray(got, np.float64)
    noise = float(np.sum((ref - got) ** 2))
    return math.inf if noise == 0 else 10 * math.log10(float(np.sum(ref ** 2)) / noise)


def mlperf_part() -> list[tuple]:
    from oracles import LiteRtSession, TflmSession

    rows = []
    for name, (lo, hi) in DOMAINS.items():
        fpath = MODELS / "mlperf_tiny" / f"{name}_float32.tflite"
        ipath = MODELS / "mlperf_tiny" / f"{name}_int8.tflite"
        fm = load_model(fpath)
        shape = fm.main.inputs[0].shape
        rng = np.random.default_rng(1)
        calib = [rng.uniform(lo, hi, shape).astype(np.float32) for _ in range(64)]
        rng = np.random.default_rng(2)
        tests = [rng.uniform(lo, hi, shape).astype(np.float32) for _ in range(50)]
        t0 = time.time()
        qm, rep = quantize_model(fm, calib, scheme="int8", method="minmax")
        tq = time.time() - t0
        flt = LiteRtSession(fpath, reference=False, preserve_all=False)
        ours = TflmSession(dumps(qm), preserve_all=False)
        off_model = load_model(ipath)
        iq, oq = off_model.main.inputs[0].quant, off_model.main.outputs[0].quant
        official = TflmSession(ipath, preserve_all=False)
        f_all, o_all, p_all = [], [], []
        for x in tests:
            f_all.append(flt.run([x])[0].astype(np.float64))
            p_all.append(ours.run([x])[0].astype(np.float64))
            xi = np.clip(np.trunc(x / np.float32(iq.scale0) + np.copysign(0.5, x)) + iq.zp0,
                         -128, 127).astype(np.int8)
            o_all.append((official.run([xi])[0].astype(np.float64) - oq.zp0) * oq.scale0)
        f, o, p = np.array(f_all), np.array(o_all), np.array(p_all)
        classify = f.shape[-1] > 2 and name != "ad_toycar_fcae" or name.startswith("vww")
        top = (lambda a: 100.0 * float(np.mean(a.reshape(len(tests), -1).argmax(1)
                                               == f.reshape(len(tests), -1).argmax(1))))
        rows.append((name, _sqnr(f, p), _sqnr(f, o),
                     top(p) if classify else None, top(o) if classify else None, tq))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hand-ir", action="store_true", help="skip the ONNX importer")
    ap.add_argument("--skip-mlperf", action="store_true")
    args = ap.parse_args()

    rows, info = digits_part(args.hand_ir)
    acc = {r[0]: r[1] for r in rows}
    print(f"\ndigits 8x8 CNN: train {info['train']}, test {info['test']} images, "
          f"calibration {info['calib']} training images; float model via {info['path']} "
          f"(ops {', '.join(info['ops'])}); {info['seconds']} s; every picojoule model "
          f"also ran in TFLM with identical outputs on all test images")
    print(f"{'model':<62} {'test acc %':>10} {'logit SQNR dB':>13} {'top-1 = float %':>15}")
    for k, a, sq, ag in rows:
        print(f"{k:<62} {a:>10.2f} {sq:>13.1f} {ag:>15.2f}")
    flt = acc["float (PyTorch)"]
    i8 = acc["picojoule int8 (minmax)"]
    i4 = acc["picojoule int4-weights (minmax)"]
    ort_key = next((k for k in acc if k.startswith("ONNX Runtime quantize_static")), None)
    ort8 = acc.get(ort_key, float("nan"))
    bars = [
        ("picojoule int8 (minmax) within 0.5 points of float", i8 >= flt - 0.5),
        ("picojoule int8 (minmax) not below ONNX Runtime int8", i8 >= ort8),
        ("picojoule int4-weights (minmax) within 2 points of float", i4 >= flt - 2.0),
    ]
    for what, ok in bars:
        print(f"  {'PASS' if ok else 'FAIL'}  {what}")
    print("  worst layers (SQNR dB on calibration data): "
          + "; ".join(f"{k.replace('-worst', '')}: {v}" for k, v in info.items()
                      if k.endswith("-worst")))

    if not args.skip_mlperf:
        print("\nMLPerf Tiny, 50 seeded random inputs over each input domain, vs the float model")
        print(f"{'model':<22} {'pj int8 SQNR':>12} {'official SQNR':>13} "
              f"{'pj top-1 %':>10} {'official top-1 %':>16} {'quantize s':>10}")
        for name, sp, so, tp, to, tq in mlperf_part():
            fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
            print(f"{name:<22} {sp:>12.1f} {so:>13.1f} {fmt(tp):>10} {fmt(to):>16} {tq:>10.1f}")
    return 0 if all(ok for _, ok in bars) else 1


if __name__ == "__main__":
    sys.exit(main())
