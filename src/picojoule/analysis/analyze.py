"""``picojoule analyze``: does a model fit a target, and if not, where and by how much.

RAM is what the firmware needs: the arena the generated C declares, the state it keeps
outside the arena, and the stack. The arena is the memory plan
(:func:`picojoule.planner.plan_memory`) over the needs the C emitters declare for the
target's core (:func:`picojoule.backends.c.generator.kernel_needs`: each kernel's scratch,
the in-place placements it honours), the very plan the generator allocates; when the C
backend cannot generate the model, the op table's figures stand in and the report says so.
Flash is the weights plus the per-channel requantization constants plus a code estimate,
labelled as such until code generation measures it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from picojoule.analysis.codegen_size import codegen_report
from picojoule.analysis.verdict import oversized_tensors, ram_problems
from picojoule.ir import Model
from picojoule.ops import REGISTRY, node_macs
from picojoule.ops.registry import ALIAS, has_trait
from picojoule.planner import MemoryPlan, plan_memory
from picojoule.planner.graph import split_regions
from picojoule.targets import Target, list_targets, load_target

#: Stack the generated code needs around an invocation when it cannot be measured
#: (kernels keep no large locals; their arrays are scratch in the arena).
STACK_ESTIMATE_BYTES = 1024
STACK_SOURCE = ("stated bound, not measured: picojoule's kernels keep loop state in "
                "registers and small locals, their scratch arrays live in the arena")
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


def generate_for(model: Model, target: Target) -> tuple[Any, str]:
    """The C library generated for ``target``'s core (the portable kernels for a core the C
    backend has no flags for, as ``compile --target host`` writes them), or
    ``(None, why not)``."""
    from pathlib import Path

    from picojoule.analysis.codegen_size import CodegenSizeError, core_of
    from picojoule.backends.c.generator import generate
    from picojoule.errors import PicojouleError

    name = Path(model.source).stem if model.source else "model"
    try:
        try:
            core = core_of(target)
        except CodegenSizeError:
            core = "host"
        return generate(model, name=name, target=core), ""
    except PicojouleError as exc:
        return None, str(exc).splitlines()[0]


def stack_bound(gen: Any) -> tuple[int, str]:
    """Stack bytes the generated library needs and where the figure comes from: measured
    on the ARM toolchain (:mod:`.stack`) when the library exists and the toolchain is
    installed, else the stated bound :data:`STACK_ESTIMATE_BYTES`."""
    from picojoule.analysis.stack import firmware_cflags, measure

    if gen is not None and gen.target.name != "host":
        use = measure(gen, firmware_cflags(gen.target.name))
        if use is not None:
            return use.bytes, use.source
    return STACK_ESTIMATE_BYTES, STACK_SOURCE


def ram_plans(model: Model, target: Target, stack: int, gen: Any = None
              ) -> tuple[MemoryPlan, MemoryPlan, str]:
    """``(arena plan, region plan, source)``. The arena plan is the one the C library
    generated for the target's core allocates (``gen``, generated here when not given:
    the planner over the needs its emitters declare); without generated C, the op table's
    plan. The region plan is the same buffers, lifetimes and in-place decisions over the
    target's regions (:func:`picojoule.planner.graph.split_regions`)."""
    why = ""
    if gen is None:
        gen, why = generate_for(model, target)
    plan = gen.meta.get("memory_plan") if gen is not None else None
    if plan is not None:
        source = (f"the arena the generated C declares ({gen.name.upper()}_ARENA_SIZE), "
                  f"planned over the scratch and in-place placements of "
                  f"{gen.meta['kernel_needs'].source}")
    else:
        plan = plan_memory(model)
        source = (f"planned from the op table, not from generated C ({why or 'no plan'}): "
                  f"the firmware's arena is not known")
    regs = _regions(target, stack)
    regional = split_regions(plan, regs) if regs else dataclasses.replace(plan, regions=[])
    return plan, regional, source


def analyze(model: Model, target: Target) -> dict[str, Any]:
    """The full report as JSON-ready data."""
    g = model.main
    gen, _ = generate_for(model, target)
    stack, stack_source = stack_bound(gen)
    arena_plan, plan, arena_source = ram_plans(model, target, stack, gen)
    flash = flash_estimate(model)
    # What the generated C library itself occupies on this core (arm-none-eabi-size of its
    # objects, predicted within 5%): weights in the kernels' layout, parameter blocks and
    # the kernels' code replace the rough estimate as the flash figure.
    codegen = codegen_report(model, target, gen)
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
    capacity = sum(r.size for r in target.regions_fast_first(arena_only=True))
    problems = ram_problems(plan, target.name, plan.total_bytes + stack, capacity, stack)
    if not plan.regions:
        problems.append(f"{target.name} has no RAM region that can hold the arena")
    if flash_over > 0:
        problems.append(f"flash overflows by {flash_over:,} bytes "
                        f"({flash['total_bytes']:,} needed, {cap_flash:,} available)")
    for u in unsupported:
        problems.append(f"op {u['op']} unsupported: {u['reason']}")
    largest = max((r.size for r in target.regions_fast_first(arena_only=True)), default=0)
    if "ram_bytes" in codegen and codegen["ram_bytes"] + stack > largest:
        problems.append(f"the generated C library's static RAM ({codegen['ram_bytes']:,} B: "
                        f"its one arena array, state and kernel statics) plus stack exceeds "
                        f"{target.name}'s largest RAM region ({largest:,} B)")
    fits = not problems
    macs_per_op = {id(n): node_macs(n) for n in g.nodes}
    ops = []
    for row in plan.op_table():
        node = next(n for n in g.nodes if n.name == row["node"])
        ops.append(dict(row, macs=macs_per_op[id(node)]))
    arena, state = arena_plan.arena_bytes, arena_plan.outside_bytes
    report = {
        "model": model.source,
        "target": target.name,
        "target_display_name": target.display_name,
        "fits": fits,
        "verdict": ("fits" if fits else "does not fit: " + "; ".join(problems)),
        "problems": problems,
        "oversized_tensors": oversized_tensors(plan),
        "macs": sum(macs_per_op.values()),
        "op_counts": dict(Counter(n.op for n in g.nodes)),
        "ram": {
            # What the firmware needs: arena + state + stack.
            "total_bytes": arena + state + stack,
            "arena_bytes": arena,
            "arena_source": arena_source,
            "lower_bound_arena_bytes": arena_plan.lower_bound_bytes,
            "state_bytes": state,
            "stack_bytes": stack,
            "stack_source": stack_source,
            # Arena + state, without stack: comparable with TFLM's arena figure.
            "data_bytes": arena + state,
            "execution_order": arena_plan.order_method,
            "inplace_ops": len(arena_plan.inplace),
            # The generated library's static RAM as arm-none-eabi-size would count it
            # (bss + data of its objects: the arena array, state, kernel statics).
            **({"firmware_static_bytes": codegen["ram_bytes"]}
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

