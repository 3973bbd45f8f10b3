"""Custom ops: add an op to picojoule without forking it.

A custom op is one Python file (its shape rule and numpy reference kernel) plus, for the C
backend, one C file. The Python file registers the op with :func:`custom_op`::

    # hardclip.py
    import numpy as np
    from picojoule.custom import custom_op

    def _params(node):
        return {"ints": [int(node.attrs.get("lo", -64)), int(node.attrs.get("hi", 63))]}

    @custom_op("HardClip", shape=lambda node, shapes, consts: [shapes[0]],
               c_source="hardclip.c", c_function="hardclip_s8", params=_params,
               dtypes=("int8",), cost=lambda node: 3 * node.outputs[0].size)
    def prepare(node):
        lo, hi = _params(node)["ints"]
        def run(inputs):
            return [np.clip(inputs[0], lo, hi).astype(np.int8)]
        return run

and the C file implements the function with picojoule's custom-op ABI
(``pj_custom.h``, copied into every generated library that uses a custom op)::

    #include "pj_custom.h"
    void hardclip_s8(const pj_tensor *in, int32_t n_in, pj_tensor *out, int32_t n_out,
                     const pj_custom_params *p) { ... }

Load the file with ``picojoule --custom-ops hardclip.py <command> ...`` (or from Python
with :func:`load_custom_ops`), or publish it in a package under the ``picojoule.ops`` entry
point group. The op then works in ``run``, ``compile``, ``validate``, ``analyze`` and
``estimate``: the estimate uses ``cost`` (instructions per invocation) when the file
gives one, and otherwise a rough per-element figure, and says so.

``name`` is the op's name in the model: TFLite custom ops are matched by their custom
code (``"HardClip"`` registers ``CUSTOM:HardClip``); a name containing ``":"`` is taken as
it is.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from picojoule.errors import PicojouleError
from picojoule.ir import Node
from picojoule.ir.dtypes import to_numpy

if TYPE_CHECKING:
    from picojoule.ops.registry import Prepare
# picojoule.ops.registry is imported where it is used: importing it runs picojoule.ops, whose
# built-in ops include some written with this module's custom_op (ops/detection.py).


class CustomOpError(PicojouleError):
    """A custom-op file that cannot be loaded, or an op whose reference breaks its promise."""


def op_name(name: str) -> str:
    """The op table name of a custom op: ``"HardClip"`` -> ``"CUSTOM:HardClip"``."""
    return name if ":" in name else f"CUSTOM:{name}"


def _caller_file(depth: int = 2) -> str:
    frame = sys._getframe(depth)
    return str(frame.f_globals.get("__file__") or "")


def custom_op(
    name: str,
    *,
    shape: Callable[[Node, list, list], list],
    c_source: str | Path | None = None,
    c_function: str | None = None,
    params: Callable[[Node], dict] | None = None,
    scratch: Callable[[Node], int] | None = None,
    dtypes: Sequence[str] = (),
    cost: Callable[[Node], float] | None = None,
    macs: Callable[[Node], int] | None = None,
    traits: Sequence[str] = (),
    oracle: str = "its own reference (user-supplied)",
    doc: str = "",
    origin: str | None = None,
) -> Callable[[Prepare], Prepare]:
    """Register a custom op: decorate its ``prepare(node) -> kernel`` function.

    - ``shape(node, input_shapes, const_inputs)``: the output shapes (a list of tuples).
    - ``prepare(node)``: as for built-in ops, returns ``run(inputs) -> [outputs]`` (numpy);
      picojoule checks every output against the shape rule and the node's dtypes.
    - ``c_source`` / ``c_function``: the C file (relative to the Python file) and the
      function implementing the ABI of ``pj_custom.h``; without them the op runs in the
      reference interpreter only and ``compile`` names it as missing.
    - ``params(node)``: ``{"ints": [...], "floats": [...]}``, the constants the C function
      receives (computed here, once, like every picojoule kernel's parameters).
    - ``scratch(node)``: bytes of scratch memory the C function needs (``p->scratch``).
    - ``cost(node)``: instructions per invocation on a Cortex-M core, for ``estimate``.
    - ``traits``: op-table traits (e.g. ``"stateful"`` for an op that keeps state).
    """
    full = op_name(name)
    where = origin if origin is not None else _caller_file()
    src_path: Path | None = None
    if c_source is not None:
        src_path = Path(c_source)
        if not src_path.is_absolute():
            src_path = (Path(where).parent if where else Path.cwd()) / src_path
        if not src_path.is_file():
            raise CustomOpError(f"custom op {full} ({where}): C source {src_path} not found")
        if not c_function or not c_function.isidentifier():
            raise CustomOpError(f"custom op {full} ({where}): c_function must name the C "
                                f"function in {src_path.name}")

    def deco(prepare: Prepare) -> Prepare:
        from picojoule.ops.registry import REGISTRY, register

        if full in REGISTRY:
            prior = REGISTRY[full].origin or "picojoule"
            raise CustomOpError(f"custom op {full} ({where}): already registered by {prior}")

        def checked_prepare(node: Node):
            try:
                kernel = prepare(node)
            except PicojouleError:
                raise
            except Exception as exc:  # the user's code: say whose it is
                raise CustomOpError(f"custom op {full} ({where}), node {node.name!r}: prepare "
                                    f"failed: {type(exc).__name__}: {exc}") from None

            def run(inputs):
                try:
                    outs = list(kernel(inputs))
                except PicojouleError:
                    raise
                except Exception as exc:
                    raise CustomOpError(f"custom op {full} ({where}), node {node.name!r}: "
                                        f"reference failed: {type(exc).__name__}: {exc}") from None
                if len(outs) != len(node.outputs):
                    raise CustomOpError(f"custom op {full} ({where}), node {node.name!r}: "
                                        f"reference returned {len(outs)} outputs, the node has "
                                        f"{len(node.outputs)}")
                for i, (o, v) in enumerate(zip(outs, node.outputs)):
                    o = np.asarray(o)
                    if tuple(o.shape) != tuple(v.shape) or o.dtype != to_numpy(v.dtype):
                        raise CustomOpError(
                            f"custom op {full} ({where}), node {node.name!r}: reference output "
                            f"{i} is {o.dtype}{list(o.shape)}, its shape rule and the model say "
                            f"{v.dtype}{list(v.shape)}")
                    outs[i] = o
                return outs

            reset = getattr(kernel, "reset", None)
            if reset is not None:
                run.reset = reset  # type: ignore[attr-defined]
            return run

        checked_prepare.__doc__ = prepare.__doc__
        register(full, macs=macs, oracle=oracle, dtypes=dtypes, doc=doc, traits=traits,
                 shape=shape, cost=(lambda node: {"instructions": float(cost(node))})
                 if cost is not None else None, origin=where)(checked_prepare)
        info = REGISTRY[full]
        if src_path is not None:
            # The C backend attaches the emitter when it loads (now, if it already has).
            info.extra["c_kernel"] = (src_path, c_function, params, scratch, tuple(dtypes))
            if "picojoule.backends.c.emitters" in sys.modules:
                from picojoule.backends.c.emitters.custom import attach_pending

                attach_pending()
        return prepare

    return deco


def options(node: Node) -> dict:
    """A TFLite custom op's options (its FlexBuffer map) as a dict; {} when it has none."""
    raw = node.attrs.get("custom_options") or b""
    if not raw:
        return {}
    from flatbuffers import flexbuffers

    try:
        opts = flexbuffers.Loads(bytes(raw))
    except Exception as exc:  # noqa: BLE001 - corrupted bytes in a user's model
        raise PicojouleError(f"{node.op} (node {node.name!r}): custom options are not a "
                             f"readable FlexBuffer ({type(exc).__name__})") from None
    if not isinstance(opts, dict):
        raise PicojouleError(f"{node.op} (node {node.name!r}): custom options are not a map")
    return opts


def encode_options(values: dict) -> bytes:
    """The FlexBuffer bytes TFLite stores as a custom op's options (for building models)."""
    from flatbuffers import flexbuffers

    return bytes(flexbuffers.Dumps(values))


# ------------------------------------------------------------------------------- loading
_LOADED: dict[str, Any] = {}


def load_custom_ops(path: str | Path) -> list[str]:
    """Import the custom-op file (or every ``*.py`` in a folder) at ``path``; return the
    names of the ops it registered. Loading the same file twice does nothing."""
    from picojoule.ops.registry import REGISTRY

    p = Path(path)
    files = sorted(p.glob("*.py")) if p.is_dir() else [p]
    if not p.exists():
        raise CustomOpError(f"custom ops file {p} not found")
    added: list[str] = []
    for f in files:
        key = str(f.resolve())
        if key in _LOADED:
            continue
        before = set(REGISTRY)
        spec = importlib.util.spec_from_file_location(f"picojoule_custom_{len(_LOADED)}", f)
        if spec is None or spec.loader is None:
            raise CustomOpError(f"custom ops file {f}: not a Python file")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except PicojouleError:
            raise
        except SyntaxError as exc:
            raise CustomOpError(f"custom ops file {f}: syntax error at line {exc.lineno}: "
                                f"{exc.msg}") from None
        except Exception as exc:  # noqa: BLE001 - the user's code, reported with its path
            raise CustomOpError(f"custom ops file {f}: {type(exc).__name__}: {exc}") from None
        _LOADED[key] = module
        new = sorted(set(REGISTRY) - before)
        if not new:
            raise CustomOpError(f"custom ops file {f}: registers no op (use "
                                f"picojoule.custom.custom_op)")
        added += new
    return added


def load_entry_points() -> list[str]:
    """Load custom ops published by installed packages (entry point group ``picojoule.ops``,
    each naming a module that registers its ops when imported)."""
    from importlib.metadata import entry_points

    from picojoule.ops.registry import REGISTRY

    added: list[str] = []
    for ep in entry_points(group="picojoule.ops"):
        if ep.value in _LOADED:
            continue
        before = set(REGISTRY)
        try:
            ep.load()
        except PicojouleError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise CustomOpError(f"custom ops entry point {ep.name} ({ep.value}): "
                                f"{type(exc).__name__}: {exc}") from None
        _LOADED[ep.value] = ep
        added += sorted(set(REGISTRY) - before)
    return added


__all__ = ["custom_op", "load_custom_ops", "load_entry_points", "CustomOpError", "op_name",
           "options", "encode_options"]
