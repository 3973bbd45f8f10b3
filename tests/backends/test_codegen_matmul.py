"""Generated C for BATCH_MATMUL (float32, int8, int16) against TFLM.

Seeded random configurations: ranks 2-5 for each operand, broadcast batch dimensions,
adj_x / adj_y, constant or runtime rhs, inner and outer sizes that are not multiples of 4.
int8 runs both bodies on the host (portable, and the SMLAD body with its quad layout,
whose DSP instructions are emulated in C there) and on the emulated Cortex-M4 (real SMLAD);
a sample runs on the emulated Cortex-M55. Expected values come from TFLM only.
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import const, q, run_oracle, single_op_model, tensor
from oracles import assert_same

from picojoule.backends import host, qemu
from picojoule.backends.c.generator import generate

_QEMU = qemu.toolchain_missing() is None


def _config(seed: int):
    """(dtype, lhs shape, rhs shape, out shape, adj_x, adj_y, const rhs) for a seed."""
    rng = np.random.default_rng(5000 + seed)
    dtype = ["int8", "int8", "float32", "int16"][seed % 4]
    nb = int(rng.integers(0, 4))                      # output batch dimensions: ranks 2-5
    out_batch = [int(v) for v in rng.integers(1, 4, nb)]

    def operand_batch() -> list[int]:
        keep = int(rng.integers(0, nb + 1))           # may have fewer batch dimensions
        dims = out_batch[nb - keep:]
        return [d if rng.random() < 0.6 else 1 for d in dims]

    lb, rb = operand_batch(), operand_batch()
    out_batch = list(np.broadcast_shapes(tuple(lb), tuple(rb))) if nb else []
    m, k, n = (int(v) for v in rng.integers(1, 11, 3))
    if seed % 5 == 0:
        k = int(rng.integers(17, 70))                 # longer dot products
    adj_x, adj_y = bool(rng.random() < 0.4), bool(rng.random() < 0.5)
    lhs = (*lb, *((k, m) if adj_x else (m, k)))
    rhs = (*rb, *((n, k) if adj_y else (k, n)))
    return dtype, lhs, rhs, (*out_batch, m, n), adj_x, adj_y, bool(rng.random() < 0.5), rng


def _model(seed: int):
    dtype, ls, rs, os_, adj_x, adj_y, rconst, rng = _config(seed)
    if dtype == "float32":
        ql = qr = qo = None
        r_vals = rng.standard_normal(rs).astype(np.float32) * 3
    else:
        if dtype == "int8":
            zp = rng.integers(-60, 60, 3)
            ql = q(0.02 + 0.05 * rng.random(), int(zp[0]))
            qr = q(0.02 + 0.05 * rng.random(), int(zp[1]))
            qo = q(0.05 + 0.5 * rng.random(), int(zp[2]))
        else:
            ql, qr = q(1e-4 * (1 + rng.random())), q(2e-4 * (1 + rng.random()))
            qo = q(2e-4 * (1 + 5 * rng.random()))
        lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
        r_vals = rng.integers(lo, hi + 1, rs).astype(dtype)
    lhs = tensor("lhs", ls, dtype, ql)
    rhs = const("rhs", r_vals, quant=qr) if rconst else tensor("rhs", rs, dtype, qr)
    out = tensor("out", os_, dtype, qo)
    m = single_op_model("BATCH_MATMUL", [lhs, rhs], [out], attrs=dict(
        adj_x=adj_x, adj_y=adj_y, asymmetric_quantize_inputs=False))
    feeds = []
    for k in range(3):
        xs = [_values(rng, ls, dtype, k)]
        if not rconst:
            xs.append(_values(rng, rs, dtype, k))
        feeds.append(xs)
    return m, feeds, dtype


def _values(rng, shape, dtype: str, k: int) -> np.ndarray:
    if dtype == "float32":
        return (rng.standard_normal(shape) * (1 + 9 * k)).astype(np.float32)
    lo, hi = (-128, 127) if dtype == "int8" else (-32768, 32767)
    if k == 2:  # extremes: the largest accumulators
        return rng.choice(np.array([lo, hi], dtype), shape)
    return rng.integers(lo, hi + 1, shape).astype(dtype)


def _compare(results, want) -> None:
    for where, got in results:
        for k, (g, w) in enumerate(zip(got, want)):
            assert len(g) == len(w)
            for a, b in zip(g, w):
                assert_same(a, b, f"{where} feed {k}", rtol=1e-5)


SEEDS = range(24)


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_matmul(seed: int) -> None:
    model, feeds, dtype = _model(seed)
    want = run_oracle(model, feeds, "tflm")
    results = [("host", [host.build(model, name="bmm").run(x) for x in feeds])]
    if dtype == "int8":  # the SMLAD body and its layouts, DSP instructions emulated
        lib = host.build(model, name="bmm", dsp=True)
        results.append(("host-dsp", [lib.run(x) for x in feeds]))
    if _QEMU and seed % 3 == 0:
        fw = qemu.build(model, "mps2-an386", name="bmm")
        results.append(("m4", [outs for outs, _ in fw.run_many(feeds, timeout=120)]))
    _compare(results, want)


@pytest.mark.skipif(not _QEMU, reason="arm-none-eabi-gcc / qemu-system-arm missing")
@pytest.mark.parametrize("seed", [1, 5])
def test_batch_matmul_m55(seed: int) -> None:
    model, feeds, _ = _model(seed)
    want = run_oracle(model, feeds, "tflm")
    fw = qemu.build(model, "mps3-an547", name="bmm")
    _compare([("m55", [outs for outs, _ in fw.run_many(feeds, timeout=120)])], want)


@pytest.mark.parametrize("const_rhs", [False, True])
def test_batch_matmul_attention_int8(const_rhs: bool) -> None:
    """A transformer-sized int8 product (QK^T: adj_y, 4 heads, 24 x 32 x 24) with
    asymmetric operands, on the portable and SMLAD bodies; the M4 runs the SMLAD body."""
    rng = np.random.default_rng(77 + const_rhs)
    lhs = tensor("q", (1, 4, 24, 32), "int8", q(0.03, 7))
    rv = rng.integers(-128, 128, (1, 4, 24, 32)).astype(np.int8)
    rhs = (const("k", rv, quant=q(0.04, -11)) if const_rhs
           else tensor("k", (1, 4, 24, 32), "int8", q(0.04, -11)))
    out = tensor("s", (1, 4, 24, 24), "int8", q(0.6, 3))
    model = single_op_model("BATCH_MATMUL", [lhs, rhs], [out], attrs=dict(
        adj_x=False, adj_y=True, asymmetric_quantize_inputs=False))
    feeds = [[rng.integers(-128, 128, (1, 4, 24, 32)).astype(np.int8),
              *([] if const_rhs else [rng.integers(-128, 128, (1, 4, 24, 32)).astype(np.int8)])]
             for _ in range(2)]
    want = run_oracle(model, feeds, "tflm")
    results = [("host", [host.build(model, name="bmm").run(x) for x in feeds]),
               ("host-dsp", [host.build(model, name="bmm", dsp=True).run(x) for x in feeds])]
    if _QEMU:
        fw = qemu.build(model, "mps2-an386", name="bmm")
        results.append(("m4", [outs for outs, _ in fw.run_many(feeds, timeout=120)]))
    _compare(results, want)


# (dtype, lhs, rhs, adj_x, adj_y, const rhs): ranks 5, broadcasts on several dimensions
EXPLICIT = [("int8", (2, 1, 3, 5, 6), (1, 2, 1, 6, 7), False, False, False),
            ("int8", (2, 1, 3, 6, 5), (2, 3, 7, 6), True, True, True),
            ("int16", (1, 2, 2, 4, 3), (3, 1, 1, 3, 5), False, False, True),
            ("float32", (3, 2, 1, 4, 3), (2, 2, 5, 3), False, True, False)]


@pytest.mark.parametrize("case", range(len(EXPLICIT)))
def test_batch_matmul_rank5(case: int) -> None:
    dtype, ls, rs, adj_x, adj_y, rconst = EXPLICIT[case]
    rng = np.random.default_rng(900 + case)
    lm = ls[-1] if adj_x else ls[-2]
    rn = rs[-2] if adj_y else rs[-1]
    os_ = (*np.broadcast_shapes(ls[:-2], rs[:-2]), lm, rn)
    qs = {"int8": (q(0.03, 5), q(0.05, -9), q(0.4, -2)), "int16": (q(1e-4), q(3e-4), q(2e-3)),
          "float32": (None, None, None)}[dtype]
    r_vals = _values(rng, rs, dtype, 0)
    rhs = const("rhs", r_vals, quant=qs[1]) if rconst else tensor("rhs", rs, dtype, qs[1])
    model = single_op_model("BATCH_MATMUL", [tensor("lhs", ls, dtype, qs[0]), rhs],
                            [tensor("out", os_, dtype, qs[2])],
                            attrs=dict(adj_x=adj_x, adj_y=adj_y, asymmetric_quantize_inputs=False))
    feeds = [[_values(rng, ls, dtype, k), *([] if rconst else [_values(rng, rs, dtype, k)])]
             for k in range(3)]
    want = run_oracle(model, feeds, "tflm")
    results = [("host", [host.build(model, name="bmm").run(x) for x in feeds])]
    if dtype == "int8":
        lib = host.build(model, name="bmm", dsp=True)
        results.append(("host-dsp", [lib.run(x) for x in feeds]))
    if _QEMU and case < 2:
        fw = qemu.build(model, "mps2-an386", name="bmm")
        results.append(("m4", [outs for outs, _ in fw.run_many(feeds, timeout=120)]))
    _compare(results, want)


def test_dsp_body_selected() -> None:
    """int8 on a DSP core calls the SMLAD kernel; elsewhere the portable one."""
    model, _, _ = _model(0)
    assert "pj_bmm_s8_dsp(" in generate(model, target="cortex-m4").files["model.c"]
    assert "pj_bmm_s8(" in generate(model, target="cortex-m0plus").files["model.c"]
