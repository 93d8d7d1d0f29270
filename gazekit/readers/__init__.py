"""Readers of eye-tracker files. Each is a module with ``NAME``, ``sniff(head) -> bool`` and
``read(path, opts) -> Recording``; ``READERS`` lists them in detection order.

Adding a tracker = one new module + one line in ``_MODULES``.

The modules are imported in that order while a file is sniffed, up to the one that accepts it: converting a
Tobii Pro Lab export (the first) imports none of the others, nor pandas, which they use.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

from gazekit import tables
from gazekit.errors import GazekitError
from gazekit.readers.base import ReadOptions, Recording, read_head

__all__ = ["READERS", "ReadOptions", "Recording", "pick_reader", "read", "read_columns", "reader_names"]

# Detection order: the first reader whose sniff() accepts the head wins (generic never sniffs).
_MODULES = (
    "tobii_prolab",
    "tobii_studio",
    "fixation_report",
    "eyelink_asc",
    "tobii_sdk",
    "gazepoint",
    "pupil_core",
    "generic",
)


def _readers() -> Iterator[ModuleType]:
    """The reader modules in detection order, each imported when it is reached; a ``READERS`` tuple assigned to
    this module (a plug-in reader, a test) replaces the list."""
    if "READERS" in globals():
        yield from globals()["READERS"]
        return
    for name in _MODULES:
        yield importlib.import_module(f"gazekit.readers.{name}")


def __getattr__(name: str):
    if name == "READERS":  # all reader modules, in detection order
        return tuple(_readers())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def reader_names() -> list[str]:
    return [r.NAME for r in _readers()]


def pick_reader(path: Path, fmt: str | None = None) -> ModuleType:
    """The reader for ``path``: the one named ``fmt``, else the first whose ``sniff`` accepts the head."""
    if path.is_dir():
        from gazekit.readers import session_folder

        return session_folder
    if fmt:
        for reader in _readers():
            if reader.NAME == fmt:
                return reader
        raise GazekitError(path, "--format", f"expected one of {', '.join(reader_names())}, got {fmt!r}")
    head = read_head(path)
    for reader in _readers():
        if reader.sniff(head):
            return reader
    tried = ", ".join(n for n in reader_names() if n != "generic")
    raise GazekitError(
        path, None, f"unknown format: tried {tried}; use --format to force one, or --columns for a generic table"
    )


def read(path: str | Path, opts: ReadOptions | None = None) -> Recording:
    """Read one eye-tracker file with the detected (or forced) reader; fixations as a DataFrame."""
    rec = _read(path, opts)
    if isinstance(rec.fixations, dict):
        rec.fixations = tables.to_frame(rec.fixations)
    return rec


def read_columns(path: str | Path, opts: ReadOptions | None = None) -> Recording:
    """:func:`read` with the fixations as :data:`gazekit.tables.Columns` (what ``gazekit convert`` works on)."""
    rec = _read(path, opts)
    if rec.fixations is not None and not isinstance(rec.fixations, dict):
        rec.fixations = tables.columns_of(rec.fixations)
    return rec


def _read(path: str | Path, opts: ReadOptions | None) -> Recording:
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
    columns = isinstance(fix, dict)
    if fix is None or not (tables.n_rows(fix) if columns else len(fix)) or not len(fix.keys()):
        return rec
    first: dict[tuple, int] = {}
    rows = zip(*(_comparable(fix[name]) for name in fix.keys()), strict=True)
    dup = np.array([first.setdefault(row, i) != i for i, row in enumerate(rows)], dtype=bool)
    if dup.any():
        keep = np.flatnonzero(~dup)
        rec.fixations = tables.take(fix, keep) if columns else fix.iloc[keep].reset_index(drop=True)
        rec.warnings.append(f"{path}: {int(dup.sum())} fixation row(s) repeat an earlier row exactly: dropped them")
    return rec


def _comparable(values) -> list:
    """A column's values as hashable keys that are equal where the values are written alike (``str``): numbers by
    their bits (distinct floats print differently; every NaN prints "nan"), anything else as text."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.where(np.isnan(values), np.nan, values).astype(np.float64).view(np.int64).tolist()
    if values.dtype.kind in "iub":
        return values.tolist()
    return values.astype(object).astype(str).tolist()
