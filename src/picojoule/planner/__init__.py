"""Memory planning: where every tensor lives in RAM, and how little RAM a model needs.

- :mod:`.core` -- the pure planner over ``(size, first use, last use)`` buffers, its lower
  bound, overlap checker and ASCII printer;
- :mod:`.inplace` -- when an op may overwrite its input, proven chunk by chunk;
- :mod:`.scratch` -- per-op scratch and state bytes, with sources;
- :mod:`.order` -- operator reordering (exact for small graphs, greedy for large ones);
- :mod:`.graph` -- :func:`plan_memory`: graph -> :class:`MemoryPlan`.

``picojoule.runtime.arena.ArenaInterpreter`` runs a model from a plan in one flat
bytearray, which proves the plan bit for bit.
"""

from picojoule.planner.core import (
    Buffer, Pin, Placement, find_overlaps, lower_bound, plan, render,
)
from picojoule.planner.graph import MemoryPlan, RegionUse, Slot, check_plan, plan_memory

__all__ = [
    "Buffer", "MemoryPlan", "Pin", "Placement", "RegionUse", "Slot", "check_plan",
    "find_overlaps", "lower_bound", "plan", "plan_memory", "render",
]
