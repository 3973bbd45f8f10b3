"""ONNX op handlers: one function per ONNX op type, registered in :data:`HANDLERS`.

A handler ``fn(imp, node, attrs)`` reads the ONNX node's inputs through the importer
(``imp.value(name)``, ``imp.consts``, ``imp._shape(name)``), emits IR nodes with
``imp.emit(...)`` and binds every ONNX output name to an IR value. Values keep ONNX's
layout; handlers of layout-sensitive ops wrap their NHWC op in transposes, which
:mod:`picojoule.passes.layout` removes afterwards.
"""

from __future__ import annotations

from typing import Any, Callable

HANDLERS: dict[str, Callable[[Any, Any, dict[str, Any]], None]] = {}


def handles(*op_types: str) -> Callable:
    """Register a handler for the ONNX op types given."""

    def deco(fn: Callable) -> Callable:
        for t in op_types:
            HANDLERS[t] = fn
        return fn

    return deco


from picojoule.importers.onnx_ops import basic, nn, qdq, rnn  # noqa: E402,F401  (registration)
from picojoule.importers.onnx_ops import transformer  # noqa: E402,F401  (registration)
from picojoule.importers.onnx_ops import activations_extra  # noqa: E402,F401  (registration)
