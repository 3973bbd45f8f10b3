"""Sweeps over models x targets x clock frequencies: a table and a Pareto plot.

Each job is one :func:`picojoule.estimate.estimate` call. Jobs run in parallel in local
processes (``concurrent.futures``) or, given ``ray_address`` ("auto", "ray://host:10001",
or "local" to start a private local instance), as Ray tasks on a cluster; a rich progress
bar follows them. With a dataset, each model's accuracy is measured once with picojoule's
reference interpreter (it does not depend on the target) and joins the rows.

The Pareto front is over (accuracy up, inferences per second up, average power down);
without a dataset, over the last two and per model.
"""

from __future__ import annotations

import io
import math
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from picojoule.errors import InputError
from picojoule.ir import Model
from picojoule.outputs import write_file
from picojoule.targets import Target, TargetError, load_target

def _job(model: Any, target: str, mhz: float | None, rate_hz: Any, battery: Any,
         options: dict[str, Any] | None = None) -> dict[str, Any]:
    """One estimate, reduced to a table row (runs in a worker process or a Ray task).
    ``options``: ``volts``, ``platform``, ``regulator`` for :func:`estimate`."""
    from picojoule.estimate import estimate

    r = estimate(model, target, mhz=mhz, rate_hz=rate_hz, battery=battery, **(options or {}))
    return {"model": r["model"], "target": r["target"], "core": r["core"], "mhz": r["mhz"],
            "volts": r["volts"], "regulator": r["regulator"], "platform": r["platform"],
            "latency_ms": r["latency_ms"], "inferences_per_s": r["rate_hz"],
            "max_inferences_per_s": r["inferences_per_s_max"],
            "energy_uj": r["energy_uj"], "active_power_mw": r["active_power_mw"],
            "avg_power_uw": r["avg_power_uw"], "battery_life_days": r["battery_life_days"],
            "method": r["method"], "warnings": len(r["warnings"])}


def _above(t: Target, mhzs: Sequence[float]) -> list[float]:
    """The clocks of ``mhzs`` above ``t``'s maximum."""
    return [float(f) for f in mhzs if float(f) > t.core.max_mhz * (1 + 1e-9)]


def _frequencies(t: Target, mhzs: Sequence[float] | str | None) -> list[float | None]:
    """The clocks to try on ``t``: the given ones it can run (those above its maximum are
    skipped, see :func:`skipped_clocks`; none left is an error), its documented points
    ("points"), or its maximum (None)."""
    if mhzs is None:
        return [None]
    if isinstance(mhzs, str):
        if mhzs != "points":
            raise InputError(f"mhzs: a list of MHz, 'points' or None, not {mhzs!r}")
        return list(t.core.points_mhz)
    bad = [f for f in mhzs if not float(f) > 0]
    if bad:
        raise InputError(f"sweep: clocks must be positive MHz, got {bad[0]:g}")
    over = _above(t, mhzs)
    if len(over) == len(mhzs):
        raise InputError(f"sweep: target {t.name} runs at most {t.core.max_mhz:g} MHz, below "
                         f"every clock asked for ({', '.join(f'{float(f):g}' for f in mhzs)} "
                         "MHz)")
    return [float(f) for f in mhzs if float(f) not in over]


def skipped_clocks(targets: Iterable[str], mhzs: Sequence[float] | str | None) -> list[str]:
    """One note per target that skips some, not all, of the given clocks (those above its
    maximum; a target that can run none of them is an error in :func:`sweep`)."""
    if mhzs is None or isinstance(mhzs, str):
        return []
    notes = []
    for target in targets:
        t = load_target(target)
        over = _above(t, mhzs)
        if over and len(over) < len(mhzs):
            notes.append(f"{target} skips {', '.join(f'{f:g}' for f in over)} MHz "
                         f"(it runs at most {t.core.max_mhz:g} MHz)")
    return notes


def accuracy(model: Model | str | Path, dataset: str | Path | Callable[[Model], float]
             ) -> float:
    """Top-1 accuracy of ``model`` on ``dataset``: an .npz with ``x`` (N, *input shape, in the
    input's dtype, or float32 to be quantized with the input's scale and zero point) and
    ``y`` (N,) labels, run with picojoule's reference interpreter; or a callable."""
    from picojoule.estimate import _load_model
    from picojoule.runtime.reference import Interpreter

    m = _load_model(model)
    if callable(dataset):
        return float(dataset(m))
    x, y = _dataset(dataset, m)
    inp = m.main.inputs[0]
    interp = Interpreter(m)
    hits = 0
    for xi, yi in zip(x, y):
        xi = np.asarray(xi).reshape(inp.shape)
        if inp.quant is not None and xi.dtype.kind == "f" and inp.dtype != "float32":
            info = np.iinfo(np.dtype(inp.dtype))
            xi = np.clip(np.round(xi / inp.quant.scale0) + inp.quant.zp0, info.min, info.max)
            xi = xi.astype(inp.dtype)
        out = interp.run([xi])[0]
        hits += int(np.argmax(out.reshape(-1)) == int(yi))
    return hits / max(len(y), 1)


def _dataset(path: str | Path, m: Model) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` from an .npz, checked against ``m``'s first input, or one clear error."""
    where = f"dataset {path}"
    try:
        data = np.load(str(path), allow_pickle=False)
    except OSError as exc:
        raise InputError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    except (ValueError, EOFError):
        raise InputError(f"{where}: not an .npz archive of arrays") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InputError(f"{where}: one array (.npy); give an .npz with arrays 'x' (inputs) "
                         "and 'y' (labels)")
    with data:
        if "x" not in data.files or "y" not in data.files:
            raise InputError(f"{where}: needs arrays 'x' (inputs) and 'y' (labels); it has "
                             f"{', '.join(data.files) or 'no arrays'}")
        try:
            x, y = data["x"], data["y"]
        except (OSError, ValueError, EOFError):
            raise InputError(f"{where}: its arrays 'x'/'y' cannot be read (damaged, or "
                             "object arrays)") from None
    inp = m.main.inputs[0]
    per = int(np.prod(inp.shape))
    if x.ndim == 0 or len(x) == 0:
        raise InputError(f"{where}: 'x' holds no samples")
    if y.ndim != 1 or len(y) != len(x):
        raise InputError(f"{where}: 'y' must be one label per sample: x has {len(x)} samples, "
                         f"y has shape {tuple(y.shape)}")
    if x[0].size != per:
        raise InputError(f"{where}: each sample has {x[0].size} values, the model's input "
                         f"{inp.name!r} {tuple(inp.shape)} needs {per}")
    if x.dtype.kind not in "iuf" or y.dtype.kind not in "iu":
        raise InputError(f"{where}: 'x' must be numbers and 'y' integer labels (got "
                         f"{x.dtype} and {y.dtype})")
    return x, y


def _rough(r: dict[str, Any]) -> bool:
    """A row whose figures come from the op-count fallback, not a fitted/published model."""
    return str(r.get("method", "")).startswith("fallback")


def pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mark rows no other row beats on every objective (``row["pareto"] = True``). With
    accuracies the front is over all rows (models doing the same task); without, per model
    (different models may do different tasks: only speed and power compare).

    Rows on the op-count fallback (no fitted latency model or no published active power:
    5 pJ per op is an accelerator-class figure, tens of times below what a microcontroller
    draws) are not ranked against rows with fitted figures: they get ``pareto = False`` and
    ``ranked = False``. When every row of a group is a fallback, they are ranked among
    themselves."""
    use_acc = any(r.get("accuracy") is not None for r in rows)
    groups = ([[r for r in rows if r["model"] == name] for name in {r["model"] for r in rows}]
              if not use_acc else [rows])
    for group in groups:
        fitted = [r for r in group if not _rough(r)]
        for r in group:
            r["ranked"] = bool(not fitted or not _rough(r))
            r["pareto"] = False
        _front([r for r in group if r["ranked"]], use_acc)
    return rows


def _front(rows: list[dict[str, Any]], use_acc: bool) -> list[dict[str, Any]]:

    def objs(r: dict[str, Any]) -> tuple[float, ...]:
        o = (r["inferences_per_s"], -r["avg_power_uw"])
        return ((r.get("accuracy") or 0.0,) + o) if use_acc else o

    vals = [objs(r) for r in rows]
    for i, r in enumerate(rows):
        a = vals[i]
        r["pareto"] = not any(all(b_ >= a_ for b_, a_ in zip(b, a)) and b != a
                              for j, b in enumerate(vals) if j != i)
    return rows


def sweep(models: Iterable[Model | str | Path], targets: Iterable[str],
          mhzs: Sequence[float] | str | None = None, dataset: Any = None, jobs: int = 2,
          ray_address: str | None = None, rate_hz: Any = None, battery: Any = None,
          progress: bool = True, plot: str | Path | None = None, volts: float | None = None,
          platform: str | None = None, regulator: str | None = None) -> list[dict[str, Any]]:
    """Estimate every model on every target at every clock; rows sorted by model, target,
    MHz, with the Pareto front marked. ``plot``: write the Pareto plot PNG there.

    ``volts``, ``platform`` and ``regulator`` apply to every job as in
    :func:`picojoule.estimate.estimate`; a target that cannot take one of them (no figure
    for that supply path or platform, a voltage out of range) is named in one error before
    any job starts. Each target sleeps in its default mode between inferences."""
    from picojoule.estimate import check_options

    models = list(models)
    targets = list(targets)
    options = {k: v for k, v in (("volts", volts), ("platform", platform),
                                 ("regulator", regulator)) if v is not None}
    specs = []
    for target in targets:
        t = load_target(target)
        clocks = _frequencies(t, mhzs)
        for mhz in clocks:
            try:
                check_options(t, mhz, volts, platform, regulator)
            except TargetError as exc:
                raise InputError(f"sweep: {exc}") from None
        for model in models:
            for mhz in clocks:
                specs.append((model if not isinstance(model, Path) else str(model), target,
                              mhz, rate_hz, battery, options))
    if not specs:
        raise InputError("sweep: no (model, target, MHz) combination to run")
    accs: dict[str, float | None] = {}
    if dataset is not None:
        from picojoule.estimate import _load_model, _model_name

        for model in models:
            accs[_model_name(_load_model(model))] = accuracy(model, dataset)
    rows = (_run_ray(specs, ray_address, jobs, progress) if ray_address
            else _run_local(specs, jobs, progress))
    for r in rows:
        r["accuracy"] = accs.get(r["model"]) if dataset is not None else None
    rows.sort(key=lambda r: (r["model"], r["target"], r["mhz"]))
    pareto(rows)
    if plot is not None:
        pareto_plot(rows, plot)
    return rows


def _progress(total: int, enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
        TimeElapsedColumn

    prog = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), disable=not enabled, transient=False)
    return prog


def _run_local(specs: list[tuple], jobs: int, progress: bool) -> list[dict[str, Any]]:
    picklable = all(not isinstance(s[0], Model) for s in specs)
    pool_cls = ProcessPoolExecutor if picklable and jobs > 1 else ThreadPoolExecutor
    rows = []
    with _progress(len(specs), progress) as prog, pool_cls(max_workers=max(jobs, 1)) as pool:
        task = prog.add_task("sweep", total=len(specs))
        futures = [pool.submit(_job, *s) for s in specs]
        for f in as_completed(futures):
            rows.append(f.result())
            prog.advance(task)
    return rows


def ray_available() -> str | None:
    """Why the Ray path cannot run (None when ``import ray`` works)."""
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        return f"ray is not installed ({exc}); pip install ray"
    return None


def _run_ray(specs: list[tuple], address: str, jobs: int, progress: bool
             ) -> list[dict[str, Any]]:
    why = ray_available()
    if why:
        raise InputError(f"sweep --ray: {why}")
    import ray

    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=max(jobs, 1), include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(_job)
        pending = [remote.remote(*s) for s in specs]
        rows = []
        with _progress(len(specs), progress) as prog:
            task = prog.add_task("sweep", total=len(specs))
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                rows.extend(ray.get(done))
                prog.advance(task, len(done))
        return rows
    finally:
        if started and address == "local":
            ray.shutdown()


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table (Pareto rows marked with *, unranked fallback rows with ?)."""
    acc = any(r.get("accuracy") is not None for r in rows)
    plat = any(r.get("platform") not in (None, "bare-metal") for r in rows)
    head = ["", "model", "target", "MHz", "V", "supply", *(["platform"] if plat else []),
            "ms", "inf/s", "uJ/inf", "avg mW", "days", *(["acc"] if acc else []), "method"]
    lines = []
    for r in rows:
        days = r.get("battery_life_days")
        mark = "*" if r.get("pareto") else "?" if r.get("ranked") is False else ""
        lines.append([mark, r["model"], r["target"], f"{r['mhz']:g}",
                      "-" if r.get("volts") is None else f"{r['volts']:g}",
                      r.get("regulator") or "-",
                      *([r.get("platform") or "bare-metal"] if plat else []),
                      f"{r['latency_ms']:.2f}", f"{r['inferences_per_s']:.2f}",
                      f"{r['energy_uj']:.1f}", f"{r['avg_power_uw'] / 1e3:.3f}",
                      "-" if days is None else f"{days:.1f}",
                      *([f"{r['accuracy']:.3f}" if r.get("accuracy") is not None else "-"]
                        if acc else []),
                      "fallback" if _rough(r) else "partly" if "partly" in
                      str(r.get("method", "")) else "fitted"])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    text = {0, 1, 2} | {i for i, h in enumerate(head) if h in ("supply", "platform", "method")}
    fmt = lambda row: "  ".join(str(x).ljust(w) if i in text else str(x).rjust(w)  # noqa: E731
                                for i, (x, w) in enumerate(zip(row, widths))).rstrip()
    out = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines]
    if any(r.get("ranked") is False for r in rows):
        out.append("? fallback figures (op count x 5 pJ/op: no published active power or no "
                   "fitted latency model for the target): not ranked against fitted ones")
    return "\n".join(out)


def pareto_plot(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """PNG: inferences/s against average power (log-log), colour = accuracy when known,
    Pareto-front points outlined and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    power = np.array([r["avg_power_uw"] / 1e3 for r in rows])
    ips = np.array([r["inferences_per_s"] for r in rows])
    accs = [r.get("accuracy") for r in rows]
    if any(a is not None for a in accs):
        sc = ax.scatter(power, ips, c=[a if a is not None else math.nan for a in accs],
                        cmap="viridis", s=40, zorder=2)
        fig.colorbar(sc, ax=ax, label="accuracy")
    else:
        models = sorted({r["model"] for r in rows})
        for i, m in enumerate(models):
            sel = [k for k, r in enumerate(rows) if r["model"] == m and not _rough(r)]
            rough = [k for k, r in enumerate(rows) if r["model"] == m and _rough(r)]
            mk, colour = "os^Dv<>p*h"[i % 10], f"C{i % 10}"
            if sel:
                ax.scatter(power[sel], ips[sel], s=40, label=m, zorder=2, marker=mk,
                           color=colour)
            if rough:
                ax.scatter(power[rough], ips[rough], s=40, zorder=2, marker=mk,
                           facecolors="none", edgecolors=colour,
                           label=f"{m} (fallback 5 pJ/op, not ranked)")
        ax.legend(fontsize=8, loc="best")
    front = [k for k, r in enumerate(rows) if r.get("pareto")]
    ax.scatter(power[front], ips[front], s=120, facecolors="none", edgecolors="red",
               linewidths=1.5, zorder=3, label="Pareto front")
    for k in front:
        r = rows[k]
        ax.annotate(f"{r['model']}@{r['target']} {r['mhz']:g} MHz", (power[k], ips[k]),
                    fontsize=6, xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("average power (mW)")
    ax.set_ylabel("inferences per second")
    ax.set_title("picojoule sweep: speed vs power"
                 + (" (accuracy in colour)" if any(a is not None for a in accs) else ""))
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, png.getvalue())
    return path


def _cpu_count() -> int:
    return max(1, (os.cpu_count() or 1))
