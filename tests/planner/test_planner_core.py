"""The pure planner core: hand-derived tables, then random properties.

Expected offsets below were worked out by hand from the algorithm's definition
(first fit at the lowest address, clusters placed in the strategy's order); the
derivation is in the comment above each table.
"""

from __future__ import annotations

import numpy as np
import pytest

from picojoule.planner.core import (
    STRATEGIES, Buffer, Pin, find_overlaps, lower_bound, plan, render, step_totals,
)


def _bufs(rows):
    return [Buffer(size, first, last, f"b{i}") for i, (size, first, last) in enumerate(rows)]


# b0 100 B steps 0-1, b1 50 B steps 1-2, b2 20 B steps 2-3. By size: b0 @0; b1 meets b0 at
# step 1 -> 100; b2 meets only b1 ([100,150)) -> 0. Live bytes per step: 100, 150, 70, 20.
CHAIN = ([(100, 0, 1), (50, 1, 2), (20, 2, 3)], "size", [0, 100, 0], 150, 150)

# b0 30 B @step 0, b1 30 B @2, b2 20 B steps 0-1, b3 20 B steps 1-2. Live: 50, 40, 50.
# By size (b0, b1, b2, b3): b0 @0, b1 @0, b2 above b0 @30, b3 must avoid b1 [0,30) at
# step 2 and b2 [30,50) at step 1 -> 50: arena 70, 40% above the bound.
# First use (b0, b2, b3, b1): b0 @0, b2 @30, b3 @0 (only b2 is placed among its
# neighbours), b1 must avoid b3 [0,20) -> 20: arena 50 = the lower bound.
TRAP_SIZE = ([(30, 0, 0), (30, 2, 2), (20, 0, 1), (20, 1, 2)], "size", [0, 0, 30, 50], 70, 50)
TRAP_FIRST = ([(30, 0, 0), (30, 2, 2), (20, 0, 1), (20, 1, 2)], "first_use", [0, 20, 30, 0],
              50, 50)
TRAP_BEST = ([(30, 0, 0), (30, 2, 2), (20, 0, 1), (20, 1, 2)], "best", [0, 20, 30, 0], 50, 50)

# Same buffers sizes, no common step: everything at 0.
DISJOINT = ([(64, 0, 0), (32, 1, 1), (128, 2, 2)], "size", [0, 0, 0], 128, 128)


@pytest.mark.parametrize("rows,strategy,offsets,arena,bound",
                         [CHAIN, TRAP_SIZE, TRAP_FIRST, TRAP_BEST, DISJOINT],
                         ids=["chain", "trap-size", "trap-first-use", "trap-best", "disjoint"])
def test_table(rows, strategy, offsets, arena, bound):
    bufs = _bufs(rows)
    p = plan(bufs, strategy, alignment=1)
    assert p.offsets == offsets
    assert p.size == arena
    assert p.lower_bound == bound == lower_bound(bufs, alignment=1)
    assert find_overlaps(bufs, p.offsets, alignment=1) == []


def test_alignment_rounds_sizes_and_offsets():
    # 10 B and 20 B alive together, 16-byte alignment: 32 B (b1) @0, 16 B (b0) @32.
    bufs = _bufs([(10, 0, 0), (20, 0, 0)])
    p = plan(bufs, "size", alignment=16)
    assert p.offsets == [32, 0]
    assert p.size == 48 == p.lower_bound


def test_per_buffer_alignment():
    # Two 16 B buffers alive together, the second wanting 64-byte alignment: b0 @0, then b1
    # cannot take 16 (not a multiple of 64) and goes to 64. The bound ignores padding: 32.
    bufs = [Buffer(16, 0, 0, "a"), Buffer(16, 0, 0, "b", alignment=64)]
    p = plan(bufs, "first_use", alignment=1)
    assert p.offsets == [0, 64]
    assert (p.size, p.lower_bound) == (80, 32)
    assert find_overlaps(bufs, [0, 64], alignment=1) == []
    assert find_overlaps(bufs, [0, 32], alignment=1) == [(1, 1)]


def test_pins_make_a_rigid_cluster():
    # a (64 B, steps 0-1) is overwritten in place by b (64 B, steps 1-2) placed 16 B
    # lower: cluster = b @0, a @16, spanning 80 B at step 1. c (32 B, steps 0-2) must
    # avoid a [16,80) and b [0,64) -> 80. Live: 96, 80 + 32, 96.
    bufs = _bufs([(64, 0, 1), (64, 1, 2), (32, 0, 2)])
    pins = [Pin(0, 1, -16)]
    p = plan(bufs, "size", alignment=16, pins=pins)
    assert p.offsets == [16, 0, 80]
    assert p.size == 112 == p.lower_bound
    assert step_totals(bufs, 16, pins) == {0: 96, 1: 112, 2: 96}
    assert find_overlaps(bufs, p.offsets, 16, pins) == []
    # The same overlap at another distance, or without the pin, is a violation.
    assert find_overlaps(bufs, [16, 16, 80], 16, pins) == [(0, 1)]
    assert find_overlaps(bufs, p.offsets, 16) == [(0, 1)]


def test_checker_flags_overlap_and_misalignment():
    bufs = _bufs([(32, 0, 1), (32, 1, 2), (32, 2, 3)])
    assert find_overlaps(bufs, [0, 16, 0], 16) == [(0, 1), (1, 2)]
    assert find_overlaps(bufs, [0, 32, 0], 16) == []
    assert find_overlaps(bufs, [0, 40, 0], 16) == [(1, 1)]


def test_render_draws_lifetimes():
    bufs = _bufs([(16, 0, 0), (16, 0, 1)])
    text = render(bufs, [0, 16], width=4, alignment=16)
    lines = text.splitlines()
    assert lines[1].startswith("   0 |0011|")
    assert lines[2].startswith("   1 |..11|")
    assert "b1: 16 B @ 16, steps 0..1" in text


def _random_case(rng, with_pins: bool):
    n = int(rng.integers(1, 30))
    align = int(rng.choice([1, 4, 16]))
    rows = []
    for _ in range(n):
        f = int(rng.integers(0, 15))
        rows.append((int(rng.integers(0, 300)), f, f + int(rng.integers(0, 6))))
    bufs = _bufs(rows)
    pins = []
    if with_pins:
        # Chains: a buffer born at the step another one dies, pinned at a random distance.
        used = set()
        for i, a in enumerate(bufs):
            for j, b in enumerate(bufs):
                if i != j and b.first == a.last and i not in used and j not in used \
                        and rng.random() < 0.5:
                    pins.append(Pin(i, j, align * int(rng.integers(-8, 9))))
                    used |= {i, j}
    return bufs, pins, align


@pytest.mark.parametrize("with_pins", [False, True])
def test_random_plans_are_sound(with_pins):
    rng = np.random.default_rng(1234 + with_pins)
    for _ in range(150):
        bufs, pins, align = _random_case(rng, with_pins)
        lb = lower_bound(bufs, align, pins)
        sizes = {}
        for strategy in (*STRATEGIES, "best"):
            p = plan(bufs, strategy, alignment=align, pins=pins)
            assert find_overlaps(bufs, p.offsets, align, pins) == [], (strategy, bufs, pins)
            assert p.size >= lb
            for pin in pins:
                assert p.offsets[pin.b] - p.offsets[pin.a] == pin.delta
            sizes[strategy] = p.size
        assert sizes["best"] == min(sizes[s] for s in STRATEGIES)


def test_random_lower_bound_is_tight_for_disjoint_steps():
    # Buffers alive for a single step each: first fit stacks each step from 0, so the
    # arena equals the bound exactly.
    rng = np.random.default_rng(7)
    for _ in range(50):
        rows = [(int(rng.integers(1, 100)), s, s) for s in rng.integers(0, 5, 12)]
        bufs = _bufs(rows)
        p = plan(bufs, "size", alignment=1)
        assert p.size == lower_bound(bufs, alignment=1)
