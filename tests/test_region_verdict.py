"""The RAM verdict of `analyze` and `plan`: a tensor larger than every region is named, with
its size and the largest region; a model that only overflows in total keeps the region
overflow verdict.

The model is one CONCATENATION of two int8 [1, 30000] inputs into an int8 [1, 60000]
output: tensors of 30,000 and 60,000 bytes, by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

from opkit import model_bytes, q, single_op_model, tensor

from picojoule.cli import main

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tiny_m0_32k.toml"


def _stack(report: dict) -> int:
    """The stack analyze reserves in the fastest region, as its report states it."""
    ram = report["ram"]
    return ram["stack_bytes"] if "stack_bytes" in ram else ram["stack_bytes_estimate"]


def _concat_model(path: Path) -> Path:
    a = tensor("a", (1, 30000), "int8", q(0.1, 0))
    b = tensor("b", (1, 30000), "int8", q(0.1, 0))
    y = tensor("y", (1, 60000), "int8", q(0.1, 0))
    m = single_op_model("CONCATENATION", [a, b], [y],
                        dict(axis=1, fused_activation_function="NONE"))
    path.write_bytes(model_bytes(m))
    return path


def _target(path: Path, fast_kib: int, slow_kib: int) -> Path:
    """The 32 KiB fixture's two regions resized: bank_a (fast, holds the stack), bank_b."""
    text = FIXTURE.read_text().replace('name = "tiny-m0"', 'name = "two-banks"')
    text = text.replace('size = "24 KiB"', f'size = "{fast_kib} KiB"', 1)
    text = text.replace('size = "8 KiB"', f'size = "{slow_kib} KiB"', 1)
    path.write_text(text)
    return path


def _analyze(capsys, model: Path, target: Path) -> tuple[int, dict]:
    code = main(["analyze", str(model), "--target", str(target), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_tensor_larger_than_every_region_is_named(capsys, tmp_path):
    model = _concat_model(tmp_path / "concat.tflite")
    # bank_a 16 KiB, bank_b 40 KiB = 40,960 B: the 60,000 B output fits neither.
    code, r = _analyze(capsys, model, _target(tmp_path / "t.toml", 16, 40))
    assert code == 1 and not r["fits"]
    assert r["oversized_tensors"] == [{"name": "y", "bytes": 60_000}]
    assert not any(p.startswith("RAM region") for p in r["problems"]), r["problems"]
    assert r["problems"][0].startswith("tensor 'y' (60,000 B) is larger than two-banks's largest RAM "
                             "region, bank_b (40,960 B): no single region holds it")
    assert "overflows" not in r["verdict"]
    # `plan --target` gives the same verdict.
    assert main(["plan", str(model), "--target", str(tmp_path / "t.toml")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "tensor 'y' (60,000 B) is larger than two-banks's largest RAM region, bank_b" in out


def test_the_fastest_region_is_named_net_of_the_stack(capsys, tmp_path):
    model = _concat_model(tmp_path / "concat.tflite")
    code, r = _analyze(capsys, model, _target(tmp_path / "t.toml", 40, 16))
    assert code == 1
    stack = _stack(r)
    assert (f"tensor 'y' (60,000 B) is larger than two-banks's largest RAM region, bank_a "
            f"({40 * 1024 - stack:,} B after the {stack:,} B stack)") in r["verdict"]


def test_a_model_that_only_overflows_in_total_keeps_the_region_verdict(capsys, tmp_path):
    model = _concat_model(tmp_path / "concat.tflite")
    # bank_a 62 KiB holds the 60,000 B tensor alone (63,488 B less at most 1 KiB of stack);
    # the 90,000 B or more the two regions must hold exceed their 79,872 B.
    code, r = _analyze(capsys, model, _target(tmp_path / "t.toml", 62, 16))
    assert code == 1 and r["oversized_tensors"] == []
    over = [g for g in r["regions"] if g["overflow_bytes"] > 0]
    assert len(over) == 1
    assert (f"RAM region {over[0]['name']} overflows by {over[0]['overflow_bytes']:,} bytes"
            in r["verdict"])
    assert "no single region" not in r["verdict"]

