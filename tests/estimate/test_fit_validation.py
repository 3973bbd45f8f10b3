"""The latency fit never trains on a layer it is validated on.

picojoule.estimate.validation fixes the validation models; every node of the fit's banks must
have a layer signature (op, operand shapes and dtypes, window and activation attributes) that
no node of those models has, and the training models must not be among them.
"""

from __future__ import annotations

from picojoule.estimate import fit as F
from picojoule.estimate.validation import (TRAIN_FILES, VALIDATION_FILES, signature,
                                           validation_signatures)


def test_banks_and_validation_models_share_no_layer() -> None:
    held = validation_signatures()
    assert len(held) > 60  # the list is really there: VWW alone has 31 nodes
    shared = []
    banks = F.all_banks()
    for name, model in banks.items():
        for i, node in enumerate(model.main.nodes):
            if signature(node) in held:
                shared.append(f"{name}[{i}] {node.op} = a layer of {held[signature(node)]}")
    assert not shared, "bank rows copy validation layers: " + "; ".join(shared)


def test_training_models_are_not_validation_models() -> None:
    assert not set(TRAIN_FILES.values()) & set(VALIDATION_FILES.values())


def test_signature_tells_shapes_dtypes_and_windows_apart() -> None:
    b = F._Bank(0)
    b.conv(8, 8, 4, 4, 3, 1, "SAME")
    b.conv(8, 8, 4, 4, 3, 2, "SAME")
    b.conv(8, 8, 4, 5, 3, 1, "SAME")
    b.conv(8, 8, 4, 4, 3, 1, "SAME")
    sigs = [signature(n) for n in b.model("t").main.nodes]
    assert len(set(sigs[:3])) == 3 and sigs[3] == sigs[0]
