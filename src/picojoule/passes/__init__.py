"""Graph passes: rewrites of the IR with explicit contracts (see :mod:`.base`).

:func:`canonicalize` is what every imported model goes through before anything else sees
it (``picojoule.importers.load_model`` runs it), in this order:

1. :class:`~picojoule.passes.shapes.StaticShapes`: dynamic dimensions resolved, shapes
   propagated through every op's shape rule, constant subgraphs folded;
2. :class:`~picojoule.passes.dilated.FuseDilatedConv`: TensorFlow's
   SPACE_TO_BATCH_ND / conv / BATCH_TO_SPACE_ND lowering back into one dilated conv;
3. :class:`~picojoule.passes.uint8.EncodeUint8`: a legacy uint8 model's arithmetic on int8
   re-encodings of its tensors, rounding as LiteRT's uint8 kernels (uint8 I/O kept).
"""

from picojoule.passes.base import Pass, PassContractError, PassManager, PassResult

__all__ = ["Pass", "PassContractError", "PassManager", "PassResult", "canonicalize"]


def canonicalize(model, input_shapes=None):
    """The import-time passes, in order (see the module doc); returns the model."""
    from picojoule.passes.dilated import FuseDilatedConv
    from picojoule.passes.shapes import StaticShapes
    from picojoule.passes.uint8 import EncodeUint8

    for p in (StaticShapes(input_shapes), FuseDilatedConv(), EncodeUint8()):
        model = p(model).model
    return model
