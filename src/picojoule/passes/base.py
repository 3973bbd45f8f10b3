"""Pass infrastructure: each pass is a small class with a contract.

A pass transforms a :class:`~picojoule.ir.Model` (in place) and returns a
:class:`PassResult` saying whether it changed anything. ``requires`` and ``ensures`` are
checks (callables raising :class:`PassContractError`) run before and after the pass by
the :class:`PassManager`, which also runs ``Graph.verify()`` after every pass and can
repeat a list of passes until none of them modifies the model (a fixpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from picojoule.errors import PicojouleError
from picojoule.ir import Model


class PassContractError(PicojouleError):
    """A pass was run on a model it does not accept, or broke its own promise."""


@dataclass
class PassResult:
    model: Model
    modified: bool


Check = Callable[[Model], None]


class Pass:
    """Base class: override :meth:`call`; optionally list ``requires`` / ``ensures`` checks."""

    requires: Sequence[Check] = ()
    ensures: Sequence[Check] = ()

    @property
    def name(self) -> str:
        return type(self).__name__

    def call(self, model: Model) -> PassResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, model: Model) -> PassResult:
        for check in self.requires:
            check(model)
        result = self.call(model)
        try:
            result.model.verify()
        except PicojouleError as exc:
            raise PassContractError(f"pass {self.name} left a broken graph: {exc}") from exc
        for check in self.ensures:
            check(result.model)
        return result


class PassManager:
    """Run passes in order; with ``fixpoint=True`` repeat until nothing changes."""

    def __init__(self, passes: Iterable[Pass], *, fixpoint: bool = False,
                 max_iterations: int = 20) -> None:
        self.passes = list(passes)
        self.fixpoint = fixpoint
        self.max_iterations = max_iterations

    def __call__(self, model: Model) -> PassResult:
        any_change = False
        for _ in range(self.max_iterations if self.fixpoint else 1):
            changed = False
            for p in self.passes:
                result = p(model)
                model = result.model
                changed |= result.modified
            any_change |= changed
            if not changed:
                break
        return PassResult(model, any_change)
