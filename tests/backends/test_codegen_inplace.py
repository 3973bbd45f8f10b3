"""The C library's arena plan with the planner's aliasing, reordering and in-place ops
(backends/c/inplace.py): never larger than the plain plan, and still bit-exact.

- every generating model of the shared corpus: arena <= the plain plan's (host and M4);
- host C with an ADVERSARIAL arena: the whole arena starts as random bytes and, after each
  node, every byte that holds no live tensor is overwritten with fresh junk (through the
  PJ_PROFILE node hook), so a plan that reads a dead or never-written byte shows; outputs
  must equal the reference interpreter's (itself bit-exact with TFLM);
- QEMU Cortex-M4 for the MLPerf Tiny four: bit-exact, and the firmware's static arena is
  the new, smaller one;
- the per-kernel safety check itself: placements one alignment step closer than the proven
  one are rejected, and the closed form agrees with a brute-force scan.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from oracles import SHARED_MODELS
from picojoule.backends import qemu
from picojoule.backends.c import generate
from picojoule.backends.c import inplace as cip
from picojoule.backends.c.generator import CTYPES, WARN_FLAGS, write
from picojoule.backends.host import find_cc
from picojoule.errors import UnsupportedOpError
from picojoule.importers.tflite import load
from picojoule.ir.dtypes import to_numpy
from picojoule.runtime.reference import Interpreter, random_inputs

ALL = sorted(SHARED_MODELS.rglob("*.tflite"))
IDS = [str(p.relative_to(SHARED_MODELS)) for p in ALL]
MLPERF = {k: SHARED_MODELS / "mlperf_tiny" / f"{k}_int8.tflite"
          for k in ("kws_dscnn", "vww_mobilenetv1_96", "ic_resnet8", "ad_toycar_fcae")}
_MODELS: dict[Path, object] = {}


def _model(path: Path):
    if path not in _MODELS:
        _MODELS[path] = load(path)
    return _MODELS[path]


def _generate_or_skip(path: Path, **kw):
    try:
        return generate(_model(path), name="m", **kw)
    except UnsupportedOpError as e:
        pytest.skip(f"C backend: {str(e).removeprefix('C backend: ')}")


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_arena_never_grows(path: Path) -> None:
    for target in ("host", "cortex-m4"):
        new = _generate_or_skip(path, target=target)
        old = generate(_model(path), name="m", target=target, inplace=False)
        assert new.arena_size <= old.arena_size, f"{target}: {new.arena_size} > {old.arena_size}"
        assert not old.meta["inplace"]
        if new.meta["inplace"]:
            assert new.arena_size < old.arena_size


@pytest.mark.parametrize("key, at_most", [("kws_dscnn", 11000), ("vww_mobilenetv1_96", 40000),
                                          ("ic_resnet8", 34000)])
def test_mlperf_arenas_shrink(key: str, at_most: int) -> None:
    """Before: KWS 17,392 B, VWW 55,328 B, IC 49,728 B on the M4."""
    gen = generate(_model(MLPERF[key]), name="m", target="cortex-m4")
    assert gen.arena_size <= at_most
    assert gen.meta["inplace"]


# ------------------------------------------------------------------ adversarial host run
def _live_after(gen, step: int) -> list[tuple[int, int]]:
    """Arena byte ranges holding a live tensor after the node run at ``step``."""
    half = gen.meta["lifetime_unit"] == "half-step"
    out = []
    for _, off, size, first, last in gen.meta["plan"]:
        if half:
            live = first <= 2 * step + 1 and last >= 2 * step + 2
        else:
            live = first <= step < last
        if live and size:
            out.append((off, off + size))
    return out


def _dead_ranges(gen, step: int) -> list[tuple[int, int]]:
    if step == len(gen.meta["order"]) - 1:
        return []  # the graph outputs are copied out after the last node
    live = sorted(_live_after(gen, step))
    dead, pos = [], 0
    for lo, hi in live:
        if lo > pos:
            dead.append((pos, lo))
        pos = max(pos, hi)
    if pos < gen.arena_size:
        dead.append((pos, gen.arena_size))
    return dead


def _poison_c(gen) -> str:
    """pj_profile_node(k): junk into every dead byte after node k (xorshift, per call)."""
    table, starts = [], []
    for step, k in enumerate(gen.meta["order"]):
        starts.append((k, len(table) // 2))
        for lo, hi in _dead_ranges(gen, step):
            table += [lo, hi]
    nodes = max([k for k, _ in starts], default=0) + 1
    first = [0] * (nodes + 1)
    count = [0] * nodes
    for step, (k, at) in enumerate(starts):
        first[k] = at
        count[k] = len(_dead_ranges(gen, step))
    return "\n".join([
        "#include <stdint.h>",
        "uint8_t *pj_test_arena;",
        "uint32_t pj_test_seed = 12345u;",
        f"static const int32_t ranges[{max(len(table), 1)}] = "
        f"{{{', '.join(map(str, table)) or '0'}}};",
        f"static const int32_t first[{nodes + 1}] = {{{', '.join(map(str, first))}}};",
        f"static const int32_t count[{nodes}] = {{{', '.join(map(str, count))}}};",
        "void pj_profile_node(int k);",
        "void pj_profile_node(int k)",
        "{",
        "    int32_t r, i;",
        "    for (r = first[k]; r < first[k] + count[k]; ++r) {",
        "        for (i = ranges[2 * r]; i < ranges[2 * r + 1]; ++i) {",
        "            pj_test_seed ^= pj_test_seed << 13;",
        "            pj_test_seed ^= pj_test_seed >> 17;",
        "            pj_test_seed ^= pj_test_seed << 5;",
        "            pj_test_arena[i] = (uint8_t)pj_test_seed;",
        "        }",
        "    }",
        "}",
        "",
    ])


def _run_poisoned(gen, tmp: Path, feeds) -> list[list[np.ndarray]]:
    tmp.mkdir(parents=True, exist_ok=True)
    write(gen, tmp)
    (tmp / "poison.c").write_text(_poison_c(gen))
    so = tmp / "libpoison.so"
    cmd = [find_cc(), *WARN_FLAGS, "-O1", "-fPIC", "-shared", "-DPJ_PROFILE",
           *gen.sources, "poison.c", "-o", so.name]
    subprocess.run(cmd, cwd=tmp, check=True, capture_output=True, timeout=300)
    lib = ctypes.CDLL(str(so))
    fn = getattr(lib, f"{gen.name}_invoke_with_arena")
    fn.restype = ctypes.c_int
    arena = np.random.default_rng(7).integers(0, 256, gen.arena_size + 16, dtype=np.uint8)
    ctypes.c_void_p.in_dll(lib, "pj_test_arena").value = arena.ctypes.data
    results = []
    for x in feeds:
        arena[:] = np.random.default_rng(len(results)).integers(0, 256, arena.size,
                                                                 dtype=np.uint8)
        outs = [np.empty(v.shape, to_numpy(v.dtype)) for v in gen.outputs]
        args = [np.ascontiguousarray(a).ctypes.data for a in x] + [o.ctypes.data for o in outs]
        assert fn(ctypes.c_void_p(arena.ctypes.data), *[ctypes.c_void_p(a) for a in args]) == 0
        results.append(outs)
    return results


def _stateful(model) -> bool:
    return any(v.variable for v in model.main.values()) or any(
        n.op.startswith("CUSTOM:Signal") for n in model.main.nodes)


def _check_poisoned(path: Path, tmp: Path, dsp: bool | None) -> None:
    gen = _generate_or_skip(path, target="host", dsp=dsp)
    model = _model(path)
    if _stateful(model) or any(v.dtype not in CTYPES for v in gen.inputs):
        pytest.skip("stateful model (covered by test_codegen_corpus)")
    if not gen.meta["inplace"] and gen.meta["lifetime_unit"] != "half-step":
        pytest.skip("plain plan (no in-place, no reordering): covered by test_codegen_corpus")
    ref = Interpreter(model)
    feeds = [random_inputs(model.main, s) for s in (0, 1)]
    want = [[o.copy() for o in ref.run(x)] for x in feeds]
    got = _run_poisoned(gen, tmp, feeds)
    for k, (g, w) in enumerate(zip(got, want)):
        for i, (a, b) in enumerate(zip(g, w)):
            if a.dtype.kind == "f":
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(np.abs(b).max()))
            else:
                assert np.array_equal(a, b), f"{path.name} run {k} output {i}: C != reference"


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_host_poisoned_arena_matches_reference(path: Path, tmp_path: Path) -> None:
    _check_poisoned(path, tmp_path, None)


@pytest.mark.parametrize("key", list(MLPERF))
def test_host_poisoned_smlad_layout(key: str, tmp_path: Path) -> None:
    """The Cortex-M kernels (pj_conv_s8_w16, pj_dwconv_s8_fast) in place, on the host."""
    _check_poisoned(MLPERF[key], tmp_path, True)


def test_poison_catches_a_bad_plan(tmp_path: Path) -> None:
    """The harness is not blind: shifting one in-place output by 16 bytes toward the
    still-unread input corrupts the result."""
    gen = generate(_model(MLPERF["kws_dscnn"]), name="m", target="host")
    k, (index, _, delta) = min(((k, v) for k, v in gen.meta["inplace"].items() if v[2]),
                               key=lambda kv: abs(kv[1][2]))
    src = gen.files["m.c"]
    at = src.index(f"/* {k}: ")
    end = src.index("PJ_NODE_DONE", at)
    call = src[at:end]
    hits = list(re.finditer(r"arena \+ (\d+)\)", call))  # in0, out0, scratch
    out = hits[1]
    bad = call[:out.start()] + f"arena + {int(out.group(1)) + 16})" + call[out.end():]
    gen.files["m.c"] = src[:at] + bad + src[end:]
    model = _model(MLPERF["kws_dscnn"])
    feeds = [random_inputs(model.main, 0)]
    want = Interpreter(model).run(feeds[0])
    got = _run_poisoned(gen, tmp_path, feeds)[0]
    assert delta <= 0 and index == 0
    assert not all(np.array_equal(a, b) for a, b in zip(got, want))


# ----------------------------------------------------------------------------- QEMU M4
_MISSING = qemu.toolchain_missing()


@pytest.mark.skipif(_MISSING is not None, reason=str(_MISSING))
@pytest.mark.parametrize("key", list(MLPERF))
def test_qemu_m4_bit_exact_with_smaller_arena(key: str) -> None:
    model = _model(MLPERF[key])
    gen = generate(model, name=key, target="cortex-m4")
    old = generate(model, name=key, target="cortex-m4", inplace=False)
    assert gen.arena_size <= old.arena_size
    fw = qemu.build(gen, "mps2-an386")
    ref = Interpreter(model)
    feeds = [random_inputs(model.main, s) for s in (0, 1)]
    for x, (outs, _) in zip(feeds, fw.run_many(feeds, timeout=60)):
        for a, b in zip(outs, ref.run(x)):
            assert np.array_equal(a, b), f"{key}: M4 != reference"
    assert fw.model_sizes["bss"] >= gen.arena_size


# -------------------------------------------------------------------- the kernel proofs
@pytest.mark.parametrize("key", ["kws_dscnn", "vww_mobilenetv1_96", "ic_resnet8"])
@pytest.mark.parametrize("dsp", [False, True])
def test_kernel_proof_is_tight_and_checked(key: str, dsp: bool) -> None:
    """For every conv / depthwise / add node: the closed-form shift passes the independent
    byte-level check, and one byte less fails it (the bound is tight)."""
    from picojoule.backends.c import emitters  # noqa: F401
    from picojoule.backends.c.generator import Context, emitter_for, get_target

    g = _model(MLPERF[key]).main
    ctx = Context("m", get_target("host"), dsp)
    seen = reverse = 0
    for node in g.nodes:
        call = emitter_for(node)(ctx, node).call
        kc = cip.kernel_chunks(node, call, 0)
        if kc is None:
            continue
        seen += 1
        s = cip.min_shift(kc)
        assert cip.is_safe(kc, -s), node.name
        if s > 0:
            assert not cip.is_safe(kc, -(s - 1)), node.name
        rc = cip.reverse_chunks(node, call, 0)
        if rc is not None:
            reverse += 1
            u = cip.min_lift(rc)
            assert cip.is_safe(rc, u), node.name
            if u > 0:
                assert not cip.is_safe(rc, u - 1), node.name
            # Run forward, the same placement is not safe when the output pixels grow.
            if node.outputs[0].shape[-1] > node.inputs[0].shape[-1]:
                fwd = cip.KernelChunks(rc.last_read, rc.unit_bytes, rc.write_end,
                                       rc.first_read, "forward")
                assert not cip.is_safe(fwd, u), node.name
    assert seen >= 3
    assert reverse >= (1 if key != "kws_dscnn" else 0)


# ------------------------------------------------------- the reverse driver's edge cases
@pytest.mark.parametrize("shape, stride, cout, dsp", [
    ((1, 5, 5, 8), 1, 16, False),    # 25 pixels: the lone last pixel runs first
    ((2, 3, 5, 4), 1, 12, True),     # two batches, odd count, SMLAD layout
    ((1, 6, 7, 8), 2, 24, False),    # strided: one pixel per call
    ((1, 6, 6, 3), 2, 8, True),      # strided, in_c not a multiple of 4 (gather table)
])
def test_reverse_pointwise_conv(shape, stride, cout, dsp, tmp_path: Path, monkeypatch) -> None:
    """Growing 1x1 convolutions run in place last chunk first, bit-exact (poisoned arena).
    The forward placement (equally small here) is withheld so the reverse driver runs."""
    from opkit import const, q, single_op_model, tensor

    every = cip.placements
    monkeypatch.setattr(cip, "placements", lambda *a: [o for o in every(*a)
                                                       if o.order == "reverse"])

    n, h, w, c = shape
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    rng = np.random.default_rng(sum(shape) + stride + cout)
    x = tensor("x", shape, "int8", q(0.05, 3))
    wt = const("w", rng.integers(-127, 128, (cout, 1, 1, c)).astype(np.int8), "int8",
               q(rng.uniform(0.002, 0.02, cout).astype(np.float32), np.zeros(cout), axis=0))
    b = const("b", rng.integers(-500, 500, cout).astype(np.int32), "int32",
              q((0.05 * wt.quant.scale).astype(np.float32), np.zeros(cout), axis=0))
    y = tensor("y", (n, oh, ow, cout), "int8", q(0.1, -5))
    model = single_op_model("CONV_2D", [x, wt, b], [y], dict(
        padding="VALID", stride_h=stride, stride_w=stride, fused_activation_function="NONE"))
    gen = generate(model, name="m", target="host", dsp=dsp)
    assert list(gen.meta["inplace"].items()) == [(0, (0, "reverse",
                                                       gen.meta["inplace"][0][2]))]
    if stride == 1:
        assert gen.meta["inplace"][0][2] == 0  # the output starts where the input does
    assert "last chunk first" in gen.files["m.c"]
    old = generate(model, name="m", target="host", dsp=dsp, inplace=False)
    assert gen.arena_size < old.arena_size
    ref = Interpreter(model)
    feeds = [random_inputs(model.main, s) for s in (0, 1)]
    want = [ref.run(x_)[0].copy() for x_ in feeds]
    for got, w_ in zip(_run_poisoned(gen, tmp_path / "ok", feeds), want):
        assert np.array_equal(got[0], w_)
    # The same placement run first chunk first corrupts the result: the order matters.
    src = gen.files["m.c"]
    loop = re.search(r"for \(i = (\d+); i >= 0; --i\)", src)
    gen.files["m.c"] = src.replace(loop.group(0), f"for (i = 0; i <= {loop.group(1)}; ++i)")
    got = _run_poisoned(gen, tmp_path / "bad", feeds)
    assert not all(np.array_equal(g[0], w_) for g, w_ in zip(got, want))
