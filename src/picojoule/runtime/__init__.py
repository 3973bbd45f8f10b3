"""Backends that execute the IR."""

from picojoule.runtime.reference import Interpreter, random_inputs

__all__ = ["Interpreter", "random_inputs"]
