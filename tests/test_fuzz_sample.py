"""A fixed-seed sample of ``scripts/fuzz.py``: mutated corpus models through the commands.

Every run must end as ``ok`` or ``clean error`` (one ``error:`` line, exit 1 or 2): no
internal-error exit 3, no traceback, no timeout, no crash, nothing else on stderr. The
full job (``python scripts/fuzz.py --count 10000``) runs the same mutants and more; this
sample keeps to the small seed models so that it takes seconds.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from oracles import SHARED_MODELS

_spec = importlib.util.spec_from_file_location(
    "pj_fuzz", Path(__file__).resolve().parents[1] / "scripts" / "fuzz.py")
fuzz = sys.modules.setdefault("pj_fuzz", importlib.util.module_from_spec(_spec))
if not hasattr(fuzz, "mutate"):
    _spec.loader.exec_module(fuzz)

SEED = 20261208


def _seeds(max_bytes: int = 40_000) -> list[tuple[str, bytes]]:
    models = [p for p in fuzz.corpus_models(SHARED_MODELS) if p.stat().st_size <= max_bytes]
    return [(str(p.relative_to(SHARED_MODELS)), p.read_bytes()) for p in models]


def _failures(report) -> str:
    return "\n".join(f"mutant {r.index} {r.command} {r.outcome} ({r.what}):\n{r.stderr}"
                     for r in report.failures[:5])


@pytest.fixture(scope="module")
def seeds():
    s = _seeds()
    assert len(s) >= 100  # the op models and the small TFLM examples
    return s


@pytest.mark.parametrize("commands, count, seed", [
    (("inspect", "run"), 300, SEED),
    (("compile",), 120, SEED + 1),
    (("analyze",), 48, SEED + 2),
], ids=["inspect-run", "compile", "analyze"])
def test_mutants_end_ok_or_in_one_error_line(seeds, commands, count, seed):
    report = fuzz.fuzz(fuzz.mutants(seeds, count, seed), jobs=2, timeout=30,
                       commands=commands)
    assert report.mutants == count
    assert report.failed == 0, _failures(report)
    for command in commands:  # the sample exercises both outcomes on every command
        assert sum(report.counts[command].values()) == count
        assert report.counts[command]["ok"] >= count // 10
        assert report.counts[command]["clean error"] >= count // 10


def test_outcome_classes():
    """The classifier itself, on hand-made exits (os.waitpid status words)."""
    ok, one, three = 0, 1 << 8, 3 << 8
    assert fuzz.classify("run", ok, "", False) == "ok"
    assert fuzz.classify("run", ok, "RuntimeWarning: overflow\n", False) == "stderr noise"
    assert fuzz.classify("run", one, "error: bad scale\n", False) == "clean error"
    assert fuzz.classify("run", one, "error: a\nerror: b\n", False) == "stderr noise"
    assert fuzz.classify("analyze", one, "", False) == "ok"  # the does-not-fit verdict
    assert fuzz.classify("run", one, "", False) == "stderr noise"
    assert fuzz.classify("run", three, "error: internal error\n", False) == "exit-3"
    assert fuzz.classify("run", one, "Traceback (most recent call last):\n", False) == "traceback"
    assert fuzz.classify("run", 11, "", False) == "signal"  # SIGSEGV
    assert fuzz.classify("run", 9, "", False) == "timeout"  # killed at the CPU limit
    assert fuzz.classify("run", ok, "", True) == "timeout"


def test_mutants_are_a_function_of_seed_and_index(seeds):
    a = list(fuzz.mutants(seeds, 30, 7))
    b = list(fuzz.mutants(seeds, 10, 7, start=20))
    assert a[20:] == b
    assert {w.split()[0] for _, _, _, w in a} >= {"field", "flip"}
