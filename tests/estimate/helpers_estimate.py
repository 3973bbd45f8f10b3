"""Small models and target files for the estimate tests (hand-checkable numbers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from picojoule.ir import Graph, Model, Node, Quant, Value


def _q(scale, zp=0, axis=0) -> Quant:
    return Quant(np.atleast_1d(np.asarray(scale, np.float32)),
                 np.atleast_1d(np.asarray(zp, np.int64)), axis)


def fc_model(k: int = 64, n: int = 10, seed: int = 0, int16: bool = False) -> Model:
    """One int8 FULLY_CONNECTED: k x n = 640 MACs by default, 1,280 8-bit ops. ``int16``:
    the int16x8 form (int16 activations with zero point 0, int8 weights, int64 bias)."""
    rng = np.random.default_rng(seed)
    act, bias = ("int16", np.int64) if int16 else ("int8", np.int32)
    g = Graph("main")
    x = Value("x", (1, k), act, quant=_q(0.05, 0 if int16 else 3))
    w = Value("w", (n, k), "int8", quant=_q(0.01, 0),
              data=rng.integers(-127, 128, (n, k)).astype(np.int8))
    b = Value("b", (n,), np.dtype(bias).name, quant=_q(0.0005, 0),
              data=rng.integers(-100, 100, n).astype(bias))
    y = Value("y", (1, n), act, quant=_q(0.5, 0 if int16 else -2))
    g.inputs.append(x)
    g.add_node(Node("FULLY_CONNECTED", [x, w, b], [y],
                    {"fused_activation_function": "NONE", "keep_num_dims": False,
                     "weights_format": 0}, name="fc"))
    g.outputs.append(y)
    m = Model([g], source="fc_test.tflite")
    m.verify()
    return m


BASE = """
name = "{name}"
display_name = "test chip"
[core]
name = "Cortex-M4"
arch = "armv7e-m"
dsp = true
max_mhz = 100
source = "test"
[[memory]]
name = "ram"
kind = "sram"
base = 0x20000000
size = "64 KiB"
speed = "fast"
arena = true
source = "test"
[flash]
kind = "internal"
size = "256 KiB"
source = "test"
"""

POWER = """
[power]
[[power.active]]
mhz = 100
power = "10 mW"
source = "test: 10 mW at 100 MHz"
[[power.sleep]]
name = "stop"
power = "1 uW"
retention = "full SRAM"
default = true
source = "test: 1 uW"
"""

NO_POWER = """
[power]
active_missing = "missing: test chip without figures"
sleep_missing = "missing: test chip without figures"
"""

LATENCY = """
[latency]
core_class = "cortex-m4"
instruction_model = "cortex-m4"
c_target = "cortex-m4"
cpi = 1.5
cpi_source = "test: 1.5"
source = "test: hand-set coefficients"
[latency.kernels.pj_fc_s8_dsp]
groups = 16.0
inputs = 8.0
one = 1000.0
[latency.kernels.pj_fc_s8]
macs = 2.0
one = 1000.0
[latency.kernels.FULLY_CONNECTED]
macs = 2.0
one = 1000.0
"""


def write_target(tmp: Path, name: str, power: bool, latency: bool) -> Path:
    text = BASE.format(name=name) + (POWER if power else NO_POWER) + (LATENCY if latency else "")
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path
