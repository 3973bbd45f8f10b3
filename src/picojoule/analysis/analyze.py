"""``picojoule analyze``: does a model fit a target, and if not, where and by how much.

RAM is the memory plan (:func:`picojoule.planner.plan_memory`) over the target's arena
regions, fastest first, plus a stack estimate; flash is the weights plus the per-channel
requantization constants plus a code estimate. Both estimates are labelled as such in
the report until code generation measures them.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from picojoule.analysis.codegen_size import codegen_report
from picojoule.ir import Model
from picojoule.ops import REGISTRY, node_macs
from picojoule.ops.registry import ALIAS, has_trait
from picojoule.planner import MemoryPlan, plan_memory
from picojoule.targets import Target, list_targets, load_target

#: Stack the generated code needs around an invocation (kernels keep no large locals).
STACK_ESTIMATE_BYTES = 1024
STACK_SOURCE = "estimate: picojoule's kernels keep loop state only; refined by codegen"
#: Code bytes: a fixed runtime plus one kernel per distinct op (Cortex-M Thumb-2 -Os).
CODE_BASE_BYTES = 1024
CODE_PER_OP_KIND_BYTES = 1536
CODE_SOURCE = ("estimate: 1 KiB runtime + 1.5 KiB per distinct op kind; refined by "
               "arm-none-eabi-size once code generation measures it")
#: Ops whose weights carry per-output-channel multiplier and shift (int32 each) in flash.
_REQUANT_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"}


def _requant_bytes(model: Model) -> int:
    total = 0
    for node in model.main.nodes:
        if node.op in _REQUANT_OPS and node.outputs and node.outputs[0].quant is not None:
            w = node.input(1)
            channels = w.quant.scale.size if w is not None and w.quant is not None else 1
            total += 8 * channels
    return total


def flash_estimate(model: Model) -> dict[str, Any]:
    """Weights, requantization constants and code, in bytes."""
    g = model.main
    weights = sum(v.nbytes for v in g.values() if v.is_const)
    kinds = {n.op for n in g.nodes if not has_trait(n, ALIAS)}
    code = CODE_BASE_BYTES + CODE_PER_OP_KIND_BYTES * len(kinds)
    requant = _requant_bytes(model)
    return {"weights_bytes": weights, "requant_bytes": requant, "code_bytes_estimate": code,
            "code_source": CODE_SOURCE, "total_bytes": weights + requant + code}


def _regions(target: Target, stack: int) -> list[tuple[str, int]]:
    """Arena regions fastest first; the stack takes its room in the fastest one."""
    regs = [(r.name, r.size) for r in target.regions_fast_first(arena_only=True)]
    if regs:
        regs[0] = (regs[0][0], max(regs[0][1] - stack, 0))
    return regs


def _unsupported(model: Model, target: Target) -> list[dict[str, str]]:
    """Ops the target cannot run, each with the reason."""
    out = []
    seen = set()
    for n in model.main.nodes:
        if n.op in seen:
            continue
        seen.add(n.op)
        if n.op == "CUSTOM:ethos-u" and not target.has_npu:
            out.append({"op": n.op, "reason": f"an Ethos-U command stream; {target.name} has no "
                                              f"Ethos-U NPU"})
        elif n.op not in REGISTRY:
            out.append({"op": n.op, "reason": "picojoule has no kernel for it"})
    return out


def _warnings(model: Model, target: Target) -> list[str]:
    floats = sorted({n.op for n in model.main.nodes
                     if any(v.dtype == "float32" for v in n.outputs)})
    warn = []
    if floats and target.core.fpu == "none":
        warn.append(f"{target.core.name} has no FPU: float32 ops ({', '.join(floats)}) run in "
                    f"software floating point; quantize the model to int8")
    return warn


def _codegen_warnings(codegen: dict) -> list[str]:
    """What the user must know when the generated library could not be measured: the flash
    and RAM figures are then the graph's rough estimate, not the firmware's."""
    if "error" not in codegen:
        return []
    return [f"no generated-library figures for {codegen['core']} ({codegen['error']}): flash "
            f"and RAM are estimated from the graph (weights + a code estimate), not predicted "
            f"from the generated C"]


def _suggestions(model: Model, target: Target, plan: MemoryPlan, flash: dict,
                 flash_over: int) -> list[str]:
    tips = []
    if plan.order_method in ("exact", "greedy"):
        tips.append(f"ops already reordered ({plan.order_method} search) to lower the peak")
    if flash_over > 0:
        int8_weights = sum(v.nbytes for v in model.main.values()
                           if v.is_const and v.dtype == "int8" and v.size > 64)
        if int8_weights:
            tips.append(f"int4 weights would save about {int8_weights // 2:,} bytes of flash")
    # Other catalogue targets where the model fits (one plan each, stack included).
    fitting = []
    for name in list_targets():
        if name == target.name:
            continue
        other = load_target(name)
        cap_flash = other.flash.size
        if cap_flash is not None and cap_flash < flash["total_bytes"]:
            continue
        p = plan_memory(model, regions=_regions(other, STACK_ESTIMATE_BYTES))
        if p.fits:
            fitting.append((other.total_ram_bytes(arena_only=True), name))
    if fitting:
        names = ", ".join(n for _, n in sorted(fitting)[:4])
        tips.append(f"targets in the catalogue where it fits (smallest RAM first): {names}")
    return tips


def analyze(model: Model, target: Target) -> dict[str, Any]:
    """The full report as JSON-ready data."""
    g = model.main
    stack = STACK_ESTIMATE_BYTES
    plan = plan_memory(model, regions=_regions(target, stack))
    flash = flash_estimate(model)
    # What the generated C library itself occupies on this core (arm-none-eabi-size of its
    # objects, predicted within 5%): weights in the kernels' layout, parameter blocks and
    # the kernels' code replace the rough estimate as the flash figure.
    codegen = codegen_report(model, target)
    if "flash_bytes" in codegen:
        flash["estimate_total_bytes"] = flash["total_bytes"]
        flash["total_bytes"] = codegen["flash_bytes"]
        flash["total_source"] = codegen["source"]
    cap_flash = target.flash.size
    flash_over = flash["total_bytes"] - cap_flash if cap_flash is not None else 0
    unsupported = _unsupported(model, target)
    regions = []
    for r in plan.regions:
        region = target.region(r.name)
        first = r.name == plan.regions[0].name
        regions.append({"name": r.name, "speed": region.speed,
                        "used": r.used + (stack if first else 0), "capacity": region.size,
                        "overflow_bytes": plan.overflow.get(r.name, 0)})
    problems = []
    capacity = sum(r.size for r in target.regions_fast_first(arena_only=True))
    for name, over in plan.overflow.items():
        problems.append(f"RAM region {name} overflows by {over:,} bytes (the model needs "
                        f"{plan.total_bytes + stack:,} B of RAM with its stack; {target.name}'s "
                        f"arena regions "
                        f"hold {capacity:,} B)")
    if not plan.regions:
        problems.append(f"{target.name} has no RAM region that can hold the arena")
    if flash_over > 0:
        problems.append(f"flash overflows by {flash_over:,} bytes "
                        f"({flash['total_bytes']:,} needed, {cap_flash:,} available)")
    for u in unsupported:
        problems.append(f"op {u['op']} unsupported: {u['reason']}")
    largest = max((r.size for r in target.regions_fast_first(arena_only=True)), default=0)
    if "ram_bytes" in codegen and codegen["ram_bytes"] + stack > largest:
        problems.append(f"the generated C library's static RAM ({codegen['ram_bytes']:,} B, "
                        f"no in-place execution yet) plus stack exceeds {target.name}'s largest "
                        f"RAM region ({largest:,} B)")
    fits = not problems
    macs_per_op = {id(n): node_macs(n) for n in g.nodes}
    ops = []
    for row in plan.op_table():
        node = next(n for n in g.nodes if n.name == row["node"])
        ops.append(dict(row, macs=macs_per_op[id(node)]))
    report = {
        "model": model.source,
        "target": target.name,
        "target_display_name": target.display_name,
        "fits": fits,
        "verdict": ("fits" if fits else "does not fit: " + "; ".join(problems)),
        "problems": problems,
        "macs": sum(macs_per_op.values()),
        "op_counts": dict(Counter(n.op for n in g.nodes)),
        "ram": {
            "arena_bytes": plan.arena_bytes,
            "lower_bound_arena_bytes": plan.lower_bound_bytes,
            "outside_arena_bytes": plan.outside_bytes,
            "stack_bytes_estimate": stack,
            "stack_source": STACK_SOURCE,
            # What the model's data needs (arena + state kept outside it), comparable with
            # TFLM's arena figure, which holds no stack either.
            "total_bytes": plan.total_bytes,
            "total_with_stack_bytes": plan.total_bytes + stack,
            "execution_order": plan.order_method,
            # The generated library's static RAM (its own arena + state, bss + data); it
            # does not run ops in place yet, so it needs more than the plan above.
            **({"firmware_bytes": codegen["ram_bytes"],
                "firmware_with_stack_bytes": codegen["ram_bytes"] + stack}
               if "ram_bytes" in codegen else {}),
        },
        "flash": dict(flash, capacity_bytes=cap_flash),
        "regions": regions,
        "unsupported_ops": unsupported,
        "warnings": _warnings(model, target) + _codegen_warnings(codegen),
        "ops": ops,
        "codegen": codegen,
    }
    report["suggestions"] = [] if fits else _suggestions(model, target, plan, flash, flash_over)
    report["estimate"] = _estimate(model, target)
    return report


def _estimate(model: Model, target: Target) -> dict[str, Any]:
    """Latency and energy at the target's top clock (see ``picojoule estimate``)."""
    from picojoule.errors import PicojouleError
    from picojoule.estimate import estimate

    try:
        return estimate(model, target)
    except PicojouleError as exc:
        return {"error": str(exc)}
