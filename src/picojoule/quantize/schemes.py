"""Quantization schemes: which integer types activations, weights and biases get.

=============  ==========================  ===============================  ==========
scheme         activations                 weights (per channel, zp 0)      bias
=============  ==========================  ===============================  ==========
int8           int8 asymmetric             int8 in [-127, 127]              int32
int16x8        int16 symmetric (zp 0)      int8 in [-127, 127]              int64
int4-weights   int8 asymmetric             int4 in [-7, 7] (``"int4"``)     int32
mixed          int8, int16 in some layers  int8 in [-127, 127]              int32/int64
=============  ==========================  ===============================  ==========

TFLM's FULLY_CONNECTED accepts int4 weights only per tensor (its per-channel path
asserts ``filter->type != kTfLiteInt4``), so int4 fully connected weights get one scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from picojoule.errors import PicojouleError
from picojoule.ir import Quant


@dataclass(frozen=True)
class Scheme:
    name: str
    act_dtype: str          # "int8" | "int16"
    weight_dtype: str       # "int8" | "int4"
    weight_qmax: int        # 127 | 7
    bias_dtype: str         # "int32" | "int64"

    @property
    def symmetric_acts(self) -> bool:
        return self.act_dtype == "int16"

    @property
    def act_range(self) -> tuple[int, int]:
        return (-32768, 32767) if self.act_dtype == "int16" else (-128, 127)

    def activation_quant(self, lo: float, hi: float) -> Quant:
        """Scale / zero point covering [lo, hi] (always including 0, as TFLite requires)."""
        lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
        if self.symmetric_acts:
            m = max(-lo, hi)
            scale = m / 32767.0 if m > 0 else 1.0 / 32768
            return Quant(np.float32(scale), 0)
        if hi - lo <= 0:
            return Quant(np.float32(1.0 / 256), -128)
        scale = np.float32((hi - lo) / 255.0)
        zp = int(np.clip(np.round(-128 - lo / float(scale)), -128, 127))
        return Quant(scale, zp)

    def fixed_output(self, op: str) -> Quant | None:
        """Output quantization TFLM/LiteRT require for ``op`` in this scheme, if any (the op
        table's :class:`~picojoule.ops.registry.QuantRule`)."""
        from picojoule.ops.registry import info_of

        info = info_of(op)
        got = info.quant.fixed.get(self.act_dtype) if info is not None else None
        return Quant(np.float32(got[0]), got[1]) if got else None


SCHEMES = {
    "int8": Scheme("int8", "int8", "int8", 127, "int32"),
    "int16x8": Scheme("int16x8", "int16", "int8", 127, "int64"),
    "int4-weights": Scheme("int4-weights", "int8", "int4", 7, "int32"),
    #: int8, with int16x8 layers where int8 loses accuracy (:mod:`picojoule.quantize.mixed`)
    "mixed": Scheme("mixed", "int8", "int8", 127, "int32"),
}


def get_scheme(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise PicojouleError(
            f"unknown quantization scheme {name!r} (choose {', '.join(SCHEMES)})") from None
