"""Graph passes: rewrites of the IR with explicit contracts (see :mod:`.base`)."""

from picojoule.passes.base import Pass, PassContractError, PassManager, PassResult

__all__ = ["Pass", "PassContractError", "PassManager", "PassResult"]
