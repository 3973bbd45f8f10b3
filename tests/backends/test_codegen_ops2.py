"""Generated C kernels of the second op family against TFLM on random single-op models.

int16x8 ADD/SUB, LEAKY_RELU, QUANTIZE (integer requantization), CONV_2D and TRANSPOSE_CONV,
int8 SUB / LEAKY_RELU / TRANSPOSE_CONV, SOFTMAX int8 -> int16 and int16 -> int16, PAD,
STRIDED_SLICE, CONCATENATION, TRANSPOSE, SVDF (with its state carried across runs) and float32 kernels.
Configurations come from fixed seeds. Expected values come from TFLM (opkit.run_oracle),
never from picojoule. Every model runs on the host; each test also runs its models on the
emulated Cortex-M4 (one firmware start per model, all feeds in one run) when the ARM
toolchain and QEMU are installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from opkit import check_c, const, feeds_for, q, run_oracle, single_op_model, tensor, variable
from oracles import assert_same

from picojoule.backends import host, qemu

ACTS = ["NONE", "RELU", "RELU6"]
_QEMU = qemu.toolchain_missing() is None


def _check(model, seeds=(0, 1), m4: bool = True) -> None:
    """Host C (and the M4 firmware) give TFLM's outputs on every feed, run in sequence."""
    check_c(model, seeds=seeds, where=("host", "m4") if m4 else ("host",))


def _out_size(padding: str, size: int, k: int, stride: int, dil: int) -> int:
    keff = (k - 1) * dil + 1
    return (size + stride - 1) // stride if padding == "SAME" else (size - keff) // stride + 1


# --------------------------------------------------------------------------- elementwise
@pytest.mark.parametrize("seed", range(6))
def test_add_sub_int16(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    op = ["ADD", "SUB"][seed % 2]
    shape = (1, int(rng.integers(1, 4)), int(rng.integers(2, 7)), int(rng.integers(1, 9)))
    other = [shape, (1, 1, shape[2], shape[3]), (shape[3],)][seed % 3]
    s1, s2, so = (float(1e-4 + 1e-3 * rng.random()) for _ in range(3))
    a = tensor("a", shape, "int16", q(s1, 0))
    b = tensor("b", other, "int16", q(s2, 0))
    y = tensor("y", shape, "int16", q(so, 0))
    _check(single_op_model(op, [a, b], [y], attrs=dict(fused_activation_function=ACTS[seed % 3]),
                           version=3 if op == "SUB" else 2))


@pytest.mark.parametrize("seed", range(3))
def test_sub_int8(seed: int) -> None:
    rng = np.random.default_rng(1100 + seed)
    shape = (1, 3, int(rng.integers(2, 6)), 4)
    other = [shape, (4,), (1, 3, 1, 4)][seed]
    a = tensor("a", shape, "int8", q(0.02 + 0.05 * rng.random(), int(rng.integers(-20, 20))))
    b = tensor("b", other, "int8", q(0.02 + 0.05 * rng.random(), int(rng.integers(-20, 20))))
    y = tensor("y", shape, "int8", q(0.05 + 0.1 * rng.random(), int(rng.integers(-10, 10))))
    _check(single_op_model("SUB", [a, b], [y], attrs=dict(fused_activation_function=ACTS[seed]),
                           version=2))


@pytest.mark.parametrize("dtype,alpha", [("int16", 0.3), ("int16", 0.01), ("int8", 0.2),
                                         ("int8", -0.5)])
def test_leaky_relu(dtype: str, alpha: float) -> None:
    rng = np.random.default_rng(int(abs(alpha) * 100) + len(dtype))
    zp = (lambda: 0) if dtype == "int16" else (lambda: int(rng.integers(-30, 30)))
    scale = 1e-3 if dtype == "int16" else 0.05
    x = tensor("x", (1, 2, 5, 8), dtype, q(scale * (0.5 + rng.random()), zp()))
    y = tensor("y", (1, 2, 5, 8), dtype, q(scale * (0.5 + rng.random()), zp()))
    _check(single_op_model("LEAKY_RELU", [x], [y], attrs=dict(alpha=alpha), version=2))


@pytest.mark.parametrize("src,dst", [("int16", "int8"), ("int8", "int16"), ("int16", "int32"),
                                     ("int32", "int16"), ("int8", "int8"), ("int16", "int16")])
def test_requantize(src: str, dst: str) -> None:
    rng = np.random.default_rng(len(src) * 7 + len(dst))
    scales = {"int8": 0.05, "int16": 5e-4, "int32": 1e-7}
    zp = {"int8": int(rng.integers(-20, 20)), "int16": 0, "int32": 0}
    x = tensor("x", (2, 17), src, q(scales[src] * (0.5 + rng.random()), zp[src]))
    y = tensor("y", (2, 17), dst, q(scales[dst] * (0.5 + rng.random()), zp[dst]))
    _check(single_op_model("QUANTIZE", [x], [y], version=2))


@pytest.mark.parametrize("beta,scale", [(1.0, 0.1), (0.5, 0.25), (1.0, 0.02)])
def test_softmax_int8_to_int16(beta: float, scale: float) -> None:
    x = tensor("x", (2, 10), "int8", q(scale, 3))
    y = tensor("y", (2, 10), "int16", q(1 / 65536, -32768))
    _check(single_op_model("SOFTMAX", [x], [y], attrs=dict(beta=beta), version=2))



@pytest.mark.parametrize("shape,beta,scale", [((2, 10), 1.0, 1e-3), ((3, 37), 0.5, 5e-4),
                                              ((1, 12), 1.0, 3e-3), ((4, 2, 5), 2.0, 2e-4)])
def test_softmax_int16(shape: tuple, beta: float, scale: float) -> None:
    # TFLM's SoftmaxInt16: zero points 0, output scale 1/32768. Scale 3e-3 spans +-98 in
    # the input, so most differences fall off the exponential table's [-10, 0] range.
    x = tensor("x", shape, "int16", q(scale, 0))
    y = tensor("y", shape, "int16", q(1 / 32768, 0))
    _check(single_op_model("SOFTMAX", [x], [y], attrs=dict(beta=beta), version=3))


def test_int64_array_holds_int64_min() -> None:
    # -9223372036854775808LL is not a C literal (9223372036854775808 does not fit a long
    # long); a saturated int64 bias must still compile.
    from picojoule.backends.c.generator import Context

    ctx = Context("t", None, False)
    ctx.array("b", "int64_t", np.array([np.iinfo(np.int64).min, 5], np.int64))
    text = "".join(ctx.decls)
    assert "(-9223372036854775807LL - 1), 5LL" in text and "-9223372036854775808" not in text


# --------------------------------------------------------------------------- data movement
@pytest.mark.parametrize("seed", range(6))
def test_pad(seed: int) -> None:
    rng = np.random.default_rng(1200 + seed)
    dtype = ["int16", "int8", "float32"][seed % 3]
    rank = int(rng.integers(2, 5))
    shape = tuple(int(v) for v in rng.integers(1, 5, rank))
    pads = rng.integers(0, 3, (rank, 2)).astype(np.int32)
    out = tuple(d + int(p.sum()) for d, p in zip(shape, pads))
    qt = None if dtype == "float32" else q(0.01, int(rng.integers(-5, 5)) if dtype == "int8" else 0)
    x = tensor("x", shape, dtype, qt)
    y = tensor("y", out, dtype, qt)
    if seed == 4:  # PADV2 with its own pad value
        v = const("v", np.array([7], np.int8), quant=qt)
        _check(single_op_model("PADV2", [x, const("p", pads), v], [y]))
    else:
        _check(single_op_model("PAD", [x, const("p", pads)], [y], version=2))


def _slice_shape(shape, begin, end, strides, bmask, emask, smask) -> tuple[int, ...]:
    """Output shape of a strided slice by Python slicing (the TFLite semantics)."""
    idx = []
    for i in range(len(shape)):
        if smask >> i & 1:
            idx.append(begin[i])
        else:
            idx.append(slice(None if bmask >> i & 1 else begin[i],
                             None if emask >> i & 1 else end[i], strides[i]))
    return np.empty(shape)[tuple(idx)].shape


@pytest.mark.parametrize("seed", range(8))
def test_strided_slice(seed: int) -> None:
    rng = np.random.default_rng(1300 + seed)
    dtype = ["int16", "int8", "float32", "int32"][seed % 4]
    rank = int(rng.integers(2, 5))
    shape = tuple(int(v) for v in rng.integers(2, 7, rank))
    while True:
        strides = [int(rng.choice([1, 1, 2, -1, 3])) for _ in range(rank)]
        begin = [int(rng.integers(-d, d)) for d in shape]
        end = [int(rng.integers(-d, d + 1)) for d in shape]
        bmask, emask = int(rng.integers(0, 1 << rank)), int(rng.integers(0, 1 << rank))
        smask = 1 if seed in (3, 6) else 0
        if smask:  # TFLM leaves the output unwritten for a shrunk axis with stride < 0
            strides[0] = 1
        out = _slice_shape(shape, begin, end, strides, bmask, emask, smask)
        if all(out):
            break
    qt = None if dtype in ("float32", "int32") else q(0.01, 0)
    x = tensor("x", shape, dtype, qt)
    y = tensor("y", out, dtype, qt)
    ins = [x, const("b", np.array(begin, np.int32)), const("e", np.array(end, np.int32)),
           const("s", np.array(strides, np.int32))]
    _check(single_op_model("STRIDED_SLICE", ins, [y], attrs=dict(
        begin_mask=bmask, end_mask=emask, shrink_axis_mask=smask, ellipsis_mask=0,
        new_axis_mask=0, offset=False), version=4))


@pytest.mark.parametrize("seed", range(4))
def test_concatenation(seed: int) -> None:
    rng = np.random.default_rng(1400 + seed)
    dtype = ["int16", "int8", "float32", "int32"][seed]
    rank = int(rng.integers(2, 5))
    axis = int(rng.integers(-rank, rank))
    base = [int(v) for v in rng.integers(1, 5, rank)]
    qt = None if dtype in ("float32", "int32") else q(0.02, 3 if dtype == "int8" else 0)
    ins, total = [], 0
    for i in range(int(rng.integers(2, 4))):
        shp = list(base)
        shp[axis] = int(rng.integers(1, 4))
        total += shp[axis]
        ins.append(tensor(f"x{i}", shp, dtype, qt))
    out = list(base)
    out[axis] = total
    y = tensor("y", out, dtype, qt)
    _check(single_op_model("CONCATENATION", ins, [y], attrs=dict(
        axis=axis, fused_activation_function="NONE")))


@pytest.mark.parametrize("seed", range(3))
def test_transpose(seed: int) -> None:
    rng = np.random.default_rng(1500 + seed)
    dtype = ["int8", "int16", "float32"][seed]
    rank = 3 + seed % 2
    shape = tuple(int(v) for v in rng.integers(1, 6, rank))
    perm = [int(p) for p in rng.permutation(rank)]
    qt = None if dtype == "float32" else q(0.02, 0)
    x = tensor("x", shape, dtype, qt)
    y = tensor("y", tuple(shape[p] for p in perm), dtype, qt)
    _check(single_op_model("TRANSPOSE", [x, const("p", np.array(perm, np.int32))], [y],
                           version=2))


# --------------------------------------------------------------------------- 16x8 convs
@pytest.mark.parametrize("seed", range(6))
def test_conv_16x8(seed: int) -> None:
    rng = np.random.default_rng(1600 + seed)
    h, w = (int(v) for v in rng.integers(3, 9, 2))
    cin, cout = int(rng.choice([1, 3, 8])), int(rng.choice([2, 5, 8]))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw = (int(v) for v in rng.integers(1, 3, 2))
    dh, dw = (2, 1) if seed == 5 else (1, 1)
    padding = ["SAME", "VALID"][seed % 2]
    oh, ow = _out_size(padding, h, kh, sh, dh), _out_size(padding, w, kw, sw, dw)
    in_s, out_s = 1e-3 * (0.5 + rng.random()), 4e-3 * (0.5 + rng.random())
    ws = (0.002 + 0.01 * rng.random(cout)).astype(np.float32)
    x = tensor("x", (1, h, w, cin), "int16", q(in_s, 0))
    wt = const("w", rng.integers(-127, 128, (cout, kh, kw, cin), dtype=np.int8),
               quant=q(ws, np.zeros(cout, np.int64)))
    int32_bias = seed == 4
    bias = rng.integers(-30000, 30000, cout).astype(np.int32 if int32_bias else np.int64)
    b = const("b", bias, quant=q(ws * np.float32(in_s), np.zeros(cout, np.int64)))
    y = tensor("y", (1, oh, ow, cout), "int16", q(out_s, 0))
    _check(single_op_model("CONV_2D", [x, wt, b], [y], attrs=dict(
        padding=padding, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw,
        fused_activation_function=ACTS[seed % 3]), version=4))


@pytest.mark.parametrize("seed", range(5))
def test_transpose_conv(seed: int) -> None:
    rng = np.random.default_rng(1700 + seed)
    dtype = "int8" if seed >= 3 else "int16"
    h, w = (int(v) for v in rng.integers(1, 5, 2))
    cin, cout = int(rng.choice([1, 4, 8])), int(rng.choice([2, 3, 8]))
    kh, kw = (int(v) for v in rng.integers(1, 5, 2))
    sh, sw = (int(v) for v in rng.integers(1, 3, 2))
    padding = ["SAME", "VALID"][seed % 2]
    oh = h * sh if padding == "SAME" else (h - 1) * sh + kh
    ow = w * sw if padding == "SAME" else (w - 1) * sw + kw
    int8 = dtype == "int8"
    in_s, out_s = (0.05, 0.2) if int8 else (1e-3, 4e-3)
    in_s, out_s = in_s * (0.5 + rng.random()), out_s * (0.5 + rng.random())
    zp_in, zp_out = (int(rng.integers(-10, 10)), int(rng.integers(-10, 10))) if int8 else (0, 0)
    ws = (0.002 + 0.01 * rng.random(cout)).astype(np.float32)
    x = tensor("x", (1, h, w, cin), dtype, q(in_s, zp_in))
    wt = const("w", rng.integers(-127, 128, (cout, kh, kw, cin), dtype=np.int8),
               quant=q(ws, np.zeros(cout, np.int64)))
    bias = rng.integers(-3000, 3000, cout).astype(np.int32 if int8 else np.int64)
    b = const("b", bias, quant=q(ws * np.float32(in_s), np.zeros(cout, np.int64)))
    shape = const("shape", np.array([1, oh, ow, cout], np.int32))
    y = tensor("y", (1, oh, ow, cout), dtype, q(out_s, zp_out))
    _check(single_op_model("TRANSPOSE_CONV", [shape, wt, x, b], [y], attrs=dict(
        padding=padding, stride_h=sh, stride_w=sw, fused_activation_function="NONE"),
        version=3))


# --------------------------------------------------------------------------- SVDF (state)
@pytest.mark.parametrize("seed", range(4))
def test_svdf_int8(seed: int) -> None:
    """Four runs in sequence: the C library's static state must carry over like TFLM's."""
    rng = np.random.default_rng(1800 + seed)
    batch, n_in, rank = 1 + seed % 2, int(rng.integers(3, 12)), 1 + seed // 2
    units, memory = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    filters = units * rank
    st_type = "int16" if seed != 1 else "int8"
    x = tensor("x", (batch, n_in), "int8", q(0.05, int(rng.integers(-20, 20))))
    wf = const("wf", rng.integers(-127, 128, (filters, n_in), dtype=np.int8), quant=q(0.01, 0))
    wt_np = np.int16 if st_type == "int16" else np.int8
    lim = 2000 if st_type == "int16" else 127
    wt_s, st_s = (0.002, 0.004) if st_type == "int16" else (0.01, 0.05)
    wt = const("wt", rng.integers(-lim, lim, (filters, memory)).astype(wt_np), quant=q(wt_s, 0))
    # TFLM requires bias scale == state scale x weights_time scale.
    b = const("b", rng.integers(-500, 500, units).astype(np.int32),
              quant=q(float(np.float32(st_s)) * float(np.float32(wt_s)), 0))
    st_q = q(st_s, 0 if st_type == "int16" else -3)
    st = variable("state", (batch, filters * memory), st_type, st_q)
    y = tensor("y", (batch, units), "int8", q(0.1, int(rng.integers(-10, 10))))
    _check(single_op_model("SVDF", [x, wf, wt, b, st], [y], attrs=dict(
        rank=rank, fused_activation_function="NONE"), version=1), seeds=(0, 1, 2, 3))


# --------------------------------------------------------------------------- float32
@pytest.mark.parametrize("seed", range(4))
def test_float_conv_depthwise(seed: int) -> None:
    rng = np.random.default_rng(1900 + seed)
    h, w = (int(v) for v in rng.integers(3, 8, 2))
    cin = int(rng.choice([1, 3, 4]))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw = (int(v) for v in rng.integers(1, 3, 2))
    padding = ["SAME", "VALID"][seed % 2]
    oh, ow = _out_size(padding, h, kh, sh, 1), _out_size(padding, w, kw, sw, 1)
    x = tensor("x", (1, h, w, cin), "float32")
    attrs = dict(padding=padding, stride_h=sh, stride_w=sw,
                 fused_activation_function=ACTS[seed % 3])
    if seed < 2:
        cout = int(rng.choice([2, 5]))
        wt = const("w", rng.standard_normal((cout, kh, kw, cin)).astype(np.float32))
        op = "CONV_2D"
    else:
        dm = 1 + seed % 2
        cout = cin * dm
        wt = const("w", rng.standard_normal((1, kh, kw, cout)).astype(np.float32))
        op, attrs["depth_multiplier"] = "DEPTHWISE_CONV_2D", dm
    b = const("b", rng.standard_normal(cout).astype(np.float32))
    y = tensor("y", (1, oh, ow, cout), "float32")
    _check(single_op_model(op, [x, wt, b], [y], attrs=attrs))


@pytest.mark.parametrize("op", ["FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD", "MUL",
                                "SOFTMAX"])
def test_float_misc(op: str) -> None:
    rng = np.random.default_rng(len(op))
    if op == "FULLY_CONNECTED":
        x = tensor("x", (2, 7), "float32")
        wt = const("w", rng.standard_normal((5, 7)).astype(np.float32))
        b = const("b", rng.standard_normal(5).astype(np.float32))
        m = single_op_model(op, [x, wt, b], [tensor("y", (2, 5), "float32")],
                            attrs=dict(fused_activation_function="RELU"))
    elif op.endswith("POOL_2D"):
        x = tensor("x", (1, 5, 6, 3), "float32")
        m = single_op_model(op, [x], [tensor("y", (1, 3, 3, 3), "float32")], attrs=dict(
            padding="SAME", stride_h=2, stride_w=2, filter_height=3, filter_width=2,
            fused_activation_function="NONE"))
    elif op in ("ADD", "MUL"):
        a, b = tensor("a", (1, 3, 4, 2), "float32"), tensor("b", (1, 1, 4, 2), "float32")
        m = single_op_model(op, [a, b], [tensor("y", (1, 3, 4, 2), "float32")],
                            attrs=dict(fused_activation_function="RELU6"))
    else:
        x = tensor("x", (3, 9), "float32")
        m = single_op_model(op, [x], [tensor("y", (3, 9), "float32")], attrs=dict(beta=0.7))
    _check(m)


# --------------------------------------------------------------------------- LSTM (state)
def _lstm_model(rng, dtype: str, batch: int, steps: int, n_in: int, units: int,
                time_major: bool, cell_clip: float):
    """A standard (no CIFG/peephole/projection/layer norm) LSTM as TFLite lays it out."""
    shape = (steps, batch, n_in) if time_major else (batch, steps, n_in)
    oshape = shape[:2] + (units,)
    ins: list = [None] * 24
    if dtype == "int8":
        s_x, zp_x = 0.02 + 0.02 * rng.random(), int(rng.integers(-20, 20))
        s_h, zp_h = 1 / 128, int(rng.integers(-5, 5))
        ins[0] = tensor("x", shape, "int8", q(s_x, zp_x))
        for i in range(1, 9):
            n = n_in if i <= 4 else units
            ws = 0.003 + 0.005 * rng.random()
            ins[i] = const(f"w{i}", rng.integers(-127, 128, (units, n), dtype=np.int8),
                           quant=q(ws, 0))
        for i in range(12, 16):
            ins[i] = const(f"b{i}", rng.integers(-2000, 2000, units).astype(np.int32),
                           quant=q(s_x * 0.005, 0))
        ins[18] = variable("h", (batch, units), "int8", q(s_h, zp_h))
        ins[19] = variable("c", (batch, units), "int16", q(2.0 ** -11, 0))
        y = tensor("y", oshape, "int8", q(s_h, zp_h))
    else:
        ins[0] = tensor("x", shape, "float32")
        for i in range(1, 9):
            n = n_in if i <= 4 else units
            ins[i] = const(f"w{i}", (0.4 * rng.standard_normal((units, n))).astype(np.float32))
        for i in range(12, 16):
            ins[i] = const(f"b{i}", (0.1 * rng.standard_normal(units)).astype(np.float32))
        ins[18] = variable("h", (batch, units), "float32")
        ins[19] = variable("c", (batch, units), "float32")
        y = tensor("y", oshape, "float32")
    return single_op_model("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], attrs=dict(
        fused_activation_function="TANH", cell_clip=cell_clip, proj_clip=0.0,
        time_major=time_major, asymmetric_quantize_inputs=False,
        diagonal_recurrent_tensors=False), version=1)


@pytest.mark.parametrize("seed", range(4))
def test_lstm(seed: int) -> None:
    """int8 (int16 cell) and float32 LSTMs; three runs in sequence carry the state over."""
    rng = np.random.default_rng(2000 + seed)
    dtype = "int8" if seed < 3 else "float32"
    m = _lstm_model(rng, dtype, batch=1 + seed % 2, steps=int(rng.integers(2, 6)),
                    n_in=int(rng.integers(2, 9)), units=int(rng.integers(2, 7)),
                    time_major=seed == 2, cell_clip=[0.0, 3.0, 10.0, 0.0][seed])
    _check(m, seeds=(0, 1, 2))


def test_state_reset_api(tmp_path) -> None:
    """State lives outside the arena: it carries over between invokes, <name>_reset() puts
    it back (the first feed then gives its first result again), and the header says so."""
    from picojoule.backends.c import compile_model

    rng = np.random.default_rng(7)
    x = tensor("x", (1, 6), "int8", q(0.05, 3))
    wf = const("wf", rng.integers(-127, 128, (4, 6), dtype=np.int8), quant=q(0.01, 0))
    wt = const("wt", rng.integers(-2000, 2000, (4, 5)).astype(np.int16), quant=q(0.002, 0))
    b = const("b", rng.integers(-500, 500, 4).astype(np.int32),
              quant=q(float(np.float32(0.004)) * float(np.float32(0.002)), 0))
    st = variable("state", (1, 20), "int16", q(0.004, 0))
    y = tensor("y", (1, 4), "int8", q(0.1, 2))
    m = single_op_model("SVDF", [x, wf, wt, b, st], [y], attrs=dict(rank=1))
    feeds = feeds_for(m, (0, 1, 2))
    want = run_oracle(m, feeds, "tflm")
    lib = host.build(m, name="op")
    lib._lib.op_reset()
    for f, w in zip(feeds, want):  # TFLM's sequence: the state carries over
        assert np.array_equal(lib.run(f)[0], w[0])
    stale = lib.run(feeds[0])[0]  # same input, older state: another result
    assert not np.array_equal(stale, want[0][0])
    lib._lib.op_reset()
    assert np.array_equal(lib.run(feeds[0])[0], want[0][0])
    gen = compile_model(m, tmp_path, target="host", name="op")
    header = gen.files["op.h"]
    assert "void op_reset(void);" in header and "#define OP_STATE_SIZE 40" in header
    assert "arena" not in gen.files["op.c"].split("op_state0")[1].split(";")[0]


@pytest.mark.parametrize("op,out_q", [("LOGISTIC", (1 / 256, -128)), ("TANH", (1 / 128, 0)),
                                      ("RELU", (0.03, -128)), ("RELU6", (6 / 255, -128)),
                                      ("HARD_SWISH", (0.02, -10))])
def test_int8_table_ops(op: str, out_q: tuple[float, int]) -> None:
    """int8 activations compiled to 256-entry tables (odd size: several tabulation passes)."""
    x = tensor("x", (1, 7, 5), "int8", q(0.045, 5))
    y = tensor("y", (1, 7, 5), "int8", q(*out_q))
    _check(single_op_model(op, [x], [y], version=2), seeds=(0, 1, 2))


@pytest.mark.parametrize("scale,zp", [(1e-3, 0), (4e-4, 0)])
def test_quantize_dequantize_int16(scale: float, zp: int) -> None:
    x = tensor("x", (3, 11), "float32")
    y = tensor("y", (3, 11), "int16", q(scale, zp))
    feeds = [[(np.random.default_rng(s).standard_normal((3, 11)) * 40).astype(np.float32)]
             for s in range(3)]
    m = single_op_model("QUANTIZE", [x], [y], version=2)
    want = run_oracle(m, feeds, "tflm")
    lib = host.build(m, name="op")
    for f, w in zip(feeds, want):
        assert_same(lib.run(f)[0], w[0], "quantize float32 -> int16")
    xi = tensor("xi", (3, 11), "int16", q(scale, zp))
    _check(single_op_model("DEQUANTIZE", [xi], [tensor("yf", (3, 11), "float32")], version=3))


@pytest.mark.parametrize("seed", range(4))
def test_depthwise_16x8(seed: int) -> None:
    rng = np.random.default_rng(2100 + seed)
    h, w = (int(v) for v in rng.integers(3, 9, 2))
    cin = int(rng.choice([1, 3, 4]))
    dm = 2 if seed == 1 else 1
    cout = cin * dm
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw = (int(v) for v in rng.integers(1, 3, 2))
    dh, dw = (1, 2) if seed == 3 else (1, 1)
    padding = ["SAME", "VALID"][seed % 2]
    oh, ow = _out_size(padding, h, kh, sh, dh), _out_size(padding, w, kw, sw, dw)
    in_s, out_s = 1e-3 * (0.5 + rng.random()), 2e-3 * (0.5 + rng.random())
    ws = (0.002 + 0.01 * rng.random(cout)).astype(np.float32)
    x = tensor("x", (1, h, w, cin), "int16", q(in_s, 0))
    wt = const("w", rng.integers(-127, 128, (1, kh, kw, cout), dtype=np.int8),
               quant=q(ws, np.zeros(cout, np.int64), axis=3))
    b = const("b", rng.integers(-30000, 30000, cout).astype(np.int64),
              quant=q(ws * np.float32(in_s), np.zeros(cout, np.int64)))
    y = tensor("y", (1, oh, ow, cout), "int16", q(out_s, 0))
    _check(single_op_model("DEPTHWISE_CONV_2D", [x, wt, b], [y], attrs=dict(
        padding=padding, stride_h=sh, stride_w=sw, dilation_h_factor=dh, dilation_w_factor=dw,
        depth_multiplier=dm, fused_activation_function=ACTS[seed % 3]), version=5))


@pytest.mark.parametrize("seed", range(4))
def test_fully_connected_16x8(seed: int) -> None:
    rng = np.random.default_rng(2200 + seed)
    batches, k, n = 1 + seed % 3, int(rng.integers(3, 40)), int(rng.integers(2, 9))
    in_s, out_s = 1e-3 * (0.5 + rng.random()), 0.05 * (0.5 + rng.random())
    per_channel = seed % 2 == 1
    ws = (0.002 + 0.01 * rng.random(n if per_channel else 1)).astype(np.float32)
    x = tensor("x", (batches, k), "int16", q(in_s, 0))
    wt = const("w", rng.integers(-127, 128, (n, k), dtype=np.int8),
               quant=q(ws, np.zeros(ws.size, np.int64)))
    bias_t = np.int32 if seed == 2 else np.int64
    b = const("b", rng.integers(-30000, 30000, n).astype(bias_t),
              quant=q(ws * np.float32(in_s), np.zeros(ws.size, np.int64)))
    y = tensor("y", (batches, n), "int16", q(out_s, 0))
    _check(single_op_model("FULLY_CONNECTED", [x, wt, b], [y], attrs=dict(
        fused_activation_function=ACTS[seed % 3], keep_num_dims=False), version=7))


@pytest.mark.parametrize("op,dtype,seed", [("MAX_POOL_2D", "int8", 0), ("MAX_POOL_2D", "int16", 1),
                                           ("AVERAGE_POOL_2D", "int16", 2),
                                           ("AVERAGE_POOL_2D", "int16", 3),
                                           ("MAX_POOL_2D", "int8", 4)])
def test_int_pools(op: str, dtype: str, seed: int) -> None:
    rng = np.random.default_rng(2300 + seed)
    h, w, c = int(rng.integers(3, 9)), int(rng.integers(3, 9)), int(rng.integers(1, 5))
    kh, kw = (int(v) for v in rng.integers(1, 4, 2))
    sh, sw = (int(v) for v in rng.integers(1, 3, 2))
    padding = ["SAME", "VALID"][seed % 2]
    oh, ow = _out_size(padding, h, kh, sh, 1), _out_size(padding, w, kw, sw, 1)
    qt = q(0.01, int(rng.integers(-5, 5)) if dtype == "int8" else 0)
    x = tensor("x", (1 + seed % 2, h, w, c), dtype, qt)
    y = tensor("y", (1 + seed % 2, oh, ow, c), dtype, qt)
    _check(single_op_model(op, [x], [y], attrs=dict(
        padding=padding, stride_h=sh, stride_w=sw, filter_height=kh, filter_width=kw,
        fused_activation_function=ACTS[seed % 3]), version=3))


@pytest.mark.parametrize("seed", range(4))
def test_mul_quantized(seed: int) -> None:
    rng = np.random.default_rng(2400 + seed)
    dtype = ["int8", "int16"][seed % 2]
    shape = (1, int(rng.integers(1, 4)), int(rng.integers(2, 6)), 3)
    other = [shape, (3,), (1, 1, shape[2], 3), shape][seed]
    base = 0.05 if dtype == "int8" else 1e-3
    zp = (lambda: int(rng.integers(-20, 20))) if dtype == "int8" else (lambda: 0)
    a = tensor("a", shape, dtype, q(base * (0.5 + rng.random()), zp()))
    b = tensor("b", other, dtype, q(base * (0.5 + rng.random()), zp()))
    y = tensor("y", shape, dtype, q(base * base * 60 * (0.5 + rng.random()), zp()))
    _check(single_op_model("MUL", [a, b], [y], attrs=dict(
        fused_activation_function=ACTS[seed % 3]), version=4))
