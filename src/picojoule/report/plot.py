"""Pictures of analyses (matplotlib, drawn off-screen)."""

from __future__ import annotations

import io

from picojoule.planner import MemoryPlan


def plan_png(plan: MemoryPlan, title: str = "") -> bytes:
    """The memory timeline as a PNG: one rectangle per buffer (steps x addresses) per region."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    used = [r for r in plan.regions if r.used] or plan.regions[:1]
    fig, axes = plt.subplots(len(used), 1, figsize=(10, 3.2 * len(used)), squeeze=False)
    names = {}
    for v in plan.graph.values():
        slot = plan.slots.get(id(v))
        if slot is not None:
            names.setdefault(slot.buffer, v.name)
    cmap = plt.get_cmap("tab20")
    steps = max((b.last for b in plan.buffers), default=0) + 1
    for ax, reg in zip(axes[:, 0], used):
        r = [i for i, rg in enumerate(plan.regions) if rg.name == reg.name][0]
        for i, b in enumerate(plan.buffers):
            if plan.buffer_region[i] != r or not b.size:
                continue
            scratch = i not in names
            ax.add_patch(Rectangle((b.first - 0.45, plan.offsets[i]), b.last - b.first + 0.9,
                                   b.size, facecolor="lightgrey" if scratch else cmap(i % 20),
                                   edgecolor="black", linewidth=0.4, alpha=0.9,
                                   hatch="//" if scratch else None))
        ax.set_xlim(-0.6, steps - 0.4)
        ax.set_ylim(0, max(reg.used, 1) * 1.02)
        ax.set_xlabel("step (op in execution order)")
        ax.set_ylabel("address (bytes)")
        ax.set_title(f"{title}  region {reg.name}: {reg.used:,} B"
                     f"  (lower bound {plan.lower_bound_bytes:,} B; hatched = scratch)",
                     fontsize=9)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out.getvalue()
