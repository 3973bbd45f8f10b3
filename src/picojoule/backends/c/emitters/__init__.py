"""One emitter module per op family; importing this package registers them all.

Emitters registered with ``when=`` predicates take the nodes their predicate accepts, in
import order, before the op's general (int8) emitter sees them.
"""

from picojoule.backends.c.emitters import (  # noqa: F401
    add,
    conv,
    fc,
    float,
    hybrid,
    int16,
    lut,
    pool,
    quantize,
    reshape,
    sequence,
    signal,
    shape,
    softmax,
    table,
    movement,
    activation,
    matmul,
    compare,
    reduce,
    signal2,
    uint8,
    extra_ops,
)
from picojoule.backends.c.emitters.custom import attach_pending
from picojoule.backends.c.emitters.elementwise import attach_declared

# Ops whose table entry names plain elementwise C functions, and ops registered with a C
# kernel file (picojoule.custom.custom_op), get their emitters last.
attach_declared()
attach_pending()
