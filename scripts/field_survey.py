#!/usr/bin/env python3
"""Survey real models: which ones picojoule loads, runs, matches TFLM on, compiles and runs as C.

Give it model files or folders (searched recursively for ``.tflite`` and ``.onnx``). For each
model it runs these stages, each in its own subprocess with a timeout, so a crash or a hang in
one model (or in TFLM) cannot stop the survey:

  load     picojoule's importer (``load_model`` + ``verify``): ops, I/O, precision kind
  run      ``picojoule run MODEL --random-seed S --output ref.npz`` (the numpy reference)
  tflm     TFLM's Python interpreter on the same seeded inputs (``random_inputs``), compared
           with the reference outputs: integers bit for bit, floats within 1e-5 of the largest
           magnitude; "TFLM refuses" when TFLM cannot load or run the model. ONNX models are
           compared with ONNX Runtime instead (same rule).
  compile  ``picojoule compile MODEL --target host -o DIR`` (into a temporary folder)
  c        ``picojoule run MODEL --backend c``: outputs equal to the reference?
  qemu     (with --qemu) ``picojoule run MODEL --backend qemu-m4``: equal to the reference?

A stage is "ok", or the first line of its error. Stages that cannot succeed because an
earlier one failed are "skip". The table goes to stdout (and --text), everything to --json,
followed by the failures grouped by cause (missing op, unsupported dtype/config, error type).

Examples::

    python scripts/field_survey.py ../fieldmodels --json survey.json --text survey.txt
    python scripts/field_survey.py m.tflite --qemu --timeout 600
    python scripts/field_survey.py a.tflite b.tflite --qemu --update survey.json --json survey.json
    python scripts/field_survey.py ../fieldmodels --src /tmp/picojoule-HEAD  # another source tree
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures as cf
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STAGES = ("load", "run", "tflm", "compile", "c", "qemu")
MODEL_SUFFIXES = (".tflite", ".onnx")
#: Ops whose output dtype says what precision the model computes in, and whose input 1 is
#: the weight tensor.
COMPUTE_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D",
               "UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM", "SVDF",
               "BATCH_MATMUL"}


# ------------------------------------------------------------------------------------------
# Worker side: the stages that use picojoule / TFLM from Python (run in a child process).
# ------------------------------------------------------------------------------------------
def _dynamic_dims(path: Path) -> list[str]:
    """Inputs whose declared shape has a dynamic dimension (-1 in a .tflite shape_signature,
    a symbolic or unknown dimension in ONNX), as 'name[sig]' strings."""
    out = []
    if path.suffix.lower() == ".onnx":
        import onnx

        m = onnx.load(str(path), load_external_data=False)
        inits = {t.name for t in m.graph.initializer}
        for vi in m.graph.input:
            if vi.name in inits:
                continue
            dims = [d.dim_param or (str(d.dim_value) if d.HasField("dim_value") else "?")
                    for d in vi.type.tensor_type.shape.dim]
            if any(not d.isdigit() for d in dims):
                out.append(f"{vi.name}[{','.join(dims)}]")
        return out
    import tflite

    data = path.read_bytes()
    sg = tflite.Model.GetRootAs(data, 0).Subgraphs(0)
    for k in range(sg.InputsLength()):
        t = sg.Tensors(sg.Inputs(k))
        sig = t.ShapeSignatureAsNumpy() if t.ShapeSignatureLength() else None
        if sig is not None and (sig < 0).any():
            out.append(f"{t.Name().decode(errors='replace')}[{','.join(str(int(d)) for d in sig)}]")
    return out


def _precision(graph) -> str:
    """int8 / uint8 / int16x8 / float32 / hybrid (float activations, int8 weights), from the
    compute ops' output and weight types; '+'-joined when a model mixes them."""
    kinds = set()
    for n in graph.nodes:
        if n.op not in COMPUTE_OPS or not n.outputs:
            continue
        act = n.outputs[0].dtype
        w = n.inputs[1] if len(n.inputs) > 1 and n.inputs[1] is not None else None
        wdt = w.dtype if w is not None and w.is_const else None
        if act == "int16":
            kinds.add("int16x8")
        elif act in ("int8", "uint8"):
            kinds.add(act)
        elif act == "float32":
            kinds.add("hybrid" if wdt in ("int8", "uint8", "int4") else "float32")
        else:
            kinds.add(act)
    if not kinds:  # no weighted op: say what flows out
        kinds = {v.dtype for v in graph.outputs}
    return "+".join(sorted(kinds))


def stage_load(model: Path, work: Path, seed: int) -> dict:
    from picojoule.importers import load_model

    m = load_model(model)
    m.verify()
    g = m.main
    ops = [n.op for n in g.nodes]
    info: dict[str, Any] = {
        "ops": ops,
        "op_counts": dict(collections.Counter(ops)),
        "inputs": [f"{v.dtype}{list(v.shape)}" for v in g.inputs],
        "outputs": [f"{v.dtype}{list(v.shape)}" for v in g.outputs],
        "subgraphs": len(m.graphs),
        "precision": _precision(g),
    }
    try:
        info["dynamic_inputs"] = _dynamic_dims(model)
    except Exception as exc:  # noqa: BLE001 - informative only
        info["dynamic_inputs_error"] = f"{type(exc).__name__}: {exc}"
    try:
        from picojoule.analysis.summary import summarize

        s = summarize(m)
        info["macs"] = s.get("macs")
        info["parameters"] = s.get("parameters", {}).get("count")
    except Exception as exc:  # noqa: BLE001 - MACs are informative only
        info["summary_error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return {"ok": True, **info}


def compare(got, want, rtol: float = 1e-5) -> tuple[bool, str]:
    """(equal, description): integers identical, floats within rtol x max |want|."""
    import numpy as np

    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        if got.size == want.size:
            got = got.reshape(want.shape)  # e.g. TFLM's [N] for a declared [1, N]
        else:
            return False, f"shape {list(got.shape)} != {list(want.shape)}"
    if got.dtype != want.dtype:
        return False, f"dtype {got.dtype} != {want.dtype}"
    if want.size == 0:
        return True, "identical (empty)"
    if np.issubdtype(want.dtype, np.floating):
        finite = np.isfinite(want) & np.isfinite(got)
        if not np.array_equal(np.isnan(got), np.isnan(want)):
            return False, "NaN in different places"
        scale = max(float(np.max(np.abs(want[finite]))) if finite.any() else 0.0, 1e-30)
        err = float(np.max(np.abs(got[finite].astype(np.float64) - want[finite]))) if finite.any() else 0.0
        if err == 0.0:
            return True, "identical"
        ok = err <= rtol * scale
        return ok, f"max abs err {err:.3g} ({err / scale:.2g} of max |ref| {scale:.3g})"
    diff = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
    if diff.size == 0:
        return True, "identical"
    d = int(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64))))
    return False, f"{diff.size}/{want.size} elements differ (max |diff| {d})"


def _compare_all(got: list, want: list, rtol: float) -> tuple[bool, str]:
    if len(got) != len(want):
        return False, f"{len(got)} outputs != {len(want)}"
    notes = []
    ok_all = True
    for i, (g, w) in enumerate(zip(got, want)):
        ok, what = compare(g, w, rtol)
        ok_all &= ok
        if not ok or what != "identical":
            notes.append(f"output {i}: {what}")
    return ok_all, "; ".join(notes) or "identical"


def stage_tflm(model: Path, work: Path, seed: int, arena_mb: int = 64) -> dict:
    """Run the oracle (TFLM, or ONNX Runtime for .onnx) on the reference's inputs and compare."""
    import numpy as np

    from picojoule.importers import load_model
    from picojoule.runtime import random_inputs

    m = load_model(model, nhwc=False)  # ONNX Runtime is the oracle: ONNX's own layout
    feeds = random_inputs(m.main, seed)
    ref_path = work / "reference.npz"
    want = None
    if ref_path.exists():
        with np.load(ref_path) as z:
            want = [z[f"output_{i}"] for i in range(len(z.files))]
    if model.suffix.lower() == ".onnx":
        import onnxruntime as ort

        oracle = "onnxruntime"
        try:
            sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
            names = [i.name for i in sess.get_inputs()]
            got = sess.run(None, dict(zip(names, feeds)))
        except Exception as exc:  # noqa: BLE001
            return {"ok": False, "oracle": oracle, "refused": True,
                    "error": f"ONNX Runtime refuses: {type(exc).__name__}: {_first_line(str(exc))}"}
    else:
        from tflite_micro.python.tflite_micro import runtime

        oracle = "tflm"
        data = model.read_bytes()
        try:
            interp = runtime.Interpreter.from_bytes(
                data, arena_size=max(len(data) * 10, arena_mb << 20))
            for i, x in enumerate(feeds):
                interp.set_input(x, i)
            interp.invoke()
            import tflite  # the schema bindings: count outputs without asking TFLM

            n_out = tflite.Model.GetRootAs(data, 0).Subgraphs(0).OutputsLength()
            got = [np.array(interp.get_output(i), copy=True) for i in range(n_out)]
        except Exception as exc:  # noqa: BLE001
            return {"ok": False, "oracle": oracle, "refused": True,
                    "error": f"TFLM refuses: {type(exc).__name__}: {_first_line(str(exc))}"}
    if want is None:
        return {"ok": None, "oracle": oracle, "refused": False,
                "error": f"{oracle} runs it; no reference outputs to compare"}
    ok, what = _compare_all(got, want, 1e-5)
    return {"ok": ok, "oracle": oracle, "refused": False, "detail": what,
            **({} if ok else {"error": f"differs from {oracle}: {what}"})}


WORKER_STAGES = {"load": stage_load, "tflm": stage_tflm}


def worker_main(stage: str, model: str, work: str, seed: int, arena_mb: int) -> int:
    """Child process: run one Python-side stage and print its JSON result as the last line."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        if stage == "tflm":
            res = stage_tflm(Path(model), Path(work), seed, arena_mb)
        else:
            res = WORKER_STAGES[stage](Path(model), Path(work), seed)
    except Exception as exc:  # noqa: BLE001 - the parent records one line
        res = {"ok": False, "error": f"{type(exc).__name__}: {_first_line(str(exc))}",
               "error_type": type(exc).__name__}
    sys.stdout.write("\n" + json.dumps(res, default=str) + "\n")
    sys.stdout.flush()
    return 0


# ------------------------------------------------------------------------------------------
# Parent side: subprocesses, timeouts, comparison of saved outputs, table and grouping.
# ------------------------------------------------------------------------------------------
def _first_line(text: str, limit: int = 300) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()[:limit]
    return ""


def _run(cmd: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run a command in its own process group; kill the group on timeout."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        return {"timeout": True, "seconds": round(time.monotonic() - t0, 2), "stdout": out,
                "stderr": err, "returncode": None}
    return {"timeout": False, "seconds": round(time.monotonic() - t0, 2), "stdout": out,
            "stderr": err, "returncode": proc.returncode}


def _process_failure(r: dict, timeout: float) -> str | None:
    if r["timeout"]:
        return f"timeout after {timeout:.0f} s"
    rc = r["returncode"]
    if rc is not None and rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = str(-rc)
        return f"crashed ({name})" + (f": {_first_line(r['stderr'], 200)}" if r["stderr"].strip() else "")
    return None


def _cli_error(r: dict) -> str:
    """The CLI's one-line 'error: ...' message (or the last line of stderr)."""
    lines = [ln.strip() for ln in r["stderr"].splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith("error:"):
            return ln[len("error:"):].strip()[:300]
    return (lines[-1][:300] if lines else f"exit code {r['returncode']}")


def _tflm_reason(log: str) -> str | None:
    """TFLM's own words for refusing a model (it prints them to stdout before failing)."""
    lines = [ln.strip() for ln in log.splitlines()
             if ln.strip() and not ln.startswith("{") and "Warning" not in ln]
    node = next((ln for ln in lines if re.match(r"Node \S+ \(number \d+\) failed", ln)), None)
    main = next((ln for ln in lines if not re.match(r"Node \S+ \(number", ln)
                 and not ln.startswith(("Traceback", "File ", "RuntimeError"))), None)
    if main is None and node is None:
        return None
    main = re.sub(r"^\S*tensorflow/lite/micro/(?:kernels/)?", "", main or "")
    if node:
        op = node.split()[1]
        return f"{main} [{op}]" if main else node
    return main


class Surveyor:
    """Runs the stages for one model after another; safe to use from several threads."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.py = sys.executable
        self.env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        self.env.pop("PICOJOULE_DEBUG", None)
        if args.src:  # survey another picojoule tree (e.g. a clean export of a commit)
            src = str(Path(args.src).resolve() / "src")
            self.env["PYTHONPATH"] = os.pathsep.join(
                [src] + [p for p in self.env.get("PYTHONPATH", "").split(os.pathsep) if p])

    def provenance(self) -> dict:
        """Which picojoule the survey ran: its folder, and its git commit and state if any."""
        probe = ("import picojoule; print(picojoule.__file__); "
                 "print(getattr(picojoule, '__version__', '?'))")
        r = _run([self.py, "-c", probe], 60, self.env)
        lines = r["stdout"].split()
        info: dict[str, Any] = {"picojoule": lines[0] if lines else None,
                                "version": lines[1] if len(lines) > 1 else None,
                                "python": sys.version.split()[0]}
        if info["picojoule"]:
            root = Path(info["picojoule"]).resolve().parents[2]
            head = _run(["git", "-C", str(root), "rev-parse", "HEAD"], 30)
            if head["returncode"] == 0:
                dirty = _run(["git", "-C", str(root), "status", "--porcelain"], 30)
                info.update(root=str(root), commit=head["stdout"].strip(),
                            uncommitted_changes=len(dirty["stdout"].splitlines()))
            else:
                marker = root / "COMMIT"
                info.update(root=str(root), commit=marker.read_text().strip()
                            if marker.exists() else "not a git checkout")
        return info

    def cli(self, *argv: str) -> list[str]:
        return [self.py, "-m", "picojoule.cli", *argv]

    def worker(self, stage: str, model: Path, work: Path) -> list[str]:
        return [self.py, os.path.abspath(__file__), "--worker", stage, str(model),
                "--work", str(work), "--random-seed", str(self.args.random_seed),
                "--tflm-arena-mb", str(self.args.tflm_arena_mb)]

    def survey(self, model: Path) -> dict:
        a = self.args
        rec: dict[str, Any] = {"model": str(model), "name": model.name, "bytes": model.stat().st_size,
                               "stages": {}}
        deadline = time.monotonic() + a.model_timeout
        work = Path(tempfile.mkdtemp(prefix="field-survey-"))
        st = rec["stages"]
        try:
            for stage in STAGES:
                if stage == "qemu" and not self._want_qemu(model):
                    st[stage] = {"status": "not run"}
                    continue
                blocked = self._blocked(stage, st)
                if blocked:
                    st[stage] = {"status": "skip", "error": blocked}
                    continue
                left = deadline - time.monotonic()
                if left <= 1:
                    st[stage] = {"status": "skip", "error": f"model time budget ({a.model_timeout:.0f} s) used up"}
                    continue
                st[stage] = self._stage(stage, model, work, min(a.timeout, left))
                if stage == "load" and st[stage].get("status") == "ok":
                    for k in ("op_counts", "inputs", "outputs", "precision", "dynamic_inputs",
                              "macs", "parameters", "subgraphs"):
                        if k in st[stage]:
                            rec[k] = st[stage].pop(k)
                    st[stage].pop("ops", None)
        finally:
            if a.keep_work:
                rec["work"] = str(work)
            else:
                shutil.rmtree(work, ignore_errors=True)
        return rec

    def _want_qemu(self, model: Path) -> bool:
        a = self.args
        if not a.qemu:
            return False
        return a.qemu_models is None or model.name in a.qemu_models or str(model) in a.qemu_models

    @staticmethod
    def _blocked(stage: str, st: dict) -> str | None:
        def failed(s: str) -> bool:
            return st.get(s, {}).get("status") not in ("ok", None, "not run")

        if stage != "load" and failed("load"):
            return "load failed"
        if stage in ("c", "qemu") and failed("compile"):
            return "compile failed"
        return None

    def _stage(self, stage: str, model: Path, work: Path, timeout: float) -> dict:
        a = self.args
        seed = str(a.random_seed)
        if stage in ("load", "tflm"):
            r = _run(self.worker(stage, model, work), timeout, self.env)
            bad = _process_failure(r, timeout)
            if bad:
                return {"status": "fail", "error": bad, "seconds": r["seconds"]}
            last = [ln for ln in r["stdout"].splitlines() if ln.startswith("{")]
            if not last:
                return {"status": "fail", "seconds": r["seconds"],
                        "error": f"worker exit {r['returncode']}: {_first_line(r['stderr'][-2000:])}"}
            res = json.loads(last[-1])
            ok = res.pop("ok")
            if ok is None:  # nothing to compare with: the oracle's verdict alone
                return {"status": "skip", "seconds": r["seconds"], **res}
            if stage == "tflm" and res.get("refused"):
                why = _tflm_reason(r["stdout"] + "\n" + r["stderr"])
                if why:
                    res["error"] = f"TFLM refuses: {why}"
            return {"status": "ok" if ok else "fail", "seconds": r["seconds"], **res}
        # ONNX models in ONNX's layout, so the reference compares with ONNX Runtime's.
        layout = ["--onnx-layout"] if model.suffix.lower() == ".onnx" else []
        if stage == "run":
            cmd = self.cli("run", str(model), "--random-seed", seed, "--output",
                           str(work / "reference.npz"), *layout)
        elif stage == "compile":
            cmd = self.cli("compile", str(model), "--target", a.compile_target, "-o",
                           str(work / "c_src"), *layout)
        elif stage == "c":
            cmd = self.cli("run", str(model), "--backend", "c", "--random-seed", seed,
                           "--output", str(work / "c.npz"), *layout)
        elif stage == "qemu":
            cmd = self.cli("run", str(model), "--backend", a.qemu_backend, "--random-seed", seed,
                           "--output", str(work / "qemu.npz"), "--json", *layout)
        else:
            raise ValueError(stage)
        r = _run(cmd, timeout, self.env)
        bad = _process_failure(r, timeout)
        if bad:
            return {"status": "fail", "error": bad, "seconds": r["seconds"]}
        if r["returncode"] != 0:
            return {"status": "fail", "error": _cli_error(r), "exit": r["returncode"],
                    "seconds": r["seconds"]}
        out = {"status": "ok", "seconds": r["seconds"]}
        if stage in ("c", "qemu"):
            out.update(self._against_reference(work / f"{stage}.npz", work / "reference.npz"))
            if stage == "qemu":
                try:
                    j = json.loads(r["stdout"])
                    out["instructions"] = j.get("instructions")
                    out["text_bytes"] = j.get("text")
                except (ValueError, TypeError):
                    pass
        return out

    @staticmethod
    def _against_reference(got_path: Path, ref_path: Path) -> dict:
        import numpy as np

        if not ref_path.exists():
            return {"status": "fail", "error": "ran, but no reference outputs to compare"}
        with np.load(got_path) as g, np.load(ref_path) as w:
            got = [g[f"output_{i}"] for i in range(len(g.files))]
            want = [w[f"output_{i}"] for i in range(len(w.files))]
        ok, what = _compare_all(got, want, 1e-5)
        if ok:
            return {"detail": what}
        return {"status": "fail", "error": f"differs from reference: {what}"}


# -- causes and reporting ------------------------------------------------------------------
_CAUSES = [
    (r"op (\S+) \(node .*\) is not supported by picojoule's reference interpreter",
     lambda m: f"missing op {m[1]} (reference)"),
    (r"^C backend(?: \(\w+\))?: no C kernel for (\S+) (\S+ -> \S+)", lambda m: f"C backend: no kernel {m[1]} ({m[2]})"),
    (r"^C backend: (\S+) \(node .*?\): (.*) is not supported", lambda m: f"C backend: {m[1]}: {_norm(m[2])}"),
    (r"^C backend: unsupported op\(s\): (.*)", lambda m: f"C backend: unsupported op(s) {m[1]}"),
    (r"^C backend: (.*)", lambda m: f"C backend: {_norm(m[1])}"),
    (r"^ONNX op (\S+) .*is not supported", lambda m: f"missing ONNX op {m[1]}"),
    (r"ONNX opset (\d+)", lambda m: "ONNX opset < 13"),
    (r"^ONNX (\S+) \(node .*?\): (.*) is not supported", lambda m: f"ONNX {m[1]}: {_norm(m[2])}"),
    (r"^(CUSTOM:\S+) \(node .*?\) is a compiled", lambda m: f"NPU op {m[1]}"),
    (r"^(\S+) \(node .*?\): (.*) is not supported", lambda m: f"{m[1]}: {_norm(m[2])}"),
    (r"^TFLM refuses: (.*)", lambda m: "TFLM refuses: " + re.sub(r"\b\d+\b", "N", m[1])[:100]),
    (r"^differs from (\S+):.*?(\d+)/\d+ elements differ", lambda m: f"differs from {m[1]} (integer)"),
    (r"^differs from (\S+):.*max abs err", lambda m: f"differs from {m[1]} (float > 1e-5)"),
    (r"^differs from (\S+):", lambda m: f"differs from {m[1]}"),
    (r"^timeout", lambda m: "timeout"),
    (r"^crashed \((\w+)\)", lambda m: f"crashed ({m[1]})"),
    (r"internal error \((\w+): (.*)\)", lambda m: f"internal error {m[1]}: {_norm(m[2])[:80]}"),
]


def _norm(text: str) -> str:
    """Drop names and numbers so the same cause groups together."""
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r"\"[^\"]*\"", "'…'", text)
    text = re.sub(r"(?<![\w.])/\S+", "PATH", text)
    return re.sub(r"\b\d+\b", "N", text).strip()


def cause(error: str) -> str:
    for pat, fn in _CAUSES:
        m = re.search(pat, error)
        if m:
            return fn(m)
    return _norm(error)[:100]


def _cell(s: dict, width: int) -> str:
    status = s.get("status")
    if status == "ok":
        det = s.get("detail", "")
        return "ok" if det in ("", "identical") or det.startswith("identical") else "ok~"
    if status == "not run":
        return "-"
    if status == "skip":
        return "skip (oracle runs it)" if s.get("refused") is False else "skip"
    err = s.get("error", "fail")
    return (err if len(err) <= width else err[:width - 1] + "…")


def _ops_summary(counts: dict | None, limit: int = 6) -> str:
    if not counts:
        return "?"
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = " ".join(f"{k}x{v}" if v > 1 else k for k, v in items[:limit])
    return text + (f" +{len(items) - limit}" if len(items) > limit else "")


def format_table(records: list[dict], width: int = 60, root: Path | None = None) -> str:
    rows = []
    for r in records:
        name = r["model"]
        if root is not None:
            try:
                name = str(Path(r["model"]).resolve().relative_to(root))
            except ValueError:
                pass
        rows.append([name, r.get("precision", "?"), _ops_summary(r.get("op_counts"))]
                    + [_cell(r["stages"].get(s, {}), width) for s in STAGES])
    head = ["model", "kind", "ops"] + list(STAGES)
    lines = []
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    widths = [min(w, 48) if i in (0, 2) else w for i, w in enumerate(widths)]

    def fmt(row):
        cells = []
        for i, (x, w) in enumerate(zip(row, widths)):
            x = str(x)
            if len(x) > w:
                x = x[:w - 1] + "…"
            cells.append(x.ljust(w))
        return " | ".join(cells).rstrip()

    lines.append(fmt(head))
    lines.append("-+-".join("-" * w for w in widths))
    lines.extend(fmt(r) for r in rows)
    return "\n".join(lines)


def group_failures(records: list[dict]) -> dict:
    """{stage: [(cause, count, [model names])]} for every stage that failed somewhere."""
    out = {}
    for s in STAGES:
        groups: dict[str, list[str]] = collections.defaultdict(list)
        for r in records:
            st = r["stages"].get(s, {})
            if st.get("status") == "fail":
                groups[cause(st.get("error", ""))].append(r["name"])
        if groups:
            out[s] = sorted(((c, len(ms), ms) for c, ms in groups.items()), key=lambda t: -t[1])
    return out


def format_summary(records: list[dict]) -> str:
    lines = []
    counts = {s: collections.Counter(r["stages"].get(s, {}).get("status", "-") for r in records)
              for s in STAGES}
    lines.append(f"{len(records)} models. Per stage (ok / fail / skip / not run):")
    for s in STAGES:
        c = counts[s]
        lines.append(f"  {s:8s} {c.get('ok', 0):3d} ok  {c.get('fail', 0):3d} fail  "
                     f"{c.get('skip', 0):3d} skip  {c.get('not run', 0):3d} not run")
    lines.append("")
    lines.append("Failures by cause (stage: count x cause: models):")
    for s, groups in group_failures(records).items():
        lines.append(f"[{s}]")
        for c, n, ms in groups:
            shown = ", ".join(ms[:6]) + (f", … (+{len(ms) - 6})" if len(ms) > 6 else "")
            lines.append(f"  {n:3d} x {c}: {shown}")
    lacking = collections.Counter()
    for r in records:
        err = r["stages"].get("compile", {}).get("error", "")
        m = re.match(r"C backend: unsupported op\(s\): (.*)", err)
        if m:
            for op in m[1].split(","):
                lacking[op.strip()] += 1
        elif "no C kernel" in err:
            for op, dts in re.findall(r"([A-Z][A-Z0-9_:]+(?:-[\w-]+)?) \(?([a-z0-9]+ -> [a-z0-9]+)", err):
                lacking[f"{op} ({dts})"] += 1
    if lacking:
        lines.append("")
        lines.append("C kernels named as missing by 'compile' (models):")
        lines.extend(f"  {n:3d} x {k}" for k, n in lacking.most_common())
    lines.append("")
    lines.append("Legend: ok = passed (c/qemu/tflm: outputs identical); ok~ = equal within "
                 "1e-5 relative (float) but not bit-identical; skip = an earlier stage failed; "
                 "- = not run.")
    return "\n".join(lines)


def format_errors(records: list[dict]) -> str:
    """Every failed stage's full first error line, model by model."""
    lines = ["Errors in full:"]
    for r in records:
        errs = [(s, r["stages"][s]["error"]) for s in STAGES
                if r["stages"].get(s, {}).get("status") == "fail"]
        if errs:
            lines.append(f"{r['name']}:")
            lines.extend(f"  {s}: {e}" for s, e in errs)
    return "\n".join(lines)


def find_models(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found.extend(sorted(q for q in path.rglob("*")
                                if q.is_file() and q.suffix.lower() in MODEL_SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"error: {p}: no such file or folder")
    seen, unique = set(), []
    for f in found:
        k = f.resolve()
        if k not in seen:
            seen.add(k)
            unique.append(f)
    return unique


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("paths", nargs="+", help="Model files or folders (searched recursively).")
    ap.add_argument("--json", metavar="OUT.json", help="Write every record as JSON.")
    ap.add_argument("--text", metavar="OUT.txt", help="Also write the table and summary here.")
    ap.add_argument("--timeout", type=float, default=300, help="Seconds per stage (default 300).")
    ap.add_argument("--model-timeout", type=float, default=1200,
                    help="Seconds for all stages of one model (default 1200).")
    ap.add_argument("--random-seed", type=int, default=0, help="Seed of the random inputs (0).")
    ap.add_argument("--compile-target", default="host", help="Target for 'compile' (host).")
    ap.add_argument("--qemu", action="store_true", help="Also run the firmware on QEMU.")
    ap.add_argument("--qemu-backend", default="qemu-m4",
                    choices=["qemu-m4", "qemu-m7", "qemu-m55"], help="Emulated core (qemu-m4).")
    ap.add_argument("--qemu-models", nargs="*", default=None, metavar="NAME",
                    help="With --qemu: only these model file names (default: all).")
    ap.add_argument("--tflm-arena-mb", type=int, default=64,
                    help="TFLM arena in MiB (at least 10x the file; default 64).")
    ap.add_argument("--src", metavar="DIR", help="Survey the picojoule source tree in DIR "
                    "(DIR/src goes first on PYTHONPATH) instead of the installed one.")
    ap.add_argument("--update", metavar="OLD.json",
                    help="Start from an earlier --json: its records are kept for the models not "
                         "surveyed now, and replaced for those that are (e.g. a --qemu re-run).")
    ap.add_argument("--jobs", "-j", type=int, default=1, help="Models surveyed at once (1).")
    ap.add_argument("--width", type=int, default=60, help="Error text width in the table.")
    ap.add_argument("--keep-work", action="store_true", help="Keep each model's temp folder.")
    ap.add_argument("--worker", choices=sorted(WORKER_STAGES), help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        return worker_main(args.worker, args.paths[0], args.work, args.random_seed,
                           args.tflm_arena_mb)

    models = find_models(args.paths)
    if not models:
        print("error: no .tflite or .onnx files found", file=sys.stderr)
        return 1
    if args.qemu_models is not None:
        args.qemu_models = set(args.qemu_models)
    sv = Surveyor(args)
    prov = sv.provenance()
    print(f"picojoule: {prov.get('picojoule')} (commit {prov.get('commit', '?')}"
          + (f", {prov['uncommitted_changes']} uncommitted changes" if prov.get("uncommitted_changes")
             else "") + ")", file=sys.stderr)
    records: list[dict | None] = [None] * len(models)
    t0 = time.monotonic()
    with cf.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futs = {pool.submit(sv.survey, m): i for i, m in enumerate(models)}
        for done, fut in enumerate(cf.as_completed(futs), 1):
            i = futs[fut]
            try:
                rec = fut.result()
            except Exception as exc:  # noqa: BLE001 - a bug here must not lose the others
                rec = {"model": str(models[i]), "name": models[i].name,
                       "stages": {"load": {"status": "fail", "error": f"survey error: {exc}"}}}
            records[i] = rec
            marks = " ".join(f"{s}:{rec['stages'].get(s, {}).get('status', '-')}" for s in STAGES)
            print(f"[{done}/{len(models)} {time.monotonic() - t0:6.0f} s] {rec['name']}: {marks}",
                  file=sys.stderr, flush=True)
    recs = [r for r in records if r is not None]
    if args.update:
        new = {str(Path(r["model"]).resolve()): r for r in recs}
        old_recs = json.loads(Path(args.update).read_text())["models"]
        merged = [new.pop(str(Path(r["model"]).resolve()), r) for r in old_recs]
        recs = merged + list(new.values())
        models = [Path(r["model"]) for r in recs]
    common = Path(os.path.commonpath([str(Path(m).resolve()) for m in models]))
    root = common if common.is_dir() else common.parent
    head = (f"picojoule {prov.get('commit', '?')}"
            + (f" + {prov['uncommitted_changes']} uncommitted changes" if prov.get("uncommitted_changes") else "")
            + f" ({prov.get('picojoule')}); seed {args.random_seed}; per-stage timeout {args.timeout:.0f} s"
            + (f"; qemu: {args.qemu_backend}" if args.qemu else ""))
    text = "\n\n".join([head, format_table(recs, args.width, root), format_summary(recs),
                        format_errors(recs)]) + "\n"
    print(text)
    if args.text:
        Path(args.text).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "picojoule": prov, "seed": args.random_seed, "timeout_s": args.timeout,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "stages": list(STAGES), "qemu_backend": args.qemu_backend,
            "models": recs,
            "failures_by_cause": {s: [{"cause": c, "count": n, "models": ms} for c, n, ms in g]
                                  for s, g in group_failures(recs).items()},
        }, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
