"""RAM verdicts from a memory plan over a target's regions.

The planner fills the regions fastest first and spills what does not fit to the next
one; what the last region cannot hold is its overflow. A tensor larger than every region
fits nowhere, so it ends in the last region, whose "overflow" then says nothing about the
problem (a small region overflowing by a megabyte while the large ones sit empty). Such
a tensor is named instead: its size and the largest region that could have held it.
"""

from __future__ import annotations

from typing import Any

from picojoule.planner import MemoryPlan


def _what(name: str) -> str:
    if name.startswith("scratch:"):
        return f"the scratch buffer of node {name[len('scratch:'):]!r}"
    # TensorFlow's converter joins the names of fused ops with ';': the first one names it.
    head, sep, _ = name.partition(";")
    return f"tensor {head!r}" + (" (name shortened at ';')" if sep else "")


def largest_region(plan: MemoryPlan) -> Any | None:
    """The region with the most room for the arena (the fastest of equals), or None."""
    if not plan.regions:
        return None
    return max(plan.regions, key=lambda r: r.capacity)  # max keeps the first of equals


def oversized_tensors(plan: MemoryPlan) -> list[dict[str, Any]]:
    """Buffers (a tensor with the zero-copy views sharing it, or a node's scratch) larger
    than the largest region, largest first: ``[{"name", "bytes"}]``."""
    big = largest_region(plan)
    if big is None:
        return []
    out = [{"name": b.name, "bytes": b.size} for b in plan.buffers if b.size > big.capacity]
    return sorted(out, key=lambda t: -t["bytes"])


def ram_problems(plan: MemoryPlan, target_name: str, needed_bytes: int, capacity_bytes: int,
                 stack_bytes: int = 0) -> list[str]:
    """The RAM part of the verdict: an oversized tensor, else each overflowing region.

    ``needed_bytes``: the RAM the model needs with its stack; ``capacity_bytes``: what the
    target's arena regions hold; ``stack_bytes``: the room the stack takes in the fastest
    region (its capacity in ``plan`` is net of it).
    """
    whole = (f"the model needs {needed_bytes:,} B of RAM with its stack; {target_name}'s "
             f"arena regions hold {capacity_bytes:,} B")
    big = oversized_tensors(plan)
    if big:
        region = largest_region(plan)
        room = f"{region.capacity:,} B"
        if stack_bytes and region is plan.regions[0]:
            room += f" after the {stack_bytes:,} B stack"
        more = (f"; {len(big) - 1} more tensor{'s' if len(big) > 2 else ''} larger than that "
                f"region" if len(big) > 1 else "")
        problem = (f"{_what(big[0]['name'])} ({big[0]['bytes']:,} B) is larger than "
                   f"{target_name}'s largest RAM region, {region.name} ({room}): no single "
                   f"region holds it{more} ({whole})")
        return [problem]
    return [f"RAM region {name} overflows by {over:,} bytes ({whole})"
            for name, over in plan.overflow.items()]
