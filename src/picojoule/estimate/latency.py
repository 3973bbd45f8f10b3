"""The per-target latency model: fitted kernel instruction counts x CPI + flash wait states.

A target file's ``[latency]`` table (written by ``scripts/fit_latency.py``) names the core
class, the instruction model it uses (fitted on an emulated core: QEMU ``-icount``), the
cycles-per-instruction factor of the class with its source, and how weights stream from
flash. cycles(node) = instructions(node) * cpi + (weight bytes / flash_line_bytes +
lookup-table reads) * wait states at the chosen clock. Wait states at f scale from the
file's figure at max clock as ceil((ws_max + 1) * f / f_max) - 1 (a fixed flash access
time; RM0432 gives 5 WS at 120 MHz and 3 WS at 80 MHz on the L4R5, which this reproduces).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from picojoule.estimate.features import (NO_KERNEL_VARIANT, features, io_features,
                                         kernel_names, table_reads, weight_stream_bytes)
from picojoule.ir import Model, Node
from picojoule.ops.registry import REGISTRY, node_macs
from picojoule.targets import Target

#: Instructions per MAC and per output for ops no fitted model covers (an estimate from the
#: portable kernels' fitted figures, rounded up; flagged in the warnings).
UNKNOWN_OP_INSTR_PER_MAC = 4.0
UNKNOWN_OP_INSTR_PER_OUTPUT = 30.0


@dataclass
class LatencyModel:
    core_class: str
    instruction_model: str  # the class whose fitted kernels give the instructions
    c_target: str  # C backend target used to pick kernel variants
    kernels: dict[str, dict[str, float]]
    cpi: float
    flash_line_bytes: float | None
    sources: dict[str, str] = field(default_factory=dict)

    def wait_states(self, target: Target, mhz: float) -> int:
        ws = target.flash.wait_states
        if not ws or target.flash.kind == "none":
            return 0
        return max(math.ceil((ws + 1) * mhz / target.core.max_mhz - 1e-9) - 1, 0)


def raw_table(target: Target) -> dict:
    """The target file's ``[latency]`` table (the loader keeps only what it knows)."""
    from picojoule.targets import _read_raw, _resolve_extends  # noqa: PLC2701

    user_file = "/" in target.path or "\\" in target.path
    raw, where, bundled = _read_raw(target.path if user_file else target.name)
    raw = _resolve_extends(raw, where, (bundled or where,))
    return raw.get("latency", {}) or {}


def load_latency(target: Target) -> LatencyModel | None:
    """The target's latency model, or None when its file has no fitted kernels."""
    try:
        t = raw_table(target)
    except Exception:  # noqa: BLE001  (an odd user file: fall back, the caller says so)
        return None
    kernels = t.get("kernels") or {}
    if not kernels or "cpi" not in t:
        return None
    sources = {k[: -len("_source")]: v for k, v in t.items()
               if k.endswith("_source") and isinstance(v, str)}
    sources.setdefault("kernels", t.get("source", ""))
    return LatencyModel(
        core_class=str(t.get("core_class", target.core.name.lower())),
        instruction_model=str(t.get("instruction_model", t.get("core_class", ""))),
        c_target=str(t.get("c_target", "cortex-m4")),
        kernels={k: {f: float(c) for f, c in v.items()} for k, v in kernels.items()},
        cpi=float(t["cpi"]),
        flash_line_bytes=float(t["flash_line_bytes"]) if "flash_line_bytes" in t else None,
        sources=sources,
    )


@dataclass
class NodeCost:
    index: int
    name: str
    op: str
    kernel: str
    macs: int
    instructions: float
    flash_stall_cycles: float
    cycles: float
    modelled: bool  # False: no fitted coefficients, estimated from MACs/outputs
    #: "kernel" (its own fit), "op" (the op's fit over all its kernels), "op file" (the
    #: op's own cost function), "rough" (no fit) or "no C kernel" (nothing to run yet).
    how: str = "kernel"


def node_costs(model: Model, lm: LatencyModel, target: Target, mhz: float) -> list[NodeCost]:
    """Cycles of every node of ``model`` on ``target`` at ``mhz``."""
    kernels = kernel_names(model, lm.c_target)
    ws = lm.wait_states(target, mhz)
    out = []
    for k, node in enumerate(model.main.nodes):
        variant, f = features(node, kernels.get(k))
        if variant == "free":
            out.append(NodeCost(k, node.name, node.op, "none (aliased)", 0, 0.0, 0.0, 0.0,
                                True))
            continue
        info = REGISTRY.get(node.op)
        user = info.cost(node) if info is not None and info.cost is not None else None
        coefs = None if variant == NO_KERNEL_VARIANT else lm.kernels.get(variant)
        how = "kernel"
        if coefs is None and variant != NO_KERNEL_VARIANT and _fitted_dtype(node) \
                and user is None:
            coefs, how = lm.kernels.get(node.op), "op"
        modelled = coefs is not None
        if modelled:
            instr = sum(coefs.get(name, 0.0) * v for name, v in f.items())
        elif user is not None and "instructions" in user:
            # The op's own cost function (a custom op's file): its author's figure.
            instr, how, modelled = float(user["instructions"]), "op file", True
        else:
            instr = _unknown_instructions(node)
        stall = 0.0
        if ws and lm.flash_line_bytes:
            stall = (weight_stream_bytes(node, variant) / lm.flash_line_bytes
                     + table_reads(node, variant)) * ws
        rough = "no C kernel" if variant == NO_KERNEL_VARIANT else "rough"
        out.append(NodeCost(k, node.name, node.op, variant, node_macs(node), instr, stall,
                            instr * lm.cpi + stall, modelled, how if modelled else rough))
    io = lm.kernels.get("io_copies")
    if io is not None:
        instr = sum(io.get(k, 0.0) * v for k, v in io_features(model).items())
        out.append(NodeCost(len(model.main.nodes), "inputs and outputs", "COPY_IO",
                            "io_copies", 0, instr, 0.0, instr * lm.cpi, True, "kernel"))
    return out


def _fitted_dtype(node: Node) -> bool:
    """Whether ``node`` works on int8 data: an op's fit over its int8 kernels (see
    :func:`picojoule.estimate.fit.fit`) stands in for another int8 kernel of it, not for a
    float32 or int16 one (those cost several times more instructions per MAC)."""
    return bool(node.inputs) and node.inputs[0] is not None and node.inputs[0].dtype == "int8"


def _unknown_instructions(node: Node) -> float:
    y = node.outputs[0] if node.outputs else None
    return (UNKNOWN_OP_INSTR_PER_MAC * node_macs(node)
            + UNKNOWN_OP_INSTR_PER_OUTPUT * (y.size if y is not None else 0) + 100.0)
