"""Errors that reach the user as one clear line.

Every failure picojoule can explain is a :class:`PicojouleError`; the CLI prints its
message alone (no traceback) and exits non-zero.
"""


class PicojouleError(Exception):
    """A problem with the user's input or request, explained in one line."""


class ModelFormatError(PicojouleError):
    """The file is not a readable model (not a model, truncated, corrupted)."""


class UnsupportedOpError(PicojouleError):
    """The model uses an op (or op configuration) picojoule cannot run."""


class InputError(PicojouleError):
    """An input array does not match what the model expects."""
