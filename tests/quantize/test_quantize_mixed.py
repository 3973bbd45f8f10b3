"""Transformers quantized: the TFLM lowering, int8, and mixed int8/int16 (``--scheme mixed``).

The model is a one-block vision transformer exported from PyTorch (opset 17: layer norms,
attention with q k^T of two activations, erf-GELU, a class token and position embedding,
the class token gathered for the head). Its class token is a thousand times smaller than
the patch tokens it shares every tensor with (as timm initialises it), which is what
breaks int8: one per-tensor scale cannot hold both.

Expected integers come from TFLM on the written ``.tflite`` (and the generated C must give
the same on the host and the emulated Cortex-M4); accuracy is SQNR against the float
model on held-out samples.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from oracles import TflmSession
from picojoule.cli import cli
from picojoule.exporters.tflite import dumps
from picojoule.importers import onnx as pj_onnx
from picojoule.importers.tflite import loads
from picojoule.ir import Graph, Model, Node, Value
from picojoule.quantize import QuantizeError, quantize_model
from picojoule.quantize.lowering import lower_for_tflm
from picojoule.quantize.mixed import local_sqnr
from picojoule.quantize.quantizer import _calibrate, prepare_float
from picojoule.quantize.schemes import SCHEMES
from picojoule.runtime.reference import Interpreter

torch = pytest.importorskip("torch")
nn = torch.nn


class TinyViT(nn.Module):
    """Patch embedding (Linear on 3-D input), class token, position embedding, one pre-LN
    block (2 heads), final LayerNorm, head on the class token."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        d = 16
        self.embed = nn.Linear(12, d)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 1e-3)
        self.pos = nn.Parameter(torch.randn(1, 9, d) * 0.02)
        self.norm1, self.norm2, self.norm = (nn.LayerNorm(d, eps=1e-6) for _ in range(3))
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.head = nn.Linear(d, 4)

    def forward(self, x):
        t = torch.cat([self.cls, self.embed(x)], 1) + self.pos
        q, k, v = self.qkv(self.norm1(t)).reshape(1, 9, 3, 2, 8).permute(2, 0, 3, 1, 4)
        a = ((q @ k.transpose(-2, -1)) * 8 ** -0.5).softmax(-1) @ v
        t = t + self.proj(a.transpose(1, 2).reshape(1, 9, 16))
        t = t + self.mlp(self.norm2(t))
        return self.head(self.norm(t)[:, 0])


def _samples(seed: int, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((1, 8, 12)).astype(np.float32) for _ in range(n)]


CALIB, HELD = _samples(0, 24), _samples(1, 8)


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_vit") / "tiny_vit.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TinyViT().eval(), (torch.randn(1, 8, 12),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["y"])
    return path


@pytest.fixture(scope="module")
def float_model(onnx_path):
    return pj_onnx.load(onnx_path)


_Q: dict = {}


def quantized(fm, scheme: str, layers=None):
    key = (scheme, str(layers))
    if key not in _Q:
        qm, report = quantize_model(fm, CALIB, scheme=scheme, int16_layers=layers,
                                    progress=False)
        data = dumps(qm)
        _Q[key] = (loads(data), data, report)
    return _Q[key]


def sqnr(fm, qm) -> float:
    want = np.concatenate([Interpreter(fm).run([x])[0] for x in HELD]).astype(np.float64)
    got = np.concatenate([Interpreter(qm).run([x])[0] for x in HELD]).astype(np.float64)
    return 10 * math.log10(np.sum(want ** 2) / np.sum((want - got) ** 2))


def tflm_agrees(qm, data, feeds=HELD[:3]) -> None:
    ours, tflm = Interpreter(qm), TflmSession(data)
    for x in feeds:
        for a, b in zip(tflm.run([x]), ours.run([x])):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ lowering
def _graph(op: str, ins: list, shape, attrs=None, extra=()) -> Model:
    g = Graph()
    x = Value("x", shape, "float32")
    g.inputs = [x]
    v = x
    for kind, more, out_shape, a in [(op, ins, shape, attrs or {}), *extra]:
        y = Value(f"{kind.lower()}_out", out_shape, "float32")
        g.add_node(Node(kind, [v, *more], [y], a, name=kind.lower()))
        v = y
    g.outputs = [v]
    return Model([g])


def _lowered(m: Model) -> Model:
    fm = prepare_float(m)
    assert lower_for_tflm(fm)
    return fm


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_lowers_to_tflm_ops(approximate):
    m = _graph("GELU", [], (1, 4, 64), {"approximate": approximate})
    fm = _lowered(m)
    assert [n.op for n in fm.main.nodes] == ["MUL", "MUL", "ADD", "MUL", "LOGISTIC", "MUL"]
    x = np.linspace(-8, 8, 256, dtype=np.float32).reshape(1, 4, 64)
    ref, got = Interpreter(m).run([x])[0], Interpreter(fm).run([x])[0]
    # tanh form: the same function; erf form: within 4.8e-4 (below any int8 step).
    assert np.max(np.abs(ref - got)) <= (1e-5 if approximate else 4.8e-4)


def test_gather_and_div_sqrt_lower_exactly():
    idx = Value("i", (), "int32", data=np.array(2, np.int32))
    m = _graph("GATHER", [idx], (1, 5, 6), {"axis": 1, "batch_dims": 0})
    g = m.main
    g.nodes[0].outputs[0].shape = (1, 6)
    g.outputs[0].shape = (1, 6)
    fm = _lowered(m)
    assert [n.op for n in fm.main.nodes] == ["SLICE", "RESHAPE"]
    x = np.random.default_rng(0).standard_normal((1, 5, 6)).astype(np.float32)
    np.testing.assert_array_equal(Interpreter(m).run([x])[0], Interpreter(fm).run([x])[0])

    g = Graph()
    a, b = Value("a", (2, 8), "float32"), Value("b", (2, 1), "float32")
    r, y = Value("r", (2, 1), "float32"), Value("y", (2, 8), "float32")
    g.inputs, g.outputs = [a, b], [y]
    g.add_node(Node("SQRT", [b], [r], name="sqrt"))
    g.add_node(Node("DIV", [a, r], [y], {"fused_activation_function": "NONE"}, name="div"))
    m = Model([g])
    fm = _lowered(m)
    assert [n.op for n in fm.main.nodes] == ["RSQRT", "MUL"]
    feeds = [x[0, :2, :].repeat(2, 1)[:, :8], np.array([[0.5], [3.0]], np.float32)]
    np.testing.assert_allclose(Interpreter(fm).run(feeds)[0], Interpreter(m).run(feeds)[0],
                               rtol=1e-6)


# ---------------------------------------------------------------------------------- int8
def test_int8_transformer_is_all_integer_and_tflm_agrees(float_model):
    qm, data, _ = quantized(float_model, "int8")
    inner = [v.name for v in qm.main.values() if v.dtype == "float32"
             and v not in qm.main.inputs and v not in qm.main.outputs]
    assert not inner, inner
    ops = {n.op for n in qm.main.nodes}
    assert {"BATCH_MATMUL", "SOFTMAX", "RSQRT", "MEAN", "LOGISTIC"} <= ops
    assert not ops & {"GELU", "GATHER", "SQRT", "DIV"}, ops
    tflm_agrees(qm, data)


# --------------------------------------------------------------------------------- mixed
def test_local_sqnr_finds_the_class_token(float_model):
    """Per layer, int8 alone: the first layer norm's centred square loses the class token
    entirely (0 dB on its row) while every fully connected layer keeps 25 dB and more."""
    fm = prepare_float(float_model)
    lower_for_tflm(fm)
    samples = [[x] for x in CALIB[:8]]
    ranges = _calibrate(fm, samples, "minmax", SCHEMES["int8"], False)
    local = local_sqnr(fm, samples, ranges)
    by_op = {}
    for n in fm.main.nodes:
        if n.name in local:
            by_op.setdefault((n.op, n.meta.get("layer_norm_role", "")), []).append(local[n.name])
    assert min(by_op[("MUL", "square")]) < 5.0
    assert min(by_op[("FULLY_CONNECTED", "")]) > 25.0


def test_mixed_auto_beats_int8_and_runs_everywhere_bit_exact(float_model):
    from picojoule.backends import host, qemu

    q8, _, _ = quantized(float_model, "int8")
    qm, data, report = quantized(float_model, "mixed", "auto")
    s8, sm = sqnr(float_model, q8), sqnr(float_model, qm)
    assert sm >= s8 + 10.0, (s8, sm)
    assert "int16" in {v.dtype for n in qm.main.nodes for v in n.outputs}
    rsqrt = [n for n in qm.main.nodes if n.op == "RSQRT"]
    assert rsqrt and all(n.outputs[0].dtype == "float32" for n in rsqrt)  # float islands
    requant = {(n.inputs[0].dtype, n.outputs[0].dtype) for n in qm.main.nodes
               if n.op in ("QUANTIZE", "DEQUANTIZE")}
    assert ("int16", "float32") in requant and ("float32", "int16") in requant
    assert any(r.dtype == "int16" for r in report.layers)
    tflm_agrees(qm, data)

    ours = [Interpreter(qm).run([x]) for x in HELD[:2]]
    lib = host.build(qm, name="tiny_vit_mixed")
    for x, want in zip(HELD[:2], ours):
        for a, b in zip(lib.run([x]), want):
            np.testing.assert_array_equal(a, b)
    if qemu.toolchain_missing():
        pytest.skip(qemu.toolchain_missing())
    fw = qemu.build(qm, "mps2-an386", name="tiny_vit_mixed")
    for (outs, instructions), want in zip(fw.run_many([[x] for x in HELD[:2]], timeout=300),
                                          ours):
        assert instructions > 0
        for a, b in zip(outs, want):
            np.testing.assert_array_equal(a, b)


def test_int8_model_runs_on_the_host_bit_exact(float_model):
    from picojoule.backends import host

    qm, _, _ = quantized(float_model, "int8")
    lib = host.build(qm, name="tiny_vit_int8")
    for x in HELD[:2]:
        for a, b in zip(lib.run([x]), Interpreter(qm).run([x])):
            np.testing.assert_array_equal(a, b)


def test_mixed_named_layers(float_model):
    fm = prepare_float(float_model)
    norm = [n.name for n in fm.main.nodes if n.meta.get("layer_norm") and
            n.meta.get("layer_norm_role") in ("centred", "square", "variance", "rsqrt")]
    qm, _ = quantize_model(float_model, CALIB, scheme="mixed", int16_layers=norm,
                           progress=False)
    wide = {n.name for n in qm.main.nodes if n.op not in ("QUANTIZE", "DEQUANTIZE") and
            n.outputs[0].dtype != "int8"}
    assert wide == set(norm) | {n.name for n in qm.main.nodes if n.op == "ADD" and
                                n.outputs[0].dtype == "float32"}
    tflm_agrees(qm, dumps(qm), HELD[:1])
    # The report's output names select the same layers.
    outs = {n.name: n.outputs[0].name for n in fm.main.nodes}
    q2, _ = quantize_model(float_model, CALIB, scheme="mixed",
                           int16_layers=[outs[n] for n in norm], progress=False)
    assert [v.dtype for v in q2.main.values()] == [v.dtype for v in qm.main.values()]
    with pytest.raises(QuantizeError, match="no layer named 'nope'"):
        quantize_model(float_model, CALIB, scheme="mixed", int16_layers=["nope"],
                       progress=False)


def test_cli_scheme_mixed(onnx_path, tmp_path):
    calib = tmp_path / "calib.npy"
    np.save(calib, np.concatenate(CALIB[:8]))
    out = tmp_path / "q.tflite"
    r = CliRunner().invoke(cli, ["quantize", str(onnx_path), "-c", str(calib), "-o", str(out),
                                 "--scheme", "mixed", "--int16-layers", "all", "-q"])
    assert r.exit_code == 0, r.output
    assert "layers int16" in r.output and out.exists()
    r = CliRunner().invoke(cli, ["quantize", str(onnx_path), "-c", str(calib), "-o", str(out),
                                 "--int16-layers", "all"])
    assert r.exit_code == 2 and "--scheme mixed" in r.output
