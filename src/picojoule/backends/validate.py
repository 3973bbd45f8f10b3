"""``picojoule validate``: the reference interpreter, the host C library and the emulated
firmware on the same inputs, compared output by output.

Integer outputs must be identical. Float outputs are held to the tolerance float models
are held to everywhere in picojoule (README: float32 within 1e-5 relative): the largest
absolute difference at most :data:`FLOAT_RTOL` times the largest magnitude of the
reference's output. Every comparison reports its largest absolute and relative difference,
whether it passes or not.

State (LSTM memories, streaming signal buffers) is handled alike in every backend: each
starts from its reset state before the first seed and carries its state from one seed to
the next (the reference interpreter keeps its variables, the host library is reset once,
the firmware runs all seeds in one boot), as a device running a stream does.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from picojoule.ir import Model
from picojoule.ops.registry import is_stateful

#: Float outputs: largest |got - reference| <= FLOAT_RTOL * largest |reference|.
FLOAT_RTOL = 1e-5

#: Seconds each seed may take on the emulated core.
FIRMWARE_TIMEOUT = 120.0

STATE_CARRIED = ("reset before seed 0, then carried from seed to seed in every backend "
                 "(reference, host C, firmware in one boot)")


def compare(got: np.ndarray, want: np.ndarray, rtol: float = FLOAT_RTOL) -> dict[str, Any]:
    """One backend output against the reference's: agreement and the largest differences.

    ``max_rel_diff`` is the largest absolute difference over the reference's largest
    magnitude (None when that is 0 and they differ, or a difference is not finite).
    """
    got, want = np.asarray(got), np.asarray(want)
    floating = bool(np.issubdtype(want.dtype, np.floating))
    row: dict[str, Any] = {"dtype": str(want.dtype), "elements": int(want.size),
                           "tolerance": f"{rtol:g} relative" if floating else "bit-exact"}
    if got.shape != want.shape or got.dtype != want.dtype:
        return {**row, "agree": False, "identical": False,
                "differing_elements": int(want.size), "max_abs_diff": None,
                "max_rel_diff": None,
                "mismatch": f"got {got.dtype}{list(got.shape)}, expected "
                            f"{want.dtype}{list(want.shape)}"}
    if floating:
        g, w = got.astype(np.float64), want.astype(np.float64)
        same = (g == w) | (np.isnan(g) & np.isnan(w))
        with np.errstate(invalid="ignore"):
            diff = np.where(same, 0.0, np.abs(g - w))
        finite = w[np.isfinite(w)]
    else:
        same = got == want
        diff = np.abs(got.astype(np.int64) - want.astype(np.int64)).astype(np.float64)
        finite = want.astype(np.float64)
    differing = int(np.count_nonzero(~same))
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    if not np.isfinite(max_abs):
        max_abs_out, max_rel = None, None
    else:
        max_abs_out = max_abs
        max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else None)
    if floating:
        agree = max_abs_out is not None and max_abs <= rtol * scale
    else:
        agree = differing == 0
    return {**row, "agree": bool(agree), "identical": differing == 0,
            "differing_elements": differing, "max_abs_diff": max_abs_out,
            "max_rel_diff": max_rel}


def agrees(got: np.ndarray, want: np.ndarray) -> bool:
    """Whether ``got`` matches the reference's ``want`` (the rule :func:`compare` applies)."""
    return compare(got, want)["agree"]


def has_state(model: Model) -> bool:
    """Whether anything in the model persists from one invoke to the next."""
    g = model.main
    return any(v.variable for v in g.values()) or any(is_stateful(n) for n in g.nodes)


def host_runner(build: Callable[[Model], Any]) -> Callable:
    """Runs a model's host C library over runs in order, from its reset state."""
    def run(model: Model, runs: Sequence[Sequence[np.ndarray]]) -> list:
        lib = build(model)
        lib.reset()
        return [[np.array(o, copy=True) for o in lib.run(x)] for x in runs]
    return run


def firmware_runner(build: Callable[[Model], Any]) -> Callable:
    """Runs a model's firmware over runs in order, in one boot (state carried)."""
    def run(model: Model, runs: Sequence[Sequence[np.ndarray]]) -> list:
        return [outs for outs, _ in build(model).run_many(runs, FIRMWARE_TIMEOUT * len(runs))]
    return run


def validate(load: Callable[[], Model], backend: str, seeds: int) -> dict[str, Any]:
    """Compare the reference, the host C library and ``backend``'s firmware on ``seeds``
    seeded random inputs; name the first differing layer of each backend that disagrees."""
    from picojoule.backends import host, qemu
    from picojoule.backends.diagnose import first_differing_layer_in_sequence
    from picojoule.runtime import Interpreter, random_inputs

    m = load()
    runs = [random_inputs(m.main, seed) for seed in range(seeds)]
    ref = Interpreter(m)  # fresh: its state is the reset state
    want = [[np.array(o, copy=True) for o in ref.run(x)] for x in runs]
    lib = host.build(m)
    fw = qemu.build(m, backend)
    got_c = host_runner(lambda _: lib)(m, runs)
    fw_results = fw.run_many(runs, FIRMWARE_TIMEOUT * len(runs))
    got_q = [outs for outs, _ in fw_results]
    instructions = [n for _, n in fw_results]
    rows = []
    for seed in range(seeds):
        for i, w in enumerate(want[seed]):
            for name, got in (("c", got_c[seed][i]), (backend, got_q[seed][i])):
                rows.append({"seed": seed, "output": i, "backend": name,
                             **compare(got, w)})
    ok = all(r["agree"] for r in rows)
    first_diff: dict[str, dict | None] = {}
    runners = {"c": host_runner(host.build),
               backend: firmware_runner(lambda mm: qemu.build(mm, backend))}
    for r in rows:  # the first disagreeing seed of each backend, with the seeds before it
        name = r["backend"]
        if not r["agree"] and name not in first_diff:
            first_diff[name] = first_differing_layer_in_sequence(
                load, runs[:r["seed"] + 1], runners[name], agrees)
    stateful = has_state(m)
    return {"backend": backend, "agree": ok,
            "identical": all(r["identical"] for r in rows),
            "float_tolerance": {"relative": FLOAT_RTOL,
                                "rule": "largest |difference| <= relative x largest "
                                        "|reference| of the output"},
            "state": {"stateful": stateful, "handling": STATE_CARRIED if stateful else "none"},
            "comparisons": rows, "first_differing_layer": first_diff,
            "instructions": instructions, "sizes": fw.sizes,
            "model_part_sizes": fw.model_sizes}
