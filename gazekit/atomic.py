"""Atomic output: write to a temporary sibling, rename into place only when complete.

Rules (a command never deletes what it did not create):

- the temporary folder ``.NAME.<rand>.tmp`` lives next to the output ``NAME`` and is removed on any exit,
  including SIGTERM / SIGINT / SIGHUP (turned into ``SystemExit`` while a write is in progress, when the
  process has no handler of its own); one left by a SIGKILL is removed by the next write of the same output
  (it holds an owner file ``NAME.owner`` with host and pid, so a write still running is never touched), or
  by any later write of this process into the same folder;
- an existing file is replaced only after the new one is complete (``os.replace``);
- an existing folder where a file is expected, or a file where a folder is expected, is an error;
- an existing folder is replaced only when it is empty or is a previous output of the same kind: it holds
  the marker file ``owned[0]`` and every file in it matches one of the ``owned`` patterns (so a user's file
  inside it is never deleted).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from gazekit.errors import GazekitError

_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_FOREIGN_STALE_S = 24 * 3600.0  # a temp folder of another host is removed only when older than this
_depth = 0


def check_output(path: str | Path, kind: Literal["file", "dir"], owned: Sequence[str] = ()) -> Path:
    """Raise GazekitError unless ``path`` may be written as a ``kind`` (see the module rules); returns it."""
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise GazekitError(path, None, f"expected a {'file' if kind == 'file' else 'folder'} name, not {str(path)!r}")
    if not path.exists():
        return path
    if kind == "file":
        if path.is_dir():
            raise GazekitError(path, None, "expected a file to write, found an existing folder (nothing was changed)")
        return path
    if not path.is_dir():
        raise GazekitError(path, None, "expected a folder to write, found an existing file (nothing was changed)")
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if not p.is_dir())
    foreign = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in owned)]
    if files and (foreign or not owned or not (path / owned[0]).is_file()):
        found = (foreign or files)[0]
        raise GazekitError(
            path,
            None,
            f"expected a new or empty folder or a previous output of this command, it holds {found!r} "
            "(nothing was changed)",
        )
    return path


def _owner() -> str:
    return f"{socket.gethostname()} {os.getpid()}"


def _alive(owner: str, mtime: float) -> bool:
    """Whether the write that owns a temp folder may still be running."""
    host, _, pid = owner.partition(" ")
    if host != socket.gethostname():
        return time.time() - mtime < _FOREIGN_STALE_S
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass
    return True


_STALE = re.compile(r"\.(.+)\.[A-Za-z0-9_]{8}\.tmp")
_scanned: set[str] = set()  # folders already cleaned by this process (atomic_path cleans each once)


def clean_stale(folder: str | Path) -> list[Path]:
    """Remove temp folders ``.NAME.<rand>.tmp`` in ``folder`` left by killed writes; returns what was removed.

    Only folders holding nothing but what :func:`atomic_path` puts there (``NAME``, ``NAME.owner``,
    ``NAME.old``) and whose owner process is gone are removed.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _STALE.fullmatch(entry.name)
        if m is None or entry.is_symlink() or not entry.is_dir():
            continue
        tmp, name = Path(entry.path), m.group(1)
        try:
            names = {p.name for p in tmp.iterdir()}
            owner_file = tmp / f"{name}.owner"
            owner = owner_file.read_text().strip() if owner_file.is_file() else ""
            mtime = tmp.stat().st_mtime
        except OSError:
            continue
        if not names <= {name, f"{name}.owner", f"{name}.old"} or (owner and _alive(owner, mtime)):
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """While inside, SIGTERM/SIGHUP raise SystemExit (so ``finally`` blocks run), unless handled already."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    if _depth == 0:
        previous = {s: signal.getsignal(s) for s in _SIGNALS}
        for s, handler in previous.items():
            if handler == signal.SIG_DFL:
                signal.signal(s, _raise_exit)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        for s, handler in previous.items():
            if handler == signal.SIG_DFL:
                signal.signal(s, handler)


@contextlib.contextmanager
def atomic_path(
    path: str | Path, kind: Literal["file", "dir"] | None = None, owned: Sequence[str] = ()
) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it to ``path``, on any exit delete it.

    The caller creates a file or a folder at the yielded path. ``kind`` checks ``path`` before anything is
    written (else the check happens when the result is known); ``owned`` lists the file patterns (relative,
    ``fnmatch``; the first is the marker) of a previous output folder that may be replaced.
    """
    path = Path(path)
    if kind is not None:
        check_output(path, kind, owned)
    path.parent.mkdir(parents=True, exist_ok=True)
    if str(path.parent.resolve()) not in _scanned:  # once per folder: many writes into one folder stay linear
        _scanned.add(str(path.parent.resolve()))
        clean_stale(path.parent)
    with _signals_raise():
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        try:
            (tmp / f"{path.name}.owner").write_text(_owner() + "\n")
            target = tmp / path.name
            yield target
            check_output(path, "dir" if target.is_dir() else "file", owned)
            if path.is_dir() and not path.is_symlink():
                os.replace(path, tmp / f"{path.name}.old")  # only a folder check_output allows to replace
            os.replace(target, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
