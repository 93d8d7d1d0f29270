"""Streaming core of the Tobii readers (Pro Lab and Studio exports): one row per sample, the vendor's
fixation filter written as an event type + event index on each row.

The file is read in chunks of the columns it needs; each chunk's fixation rows are reduced to one
partial row per (session, fixation index) and the partials are combined at the end, so memory grows
with the number of fixations, not with the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.readers._delimited import (
    Dialect,
    FastPathError,
    check_not_truncated,
    iter_chunks,
    iter_chunks_arrow,
    numbers,
    pseudonym,
    text_values,
)
from gazekit.readers.base import Recording
from gazekit.stimuli import stimulus_id

_SEP = "\x1f"
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
    text_cols = [c for c in (cols.event_type, cols.participant, cols.recording, cols.media) if c]
    usecols = list(dict.fromkeys(getattr(cols, f.name) for f in fields(cols) if isinstance(getattr(cols, f.name), str)))
    usecols += [p for p in cols.pupils if p not in usecols]
    known: dict[str, str] = {}  # recording -> participant
    inherited = [0]
    last_t: dict[str, float] = {}
    n_rows: dict[str, int] = {}
    partials: list[pd.DataFrame] = []
    for chunk in chunks(path, dialect, usecols, text_cols):
        t_ms = numbers(path, chunk[cols.time], cols.time, dialect.decimal, allow_missing=False) * cols.time_to_ms
        key = _session_keys(chunk, cols, known, inherited)
        _check_monotonic(path, cols.time, key, t_ms, chunk.index.to_numpy(), last_t, n_rows)
        is_fix = _is_fixation(chunk[cols.event_type])
        if not is_fix.any():
            continue
        fix = chunk[is_fix]
        part = {
            "key": key[is_fix],
            "event_index": numbers(path, fix[cols.event_index], cols.event_index, dialect.decimal, allow_missing=False),
            "t_start_ms": t_ms[is_fix],
            "line": fix.index.to_numpy(),
        }
        for name, out in _FIRST.items():
            col = getattr(cols, name)
            if col:
                part[out] = numbers(path, fix[col], col, dialect.decimal)
        part["duration_ms"] = part["duration_ms"] * cols.duration_to_ms
        part["media"] = fix[cols.media].to_numpy() if cols.media else np.full(len(fix), None, dtype=object)
        if cols.pupils:
            pupil = np.column_stack([numbers(path, fix[p], p, dialect.decimal) for p in cols.pupils])
            finite = np.isfinite(pupil)
            n_eyes = finite.sum(axis=1)
            ok = n_eyes > 0
            part["pupil_sum"] = np.where(ok, np.where(finite, pupil, 0.0).sum(axis=1) / np.maximum(n_eyes, 1), 0.0)
            part["pupil_n"] = ok.astype(np.int64)
        partials.append(_reduce(pd.DataFrame(_fold_runs(part))))
    if not n_rows:
        raise GazekitError(path, None, "expected data rows after the header, found none")
    rec = _recording(path, cols, source_format, partials, n_rows, last_t)
    if inherited[0]:
        warn.append(
            f"{path}: {inherited[0]} row(s) with an empty {cols.participant!r} inside a recording: took the "
            "recording's participant"
        )
    rec.warnings[:0] = warn
    return rec


def _is_fixation(series: pd.Series) -> np.ndarray:
    """Rows whose event type is "Fixation" (blanks and case ignored); categoricals compared per category."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        hit = series.cat.categories.astype(str).str.strip().str.lower() == "fixation"
        return np.append(hit, False)[series.cat.codes.to_numpy()]
    return series.str.strip().str.lower().eq("fixation").fillna(False).to_numpy(bool)


def _session_keys(chunk: pd.DataFrame, cols: Columns, known: dict[str, str], inherited: list[int]) -> np.ndarray:
    """participant + _SEP + recording of each row (stripped, "" where missing), joined once per pair. An empty
    participant cell inside a named recording inherits the recording's participant (from this chunk or an
    earlier one: ``known``), counted in ``inherited``."""
    empty_col = np.full(len(chunk), "", dtype=object)
    who, rec = (text_values(chunk[col]) if col else empty_col for col in (cols.participant, cols.recording))
    missing = (who == "") & (rec != "")
    if missing.any():
        named = pd.Series(who, dtype=object).where(who != "")
        fill = named.groupby(rec).transform("first").fillna(pd.Series(rec, dtype=object).map(known))
        fill = fill.fillna("").to_numpy(object)
        who = np.where(missing, fill, who)
        inherited[0] += int((missing & (who != "")).sum())
    has = who != ""
    known.update(dict(zip(rec[has], who[has], strict=True)))
    codes, names = [], []
    for values in (who, rec):
        c, u = pd.factorize(values)
        codes.append(c)
        names.append(np.asarray(u, dtype=object))
    n_rec = max(len(names[1]), 1)
    pair, first = np.unique(codes[0] * n_rec + codes[1], return_inverse=True)
    keys = np.array([names[0][p // n_rec] + _SEP + names[1][p % n_rec] for p in pair], dtype=object)
    return keys[first.reshape(-1)]


def _check_monotonic(path, column, key, t_ms, lines, last_t: dict, n_rows: dict) -> None:
    """Timestamps must not decrease within one session (participant + recording), across chunks too."""
    codes, uniques = pd.factorize(key)
    for code, k in enumerate(uniques):
        idx = np.flatnonzero(codes == code)
        tt = t_ms[idx]
        seq = np.concatenate([[last_t.get(k, -np.inf)], tt])
        back = np.diff(seq) < 0
        if back.any():
            i = int(np.flatnonzero(back)[0])
            raise GazekitError(
                path,
                f"line {lines[idx[i]]}, column {column!r}",
                f"expected timestamps that do not decrease within a recording, got {seq[i + 1]:g} ms after "
                f"{seq[i]:g} ms",
            )
        last_t[k] = float(tt[-1])
        n_rows[k] = n_rows.get(k, 0) + len(idx)


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


def _recording(path, cols: Columns, source_format, partials, n_rows: dict, last_t: dict) -> Recording:
    keys = list(n_rows)
    participants = {k: k.split(_SEP, 1)[0] for k in keys}
    recordings = {k: k.split(_SEP, 1)[1] for k in keys}
    readers = {k: pseudonym(participants[k]) for k in keys}
    names = {k: recordings[k] or path.stem for k in keys}
    clash = {n for n in names.values() if list(names.values()).count(n) > 1}
    session_ids = {k: f"{names[k]}-{readers[k]}" if names[k] in clash else names[k] for k in keys}
    sessions = {
        session_ids[k]: {"reader_id": readers[k], "recording": recordings[k], "rows": n_rows[k], "source": str(path)}
        for k in keys
    }
    warnings: list[str] = []
    if not partials:
        fix = pd.DataFrame({"session_id": pd.Series(dtype=str), "t_start_ms": [], "duration_ms": []})
        return Recording(source_format, fixations=fix, sessions=sessions, warnings=warnings)
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
    fix["stimulus_id"] = [stimulus_id(m) for m in fix["media"]]
    fix["session_id"] = fix["key"].map(session_ids)
    fix["reader_id"] = fix["key"].map(readers)
    fix["eye"] = "both"
    fix["detector"] = "vendor"
    ends = (fix["t_start_ms"] + fix["duration_ms"]).groupby(fix["key"].to_numpy(object), sort=False).max()
    for k in keys:
        if k in ends.index:
            end = ends[k]
            if end > last_t[k] + CUT_TOLERANCE_MS:
                warnings.append(
                    f"{path}: session {session_ids[k]}: the last fixation ends at {end:g} ms, after the last row "
                    f"({last_t[k]:g} ms); the export may be cut"
                )
    fix = fix.drop(columns=["key", "event_index", "media", "line", "pupil_sum", "pupil_n"], errors="ignore")
    return Recording(source_format, fixations=fix, sessions=sessions, warnings=warnings)
