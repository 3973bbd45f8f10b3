"""The op registry: one entry per op, with its reference kernel, cost and docs side by side.

An op module registers each op it implements::

    @register("ADD", macs=elementwise_macs, oracle="TFLM")
    def prepare_add(node: Node) -> Kernel:
        ...                      # all float -> fixed-point work happens here, once
        def run(inputs):         # integer numpy only
            ...
            return [out]
        return run

``prepare(node)`` is called once per node when an interpreter is built. It raises
:class:`~picojoule.errors.UnsupportedOpError` (with a message naming the node and
what is unsupported) for configurations it does not handle. The returned kernel
takes the node's input arrays (``None`` for absent optional inputs; variable
tensors are passed as arrays the kernel may update in place) and returns the
output arrays with exactly the shapes and numpy dtypes of ``node.outputs``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from picojoule.errors import UnsupportedOpError
from picojoule.ir import Node

Kernel = Callable[[Sequence[Optional[np.ndarray]]], list]
Prepare = Callable[[Node], Kernel]


@dataclass
class OpInfo:
    """What picojoule knows about one op."""

    name: str
    prepare: Prepare
    #: Multiply-accumulates one execution of the node performs (0 if not counted).
    macs: Callable[[Node], int]
    #: Whose reference kernels define the op's exact results: "TFLM",
    #: "LiteRT reference" (OpResolverType.BUILTIN_REF) or "LiteRT".
    oracle: str = "TFLM"
    #: Activation dtypes the reference kernel handles, for docs/ops.md.
    dtypes: tuple[str, ...] = ()
    doc: str = ""
    extra: dict = field(default_factory=dict)


REGISTRY: dict[str, OpInfo] = {}


def _no_macs(node: Node) -> int:
    return 0


def register(
    name: str,
    *,
    macs: Callable[[Node], int] | None = None,
    oracle: str = "TFLM",
    dtypes: Sequence[str] = (),
    doc: str = "",
) -> Callable[[Prepare], Prepare]:
    """Register ``prepare`` as the reference implementation of op ``name``."""

    def deco(prepare: Prepare) -> Prepare:
        if name in REGISTRY:
            raise RuntimeError(f"op {name} registered twice")
        REGISTRY[name] = OpInfo(name, prepare, macs or _no_macs, oracle, tuple(dtypes),
                                doc or (prepare.__doc__ or "").strip().split("\n")[0])
        return prepare

    return deco


def lookup(node: Node) -> OpInfo:
    """The registry entry for ``node``'s op, or a clear error naming the node."""
    info = REGISTRY.get(node.op)
    if info is None:
        raise UnsupportedOpError(
            f"op {node.op} (node {node.name!r}) is not supported by picojoule's reference "
            f"interpreter")
    return info


def unsupported(node: Node, what: str) -> UnsupportedOpError:
    """An error for a configuration of a known op that picojoule does not handle."""
    return UnsupportedOpError(f"{node.op} (node {node.name!r}): {what} is not supported")


def node_macs(node: Node) -> int:
    info = REGISTRY.get(node.op)
    return int(info.macs(node)) if info else 0
