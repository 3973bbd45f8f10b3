"""Ops that only an NPU can run: picojoule recognises them and says so."""

from __future__ import annotations

from picojoule.errors import UnsupportedOpError
from picojoule.ir import Node
from picojoule.ops.registry import (Kernel, STATEFUL, register)


def _opaque_shape(node: Node, shapes, consts) -> list:
    """A compiled command stream fixed its tensors' shapes when it was compiled: its outputs
    keep the shapes the file gives them."""
    return [o.shape for o in node.outputs]


@register("CUSTOM:ethos-u", shape=_opaque_shape,
          traits=(STATEFUL,), oracle="none (needs an Ethos-U NPU)")
def prepare_ethos_u(node: Node) -> Kernel:
    """An Arm Ethos-U command stream compiled by Vela; only the NPU can execute it."""
    raise UnsupportedOpError(
        f"CUSTOM:ethos-u (node {node.name!r}) is a compiled Ethos-U command stream: it needs an "
        f"Ethos-U NPU and cannot run on the CPU; give picojoule the model before Vela compiled it")
