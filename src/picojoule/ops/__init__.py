"""Op implementations. Importing this package registers every op in :data:`REGISTRY`.

One module per op family; each op's reference kernel, MAC count and oracle live
together in its module.
"""

from picojoule.ops.registry import REGISTRY, OpInfo, lookup, node_macs, register, unsupported

# Importing the family modules registers their ops.
from picojoule.ops import (  # noqa: E402,F401  (imported for registration)
    activations,
    binary,
    conv,
    matmul,
    npu,
    pool,
    quantize,
    reduce,
    sequence,
    shape,
    signal,
    unary,
    detection,
)

__all__ = ["REGISTRY", "OpInfo", "lookup", "node_macs", "register", "unsupported"]
