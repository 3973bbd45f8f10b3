"""Code-generation backends: the C library generator and the runners that build and execute
it (``host``: the host C compiler via ctypes; ``qemu``: Cortex-M firmware on qemu-system-arm)."""
