"""The C generator stores identical constant data once: ``Context.array`` and
``Context.params`` hand back the name of an identical array / parameter block already
emitted, so the weights every step of an unrolled RNN reads take flash once.

Unit checks on the context first, then a model whose three FULLY_CONNECTED nodes read one
weight tensor: one weight array in the generated source, the same integers as the
reference interpreter on the host.
"""

from __future__ import annotations

import re

import numpy as np

from picojoule.backends import host
from picojoule.backends.c.emitters.fc import checkpoint, rollback
from picojoule.backends.c.generator import Context, generate, get_target
from picojoule.ir import Graph, Model, Node, Value
from picojoule.quantize import quantize_model
from picojoule.runtime.reference import Interpreter


def _ctx() -> Context:
    return Context("m", get_target("host"), dsp=False)


def test_identical_arrays_are_emitted_once() -> None:
    ctx = _ctx()
    w = np.arange(-40, 40, dtype=np.int8)
    a = ctx.array("w", "int8_t", w)
    assert ctx.array("w", "int8_t", w.copy()) == a
    assert ctx.array("other_base", "int8_t", w.astype(np.int64)) == a  # what is printed counts
    assert len(ctx.decls) == 1 and ctx.const_bytes == 80
    # Another C type, other contents or another length: arrays of their own.
    assert ctx.array("w", "int16_t", w) != a
    assert ctx.array("w", "int8_t", w[::-1]) != a
    assert ctx.array("w", "int8_t", w[:-1]) != a
    f = ctx.array("f", "float", np.array([0.5, -0.25], np.float32))
    assert ctx.array("f", "float", np.array([0.5, -0.25], np.float64)) == f
    assert len(ctx.decls) == 5


def test_a_rolled_back_array_is_emitted_again() -> None:
    """Emitters try a variant and roll the context back (``emitters.fc.rollback``): an array
    made in the abandoned attempt must not be reused by name."""
    ctx = _ctx()
    mark = checkpoint(ctx)
    first = ctx.array("w", "int32_t", np.arange(8))
    rollback(ctx, mark)
    again = ctx.array("w", "int32_t", np.arange(8))
    assert again != first and len(ctx.decls) == 1 and again in ctx.decls[0]
    assert ctx.const_bytes == 32


def test_identical_parameter_blocks_are_emitted_once() -> None:
    ctx = _ctx()
    p = ctx.params("pj_copy_params", {"rank": 1, "count": [4, 1]})
    assert ctx.params("pj_copy_params", {"rank": 1, "count": [4, 1]}) == p
    assert ctx.params("pj_copy_params", {"rank": 1, "count": [8, 1]}) != p
    assert ctx.params("pj_other_params", {"rank": 1, "count": [4, 1]}) != p
    assert len(ctx.decls) == 3


def _shared_fc_model() -> Model:
    """x -> FC -> FC -> FC, the three reading one weight and one bias constant."""
    rng = np.random.default_rng(5)
    w = Value("W", (16, 16), "float32",
              data=rng.uniform(-0.3, 0.3, (16, 16)).astype(np.float32))
    b = Value("b", (16,), "float32", data=rng.uniform(-0.1, 0.1, 16).astype(np.float32))
    g = Graph("main")
    cur = Value("x", (1, 16), "float32")
    g.inputs = [cur]
    for k in range(3):
        out = Value(f"h{k}", (1, 16), "float32")
        g.add_node(Node("FULLY_CONNECTED", [cur, w, b], [out],
                        {"fused_activation_function": "NONE", "keep_num_dims": False,
                         "weights_format": 0}, name=f"fc{k}"))
        cur = out
    g.outputs = [cur]
    return Model([g], source="shared_fc")


def test_shared_weights_are_stored_once_and_run_bit_exact() -> None:
    samples = [np.random.default_rng(s).standard_normal((1, 16)).astype(np.float32)
               for s in range(8)]
    qm, _ = quantize_model(_shared_fc_model(), samples, progress=False)
    gen = generate(qm, name="m", target="host")
    src = gen.files["m.c"]
    weight_arrays = re.findall(r"static const int8_t m_w_\d+\[256\]", src)
    assert len(weight_arrays) == 1, weight_arrays
    sizes = {"int8_t": 1, "int16_t": 2, "int32_t": 4, "float": 4}
    declared = sum(sizes[t] * int(n) for t, n in
                   re.findall(r"static const (\w+) m_\w+\[(\d+)\] PJ_ALIGNED4", src))
    assert gen.const_bytes == declared  # flash counted once per array
    lib = host.build(gen)
    ref = Interpreter(qm)
    for x in samples[:3]:
        assert np.array_equal(lib.run([x])[0], ref.run([x])[0])
