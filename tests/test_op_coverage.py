"""Every op the project promises is registered, documented and has property tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from picojoule.docs import ops_markdown
from picojoule.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[1]

#: The ops the reference interpreter must cover (besides every op in ../shared/models).
REQUIRED = """
ADD SUB MUL DIV SQUARED_DIFFERENCE MAXIMUM MINIMUM CONV_2D DEPTHWISE_CONV_2D FULLY_CONNECTED
BATCH_MATMUL AVERAGE_POOL_2D MAX_POOL_2D MEAN SUM REDUCE_MAX REDUCE_MIN SOFTMAX LOG_SOFTMAX
LOGISTIC TANH RELU RELU6 RELU_N1_TO_1 LEAKY_RELU PRELU HARD_SWISH ELU GELU EXP LOG SQRT RSQRT
ABS NEG FLOOR CEIL ROUND CAST QUANTIZE DEQUANTIZE RESHAPE SQUEEZE EXPAND_DIMS SHAPE TRANSPOSE
CONCATENATION PACK UNPACK SPLIT SPLIT_V SLICE STRIDED_SLICE GATHER GATHER_ND PAD PADV2
MIRROR_PAD TILE FILL ZEROS_LIKE BROADCAST_TO RESIZE_NEAREST_NEIGHBOR RESIZE_BILINEAR
SPACE_TO_BATCH_ND BATCH_TO_SPACE_ND SPACE_TO_DEPTH DEPTH_TO_SPACE ARG_MAX ARG_MIN
L2_NORMALIZATION EQUAL NOT_EQUAL LESS LESS_EQUAL GREATER GREATER_EQUAL LOGICAL_AND LOGICAL_OR
LOGICAL_NOT SELECT_V2 CUMSUM REDUCE_PROD SVDF UNIDIRECTIONAL_SEQUENCE_LSTM TRANSPOSE_CONV
CUSTOM:SignalWindow CUSTOM:SignalFftAutoScale CUSTOM:SignalRfft CUSTOM:SignalEnergy
CUSTOM:SignalFilterBank CUSTOM:SignalFilterBankSquareRoot
CUSTOM:SignalFilterBankSpectralSubtraction CUSTOM:SignalPCAN CUSTOM:SignalFilterBankLog
""".split()


@pytest.mark.parametrize("op", REQUIRED)
def test_op_registered(op):
    assert op in REGISTRY, f"{op} has no reference kernel"


def test_every_registered_op_has_a_property_test():
    files = [*(ROOT / "tests" / "ops").glob("test_*.py"), *(ROOT / "tests").glob("test_*.py")]
    text = "\n".join(p.read_text() for p in files)
    missing = [op for op in REGISTRY if op != "CUSTOM:ethos-u"
               and not re.search(rf"[\"']{re.escape(op)}[\"']", text)]
    assert not missing, f"ops without a test in tests/ops or tests/: {missing}"


def test_docs_ops_md_is_generated_from_the_code():
    assert (ROOT / "docs" / "ops.md").read_text() == ops_markdown(), \
        "docs/ops.md is stale: run `picojoule ops --markdown > docs/ops.md`"


def test_every_op_the_reference_runs_has_a_c_kernel_for_each_of_its_dtypes():
    """The op table's C coverage (the emitters' declared dtypes) spans the reference's
    dtypes; the kernels themselves are checked against TFLM in tests/backends."""
    from picojoule.docs import builtin, missing_c

    gaps = {op: missing_c(op) for op in REGISTRY
            if builtin(op) and op != "CUSTOM:ethos-u" and missing_c(op)}
    assert not gaps, f"ops the reference runs without a C kernel: {gaps}"
