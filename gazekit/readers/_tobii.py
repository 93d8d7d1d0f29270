"""Streaming core of the Tobii readers (Pro Lab and Studio exports): one row per sample, the vendor's
fixation filter written as an event type + event index on each row.

The file is read in chunks of the columns it needs; sessions are integer codes. Each chunk's fixation
rows are folded (consecutive rows of one fixation -> one row) and the folded rows are reduced to one
row per (session, fixation index) at the end, or whenever they exceed ``REDUCE_ROWS``, so memory grows
with the number of fixations, not with the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.ids import stimulus_id
from gazekit.privacy import hash_name
from gazekit.readers._delimited import (
    Dialect,
    FastPathError,
    check_not_truncated,
    iter_chunks,
    iter_chunks_arrow,
    numbers,
)
from gazekit.readers.base import STIMULUS_VALUES_KEPT, Recording

REDUCE_ROWS = 500_000  # folded fixation rows kept before they are reduced to one row per fixation
CUT_TOLERANCE_MS = 20.0  # a vendor duration may run one sample period (<= 16.7 ms at 60 Hz) past the last row


@dataclass(frozen=True)
class Columns:
    """Header names of one export (None when the file lacks the column) and unit factors to ms."""

    time: str
    time_to_ms: float
    event_type: str
    event_index: str
    duration: str
    duration_to_ms: float = 1.0
    participant: str | None = None
    recording: str | None = None
    media: str | None = None  # stimulus/media name -> stimulus id
    stimulus_name: str | None = None  # another column naming what was shown (only reported, in the no-stimulus hint)
    screen_x: str | None = None  # fixation point on the screen [px]
    screen_y: str | None = None
    norm_x: str | None = None  # fixation point on the media, normalised [0, 1)
    norm_y: str | None = None
    image_x: str | None = None  # fixation point on the media [media px]
    image_y: str | None = None
    media_x0: str | None = None  # screen position of the media's top-left corner [px]
    media_y0: str | None = None
    media_width: str | None = None  # size of the media as presented on screen [px]
    media_height: str | None = None
    image_width: str | None = None  # size of the original media [px]
    image_height: str | None = None
    pupils: tuple[str, ...] = ()  # averaged per sample, then over the fixation [mm]


# numeric columns of Columns -> name of the aggregated column, reduced with "first" (first non-empty)
_FIRST = {
    "duration": "duration_ms",
    "screen_x": "screen_x_px",
    "screen_y": "screen_y_px",
    "norm_x": "x_norm",
    "norm_y": "y_norm",
    "image_x": "x_px",
    "image_y": "y_px",
    "media_x0": "media_x0_px",
    "media_y0": "media_y0_px",
    "media_width": "media_width_px",
    "media_height": "media_height_px",
    "image_width": "image_width_px",
    "image_height": "image_height_px",
}


def read_rows(path: Path, dialect: Dialect, cols: Columns, source_format: str) -> Recording:
    """Fixations (one per distinct event index of type Fixation, per participant and recording).

    Read with pyarrow's streaming reader; a file it rejects is read again with pandas, whose errors
    say where and what (the chunks are the same, so are the results and the errors). A file cut in the
    middle of its last row is read up to that row (with a warning) by the pandas path.
    """
    warn: list[str] = []
    end = check_not_truncated(path, dialect, warn)
    if end is None:
        try:
            return _read_rows(path, dialect, cols, source_format, iter_chunks_arrow, warn)
        except FastPathError:
            pass
    return _read_rows(path, dialect, cols, source_format, partial(iter_chunks, end=end), warn)


def _read_rows(path: Path, dialect: Dialect, cols: Columns, source_format: str, chunks, warn: list[str]) -> Recording:
    named = list(dict.fromkeys(c for c in (cols.media, cols.stimulus_name) if c))  # columns naming the stimulus
    text_cols = list(dict.fromkeys(c for c in (cols.event_type, cols.participant, cols.recording, *named) if c))
    usecols = list(dict.fromkeys(getattr(cols, f.name) for f in fields(cols) if isinstance(getattr(cols, f.name), str)))
    usecols += [p for p in cols.pupils if p not in usecols]
    sessions = _Sessions()
    media: dict[str, int] = {}  # media name (as written) -> code
    last_t: dict[int, float] = {}  # session code -> last timestamp [ms]
    n_rows: dict[int, int] = {}  # session code -> rows
    partials: list[pd.DataFrame] = []  # folded fixation rows, reduced when they exceed ``limit``
    shown: dict[str, dict[str, None]] = {c: {} for c in named}  # stimulus column -> distinct values (ordered)
    limit = REDUCE_ROWS
    for chunk in chunks(path, dialect, usecols, text_cols):
        for c, seen in shown.items():
            if len(seen) < STIMULUS_VALUES_KEPT:
                seen.update(dict.fromkeys(v for v in map(str.strip, _local_codes(chunk[c])[1]) if v))
        t_ms = numbers(path, chunk[cols.time], cols.time, dialect.decimal, allow_missing=False) * cols.time_to_ms
        key = sessions.codes(chunk, cols)
        _check_monotonic(path, cols.time, key, t_ms, chunk.index.to_numpy(), last_t, n_rows)
        rows = np.flatnonzero(_is_fixation(chunk[cols.event_type]))
        if not len(rows):
            continue
        values = partial(_numbers_at, path, dialect.decimal, chunk, rows)
        part = {
            "key": key[rows],
            "event_index": values(cols.event_index, allow_missing=False),
            "t_start_ms": t_ms[rows],
            "line": chunk.index.to_numpy()[rows],
        }
        for name, out in _FIRST.items():
            col = getattr(cols, name)
            if col:
                part[out] = values(col)
        part["duration_ms"] = part["duration_ms"] * cols.duration_to_ms
        part["media"] = _media_codes(chunk[cols.media].iloc[rows], media) if cols.media else np.full(len(rows), np.nan)
        if cols.pupils:
            pupil = np.column_stack([values(p) for p in cols.pupils])
            finite = np.isfinite(pupil)
            n_eyes = finite.sum(axis=1)
            ok = n_eyes > 0
            part["pupil_sum"] = np.where(ok, np.where(finite, pupil, 0.0).sum(axis=1) / np.maximum(n_eyes, 1), 0.0)
            part["pupil_n"] = ok.astype(np.int64)
        partials.append(pd.DataFrame(_fold_runs(part)))
        if sum(map(len, partials)) > limit:  # rows of interleaved fixations do not fold: bound the memory
            partials = [_reduce(pd.concat(partials, ignore_index=True))]
            limit = 2 * len(partials[0]) + REDUCE_ROWS
    if not n_rows:
        raise GazekitError(path, None, "expected data rows after the header, found none")
    rec = _recording(path, cols, source_format, partials, sessions, list(media), n_rows, last_t)
    if sessions.inherited:
        warn.append(
            f"{path}: {sessions.inherited} row(s) with an empty {cols.participant!r} inside a recording: took the "
            "recording's participant"
        )
    rec.warnings[:0] = warn
    rec.stimulus_columns = {c: list(seen)[:STIMULUS_VALUES_KEPT] for c, seen in shown.items()}
    return rec


def _numbers_at(
    path: Path, decimal: str, chunk: pd.DataFrame, rows: np.ndarray, col: str, allow_missing: bool = True
) -> np.ndarray:
    """Column ``col`` of ``chunk`` at row positions ``rows`` as float64 (errors name the file line)."""
    series = chunk[col]
    if allow_missing and series.dtype == np.float64:  # already parsed (pyarrow, or pandas on clean numbers)
        return series.to_numpy()[rows]
    return numbers(path, series.iloc[rows], col, decimal, allow_missing=allow_missing)


def _is_fixation(series: pd.Series) -> np.ndarray:
    """Rows whose event type is "Fixation" (blanks and case ignored); categoricals compared per category."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        hit = series.cat.categories.astype(str).str.strip().str.lower() == "fixation"
        return np.append(hit, False)[series.cat.codes.to_numpy()]
    return series.str.strip().str.lower().eq("fixation").fillna(False).to_numpy(bool)


def _local_codes(series: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Per-row codes into the column's distinct values (-1 where missing) and those values as written."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(np.int64), [str(c) for c in series.cat.categories]
    codes, uniques = pd.factorize(series)
    return codes.astype(np.int64), [str(u) for u in uniques]


def _media_codes(series: pd.Series, media: dict[str, int]) -> np.ndarray:
    """Codes of the media names (as written, across chunks: ``media``) as float64, NaN where missing."""
    local, names = _local_codes(series)
    lut = np.array([media.setdefault(n, len(media)) for n in names] + [np.nan], dtype=float)
    return lut[local]


class _TextCodes:
    """Stable integer codes of stripped text values across chunks; 0 is the empty / missing value."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {"": 0}

    def encode(self, series: pd.Series) -> np.ndarray:
        local, names = _local_codes(series)
        lut = np.array([self.ids.setdefault(n.strip(), len(self.ids)) for n in names] + [0], dtype=np.int64)
        return lut[local]

    def names(self) -> list[str]:
        return list(self.ids)


class _Sessions:
    """Session codes (participant + recording pairs, numbered in order of first appearance) across chunks.

    An empty participant cell inside a named recording inherits the recording's participant (from the
    same chunk, else from an earlier one: ``known``), counted in ``inherited``."""

    def __init__(self) -> None:
        self.who, self.rec = _TextCodes(), _TextCodes()
        self.pairs: dict[tuple[int, int], int] = {}
        self.known: dict[int, int] = {}  # recording code -> participant code
        self.inherited = 0

    def codes(self, chunk: pd.DataFrame, cols: Columns) -> np.ndarray:
        zeros = np.zeros(len(chunk), np.int64)
        who = self.who.encode(chunk[cols.participant]) if cols.participant else zeros
        rec = self.rec.encode(chunk[cols.recording]) if cols.recording else zeros
        missing = (who == 0) & (rec != 0)
        if missing.any():
            named = pd.Series(who).where(who != 0)
            fill = named.groupby(rec).transform("first").fillna(pd.Series(rec).map(self.known))
            who = np.where(missing, fill.fillna(0).to_numpy(np.int64), who)
            self.inherited += int((missing & (who != 0)).sum())
        local, pairs = pd.factorize((who << 32) | rec)
        pair_who, pair_rec = (pairs >> 32).tolist(), (pairs & 0xFFFFFFFF).tolist()
        last_row = np.full(len(pairs), -1)
        np.maximum.at(last_row, local, np.arange(len(local)))
        for i in np.argsort(last_row).tolist():  # the recording's participant of its last named row
            if pair_who[i]:
                self.known[pair_rec[i]] = pair_who[i]
        pair_ids = zip(pair_who, pair_rec, strict=True)
        lut = np.array([self.pairs.setdefault(pair, len(self.pairs)) for pair in pair_ids], dtype=np.int64)
        return lut[local]

    def names(self) -> list[tuple[str, str]]:
        """(participant, recording) of each session code ("" where missing)."""
        who, rec = self.who.names(), self.rec.names()
        return [(who[w], rec[r]) for w, r in self.pairs]


def _check_monotonic(path, column, key, t_ms, lines, last_t: dict, n_rows: dict) -> None:
    """Timestamps must not decrease within one session (integer ``key``), across chunks too; the error
    names the first such row of the file."""
    order = np.argsort(key, kind="stable")
    k, t = key[order], t_ms[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    prev = np.empty_like(t)
    prev[1:] = t[:-1]
    prev[starts] = [last_t.get(s, -np.inf) for s in k[starts].tolist()]
    back = np.flatnonzero(t < prev)
    if len(back):
        i = back[np.argmin(order[back])]
        raise GazekitError(
            path,
            f"line {lines[order[i]]}, column {column!r}",
            f"expected timestamps that do not decrease within a recording, got {t[i]:g} ms after {prev[i]:g} ms",
        )
    ends = np.r_[starts[1:], len(k)]
    for s, a, b in zip(k[starts].tolist(), starts.tolist(), ends.tolist(), strict=True):
        last_t[s] = float(t[b - 1])
        n_rows[s] = n_rows.get(s, 0) + b - a


def _fold_runs(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Consecutive rows of the same (session key, event index) folded into one, as :func:`_reduce` would
    (earliest time and line, first non-empty values, pupil sums): the rows of a fixation usually follow
    each other, so this leaves :func:`_reduce` a few rows per fixation instead of one per sample."""
    key, event = part["key"], part["event_index"]
    n = len(key)
    if n < 2:
        return part
    starts = np.flatnonzero(np.r_[True, (key[1:] != key[:-1]) | (event[1:] != event[:-1])])
    out = {}
    for col, v in part.items():
        if col in ("t_start_ms", "line"):
            out[col] = np.minimum.reduceat(v, starts)
        elif col in ("pupil_sum", "pupil_n"):
            out[col] = np.add.reduceat(v, starts)
        else:  # the first non-empty value of the run (the run's first, empty, value when it has none)
            first = np.minimum.reduceat(np.where(pd.notna(v), np.arange(n), n), starts)
            out[col] = v[np.where(first < n, first, starts)]
    return out


def _reduce(part: pd.DataFrame) -> pd.DataFrame:
    """One row per (session key, event index): earliest time and line, first non-empty values, pupil sums."""
    agg = {"t_start_ms": "min", "line": "min"}
    for col in part.columns:
        if col in ("key", "event_index") or col in agg:
            continue
        agg[col] = "sum" if col in ("pupil_sum", "pupil_n") else "first"
    return part.groupby(["key", "event_index"], sort=False, dropna=False).agg(agg).reset_index()


def _recording(
    path, cols: Columns, source_format, partials, sessions: _Sessions, media: list[str], n_rows: dict, last_t: dict
) -> Recording:
    names = sessions.names()
    keys = list(n_rows)  # session codes in order of first appearance
    participants = {k: names[k][0] for k in keys}
    recordings = {k: names[k][1] for k in keys}
    readers = {k: hash_name(participants[k], "reader") for k in keys}
    shown = {k: recordings[k] or path.stem for k in keys}
    clash = {n for n in shown.values() if list(shown.values()).count(n) > 1}
    session_ids = {k: f"{shown[k]}-{readers[k]}" if shown[k] in clash else shown[k] for k in keys}
    sessions_meta = {
        session_ids[k]: {"reader_id": readers[k], "recording": recordings[k], "rows": n_rows[k], "source": str(path)}
        for k in keys
    }
    warnings: list[str] = []
    if not partials:
        fix = pd.DataFrame({"session_id": pd.Series(dtype=str), "t_start_ms": [], "duration_ms": []})
        return Recording(source_format, fixations=fix, sessions=sessions_meta, warnings=warnings)
    fix = _reduce(pd.concat(partials, ignore_index=True))
    missing = ~np.isfinite(fix["duration_ms"].to_numpy(float))
    if missing.any():
        row = fix.iloc[int(np.flatnonzero(missing)[0])]
        raise GazekitError(
            path,
            f"line {row['line']}, column {cols.duration!r}",
            f"expected a duration on the rows of fixation {row['event_index']:g}, got none",
        )
    if "pupil_sum" in fix:
        with np.errstate(invalid="ignore", divide="ignore"):
            fix["pupil"] = np.where(fix["pupil_n"] > 0, fix["pupil_sum"] / fix["pupil_n"], np.nan)
    ids = np.array([stimulus_id(m) for m in media] + [""], dtype=object)
    fix["stimulus_id"] = ids[np.nan_to_num(fix["media"].to_numpy(float), nan=len(media)).astype(np.int64)]
    fix["session_id"] = fix["key"].map(session_ids)
    fix["reader_id"] = fix["key"].map(readers)
    fix["eye"] = "both"
    fix["detector"] = "vendor"
    ends = (fix["t_start_ms"] + fix["duration_ms"]).groupby(fix["key"].to_numpy(), sort=False).max()
    for k in keys:
        if k in ends.index:
            end = ends[k]
            if end > last_t[k] + CUT_TOLERANCE_MS:
                warnings.append(
                    f"{path}: session {session_ids[k]}: the last fixation ends at {end:g} ms, after the last row "
                    f"({last_t[k]:g} ms); the export may be cut"
                )
    fix = fix.drop(columns=["key", "event_index", "media", "line", "pupil_sum", "pupil_n"], errors="ignore")
    return Recording(source_format, fixations=fix, sessions=sessions_meta, warnings=warnings)
