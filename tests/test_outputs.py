"""Outputs are written whole or not at all, through symlinks, never over special files, with
the umask's modes; ``compile`` swaps its folder in whole (stale files go, concurrent compiles
never mix, a killed compile leaves the previous library)."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from oracles import SHARED_MODELS

from picojoule import outputs
from picojoule.backends.c import compile_model
from picojoule.cli import main
from picojoule.importers import load_model

KWS = SHARED_MODELS / "mlperf_tiny/kws_dscnn_int8.tflite"
ROOT = os.geteuid() == 0


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code: int, err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert code in (1, 2), (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def leftovers(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder.parent) if n.startswith(f".{folder.name}.pj-")]


@pytest.fixture(scope="module")
def kws():
    return load_model(KWS)


# -- single files ---------------------------------------------------------------------------
def test_run_output_writes_through_a_symlink_and_keeps_the_files_mode(capsys, tmp_path):
    real = tmp_path / "real.npz"
    real.write_bytes(b"old")
    real.chmod(0o640)
    link = tmp_path / "link.npz"
    link.symlink_to(real.name)
    code, _, err = run_cli(capsys, "run", KWS, "--output", link)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == real.name  # the link is still a link
    assert np.load(real)["output_0"].shape == (1, 12)
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    dangling = tmp_path / "to_new.npz"
    dangling.symlink_to("made_by_run.npz")
    assert run_cli(capsys, "run", KWS, "--output", dangling)[0] == 0
    assert dangling.is_symlink() and (tmp_path / "made_by_run.npz").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "link.npz", "made_by_run.npz", "real.npz", "to_new.npz"]  # no temporary left


def test_new_files_get_their_mode_from_the_umask(capsys, tmp_path):
    old = os.umask(0o027)
    try:
        assert run_cli(capsys, "run", KWS, "--output", tmp_path / "a.npz")[0] == 0
        assert run_cli(capsys, "export", KWS, "-o", tmp_path / "a.tflite")[0] == 0
        assert run_cli(capsys, "plan", KWS, "--png", tmp_path / "a.png")[0] == 0
        compile_model(load_model(KWS), tmp_path / "lib", target="host")
    finally:
        os.umask(old)
    for name in ("a.npz", "a.tflite", "a.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE((tmp_path / "lib").stat().st_mode) == 0o750
    for p in (tmp_path / "lib").iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p.name


def test_special_files_are_refused_and_left_alone(capsys, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    cal = tmp_path / "cal.npy"
    for args in (["run", KWS, "--output", fifo], ["export", KWS, "-o", fifo],
                 ["plan", KWS, "--png", fifo],
                 ["quantize", KWS, "--calibration", cal, "-o", fifo],
                 ["sweep", KWS, "--targets", "stm32l4r5", "--plot", fifo]):
        code, _, err = run_cli(capsys, *args)
        one_error_line(code, err, "is a FIFO, not a regular file")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    code, _, err = run_cli(capsys, "run", KWS, "--output", "/dev/full")
    one_error_line(code, err, "/dev/full: is a character device")
    assert stat.S_ISCHR(os.lstat("/dev/full").st_mode)
    link = tmp_path / "to_null"
    link.symlink_to("/dev/null")
    code, _, err = run_cli(capsys, "export", KWS, "-o", link)
    one_error_line(code, err, "is a character device")
    assert link.is_symlink() and stat.S_ISCHR(os.stat(link).st_mode)


def test_unwritable_outputs_are_one_error_line(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_bytes(b"keep")
    code, _, err = run_cli(capsys, "run", KWS, "--output", afile / "x.npz")
    one_error_line(code, err, "Not a directory")
    code, _, err = run_cli(capsys, "export", KWS, "-o", tmp_path / "no" / "such" / "x.tflite")
    one_error_line(code, err, "does not exist")
    code, _, err = run_cli(capsys, "run", KWS, "--output", tmp_path)
    one_error_line(code, err, "is a folder")
    code, _, err = run_cli(capsys, "compile", KWS, "-t", "host", "-o", afile)
    one_error_line(code, err, "exists and is not a folder")
    assert afile.read_bytes() == b"keep"
    if not ROOT:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        code, _, err = run_cli(capsys, "run", KWS, "--output", ro / "x.npz")
        one_error_line(code, err, "permission denied")


def test_a_failed_write_leaves_the_old_file(capsys, tmp_path, monkeypatch):
    target = tmp_path / "out.npz"
    target.write_bytes(b"previous")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs.os, "fsync", full)
    code, _, err = run_cli(capsys, "run", KWS, "--output", target)
    one_error_line(code, err, "No space left on device")
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]


# -- compile's folder -----------------------------------------------------------------------
def test_compile_removes_an_earlier_compiles_files(kws, tmp_path):
    out = tmp_path / "lib"
    m55 = compile_model(kws, out, target="cortex-m55", name="kws")
    assert (out / "pj_mve.c").exists()
    (out / "pj_mve.o").write_bytes(b"built by its Makefile")
    (out / "libkws.a").write_bytes(b"built by its Makefile")
    host = compile_model(kws, out, target="host", name="net")  # another name, too
    assert set(os.listdir(out)) == {*host.files, outputs.MANIFEST}
    assert not (out / "pj_mve.c").exists() and not (out / "kws.c").exists()
    assert set(m55.files) - set(host.files) >= {"pj_mve.c", "kws.c", "kws.h"}
    for name, text in host.files.items():
        assert (out / name).read_text() == text
    assert leftovers(out) == []


def test_a_folder_written_before_manifests_loses_its_stale_kernels(kws, tmp_path):
    out = tmp_path / "lib"
    compile_model(kws, out, target="cortex-m55", name="kws")
    (out / outputs.MANIFEST).unlink()  # as an older picojoule left it
    compile_model(kws, out, target="host", name="kws")
    assert not (out / "pj_mve.c").exists()


def test_a_folder_with_other_files_is_refused_untouched(capsys, kws, tmp_path):
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = run_cli(capsys, "compile", KWS, "-t", "host", "-o", out)
    one_error_line(code, err, "holds files picojoule did not write (notes.txt)")
    assert snapshot(out) == {"notes.txt": b"mine"}
    with pytest.raises(outputs.OutputError, match="notes.txt"):
        compile_model(kws, out, target="host")


def test_compile_writes_through_a_symlinked_folder(kws, tmp_path):
    real = tmp_path / "real"
    compile_model(kws, real, target="cortex-m55", name="kws")
    link = tmp_path / "link"
    link.symlink_to("real")
    gen = compile_model(kws, link, target="host", name="kws")
    assert link.is_symlink() and set(os.listdir(real)) == {*gen.files, outputs.MANIFEST}


def test_an_exception_mid_write_leaves_the_previous_library(kws, tmp_path, monkeypatch):
    out = tmp_path / "lib"
    compile_model(kws, out, target="cortex-m55", name="kws")
    before = snapshot(out)
    real_create, written = outputs._create, []

    def dies_on_the_fourth(path, data, sync=True):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(path)
        real_create(path, data[: len(data) // 2], sync)  # half files: none may be seen

    monkeypatch.setattr(outputs, "_create", dies_on_the_fourth)
    with pytest.raises(KeyboardInterrupt):
        compile_model(kws, out, target="host", name="kws")
    assert snapshot(out) == before and leftovers(out) == []


KILLED = """
import os, signal, sys
from picojoule import outputs
from picojoule.cli import main
real, n = outputs._create, [0]
def create(path, data, sync=True):
    n[0] += 1
    if n[0] == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, data, sync)
outputs._create = create
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_compile_leaves_the_previous_library(capsys, tmp_path):
    out = tmp_path / "lib"
    assert run_cli(capsys, "compile", KWS, "-t", "cortex-m55", "-o", out)[0] == 0
    before = snapshot(out)
    res = subprocess.run([sys.executable, "-c", KILLED, "compile", str(KWS), "-t", "host",
                          "-o", str(out)], capture_output=True, timeout=120, check=False)
    assert res.returncode == -signal.SIGKILL
    assert snapshot(out) == before
    assert len(leftovers(out)) == 1  # the dead compile's half-built folder, beside it
    assert run_cli(capsys, "compile", KWS, "-t", "host", "-o", out)[0] == 0
    assert leftovers(out) == [] and not (out / "pj_mve.c").exists()


def test_concurrent_writers_into_one_folder_never_mix(kws, tmp_path):
    """Eight threads swap two different libraries into one folder (each write locks the
    parent folder with flock, which excludes threads as it does processes): after every
    round the folder holds exactly one library."""
    import threading

    from picojoule.backends.c import generate, write

    gens = [generate(kws, name="kws", target=t) for t in ("host", "cortex-m55")]
    wants = [dict(g.files) for g in gens]
    assert set(wants[0]) != set(wants[1])
    out = tmp_path / "lib"
    for _ in range(5):
        threads = [threading.Thread(target=write, args=(gens[k % 2], out)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = {p.name: p.read_text() for p in out.iterdir() if p.name != outputs.MANIFEST}
        assert got in wants
        assert leftovers(out) == []


def test_concurrent_compiles_into_one_folder_never_mix(kws, tmp_path):
    out = tmp_path / "lib"
    wants = [dict(compile_model(kws, tmp_path / t, target=t, name="kws").files)
             for t in ("host", "cortex-m55")]
    script = ("import sys; from picojoule.cli import main; "
              "sys.exit(main(['compile', sys.argv[1], '-t', sys.argv[2], '--name', 'kws', "
              "'-o', sys.argv[3]]))")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(KWS), t, str(out)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for t in ("host", "cortex-m55")]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
        p.stderr.close()
    got = {p.name: p.read_text() for p in out.iterdir() if p.name != outputs.MANIFEST}
    assert got in wants and leftovers(out) == []
