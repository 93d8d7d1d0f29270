"""Streaming core of the Tobii readers (Pro Lab and Studio exports): one row per sample, the vendor's
fixation filter written as an event type + event index on each row.

The file is read in chunks of the columns it needs (:class:`~gazekit.readers._delimited.Chunk`); sessions are
integer codes. Each chunk's fixation rows are folded (consecutive rows of one fixation -> one row) and the folded
rows are reduced to one row per (session, fixation index) at the end, or whenever they exceed ``REDUCE_ROWS``, so
memory grows with the number of fixations, not with the number of rows. Everything here is NumPy on the chunks'
columns (no pandas: the fixations are :data:`gazekit.tables.Columns`); only the pandas path of the parse, taken
for a file pyarrow rejects, imports pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path

import numpy as np

from gazekit.errors import GazekitError
from gazekit.ids import stimulus_id
from gazekit.privacy import hash_name
from gazekit.readers._delimited import (
    Chunk,
    Dialect,
    FastPathError,
    Floats,
    check_not_truncated,
    chunk_of_frame,
    iter_chunks,
    iter_chunks_arrow,
    numbers,
    require_values,
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
    return _read_rows(path, dialect, cols, source_format, partial(_pandas_chunks, end=end), warn)


def _pandas_chunks(path: Path, dialect: Dialect, usecols: list[str], text_cols: list[str], end: int | None):
    """The chunks of :func:`iter_chunks` (pandas' parser) as :class:`Chunk` columns."""
    for frame in iter_chunks(path, dialect, usecols, text_cols, end=end):
        yield chunk_of_frame(frame, text_cols)


def _read_rows(path: Path, dialect: Dialect, cols: Columns, source_format: str, chunks, warn: list[str]) -> Recording:
    named = list(dict.fromkeys(c for c in (cols.media, cols.stimulus_name) if c))  # columns naming the stimulus
    text_cols = list(dict.fromkeys(c for c in (cols.event_type, cols.participant, cols.recording, *named) if c))
    usecols = list(dict.fromkeys(getattr(cols, f.name) for f in fields(cols) if isinstance(getattr(cols, f.name), str)))
    usecols += [p for p in cols.pupils if p not in usecols]
    sessions = _Sessions()
    media: dict[str, int] = {}  # media name (as written) -> code
    last_t: dict[int, float] = {}  # session code -> last timestamp [ms]
    n_rows: dict[int, int] = {}  # session code -> rows
    partials: list[dict[str, np.ndarray]] = []  # folded fixation rows, reduced when they exceed ``limit``
    shown: dict[str, dict[str, None]] = {c: {} for c in named}  # stimulus column -> distinct values (ordered)
    limit = REDUCE_ROWS
    for chunk in chunks(path, dialect, usecols, text_cols):
        for c, seen in shown.items():
            if len(seen) < STIMULUS_VALUES_KEPT:
                seen.update(dict.fromkeys(v for v in map(str.strip, chunk.texts[c][1]) if v))
        values = partial(_numbers_at, path, dialect.decimal, chunk)
        t_ms = values(None, cols.time, allow_missing=False) * cols.time_to_ms
        key = sessions.codes(chunk, cols)
        _check_monotonic(path, cols.time, key, t_ms, chunk.lines, last_t, n_rows)
        rows = np.flatnonzero(_is_fixation(chunk.texts[cols.event_type]))
        if not len(rows):
            continue
        part = {
            "key": key[rows],
            "event_index": values(rows, cols.event_index, allow_missing=False),
            "t_start_ms": t_ms[rows],
            "line": chunk.lines[rows],
        }
        for name, out in _FIRST.items():
            col = getattr(cols, name)
            if col:
                part[out] = values(rows, col)
        part["duration_ms"] = part["duration_ms"] * cols.duration_to_ms
        part["media"] = _media_codes(chunk.texts[cols.media], rows, media) if cols.media else np.full(len(rows), np.nan)
        if cols.pupils:
            pupil = np.column_stack([values(rows, p) for p in cols.pupils])
            finite = np.isfinite(pupil)
            n_eyes = finite.sum(axis=1)
            ok = n_eyes > 0
            part["pupil_sum"] = np.where(ok, np.where(finite, pupil, 0.0).sum(axis=1) / np.maximum(n_eyes, 1), 0.0)
            part["pupil_n"] = ok.astype(np.int64)
        partials.append(_fold_runs(part))
        if sum(len(p["key"]) for p in partials) > limit:  # rows of interleaved fixations do not fold: bound the memory
            partials = [_reduce(_concat(partials))]
            limit = 2 * len(partials[0]["key"]) + REDUCE_ROWS
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
    path: Path, decimal: str, chunk: Chunk, rows: np.ndarray | None, col: str, allow_missing: bool = True
) -> np.ndarray:
    """Column ``col`` of ``chunk`` at row positions ``rows`` (None: all) as float64 (errors name the file line)."""
    values = chunk.numbers[col]
    if isinstance(values, Floats):  # already parsed (pyarrow, or pandas on clean numbers)
        out = values.at(rows)
        if not allow_missing:
            require_values(path, out, chunk.lines if rows is None else chunk.lines[rows], col)
        return out
    return numbers(path, values if rows is None else values.iloc[rows], col, decimal, allow_missing=allow_missing)


def _is_fixation(text: tuple[np.ndarray, list[str]]) -> np.ndarray:
    """Rows whose event type is "Fixation" (blanks and case ignored), compared once per distinct value."""
    codes, names = text
    hit = np.array([n.strip().lower() == "fixation" for n in names] + [False], dtype=bool)
    return hit[codes]


def _media_codes(text: tuple[np.ndarray, list[str]], rows: np.ndarray, media: dict[str, int]) -> np.ndarray:
    """Codes of the media names at ``rows`` (as written, across chunks: ``media``) as float64, NaN where missing."""
    codes, names = text
    lut = np.array([media.setdefault(n, len(media)) for n in names] + [np.nan], dtype=float)
    return lut[codes[rows]]


class _TextCodes:
    """Stable integer codes of stripped text values across chunks; 0 is the empty / missing value."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {"": 0}

    def encode(self, text: tuple[np.ndarray, list[str]]) -> np.ndarray:
        codes, names = text
        lut = np.array([self.ids.setdefault(n.strip(), len(self.ids)) for n in names] + [0], dtype=np.int64)
        return lut[codes]

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

    def codes(self, chunk: Chunk, cols: Columns) -> np.ndarray:
        zeros = np.zeros(len(chunk), np.int64)
        who = self.who.encode(chunk.texts[cols.participant]) if cols.participant else zeros
        rec = self.rec.encode(chunk.texts[cols.recording]) if cols.recording else zeros
        missing = (who == 0) & (rec != 0)
        if missing.any():  # the recording's first named participant in this chunk, else the one known before
            named = np.flatnonzero(who != 0)
            recs, first = np.unique(rec[named], return_index=True)
            first_who = dict(zip(recs.tolist(), who[named[first]].tolist(), strict=True))
            fill = {r: first_who.get(r, self.known.get(r, 0)) for r in np.unique(rec[missing]).tolist()}
            who = who.copy()
            who[missing] = [fill[r] for r in rec[missing].tolist()]
            self.inherited += int((missing & (who != 0)).sum())
        local, pairs = _factorize((who << 32) | rec)
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


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per row the code of its value, the distinct values), codes numbered in order of first appearance."""
    uniques, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty(len(uniques), np.int64)
    rank[order] = np.arange(len(uniques))
    return rank[inverse.reshape(-1)], uniques[order]


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
            first = np.minimum.reduceat(np.where(_present(v), np.arange(n), n), starts)
            out[col] = v[np.where(first < n, first, starts)]
    return out


def _present(v: np.ndarray) -> np.ndarray:
    return ~np.isnan(v) if v.dtype.kind == "f" else np.ones(len(v), bool)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _reduce(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row per (session key, event index), in order of first appearance: earliest time and line, first
    non-empty values, pupil sums (compensated, in row order, as pandas' grouped sum: the same floats)."""
    key, event = part["key"], part["event_index"]
    n = len(key)
    if n == 0:
        return part
    order = np.lexsort((event, key))
    k, e = key[order], event[order]
    group = np.empty(n, np.int64)
    group[order] = np.cumsum(np.r_[True, (k[1:] != k[:-1]) | (e[1:] != e[:-1])]) - 1
    first_row = np.full(group.max() + 1, n)
    np.minimum.at(first_row, group, np.arange(n))
    rank = np.empty(len(first_row), np.int64)
    rank[np.argsort(first_row)] = np.arange(len(first_row))
    rows = np.argsort(rank[group], kind="stable")  # rows grouped by fixation, in file order within each
    g = rank[group][rows]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    out = {"key": key[rows][starts], "event_index": event[rows][starts]}
    for col in ("t_start_ms", "line"):
        out[col] = np.minimum.reduceat(part[col][rows], starts)
    for col, v in part.items():
        if col in out:
            continue
        v = v[rows]
        if col == "pupil_n":
            out[col] = np.add.reduceat(v, starts)
        elif col == "pupil_sum":
            out[col] = _compensated_sums(v, g, starts)
        else:  # the first non-empty value of the fixation (NaN when it has none)
            first = np.minimum.reduceat(np.where(_present(v), np.arange(n), n), starts)
            out[col] = np.where(first < n, v[np.minimum(first, n - 1)], np.nan)
    return out


def _compensated_sums(v: np.ndarray, g: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group (rows sorted by group ``g``, groups starting at ``starts``) the Kahan-compensated sum of ``v`` in
    row order: the float that pandas' ``groupby().sum()`` gives."""
    total, comp = np.zeros(len(starts)), np.zeros(len(starts))
    pos = np.arange(len(v)) - starts[g]
    for r in range(int(pos.max()) + 1 if len(v) else 0):
        at = pos == r
        gi, y = g[at], v[at] - comp[g[at]]
        t = total[gi] + y
        c = (t - total[gi]) - y
        comp[gi] = np.where(np.isnan(c), 0.0, c)
        total[gi] = t
    return total


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
        empty = {"session_id": np.array([], dtype=object), "t_start_ms": np.array([]), "duration_ms": np.array([])}
        return Recording(source_format, fixations=empty, sessions=sessions_meta, warnings=warnings)
    fix = _reduce(_concat(partials))
    missing = ~np.isfinite(fix["duration_ms"])
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise GazekitError(
            path,
            f"line {fix['line'][i]}, column {cols.duration!r}",
            f"expected a duration on the rows of fixation {fix['event_index'][i]:g}, got none",
        )
    if "pupil_sum" in fix:
        with np.errstate(invalid="ignore", divide="ignore"):
            fix["pupil"] = np.where(fix["pupil_n"] > 0, fix["pupil_sum"] / fix["pupil_n"], np.nan)
    ids = np.array([stimulus_id(m) for m in media] + [""], dtype=object)
    fix["stimulus_id"] = ids[np.nan_to_num(fix["media"], nan=len(media)).astype(np.int64)]
    key = fix["key"]
    for name, of_key in (("session_id", session_ids), ("reader_id", readers)):
        lut = np.empty(max(keys) + 1, dtype=object)
        lut[keys] = [of_key[k] for k in keys]
        fix[name] = lut[key]
    fix["eye"] = np.full(len(key), "both", dtype=object)
    fix["detector"] = np.full(len(key), "vendor", dtype=object)
    ends = np.full(max(keys) + 1, -np.inf)
    np.maximum.at(ends, key, fix["t_start_ms"] + fix["duration_ms"])
    for k in keys:
        if k in set(key.tolist()):
            end = ends[k]
            if end > last_t[k] + CUT_TOLERANCE_MS:
                warnings.append(
                    f"{path}: session {session_ids[k]}: the last fixation ends at {end:g} ms, after the last row "
                    f"({last_t[k]:g} ms); the export may be cut"
                )
    for name in ("key", "event_index", "media", "line", "pupil_sum", "pupil_n"):
        fix.pop(name, None)
    return Recording(source_format, fixations=fix, sessions=sessions_meta, warnings=warnings)
