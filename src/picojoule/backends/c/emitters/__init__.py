"""One emitter module per op family; importing this package registers them all."""

from picojoule.backends.c.emitters import (  # noqa: F401
    add,
    conv,
    fc,
    pool,
    quantize,
    reshape,
    softmax,
)
