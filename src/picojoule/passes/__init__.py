"""Graph passes: rewrites of the IR with explicit contracts (see :mod:`.base`).

:func:`canonicalize` is what every imported model goes through before anything else sees
it (``picojoule.importers.load_model`` runs it), in this order:

1. :class:`~picojoule.passes.shapes.StaticShapes`: dynamic dimensions resolved, shapes
   propagated through every op's shape rule, constant subgraphs folded;
2. :class:`~picojoule.passes.dilated.FuseDilatedConv`: TensorFlow's
   SPACE_TO_BATCH_ND / conv / BATCH_TO_SPACE_ND lowering back into one dilated conv.
"""

from picojoule.passes.base import Pass, PassContractError, PassManager, PassResult

__all__ = ["Pass", "PassContractError", "PassManager", "PassResult", "canonicalize"]


def canonicalize(model, input_shapes=None):
    """The import-time passes, in order (see the module doc); returns the model."""
    from picojoule.passes.dilated import FuseDilatedConv
    from picojoule.passes.shapes import StaticShapes

    for p in (StaticShapes(input_shapes), FuseDilatedConv()):
        model = p(model).model
    return model
