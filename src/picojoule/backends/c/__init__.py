"""The C99 library generator (see :mod:`picojoule.backends.c.generator`)."""

from picojoule.backends.c.generator import (  # noqa: F401
    TARGETS,
    Generated,
    Target,
    compile_model,
    generate,
    get_target,
    write,
)
