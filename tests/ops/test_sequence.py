"""Property tests of SVDF and UNIDIRECTIONAL_SEQUENCE_LSTM against TFLM's reference kernels.

Random small configurations from fixed seeds: every model is written with picojoule's writer
and run on three inputs in sequence through one interpreter on each side, so the variable
state tensors (SVDF activation state, LSTM hidden and cell state) carry over between runs
and every run's outputs must match TFLM exactly (integers) or within 1e-5 (float32).
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import check_op, const, q, single_op_model, tensor, variable
from picojoule.errors import UnsupportedOpError
from picojoule.ops import node_macs
from picojoule.runtime import Interpreter

F32 = np.float32


# ------------------------------------------------------------------------------------------
# SVDF
# ------------------------------------------------------------------------------------------

def _svdf_model(seed: int, kind: str, *, with_bias: bool = True):
    """A random SVDF; kind: "int8x16" (int16 weights_time/state), "int8x8" or "float32"."""
    rng = np.random.default_rng(seed)
    batch = int(rng.integers(1, 4))
    n_in = int(rng.integers(1, 20))
    memory = int(rng.integers(1, 9))
    rank = int(rng.integers(1, 4))
    units = int(rng.integers(1, 7))
    filters = units * rank
    # TFLM's integer SVDF ignores the fused activation (only clamps to int8); float applies it.
    acts = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1", "TANH"] if kind == "float32" else \
        ["NONE", "RELU"]
    act = str(rng.choice(acts))
    attrs = dict(rank=rank, fused_activation_function=act, asymmetric_quantize_inputs=False)
    if kind == "float32":
        x = tensor("x", (batch, n_in), "float32")
        wf = const("wf", rng.standard_normal((filters, n_in)).astype(F32) * F32(0.5))
        wt = const("wt", rng.standard_normal((filters, memory)).astype(F32) * F32(0.5))
        b = const("b", rng.standard_normal(units).astype(F32)) if with_bias else None
        st = variable("state", (batch, filters * memory), "float32")
        y = tensor("y", (batch, units), "float32")
        return single_op_model("SVDF", [x, wf, wt, b, st], [y], attrs), (batch, filters, n_in,
                                                                         memory)
    st_dtype = "int16" if kind == "int8x16" else "int8"
    s_in = float(rng.uniform(0.01, 0.1))
    s_wf = float(rng.uniform(0.002, 0.02))
    s_wt = float(rng.uniform(0.002, 0.02))
    # Choose the state scale so the feature products land mostly inside the state's range.
    typical = 64 * 64 * np.sqrt(n_in) * s_in * s_wf
    st_typ = 3000.0 if st_dtype == "int16" else 40.0  # typical |state| in its own units
    s_st = typical / st_typ * rng.uniform(0.5, 2.0)
    zp_st = 0 if st_dtype == "int16" else int(rng.integers(-20, 21))
    wt_lim = 32767 if st_dtype == "int16" else 127
    # Output ~ +-40 int8 steps for a typical time dot product.
    acc_typ = st_typ * wt_lim / np.sqrt(3) * np.sqrt(memory * rank)
    s_out = acc_typ * s_st * s_wt / 40.0 * rng.uniform(0.5, 2.0)
    s_bias = float(F32(F32(s_st) * F32(s_wt)))  # TFLM requires bias scale ~= state * wt
    x = tensor("x", (batch, n_in), "int8", q(s_in, int(rng.integers(-128, 128))))
    wf = const("wf", rng.integers(-127, 128, (filters, n_in), dtype=np.int8), quant=q(s_wf))
    wt = const("wt", rng.integers(-wt_lim, wt_lim + 1, (filters, memory)).astype(st_dtype),
               dtype=st_dtype, quant=q(s_wt))
    bmax = int(acc_typ)
    b = const("b", rng.integers(-bmax, bmax + 1, units).astype(np.int32), quant=q(s_bias))
    st = variable("state", (batch, filters * memory), st_dtype, q(s_st, zp_st))
    y = tensor("y", (batch, units), "int8", q(s_out, int(rng.integers(-128, 128))))
    return single_op_model("SVDF", [x, wf, wt, b, st], [y], attrs), (batch, filters, n_in,
                                                                     memory)


@pytest.mark.parametrize("kind", ["int8x16", "int8x8", "float32"])
@pytest.mark.parametrize("seed", range(6))
def test_svdf_matches_tflm(kind: str, seed: int) -> None:
    model, (batch, filters, n_in, memory) = _svdf_model(100 * seed + len(kind), kind)
    outs = check_op(model, seeds=(seed, seed + 10, seed + 20))
    if kind != "float32":
        # Non-degenerate: not every output saturated to one value.
        assert len(np.unique(np.concatenate([o[0].ravel() for o in outs]))) > 1 or \
            outs[0][0].size == 1
    assert node_macs(model.main.nodes[0]) == batch * (filters * n_in + filters * memory)


@pytest.mark.parametrize("seed", range(3))
def test_svdf_float_without_bias(seed: int) -> None:
    """The bias is optional in the schema, but TFLM's SVDF Prepare dereferences it (the
    process segfaults), so LiteRT's reference kernel is the oracle for a bias-less SVDF."""
    model, _ = _svdf_model(7 + seed, "float32", with_bias=False)
    check_op(model, oracle="litert_ref", seeds=(seed, seed + 1, seed + 2))


def test_svdf_state_persists_and_shifts() -> None:
    """Hand-derived float SVDF (1 filter, memory 3, weights_time [1, 2, 4]): the state is a
    delay line, so output_t = x_{t-2} + 2 x_{t-1} + 4 x_t (feature weight 1)."""
    x = tensor("x", (1, 1), "float32")
    wf = const("wf", np.ones((1, 1), F32))
    wt = const("wt", np.array([[1, 2, 4]], F32))
    st = variable("state", (1, 3), "float32")
    y = tensor("y", (1, 1), "float32")
    model = single_op_model("SVDF", [x, wf, wt, None, st], [y],
                            dict(rank=1, fused_activation_function="NONE"))
    interp = Interpreter(model)
    got = [float(interp.run([np.array([[v]], F32)])[0][0, 0]) for v in (1.0, 10.0, 100.0)]
    assert got == [4.0, 42.0, 421.0]
    interp.reset()
    assert float(interp.run([np.array([[1.0]], F32)])[0][0, 0]) == 4.0


# ------------------------------------------------------------------------------------------
# UNIDIRECTIONAL_SEQUENCE_LSTM
# ------------------------------------------------------------------------------------------

def _lstm_model(seed: int, kind: str, *, time_major: bool | None = None,
                extra: dict[int, object] | None = None):
    """A random standard LSTM; kind: "int8", "int16" (16x8) or "float32"."""
    rng = np.random.default_rng(seed)
    batch = int(rng.integers(1, 4))
    steps = int(rng.integers(1, 7))
    n_in = int(rng.integers(1, 12))
    n_s = int(rng.integers(1, 10))
    if time_major is None:
        time_major = bool(rng.integers(0, 2))
    clip = float(rng.choice([0.0, 1.5, 3.0, 10.0]))
    attrs = dict(fused_activation_function="TANH", cell_clip=clip, proj_clip=0.0,
                 time_major=time_major, asymmetric_quantize_inputs=False,
                 diagonal_recurrent_tensors=False)
    in_shape = (steps, batch, n_in) if time_major else (batch, steps, n_in)
    out_shape = in_shape[:2] + (n_s,)
    ins: list = [None] * 24
    if kind == "float32":
        ins[0] = tensor("x", in_shape, "float32")
        for i in range(1, 9):
            cols = n_in if i <= 4 else n_s
            ins[i] = const(f"w{i}", rng.standard_normal((n_s, cols)).astype(F32)
                           * F32(1.0 / np.sqrt(cols)))
        for i in range(12, 16):
            ins[i] = const(f"b{i}", rng.standard_normal(n_s).astype(F32) * F32(0.3))
        ins[18] = variable("h", (batch, n_s), "float32")
        ins[19] = variable("c", (batch, n_s), "float32")
        y = tensor("y", out_shape, "float32")
    else:
        act = kind
        amax = 127 if act == "int8" else 32767
        s_x = float(rng.uniform(0.5, 4.0)) / amax
        zp_x = int(rng.integers(-20, 21)) if act == "int8" else 0
        s_h = 1.0 / amax * float(rng.uniform(0.9, 1.2))
        zp_h = int(rng.integers(-5, 6)) if act == "int8" else 0
        s_c = 2.0 ** -int(rng.choice([11, 12, 13, 15]))
        ins[0] = tensor("x", in_shape, act, q(s_x, zp_x))
        for i in range(1, 9):
            cols, s_src = (n_in, s_x) if i <= 4 else (n_s, s_h)
            # Pre-activations of a few units (Q3.12 saturates at +-8).
            s_w = float(rng.uniform(1.0, 4.0)) / (amax * 0.5 * 64 * np.sqrt(cols) * s_src)
            ins[i] = const(f"w{i}", rng.integers(-127, 128, (n_s, cols), dtype=np.int8),
                           quant=q(s_w))
            if i <= 4:
                s_b = float(F32(F32(s_x) * F32(s_w)))
                bt = np.int32 if act == "int8" else np.int64
                ins[i + 11] = const(f"b{i + 11}", rng.integers(
                    -int(1.0 / s_b), int(1.0 / s_b) + 1, n_s).astype(bt), quant=q(s_b))
        ins[18] = variable("h", (batch, n_s), act, q(s_h, zp_h))
        ins[19] = variable("c", (batch, n_s), "int16", q(s_c))
        y = tensor("y", out_shape, act, q(s_h, zp_h))
    for i, v in (extra or {}).items():
        ins[i] = v
    model = single_op_model("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], attrs)
    return model, (steps * batch, n_s, n_in)


@pytest.mark.parametrize("kind", ["int8", "int16", "float32"])
@pytest.mark.parametrize("seed", range(6))
def test_lstm_matches_tflm(kind: str, seed: int) -> None:
    model, (cells, n_s, n_in) = _lstm_model(1000 + 17 * seed + len(kind), kind,
                                             time_major=bool(seed % 2))
    outs = check_op(model, seeds=(seed, seed + 10, seed + 20))
    if kind != "float32":
        assert len(np.unique(np.concatenate([o[0].ravel() for o in outs]))) > 1 or \
            outs[0][0].size == 1
    assert node_macs(model.main.nodes[0]) == cells * 4 * (n_s * n_in + n_s * n_s)


@pytest.mark.parametrize("index,what", [(9, "peephole"), (16, "projection"),
                                        (20, "layer norm")])
def test_lstm_variants_tflm_rejects_are_unsupported(index: int, what: str) -> None:
    """TFLM's LSTM only evaluates the standard cell; picojoule refuses the variants clearly."""
    n_s = _lstm_model(3, "float32")[0].main.nodes[0].inputs[18].shape[1]
    vec = const("extra", np.ones((n_s, n_s) if index == 16 else n_s, F32))
    model, _ = _lstm_model(3, "float32", extra={index: vec})
    with pytest.raises(UnsupportedOpError, match=what):
        Interpreter(model)
