"""One emitter module per op family; importing this package registers them all.

Modules registered later with ``when=`` predicates (int16, shape, float ...) take the
nodes their predicate accepts before the op's general (int8) emitter sees them.
"""

from picojoule.backends.c.emitters import (  # noqa: F401
    add,
    conv,
    fc,
    float,
    int16,
    lut,
    pool,
    quantize,
    reshape,
    sequence,
    signal,
    shape,
    softmax,
)
