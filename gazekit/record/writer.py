"""Session folder writer for live recordings: incremental, crash-tolerant, compacted on close.

While recording, gaze samples and viewer events go to part files (``samples.parts/part-000001.parquet``,
``viewer_events.parts/...``), each written atomically at least once per ``flush_every_ms``; so a crash
or a pulled cable loses at most that much and every file already in the folder is a valid Parquet
table. Parts are written by a background thread, so the viewer loop never waits for the disk.
``session.json`` is written at the start (``"status": "recording"``) and rewritten at the end.
:meth:`SessionWriter.close` (or :func:`recover` after a crash) compacts the parts into
``samples.parquet`` and ``viewer_events.parquet`` and removes them.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd

from gazekit import tables
from gazekit.atomic import atomic_path
from gazekit.errors import GazekitError
from gazekit.session import PARTS, read_sidecar
from gazekit.version import __version__

FINAL = {"samples": "samples.parquet", "viewer_events": "viewer_events.parquet"}
SAMPLE_COLUMNS = ("t_ms", "x_screen_px", "y_screen_px", "valid", "pupil", "eye")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path, kind="file") as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=tables._json_default) + "\n")


class SessionWriter:
    """Collects samples and viewer events and flushes them to part files at least every ``flush_every_ms``."""

    def __init__(self, folder: str | Path, sidecar: dict[str, Any], flush_every_ms: float = 1000.0):
        self.folder = Path(folder)
        if self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir())):
            raise GazekitError(
                self.folder, None, "expected a new or empty session folder, it is a file or already has files"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in PARTS.values():
            (self.folder / name).mkdir()
        self.sidecar = {**sidecar, "status": "recording", "gazekit_version": __version__}
        self.flush_every_s = flush_every_ms / 1000.0
        self._rows: dict[str, list[tuple | dict]] = {"samples": [], "viewer_events": []}
        self._n_parts = {"samples": 0, "viewer_events": 0}
        self._last_flush = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gazekit-writer")
        self._pending: list[Future] = []
        self.n_samples = 0
        self.n_events = 0
        write_json(self.folder / "session.json", self.sidecar)

    def add_samples(self, rows: list[tuple]) -> None:
        """Append samples ``(t_ms, x_screen_px, y_screen_px, valid, pupil, eye)``; flushes when due."""
        self._rows["samples"].extend(rows)
        self.n_samples += len(rows)
        self.maybe_flush()

    def add_event(self, row: dict[str, Any]) -> None:
        """Append one viewer event (a dict with the VIEWER_EVENTS columns); flushes when due."""
        self._rows["viewer_events"].append(row)
        self.n_events += 1
        self.maybe_flush()

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> None:
        """Hand what is buffered to the writer thread: one new part file per table (atomic)."""
        for done in [f for f in self._pending if f.done()]:
            done.result()  # re-raise a failed write here, in the recording loop
            self._pending.remove(done)
        for kind, rows in self._rows.items():
            if not rows:
                continue
            self._n_parts[kind] += 1
            path = self.folder / PARTS[kind] / f"part-{self._n_parts[kind]:06d}.parquet"
            self._pending.append(self._pool.submit(_write_part, kind, rows, path, self._n_parts[kind]))
            self._rows[kind] = []
        self._last_flush = time.monotonic()

    def wait(self) -> None:
        """Block until every part handed to the writer thread is on disk."""
        for f in self._pending:
            f.result()
        self._pending = []

    def update_sidecar(self, **fields: Any) -> None:
        """Merge ``fields`` into session.json and rewrite it now."""
        self.sidecar.update(fields)
        write_json(self.folder / "session.json", self.sidecar)

    def close(self, status: str = "complete", **fields: Any) -> dict[str, Any]:
        """Flush, compact the parts into the final tables, set ``status``; returns session.json."""
        self.flush()
        self.wait()
        self._pool.shutdown()
        self.sidecar.update(fields)
        return compact(self.folder, self.sidecar, status=status)


def _write_part(kind: str, rows: list, path: Path, n: int) -> None:
    tables.write_table(kind, _frame(kind, rows), path, {"part": n})


def _frame(kind: str, rows: list) -> pd.DataFrame:
    if kind == "samples":
        return pd.DataFrame.from_records(rows, columns=list(SAMPLE_COLUMNS))
    return pd.DataFrame.from_records(rows, columns=tables.VIEWER_EVENTS.names)


def read_parts(folder: Path, kind: str) -> pd.DataFrame:
    """All part files of table ``kind`` in a session folder, concatenated in order."""
    parts = sorted((folder / PARTS[kind]).glob("part-*.parquet"))
    frames = [tables.read_table(kind, p)[0] for p in parts]
    frames = [f for f in frames if len(f)]
    if not frames:
        return tables.empty(kind)
    return pd.concat(frames, ignore_index=True).sort_values("t_ms", kind="stable").reset_index(drop=True)


def compact(folder: Path, sidecar: dict[str, Any], status: str) -> dict[str, Any]:
    """Merge part files into ``samples.parquet`` / ``viewer_events.parquet``, then remove the parts."""
    meta = {"session_id": sidecar.get("session_id", folder.name), "source": "gazekit record"}
    for kind in PARTS:
        tables.write_table(kind, read_parts(folder, kind), folder / FINAL[kind], meta)
    sidecar = {**sidecar, "status": status}
    write_json(folder / "session.json", sidecar)
    for name in PARTS.values():
        shutil.rmtree(folder / name, ignore_errors=True)
    return sidecar


def recover(folder: str | Path) -> dict[str, Any]:
    """Finish a session folder left by a crash: compact its part files; returns the new session.json."""
    folder = Path(folder)
    path = folder / "session.json"
    sidecar = read_sidecar(folder)
    if sidecar.get("status") != "recording":
        raise GazekitError(path, "status", f"expected an interrupted recording, got {sidecar.get('status')!r}")
    return compact(folder, sidecar, status="recovered")
