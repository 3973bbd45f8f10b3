"""Writing what commands produce: whole or not at all.

Every file a command writes (``run --output``, ``quantize -o``, ``export -o``, ``plan --png``,
``sweep --plot``) goes through :func:`write_file`, and ``compile``'s library folder through
:func:`write_folder`:

- a file is written to a temporary file beside it and renamed over it, so a reader (or a
  killed command) sees the old file or the new one, never a truncated one;
- a symlink is written through: the file it points to is replaced and the link stays;
- only regular files are written: a directory, device, FIFO or socket at the path stops
  the command with one error line, before anything is written;
- a new file gets the mode the umask gives (``0666 & ~umask``), a replaced file keeps its mode;
- a folder is built beside its destination and swapped in whole, under a lock, so the
  files of an earlier compile disappear with it and two compiles into one folder cannot
  mix; a folder holding files picojoule did not write is refused rather than replaced.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from picojoule.errors import PicojouleError

#: The list of files a compile wrote, kept in its folder so the next compile knows them.
MANIFEST = ".picojoule-files"
_TMP_TAG = ".pj-"


class OutputError(PicojouleError):
    """An output path that cannot be written (exists as something else, no folder, no room)."""


def _fail(path: str | os.PathLike, why: str) -> OutputError:
    return OutputError(f"{os.fspath(path)}: {why}")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _resolve(path: str | os.PathLike) -> Path:
    """The path a write lands on: symlinks (a chain, or one to a file yet to exist) followed."""
    real = Path(os.path.realpath(os.fspath(path)))
    try:
        if stat.S_ISLNK(os.lstat(real).st_mode):  # realpath gave up: a loop
            raise _fail(path, "symlink loop")
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise _fail(path, f"cannot write ({_os_reason(exc)})") from None
    return real


# -- files -----------------------------------------------------------------------------------
def check_file(path: str | os.PathLike) -> Path:
    """Where ``path`` would be written; an :class:`OutputError` if it cannot be.

    Called before a long computation, so a bad ``-o`` fails first and writes nothing.
    """
    real = _resolve(path)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _fail(path, f"cannot write ({_os_reason(exc)})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise _fail(path, "is a folder; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise _fail(path, f"is {_kind(st.st_mode)}, not a regular file; picojoule writes "
                              f"regular files only")
        if not os.access(real, os.W_OK):
            raise _fail(path, "cannot write (permission denied)")
    if not real.parent.is_dir():
        raise _fail(path, f"folder {str(real.parent)!r} does not exist")
    if not os.access(real.parent, os.W_OK | os.X_OK):
        raise _fail(path, f"cannot write in folder {str(real.parent)!r} (permission denied)")
    return real


def _temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}")


def _create(path: Path, data: bytes, sync: bool = True) -> None:
    """A new file with ``data``, its mode from the umask; flushed to disk with ``sync``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        if sync:
            f.flush()
            os.fsync(f.fileno())


def write_file(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all; return the file written."""
    real = check_file(path)
    old = real.stat() if real.exists() else None
    tmp = _temp_name(real)
    try:
        _create(tmp, data)
        if old is not None:
            os.chmod(tmp, stat.S_IMODE(old.st_mode))
        os.replace(tmp, real)
    except OSError as exc:
        _unlink(tmp)
        raise _fail(path, f"cannot write ({_os_reason(exc)})") from None
    except BaseException:
        _unlink(tmp)
        raise
    return real


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- folders ---------------------------------------------------------------------------------
def check_folder(path: str | os.PathLike,
                 ours: Callable[[str], bool] = lambda name: False) -> Path:
    """Where the folder ``path`` would be written; an :class:`OutputError` if it cannot be.

    An existing folder may hold only what an earlier compile wrote (its manifest lists it, or
    ``ours`` recognises the name) and what that library's Makefile built from it.
    """
    real = _resolve(path)
    if real.exists() and not real.is_dir():
        raise _fail(path, "exists and is not a folder; give a folder for the library")
    try:
        cwd = Path.cwd().resolve()
    except OSError:
        cwd = None
    if cwd is not None and (cwd == real or real in cwd.parents):
        raise _fail(path, "is the current folder (or holds it); the library replaces the "
                          "folder whole: run from outside it")
    if real.is_dir():
        foreign = sorted(_foreign_entries(real, ours))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more"
                                              if len(foreign) > 5 else "")
            raise _fail(path, f"holds files picojoule did not write ({shown}); the library "
                              f"replaces the folder whole: give a new or empty folder")
    else:
        anchor = next((p for p in real.parents if p.exists()), None)
        if anchor is None or not anchor.is_dir():
            raise _fail(path, f"cannot create it under {str(anchor)!r}")
    return real


def _manifest(folder: Path) -> set[str]:
    try:
        text = (folder / MANIFEST).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {ln for ln in text.splitlines() if ln and not ln.startswith("#")}


def _foreign_entries(folder: Path, ours: Callable[[str], bool]) -> Iterator[str]:
    """Names in ``folder`` that neither picojoule nor its generated Makefile wrote."""
    listed = _manifest(folder) | {MANIFEST}
    names = os.listdir(folder)
    mine = {n for n in names if n in listed or ours(n)}
    sources = {n[:-2] for n in mine if n.endswith(".c")}
    built = {f"{s}.{ext}" for s in sources for ext in ("o", "so")} | \
        {f"lib{s}.{ext}" for s in sources for ext in ("a", "so")} | {"example"}
    for n in names:
        if n in mine:
            continue
        if n in built and (folder / n).is_file() and not (folder / n).is_symlink():
            continue
        yield n


def write_folder(path: str | os.PathLike, files: Mapping[str, str | bytes],
                 ours: Callable[[str], bool] = lambda name: False, sync: bool = True) -> Path:
    """Make ``path`` a folder holding exactly ``files`` (name -> content), all or nothing.

    The files are written into a new folder beside ``path`` that then takes its place (with
    ``renameat2(RENAME_EXCHANGE)`` where the system has it), under a lock on the parent
    folder so that concurrent writers swap whole folders one after the other. ``sync``
    flushes every file to disk before the swap (about 0.1 s for a library; build caches,
    rebuilt when lost, skip it).
    """
    for name in files:
        if not name or "/" in name or name in (".", "..", MANIFEST):
            raise ValueError(f"not a plain file name: {name!r}")
    real = check_folder(path, ours)
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(path, f"cannot create its folder ({_os_reason(exc)})") from None
    tmp = _temp_name(real)
    try:
        os.mkdir(tmp, 0o777)
        for name, text in files.items():
            _create(tmp / name, text.encode() if isinstance(text, str) else text, sync)
        listing = "# written by picojoule compile; the next compile here replaces these\n"
        _create(tmp / MANIFEST, (listing + "".join(f"{n}\n" for n in sorted(files))).encode(),
                sync)
        with _locked(real.parent):
            _sweep_leftovers(real)
            check_folder(path, ours)  # again: another compile may have written it meanwhile
            old = _swap_in(tmp, real)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _fail(path, f"cannot write ({_os_reason(exc)})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return real


class _locked:
    """An exclusive ``flock`` on a folder, held for the swap."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.fd = -1

    def __enter__(self) -> None:
        try:
            self.fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return  # an unreadable parent: the swap itself is still one rename
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing releases the lock


def _swap_in(new: Path, dest: Path) -> Path | None:
    """Put folder ``new`` at ``dest``; return where the old ``dest`` went (to remove)."""
    if not dest.exists():
        os.rename(new, dest)
        return None
    try:
        os.chmod(new, stat.S_IMODE(dest.stat().st_mode))
    except OSError:
        pass
    if _exchange(new, dest):
        return new
    aside = _temp_name(dest)
    os.rename(dest, aside)
    try:
        os.rename(new, dest)
    except BaseException:
        os.rename(aside, dest)
        raise
    return aside


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where that is unavailable."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def _sweep_leftovers(dest: Path) -> None:
    """Remove temporary folders beside ``dest`` left by compiles that were killed."""
    prefix = f".{dest.name}{_TMP_TAG}"
    try:
        names = os.listdir(dest.parent)
    except OSError:
        return
    for n in names:
        if not n.startswith(prefix):
            continue
        pid = n[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            p = dest.parent / n
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                _unlink(p)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
