"""Readers of eye-tracker files. Each is a module with ``NAME``, ``sniff(head) -> bool`` and
``read(path, opts) -> Recording``; ``READERS`` lists them in detection order.

Adding a tracker = one new module + one line in ``READERS``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType

import numpy as np

from gazekit.errors import GazekitError
from gazekit.readers import (
    eyelink_asc,
    fixation_report,
    gazepoint,
    generic,
    pupil_core,
    tobii_prolab,
    tobii_sdk,
    tobii_studio,
)
from gazekit.readers.base import ReadOptions, Recording, read_head

__all__ = ["READERS", "ReadOptions", "Recording", "pick_reader", "read", "reader_names"]


def reader_names() -> list[str]:
    return [r.NAME for r in READERS]


def pick_reader(path: Path, fmt: str | None = None) -> ModuleType:
    """The reader for ``path``: the one named ``fmt``, else the first whose ``sniff`` accepts the head."""
    if path.is_dir():
        from gazekit.readers import session_folder

        return session_folder
    if fmt:
        for reader in READERS:
            if reader.NAME == fmt:
                return reader
        raise GazekitError(path, "--format", f"expected one of {', '.join(reader_names())}, got {fmt!r}")
    head = read_head(path)
    for reader in READERS:
        if reader.sniff(head):
            return reader
    tried = ", ".join(r.NAME for r in READERS if r.NAME != "generic")
    raise GazekitError(
        path, None, f"unknown format: tried {tried}; use --format to force one, or --columns for a generic table"
    )


def read(path: str | Path, opts: ReadOptions | None = None) -> Recording:
    """Read one eye-tracker file with the detected (or forced) reader."""
    path = Path(path)
    opts = opts or ReadOptions()
    fmt = opts.format or ("generic" if opts.column_map else None)
    reader = pick_reader(path, fmt)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy/pandas warnings are not messages for the user
        rec = reader.read(path, opts)
    return drop_duplicate_fixations(rec, path)


def drop_duplicate_fixations(rec: Recording, path: Path) -> Recording:
    """Exact duplicate fixation rows (a line written twice) are dropped, with a warning."""
    fix = rec.fixations
    if fix is None or fix.empty:
        return rec
    dup = fix.astype(str).duplicated().to_numpy()
    if dup.any():
        rec.fixations = fix[~dup].reset_index(drop=True)
        rec.warnings.append(f"{path}: {int(dup.sum())} fixation row(s) repeat an earlier row exactly: dropped them")
    return rec


# Detection order: the first reader whose sniff() accepts the head wins (generic never sniffs).
READERS: tuple[ModuleType, ...] = (
    tobii_prolab,
    tobii_studio,
    fixation_report,
    eyelink_asc,
    tobii_sdk,
    gazepoint,
    pupil_core,
    generic,
)
