"""Where the PyTorch -> ONNX -> picojoule pipeline breaks, per architecture family (issue 15).

For each family of ``tests/torch_zoo.py`` (timm mobilenetv3-small, ResNet stem, ViT,
transformer encoder, GRU and LSTM keyword models, U-Net, Conv1d keyword net) this runs
what a user runs, each command in its own process with a timeout, and records per stage
``ok`` or the first line of the error:

- export: ``torch.onnx.export(..., opset_version=17, dynamo=False)`` and the default
  (dynamo) exporter, which writes weights to an external ``.data`` file;
- ``picojoule inspect`` (import) of both exports; float ``picojoule run`` against ONNX
  Runtime (max abs / relative error over the held-out set, and on the dynamo export:
  were its external weights read);
- ``picojoule quantize --calibration calib.npy --scheme int8``, ``int16x8`` and ``mixed``
  (int8 with int16 layers chosen from the SQNR report, for transformers); SQNR of
  picojoule's quantized model against the float model on a held-out set, beside ONNX
  Runtime's ``quantize_static`` (QDQ, per-channel, MinMax, same calibration samples);
- TFLM's interpreter on picojoule's quantized ``.tflite``: identical integers to
  picojoule's reference interpreter?
- ``picojoule compile --target host`` and ``run --backend c`` / ``run --backend qemu-m4``
  equal to ``run --backend reference``;
- counts: ops, TRANSPOSEs left inside the network, parameters of the quantized model
  against the torch model, the largest CONCATENATION fan-in, activations not fused into
  the conv / FC before them.

A failing stage also gets ``where``: the innermost picojoule frame (file:function) of the
same step reproduced through the Python API. A crash or timeout in one family or stage
never stops the run. Prints a table; ``--json`` writes everything.

Run: ``python benchmarks/bench_torch_zoo.py [--families a,b] [--json out.json]
[--jobs 2] [--keep DIR]`` (about 30 minutes for the whole zoo on 2 loaded cores).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np
import torch_zoo as zoo

#: Seconds per stage before it counts as a failure ("timeout after N s").
TIMEOUTS = {"export": 600, "cli": 900, "tflm": 600, "qemu": 900, "worker": 5400}
#: Held-out samples the C and QEMU backends are compared on (each is one CLI run).
CLI_SAMPLES = 2
#: Held-out samples TFLM and picojoule's reference are compared on.
TFLM_SAMPLES = 4
PICOJOULE = [sys.executable, "-m", "picojoule.cli"]


# ------------------------------------------------------------------------------ helpers
def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), str(ROOT / "src"),
                                         env.get("PYTHONPATH", "")])
    env.setdefault("COLUMNS", "160")
    return env


def _error_line(text: str) -> str:
    """The line a user reads: the ``error:`` line, else the last line of a traceback."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("error:"):
            return ln[:400]
    return (lines[-1] if lines else "(no output)")[:400]


def cli(args: list[str], timeout: float | None = None) -> tuple[bool, str, str]:
    """Run ``picojoule args``: (ok, first error line or '', stdout)."""
    timeout = timeout or TIMEOUTS["cli"]
    try:
        r = subprocess.run([*PICOJOULE, *args], capture_output=True, text=True, check=False,
                           timeout=timeout, env=_env())
    except subprocess.TimeoutExpired:
        return False, f"timeout after {timeout:.0f} s", ""
    if r.returncode != 0:
        return False, f"exit {r.returncode}: {_error_line(r.stderr or r.stdout)}", r.stdout
    return True, "", r.stdout


def where(exc: BaseException, depth: int = 3) -> str:
    """The innermost frames inside src/picojoule (file:function, outermost first), else the
    innermost frame: where the failure arises and what called it."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/src/picojoule/" in f.filename.replace(os.sep, "/")]
    chosen = ours[-depth:] if ours else frames[-1:]

    def fmt(f: traceback.FrameSummary) -> str:
        name = f.filename.replace(os.sep, "/")
        name = (name.split("/src/picojoule/")[-1] if "/src/picojoule/" in name
                else Path(name).name)
        return f"{name}:{f.name}"

    return " > ".join(fmt(f) for f in chosen)


def api(fn: Callable[[], Any]) -> tuple[Any, str, str]:
    """(result, error first line, where) of ``fn()`` through picojoule's Python API."""
    try:
        return fn(), "", ""
    except BaseException as exc:  # noqa: BLE001 - RecursionError, SystemExit, all recorded
        return None, zoo.first_line(exc), where(exc)


# ------------------------------------------------------------------------ the TFLM check
def tflm_check(model_path: str, inputs_path: str) -> dict:
    """TFLM vs picojoule's reference on ``inputs`` (run in its own process: TFLM may abort)."""
    from opkit import run_oracle

    from picojoule.importers import load_model
    from picojoule.runtime.reference import Interpreter

    data = Path(model_path).read_bytes()
    model = load_model(model_path)
    xs = np.load(inputs_path)
    feeds = zoo.as_feeds(xs, model.main)
    try:
        theirs = run_oracle(model, feeds, "tflm", data=data)
    except AssertionError as exc:  # OracleRefused
        return {"ok": False, "error": zoo.first_line(str(exc))}
    ours = [Interpreter(model).run(f) for f in feeds]
    for k, (a, b) in enumerate(zip(theirs, ours)):
        for i, (x, y) in enumerate(zip(a, b)):
            if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y):
                diff = (int(np.count_nonzero(x != y)) if x.shape == y.shape else -1)
                return {"ok": False, "error": f"TFLM != reference on sample {k} output {i}: "
                                              f"{diff} of {y.size} elements differ"}
    return {"ok": True, "error": ""}


# -------------------------------------------------------------------------- one family
class Record:
    """Stage results of one family, saved after every stage so a crash keeps them."""

    def __init__(self, name: str, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"family": name, "kind": zoo.FAMILIES[name].kind,
                                     "stages": {}, "metrics": {}}

    def stage(self, key: str, ok: bool | None, error: str = "", where: str = "",
              seconds: float | None = None, **extra: Any) -> None:
        entry = {"ok": ok, "error": error, **extra}
        if where:
            entry["where"] = where
        if seconds is not None:
            entry["seconds"] = round(seconds, 1)
        self.data["stages"][key] = entry
        self.save()

    def metric(self, **kv: Any) -> None:
        self.data["metrics"].update(kv)
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=1, default=_jsonable))


def _jsonable(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    return str(o)


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else "inf"


def worker(name: str, work: Path, out_json: Path) -> None:
    """Every stage for one family; results in ``out_json`` (written as it goes)."""
    from picojoule.importers import load_model
    from picojoule.runtime.reference import Interpreter

    rec = Record(name, out_json)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    try:
        model, x = zoo.build(name)
    except BaseException as exc:  # noqa: BLE001
        rec.stage("build", False, zoo.first_line(exc), where(exc))
        return
    rec.metric(torch_params=zoo.torch_params(model),
               input_shape=list(zoo.FAMILIES[name].input_shape))
    calib, held = zoo.calibration(name), zoo.heldout(name)
    np.save(work / "calib.npy", calib)
    np.save(work / "heldout.npy", held)
    np.save(work / "tflm_inputs.npy", held[:TFLM_SAMPLES])
    rec.stage("build", True, seconds=time.time() - t0)

    # -- export -------------------------------------------------------------------------
    t = time.time()
    onnx_path, err, wh = api(lambda: zoo.export_onnx(name, work, model_and_input=(model, x)))
    rec.stage("export", onnx_path is not None, err, wh, time.time() - t)
    if onnx_path is None:
        return
    ref = zoo.ort_outputs(onnx_path, held)
    ref = zoo.model_layout(ref, ref.ndim - 1)  # 4-D outputs NHWC, as picojoule's
    t = time.time()
    dyn_path, err, wh = api(lambda: zoo.export_onnx(name, work, dynamo=True,
                                                    model_and_input=(model, x)))
    ext = zoo.onnx_external_files(dyn_path) if dyn_path is not None else []
    rec.stage("export_dynamo", dyn_path is not None, err, wh, time.time() - t,
              external_files=ext, opset=zoo.onnx_opset(dyn_path) if dyn_path else None)

    # -- import (inspect) and float run --------------------------------------------------
    t = time.time()
    ok, err, _ = cli(["inspect", str(onnx_path), "--json"])
    fm, aerr, wh = api(lambda: load_model(onnx_path))
    rec.stage("inspect", ok, err, wh if not ok else "", time.time() - t)
    if fm is not None:
        rec.metric(float_structure=zoo.structure(fm.main))
    for k in range(CLI_SAMPLES):  # `picojoule run` inputs, in the imported model's layout
        np.save(work / f"x{k}.npy",
                zoo.nhwc(held[k], fm.main.inputs[0].shape if fm is not None else None))
    if ok and fm is not None:
        t = time.time()
        ok_run, err_run, _ = cli(["run", str(onnx_path), "--input", str(work / "x0.npy"),
                                  "--output", str(work / "float0.npz")])
        got, aerr, wh = api(lambda: np.stack([Interpreter(fm).run(f)[0]
                                              for f in zoo.as_feeds(held, fm.main)]))
        if ok_run and got is not None:
            cli0 = np.load(work / "float0.npz")["output_0"]
            err_abs = float(np.max(np.abs(got - ref)))
            rel = err_abs / max(float(np.max(np.abs(ref))), 1e-30)
            cli_abs = float(np.max(np.abs(cli0 - ref[0])))
            rec.stage("float_run", rel <= 1e-4, "" if rel <= 1e-4 else
                      f"max relative error {rel:.2e} vs onnxruntime", "", time.time() - t,
                      max_abs=err_abs, max_rel=rel, cli_sample0_max_abs=cli_abs)
        else:
            rec.stage("float_run", False, err_run or aerr, wh, time.time() - t)
    if dyn_path is not None:
        t = time.time()
        ok_d, err_d, _ = cli(["inspect", str(dyn_path)])
        dm, aerr, wh = api(lambda: load_model(dyn_path))
        extra: dict[str, Any] = {"external_files": ext}
        if dm is not None:
            got, aerr2, wh2 = api(lambda: np.stack([Interpreter(dm).run(f)[0]
                                                    for f in zoo.as_feeds(held, dm.main)]))
            if got is not None:
                rel = float(np.max(np.abs(got - ref))) / max(float(np.max(np.abs(ref))), 1e-30)
                extra["max_rel_vs_ort"] = rel
                extra["external_weights_read"] = bool(rel <= 1e-4)
                if rel > 1e-4 and ok_d:
                    ok_d, err_d = False, f"float outputs differ from onnxruntime ({rel:.2e})"
            elif ok_d:
                ok_d, err_d, wh = False, f"float run: {aerr2}", wh2
        rec.stage("inspect_dynamo", ok_d, err_d, wh if not ok_d else "", time.time() - t,
                  **extra)

    if name == "lstm_kws":
        _fused_lstm(rec, onnx_path, calib, held, ref)

    # -- ONNX Runtime's static quantization ----------------------------------------------
    t = time.time()
    oq, err, wh = api(lambda: zoo.ort_quantize_static(onnx_path, calib, work / "ort_int8.onnx"))
    if oq is not None:
        ort_int8, err, wh = api(lambda: zoo.ort_outputs(oq, held))
        if ort_int8 is not None:
            ort_int8 = zoo.model_layout(ort_int8, ort_int8.ndim - 1)
            rec.metric(ort_int8_sqnr_db=_finite(zoo.sqnr_db(ref, ort_int8)))
    rec.stage("ort_quantize", oq is not None and "ort_int8_sqnr_db" in rec.data["metrics"],
              err, wh, time.time() - t)

    # -- picojoule quantize, SQNR, TFLM, C, QEMU -------------------------------------------
    for scheme in ("int8", "int16x8", "mixed"):
        _scheme(rec, name, scheme, onnx_path, fm, calib, held, ref, work)


def _scheme(rec: Record, name: str, scheme: str, onnx_path: Path, fm: Any, calib: np.ndarray,
            held: np.ndarray, ref: np.ndarray, work: Path) -> None:
    """picojoule quantize with ``scheme``, its SQNR, TFLM, and the C / QEMU backends."""
    from picojoule.importers import load_model
    from picojoule.quantize import quantize_model
    from picojoule.runtime.reference import Interpreter

    qpath = work / f"{name}_{scheme}.tflite"
    t = time.time()
    ok, err, _ = cli(["quantize", str(onnx_path), "--calibration", str(work / "calib.npy"),
                      "-o", str(qpath), "--scheme", scheme, "-q",
                      "--report-json", str(work / f"report_{scheme}.json")])
    wh = ""
    if not ok and fm is not None:
        _, aerr, wh = api(lambda: quantize_model(fm, list(calib), scheme=scheme,
                                                 progress=False))
        if not wh and aerr:
            wh = f"(API: {aerr})"
    rec.stage(f"quantize_{scheme}", ok, err, wh, time.time() - t)
    if not ok:
        return
    qm, err, wh = api(lambda: load_model(qpath))
    if qm is None:
        rec.stage(f"sqnr_{scheme}", False, err, wh)
        return
    rec.metric(**{f"{scheme}_structure": zoo.structure(qm.main),
                  f"{scheme}_tflite_bytes": qpath.stat().st_size,
                  f"{scheme}_input_shape": list(qm.main.inputs[0].shape)})
    t = time.time()
    got, err, wh = api(lambda: np.stack([Interpreter(qm).run(f)[0]
                                         for f in zoo.as_feeds(held, qm.main)]))
    if got is not None:
        rec.metric(**{f"{scheme}_sqnr_db": _finite(zoo.sqnr_db(ref, got))})
    rec.stage(f"sqnr_{scheme}", got is not None, err, wh, time.time() - t)
    t = time.time()
    res = _tflm_subprocess(qpath, work / "tflm_inputs.npy")
    rec.stage(f"tflm_{scheme}", res["ok"], res["error"], "", time.time() - t)
    backends = ["c", "qemu-m4"] if scheme in ("int8", "mixed") else ["c"]
    _backends(rec, scheme, qpath, work, backends, qm)


def _fused_lstm(rec: Record, onnx_path: Path, calib: np.ndarray, held: np.ndarray,
                ref: np.ndarray) -> None:
    """The importer's opt-in UNIDIRECTIONAL_SEQUENCE_LSTM path (Python API only: neither
    load_model nor the CLI asks for it): float run, int8 quantize, TFLM."""
    from picojoule.exporters.tflite import dumps
    from picojoule.importers import onnx as onnx_importer
    from picojoule.importers.tflite import loads
    from picojoule.quantize import quantize_model
    from picojoule.runtime.reference import Interpreter

    t = time.time()
    fm, err, wh = api(lambda: onnx_importer.load(onnx_path, fused_lstm=True))
    if fm is None:
        rec.stage("fused_lstm", False, f"import: {err}", wh, time.time() - t)
        return
    extra: dict[str, Any] = {"float_structure": zoo.structure(fm.main)}
    got = np.stack([Interpreter(fm).run([s])[0] for s in held])
    extra["float_max_rel"] = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
    q, err, wh = api(lambda: quantize_model(fm, list(calib), progress=False))
    if q is None:
        rec.stage("fused_lstm", False, f"quantize int8: {err}", wh, time.time() - t, **extra)
        return
    data = dumps(q[0])
    qm = loads(data)
    extra["int8_structure"] = zoo.structure(qm.main)
    extra["int8_sqnr_db"] = _finite(zoo.sqnr_db(ref, np.stack(
        [Interpreter(qm).run([s])[0] for s in held])))
    path = Path(rec.path).with_name("lstm_kws_fused_int8.tflite")
    path.write_bytes(data)
    np.save(path.with_suffix(".npy"), held[:TFLM_SAMPLES])
    res = _tflm_subprocess(path, path.with_suffix(".npy"))
    rec.stage("fused_lstm", res["ok"], res["error"] and f"TFLM: {res['error']}", "",
              time.time() - t, **extra)


def _tflm_subprocess(model: Path, inputs: Path) -> dict:
    try:
        r = subprocess.run([sys.executable, __file__, "--tflm-check", str(model), str(inputs)],
                           capture_output=True, text=True, check=False,
                           timeout=TIMEOUTS["tflm"], env=_env())
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timeout after {TIMEOUTS['tflm']} s"}
    last = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not last:
        sig = f"signal {-r.returncode}" if r.returncode < 0 else f"exit {r.returncode}"
        return {"ok": False, "error": f"TFLM process died ({sig}): "
                                      f"{_error_line(r.stderr or r.stdout)}"}
    return json.loads(last[-1])


def _backends(rec: Record, scheme: str, qpath: Path, work: Path, backends: list[str],
              qm: Any) -> None:
    """compile --target host, then run --backend c / qemu-m4 against --backend reference."""
    from picojoule.backends import host, qemu

    t = time.time()
    ok, err, _ = cli(["compile", str(qpath), "--target", "host", "-o",
                      str(work / f"c_{scheme}")])
    wh = ""
    if not ok:
        _, _, wh = api(lambda: host.build(qm))
    rec.stage(f"compile_host_{scheme}", ok, err, wh, time.time() - t)
    refs = []
    for k in range(CLI_SAMPLES):
        ok, err, _ = cli(["run", str(qpath), "--input", str(work / f"x{k}.npy"), "--output",
                          str(work / f"ref_{scheme}_{k}.npz")])
        if not ok:
            rec.stage(f"run_c_{scheme}", False, f"reference run failed: {err}")
            return
        refs.append(np.load(work / f"ref_{scheme}_{k}.npz"))
    for backend in backends:
        key = f"run_{backend.replace('-', '_')}_{scheme}"
        t = time.time()
        timeout = TIMEOUTS["qemu"] if backend.startswith("qemu") else TIMEOUTS["cli"]
        failure = ""
        for k in range(CLI_SAMPLES):
            out = work / f"{backend}_{scheme}_{k}.npz"
            ok, err, _ = cli(["run", str(qpath), "--backend", backend, "--input",
                              str(work / f"x{k}.npy"), "--output", str(out)], timeout)
            if not ok:
                failure = err
                break
            got = np.load(out)
            for key_o in refs[k].files:
                a, b = got[key_o], refs[k][key_o]
                if a.shape != b.shape or a.dtype != b.dtype or not np.array_equal(a, b):
                    n = int(np.count_nonzero(a != b)) if a.shape == b.shape else -1
                    failure = (f"{backend} != reference on sample {k} {key_o}: {n} of "
                               f"{b.size} elements differ")
                    break
            if failure:
                break
        wh = ""
        if failure.startswith("exit"):
            build = (lambda: host.build(qm)) if backend == "c" else (
                lambda: qemu.build(qm, "mps2-an386"))
            _, _, wh = api(build)
        rec.stage(key, not failure, failure, wh, time.time() - t)


# ------------------------------------------------------------------------------- driver
STAGES = [
    ("export", "export"), ("export_dynamo", "dynamo"), ("inspect", "import"),
    ("inspect_dynamo", "imp dyn"), ("float_run", "float"), ("quantize_int8", "q int8"),
    ("quantize_int16x8", "q i16"), ("tflm_int8", "tflm i8"), ("tflm_int16x8", "tflm i16"),
    ("compile_host_int8", "compile"), ("run_c_int8", "C i8"), ("run_c_int16x8", "C i16"),
    ("run_qemu_m4_int8", "qemu i8"), ("quantize_mixed", "q mix"), ("tflm_mixed", "tflm mx"),
    ("run_c_mixed", "C mix"), ("run_qemu_m4_mixed", "qemu mx"),
]


def run_family(name: str, base: Path) -> dict:
    work = base / name
    out = base / f"{name}.json"
    t = time.time()
    try:
        r = subprocess.run([sys.executable, __file__, "--worker", name, str(work), str(out)],
                           capture_output=True, text=True, check=False, timeout=TIMEOUTS["worker"],
                           env=_env())
        how = f"signal {-r.returncode}" if r.returncode < 0 else f"exit {r.returncode}"
        died = "" if r.returncode == 0 else f"worker {how}: {_error_line(r.stderr)}"
    except subprocess.TimeoutExpired:
        died = f"worker timeout after {TIMEOUTS['worker']} s"
    data = (json.loads(out.read_text()) if out.exists()
            else {"family": name, "stages": {}, "metrics": {}})
    if died:
        data["worker_error"] = died
    data["seconds"] = round(time.time() - t, 1)
    return data


def _cell(st: dict | None) -> str:
    if st is None:
        return "-"
    return "ok" if st.get("ok") else "FAIL"


def _fmt(v: Any, spec: str = ".1f") -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return format(v, spec)


def table(results: list[dict]) -> str:
    lines = []
    head = f"{'family':<27}" + "".join(f"{short:>9}" for _, short in STAGES)
    lines += [head, "-" * len(head)]
    for r in results:
        st = r["stages"]
        lines.append(f"{r['family']:<27}" + "".join(f"{_cell(st.get(k)):>9}" for k, _ in STAGES))
    lines.append("")
    head2 = (f"{'family':<27}{'float rel':>10}{'pj i8 dB':>9}{'ort i8 dB':>10}{'pj i16 dB':>10}"
             f"{'pj mix dB':>10}"
             f"{'ops f/q':>9}{'transp':>7}{'params torch':>13}{'params q':>10}{'x':>6}"
             f"{'concat':>7}{'unfused':>8}{'dyn ext':>8}{'C gen s':>8}")
    lines += [head2, "-" * len(head2)]
    for r in results:
        m, st = r["metrics"], r["stages"]
        fs = m.get("float_structure", {})
        qs = m.get("int8_structure", {})
        tp, qp = m.get("torch_params"), qs.get("params")
        ratio = f"{qp / tp:.1f}" if tp and qp else "-"
        fr = st.get("float_run", {}).get("max_rel")
        dyn = st.get("inspect_dynamo", {})
        dyn_cell = "none"
        if st.get("export_dynamo", {}).get("external_files"):
            dyn_cell = ("read" if dyn.get("external_weights_read") else
                        "FAIL" if "external" in dyn.get("error", "") or "external_weights_read"
                        in dyn else "-")
        gen_s = st.get("compile_host_int8", {}).get("seconds")
        lines.append(
            f"{r['family']:<27}{_fmt(fr, '.1e'):>10}{_fmt(m.get('int8_sqnr_db')):>9}"
            f"{_fmt(m.get('ort_int8_sqnr_db')):>10}{_fmt(m.get('int16x8_sqnr_db')):>10}"
            f"{_fmt(m.get('mixed_sqnr_db')):>10}"
            f"{str(fs.get('ops', '-')) + '/' + str(qs.get('ops', '-')):>9}"
            f"{_fmt(qs.get('inner_transposes', fs.get('inner_transposes')), 'd'):>7}"
            f"{_fmt(tp, ',d'):>13}{_fmt(qp, ',d'):>10}{ratio:>6}"
            f"{_fmt(qs.get('max_concat_inputs', fs.get('max_concat_inputs')), 'd'):>7}"
            f"{_fmt(qs.get('unfused_activations', fs.get('unfused_activations')), 'd'):>8}"
            f"{dyn_cell:>8}{_fmt(gen_s):>8}")
    lines.append("")
    lines.append("failures (first line of the error; [where]: innermost picojoule frames, caller > callee):")
    for r in results:
        if r.get("worker_error"):
            lines.append(f"  {r['family']}: {r['worker_error']}")
        for k, _ in STAGES + [("ort_quantize", ""), ("sqnr_int8", ""), ("sqnr_int16x8", ""),
                              ("sqnr_mixed", ""), ("compile_host_int16x8", ""),
                              ("compile_host_mixed", ""), ("fused_lstm", "")]:
            s = r["stages"].get(k)
            if s is not None and not s.get("ok"):
                w = f"  [{s['where']}]" if s.get("where") else ""
                lines.append(f"  {r['family']} {k}: {s.get('error', '')}{w}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", help="comma-separated subset (default: the whole zoo)")
    ap.add_argument("--json", help="write the results as JSON here")
    ap.add_argument("--jobs", type=int, default=1, help="families run in parallel")
    ap.add_argument("--keep", help="keep exports and models in this folder")
    ap.add_argument("--worker", nargs=3, metavar=("FAMILY", "DIR", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--tflm-check", nargs=2, metavar=("MODEL", "INPUTS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.tflm_check:
        print(json.dumps(tflm_check(*args.tflm_check)))
        return 0
    if args.worker:
        name, work, out = args.worker
        worker(name, Path(work), Path(out))
        return 0

    names = args.families.split(",") if args.families else zoo.family_names()
    unknown = [n for n in names if n not in zoo.FAMILIES]
    if unknown:
        ap.error(f"unknown families {unknown}; choose from {list(zoo.FAMILIES)}")
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pj_torch_zoo_"))
    base.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda n: run_family(n, base), names))
    for r in results:
        print(f"[{r['family']}: {r['seconds']} s]", file=sys.stderr)
    text = table(results)
    print(text)
    print(f"\n{len(names)} families in {time.time() - t0:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "table": text,
                                               "seconds": round(time.time() - t0, 1)},
                                              indent=1, default=_jsonable))
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
