"""The ``picojoule`` command line.

Every failure picojoule can explain ends as one line on stderr and a non-zero exit:
1 for a problem with the model or the inputs, 2 for a usage error, 3 for an internal
error (set ``PICOJOULE_DEBUG=1`` to see its traceback).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

# The kernels multiply small matrices: BLAS threads only add contention. Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click  # noqa: E402
import numpy as np  # noqa: E402

from picojoule.errors import InputError, PicojouleError

EXIT_USER, EXIT_USAGE, EXIT_INTERNAL = 1, 2, 3
BACKENDS = ["reference", "c", "qemu-m4", "qemu-m7", "qemu-m55"]


def _console():
    from rich.console import Console

    # Piped output (CI logs, files) gets a readable width instead of rich's 80 columns.
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "120"))
    return Console(highlight=False, width=width)


def _load(path: str):
    from picojoule.importers import load_model
    from picojoule.passes.shapes import InputShapeError

    ctx = click.get_current_context(silent=True)
    shapes = ctx.meta.get(_INPUT_SHAPES) if ctx is not None else None
    nhwc = ctx.meta.get(_NHWC, True) if ctx is not None else True
    try:
        model = load_model(path, nhwc=nhwc, input_shapes=shapes)
    except InputShapeError as exc:  # a usage error: the option names no such input ...
        raise click.BadParameter(str(exc), param_hint="'--input-shape'") from None
    model.verify()
    return model


# -- --input-shape --------------------------------------------------------------------------
_INPUT_SHAPES = "picojoule.input_shapes"


def _parse_input_shapes(values: Sequence[str]) -> dict[str, tuple[int, ...]] | tuple | None:
    """``NAME=1,49,10,1`` per input (or one bare ``1,49,10,1`` for a single-input model)."""
    named: dict[str, tuple[int, ...]] = {}
    bare: list[tuple[int, ...]] = []
    for text in values:
        name, _, dims = text.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not shape or min(shape) < 1:
            raise click.BadParameter(f"{text!r}: give NAME=D1,D2,... with positive sizes "
                                     f"(e.g. input_1=1,49,10,1), or D1,D2,... for a model "
                                     f"with one input")
        if not name:
            bare.append(shape)
        elif name in named:
            raise click.BadParameter(f"input {name!r} is given twice")
        else:
            named[name] = shape
    if bare and (named or len(bare) > 1):
        raise click.BadParameter("a shape without NAME= is only for a model with one input; "
                                 "name each input (NAME=D1,D2,...)")
    return bare[0] if bare else (named or None)


def _store_input_shapes(ctx: click.Context, param: click.Parameter, values: Sequence[str]):
    ctx.meta[_INPUT_SHAPES] = _parse_input_shapes(values)


#: The option every command that loads a model takes; ``_load`` applies it.
_input_shape_option = click.option(
    "--input-shape", multiple=True, metavar="NAME=D1,D2,...", expose_value=False,
    callback=_store_input_shapes,
    help="Sizes for an input's dynamic (-1) dimensions, e.g. input_1=1,49,10,1 (repeatable; "
         "D1,D2,... alone for a single-input model). Dynamic sizes not given are 1.")


# -- --nhwc / --onnx-layout ------------------------------------------------------------------
_NHWC = "picojoule.nhwc"


def _store_layout(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    ctx.meta[_NHWC] = value


#: One I/O layout for every command that loads a model (``_load`` applies it): an ONNX
#: model's 4-D NCHW inputs and outputs become NHWC unless --onnx-layout keeps them.
_layout_option = click.option(
    "--nhwc/--onnx-layout", default=True, show_default=True, expose_value=False,
    callback=_store_layout,
    help="ONNX models: 4-D inputs and outputs in NHWC, as a camera or feature buffer holds "
         "them, with no TRANSPOSE at the edges (the default); --onnx-layout keeps NCHW.")


def _dump_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="picojoule")
@click.option("--custom-ops", "custom_ops", multiple=True, type=click.Path(),
              envvar="PICOJOULE_CUSTOM_OPS", metavar="FILE",
              help="A Python file (or folder of them) registering custom ops with "
                   "picojoule.custom.custom_op; repeatable. Packages can publish ops under "
                   "the 'picojoule.ops' entry point group instead.")
def cli(custom_ops: tuple[str, ...]) -> None:
    """picojoule: take a trained network the last mile onto a microcontroller."""
    from picojoule import custom

    custom.load_entry_points()
    for path in custom_ops:
        custom.load_custom_ops(path)


# -- inspect ------------------------------------------------------------------------------
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_input_shape_option
@_layout_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def inspect(model: str, as_json: bool) -> None:
    """Inputs, outputs, op counts, parameters, MACs per op and tensor sizes of MODEL."""
    from picojoule.analysis.summary import summarize

    m = _load(model)
    info = summarize(m)
    info["shapes"] = m.meta.get("shapes", {})
    if as_json:
        _dump_json(info)
        return
    _print_summary(info)
    _print_shapes(info["shapes"])


def _print_shapes(report: dict) -> None:
    """How dynamic input sizes were resolved, what shape arithmetic was folded, and notes."""
    con = _console()
    for r in report.get("inputs", []):
        if not r["dynamic_axes"]:
            continue
        how = ("given by --input-shape" if r["source"] == "given" else
               f"by default; --input-shape {r['name']}=... to choose")
        con.print(f"input {_short(r['name'])!r}: dynamic dimension(s) "
                  f"{', '.join(str(a) for a in r['dynamic_axes'])} of "
                  f"{_fmt_shape(r['signature'])} resolved to {_fmt_shape(r['shape'])} ({how})",
                  markup=False)
    folded = report.get("folded") or {}
    if folded:
        ops = ", ".join(f"{k} x{v}" for k, v in sorted(folded.items()))
        con.print(f"shape arithmetic folded into constants: {ops}; {report['nodes_before']} "
                  f"-> {report['nodes_after']} nodes", markup=False)
    for note in report.get("notes", []):
        con.print(f"note: {note}", markup=False)


def _fmt_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _fmt_quant(q: dict | None) -> str:
    if q is None:
        return "-"
    if q.get("per_channel"):
        return f"per-channel x{q['channels']} (axis {q['axis']})"
    return f"scale {q['scale']:.6g}, zp {q['zero_point']}"


def _print_summary(info: dict) -> None:
    from rich.table import Table

    con = _console()
    con.print(f"[bold]{info['model']}[/bold]")
    io = Table(title="Inputs and outputs", title_justify="left")
    for col in ("", "name", "dtype", "shape", "quantization"):
        io.add_column(col)
    for kind in ("inputs", "outputs"):
        for i, v in enumerate(info[kind]):
            io.add_row(f"{kind[:-1]} {i}", v["name"], v["dtype"], _fmt_shape(v["shape"]),
                       _fmt_quant(v["quantization"]))
    con.print(io)
    ops = Table(title="Ops", title_justify="left")
    for col, just in (("#", "right"), ("op", "left"), ("output", "left"), ("MACs", "right")):
        ops.add_column(col, justify=just)
    for o in info["ops"]:
        out = ", ".join(f"{x['dtype']}{_fmt_shape(x['shape'])}" for x in o["outputs"])
        ops.add_row(str(o["index"]), o["op"], out, f"{o['macs']:,}")
    con.print(ops)
    counts = ", ".join(f"{k} x{v}" for k, v in sorted(info["op_counts"].items()))
    t = info["tensors"]
    con.print(f"op counts: {counts}")
    con.print(f"parameters: {info['parameters']['count']:,} ({info['parameters']['bytes']:,} bytes)")
    con.print(f"MACs: {info['macs']:,}")
    largest = t["largest_activation"]
    con.print(f"tensors: {t['count']} ({t['constant_count']} constant); activations "
              f"{t['activation_bytes']:,} bytes in all"
              + (f", largest {_short(largest['name'])!r} {largest['bytes']:,} bytes" if largest else ""))


def _short(name: str, width: int = 48) -> str:
    """Converter-made tensor names run to hundreds of characters; keep their tail."""
    return name if len(name) <= width else "..." + name[-(width - 3):]


# -- run ------------------------------------------------------------------------------------
def _read_input(path: str) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        raise InputError(f"{path}: is an .npz archive; pass one .npy file per model input")
    return arr


def _check_layout(g: Any, feeds: Sequence[np.ndarray]) -> None:
    """One line for an ONNX-layout (channels-first) array given for an input picojoule
    made channels-last: say so, and how to keep ONNX's layout instead."""
    for k, (v, x) in enumerate(zip(g.inputs, feeds)):
        shape = tuple(v.shape)
        if v.meta.get("layout") in ("NHWC", "NLC") and x.shape != shape and \
                x.shape == (shape[0], shape[-1], *shape[1:-1]):
            raise InputError(
                f"input {k} ({v.name!r}): got {list(x.shape)}, ONNX's channels-first layout; "
                f"picojoule loads ONNX models channels-last ({list(shape)}): move the "
                f"channels last, or pass --onnx-layout")


def _write_npz_atomically(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write the arrays to ``path`` whole or not at all."""
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _write_atomically(path, buf.getvalue())


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_input_shape_option
@_layout_option
@click.option("--input", "inputs", multiple=True, metavar="X.npy",
              help="An input array, once per model input in order (default: seeded random).")
@click.option("--random-seed", type=click.IntRange(0, 2**32 - 1), default=0,
              show_default=True, help="Seed for random inputs when --input is not given.")
@click.option("--output", metavar="OUT.npz", help="Save outputs as output_0, output_1, ...")
@click.option("--backend", type=click.Choice(BACKENDS), default="reference",
              show_default=True,
              help="What executes the model: the numpy reference, the generated C on this "
                   "host, or the generated firmware on an emulated Cortex-M (QEMU).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Run N times and report the median host wall-clock milliseconds per "
                   "inference.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def run(model: str, inputs: tuple[str, ...], random_seed: int, output: str | None,
        backend: str, repeat: int, as_json: bool) -> None:
    """Run MODEL on given or seeded random inputs."""
    from picojoule.runtime import Interpreter, random_inputs

    _check_outputs(output)
    m = _load(model)
    interp = Interpreter(m)  # validates inputs and ops for every backend
    g = m.main
    if inputs:
        feeds = [_read_input(p) for p in inputs]
        _check_layout(g, feeds)
    else:
        feeds = random_inputs(g, random_seed)
    interp.check_inputs(feeds)
    device: dict[str, Any] = {}
    if backend == "reference":
        execute = interp.run
    elif backend == "c":
        from picojoule.backends import host

        execute = host.build(m).run
    else:
        from picojoule.backends import qemu

        missing = qemu.toolchain_missing()
        if missing:
            raise PicojouleError(f"backend {backend}: {missing}")
        firmware = qemu.build(m, backend)

        def execute(x):
            outs_, instructions = firmware.run(x)
            device["instructions"] = instructions
            return outs_

        device.update(firmware.sizes, model_part_sizes=firmware.model_sizes)
    times = []
    outs: list[np.ndarray] = []
    for k in range(repeat):
        t0 = time.perf_counter()
        result = execute(feeds)
        times.append((time.perf_counter() - t0) * 1e3)
        if k == 0:
            outs = [np.array(o, copy=True) for o in result]
    named = {f"output_{i}": o for i, o in enumerate(outs)}
    if output:
        _write_npz_atomically(output, named)
    # Every backend here is timed by the host's clock; the emulated core's own figure is its
    # instruction count (`estimate` turns counts into device latency).
    host_wall = {"median": statistics.median(times), "min": min(times), "repeat": repeat}
    if as_json:
        _dump_json({
            **({"instructions": device.pop("instructions")} if device else {}),
            "model": model,
            "backend": backend,
            "inputs": "files" if inputs else {"random_seed": random_seed},
            "outputs": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in named.items()},
            "host_wall_ms": host_wall,
            **device,
        })
        return
    _print_outputs(model, backend, named, g)
    con = _console()
    if device:
        con.print(f"emulated: {device['instructions']:,} instructions per inference; "
                  f"firmware text {device['text']:,} B, data {device['data']:,} B, "
                  f"bss {device['bss']:,} B")
    what = "host wall time, emulator included" if device else "host wall time"
    if repeat > 1:
        con.print(f"{what}: median {host_wall['median']:.3f} ms per inference over {repeat} "
                  f"runs (min {host_wall['min']:.3f} ms)")
    else:
        con.print(f"{what}: {host_wall['median']:.3f} ms (one run; use --repeat N for a "
                  f"median)")
    if output:
        con.print(f"outputs written to {output}")


def _print_outputs(model: str, backend: str, named: dict[str, np.ndarray], g: Any) -> None:
    from rich.table import Table

    con = _console()
    table = Table(title=f"{model} ({backend})", title_justify="left")
    for col in ("output", "dtype", "shape", "values", "dequantized argmax"):
        table.add_column(col)
    for (name, arr), v in zip(named.items(), g.outputs):
        flat = arr.reshape(-1)
        vals = np.array2string(flat[:8], separator=" ", threshold=8)
        if flat.size > 8:
            vals = vals[:-1] + " ...]"
        arg = str(int(np.argmax(flat))) if flat.size and arr.dtype != bool else "-"
        table.add_row(name, str(arr.dtype), _fmt_shape(arr.shape), vals, arg)
    con.print(table)


# -- ops ------------------------------------------------------------------------------------
@cli.command()
@click.option("--markdown", is_flag=True, help="Print the coverage table as Markdown (docs/ops.md).")
def ops(markdown: bool) -> None:
    """The ops picojoule runs: reference and C dtypes per instruction set, and the oracle."""
    from picojoule.docs import HEADERS, ops_markdown, ops_rows

    if markdown:
        click.echo(ops_markdown(), nl=False)
        return
    from rich.table import Table

    table = Table()
    for col in HEADERS:
        table.add_column(col)
    for row in ops_rows():
        table.add_row(*row)
    _console().print(table)


# -- compile ------------------------------------------------------------------------------
def _codegen_target(name: str) -> str:
    """A catalogue target (stm32l4r5) or a core name (cortex-m4, host) -> codegen target."""
    from picojoule.backends.c.generator import TARGETS
    from picojoule.targets import UnknownTargetError

    key = name.lower()
    if key in TARGETS or f"cortex-{key}" in TARGETS:
        return key
    try:
        core = _target(name).core
    except UnknownTargetError:
        raise PicojouleError(f"unknown target {name!r}: give a catalogue target (see 'picojoule "
                             f"targets') or one of {', '.join(TARGETS)}") from None
    cand = core.name.lower().replace("+", "plus")
    return cand if cand in TARGETS else "host"  # other ISAs get portable C


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_input_shape_option
@_layout_option
@click.option("--target", "-t", "target_name", required=True, metavar="T",
              help="A catalogue target (stm32l4r5 ...), a core (cortex-m4 ...) or host.")
@click.option("-o", "--output", "out_dir", required=True, metavar="DIR",
              help="Folder for the generated library (created).")
@click.option("--name", default=None, help="C identifier prefix (default: the model's file name).")
@click.option("--dsp/--no-dsp", default=None, help="Force SMLAD kernels on or off.")
@click.option("--optimize", type=click.Choice(["speed", "size"]), default="speed",
              show_default=True, help="size: int8 weights in flash on DSP cores (about half "
              "the conv weight flash, about a quarter more instructions).")
def compile(model: str, target_name: str, out_dir: str, name: str | None,
            dsp: bool | None, optimize: str) -> None:
    """Generate a dependency-free C99 library for MODEL into DIR."""
    from picojoule.backends.c import compile_model

    m = _load(model)
    gen = compile_model(m, out_dir, target=_codegen_target(target_name), name=name, dsp=dsp,
                        optimize=optimize)
    con = _console()
    con.print(f"wrote {len(gen.files)} files to {out_dir}: {', '.join(sorted(gen.files))}")
    con.print(f"arena {gen.arena_size:,} B (static), constants {gen.const_bytes:,} B (flash)")


# -- quantize / export ---------------------------------------------------------------------
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_input_shape_option
@_layout_option
@click.option("--calibration", "-c", required=True, metavar="DATA",
              help=".npy/.npz arrays or a folder of them; the first axis indexes samples.")
@click.option("-o", "--output", required=True, metavar="OUT.tflite", help="The quantized model.")
@click.option("--scheme", type=click.Choice(["int8", "int16x8", "int4-weights", "mixed"]),
              default="int8", show_default=True,
              help="Activation/weight precision; mixed: int8 with int16x8 layers where int8 "
                   "loses accuracy (transformers' layer norms, attention scores).")
@click.option("--int16-layers", default=None, metavar="auto|all|NAME,...",
              help="With --scheme mixed: which layers get int16 activations: auto (default; "
                   "chosen from each layer's int8 SQNR), all, or node names from the report.")
@click.option("--method", type=click.Choice(["minmax", "percentile", "mse"]), default="minmax",
              show_default=True, help="How activation ranges are chosen from the calibration.")
@click.option("--int-io", is_flag=True, help="Integer inputs/outputs (no QUANTIZE/DEQUANTIZE edges).")
@click.option("--report-json", metavar="R.json", help="Also write the per-layer report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or per-layer table.")
def quantize(model: str, calibration: str, output: str, scheme: str, int16_layers: str | None,
             method: str, int_io: bool, report_json: str | None, quiet: bool) -> None:
    """Post-training quantization of a float MODEL, with a per-layer SQNR report."""
    from picojoule.exporters.tflite import dumps
    from picojoule.quantize import load_calibration, quantize_model

    if int16_layers is not None and scheme != "mixed":
        raise click.UsageError("--int16-layers needs --scheme mixed")
    layers: Any = int16_layers
    if int16_layers not in (None, "auto", "all"):
        layers = [n.strip() for n in int16_layers.split(",") if n.strip()]
    _check_outputs(output, report_json)
    m = _load(model)
    samples = load_calibration(calibration, m)
    qm, report = quantize_model(m, samples, scheme=scheme, method=method, int_io=int_io,
                                progress=False if quiet else None, int16_layers=layers)
    data = dumps(qm)
    _write_atomically(output, data)
    if report_json:
        _write_atomically(report_json, report.to_json().encode())
    if not quiet:
        click.echo(report.format_table())
    worst = report.worst(1)
    tail = f"; lowest SQNR {worst[0].sqnr_db:.1f} dB at {worst[0].op} {worst[0].output!r}" if worst else ""
    if scheme == "mixed":
        wide = sum(1 for r in report.layers if r.dtype == "int16")
        tail += f"; {wide} of {len(report.layers)} layers int16"
    click.echo(f"wrote {output} ({scheme}, {method}, {report.samples} calibration samples){tail}")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_input_shape_option
@_layout_option
@click.option("-o", "--output", required=True, metavar="OUT.tflite", help="Where to write it.")
def export(model: str, output: str) -> None:
    """Write MODEL (any format picojoule reads) as a .tflite file."""
    from picojoule.exporters.tflite import dumps

    _check_outputs(output)
    _write_atomically(output, dumps(_load(model)))
    click.echo(f"wrote {output}")


# -- validate ------------------------------------------------------------------------------
@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_input_shape_option
@_layout_option
@click.option("--target", "-t", "target_name", default="qemu-m4", show_default=True,
              metavar="T", help="Emulated core: qemu-m4, qemu-m7, qemu-m55 (or a catalogue target).")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1),
              help="How many seeded random inputs.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def validate(model: str, target_name: str, seeds: int, as_json: bool) -> None:
    """Run the reference, host C and emulated firmware on the same inputs and compare.

    Integers must be identical, floats within 1e-5 of the output's largest magnitude; state
    is reset before the first seed and carried across seeds in every backend. Exits with
    status 1 if any backend disagrees with the reference interpreter.
    """
    from picojoule.backends import qemu
    from picojoule.backends.validate import validate as run_validation

    _load(model)  # a bad model fails here, before any build
    backend = _qemu_backend(target_name)
    missing = qemu.toolchain_missing()
    if missing:
        raise PicojouleError(f"validate: {missing}")
    report = {"model": model, **run_validation(lambda: _load(model), backend, seeds)}
    ok = report["agree"]
    if as_json:
        _dump_json(report)
    else:
        _print_validation(report)
    if not ok:
        click.get_current_context().exit(EXIT_USER)


def _fmt_diff(x: float | None) -> str:
    return "n/a" if x is None else "0" if x == 0 else f"{x:.3g}"


def _print_validation(r: dict) -> None:
    from rich.table import Table

    con = _console()
    tol = r["float_tolerance"]["relative"]
    table = Table(title=f"reference vs each backend (floats: max |diff| <= {tol:g} x max "
                        f"|reference|; integers: identical)", title_justify="left")
    for col, just in (("seed", "right"), ("output", "right"), ("dtype", "left"),
                      ("backend", "left"), ("result", "left"), ("elements differing", "right"),
                      ("max |diff|", "right"), ("relative", "right")):
        table.add_column(col, justify=just)
    for c in r["comparisons"]:
        if "mismatch" in c:
            result = f"[bold red]DIFFERS[/bold red] ({c['mismatch']})"
        elif c["identical"]:
            result = "identical"
        else:
            result = "within tolerance" if c["agree"] else "[bold red]DIFFERS[/bold red]"
        table.add_row(str(c["seed"]), str(c["output"]), c["dtype"], c["backend"], result,
                      f"{c['differing_elements']:,} of {c['elements']:,}",
                      _fmt_diff(c["max_abs_diff"]), _fmt_diff(c["max_rel_diff"]))
    con.print(table)
    fw, part = r["sizes"], r["model_part_sizes"]
    con.print(f"{r['backend']}: {statistics.median(r['instructions']):,.0f} instructions per "
              f"inference; firmware text {fw['text']:,} B, data {fw['data']:,} B, bss "
              f"{fw['bss']:,} B (model part text {part['text']:,} B, bss {part['bss']:,} B)")
    if r["state"]["stateful"]:
        con.print(f"state: {r['state']['handling']}")
    for name, layer in r["first_differing_layer"].items():
        where = (f"node {layer['index']} ({layer['op']} {layer['name']!r})" if layer else
                 "none found (every truncated model agrees; only the full outputs differ)")
        con.print(f"{name}: first differing layer: {where}")
    if not r["agree"]:
        con.print("[bold red]backends disagree[/bold red]")
    elif r["identical"]:
        con.print("[bold green]all backends agree bit for bit[/bold green]")
    else:
        con.print(f"[bold green]all backends agree (integers bit for bit, floats within "
                  f"{tol:g} relative)[/bold green]")


def _qemu_backend(name: str) -> str:
    """qemu-m4 / qemu-m7 as given, or the emulated core for a catalogue target."""
    if name.startswith("qemu-"):
        return name
    core = _codegen_target(name)
    mapping = {"cortex-m4": "qemu-m4", "cortex-m7": "qemu-m7", "cortex-m55": "qemu-m55"}
    if core not in mapping:
        raise PicojouleError(f"no emulated board for {name!r} ({core}); use qemu-m4 or qemu-m7")
    return mapping[core]


# -- estimate / sweep -----------------------------------------------------------------------
def _supply_options(which: str):
    """--volts, --platform and --regulator, as ``estimate`` and ``sweep`` take them."""
    def add(f):
        for opt in reversed([
            click.option("--volts", type=float, default=None, metavar="V",
                         help=f"Supply voltage of {which} (default: the voltage of its "
                         "power figure)."),
            click.option("--platform", default=None, metavar="P",
                         help="Software platform the model runs under: bare-metal (default, "
                         "as the generated C), or one with a measured power factor for "
                         f"{which} (e.g. zephyr)."),
            click.option("--regulator", type=click.Choice(["ldo", "smps"]), default=None,
                         help=f"Supply path of {which}, where it has figures for both "
                         "(default: its own; e.g. smps for an STM32L4R5xxP run from its "
                         "external SMPS)."),
        ]):
            f = opt(f)
        return f
    return add


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_input_shape_option
@_layout_option
@click.option("--target", "-t", "target_name", required=True, metavar="T",
              help="A catalogue target or a target TOML file.")
@click.option("--mhz", type=float, default=None, help="Core clock (default: the target's max).")
@click.option("--rate", default=None, metavar="R",
              help="Inferences per time, e.g. 1/s, 10/min, 5Hz (default: back to back).")
@click.option("--battery", default=None, metavar="B",
              help="CR2032, AA, or an energy such as 500J, 2.4kJ, 1Wh.")
@click.option("--sleep-mode", default=None, help="Sleep mode between inferences (default: "
              "the target's default retention mode).")
@_supply_options("the target")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def estimate(model: str, target_name: str, mhz: float | None, rate: str | None,
             battery: str | None, sleep_mode: str | None, as_json: bool,
             volts: float | None = None, platform: str | None = None,
             regulator: str | None = None) -> None:
    """Latency, energy per inference, average power and battery life of MODEL on T."""
    from picojoule.estimate import estimate as run_estimate
    from picojoule.estimate import format_estimate

    r = run_estimate(_load(model), _target(target_name), mhz=mhz, rate_hz=rate,
                     battery=battery, sleep_mode=sleep_mode, volts=volts, platform=platform,
                     regulator=regulator)
    if as_json:
        _dump_json(r)
    else:
        click.echo(format_estimate(r))


@cli.command()
@click.argument("models", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--targets", required=True, metavar="T1,T2,...", help="Comma-separated targets.")
@click.option("--mhz", default=None, metavar="F1,F2|points",
              help="Clocks to try (default: each target's max; 'points' = its listed "
              "points); a target skips those above its maximum, with a note.")
@click.option("--dataset", default=None, metavar="DATA.npz",
              help="An .npz with x (inputs) and y (labels) to measure accuracy.")
@click.option("--rate", default=None, metavar="R", help="Inferences per time, e.g. 1/s.")
@click.option("--battery", default=None, metavar="B", help="CR2032, AA or an energy.")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1),
              help="Local worker processes.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Run the jobs on a Ray cluster (an address, or 'auto').")
@click.option("--plot", default=None, metavar="PARETO.png", help="Write the Pareto plot.")
@_supply_options("every target")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
def sweep(models: tuple[str, ...], targets: str, mhz: str | None, dataset: str | None,
          rate: str | None, battery: str | None, jobs: int, ray_address: str | None,
          plot: str | None, as_json: bool, volts: float | None = None,
          platform: str | None = None, regulator: str | None = None) -> None:
    """Models x targets x clocks: accuracy, inferences/s, power, and the Pareto front."""
    from picojoule.estimate.sweep import format_table, skipped_clocks
    from picojoule.estimate.sweep import sweep as run_sweep

    _check_outputs(plot)
    for m in models:
        _load(m)  # bad files fail here, with one line, before any job starts
    names = [t.strip() for t in targets.split(",") if t.strip()]
    for t in names:
        _target(t)
    mhzs: Any = None
    if mhz:
        try:
            mhzs = mhz if mhz == "points" else [float(f) for f in mhz.split(",")]
        except ValueError:
            raise PicojouleError(f"--mhz {mhz!r}: give numbers separated by commas, or 'points'")
    for note in skipped_clocks(names, mhzs):
        click.echo(f"note: {note}", err=True)
    rows = run_sweep(list(models), names, mhzs, dataset=dataset, jobs=jobs,
                     ray_address=ray_address, rate_hz=rate, battery=battery,
                     progress=not as_json, plot=plot, volts=volts, platform=platform,
                     regulator=regulator)
    if as_json:
        _dump_json(rows)
    else:
        click.echo(format_table(rows))
        if plot:
            click.echo(f"Pareto plot written to {plot}")


# -- analyze / plan -------------------------------------------------------------------------
def _target(name: str):
    from picojoule.targets import load_target

    return load_target(name)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_input_shape_option
@_layout_option
@click.option("--target", "-t", "target_name", required=True, metavar="T",
              help="A target name (see 'picojoule targets') or a target TOML file.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def analyze(model: str, target_name: str, as_json: bool) -> None:
    """Whether MODEL fits target T: RAM, flash, MACs, per-op table and a verdict.

    Exits with status 1 when the model does not fit, after printing the report.
    """
    from picojoule.analysis.analyze import analyze as run_analysis

    report = run_analysis(_load(model), _target(target_name))
    if as_json:
        _dump_json(report)
    else:
        _print_analysis(report)
    if not report["fits"]:
        click.get_current_context().exit(EXIT_USER)


def _print_analysis(r: dict) -> None:
    from rich.table import Table

    con = _console()
    con.print(f"[bold]{r['model']}[/bold] on [bold]{r['target']}[/bold] ({r['target_display_name']})")
    ops = Table(title="Per op", title_justify="left")
    for col, just in (("#", "right"), ("op", "left"), ("MACs", "right"), ("live RAM B", "right"),
                      ("scratch B", "right"), ("runs", "left")):
        ops.add_column(col, justify=just)
    for o in r["ops"]:
        ops.add_row(str(o["step"]), o["op"], f"{o['macs']:,}", f"{o['live_bytes']:,}",
                    f"{o['scratch_bytes']:,}", o["mode"])
    con.print(ops)
    regs = Table(title="RAM regions (fastest first)", title_justify="left")
    for col, just in (("region", "left"), ("speed", "left"), ("used B", "right"),
                      ("capacity B", "right"), ("overflow B", "right")):
        regs.add_column(col, justify=just)
    for g in r["regions"]:
        regs.add_row(g["name"], g["speed"], f"{g['used']:,}", f"{g['capacity']:,}",
                     f"{g['overflow_bytes']:,}" if g["overflow_bytes"] else "-")
    con.print(regs)
    ram, fl = r["ram"], r["flash"]
    con.print(f"MACs: {r['macs']:,}")
    con.print(f"RAM: {ram['total_bytes']:,} B = arena {ram['arena_bytes']:,} (lower "
              f"bound {ram['lower_bound_arena_bytes']:,}) + state {ram['state_bytes']:,} "
              f"+ stack {ram['stack_bytes']:,} ({ram['stack_source']})")
    con.print(f"arena: {ram['arena_source']}")
    cap = f"{fl['capacity_bytes']:,}" if fl["capacity_bytes"] is not None else "unknown"
    cg = r.get("codegen", {})
    if "flash_bytes" in cg:
        con.print(f"flash: {fl['total_bytes']:,} of {cap} B: the generated C library for "
                  f"{cg['core']} (text {cg['text_bytes']:,} + data {cg['data_bytes']:,}; "
                  f"weights {fl['weights_bytes']:,} B in the file)")
        con.print(f"generated C static RAM: {cg['ram_bytes']:,} B (arena {cg['arena_bytes']:,} B "
                  f"+ state + kernel statics)")
    else:
        con.print(f"flash: {fl['total_bytes']:,} of {cap} B = weights {fl['weights_bytes']:,} + "
                  f"requantization {fl['requant_bytes']:,} + code ~{fl['code_bytes_estimate']:,} "
                  f"(estimate; {cg.get('error', 'no code size table for this core')})")
    est = r.get("estimate", {})
    if "error" in est:
        con.print(f"estimate: n/a ({est['error']})")
    elif est:
        con.print(f"estimate at {est['mhz']:g} MHz: {est['latency_ms']:.3f} ms, "
                  f"{est['energy_uj']:.1f} uJ per inference back to back ({est['method']}; "
                  f"'picojoule estimate' for rates, batteries and sources)")
    for w in r["warnings"]:
        con.print(f"[yellow]warning:[/yellow] {w}")
    if r["fits"]:
        con.print("[bold green]verdict: fits[/bold green]")
    else:
        con.print(f"[bold red]verdict: {r['verdict']}[/bold red]")
        for tip in r["suggestions"]:
            con.print(f"  suggestion: {tip}")


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@_input_shape_option
@_layout_option
@click.option("--target", "-t", "target_name", default=None, metavar="T",
              help="Plan into T's RAM regions (default: one unlimited region).")
@click.option("--png", metavar="PLAN.png", help="Also draw the timeline as a picture.")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def plan(model: str, target_name: str | None, png: str | None, as_json: bool) -> None:
    """The memory timeline of MODEL: where each tensor lives, step by step."""
    from picojoule.planner import plan_memory

    _check_outputs(png)
    m = _load(model)
    regions = None
    if target_name:
        from picojoule.analysis.analyze import STACK_ESTIMATE_BYTES, _regions

        regions = _regions(_target(target_name), STACK_ESTIMATE_BYTES)
    p = plan_memory(m, regions=regions)
    if png:
        from picojoule.report.plot import plan_png

        _write_atomically(png, plan_png(p, title=f"{Path(model).name}"
                                         + (f" on {target_name}" if target_name else "")))
    if as_json:
        _dump_json(_plan_json(p))
        return
    con = _console()
    con.print(p.render(width=72), markup=False, highlight=False)
    con.print(f"arena {p.arena_bytes:,} B (lower bound {p.lower_bound_bytes:,} B for this order, "
              f"{p.order_method} order); total RAM {p.total_bytes:,} B")
    if regions:
        from picojoule.analysis.verdict import ram_problems

        tgt = _target(target_name)
        capacity = sum(r.size for r in tgt.regions_fast_first(arena_only=True))
        for problem in ram_problems(p, tgt.name, p.total_bytes + STACK_ESTIMATE_BYTES,
                                    capacity, STACK_ESTIMATE_BYTES):
            con.print(f"[bold red]{problem}[/bold red]")
    if png:
        con.print(f"picture written to {png}")


def _plan_json(p) -> dict:
    from picojoule.analysis.verdict import oversized_tensors

    tensors = []
    for v in p.graph.values():
        slot = p.slots.get(id(v))
        if slot is None:
            continue
        b = p.buffers[slot.buffer]
        tensors.append({"name": v.name, "region": slot.region, "offset": slot.offset,
                        "bytes": slot.nbytes, "first_step": b.first, "last_step": b.last})
    return {"arena_bytes": p.arena_bytes, "lower_bound_arena_bytes": p.lower_bound_bytes,
            "total_bytes": p.total_bytes, "order": p.order_method,
            "regions": [{"name": r.name, "used": r.used} for r in p.regions],
            "overflow": p.overflow, "oversized_tensors": oversized_tensors(p),
            "tensors": tensors, "ops": p.op_table()}


def _check_outputs(*paths: str | None) -> None:
    """Fail on an output file that cannot be written before any work is done."""
    from picojoule.outputs import check_file

    for path in paths:
        if path:
            check_file(path)


def _write_atomically(path: str, data: bytes) -> None:
    """Write ``path`` whole or not at all, through a symlink, never over a special file."""
    from picojoule.outputs import write_file

    write_file(path, data)


# -- targets --------------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("--markdown", is_flag=True, help="Print the catalogue as Markdown (docs/targets.md).")
def targets(as_json: bool, markdown: bool) -> None:
    """The microcontrollers and NPUs picojoule knows (pass a name or your own TOML file)."""
    from picojoule.targets import list_targets, load_target, targets_markdown

    if markdown:
        click.echo(targets_markdown(), nl=False)
        return
    rows = []
    for name in list_targets():
        t = load_target(name)
        ram = t.total_ram_bytes()
        rows.append({
            "name": t.name, "display_name": t.display_name, "core": t.core.name,
            "max_mhz": t.core.max_mhz, "dsp": t.core.dsp, "fpu": t.core.fpu, "mve": t.core.mve,
            "ram_bytes": ram, "flash_bytes": t.flash.size if t.flash else None,
            "npu": t.npu.name if t.npu else None,
        })
    if as_json:
        _dump_json(rows)
        return
    from rich.table import Table

    table = Table(caption="picojoule targets --json for chip names; docs/targets.md for sources")
    for col, just in (("name", "left"), ("core", "left"), ("MHz", "right"), ("DSP", "left"),
                      ("FPU", "left"), ("MVE", "left"), ("RAM KiB", "right"),
                      ("flash KiB", "right"), ("NPU", "left")):
        table.add_column(col, justify=just, no_wrap=True)
    for r in rows:
        flash = f"{r['flash_bytes'] // 1024:,}" if r["flash_bytes"] else "-"
        table.add_row(r["name"], r["core"], f"{r['max_mhz']:g}", "yes" if r["dsp"] else "-",
                      r["fpu"] or "-", r["mve"] or "-", f"{r['ram_bytes'] // 1024:,}", flash,
                      r["npu"] or "-")
    _console().print(table)


# -- demo -----------------------------------------------------------------------------------
@cli.command()
def demo() -> None:
    """Inspect, run, analyze and estimate the bundled demo model (a small int8 KWS CNN)."""
    from importlib import resources

    path = resources.files("picojoule") / "data" / "demo.tflite"
    with resources.as_file(path) as p:
        if not p.exists():
            raise PicojouleError("the bundled demo model is missing from this installation")
        ctx = click.get_current_context()
        ctx.invoke(inspect, model=str(p), as_json=False)
        ctx.invoke(run, model=str(p), inputs=(), random_seed=0, output=None,
                   backend="reference", repeat=20, as_json=False)
        ctx.invoke(analyze, model=str(p), target_name="stm32l4r5", as_json=False)
        ctx.invoke(estimate, model=str(p), target_name="stm32l4r5", mhz=None, rate="1/s",
                   battery="CR2032", sleep_mode=None, as_json=False)


def _one_line(message: object, limit: int = 600) -> str:
    """An error message as one printable line: control characters (a newline in a name
    read from a damaged file, say) escaped, and at most ``limit`` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI, turning every failure into one line and an exit code."""
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="picojoule",
                        standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return EXIT_USER
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message())}", err=True)
        return EXIT_USAGE
    except PicojouleError as exc:
        click.echo(f"error: {_one_line(exc)}", err=True)
        return EXIT_USER
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the user sees one line, never a traceback
        if os.environ.get("PICOJOULE_DEBUG"):
            raise
        click.echo(f"error: internal error ({type(exc).__name__}: {_one_line(exc, 300)}); "
                   f"set PICOJOULE_DEBUG=1 for a traceback", err=True)
        return EXIT_INTERNAL
    return code if isinstance(code, int) else 0


def console_main() -> None:
    """The installed ``picojoule`` script."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
