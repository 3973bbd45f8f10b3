"""Property tests of the data-movement ops (picojoule.ops.shape) against TFLM.

Each test draws random configurations (shapes, axes, masks, paddings, block sizes, quant
parameters) from fixed seeds, builds a one-op model and compares picojoule with TFLM's
reference kernels (LiteRT's reference kernels for TILE, which TFLM lacks, and for the
strided-slice features TFLM ignores).
"""

from __future__ import annotations

import numpy as np
import pytest

from opkit import check_op, const, model_bytes, q, single_op_model, tensor
from picojoule.importers.tflite import loads
from picojoule.runtime import Interpreter

SEEDS = range(6)
DTYPES = ("int8", "int16", "float32")


def _quant(rng: np.random.Generator, dtype: str):
    """Random per-tensor quantization (int16: zero point 0, as TFLite requires)."""
    if dtype == "int8":
        return q(rng.uniform(0.01, 0.2), int(rng.integers(-20, 21)))
    if dtype == "int16":
        return q(rng.uniform(1e-4, 1e-2), 0)
    return None


def _copy(quant):
    return None if quant is None else q(quant.scale, quant.zero_point)


def _shape(rng: np.random.Generator, rank: int, lo: int = 1, hi: int = 5) -> tuple[int, ...]:
    return tuple(int(d) for d in rng.integers(lo, hi + 1, rank))


def _io(rng, in_shape, out_shape, dtype):
    qu = _quant(rng, dtype)
    return tensor("x", in_shape, dtype, qu), tensor("y", out_shape, dtype, _copy(qu))


def _i32(a) -> np.ndarray:
    return np.asarray(a, np.int32)


# ------------------------------------------------------------------------------ reshapes

@pytest.mark.parametrize("seed", SEEDS)
def test_reshape(seed):
    rng = np.random.default_rng(seed)
    dtype = DTYPES[seed % 3] if seed < 5 else "int32"
    shape = _shape(rng, int(rng.integers(1, 5)))
    new = list(rng.permutation(shape)) + [1] * int(rng.integers(0, 2))
    x, y = _io(rng, shape, new, dtype)
    spec = list(new)
    spec[int(rng.integers(len(spec)))] = -1
    m = single_op_model("RESHAPE", [x, const("s", _i32(spec))], [y],
                        attrs=dict(new_shape=[int(d) for d in new]))
    check_op(m)


def test_reshape_is_zero_copy():
    x, y = tensor("x", (2, 3, 4), "int8", q(0.1, 0)), tensor("y", (6, 4), "int8", q(0.1, 0))
    m = single_op_model("RESHAPE", [x, const("s", _i32([6, 4]))], [y], attrs=dict(new_shape=[6, 4]))
    interp = Interpreter(loads(model_bytes(m)))
    a = np.arange(24, dtype=np.int8).reshape(2, 3, 4)
    out = interp.run([a])[0]
    assert np.shares_memory(out, a) and out.shape == (6, 4)


@pytest.mark.parametrize("seed", SEEDS)
def test_squeeze(seed):
    rng = np.random.default_rng(seed)
    shape = list(_shape(rng, int(rng.integers(2, 5)), 2, 4))
    ones = sorted(rng.choice(len(shape), int(rng.integers(1, len(shape))), replace=False))
    for i in ones:
        shape[i] = 1
    dims = [int(i) - (len(shape) if rng.random() < 0.5 else 0) for i in ones]
    if seed == 0:
        dims = []  # squeeze every size-1 dimension
    out = [d for i, d in enumerate(shape) if i not in ones]
    x, y = _io(rng, shape, out, DTYPES[seed % 3])
    check_op(single_op_model("SQUEEZE", [x], [y], attrs=dict(squeeze_dims=dims)))


@pytest.mark.parametrize("seed", SEEDS)
def test_expand_dims(seed):
    rng = np.random.default_rng(seed)
    shape = _shape(rng, int(rng.integers(1, 4)))
    axis = int(rng.integers(-len(shape) - 1, len(shape) + 1))
    pos = axis + len(shape) + 1 if axis < 0 else axis
    out = shape[:pos] + (1,) + shape[pos:]
    x, y = _io(rng, shape, out, DTYPES[seed % 3])
    check_op(single_op_model("EXPAND_DIMS", [x, const("a", _i32([axis]))], [y]))


@pytest.mark.parametrize("out_type,oracle", [("int32", "tflm"), ("int64", "litert_ref")])
def test_shape(out_type, oracle):
    rng = np.random.default_rng(1)
    shape = _shape(rng, 4)
    x = tensor("x", shape, "int8", q(0.1, 3))
    y = tensor("y", (4,), out_type)
    got = check_op(single_op_model("SHAPE", [x], [y], attrs=dict(out_type=out_type)), oracle)
    assert got[0][0].tolist() == list(shape)


@pytest.mark.parametrize("seed", SEEDS)
def test_transpose(seed):
    rng = np.random.default_rng(seed)
    shape = _shape(rng, int(rng.integers(1, 6)), 1, 4)
    perm = rng.permutation(len(shape))
    x, y = _io(rng, shape, [shape[p] for p in perm], DTYPES[seed % 3])
    check_op(single_op_model("TRANSPOSE", [x, const("p", _i32(perm))], [y]))


# ------------------------------------------------------------------------------ join / split

@pytest.mark.parametrize("seed", SEEDS)
def test_concatenation(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "int16", "float32", "int32", "int16", "bool")[seed]
    rank = int(rng.integers(1, 5))
    base = list(_shape(rng, rank))
    axis = int(rng.integers(-rank, rank))
    qu = _quant(rng, dtype)
    xs, total = [], 0
    for i in range(int(rng.integers(2, 5))):
        s = list(base)
        s[axis] = int(rng.integers(1, 4))
        total += s[axis]
        # int16 inputs may carry other scales: TFLM copies the integers unchanged.
        xq = _quant(rng, dtype) if dtype == "int16" else _copy(qu)
        xs.append(tensor(f"x{i}", s, dtype, xq))
    base[axis] = total
    y = tensor("y", base, dtype, _copy(qu))
    check_op(single_op_model("CONCATENATION", xs, [y],
                             attrs=dict(axis=axis, fused_activation_function="NONE")))


@pytest.mark.parametrize("seed", SEEDS)
def test_pack_unpack(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "int16", "float32", "int32", "int64")[seed % 5]
    shape = _shape(rng, int(rng.integers(1, 4)))
    n = int(rng.integers(1, 4))
    axis = int(rng.integers(-len(shape) - 1, len(shape) + 1))
    pos = axis + len(shape) + 1 if axis < 0 else axis
    packed = shape[:pos] + (n,) + shape[pos:]
    qu = _quant(rng, dtype)
    xs = [tensor(f"x{i}", shape, dtype, _copy(qu)) for i in range(n)]
    check_op(single_op_model("PACK", xs, [tensor("y", packed, dtype, _copy(qu))],
                             attrs=dict(values_count=n, axis=axis)))
    if dtype == "int64":
        return  # TFLM's UNPACK has no int64 kernel (PACK has)
    ys = [tensor(f"y{i}", shape, dtype, _copy(qu)) for i in range(n)]
    check_op(single_op_model("UNPACK", [tensor("x", packed, dtype, _copy(qu))], ys,
                             attrs=dict(num=n, axis=axis)))


@pytest.mark.parametrize("seed", SEEDS)
def test_split_and_split_v(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "int16", "float32", "int32")[seed % 4]
    shape = list(_shape(rng, int(rng.integers(1, 5)), 1, 4))
    axis = int(rng.integers(-len(shape), len(shape)))
    n = int(rng.integers(1, 4))
    shape[axis] *= n
    qu = _quant(rng, dtype)
    part = list(shape)
    part[axis] //= n
    ys = [tensor(f"y{i}", part, dtype, _copy(qu)) for i in range(n)]
    check_op(single_op_model("SPLIT", [const("a", _i32([axis])),
                                       tensor("x", shape, dtype, qu)], ys,
                             attrs=dict(num_splits=n)))
    cuts = np.sort(rng.choice(np.arange(1, shape[axis]), n - 1, replace=False))
    sizes = np.diff(np.concatenate([[0], cuts, [shape[axis]]])).astype(int).tolist()
    if n > 1 and rng.random() < 0.5:
        sizes[int(rng.integers(n))] = -1  # "the rest"
    outs = []
    for i, s in enumerate(sizes):
        o = list(shape)
        o[axis] = s if s >= 0 else shape[axis] - (sum(sizes) + 1)
        outs.append(tensor(f"v{i}", o, dtype, _copy(qu)))
    check_op(single_op_model("SPLIT_V", [tensor("x", shape, dtype, _copy(qu)),
                                         const("s", _i32(sizes)), const("a", _i32([axis]))],
                             outs, attrs=dict(num_splits=n)))


# ------------------------------------------------------------------------------ slicing

@pytest.mark.parametrize("seed", SEEDS)
def test_slice(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "int16", "float32", "int32", "bool")[seed % 5]
    shape = _shape(rng, int(rng.integers(1, 5)), 1, 6)
    begin = [int(rng.integers(0, d)) for d in shape]
    size = [int(rng.integers(1, d - b + 1)) for b, d in zip(begin, shape)]
    out = list(size)
    if seed % 2:
        k = int(rng.integers(len(shape)))
        size[k], out[k] = -1, shape[k] - begin[k]
    x, y = _io(rng, shape, out, dtype)
    check_op(single_op_model("SLICE", [x, const("b", _i32(begin)), const("s", _i32(size))], [y]))


def _strided_slice_case(rng, rank):
    """Random begin/end/strides/masks whose result is not empty (TFLM cannot hold those)."""
    while True:
        case = _strided_slice_try(rng, rank)
        if all(d > 0 for d in case[-1]):
            return case


def _strided_slice_try(rng, rank):
    shape = _shape(rng, rank, 1, 7)
    begin, end, strides = [], [], []
    bm = em = sm = 0
    for i, d in enumerate(shape):
        stride = int(rng.choice([1, 1, 2, 3, -1, -2]))
        b = int(rng.integers(-d - 2, d + 2))
        e = int(rng.integers(-d - 2, d + 2))
        if rng.random() < 0.25:
            bm |= 1 << i
        if rng.random() < 0.25:
            em |= 1 << i
        if rng.random() < 0.2:
            sm |= 1 << i
            b = int(rng.integers(-d, d))
            stride = 1
        begin.append(b), end.append(e), strides.append(stride)
    # Output shape by Python slicing semantics (independent of the kernel code).
    out = []
    for i, d in enumerate(shape):
        if sm >> i & 1:
            continue
        s = slice(None if bm >> i & 1 else begin[i], None if em >> i & 1 else end[i], strides[i])
        out.append(len(range(d)[s]))
    return shape, begin, end, strides, dict(begin_mask=bm, end_mask=em, shrink_axis_mask=sm,
                                            ellipsis_mask=0, new_axis_mask=0, offset=False), out


@pytest.mark.parametrize("seed", range(12))
def test_strided_slice(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "int16", "float32", "int32", "bool")[seed % 5]
    shape, b, e, s, attrs, out = _strided_slice_case(rng, int(rng.integers(1, 5)))
    x, y = _io(rng, shape, out, dtype)
    m = single_op_model("STRIDED_SLICE", [x, const("b", _i32(b)), const("e", _i32(e)),
                                          const("s", _i32(s))], [y], attrs=attrs)
    check_op(m)


@pytest.mark.parametrize("case", range(4))
def test_strided_slice_ellipsis_new_axis_offset(case):
    """The features TFLM ignores, against LiteRT's reference kernel.

    case 0: x[1:, ..., ::2] on 4-D; case 1: x[:, None, 1] on 3-D; case 2: x[..., None] on 2-D;
    case 3: offset=True (end = begin + size).
    """
    if case == 0:
        shape, b, e, s = (3, 2, 4, 6), [1, 0, 0], [0, 0, 0], [1, 1, 2]
        attrs, out = dict(end_mask=1 | 4, ellipsis_mask=2, begin_mask=4), (2, 2, 4, 3)
    elif case == 1:
        shape, b, e, s = (3, 4, 5), [0, 0, 1], [0, 0, 2], [1, 1, 1]
        attrs, out = dict(begin_mask=1, end_mask=1, new_axis_mask=2, shrink_axis_mask=4), (3, 1, 5)
    elif case == 2:
        shape, b, e, s = (3, 4), [0, 0], [0, 0], [1, 1]
        attrs, out = dict(ellipsis_mask=1, new_axis_mask=2), (3, 4, 1)
    else:
        shape, b, e, s = (5, 6), [1, 2], [3, 2], [1, 1]
        attrs, out = dict(offset=True), (3, 2)
    full = dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0, shrink_axis_mask=0,
                offset=False)
    full.update(attrs)
    x = tensor("x", shape, "int8", q(0.1, 2))
    y = tensor("y", out, "int8", q(0.1, 2))
    m = single_op_model("STRIDED_SLICE", [x, const("b", _i32(b)), const("e", _i32(e)),
                                          const("s", _i32(s))], [y], attrs=full)
    check_op(m, oracle="litert_ref")


# ------------------------------------------------------------------------------ gathers

@pytest.mark.parametrize("seed", range(8))
def test_gather(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "float32")[seed % 2]
    rank = int(rng.integers(1, 5))
    shape = _shape(rng, rank, 1, 4)
    axis = int(rng.integers(0, rank))
    batch_dims = int(rng.integers(0, axis + 1)) if seed >= 4 else 0
    idx_shape = shape[:batch_dims] + _shape(rng, int(rng.integers(1, 3)), 1, 3)
    idx = rng.integers(0, shape[axis], idx_shape).astype(np.int32)
    out = shape[:axis] + idx_shape[batch_dims:] + shape[axis + 1:]
    x, y = _io(rng, shape, out, dtype)
    neg_axis = axis - rank if seed % 3 == 0 else axis
    check_op(single_op_model("GATHER", [x, const("i", idx)], [y],
                             attrs=dict(axis=neg_axis, batch_dims=batch_dims)))


@pytest.mark.parametrize("seed", SEEDS)
def test_gather_nd(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "float32")[seed % 2]
    shape = _shape(rng, int(rng.integers(1, 5)), 1, 4)
    nd = int(rng.integers(1, len(shape) + 1))
    lead = _shape(rng, int(rng.integers(0, 3)), 1, 3)
    idx = np.stack([rng.integers(0, shape[k], lead) for k in range(nd)], -1).astype(np.int32)
    x, y = _io(rng, shape, lead + shape[nd:], dtype)
    check_op(single_op_model("GATHER_ND", [x, const("i", idx)], [y]))


# ------------------------------------------------------------------------------ padding

@pytest.mark.parametrize("seed", SEEDS)
def test_pad_and_padv2(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "int16", "float32", "int32")[seed % 4]
    shape = _shape(rng, int(rng.integers(1, 5)), 1, 4)
    pads = rng.integers(0, 3, (len(shape), 2))
    out = [d + lo + hi for d, (lo, hi) in zip(shape, pads)]
    x, y = _io(rng, shape, out, dtype)
    check_op(single_op_model("PAD", [x, const("p", _i32(pads))], [y]))
    x, y = _io(rng, shape, out, dtype)
    value = np.array(rng.integers(-100, 100) if dtype != "float32" else rng.normal(),
                     dtype=x.dtype if dtype != "float32" else np.float32)
    cv = const("c", value.astype({"int8": np.int8, "int16": np.int16, "int32": np.int32,
                                  "float32": np.float32}[dtype]), quant=_copy(y.quant))
    check_op(single_op_model("PADV2", [x, const("p", _i32(pads)), cv], [y]))


@pytest.mark.parametrize("dtype,pad", [("int8", 5), ("int16", 0)])
def test_pad_value_is_zero_point_only_for_int8(dtype, pad):
    """Hand-derived: TFLM pads int8 with the output zero point (5) but int16 with 0."""
    x, y = tensor("x", (1, 2), dtype, q(0.1, 5)), tensor("y", (1, 4), dtype, q(0.1, 5))
    got = check_op(single_op_model("PAD", [x, const("p", _i32([[0, 0], [1, 1]]))], [y]),
                   feeds=[[np.array([[7, 9]], np.dtype(dtype))]])
    assert got[0][0].tolist() == [[pad, 7, 9, pad]]


@pytest.mark.parametrize("seed", SEEDS)
def test_mirror_pad(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "float32")[seed % 2]
    mode = seed // 2 % 2
    shape = _shape(rng, int(rng.integers(1, 5)), 2, 5)
    pads = np.array([[rng.integers(0, d - 1 + mode + 1), rng.integers(0, d - 1 + mode + 1)]
                     for d in shape])
    out = [d + lo + hi for d, (lo, hi) in zip(shape, pads)]
    x, y = _io(rng, shape, out, dtype)
    check_op(single_op_model("MIRROR_PAD", [x, const("p", _i32(pads))], [y],
                             attrs=dict(mode=mode)))


# ------------------------------------------------------------------------------ fill / tile

@pytest.mark.parametrize("seed", SEEDS)
def test_tile(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "int16", "float32", "int32", "bool", "int64")[seed]
    shape = _shape(rng, int(rng.integers(1, 5)), 1, 3)
    mult = rng.integers(1, 4, len(shape))
    x, y = _io(rng, shape, [d * m for d, m in zip(shape, mult)], dtype)
    check_op(single_op_model("TILE", [x, const("m", _i32(mult))], [y]), oracle="litert_ref")


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "float32"])
def test_fill_zeros_like_broadcast_to(dtype):
    rng = np.random.default_rng(len(dtype))
    shape = _shape(rng, 3)
    if dtype != "int16":  # TFLM's FILL and ZEROS_LIKE have no int16 kernels
        v = tensor("v", (), dtype)
        check_op(single_op_model("FILL", [const("d", _i32(shape)), v],
                                 [tensor("y", shape, dtype)]))
        x, y = _io(rng, shape, shape, dtype)
        check_op(single_op_model("ZEROS_LIKE", [x], [y]))
    src = tuple(d if rng.random() < 0.5 else 1 for d in shape[1:])
    x, y = _io(rng, src, shape, dtype)
    check_op(single_op_model("BROADCAST_TO", [x, const("s", _i32(shape))], [y]))


# ------------------------------------------------------------------------------ resizes

@pytest.mark.parametrize("seed", range(9))
def test_resize_nearest_neighbor(seed):
    rng = np.random.default_rng(seed)
    dtype = DTYPES[seed % 3]
    align, half = [(False, False), (True, False), (False, True)][seed // 3]
    n, h, w, c = 1 + seed % 2, *(int(v) for v in rng.integers(1, 7, 2)), 2
    oh, ow = (int(v) for v in rng.integers(1, 13, 2))
    x, y = _io(rng, (n, h, w, c), (n, oh, ow, c), dtype)
    check_op(single_op_model("RESIZE_NEAREST_NEIGHBOR", [x, const("s", _i32([oh, ow]))], [y],
                             attrs=dict(align_corners=align, half_pixel_centers=half)))


@pytest.mark.parametrize("seed", range(9))
def test_resize_bilinear(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "float32", "int8")[seed % 3]
    align, half = [(False, False), (True, False), (False, True)][seed // 3]
    n, h, w, c = 1 + seed % 2, *(int(v) for v in rng.integers(1, 7, 2)), 3
    oh, ow = (int(v) for v in rng.integers(1, 13, 2))
    x, y = _io(rng, (n, h, w, c), (n, oh, ow, c), dtype)
    # float32 too is bit-exact: same float32 operations in the same order as TFLM.
    check_op(single_op_model("RESIZE_BILINEAR", [x, const("s", _i32([oh, ow]))], [y],
                             attrs=dict(align_corners=align, half_pixel_centers=half)), rtol=0.0)


# ------------------------------------------------------------------------------ space <-> batch

@pytest.mark.parametrize("seed", range(8))
def test_space_to_batch_and_back(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "float32")[seed % 2]
    rank = 4 if seed < 5 else 3
    nsp = rank - 2
    block = rng.integers(1, 4, nsp)
    pads = rng.integers(0, 3, (nsp, 2)) * (seed % 3 != 0)
    batch, depth = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    spatial = [int(b * rng.integers(1, 4) - lo - hi) for b, (lo, hi) in zip(block, pads)]
    spatial = [max(s, 1) for s in spatial]
    padded = [s + lo + hi for s, (lo, hi) in zip(spatial, pads)]
    pads[:, 1] += [(-p) % b for p, b in zip(padded, block)]
    padded = [s + lo + hi for s, (lo, hi) in zip(spatial, pads)]
    in_shape = (batch, *spatial, depth)
    out_shape = (batch * int(np.prod(block)), *[p // b for p, b in zip(padded, block)], depth)
    x, y = _io(rng, in_shape, out_shape, dtype)
    # TFLM pads with uninitialised arena bytes: padded cases against LiteRT's reference.
    oracle = "litert_ref" if pads.any() else "tflm"
    check_op(single_op_model("SPACE_TO_BATCH_ND", [x, const("b", _i32(block)),
                                                   const("p", _i32(pads))], [y]), oracle)
    x, y = _io(rng, out_shape, in_shape, dtype)
    check_op(single_op_model("BATCH_TO_SPACE_ND", [x, const("b", _i32(block)),
                                                   const("c", _i32(pads))], [y]))


@pytest.mark.parametrize("seed", SEEDS)
def test_space_to_depth_and_back(seed):
    rng = np.random.default_rng(seed)
    dtype = ("int8", "float32")[seed % 2]
    bs = int(rng.integers(1, 4))
    n, h, w, c = int(rng.integers(1, 3)), bs * int(rng.integers(1, 4)), \
        bs * int(rng.integers(1, 4)), int(rng.integers(1, 4))
    x, y = _io(rng, (n, h, w, c), (n, h // bs, w // bs, c * bs * bs), dtype)
    check_op(single_op_model("SPACE_TO_DEPTH", [x], [y], attrs=dict(block_size=bs)))
    x, y = _io(rng, (n, h // bs, w // bs, c * bs * bs), (n, h, w, c), dtype)
    check_op(single_op_model("DEPTH_TO_SPACE", [x], [y], attrs=dict(block_size=bs)))


# ------------------------------------------------------------------------------ runtime params

def test_gather_runtime_indices():
    rng = np.random.default_rng(3)
    x, y = _io(rng, (5, 3, 2), (5, 2, 4, 2), "int8")
    i = tensor("i", (2, 4), "int32")
    m = single_op_model("GATHER", [x, i], [y], attrs=dict(axis=1, batch_dims=0))
    feeds = [[rng.integers(-128, 128, (5, 3, 2)).astype(np.int8),
              rng.integers(0, 3, (2, 4)).astype(np.int32)] for _ in range(3)]
    check_op(m, feeds=feeds)


def test_padv2_runtime_value():
    rng = np.random.default_rng(4)
    x, y = _io(rng, (2, 3), (4, 6), "int8")
    v = tensor("v", (1,), "int8", _copy(y.quant))
    check_op(single_op_model("PADV2", [x, const("p", _i32([[1, 1], [2, 1]])), v], [y]))


def test_strided_slice_offset_runtime_begin():
    """offset=True with a non-constant begin (LiteRT's dynamic slice; TFLM needs constants)."""
    rng = np.random.default_rng(5)
    x, y = _io(rng, (5, 6), (3, 2), "int8")
    b = tensor("b", (2,), "int32")
    m = single_op_model("STRIDED_SLICE", [x, b, const("e", _i32([3, 2])),
                                          const("s", _i32([1, 1]))], [y],
                        attrs=dict(begin_mask=0, end_mask=0, ellipsis_mask=0, new_axis_mask=0,
                                   shrink_axis_mask=0, offset=True))
    feeds = [[rng.integers(-128, 128, (5, 6)).astype(np.int8), _i32([k % 3, 4 - k])]
             for k in range(3)]
    check_op(m, oracle="litert_ref", feeds=feeds)
