"""Fuzz picojoule's commands with mutated ``.tflite`` models.

Each mutant is a corpus model (``../shared/models`` by default) changed by one strategy:

- ``flip``: 1 to 8 random bytes set to random values;
- ``truncate``: the file cut at a random length;
- ``field``: one flatbuffer field (a tensor's shape, type, buffer or quantization, an
  operator's opcode, inputs, outputs or an option, a subgraph's inputs or outputs, an
  operator code, a buffer's offset or size) set to a hostile value (-1, 0, huge, inf, NaN,
  -0.0, another tensor's index ...), the rest of the file untouched.

Every mutant runs through ``inspect``, ``run``, ``analyze`` and ``compile``, each in its own
process (forked from this one, which imported picojoule once) with a timeout and an
address-space cap, and each run lands in one outcome class:

- ``ok``: exit 0 (or ``analyze``'s exit 1 verdict) with nothing on stderr;
- ``clean error``: exit 1 or 2 and exactly one ``error:`` line on stderr;
- ``exit-3``: the internal-error exit (a bug);
- ``traceback``: a Python traceback escaped;
- ``timeout``: stopped after ``--timeout`` seconds of CPU time (or five times that of
  wall time);
- ``signal``: killed by a signal (a crash in native code);
- ``stderr noise``: anything else on stderr (warnings on success, more than one line ...);
- ``other exit``: any other exit status.

Usage::

    python scripts/fuzz.py --count 10000 --seed 1 --jobs 1 [--save failures/]

The counts per command and outcome are printed at the end; distinct failures are listed
with their first mutant and, for exit-3, where the error was raised (re-run with
``PICOJOULE_DEBUG=1``). The exit status is 1 if any run failed.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

COMMANDS = ("inspect", "run", "analyze", "compile")
OUTCOMES = ("ok", "clean error", "exit-3", "traceback", "timeout", "signal", "stderr noise",
            "other exit")
FAILURES = frozenset(OUTCOMES) - {"ok", "clean error"}
#: A run is stopped after ``--timeout`` seconds of CPU time, or this many times that of wall
#: time (a machine shared with other work stretches wall time, not CPU time).
WALL_FACTOR = 5
DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "models"


# -- a minimal flatbuffer walker -------------------------------------------------------------
class _Buf:
    """Positions of the fields of a flatbuffer, for writing hostile values into them."""

    def __init__(self, data: bytes) -> None:
        self.d = data

    def u32(self, pos: int) -> int:
        return struct.unpack_from("<I", self.d, pos)[0]

    def i32(self, pos: int) -> int:
        return struct.unpack_from("<i", self.d, pos)[0]

    def u16(self, pos: int) -> int:
        return struct.unpack_from("<H", self.d, pos)[0]

    def table_fields(self, table: int) -> list[tuple[int, int]]:
        """(slot, absolute position) of each field present in the table at ``table``."""
        vt = table - self.i32(table)
        vlen = self.u16(vt)
        out = []
        for slot in range((vlen - 4) // 2):
            off = self.u16(vt + 4 + 2 * slot)
            if off:
                out.append((slot, table + off))
        return out

    def field(self, table: int, slot: int) -> int | None:
        return dict(self.table_fields(table)).get(slot)

    def ref(self, pos: int) -> int:
        """Follow the uoffset stored at ``pos`` (a table, vector or string)."""
        return pos + self.u32(pos)

    def vector(self, table: int, slot: int) -> tuple[int, int] | None:
        """(first element position, length) of a vector field."""
        pos = self.field(table, slot)
        if pos is None:
            return None
        vec = self.ref(pos)
        return vec + 4, self.u32(vec)

    def tables(self, table: int, slot: int) -> list[int]:
        v = self.vector(table, slot)
        if v is None:
            return []
        start, n = v
        return [self.ref(start + 4 * i) for i in range(n)]


@dataclass
class _Slot:
    """One place a structured mutation can write: position, kind and a description."""

    pos: int
    kind: str  # "i8", "i32", "u32", "i64", "u64", "f32", "u8"
    what: str


def _field_slots(data: bytes) -> list[_Slot]:
    """Every scalar and vector element of the TFLite schema's main tables, plus the scalar
    fields of operator options (their width taken from the gap to the next field; the last
    one's low byte only)."""
    b = _Buf(data)
    root = b.ref(0)
    slots: list[_Slot] = []

    def add_vec(table: int, slot: int, kind: str, what: str, size: int) -> None:
        v = b.vector(table, slot)
        if v is not None:
            start, n = v
            for i in range(min(n, 64)):
                slots.append(_Slot(start + size * i, kind, f"{what}[{i}]"))

    def add_field(table: int, slot: int, kind: str, what: str) -> None:
        pos = b.field(table, slot)
        if pos is not None:
            slots.append(_Slot(pos, kind, what))

    for i, oc in enumerate(b.tables(root, 1)):
        add_field(oc, 0, "i8", f"opcode {i} deprecated_builtin_code")
        add_field(oc, 2, "i32", f"opcode {i} version")
        add_field(oc, 3, "i32", f"opcode {i} builtin_code")
    for i, buf in enumerate(b.tables(root, 4)):
        add_field(buf, 1, "u64", f"buffer {i} offset")
        add_field(buf, 2, "u64", f"buffer {i} size")
    for s, sg in enumerate(b.tables(root, 2)):
        add_vec(sg, 1, "i32", f"subgraph {s} inputs", 4)
        add_vec(sg, 2, "i32", f"subgraph {s} outputs", 4)
        for t, ten in enumerate(b.tables(sg, 0)):
            w = f"subgraph {s} tensor {t}"
            add_vec(ten, 0, "i32", f"{w} shape", 4)
            add_field(ten, 1, "i8", f"{w} type")
            add_field(ten, 2, "u32", f"{w} buffer")
            add_field(ten, 5, "u8", f"{w} is_variable")
            add_vec(ten, 7, "i32", f"{w} shape_signature", 4)
            qpos = b.field(ten, 4)
            if qpos is not None:
                q = b.ref(qpos)
                add_vec(q, 2, "f32", f"{w} scale", 4)
                add_vec(q, 3, "i64", f"{w} zero_point", 8)
                add_field(q, 6, "i32", f"{w} quantized_dimension")
        for k, op in enumerate(b.tables(sg, 3)):
            w = f"subgraph {s} operator {k}"
            add_field(op, 0, "u32", f"{w} opcode_index")
            add_vec(op, 1, "i32", f"{w} inputs", 4)
            add_vec(op, 2, "i32", f"{w} outputs", 4)
            add_vec(op, 8, "i32", f"{w} intermediates", 4)
            opt = b.field(op, 4)
            if opt is not None:
                table = b.ref(opt)
                fields = sorted(b.table_fields(table), key=lambda f: f[1])
                for j, (slot, pos) in enumerate(fields):
                    gap = (fields[j + 1][1] - pos) if j + 1 < len(fields) else 1
                    kind = "i32" if gap >= 4 else "i8"
                    slots.append(_Slot(pos, kind, f"{w} option slot {slot}"))
    return [s for s in slots if s.pos + _SIZES[s.kind] <= len(data)]


_SIZES = {"i8": 1, "u8": 1, "i32": 4, "u32": 4, "f32": 4, "i64": 8, "u64": 8}
_FORMATS = {"i8": "<b", "u8": "<B", "i32": "<i", "u32": "<I", "f32": "<f", "i64": "<q",
            "u64": "<Q"}
_HOSTILE_INTS = [-1, 0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 127, 128, 255, 256, 1000, 65535, 65536,
                 1 << 20, 1 << 24, 0x7FFFFFFF, -0x80000000, -2, -128]
_HOSTILE_FLOATS = [math.inf, -math.inf, math.nan, -0.0, 0.0, 1e38, -1.0, 1e-45, 3e-39, 1e10,
                   1e-30, 2.0, 0.5]


def _hostile(rng: random.Random, kind: str) -> int | float:
    if kind == "f32":
        return rng.choice(_HOSTILE_FLOATS)
    lo, hi = {"i8": (-128, 127), "u8": (0, 255), "i32": (-2**31, 2**31 - 1),
              "u32": (0, 2**32 - 1), "i64": (-2**63, 2**63 - 1), "u64": (0, 2**64 - 1)}[kind]
    v = rng.choice(_HOSTILE_INTS) if rng.random() < 0.85 else rng.randint(-300, 300)
    return min(max(v, lo), hi) if not kind.startswith("u") else v % (hi + 1)


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One mutant of ``data`` and a description of what changed."""
    strategy = rng.choices(["flip", "truncate", "field"], weights=[3, 1, 6])[0]
    if strategy == "field":
        try:
            slots = _field_slots(data)
        except (struct.error, IndexError):
            slots = []
        if slots:
            s = rng.choice(slots)
            v = _hostile(rng, s.kind)
            out = bytearray(data)
            struct.pack_into(_FORMATS[s.kind], out, s.pos, v)
            return bytes(out), f"field {s.what} = {v!r}"
        strategy = "flip"
    if strategy == "truncate":
        n = rng.randrange(0, len(data))
        return data[:n], f"truncate to {n} bytes"
    out = bytearray(data)
    flips = []
    for _ in range(rng.randint(1, 8)):
        p = rng.randrange(len(out))
        out[p] = rng.randrange(256)
        flips.append(p)
    return bytes(out), f"flip bytes at {flips}"


# -- running one command in a forked child --------------------------------------------------
def _argv(command: str, model: str, workdir: str) -> list[str]:
    if command == "inspect":
        return ["inspect", model]
    if command == "run":
        return ["run", model, "--random-seed", "0"]
    if command == "analyze":
        return ["analyze", model, "--target", "stm32l4r5"]
    if command == "compile":
        return ["compile", model, "--target", "stm32l4r5", "-o", os.path.join(workdir, "out")]
    raise ValueError(command)


def _vm_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class _Child:
    pid: int
    pidfd: int
    started: float
    err_path: str
    task: tuple
    workdir: str


def _spawn(argv: list[str], workdir: str, memory_mb: int, debug: bool,
           cpu_seconds: float) -> tuple[int, str]:
    """Fork a child running ``picojoule argv``; returns (pid, stderr file)."""
    err_path = os.path.join(workdir, "stderr")
    pid = os.fork()
    if pid:
        return pid, err_path
    code = 97
    try:
        os.setpgid(0, 0)
        limit = _vm_bytes() + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = max(1, int(math.ceil(cpu_seconds)))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
        fd_out = os.open(os.devnull, os.O_WRONLY)
        fd_err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd_out, 1)
        os.dup2(fd_err, 2)
        # a harness (pytest) may have replaced the Python streams: write to the fds
        sys.stdout = open(1, "w", closefd=False)
        sys.stderr = open(2, "w", closefd=False)
        os.chdir(workdir)
        if debug:
            os.environ["PICOJOULE_DEBUG"] = "1"
        else:
            os.environ.pop("PICOJOULE_DEBUG", None)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        from picojoule.cli import main

        code = main(argv)
    except BaseException:  # noqa: BLE001 - reported as a traceback
        traceback.print_exc()
        code = 98
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 99)


def classify(command: str, status: int, stderr: str, timed_out: bool) -> str:
    """The outcome class of one run (see the module doc)."""
    if timed_out or (os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU,
                                                                         signal.SIGKILL)):
        return "timeout"
    if os.WIFSIGNALED(status):
        return "signal"
    rc = os.WEXITSTATUS(status)
    if "Traceback (most recent call last)" in stderr:
        return "traceback"
    if rc == 3:
        return "exit-3"
    lines = stderr.splitlines()
    if rc == 0 or (command == "analyze" and rc == 1 and not lines):
        return "ok" if not lines else "stderr noise"
    if rc in (1, 2):
        if len(lines) == 1 and lines[0].startswith("error: "):
            return "clean error"
        return "stderr noise"
    return "other exit"


@dataclass
class Result:
    index: int
    command: str
    outcome: str
    stderr: str
    what: str
    seconds: float


@dataclass
class Report:
    counts: dict = field(default_factory=lambda: defaultdict(Counter))
    failures: list = field(default_factory=list)
    seconds: dict = field(default_factory=lambda: defaultdict(float))
    mutants: int = 0

    @property
    def failed(self) -> int:
        return len(self.failures)

    def add(self, r: Result) -> None:
        self.counts[r.command][r.outcome] += 1
        self.seconds[r.command] += r.seconds
        if r.outcome in FAILURES:
            self.failures.append(r)

    def table(self) -> str:
        cmds = [c for c in COMMANDS if c in self.counts]
        head = f"{'outcome':<14}" + "".join(f"{c:>10}" for c in cmds) + f"{'total':>10}"
        rows = [head]
        for o in OUTCOMES:
            vals = [self.counts[c][o] for c in cmds]
            rows.append(f"{o:<14}" + "".join(f"{v:>10}" for v in vals) + f"{sum(vals):>10}")
        tot = [sum(self.counts[c].values()) for c in cmds]
        rows.append(f"{'runs':<14}" + "".join(f"{v:>10}" for v in tot) + f"{sum(tot):>10}")
        return "\n".join(rows)


def corpus_models(corpus: Path) -> list[Path]:
    return sorted(p for p in Path(corpus).rglob("*.tflite") if p.is_file())


def mutants(seeds: list[tuple[str, bytes]], count: int, seed: int, start: int = 0):
    """Mutants ``start`` .. ``start + count - 1``, each a function of (seed, index) alone:
    (index, seed name, bytes, description)."""
    for i in range(start, start + count):
        rng = random.Random(f"{seed}:{i}")
        name, data = seeds[rng.randrange(len(seeds))]
        out, what = mutate(data, rng)
        yield i, name, out, what


def fuzz(items, *, jobs: int = 1, timeout: float = 30.0, memory_mb: int = 2048,
         commands=COMMANDS, save: Path | None = None, progress: bool = False,
         deadline: float | None = None) -> Report:
    """Run the mutants ``items`` (from :func:`mutants`) through ``commands``; returns the
    outcome counts and failures. No new mutant starts after ``deadline`` (monotonic time)."""
    report = Report()
    root = tempfile.mkdtemp(prefix="pj_fuzz_")
    _warm_up(commands, root)
    report.mutants = 0

    def gen():
        for i, name, data, what in items:
            if deadline is not None and time.monotonic() > deadline:
                return
            report.mutants += 1
            for c in commands:
                yield i, name, data, what, c

    tasks = gen()
    running: dict[int, _Child] = {}
    t_start = time.monotonic()
    done = 0
    try:
        exhausted = False
        while running or not exhausted:
            while not exhausted and len(running) < jobs:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                i, name, data, what, c = task
                workdir = tempfile.mkdtemp(dir=root)
                model = os.path.join(workdir, "mutant.tflite")
                with open(model, "wb") as f:
                    f.write(data)
                pid, err = _spawn(_argv(c, model, workdir), workdir, memory_mb, False, timeout)
                running[pid] = _Child(pid, os.pidfd_open(pid), time.monotonic(), err,
                                      (i, name, data, what, c), workdir)
            if not running:
                break
            now = time.monotonic()
            wall = timeout * WALL_FACTOR
            wait = max(0.0, min(ch.started + wall - now for ch in running.values()))
            ready, _, _ = select.select([ch.pidfd for ch in running.values()], [], [], wait)
            now = time.monotonic()
            for pid, ch in list(running.items()):
                timed_out = False
                if ch.pidfd not in ready:
                    if now - ch.started < wall:
                        continue
                    timed_out = True
                    os.killpg(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                os.close(ch.pidfd)
                del running[pid]
                try:
                    stderr = Path(ch.err_path).read_text(errors="replace")
                except OSError:
                    stderr = ""
                i, name, data, what, c = ch.task
                outcome = classify(c, status, stderr, timed_out)
                if outcome == "exit-3":
                    stderr += _debug_trace(c, ch.workdir, memory_mb, timeout)
                r = Result(i, c, outcome, stderr, f"{name}: {what}", now - ch.started)
                report.add(r)
                if outcome in FAILURES and save is not None:
                    save.mkdir(parents=True, exist_ok=True)
                    (save / f"{i:06d}_{c}.tflite").write_bytes(data)
                    (save / f"{i:06d}_{c}.txt").write_text(f"{r.what}\n{outcome}\n{stderr}")
                shutil.rmtree(ch.workdir, ignore_errors=True)
                done += 1
                if progress and done % 200 == 0:
                    el = time.monotonic() - t_start
                    bad = report.failed
                    print(f"[{el:7.1f} s] {done} runs, {bad} failures", file=sys.stderr,
                          flush=True)
    finally:
        for pid in list(running):
            try:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        shutil.rmtree(root, ignore_errors=True)
    return report


def _warm_up(commands, root: str) -> None:
    """Run each command once here on the bundled demo model, so that every child starts
    with picojoule's modules imported and its caches filled (a fork costs milliseconds,
    the imports a few hundred)."""
    import contextlib
    import io

    from picojoule.cli import main

    demo = Path(__import__("picojoule").__file__).parent / "data" / "demo.tflite"
    workdir = tempfile.mkdtemp(dir=root)
    sink = io.StringIO()
    for c in commands:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            main(_argv(c, str(demo), workdir))
    shutil.rmtree(workdir, ignore_errors=True)


def _debug_trace(command: str, workdir: str, memory_mb: int, timeout: float) -> str:
    """The traceback of an exit-3 run, re-run with ``PICOJOULE_DEBUG=1``."""
    pid, err = _spawn(_argv(command, os.path.join(workdir, "mutant.tflite"), workdir),
                      workdir, memory_mb, True, timeout)
    fd = os.pidfd_open(pid)
    ready, _, _ = select.select([fd], [], [], timeout * WALL_FACTOR)
    if not ready:
        os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(fd)
    try:
        return "\n-- with PICOJOULE_DEBUG=1:\n" + Path(err).read_text(errors="replace")
    except OSError:
        return ""


def _where(stderr: str) -> str:
    """A short signature of a failure: its innermost picojoule frame and last line."""
    frames = [ln.strip() for ln in stderr.splitlines() if ln.strip().startswith("File ")]
    ours = [f for f in frames if "picojoule" in f] or frames
    last = [ln for ln in stderr.splitlines() if ln.strip()]
    tail = last[-1][:160] if last else "(no stderr)"
    if ours:
        f = ours[-1]
        f = f.split("src/picojoule/")[-1] if "src/picojoule/" in f else f
        return f"{f} | {tail}"
    return tail


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                    help="Folder of .tflite seed models (searched recursively).")
    ap.add_argument("--count", type=int, default=10000, help="Number of mutants.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0,
                    help="First mutant index (continue an earlier run of the same seed).")
    ap.add_argument("--jobs", type=int, default=1, help="Runs at a time.")
    ap.add_argument("--timeout", type=float, default=30.0,
                    help=f"CPU seconds per run (wall time: {WALL_FACTOR} times that).")
    ap.add_argument("--memory", type=int, default=2048,
                    help="MB of address space a run may add to the fuzzer's own.")
    ap.add_argument("--commands", default=",".join(COMMANDS))
    ap.add_argument("--save", type=Path, help="Folder for failing mutants and their stderr.")
    ap.add_argument("--time-limit", type=float, default=0.0,
                    help="Stop starting new mutants after this many seconds (0: no limit).")
    args = ap.parse_args(argv)
    models = corpus_models(args.corpus)
    if not models:
        print(f"error: no .tflite models under {args.corpus}", file=sys.stderr)
        return 2
    seeds = [(str(p.relative_to(args.corpus)), p.read_bytes()) for p in models]
    commands = tuple(c for c in args.commands.split(",") if c)
    t0 = time.monotonic()
    deadline = t0 + args.time_limit if args.time_limit else None
    report = fuzz(mutants(seeds, args.count, args.seed, args.start), jobs=args.jobs, timeout=args.timeout,
                  memory_mb=args.memory, commands=commands, save=args.save, progress=True,
                  deadline=deadline)
    print(f"{report.mutants} mutants from index {args.start} of {len(seeds)} models "
          f"(seed {args.seed}), "
          f"{time.monotonic() - t0:.0f} s, {args.jobs} job(s)")
    print(report.table())
    sigs: dict[str, list[Result]] = defaultdict(list)
    for r in report.failures:
        sigs[f"{r.outcome}: {_where(r.stderr)}"].append(r)
    for sig, rs in sorted(sigs.items(), key=lambda kv: -len(kv[1])):
        print(f"\n{len(rs)} x {sig}\n  first: mutant {rs[0].index} {rs[0].command} "
              f"({rs[0].what})")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
